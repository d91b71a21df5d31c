package members

import (
	"log/slog"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/groups/groupmail"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Contact is what the group engine reads of a contact of the address book.
type Contact struct {
	ID, UserID, PeerID, Name string
	Identity                 []byte // identity.PublicIdentity wire form: the account key
	Addrs                    []string
	Relays                   []string
	Request                  string // api.Request*
	NameSet, Blocked         bool
}

// Device is one active device of a member's verified device list.
type Device struct {
	// UID is the user id of the device's key: the member's own user id for its primary
	// device (whose key is the account key), so an account of one device is unchanged.
	UID    string
	Key    []byte // identity.PublicIdentity wire form
	PeerID string
}

// Cache holds the contact records (with their channels) of one transaction, by channel
// id, so that a channel enqueued to several times, or held by the inbound batch, is
// written from one copy.
type Cache map[string]*sessions.Contact

// Get returns the contact of channel ch (a contact id is its primary's channel).
func (cc Cache) Get(tx *store.Tx, ch string) (*sessions.Contact, error) {
	if c := cc[ch]; c != nil {
		return c, nil
	}
	c, err := sessions.LoadContact(tx, ch)
	if err != nil {
		return nil, err
	}
	cc[ch] = c
	return c, nil
}

// ByUser returns the contact (its primary's channel) of user uid, or nil.
func (cc Cache) ByUser(tx *store.Tx, uid string) (*sessions.Contact, error) {
	cid, err := store.GetString(tx, contacts.KeyByUser(uid))
	if err != nil || cid == "" {
		return nil, err
	}
	return cc.Get(tx, cid)
}

// Hooks is what a Pairwise needs of the messenger.
type Hooks struct {
	// Account is our account's user id (the same on every device of ours).
	Account string
	// Enqueue queues content for the channel of c (c.Ch()).
	Enqueue func(tx *store.Tx, c *sessions.Contact, content *wire.Content, msgID string) error
	// ContactFor finds or makes the contact of pub on peer peerID.
	ContactFor func(tx *store.Tx, pub *identity.PublicIdentity, peerID, request string) (*sessions.Contact, bool, error)
	// Self is this device within its account (node/devices).
	Self func(tx *store.Tx) (*devices.Self, error)
	Log  *slog.Logger
}

// Pairwise is the pairwise side of one transaction for the group engine.
type Pairwise struct {
	tx *store.Tx
	cc Cache
	h  *Hooks
}

// New returns the pairwise side of tx, sharing cc (which may hold contacts already).
func New(tx *store.Tx, cc Cache, h *Hooks) *Pairwise { return &Pairwise{tx: tx, cc: cc, h: h} }

// Contact returns the contact of user uid, or nil when there is none.
func (p *Pairwise) Contact(uid string) (*Contact, error) {
	c, err := p.cc.ByUser(p.tx, uid)
	if err != nil || c == nil {
		return nil, err
	}
	return &Contact{
		ID: c.ID, UserID: c.UserID, PeerID: c.PeerID, Name: c.Name, Identity: c.Identity,
		Addrs: c.Addrs, Relays: c.Relays, Request: c.Request, NameSet: c.NameSet, Blocked: c.Blocked,
	}, nil
}

// Member is the contact of user uid as group mail reads it, or nil when there is none.
func (p *Pairwise) Member(uid string) (*groupmail.Member, error) {
	c, err := p.Contact(uid)
	if err != nil || c == nil {
		return nil, err
	}
	return &groupmail.Member{Identity: c.Identity, Relays: c.Relays, Blocked: c.Blocked}, nil
}

// channels are the channels of user uid's active devices (our own other devices for our
// own user id), with each device's key's user id; nothing for a blocked contact or none.
func (p *Pairwise) channels(uid string) ([]*sessions.Contact, []string, error) {
	tx := p.tx
	var chs []devices.Chan
	var primary *sessions.Contact
	if uid == p.h.Account {
		if p.h.Self == nil {
			return nil, nil, nil
		}
		me, err := p.h.Self(tx)
		if err != nil || me.Raw == nil {
			return nil, nil, err
		}
		chs = me.OwnChannels()
	} else {
		c, err := p.cc.ByUser(tx, uid)
		if err != nil || c == nil || c.Blocked {
			return nil, nil, err
		}
		acct, err := identity.ParsePublic(c.AccountKey())
		if err != nil {
			return nil, nil, err
		}
		if chs, err = devices.ContactChannels(tx, c.ID, acct, c.PeerID, c.Relays); err != nil {
			return nil, nil, err
		}
		primary = c
	}
	var out []*sessions.Contact
	var uids []string
	for _, x := range chs {
		key, err := identity.ParsePublic(x.Device.Key)
		if err != nil {
			continue
		}
		c := primary
		if !x.Primary || primary == nil {
			if c, err = p.cc.Get(tx, x.ID); err != nil {
				return nil, nil, err
			}
		}
		out, uids = append(out, c), append(uids, string(key.UserID()))
	}
	return out, uids, nil
}

// Send queues content for every active device of user uid, each over its own channel (for
// our own user id: our own other devices); it does nothing for a user who is no contact or
// is blocked. Every copy has the same id.
func (p *Pairwise) Send(uid string, content *wire.Content) error {
	return p.send(uid, "", content)
}

// SendTo queues content for the one device of user uid whose key's user id is dev (uid
// itself for their primary); nothing when that device is not active in their list.
func (p *Pairwise) SendTo(uid, dev string, content *wire.Content) error {
	return p.send(uid, dev, content)
}

func (p *Pairwise) send(uid, dev string, content *wire.Content) error {
	chs, uids, err := p.channels(uid)
	if err != nil {
		return err
	}
	if content.ID == "" {
		content.ID = api.NewID("x")
	}
	for i, c := range chs {
		if dev != "" && uids[i] != dev {
			continue
		}
		cp := *content
		if err := p.h.Enqueue(p.tx, c, &cp, ""); err != nil {
			return err
		}
	}
	return nil
}

// Devices returns the active devices of user uid (ours, this one included, for our own
// user id): the verified list, or for an account without one its one device, whose key is
// the account key.
func (p *Pairwise) Devices(uid string) ([]Device, error) {
	tx := p.tx
	var l *wire.DeviceList
	if uid == p.h.Account {
		if p.h.Self == nil {
			return nil, nil
		}
		me, err := p.h.Self(tx)
		if err != nil {
			return nil, err
		}
		l = me.List
	} else {
		c, err := p.cc.ByUser(tx, uid)
		if err != nil || c == nil {
			return nil, err
		}
		acct, err := identity.ParsePublic(c.AccountKey())
		if err != nil {
			return nil, err
		}
		if l, err = devices.Contact(tx, c.ID, acct, c.PeerID, c.Relays); err != nil {
			return nil, err
		}
	}
	var out []Device
	for _, d := range l.Active() {
		key, err := identity.ParsePublic(d.Key)
		if err != nil {
			continue
		}
		out = append(out, Device{UID: string(key.UserID()), Key: d.Key, PeerID: d.PeerID})
	}
	return out, nil
}

// AddMember makes sure we have a contact for a member so that a pairwise session can
// carry keys and receipts. Members we did not add ourselves become group-only contacts:
// reachable, hidden from the contact list until the user adds them.
func (p *Pairwise) AddMember(mb *wire.GroupMember) error {
	tx := p.tx
	if mb.UserID == p.h.Account {
		return nil // ourselves, on another of our devices
	}
	if c, err := p.cc.ByUser(tx, mb.UserID); err != nil || c != nil {
		return err
	}
	pub, err := identity.ParsePublic(mb.Identity)
	if err != nil {
		return nil // fold only keeps parsed cards
	}
	if other, err := store.GetString(tx, contacts.KeyByPeer(mb.PeerID)); err != nil {
		return err
	} else if other != "" {
		// A card must not move one of our contacts to another identity.
		p.h.Log.Warn("group member card names a known peer with another identity", "user", mb.UserID)
		return nil
	}
	c, _, err := p.h.ContactFor(tx, pub, mb.PeerID, api.RequestAccepted)
	if err != nil {
		return err
	}
	c.GroupOnly, c.Name, c.Addrs, c.Relays = true, mb.Name, mb.Addrs, mb.Relays
	p.cc[c.ID] = c
	return sessions.SaveContact(tx, c)
}

// OutboxEmpty reports whether nothing waits in user uid's primary channel's outbox (true
// when they are no contact).
func (p *Pairwise) OutboxEmpty(uid string) (bool, error) {
	cid, err := store.GetString(p.tx, contacts.KeyByUser(uid))
	if err != nil || cid == "" {
		return cid == "", err
	}
	empty := true
	err = p.tx.Iterate(store.IterOptions{Prefix: outq.KeyPrefix(cid)}, func(_, _ []byte) (bool, error) {
		empty = false
		return false, nil
	})
	return empty, err
}

// Sender returns who sent what arrives on channel c: the member (account, our own for a
// channel to one of our devices) and the user id of the device's key (the member's own for
// a contact's primary), dev "" when the channel names no device we can verify.
func Sender(c *sessions.Contact, account string) (from, dev string) {
	from = c.UserID
	if c.Own() {
		from = account
	} else if c.Chan == "" {
		return from, c.UserID
	}
	if c.Device == nil {
		return from, ""
	}
	key, err := identity.ParsePublic(c.Device.Key)
	if err != nil {
		return from, ""
	}
	return from, string(key.UserID())
}

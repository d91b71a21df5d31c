package devicesync

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/eventlog"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// Config is what a Service works with: the node's parts, and what it needs of the
// messenger, as functions over the caller's transaction.
type Config struct {
	Store    *store.Store
	Events   *eventlog.Log
	Device   *identity.Identity // this device's key (the node's identity)
	Relays   []string           // our home relays
	Host     func() host.Host   // the running host, nil before Run
	Ratchets *sessions.Cache
	Clock    *hlc.Clock
	Now      func() time.Time
	Log      *slog.Logger

	// Enqueue queues content for channel c (its next seq, the outbox, a card while c has
	// not answered) and saves c; with s0, c's current session, it may encrypt at once and
	// reports whether it did (the caller saves s0).
	Enqueue func(tx *store.Tx, c *sessions.Contact, content *wire.Content, msgID string, s0 *ratchet.State) (bool, error)
	// NewContact creates the contact of identity pub at peer pid in request state request.
	NewContact func(tx *store.Tx, pub *identity.PublicIdentity, pid, request string) (*sessions.Contact, error)
	// APIContact is c as the local API shows it; EmitConv reports conversation id.
	APIContact func(c *sessions.Contact) api.Contact
	EmitConv   func(tx *store.Tx, id string) error
	// PutMsg saves a message (and its order index when index); MarkDeleted deletes one for
	// everyone; ApplyReaction applies a reaction change, reporting whether it changed.
	PutMsg        func(tx *store.Tx, r *history.Item, index bool) error
	MarkDeleted   func(tx *store.Tx, r *history.Item) error
	ApplyReaction func(r *history.Item, user, emoji string, present bool, ts string) bool
	// Attachments registers the attachments of message msgID (wire form) to be fetched
	// from peer from or relays, and returns them as the API shows them.
	Attachments func(tx *store.Tx, msgID, from string, relays []string, raws []json.RawMessage) []api.Attachment
	// MarkRead marks conversation conv read up to message upTo, sending nothing.
	MarkRead func(tx *store.Tx, conv, upTo string) error
	// SetStatus raises our message r's status (api.Status*; it never goes down) and
	// reports it (a synced receipt: status.go).
	SetStatus func(tx *store.Tx, r *history.Item, status string) error
	// Sealer opens disappearing messages' content (node/history); nil: none.
	Sealer history.Sealer
}

// Service is linked devices at the façade. Create it with New; LoadAccount sets the
// account it acts for.
type Service struct {
	cfg     Config
	acct    *identity.PublicIdentity
	uid     string
	revoked revocation // this device's revoked signal (revoked.go)
}

// New returns a Service acting, until LoadAccount, for the device key's own account.
func New(cfg Config) *Service {
	return &Service{cfg: cfg, acct: cfg.Device.Public(), uid: string(cfg.Device.UserID())}
}

// UserID is the account's user id (the same on every device).
func (s *Service) UserID() string { return s.uid }

// enqueue is Enqueue without encrypting at once.
func (s *Service) enqueue(tx *store.Tx, c *sessions.Contact, content *wire.Content, msgID string) error {
	_, err := s.cfg.Enqueue(tx, c, content, msgID, nil)
	return err
}

// capped is at most wire.MaxAddrs of as.
func capped(as []string) []string { return as[:min(len(as), wire.MaxAddrs)] }

// DeviceInfo is one active device of the account (GET /v1/devices, docs/API.md §8).
type DeviceInfo = devices.Info

// Self is this node within its account (node/devices), as tx sees it.
func (s *Service) Self(tx *store.Tx) (*devices.Self, error) {
	pid := ""
	if h := s.cfg.Host(); h != nil {
		pid = h.ID().String()
	}
	return devices.Load(tx, s.cfg.Device, pid, s.cfg.Relays)
}

// Devices lists the account's active devices, this one marked current.
func (s *Service) Devices(ctx context.Context) ([]DeviceInfo, error) {
	var out []DeviceInfo
	err := s.cfg.Store.View(func(tx *store.Tx) error {
		me, err := s.Self(tx)
		if err != nil {
			return err
		}
		out = me.Infos()
		return nil
	})
	return out, err
}

// DeviceList returns the account's current list and its signed bytes (nil while the
// account has a single device).
func (s *Service) DeviceList(ctx context.Context) (*wire.DeviceList, []byte, error) {
	var l *wire.DeviceList
	var raw []byte
	err := s.cfg.Store.View(func(tx *store.Tx) error {
		me, err := s.Self(tx)
		if err == nil {
			l, raw = me.List, me.Raw
		}
		return err
	})
	return l, raw, err
}

// AddDevice adds device d to the account (on the primary only: the account key signs the
// list) and sends the new list to every contact and every other device of ours. It returns
// the new list; the device linking it (node/devicelink) hands the signed list to the new
// device (DeviceList).
func (s *Service) AddDevice(ctx context.Context, d wire.Device) (*wire.DeviceList, error) {
	h := s.cfg.Host()
	if h == nil {
		return nil, api.Errorf(api.ErrUnavailable, "the node is not running")
	}
	me := wire.Device{PeerID: h.ID().String(), Name: "primary", Relays: capped(s.cfg.Relays)}
	for _, a := range h.Addrs() {
		if len(me.Addrs) < wire.MaxAddrs {
			me.Addrs = append(me.Addrs, a.String())
		}
	}
	var l *wire.DeviceList
	err := s.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		var raw []byte
		var err error
		if l, raw, err = devices.AddDevice(tx, s.cfg.Device, me, d, s.cfg.Now().UnixMilli()); err != nil {
			return err
		}
		if err := s.publishDevices(tx, raw); err != nil {
			return err
		}
		// The new device learns our contacts (the history transfer, node/devicelink,
		// brings the rest).
		nd, err := sessions.LoadContact(tx, devices.Channel(devices.Own, l.Devices[len(l.Devices)-1].ID, ""))
		if err != nil {
			return err
		}
		var cs []*sessions.Contact
		err = contacts.List(tx, func(r *contacts.Record) (bool, error) {
			if !r.GroupOnly {
				c, err := sessions.LoadContact(tx, r.ID)
				if err != nil {
					return false, err
				}
				cs = append(cs, c)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, c := range cs {
			if err := s.syncContactTo(tx, c, []*sessions.Contact{nd}); err != nil {
				return err
			}
		}
		return nil
	})
	return l, err
}

// RevokeDevice revokes device id (on the primary only; not the current device): the
// signed list without it goes to every contact and every device of ours, contacts stop
// encrypting to it, and the revoked node, once it gets the list, stops.
func (s *Service) RevokeDevice(ctx context.Context, id string) error {
	return s.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		me, err := s.Self(tx)
		if err != nil {
			return err
		}
		if id == me.ID {
			return api.Errorf(api.ErrBadRequest, "the current device cannot revoke itself")
		}
		if !me.Primary {
			return api.Errorf(api.ErrForbidden, "only the account's primary device revokes devices")
		}
		_, raw, err := devices.Revoke(tx, s.cfg.Device, id, s.cfg.Now().UnixMilli())
		if err != nil {
			return err
		}
		if err := s.publishDevices(tx, raw); err != nil {
			return err
		}
		// The revoked device is told, and then sent nothing more.
		ch := devices.Channel(devices.Own, id, "")
		if err := dropChannel(tx, ch); err != nil {
			return err
		}
		rc, err := sessions.LoadContact(tx, ch)
		if err != nil {
			return err
		}
		return s.enqueue(tx, rc, &wire.Content{Kind: wire.KindDevices, Data: raw}, "")
	})
}

// DeviceRevoked reports whether the account's list revokes this device (GET /v1/me's
// device_revoked): such a node sends nothing and takes nothing new.
func (s *Service) DeviceRevoked() bool {
	revoked := false
	_ = s.cfg.Store.View(func(tx *store.Tx) error {
		me, err := s.Self(tx)
		if err == nil {
			revoked = me.Revoked()
		}
		return err
	})
	return revoked
}

// publishDevices queues raw, the account's new signed list, to every contact (blocked ones
// included: they must stop encrypting to a revoked device as well) and every other device
// of ours, in tx.
func (s *Service) publishDevices(tx *store.Tx, raw []byte) error {
	return s.publishDevicesVia(tx, raw, nil)
}

// publishDevicesVia is publishDevices from within a receiving batch whose channel cur
// is (nil: none): that channel's copy is queued on cur, the one the batch saves.
func (s *Service) publishDevicesVia(tx *store.Tx, raw []byte, cur *sessions.Contact) error {
	var ids []string
	err := contacts.List(tx, func(r *contacts.Record) (bool, error) {
		ids = append(ids, r.ID)
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		c, err := sessions.LoadContact(tx, id)
		if err != nil {
			return err
		}
		// To each of the contact's devices (sync.go).
		if err := s.FanOut(tx, c, &wire.Content{Kind: wire.KindDevices, Data: raw}, ""); err != nil {
			return err
		}
	}
	own, err := s.ownChannels(tx)
	if err != nil {
		return err
	}
	for _, oc := range own {
		if cur != nil && oc.Ch() == cur.Ch() {
			oc = cur
		}
		if err := s.enqueue(tx, oc, &wire.Content{Kind: wire.KindDevices, Data: raw}, ""); err != nil {
			return err
		}
	}
	return nil
}

// LoadAccount sets the account key and user id this device acts for (on a linked device,
// not its own key's).
func (s *Service) LoadAccount(tx *store.Tx) error {
	me, err := devices.Load(tx, s.cfg.Device, "", nil)
	if err != nil {
		return err
	}
	s.acct, s.uid = me.Account, me.UserID()
	if me.Revoked() {
		s.revoked.fire()
	}
	return nil
}

// AccountKey is the account's public key (what a new device is provisioned with, beside
// the signed list: devices.Provision).
func (s *Service) AccountKey() *identity.PublicIdentity { return s.acct }

// ContactDevices lists the active devices of contact id as its verified list has them (one
// device, its primary, for a contact without a list).
func (s *Service) ContactDevices(ctx context.Context, id string) ([]DeviceInfo, error) {
	var out []DeviceInfo
	err := s.cfg.Store.View(func(tx *store.Tx) error {
		c, err := sessions.LoadContact(tx, id)
		if err != nil {
			return err
		}
		acct, err := identity.ParsePublic(c.AccountKey())
		if err != nil {
			return err
		}
		chs, err := devices.ContactChannels(tx, c.ID, acct, c.PeerID, c.Relays)
		if err != nil {
			return err
		}
		for _, x := range chs {
			out = append(out, DeviceInfo{ID: x.Device.ID, Name: x.Device.Name, Primary: x.Primary, LinkedAt: x.Device.Added})
		}
		return nil
	})
	return out, err
}

// Channels to remote devices (node/devices): a contact's primary device is the contact
// itself (channel id = contact id); each other active device of a contact's verified list
// and each other device of ours is a channel of its own, loaded as a sessions.Contact
// whose Identity, peer and relays are the device's (sessions.LoadContact), so that
// sessions, outbox, dial, mailbox deposits and the inbox work per device unchanged.

package groupcontacts

import (
	"log/slog"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/groups"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Cache caches contact records within one transaction, by contact id.
type Cache map[string]*sessions.Contact

// Get returns contact cid, loaded once per transaction.
func (cc Cache) Get(tx *store.Tx, cid string) (*sessions.Contact, error) {
	if c := cc[cid]; c != nil {
		return c, nil
	}
	c, err := sessions.LoadContact(tx, cid)
	if err != nil {
		return nil, err
	}
	cc[cid] = c
	return c, nil
}

// ByUser returns the contact of user uid, or nil.
func (cc Cache) ByUser(tx *store.Tx, uid string) (*sessions.Contact, error) {
	cid, err := store.GetString(tx, contacts.KeyByUser(uid))
	if err != nil || cid == "" {
		return nil, err
	}
	return cc.Get(tx, cid)
}

// Funcs is what a Pairwise needs of the façade.
type Funcs struct {
	// Enqueue queues content for contact c (and saves c).
	Enqueue func(tx *store.Tx, c *sessions.Contact, content *wire.Content, msgID string) error
	// ContactFor returns the contact of identity pub, creating it at peer peerID (a claim,
	// taken only if no contact holds it) when there is none (acquaint.ForIdentity).
	ContactFor func(tx *store.Tx, pub *identity.PublicIdentity, peerID, request string) (*sessions.Contact, bool, error)
	Log        *slog.Logger
}

// Pairwise is groups.Pairwise over one transaction and its contact cache.
type Pairwise struct {
	tx *store.Tx
	cc Cache
	f  Funcs
}

// New is groups.Pairwise over tx with contact cache cc.
func New(tx *store.Tx, cc Cache, f Funcs) *Pairwise { return &Pairwise{tx: tx, cc: cc, f: f} }

// Contact implements groups.Pairwise.
func (p *Pairwise) Contact(uid string) (*groups.Contact, error) {
	c, err := p.cc.ByUser(p.tx, uid)
	if err != nil || c == nil {
		return nil, err
	}
	return &groups.Contact{
		ID: c.ID, UserID: c.UserID, PeerID: c.PeerID, Name: c.Name, Identity: c.Identity,
		Addrs: c.Addrs, Relays: c.Relays, Request: c.Request, NameSet: c.NameSet, Blocked: c.Blocked,
	}, nil
}

// Send implements groups.Pairwise: nothing for a user who is no contact or is blocked.
func (p *Pairwise) Send(uid string, content *wire.Content) error {
	c, err := p.cc.ByUser(p.tx, uid)
	if err != nil || c == nil {
		return err
	}
	if c.Blocked {
		return nil
	}
	return p.f.Enqueue(p.tx, c, content, "")
}

// AddMember implements groups.Pairwise: it makes sure we have a contact for a member so
// that a pairwise session can carry keys and receipts, a group-only one when we did not
// add the member ourselves. A card naming a peer one of our contacts holds is ignored.
func (p *Pairwise) AddMember(mb *wire.GroupMember) error {
	tx := p.tx
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
		p.f.Log.Warn("group member card names a known peer with another identity", "user", mb.UserID)
		return nil
	}
	c, _, err := p.f.ContactFor(tx, pub, mb.PeerID, api.RequestAccepted)
	if err != nil {
		return err
	}
	c.GroupOnly, c.Name, c.Addrs, c.Relays = true, mb.Name, mb.Addrs, mb.Relays
	p.cc[c.ID] = c
	return sessions.SaveContact(tx, c)
}

// OutboxEmpty implements groups.Pairwise.
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

package sessions

import (
	"context"
	"errors"
	"fmt"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/pqxdh"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/store"
)

// Starter starts the PQXDH sessions of a node's channels (contacts, and the devices of
// contacts and ours: node/devices) from the prekey bundles their peers or relays serve.
type Starter struct {
	Store    *store.Store
	Ratchets *Cache
	Identity *identity.Identity // ours: this device's key
	// Fetch returns channel c's prekey bundle and whether c's own peer served it (direct).
	Fetch func(ctx context.Context, c *Contact) (bundle []byte, direct bool, err error)
}

// Start starts a PQXDH session with channel cid unless one exists.
func (s *Starter) Start(ctx context.Context, cid string) error {
	var c *Contact
	var have bool
	err := s.Store.View(func(tx *store.Tx) error {
		var err error
		if c, err = LoadContact(tx, cid); err != nil {
			return err
		}
		have, err = Exists(tx, cid)
		return err
	})
	if err != nil || have {
		return err
	}
	raw, direct, err := s.Fetch(ctx, c)
	if err != nil {
		return err
	}
	pid := c.PeerID // the peer that served it, when direct
	b, err := prekey.ParseBundle(raw)
	if err != nil {
		return fmt.Errorf("contact's prekey bundle: %w", err)
	}
	return s.Store.Update(ctx, func(tx *store.Tx) error {
		c, err := LoadContact(tx, cid)
		if err != nil {
			return err
		}
		if have, err := Exists(tx, cid); err != nil || have {
			return err // (have: they started one meanwhile)
		}
		known, err := identity.ParsePublic(c.Identity)
		if err != nil {
			return err
		}
		if !b.Identity().Equal(known) {
			// A bundle proves nothing about who is behind a peer (anyone can serve a copy):
			// only a message that decrypts can show an identity change (node/inbox).
			return errors.New("the contact's peer served a prekey bundle of another identity")
		}
		if direct && c.Chan == "" {
			if err := PeerServed(tx, c, pid); err != nil {
				return err
			}
		}
		st, initial, err := pqxdh.Initiate(s.Identity, b)
		if err != nil {
			return err
		}
		c.Initial = initial
		if err := s.Ratchets.Save(tx, cid, Current, st); err != nil {
			return err
		}
		return SaveContact(tx, c)
	})
}

// PeerServed records, in c as loaded in tx (the caller saves it), that c's peer pid, over
// a stream its libp2p key authenticates, served a bundle that c's identity signed: the
// peer's holder presents c's identity, as c's link (which c's identity signed) said. That
// proves c's peer (PeerProven) unless it changed meanwhile.
func PeerServed(tx *store.Tx, c *Contact, pid string) error {
	if c.PeerProven || c.PeerID != pid || pid == "" {
		return nil
	}
	owner, err := contacts.ByPeer(tx, pid)
	if err != nil || owner != c.ID {
		return err
	}
	c.PeerProven = true
	return nil
}

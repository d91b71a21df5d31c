package messenger

import (
	"context"
	"errors"
	"fmt"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/pqxdh"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
)

// ensureSession starts a PQXDH session with contact cid unless one exists.
func (m *Messenger) ensureSession(ctx context.Context, cid string) error {
	var c *sessions.Contact
	var have bool
	err := m.st.View(func(tx *store.Tx) error {
		var err error
		if c, err = sessions.LoadContact(tx, cid); err != nil {
			return err
		}
		have, err = sessions.Exists(tx, cid)
		return err
	})
	if err != nil || have {
		return err
	}
	raw, direct, err := m.fetchBundle(ctx, c)
	if err != nil {
		return err
	}
	pid := c.PeerID // the peer that served it, when direct
	b, err := prekey.ParseBundle(raw)
	if err != nil {
		return fmt.Errorf("contact's prekey bundle: %w", err)
	}
	return m.st.Update(ctx, func(tx *store.Tx) error {
		c, err := sessions.LoadContact(tx, cid)
		if err != nil {
			return err
		}
		if have, err := sessions.Exists(tx, cid); err != nil || have {
			return err // (have: they started one meanwhile)
		}
		known, err := identity.ParsePublic(c.Identity)
		if err != nil {
			return err
		}
		if !b.Identity().Equal(known) {
			// A bundle proves nothing about who is behind a peer (anyone can serve a copy):
			// only a message that decrypts can show an identity change (inbound.go).
			return errors.New("the contact's peer served a prekey bundle of another identity")
		}
		if direct {
			if err := m.peerServed(tx, c, pid); err != nil {
				return err
			}
		}
		st, initial, err := pqxdh.Initiate(m.id, b)
		if err != nil {
			return err
		}
		c.Initial = initial
		if err := m.ratchets.Save(tx, cid, sessions.Current, st); err != nil {
			return err
		}
		return sessions.SaveContact(tx, c)
	})
}

// runCtx is Run's context (background before Run).
func (m *Messenger) runCtx() context.Context {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil {
		return context.Background()
	}
	return m.ctx
}

package messenger

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/pqxdh"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// prekeyTimeout bounds one prekey exchange.
const prekeyTimeout = 10 * time.Second

// Prekey protocol budgets (per requesting peer, sessions.Budgets).
const (
	prekeyBurst   = sessions.ContactBurst
	prekeyEvery   = sessions.ContactEvery
	strangerBurst = sessions.StrangerBurst
	strangerEvery = sessions.StrangerEvery
)

// prekeyServer is the state of the prekey protocol's responder: per-peer budgets and the
// keys-free bundle, kept beside the stored prekey store it was built from (building it
// parses the whole store, which costs milliseconds).
type prekeyServer struct {
	budgets sessions.Budgets

	mu     sync.Mutex
	raw    []byte // the stored prekey store the bundle was built from
	bundle []byte
}

// handlePrekeys answers a prekey request. An accepted contact within its budget gets a
// bundle whose one-time keys no other requester has been given (a durable write: the keys
// are marked issued, and the pool is topped up). Anyone else — a stranger, a blocked contact,
// a contact over budget — gets the signed prekey and the last-resort ML-KEM key with no
// one-time key, which costs no write and leaves the pool alone (docs/PROTOCOL.md, "Prekey
// bundles"); a stranger over its budget is refused.
func (m *Messenger) handlePrekeys(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(prekeyTimeout))
	r := bufio.NewReader(s)
	req, err := wire.ReadFrame(r, nil)
	if err != nil || len(req) != 1 || req[0] != wire.TypePrekeys {
		s.Reset()
		return
	}
	remote := s.Conn().RemotePeer()
	contact := false
	err = m.st.View(func(tx *store.Tx) error {
		cid, err := getString(tx, kContactByPeer(remote.String()))
		if err != nil || cid == "" {
			return err
		}
		c, err := loadContact(tx, cid)
		if err != nil {
			return err
		}
		contact = !c.Blocked && c.Request == api.RequestAccepted
		return nil
	})
	now := time.Now()
	var bundle []byte
	switch {
	case err != nil:
	case contact && m.pk.budgets.Contact(remote, now):
		bundle, err = m.issueBundle()
	case contact || m.pk.budgets.Stranger(remote, now):
		bundle, err = m.publicBundle()
	default:
		w := bufio.NewWriter(s)
		_ = wire.WriteFrame(w, append([]byte{wire.TypeError}, "rate limited"...))
		_ = w.Flush()
		return
	}
	w := bufio.NewWriter(s)
	if err != nil {
		m.log.Error("prekey request", "err", err)
		_ = wire.WriteFrame(w, append([]byte{wire.TypeError}, "internal error"...))
	} else {
		_ = wire.WriteFrame(w, append([]byte{wire.TypePrekeys}, bundle...))
	}
	_ = w.Flush()
}

// publicBundle is the bundle without one-time keys: the current signed prekey and
// last-resort ML-KEM key. It reads the store and writes nothing.
func (m *Messenger) publicBundle() ([]byte, error) {
	var raw []byte
	err := m.st.View(func(tx *store.Tx) error {
		var err error
		raw, err = sessions.RawPrekeys(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	m.pk.mu.Lock()
	defer m.pk.mu.Unlock()
	if m.pk.bundle != nil && bytes.Equal(m.pk.raw, raw) {
		return m.pk.bundle, nil
	}
	ps, err := prekey.UnmarshalStore(raw)
	if err != nil {
		return nil, err
	}
	b, err := prekey.NewBundle(ps.Identity(), ps.SignedPrekey(), ps.LastResortPrekey(), nil)
	if err != nil {
		return nil, err
	}
	m.pk.raw, m.pk.bundle = raw, b.Marshal()
	return m.pk.bundle, nil
}

// issueBundle hands out one-time keys of each kind no other requester has been given and
// returns them in a bundle, topping the pool up as needed.
func (m *Messenger) issueBundle() ([]byte, error) {
	var bundle []byte
	// A request still queued for the store when the requester has given up is dropped,
	// not served: a burst of requests (a new group's members all starting sessions at
	// once) cannot pile up behind the writer.
	uctx, cancel := context.WithTimeout(m.runCtx(), prekeyTimeout)
	defer cancel()
	err := m.st.Update(uctx, func(tx *store.Tx) error {
		var err error
		bundle, err = sessions.Issue(tx, m.id, m.now())
		return err
	})
	return bundle, err
}

// requestBundle runs the requester's side of the prekey protocol on s.
func requestBundle(s io.ReadWriter) ([]byte, error) {
	w := bufio.NewWriter(s)
	if err := wire.WriteFrame(w, []byte{wire.TypePrekeys}); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	resp, err := wire.ReadFrame(bufio.NewReader(s), nil)
	if err != nil {
		return nil, fmt.Errorf("prekeys: %w", err)
	}
	switch {
	case len(resp) > 0 && resp[0] == wire.TypePrekeys:
		return resp[1:], nil
	case len(resp) > 0 && resp[0] == wire.TypeError:
		return nil, fmt.Errorf("prekeys: refused: %.200q", resp[1:])
	}
	return nil, fmt.Errorf("prekeys: %w: unexpected answer", wire.ErrMalformed)
}

// ensureSession starts a PQXDH session with contact cid unless one exists.
func (m *Messenger) ensureSession(ctx context.Context, cid string) error {
	var c *contactRec
	var have bool
	err := m.st.View(func(tx *store.Tx) error {
		var err error
		if c, err = loadContact(tx, cid); err != nil {
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
		c, err := loadContact(tx, cid)
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
		return putJSON(tx, kContact(cid), c)
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

package messenger

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/pqxdh"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// prekeyTimeout bounds one prekey exchange.
const prekeyTimeout = 10 * time.Second

// handlePrekeys answers a prekey request with a bundle whose one-time keys no other
// requester has been given.
func (m *Messenger) handlePrekeys(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(prekeyTimeout))
	r := bufio.NewReader(s)
	req, err := wire.ReadFrame(r, nil)
	if err != nil || len(req) != 1 || req[0] != wire.TypePrekeys {
		s.Reset()
		return
	}
	var bundle []byte
	// A request still queued for the store when the requester has given up is dropped,
	// not served: a burst of requests (a new group's members all starting sessions at
	// once) cannot pile up behind the writer.
	uctx, cancel := context.WithTimeout(m.runCtx(), prekeyTimeout)
	defer cancel()
	err = m.st.Update(uctx, func(tx *store.Tx) error {
		ps, err := m.loadPrekeys(tx)
		if err != nil {
			return err
		}
		issued, err := loadIssued(tx, ps)
		if err != nil {
			return err
		}
		var opk *prekey.OneTimePrekey
		for _, k := range ps.OneTimePrekeys() {
			if !slices.Contains(issued, k.ID()) {
				opk = &k
				issued = append(issued, k.ID())
				break
			}
		}
		pq := ps.LastResortPrekey()
		for _, k := range ps.PQOneTimePrekeys() {
			if !slices.Contains(issued, k.ID()) {
				pq = k
				issued = append(issued, k.ID())
				break
			}
		}
		b, err := prekey.NewBundle(ps.Identity(), ps.SignedPrekey(), pq, opk)
		if err != nil {
			return err
		}
		bundle = b.Marshal()
		return saveIssued(tx, issued)
	})
	w := bufio.NewWriter(s)
	if err != nil {
		m.log.Error("prekey request", "err", err)
		_ = wire.WriteFrame(w, append([]byte{wire.TypeError}, "internal error"...))
	} else {
		_ = wire.WriteFrame(w, append([]byte{wire.TypePrekeys}, bundle...))
	}
	_ = w.Flush()
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
		_, err = tx.Get(kSession(cid, 0))
		have = err == nil
		if errors.Is(err, store.ErrNotFound) {
			err = nil
		}
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
		if _, err := tx.Get(kSession(cid, 0)); err == nil {
			return nil // they started one meanwhile
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
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
		if err := m.saveSession(tx, cid, 0, st); err != nil {
			return err
		}
		return putJSON(tx, kContact(cid), c)
	})
}

// maxCachedSessions bounds the session cache (it starts over when full).
const maxCachedSessions = 512

// sessionCache keeps, for each stored session, the state last loaded or saved beside its
// stored bytes, so that loading it again (every send, every received batch) clones it
// instead of running ratchet.Unmarshal, whose X25519 key parse costs a scalar
// multiplication. An entry is used only when the bytes in the store are identical to its
// own, so one left by a transaction that then failed, or by a session since replaced or
// deleted, is never used. It holds the same secrets as the store's newest state: each
// entry is replaced when the session advances.
type sessionCache struct {
	mu sync.Mutex
	m  map[string]sessionEntry // kSession key → entry
}

type sessionEntry struct {
	raw []byte
	st  *ratchet.State // never handed out: callers get clones
}

func (c *sessionCache) put(key string, raw []byte, st *ratchet.State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedSessions {
		c.m = map[string]sessionEntry{}
	}
	c.m[key] = sessionEntry{raw: raw, st: st.Clone()}
}

func (c *sessionCache) get(key string, raw []byte) *ratchet.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok && bytes.Equal(e.raw, raw) {
		return e.st.Clone()
	}
	return nil
}

// loadSession returns session i of a contact, or nil.
func (m *Messenger) loadSession(tx *store.Tx, cid string, i int) (*ratchet.State, error) {
	k := kSession(cid, i)
	b, err := tx.Get(k)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if st := m.sessions.get(string(k), b); st != nil {
		return st, nil
	}
	st, err := ratchet.Unmarshal(b)
	if err != nil {
		return nil, err
	}
	m.sessions.put(string(k), b, st)
	return st, nil
}

// saveSession stores session i of a contact (unless tx holds it unchanged: a received
// batch saves its previous session, which rarely moves, with its current one).
func (m *Messenger) saveSession(tx *store.Tx, cid string, i int, st *ratchet.State) error {
	k := kSession(cid, i)
	b := st.Marshal()
	if old, err := tx.Get(k); err == nil && bytes.Equal(old, b) {
		return nil
	}
	if err := tx.Set(k, b); err != nil {
		return err
	}
	m.sessions.put(string(k), b, st)
	return nil
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

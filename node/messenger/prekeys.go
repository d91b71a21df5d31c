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
	"github.com/libp2p/go-libp2p/core/peer"

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

// Prekey protocol budgets (per requesting peer, token buckets): a contact gets bundles with
// one-time keys at most prekeyBurst at once and one more every prekeyEvery, and beyond that
// the keys-free bundle; a stranger gets only keys-free bundles, at most strangerBurst at
// once and one more every strangerEvery, and beyond that a refusal. At most maxPrekeyPeers
// peers of each kind are tracked: when the table is full of peers still drawing on their
// budget, a new peer is over budget until some bucket fills up again.
const (
	prekeyBurst    = 3
	prekeyEvery    = 20 * time.Second
	strangerBurst  = 10
	strangerEvery  = 2 * time.Second
	maxPrekeyPeers = 1024
)

// prekeyServer is the state of the prekey protocol's responder: per-peer budgets and the
// keys-free bundle, kept beside the stored prekey store it was built from (building it
// parses the whole store, which costs milliseconds).
type prekeyServer struct {
	contacts  bucketTable
	strangers bucketTable

	mu     sync.Mutex
	raw    []byte // the stored prekey store the bundle was built from
	bundle []byte
}

// bucketTable holds one token bucket per peer.
type bucketTable struct {
	mu sync.Mutex
	m  map[peer.ID]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// take spends one of pid's tokens (burst at most, one more every every) and reports
// whether there was one.
func (t *bucketTable) take(pid peer.ID, now time.Time, burst int, every time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	fill := func(b *bucket) {
		b.tokens = min(float64(burst), b.tokens+float64(now.Sub(b.at))/float64(every))
		b.at = now
	}
	b, ok := t.m[pid]
	if !ok {
		if t.m == nil {
			t.m = map[peer.ID]*bucket{}
		}
		if len(t.m) >= maxPrekeyPeers {
			// A full bucket holds nothing a fresh one would not: forget those.
			for id, o := range t.m {
				if fill(o); o.tokens >= float64(burst) {
					delete(t.m, id)
				}
			}
			if len(t.m) >= maxPrekeyPeers {
				return false
			}
		}
		b = &bucket{tokens: float64(burst), at: now}
		t.m[pid] = b
	}
	fill(b)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
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
	case contact && m.pk.contacts.take(remote, now, prekeyBurst, prekeyEvery):
		bundle, err = m.issueBundle()
	case contact || m.pk.strangers.take(remote, now, strangerBurst, strangerEvery):
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

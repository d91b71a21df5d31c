package sessions

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// PrekeyTimeout bounds one prekey exchange.
const PrekeyTimeout = 10 * time.Second

// PrekeyServer is the responder of the prekey protocol (wire.PrekeyProtocol): per-peer
// budgets and the keys-free bundle, kept beside the stored prekey store it was built from
// (building it parses the whole store, which costs milliseconds). Fill in the exported
// fields before the first Handle; the rest is its own.
type PrekeyServer struct {
	Store    *store.Store
	Identity *identity.Identity
	// Now is the clock of the prekey store (creation and rotation); nil means time.Now.
	// The budgets always run on time.Now.
	Now func() time.Time
	Log *slog.Logger
	// IsContact reports whether pid is the peer of an accepted contact who is not blocked:
	// only those are given one-time keys.
	IsContact func(tx *store.Tx, pid peer.ID) (bool, error)

	budgets Budgets

	mu     sync.Mutex
	raw    []byte // the stored prekey store the bundle was built from
	bundle []byte
}

func (p *PrekeyServer) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

// Handler is the prekey protocol's stream handler; ctx (the node's run) bounds the
// durable writes it makes.
//
// An accepted contact within its budget gets a bundle whose one-time keys no other
// requester has been given (a durable write: the keys are marked issued, and the pool is
// topped up). Anyone else — a stranger, a blocked contact, a contact over budget — gets the
// signed prekey and the last-resort ML-KEM key with no one-time key, which costs no write
// and leaves the pool alone (docs/PROTOCOL.md, "Prekey bundles"); a stranger over its
// budget is refused.
func (p *PrekeyServer) Handler(ctx context.Context) network.StreamHandler {
	return func(s network.Stream) { p.handle(ctx, s) }
}

func (p *PrekeyServer) handle(ctx context.Context, s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(PrekeyTimeout))
	r := bufio.NewReader(s)
	req, err := wire.ReadFrame(r, nil)
	if err != nil || len(req) != 1 || req[0] != wire.TypePrekeys {
		s.Reset()
		return
	}
	remote := s.Conn().RemotePeer()
	contact := false
	err = p.Store.View(func(tx *store.Tx) error {
		var err error
		contact, err = p.IsContact(tx, remote)
		return err
	})
	now := time.Now()
	var bundle []byte
	switch {
	case err != nil:
	case contact && p.budgets.Contact(remote, now):
		bundle, err = p.issueBundle(ctx)
	case contact || p.budgets.Stranger(remote, now):
		bundle, err = p.PublicBundle()
	default:
		w := bufio.NewWriter(s)
		_ = wire.WriteFrame(w, append([]byte{wire.TypeError}, "rate limited"...))
		_ = w.Flush()
		return
	}
	w := bufio.NewWriter(s)
	if err != nil {
		if p.Log != nil {
			p.Log.Error("prekey request", "err", err)
		}
		_ = wire.WriteFrame(w, append([]byte{wire.TypeError}, "internal error"...))
	} else {
		_ = wire.WriteFrame(w, append([]byte{wire.TypePrekeys}, bundle...))
	}
	_ = w.Flush()
}

// PublicBundle is the bundle without one-time keys: the current signed prekey and
// last-resort ML-KEM key. It reads the store and writes nothing.
func (p *PrekeyServer) PublicBundle() ([]byte, error) {
	var raw []byte
	err := p.Store.View(func(tx *store.Tx) error {
		var err error
		raw, err = RawPrekeys(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bundle != nil && bytes.Equal(p.raw, raw) {
		return p.bundle, nil
	}
	ps, err := prekey.UnmarshalStore(raw)
	if err != nil {
		return nil, err
	}
	b, err := prekey.NewBundle(ps.Identity(), ps.SignedPrekey(), ps.LastResortPrekey(), nil)
	if err != nil {
		return nil, err
	}
	p.raw, p.bundle = raw, b.Marshal()
	return p.bundle, nil
}

// issueBundle hands out one-time keys of each kind no other requester has been given and
// returns them in a bundle, topping the pool up as needed.
func (p *PrekeyServer) issueBundle(ctx context.Context) ([]byte, error) {
	var bundle []byte
	// A request still queued for the store when the requester has given up is dropped,
	// not served: a burst of requests (a new group's members all starting sessions at
	// once) cannot pile up behind the writer.
	uctx, cancel := context.WithTimeout(ctx, PrekeyTimeout)
	defer cancel()
	err := p.Store.Update(uctx, func(tx *store.Tx) error {
		var err error
		bundle, err = Issue(tx, p.Identity, p.now())
		return err
	})
	return bundle, err
}

// RequestBundle runs the requester's side of the prekey protocol on s and returns the
// bundle's bytes (to be parsed with prekey.ParseBundle).
func RequestBundle(s io.ReadWriter) ([]byte, error) {
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

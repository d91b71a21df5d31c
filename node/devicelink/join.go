package devicelink

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Device is what the new device says about itself in its hello.
type Device struct {
	Key    *identity.Identity // its device key: the hello is signed with it
	Name   string
	Addrs  []string // its listen addresses, without /p2p/
	Relays []string // its home relays
}

// Joined is what a linked device learned from the primary.
type Joined struct {
	// Account is the account identity's public key (its user id is the user's).
	Account *identity.PublicIdentity
	// List is the signed device list that lists this device, verified under Account.
	List *wire.SignedDeviceList
	// Done reports that the whole history arrived.
	Done bool
	// Records counts the records written by this call.
	Records int
}

// joinRecord is the new device's transfer state (dl/j): enough to resume.
type joinRecord struct {
	Primary string   `json:"primary"`
	Addrs   []string `json:"addrs"`
	Relays  []string `json:"relays"`
	Resume  []byte   `json:"resume,omitempty"` // dropped once done
	Account []byte   `json:"account"`
	List    []byte   `json:"list"`
	Cursor  []byte   `json:"cursor,omitempty"`
	Done    bool     `json:"done"`
}

// JoinOptions tune the new device's side; zero values are the defaults.
type JoinOptions struct {
	Now     func() time.Time
	Timeout time.Duration // per step (dial, handshake, one chunk); 0: a minute
	// Provision, when set, makes the store the account's device (node/devices.Provision) in
	// the transaction that saves the welcome, before any history arrives; its error
	// refuses the welcome and leaves nothing of it in the store.
	Provision func(tx *store.Tx, account *identity.PublicIdentity, list []byte) error
	// PutChunk, when set, stores a media chunk ciphertext durably (node/media's blob
	// directory, named by its SHA-256) before the cursor passes it; nil drops them.
	PutChunk func(ct []byte) error
	// Seal, when set, seals the opened content of a disappearing message (sealedPrefix)
	// under this node's own keys in tx and returns what to store (nil: store nothing, it
	// expired); nil drops such records.
	Seal func(tx *store.Tx, key, plaintext []byte) ([]byte, error)

	// cutAfter, in this package's tests, resets the stream after that many chunks were
	// written, as a lost connection would.
	cutAfter int
}

func (o *JoinOptions) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout == 0 {
		o.Timeout = time.Minute
	}
}

// Join links this device (host h, store st) through link: it dials the primary's peer id
// (Noise proves it is that peer), proves the link's secret bound to both peer ids and
// dev.Key, checks the primary's proof and the signed list it returns, saves what it needs
// to resume, then receives the history into st. A cut transfer returns an error with
// Joined set (Done false); Resume continues it.
func Join(ctx context.Context, h host.Host, st *store.Store, link *Link, dev Device, opts JoinOptions) (*Joined, error) {
	opts.defaults()
	if !opts.Now().Before(link.Expires) {
		return nil, ErrExpired
	}
	s, err := dial(ctx, h, link.PeerID, link.Addrs, link.Relays, opts.Timeout)
	if err != nil {
		return nil, err
	}
	defer s.Reset()
	br, bw := bufio.NewReaderSize(s, 64<<10), bufio.NewWriterSize(s, 4096)
	key := proofKey(link.Secret[:])
	devKey := dev.Key.Public().Bytes()
	s.SetDeadline(time.Now().Add(opts.Timeout))
	err = writeJSON(bw, typeHello, hello{V: 1, Link: link.ID(), Key: devKey, Name: dev.Name, Addrs: dev.Addrs,
		Relays: dev.Relays, Proof: proof(key[:], labelNewProof, link.PeerID, h.ID(), devKey),
		Sig: dev.Key.Sign(domainHello, helloTranscript(link.PeerID, h.ID(), devKey, link.ID()))})
	if err != nil {
		return nil, fmt.Errorf("devicelink: hello: %w", err)
	}
	w, err := readWelcome(br)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(w.Proof, proof(key[:], labelPrimaryProof, link.PeerID, h.ID(), devKey)) {
		return nil, fmt.Errorf("%w: wrong proof", ErrBadPrimary)
	}
	account, err := identity.ParsePublic(w.Account)
	if err != nil {
		return nil, fmt.Errorf("%w: account key", ErrBadPrimary)
	}
	list, err := wire.ParseDeviceList(w.List)
	if err != nil || !list.Verify(account) {
		return nil, fmt.Errorf("%w: device list does not verify", ErrBadPrimary)
	}
	if d, ok := list.List.Find(wire.DeviceID(dev.Key.Public())); !ok || d.Revoked != 0 || d.PeerID != h.ID().String() {
		return nil, fmt.Errorf("%w: the device list does not list this device", ErrBadPrimary)
	}
	if len(w.Resume) != 32 {
		return nil, fmt.Errorf("%w: resume credential", ErrBadPrimary)
	}
	jr := joinRecord{Primary: link.PeerID.String(), Addrs: link.Addrs, Relays: link.Relays, Resume: w.Resume,
		Account: w.Account, List: w.List}
	err = st.Update(ctx, func(tx *store.Tx) error {
		if opts.Provision != nil {
			if err := opts.Provision(tx, account, w.List); err != nil {
				return err
			}
		}
		return store.PutJSON(tx, []byte(keyJoin), jr)
	})
	if err != nil {
		return nil, fmt.Errorf("devicelink: %w", err)
	}
	j := &Joined{Account: account, List: list}
	j.Records, err = receive(ctx, s, br, bw, st, &jr, opts)
	j.Done = jr.Done
	return j, err
}

// Pending returns the saved transfer state of a linked device: whether it was linked and
// whether its history transfer is still incomplete.
func Pending(st *store.Store) (linked, pending bool, err error) {
	var jr joinRecord
	err = st.View(func(tx *store.Tx) error {
		var e error
		linked, e = store.GetJSON(tx, []byte(keyJoin), &jr)
		return e
	})
	return linked, linked && !jr.Done, err
}

// Resume continues a linked device's cut history transfer from its saved cursor, proving
// the resume credential (the link's secret is spent). It returns the records written; a
// complete transfer returns 0 and nil.
func Resume(ctx context.Context, h host.Host, st *store.Store, opts JoinOptions) (int, error) {
	opts.defaults()
	var jr joinRecord
	var found bool
	err := st.View(func(tx *store.Tx) error {
		var e error
		found, e = store.GetJSON(tx, []byte(keyJoin), &jr)
		return e
	})
	if err != nil {
		return 0, fmt.Errorf("devicelink: %w", err)
	}
	if !found {
		return 0, errors.New("devicelink: this device was not linked")
	}
	if jr.Done {
		return 0, nil
	}
	primary, err := peer.Decode(jr.Primary)
	if err != nil {
		return 0, fmt.Errorf("devicelink: saved primary: %w", err)
	}
	s, err := dial(ctx, h, primary, jr.Addrs, jr.Relays, opts.Timeout)
	if err != nil {
		return 0, err
	}
	defer s.Reset()
	br, bw := bufio.NewReaderSize(s, 64<<10), bufio.NewWriterSize(s, 4096)
	rkey := resumeKey(jr.Resume)
	s.SetDeadline(time.Now().Add(opts.Timeout))
	err = writeJSON(bw, typeResume, resume{V: 1, ID: linkID(jr.Resume), Proof: proof(rkey[:], labelResumeProof, primary, h.ID(), nil)})
	if err != nil {
		return 0, fmt.Errorf("devicelink: resume: %w", err)
	}
	w, err := readWelcome(br)
	if err != nil {
		return 0, err
	}
	if !hmac.Equal(w.Proof, proof(rkey[:], labelPrimaryProof, primary, h.ID(), nil)) {
		return 0, fmt.Errorf("%w: wrong proof", ErrBadPrimary)
	}
	return receive(ctx, s, br, bw, st, &jr, opts)
}

func readWelcome(br *bufio.Reader) (*welcome, error) {
	t, body, err := readFrame(br, maxHello+2*wire.MaxDeviceList)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, network.ErrReset) {
			return nil, fmt.Errorf("%w (the linking device closed the stream)", ErrRefused)
		}
		return nil, fmt.Errorf("devicelink: welcome: %w", err)
	}
	switch t {
	case typeRefused:
		return nil, ErrRefused
	case typeWelcome:
	default:
		return nil, fmt.Errorf("%w: frame %#x for a welcome", ErrMalformed, t)
	}
	var w welcome
	if err := jsonUnmarshal(body, &w); err != nil {
		return nil, err
	}
	if w.V != 1 {
		return nil, fmt.Errorf("%w: welcome version %d", ErrMalformed, w.V)
	}
	return &w, nil
}

// receive pulls from jr's cursor and writes each chunk with the advanced cursor in one
// store transaction, so a cut at any point resumes after the last chunk written.
func receive(ctx context.Context, s network.Stream, br *bufio.Reader, bw *bufio.Writer, st *store.Store, jr *joinRecord, opts JoinOptions) (int, error) {
	timeout := opts.Timeout
	s.SetDeadline(time.Now().Add(timeout))
	if err := writeFrame(bw, typePull, jr.Cursor); err != nil {
		return 0, fmt.Errorf("devicelink: pull: %w", err)
	}
	n, chunks := 0, 0
	for !jr.Done {
		if opts.cutAfter > 0 && chunks == opts.cutAfter {
			s.Reset()
		}
		chunks++
		s.SetDeadline(time.Now().Add(timeout))
		t, body, err := readFrame(br, maxFrame)
		if err != nil {
			return n, fmt.Errorf("devicelink: transfer cut after %d records: %w", n, err)
		}
		if t != typeChunk {
			return n, fmt.Errorf("%w: frame %#x for a chunk", ErrMalformed, t)
		}
		recs, done, err := parseChunk(body, jr.Cursor)
		if err != nil {
			return n, err
		}
		next := *jr
		if len(recs) > 0 {
			next.Cursor = recs[len(recs)-1].Key
		}
		if done {
			next.Done, next.Resume = true, nil
		}
		var stage []record
		var whole [][]byte
		if opts.PutChunk != nil {
			// Media chunks come in pieces (pieces.go); one whole is an older primary's.
			for _, r := range recs {
				if _, piece := chunkOf(r.Key); bytes.HasPrefix(r.Key, []byte(mediaChunkPrefix)) && !piece {
					if err := opts.PutChunk(r.Value); err != nil {
						return n, fmt.Errorf("devicelink: %w", err)
					}
				}
			}
			var chunks [][]byte
			if chunks, stage, whole, err = pieces(st, recs); err != nil {
				return n, err
			}
			for _, ct := range chunks {
				if err := opts.PutChunk(ct); err != nil {
					return n, fmt.Errorf("devicelink: %w", err)
				}
			}
		}
		err = st.Update(ctx, func(tx *store.Tx) error {
			for _, r := range stage {
				if err := tx.Set(r.Key, r.Value); err != nil {
					return err
				}
			}
			for _, ch := range whole {
				if _, err := tx.DeletePrefix([]byte(pieceStage + string(ch) + "/")); err != nil {
					return err
				}
			}
			for _, r := range recs {
				if bytes.HasPrefix(r.Key, []byte(mediaChunkPrefix)) {
					continue // not a store record
				}
				if bytes.HasPrefix(r.Key, []byte(sealedPrefix)) {
					if opts.Seal == nil {
						continue
					}
					sealed, err := opts.Seal(tx, r.Key, r.Value)
					if err != nil {
						return err
					}
					if sealed == nil {
						continue
					}
					r.Value = sealed
				}
				if err := tx.Set(r.Key, r.Value); err != nil {
					return err
				}
			}
			return store.PutJSON(tx, []byte(keyJoin), next)
		})
		for _, r := range recs {
			if bytes.HasPrefix(r.Key, []byte(sealedPrefix)) {
				clear(r.Value) // opened content: not kept in memory longer than needed
			}
		}
		if err != nil {
			return n, fmt.Errorf("devicelink: %w", err)
		}
		*jr = next
		n += len(recs)
	}
	s.SetDeadline(time.Now().Add(timeout))
	if err := writeFrame(bw, typeDone, nil); err != nil {
		return n, nil // the history is here; the primary's credential expires by itself
	}
	s.CloseWrite()
	return n, nil
}

// dial opens a link stream to the primary at its addresses and through its relays.
func dial(ctx context.Context, h host.Host, pid peer.ID, addrs, relays []string, timeout time.Duration) (network.Stream, error) {
	var mas []ma.Multiaddr
	for _, a := range addrs {
		if m, err := ma.NewMultiaddr(a); err == nil {
			mas = append(mas, m)
		}
	}
	for _, r := range relays {
		if m, err := ma.NewMultiaddr(r + "/p2p-circuit"); err == nil {
			mas = append(mas, m)
		}
		if ai, err := peer.AddrInfoFromString(r); err == nil {
			h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
		}
	}
	h.Peerstore().AddAddrs(pid, mas, peerstore.TempAddrTTL)
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := h.Connect(network.WithAllowLimitedConn(dctx, "devicelink"), peer.AddrInfo{ID: pid, Addrs: mas}); err != nil {
		return nil, fmt.Errorf("devicelink: cannot reach the linking device: %w", err)
	}
	s, err := h.NewStream(network.WithAllowLimitedConn(dctx, "devicelink"), pid, protocol.ID(Protocol))
	if err != nil {
		return nil, fmt.Errorf("devicelink: cannot open a link stream: %w", err)
	}
	return s, nil
}

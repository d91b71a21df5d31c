package devicelink

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Resources are the primary's quotas for the protocol, all in one place.
type Resources struct {
	// Streams caps the link streams served at once (handshakes and transfers).
	Streams int
	// Handshake bounds a hello or resume and its answer.
	Handshake time.Duration
	// Idle bounds the wait for one frame, or for one chunk to be taken, during a transfer.
	Idle time.Duration
}

// DefaultResources: linking is rare and personal.
func DefaultResources() Resources {
	return Resources{Streams: 2, Handshake: 30 * time.Second, Idle: 2 * time.Minute}
}

// Devices adds a device to the account's signed list (the messenger's AddDevice): it
// returns the new list, already published to contacts and the account's devices.
type Devices interface {
	AddDevice(ctx context.Context, d wire.Device) (*wire.DeviceList, error)
}

// ServerConfig configures the primary's side.
type ServerConfig struct {
	Store *store.Store
	// Account is the account identity: it signs the list the new device receives.
	Account *identity.Identity
	Devices Devices
	// MediaChunks, when set, supplies the media's chunk ciphertexts to the transfer (in
	// pieces that fit a relay circuit: pieces.go).
	MediaChunks MediaChunks
	// Open, when set, opens the sealed content of disappearing messages for the transfer
	// (without it they are not sent: they show as deleted on the new device).
	Open Opener
	// Now is the clock (expiry); nil means time.Now.
	Now       func() time.Time
	Logger    *slog.Logger
	Resources Resources // zero value: DefaultResources
}

// Server answers the device link protocol on the account's primary device.
type Server struct {
	cfg      ServerConfig
	slots    chan struct{}
	mu       sync.Mutex
	streams  map[network.Stream]bool
	stopping bool
	wg       sync.WaitGroup
}

// NewServer checks cfg and returns a Server; Serve starts it.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Store == nil || cfg.Account == nil || cfg.Devices == nil {
		return nil, errors.New("devicelink: server needs a store, the account identity and Devices")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Resources == (Resources{}) {
		cfg.Resources = DefaultResources()
	}
	return &Server{cfg: cfg, slots: make(chan struct{}, cfg.Resources.Streams), streams: map[network.Stream]bool{}}, nil
}

// Issue makes a new link to this node on h (Issue, with the host's addresses).
func (s *Server) Issue(ctx context.Context, self peer.ID, addrs, relays []string) (*Link, error) {
	return Issue(ctx, s.cfg.Store, s.cfg.Now(), self, addrs, relays)
}

// Serve answers the protocol on h until the returned function is called, which removes the
// handler, resets the open streams and waits for their handlers.
func (s *Server) Serve(h host.Host) (stop func()) {
	self := h.ID()
	h.SetStreamHandler(protocol.ID(Protocol), func(st network.Stream) { s.handle(self, st) })
	return func() {
		h.RemoveStreamHandler(protocol.ID(Protocol))
		s.mu.Lock()
		s.stopping = true
		for st := range s.streams {
			st.Reset()
		}
		s.mu.Unlock()
		s.wg.Wait()
	}
}

func (s *Server) track(st network.Stream) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	select {
	case s.slots <- struct{}{}:
	default:
		return false // busy: a flood of hellos is refused, not queued
	}
	s.streams[st] = true
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(st network.Stream) {
	s.mu.Lock()
	delete(s.streams, st)
	s.mu.Unlock()
	<-s.slots
	s.wg.Done()
}

func (s *Server) handle(self peer.ID, st network.Stream) {
	if !s.track(st) {
		st.Reset()
		return
	}
	defer s.untrack(st)
	defer func() {
		if v := recover(); v != nil {
			s.cfg.Logger.Error("device link handler panicked (a bug)", "panic", v, "stack", string(debug.Stack()))
			st.Reset()
		}
	}()
	if err := st.Scope().SetService("petrel.devicelink"); err != nil {
		st.Reset()
		return
	}
	if err := st.Scope().ReserveMemory(maxFrame, network.ReservationPriorityLow); err != nil {
		st.Reset()
		return
	}
	defer st.Scope().ReleaseMemory(maxFrame)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.serve(ctx, self, st); err != nil {
		s.cfg.Logger.Info("device link stream ended", "peer", st.Conn().RemotePeer(), "err", err)
		st.Reset()
		return
	}
	st.Close()
}

func (s *Server) serve(ctx context.Context, self peer.ID, st network.Stream) error {
	res := s.cfg.Resources
	br, bw := bufio.NewReaderSize(st, 4096), bufio.NewWriterSize(st, 64<<10)
	remote := st.Conn().RemotePeer()
	st.SetDeadline(time.Now().Add(res.Handshake))
	t, body, err := readFrame(br, maxHello)
	if err != nil {
		return err
	}
	var w *welcome
	var resumeID string
	switch t {
	case typeHello:
		w, resumeID, err = s.hello(ctx, self, remote, body)
	case typeResume:
		w, resumeID, err = s.resume(ctx, self, remote, body)
	default:
		return fmt.Errorf("%w: frame %#x first", ErrMalformed, t)
	}
	if errors.Is(err, ErrRefused) {
		writeFrame(bw, typeRefused, nil)
		return err
	}
	if err != nil {
		return err
	}
	if err := writeJSON(bw, typeWelcome, w); err != nil {
		return err
	}
	return s.transfer(ctx, st, br, bw, resumeID)
}

// hello checks a new device's proof, spends the link, adds the device and returns the
// welcome.
func (s *Server) hello(ctx context.Context, self, remote peer.ID, body []byte) (*welcome, string, error) {
	var h hello
	if err := jsonUnmarshal(body, &h); err != nil {
		return nil, "", err
	}
	devKey, err := checkHello(&h)
	if err != nil {
		return nil, "", err
	}
	now := s.cfg.Now()
	cred := make([]byte, 32)
	rand.Read(cred)
	rkey := resumeKey(cred)
	rid := linkID(cred)
	var key []byte
	refused := false
	err = s.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		var rec linkRecord
		k := []byte(keyLink + h.Link)
		found, err := store.GetJSON(tx, k, &rec)
		if err != nil {
			return err
		}
		if !found || rec.Spent || rec.Expires < now.UnixMilli() || rec.Attempts >= MaxAttempts {
			refused = true
			return nil
		}
		// The proof is checked against the peer id Noise proved for this stream: a proof
		// made for another peer (a relay replaying what it saw) does not match.
		want := proof(rec.Key, labelNewProof, self, remote, h.Key)
		if !hmac.Equal(want, h.Proof) || !devKey.Verify(domainHello, helloTranscript(self, remote, h.Key, h.Link), h.Sig) {
			refused = true
			rec.Attempts++
			return store.PutJSON(tx, k, rec)
		}
		key = rec.Key
		rec.Spent = true // single use: spent before the device is added
		if err := store.PutJSON(tx, k, rec); err != nil {
			return err
		}
		return store.PutJSON(tx, []byte(keyResume+rid), resumeRecord{Key: rkey[:], PeerID: remote.String(),
			DeviceID: wire.DeviceID(devKey), Expires: now.Add(ResumeTTL).UnixMilli()})
	})
	if err != nil {
		return nil, "", fmt.Errorf("devicelink: %w", err)
	}
	if refused {
		return nil, "", ErrRefused
	}
	list, err := s.cfg.Devices.AddDevice(ctx, wire.Device{ID: wire.DeviceID(devKey), Key: h.Key, PeerID: remote.String(),
		Addrs: h.Addrs, Relays: h.Relays, Name: h.Name, Added: now.UnixMilli()})
	if err != nil {
		s.cfg.Logger.Warn("device link: adding the device failed", "err", err)
		return nil, "", ErrRefused
	}
	signed, err := wire.SignDeviceList(s.cfg.Account, list)
	if err != nil {
		return nil, "", err
	}
	s.cfg.Logger.Info("device linked", "device", wire.DeviceID(devKey), "name", h.Name, "peer", remote)
	return &welcome{V: 1, Proof: proof(key, labelPrimaryProof, self, remote, h.Key),
		Account: s.cfg.Account.Public().Bytes(), List: signed, Resume: cred}, rid, nil
}

// checkHello validates a hello's fields and returns the device key.
func checkHello(h *hello) (*identity.PublicIdentity, error) {
	if h.V != 1 || len(h.Link) != 32 || len(h.Proof) != 32 || len(h.Sig) > 128 {
		return nil, fmt.Errorf("%w: hello", ErrMalformed)
	}
	key, err := identity.ParsePublic(h.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: hello key", ErrMalformed)
	}
	if len(h.Name) > wire.MaxName || !utf8.ValidString(h.Name) || len(h.Addrs) > maxAddrs || len(h.Relays) > maxAddrs {
		return nil, fmt.Errorf("%w: hello", ErrMalformed)
	}
	for _, a := range append(append([]string{}, h.Addrs...), h.Relays...) {
		if a == "" || len(a) > wire.MaxAddrLen {
			return nil, fmt.Errorf("%w: hello address", ErrMalformed)
		}
	}
	return key, nil
}

// resume checks a linked device's resume credential.
func (s *Server) resume(ctx context.Context, self, remote peer.ID, body []byte) (*welcome, string, error) {
	var r resume
	if err := jsonUnmarshal(body, &r); err != nil {
		return nil, "", err
	}
	if r.V != 1 || len(r.ID) != 32 || len(r.Proof) != 32 {
		return nil, "", fmt.Errorf("%w: resume", ErrMalformed)
	}
	now := s.cfg.Now()
	var key []byte
	err := s.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		var rec resumeRecord
		k := []byte(keyResume + r.ID)
		found, err := store.GetJSON(tx, k, &rec)
		if err != nil || !found || rec.Expires < now.UnixMilli() || rec.Attempts >= MaxAttempts || rec.PeerID != remote.String() {
			return err
		}
		if !hmac.Equal(proof(rec.Key, labelResumeProof, self, remote, nil), r.Proof) {
			rec.Attempts++
			return store.PutJSON(tx, k, rec)
		}
		key = rec.Key
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("devicelink: %w", err)
	}
	if key == nil {
		return nil, "", ErrRefused
	}
	return &welcome{V: 1, Proof: proof(key, labelPrimaryProof, self, remote, nil)}, r.ID, nil
}

// transfer serves the history: a pull names the cursor, chunks follow until the last, and
// the device's done ends the resume credential.
func (s *Server) transfer(ctx context.Context, st network.Stream, br *bufio.Reader, bw *bufio.Writer, resumeID string) error {
	idle := s.cfg.Resources.Idle
	st.SetDeadline(time.Now().Add(idle))
	t, after, err := readFrame(br, maxKey+1)
	if errors.Is(err, io.EOF) {
		return nil // the device took the welcome and left; it may resume later
	}
	if err != nil {
		return err
	}
	if t != typePull || len(after) > maxKey {
		return fmt.Errorf("%w: frame %#x for a pull", ErrMalformed, t)
	}
	target, media := chunkTarget, s.cfg.MediaChunks
	if st.Conn().Stat().Limited {
		target = limitedChunkTarget // media chunks too: they go in pieces (pieces.go)
	}
	var buf []byte
	for {
		recs, done, err := nextChunk(s.cfg.Store, after, target, media, s.cfg.Open)
		if err != nil {
			return err
		}
		buf = appendChunk(buf[:0], recs, done)
		st.SetDeadline(time.Now().Add(idle))
		if err := writeFrame(bw, typeChunk, buf); err != nil {
			return err
		}
		if done {
			break
		}
		after = recs[len(recs)-1].Key
	}
	st.SetDeadline(time.Now().Add(idle))
	if t, _, err := readFrame(br, 1); err != nil || t != typeDone {
		return fmt.Errorf("devicelink: no done after the transfer: %w", err)
	}
	return s.cfg.Store.Update(ctx, func(tx *store.Tx) error { return tx.Delete([]byte(keyResume + resumeID)) })
}

package media

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/node/p2phost"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// newHost is a real libp2p host on loopback TCP.
func newHost(t testing.TB) host.Host {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2phost.New(p2phost.Config{Key: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func connect(t testing.TB, a, b host.Host) {
	t.Helper()
	if err := a.Connect(ctxT(t), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// sender is a node that put a file, referenced it from message "msg1", and serves it to
// the members of that message's conversation.
type sender struct {
	*testStore
	h       host.Host
	members map[peer.ID]bool
	asked   atomic.Int64
}

func newSender(t testing.TB) *sender {
	s := &sender{testStore: newTestStore(t, Options{}), h: newHost(t), members: map[peer.ID]bool{}}
	stop := s.Serve(s.h, func(r FetchRequest) bool {
		s.asked.Add(1)
		return s.members[r.Peer] && slices.Contains(r.Messages, "msg1")
	})
	t.Cleanup(stop)
	return s
}

// send puts data and refers to it from msg1; it returns the manifest a message carries.
func (s *sender) send(t testing.TB, data []byte, name, mime string) (Attachment, Manifest) {
	t.Helper()
	a, err := s.Put(ctxT(t), bytes.NewReader(data), name, mime)
	if err != nil {
		t.Fatal(err)
	}
	var mf Manifest
	err = s.db.Update(ctxT(t), func(tx *store.Tx) error {
		if err := Ref(tx, a.MediaID, "msg1"); err != nil {
			return err
		}
		var err error
		mf, err = s.Manifest(tx, a.MediaID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The manifest travels inside a message: through JSON.
	b, _ := json.Marshal(mf)
	var out Manifest
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return a, out
}

func TestTransfer20MiBByteIdentical(t *testing.T) {
	s := newSender(t)
	r := newTestStore(t, Options{})
	rh := newHost(t)
	s.members[rh.ID()] = true
	connect(t, rh, s.h)
	data := randomBytes(41, 20<<20)
	sent, mf := s.send(t, data, "movie.bin", "application/octet-stream")

	id, err := r.Add(ctxT(t), mf)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := r.Info(id); a.State != Downloading || a.Received != 0 || a.Size != sent.Size || a.Name != "movie.bin" {
		t.Fatalf("before download: %+v", a)
	}
	if _, err := r.Open(id); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("open before download: %v", err)
	}
	var updates []Attachment
	a, err := r.Download(ctxT(t), id, Sources{Host: rh, Peers: []peer.ID{s.h.ID()}}, func(a Attachment) {
		updates = append(updates, a)
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.State != Available || a.SHA256 != sent.SHA256 || a.Size != int64(len(data)) {
		t.Fatalf("after download: %+v", a)
	}
	if !bytes.Equal(readAll(t, r.Store, id), data) {
		t.Fatal("received file differs")
	}
	// One update per chunk, received growing to the size, then the final available one.
	n := chunkCount(int64(len(data)))
	if len(updates) != n+1 || updates[n].State != Available || updates[n-1].Received != int64(len(data)) {
		t.Fatalf("%d progress updates, last two %+v", len(updates), updates[max(0, len(updates)-2):])
	}
	for i := 1; i < n; i++ {
		if updates[i].State != Downloading || updates[i].Received <= updates[i-1].Received {
			t.Fatalf("update %d: %+v after %+v", i, updates[i], updates[i-1])
		}
	}
	s.db.Close()
	r.db.Close()
	pats := [][]byte{data[8<<20 : 8<<20+4096], data[len(data)-4096:]}
	assertNoPlaintext(t, s.dir, pats...)
	assertNoPlaintext(t, r.dir, pats...)
}

func TestTransferImageWithThumbnailLeavesNoPlaintext(t *testing.T) {
	s := newSender(t)
	r := newTestStore(t, Options{})
	rh := newHost(t)
	s.members[rh.ID()] = true
	connect(t, rh, s.h)
	img := image.NewRGBA(image.Rect(0, 0, 1200, 900))
	copy(img.Pix, randomBytes(2, len(img.Pix)))
	var b bytes.Buffer
	png.Encode(&b, img)
	src := b.Bytes()
	sent, mf := s.send(t, src, "noise.png", "image/png")
	if mf.Thumbnail == nil || sent.ThumbnailMediaID == "" {
		t.Fatal("no thumbnail in the manifest")
	}
	thumb := readAll(t, s.Store, sent.ThumbnailMediaID)
	if len(thumb) < 8192 {
		t.Fatalf("thumbnail of %d bytes: too small to scan for a 4 KiB pattern", len(thumb))
	}
	id, err := r.Add(ctxT(t), mf)
	if err != nil {
		t.Fatal(err)
	}
	a, err := r.Download(ctxT(t), id, Sources{Host: rh, Peers: []peer.ID{s.h.ID()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.MIME != "image/png" || a.Width != 1200 || a.Height != 900 || a.ThumbnailMediaID == "" {
		t.Fatalf("received %+v", a)
	}
	if got := readAll(t, r.Store, a.ThumbnailMediaID); !bytes.Equal(got, thumb) {
		t.Fatal("thumbnail differs")
	}
	if got := readAll(t, r.Store, id); !bytes.Equal(got, readAll(t, s.Store, sent.MediaID)) {
		t.Fatal("image differs")
	}
	s.db.Close()
	r.db.Close()
	pats := [][]byte{src[len(src)/2 : len(src)/2+4096], thumb[2048:6144]}
	assertNoPlaintext(t, s.dir, pats...)
	assertNoPlaintext(t, r.dir, pats...)
}

func TestUnauthorizedPeerIsRefused(t *testing.T) {
	s := newSender(t)
	r := newTestStore(t, Options{})
	rh := newHost(t) // not a member
	connect(t, rh, s.h)
	_, mf := s.send(t, randomBytes(5, ChunkSize+10), "secret.bin", "")
	id, _ := r.Add(ctxT(t), mf)
	_, err := r.Download(ctxT(t), id, Sources{Host: rh, Peers: []peer.ID{s.h.ID()}}, nil)
	if !errors.Is(err, ErrFetchFailed) || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("err = %v, want a forbidden failure", err)
	}
	if s.served.Load() != 0 || s.asked.Load() == 0 {
		t.Fatalf("served %d chunks, asked %d", s.served.Load(), s.asked.Load())
	}
	a, _ := r.Info(id)
	if a.State != Failed || a.Received != 0 || !strings.Contains(a.Reason, "forbidden") {
		t.Fatalf("info %+v", a)
	}
	// A member of another conversation (not holding msg1) is refused too, and an unknown
	// file answers the same as a forbidden one.
	var unknown wire.ChunkRequest
	unknown.File[0] = 9
	if st := rawRequest(t, rh, s.h.ID(), unknown); st != wire.ChunkForbidden {
		t.Fatalf("unknown file: %v, want forbidden", st)
	}
}

func rawRequest(t *testing.T, h host.Host, p peer.ID, req wire.ChunkRequest) wire.ChunkStatus {
	t.Helper()
	st, err := h.NewStream(ctxT(t), p, protocol.ID(wire.MediaProtocol))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bw := bufio.NewWriter(st)
	wire.WriteMediaFrame(bw, wire.AppendChunkRequest(nil, req))
	bw.Flush()
	body, err := wire.ReadMediaFrame(bufio.NewReader(st), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := wire.ParseChunkResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Status
}

// liar is a real peer that answers every chunk request with corrupted bytes of the real
// chunk (it holds the sender's chunk files: a compromised mirror).
func liar(t *testing.T, s *sender) host.Host {
	h := newHost(t)
	var served atomic.Int64
	h.SetStreamHandler(protocol.ID(wire.MediaProtocol), func(st network.Stream) {
		defer st.Close()
		br, bw := bufio.NewReader(st), bufio.NewWriter(st)
		for {
			body, err := wire.ReadMediaFrame(br, nil)
			if err != nil {
				return
			}
			req, err := wire.ParseChunkRequest(body)
			if err != nil {
				return
			}
			var f *fileRecord
			s.db.View(func(tx *store.Tx) error { f, err = s.getFile(tx, FileID(req.File)); return err })
			ct, _ := s.blobs.Get(f.Hash(int(req.Index)), nil)
			ct[len(ct)/2] ^= 0x40
			served.Add(1)
			wire.WriteMediaFrame(bw, wire.AppendChunkResponse(nil, wire.ChunkResponse{Status: wire.ChunkOK, Chunk: ct}))
			bw.Flush()
		}
	})
	t.Cleanup(func() {
		if served.Load() == 0 {
			t.Error("the lying peer was never asked")
		}
	})
	return h
}

// memBlobs stands in for the relay blob store (another package provides the real one):
// the blobs the sender left there through SealedChunks, served through the BlobSource
// interface by hash and range, optionally corrupted.
type memBlobs struct {
	blobs   map[Hash][]byte
	corrupt bool
	gets    atomic.Int64
}

func relayCopy(t testing.TB, s *sender, mediaID string) *memBlobs {
	t.Helper()
	mb := &memBlobs{blobs: map[Hash][]byte{}}
	err := s.SealedChunks(mediaID, func(h Hash, ct []byte) error {
		if sha256.Sum256(ct) != h {
			t.Fatal("SealedChunks: a blob does not match its name")
		}
		mb.blobs[h] = bytes.Clone(ct)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

func (d *memBlobs) Get(_ context.Context, id Hash, off, n int64) ([]byte, error) {
	d.gets.Add(1)
	ct, ok := d.blobs[id]
	if !ok {
		return nil, fmt.Errorf("%w: no such blob", ErrNotFound)
	}
	if off < 0 || n < 0 || off+n > int64(len(ct)) {
		return nil, fmt.Errorf("range past the blob")
	}
	out := bytes.Clone(ct[off : off+n])
	if d.corrupt {
		out[0] ^= 1
	}
	return out, nil
}

func TestCorruptSourceRecoveredFromAnother(t *testing.T) {
	s := newSender(t)
	bad := liar(t, s)
	r := newTestStore(t, Options{Parallel: 2})
	rh := newHost(t)
	s.members[rh.ID()] = true
	connect(t, rh, s.h)
	connect(t, rh, bad)
	data := randomBytes(6, 4*ChunkSize+3)
	_, mf := s.send(t, data, "f", "")
	id, _ := r.Add(ctxT(t), mf)
	a, err := r.Download(ctxT(t), id, Sources{Host: rh, Peers: []peer.ID{bad.ID(), s.h.ID()}}, nil)
	if err != nil || a.State != Available {
		t.Fatalf("download: %+v %v", a, err)
	}
	if !bytes.Equal(readAll(t, r.Store, id), data) {
		t.Fatal("content differs")
	}
}

func TestRelayFallbackAndAllSourcesCorrupt(t *testing.T) {
	s := newSender(t)
	data := randomBytes(8, 2*ChunkSize+3)
	sent, mf := s.send(t, data, "f", "")

	// The sender is offline (its peer id is unknown to the receiver's host): the relay copy
	// serves the file.
	r := newTestStore(t, Options{})
	rh := newHost(t)
	relay := relayCopy(t, s, sent.MediaID)
	id, _ := r.Add(ctxT(t), mf)
	a, err := r.Download(ctxT(t), id, Sources{Host: rh, Peers: []peer.ID{s.h.ID()}, Blobs: relay}, nil)
	if err != nil || a.State != Available || relay.gets.Load() != 3 {
		t.Fatalf("from relay: %+v %v (%d gets)", a, err, relay.gets.Load())
	}
	if !bytes.Equal(readAll(t, r.Store, id), data) {
		t.Fatal("content differs")
	}

	// A liar and a relay serving wrong bytes: failed, with the reason, nothing stored.
	r2 := newTestStore(t, Options{})
	rh2 := newHost(t)
	bad := liar(t, s)
	connect(t, rh2, bad)
	id2, _ := r2.Add(ctxT(t), mf)
	_, err = r2.Download(ctxT(t), id2, Sources{Host: rh2, Peers: []peer.ID{bad.ID()}, Blobs: func() *memBlobs { b := relayCopy(t, s, sent.MediaID); b.corrupt = true; return b }()}, nil)
	if !errors.Is(err, ErrFetchFailed) || !strings.Contains(err.Error(), "wrong bytes") {
		t.Fatalf("err = %v", err)
	}
	if a, _ := r2.Info(id2); a.State != Failed || a.Received != 0 || a.Reason == "" {
		t.Fatalf("info %+v", a)
	}
	if n := chunkFiles(t, r2.dir); n != 0 {
		t.Fatalf("%d unverified chunks stored", n)
	}
	// A later retry from a good source succeeds.
	if a, err := r2.Download(ctxT(t), id2, Sources{Host: rh2, Blobs: relayCopy(t, s, sent.MediaID)}, nil); err != nil || a.State != Available {
		t.Fatalf("retry: %+v %v", a, err)
	}
}

func TestHostileManifestsRefusedBeforeFetching(t *testing.T) {
	s := newSender(t)
	sent, mf := s.send(t, randomBytes(9, 1000), "f", "")
	r := newTestStore(t, Options{})
	huge := mf
	huge.Size = 1 << 40
	if _, err := r.Add(ctxT(t), huge); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("1 TiB claim: %v, want ErrTooLarge", err)
	}
	over := mf
	over.Size = r.MaxSize() + 1
	over.Chunks = make([]Hash, chunkCount(over.Size))
	if _, err := r.Add(ctxT(t), over); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("limit+1 claim: %v", err)
	}
	inconsistent := mf
	inconsistent.Size = 5 * ChunkSize
	if _, err := r.Add(ctxT(t), inconsistent); !errors.Is(err, ErrBadManifest) {
		t.Fatalf("chunk count lie: %v", err)
	}
	badKey := mf
	badKey.Key = badKey.Key[:5]
	if _, err := r.Add(ctxT(t), badKey); !errors.Is(err, ErrBadManifest) {
		t.Fatalf("short key: %v", err)
	}
	if n := chunkFiles(t, r.dir); n != 0 {
		t.Fatal("something was stored")
	}
	// A manifest whose sha256 lies: chunks authenticate, the whole does not match.
	lie := mf
	lie.SHA256 = make([]byte, 32)
	lie.File[0] ^= 1 // another file id, so it is a new download, with the chunks of mf
	rh := newHost(t)
	id, _ := r.Add(ctxT(t), lie)
	_, err := r.Download(ctxT(t), id, Sources{Host: rh, Blobs: relayCopy(t, s, sent.MediaID)}, nil)
	if !errors.Is(err, ErrFetchFailed) {
		t.Fatalf("lying sha256: %v", err)
	}
}

func helperDownload(t *testing.T) {
	dir := os.Getenv("MEDIA_DIR")
	db, err := store.Open(filepath.Join(dir, "store"), []byte(testPass), store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(db, filepath.Join(dir, "media"), Options{Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	var mf Manifest
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &mf)
	id, err := m.Add(ctxT(t), mf)
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t)
	ai, err := peer.AddrInfoFromP2pAddr(multiaddr.StringCast(os.Getenv("MEDIA_PEER")))
	if err != nil {
		t.Fatal(err)
	}
	h.Connect(ctxT(t), *ai)
	got := 0
	m.Download(ctxT(t), id, Sources{Host: h, Peers: []peer.ID{ai.ID}}, func(Attachment) {
		got++
		if got == 3 {
			fmt.Println("GOT 3")
			select {} // hold every worker until the parent kills us
		}
	})
}

func TestDownloadResumesAfterSIGKILL(t *testing.T) {
	s := newSender(t)
	data := randomBytes(51, 12*ChunkSize+99)
	_, mf := s.send(t, data, "f", "")
	total := int64(chunkCount(int64(len(data))))

	rdir := t.TempDir()
	db, err := store.Create(filepath.Join(rdir, "store"), []byte(testPass), store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	b, _ := json.Marshal(mf)
	os.WriteFile(filepath.Join(rdir, "manifest.json"), b, 0o600)
	// Any peer that asks may fetch (the child's peer id is its own).
	for k := range s.members {
		delete(s.members, k)
	}
	stop := s.Serve(s.h, func(FetchRequest) bool { return true })
	defer stop()
	addr := fmt.Sprintf("%s/p2p/%s", s.h.Addrs()[0], s.h.ID())

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), "MEDIA_HELPER=download", "MEDIA_DIR="+rdir, "MEDIA_PEER="+addr)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "GOT 3" {
		cmd.Process.Kill()
		t.Fatalf("child: %q %v", line, err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	first := s.served.Load()
	if first < 3 || first >= total {
		t.Fatalf("child fetched %d of %d chunks before it was killed", first, total)
	}

	db, err = store.Open(filepath.Join(rdir, "store"), []byte(testPass), store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	r := openTestStore(t, rdir, db, Options{})
	id := receivedID(mf.File)
	before, err := r.Info(id)
	if err != nil || before.State != Downloading || before.Received < 3*ChunkSize {
		t.Fatalf("after SIGKILL: %+v %v", before, err)
	}
	rh := newHost(t)
	connect(t, rh, s.h)
	a, err := r.Download(ctxT(t), id, Sources{Host: rh, Peers: []peer.ID{s.h.ID()}}, nil)
	if err != nil || a.State != Available {
		t.Fatalf("resume: %+v %v", a, err)
	}
	refetched := s.served.Load() - first
	if stored := before.Received / ChunkSize; refetched > total-stored {
		t.Fatalf("resume fetched %d chunks; %d of %d were already stored", refetched, stored, total)
	}
	if !bytes.Equal(readAll(t, r.Store, id), data) {
		t.Fatal("content differs")
	}
}

func TestUnreachableSenderLeavesTheDownloadPending(t *testing.T) {
	s := newSender(t)
	data := randomBytes(10, ChunkSize+10)
	sent, mf := s.send(t, data, "f", "")
	r := newTestStore(t, Options{})
	rh := newHost(t)
	connect(t, rh, s.h)
	s.h.Close() // the sender goes away
	id, _ := r.Add(ctxT(t), mf)
	_, err := r.Download(ctxT(t), id, Sources{Host: rh, Peers: []peer.ID{s.h.ID()}}, nil)
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrFetchFailed) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if a, _ := r.Info(id); a.State != Downloading {
		t.Fatalf("state %q, want downloading (to retry)", a.State)
	}
	// A relay that answers it has no such blob is a definitive no.
	_, err = r.Download(ctxT(t), id, Sources{Host: rh, Blobs: &memBlobs{blobs: map[Hash][]byte{}}}, nil)
	if !errors.Is(err, ErrFetchFailed) {
		t.Fatalf("empty relay: %v", err)
	}
	// Later, from the relay copy.
	a, err := r.Download(ctxT(t), id, Sources{Host: rh, Blobs: relayCopy(t, s, sent.MediaID)}, nil)
	if err != nil || a.State != Available || !bytes.Equal(readAll(t, r.Store, id), data) {
		t.Fatalf("retry: %+v %v", a, err)
	}
}

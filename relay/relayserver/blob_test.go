package relayserver_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relayserver"
	"github.com/petrel-chat/petrel/relay/relaywire"
	"golang.org/x/crypto/chacha20poly1305"
)

// knownPattern is a recognisable 4 KiB of "plaintext media".
func knownPattern() []byte {
	p := make([]byte, 4096)
	for i := range p {
		p[i] = byte(i*7 + i/256)
	}
	copy(p, "PETREL-PLAINTEXT-PATTERN")
	return p
}

// encryptedBlob is what a node uploads: the plaintext (the pattern repeated to n bytes)
// sealed with a fresh key (XChaCha20-Poly1305), padded up to its bucket.
func encryptedBlob(t testing.TB, n int) (plain, blob []byte) {
	t.Helper()
	plain = bytes.Repeat(knownPattern(), (n+4095)/4096)[:n]
	key := make([]byte, chacha20poly1305.KeySize)
	rand.Read(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	ct := aead.Seal(nonce, nonce, plain, nil)
	blob = make([]byte, relaywire.BlobBucket(len(ct)))
	copy(blob, ct)
	rand.Read(blob[len(ct):])
	return plain, blob
}

// scanDir says whether any file under dir contains pattern.
func scanDir(t testing.TB, dir string, pattern []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, pattern) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestBlobUploadFetchStoredOnce: a registered node uploads an encrypted blob; any other
// peer asks for it and fetches it whole (verified) and by range; a second uploader (a
// group sender's other device, say) uploading the same bytes sends nothing and the relay
// holds it once, charged once. The relay's data directory holds no plaintext.
func TestBlobUploadFetchStoredOnce(t *testing.T) {
	r := startRelay(t, testConfig())
	alice, bob := newUser(t), newUser(t)
	ha, hb := newNode(t, r), newNode(t, r)
	register(t, ha, r, alice)
	register(t, hb, r, bob)
	ctx := context.Background()
	plain, blob := encryptedBlob(t, 100_000)
	if len(blob) != 128<<10 {
		t.Fatalf("padded to %d", len(blob))
	}
	id, err := mailboxclient.PutBlob(ctx, ha, r.id(), alice.id, blob)
	if err != nil {
		t.Fatal(err)
	}
	if id != relaywire.BlobIDOf(blob) {
		t.Fatal("the id is not the blob's SHA-256")
	}
	reader := newNode(t, r) // registered nowhere: holding the id is enough
	info, err := mailboxclient.HasBlob(ctx, reader, r.id(), id)
	if err != nil || !info.Present || info.Size != len(blob) || info.Expires.Before(time.Now().Add(29*24*time.Hour)) {
		t.Fatalf("has: %+v %v", info, err)
	}
	got, err := mailboxclient.GetBlob(ctx, reader, r.id(), id, 0, -1)
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("get whole: %v (%d bytes)", err, len(got))
	}
	part, err := mailboxclient.GetBlob(ctx, reader, r.id(), id, 70_000, 10_000)
	if err != nil || !bytes.Equal(part, blob[70_000:80_000]) {
		t.Fatalf("get range: %v", err)
	}
	tail, err := mailboxclient.GetBlob(ctx, reader, r.id(), id, len(blob)-100, 4096)
	if err != nil || !bytes.Equal(tail, blob[len(blob)-100:]) {
		t.Fatalf("a range past the end: %d bytes, %v", len(tail), err)
	}
	if _, err := mailboxclient.PutBlob(ctx, hb, r.id(), bob.id, blob); err != nil {
		t.Fatal(err)
	}
	if _, err := mailboxclient.PutBlob(ctx, ha, r.id(), alice.id, blob); err != nil {
		t.Fatal(err)
	}
	m := metricsText(t, r)
	for name, want := range map[string]float64{
		"petrel_relay_blob_blobs": 1, "petrel_relay_blob_bytes": float64(len(blob)), "petrel_relay_blob_puts_total": 3,
		"petrel_relay_blob_stored_total": 1, "petrel_relay_blob_put_bytes_total": float64(len(blob)), "petrel_relay_blob_gets_total": 3,
	} {
		if v := metricValue(t, m, name); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	missing := relaywire.BlobIDOf([]byte("never uploaded"))
	if _, err := mailboxclient.GetBlob(ctx, reader, r.id(), missing, 0, -1); !errors.Is(err, mailboxclient.ErrBlobNotFound) {
		t.Fatalf("get of an unknown blob: %v", err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if hits := scanDir(t, r.dir, plain[:4096]); len(hits) > 0 {
		t.Fatalf("plaintext in the relay's data directory: %v", hits)
	}
	// The scan sees what the store holds: the ciphertext is there.
	if hits := scanDir(t, r.dir, blob[4096:8192]); len(hits) == 0 {
		t.Fatal("the scan found not even the ciphertext: it proves nothing")
	}
}

// blobSession is a raw /petrel/blob/1.0.0 stream, authenticated as u when u is not nil.
type blobSession struct {
	t       *testing.T
	st      network.Stream
	r       *bufio.Reader
	w       *bufio.Writer
	refusal relaywire.Result // the answer to a refused authentication
}

func openBlobSession(t *testing.T, h host.Host, r *testRelay, u *identity.Identity) *blobSession {
	t.Helper()
	return openBlobSessionAs(t, h, r.id(), u, false)
}

// openBlobSessionAs opens a blob session; with register the proof asks to register.
func openBlobSessionAs(t *testing.T, h host.Host, relay peer.ID, u *identity.Identity, register bool) *blobSession {
	t.Helper()
	st, err := h.NewStream(context.Background(), relay, relaywire.BlobProtocol)
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { st.Reset() })
	s := &blobSession{t: t, st: st, r: bufio.NewReader(st), w: bufio.NewWriter(st)}
	if u != nil {
		s.send(relaywire.AppendAuth(nil, u.Public()))
		ch, err := relaywire.ParseChallenge(s.read())
		if err != nil {
			t.Fatal(err)
		}
		sig := u.Sign(identity.DomainMailbox, relaywire.ChallengeMessage(ch, []byte(relay), []byte(h.ID())))
		s.send(relaywire.AppendProof(nil, relaywire.Proof{Signature: sig, Register: register}))
		if res := s.result(); res.Code != relaywire.OK {
			if register {
				s.refusal = res
				return s
			}
			t.Fatalf("auth: %v", res)
		}
	}
	return s
}

func (s *blobSession) send(body []byte) {
	s.t.Helper()
	if err := relaywire.WriteFrame(s.w, body); err != nil {
		s.t.Fatal(err)
	}
	if err := s.w.Flush(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *blobSession) read() []byte {
	s.t.Helper()
	b, err := relaywire.ReadFrame(s.r, nil, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	return b
}

func (s *blobSession) result() relaywire.Result {
	s.t.Helper()
	res, err := relaywire.ParseResult(s.read())
	if err != nil {
		s.t.Fatal(err)
	}
	return res
}

func (s *blobSession) data(b []byte) {
	for off := 0; off < len(b); off += relaywire.MaxBlobData {
		s.send(relaywire.AppendBlobData(nil, b[off:min(off+relaywire.MaxBlobData, len(b))]))
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestBlobRefusals attacks the upload path: an unregistered uploader, a put before
// authenticating, a size off the buckets, bytes that do not hash to the claimed id, an
// upload over the uploader's quota, and one cut off half way are all refused with their
// reason, and none leaves a blob or a charge behind.
func TestBlobRefusals(t *testing.T) {
	cfg := testConfig()
	cfg.Blobs.MaxBytesPerUploader = 16 << 10
	r := startRelay(t, cfg)
	ctx := context.Background()
	alice, stranger := newUser(t), newUser(t)
	h := newNode(t, r)
	register(t, h, r, alice)
	blob := randomBytes(8 << 10)
	id := relaywire.BlobIDOf(blob)

	if _, err := mailboxclient.PutBlob(ctx, h, r.id(), stranger.id, blob); !errors.Is(err, mailboxclient.ErrNotRegistered) {
		t.Fatalf("unregistered uploader: %v", err)
	}
	// Nor may a stranger register through the blob protocol (mailbox registration has its
	// own policy and rate).
	if s := openBlobSessionAs(t, h, r.id(), stranger.id, true); s.refusal.Code != relaywire.CodeBadRequest {
		t.Fatalf("registration on the blob protocol: %v", s.refusal)
	}
	if _, err := mailboxclient.PutBlob(ctx, h, r.id(), stranger.id, blob); !errors.Is(err, mailboxclient.ErrNotRegistered) {
		t.Fatalf("after a registration attempt on the blob protocol: %v", err)
	}
	s := openBlobSession(t, h, r, nil)
	s.send(relaywire.AppendBlobPut(nil, relaywire.BlobPut{ID: id, Size: len(blob)}))
	if res := s.result(); res.Code != relaywire.CodeNotRegistered {
		t.Fatalf("put without auth: %v", res)
	}
	s = openBlobSession(t, h, r, alice.id)
	odd := randomBytes(5000)
	s.send(relaywire.AppendBlobPut(nil, relaywire.BlobPut{ID: relaywire.BlobIDOf(odd), Size: len(odd)}))
	if res := s.result(); res.Code != relaywire.CodeBlobSize || res.Message == "" {
		t.Fatalf("5000-byte blob: %v", res)
	}
	if _, err := mailboxclient.PutBlob(ctx, h, r.id(), alice.id, odd); !errors.Is(err, mailboxclient.ErrBlobSize) {
		t.Fatalf("client-side size check: %v", err)
	}
	// Wrong bytes for an id: refused once they are all in.
	s = openBlobSession(t, h, r, alice.id)
	s.send(relaywire.AppendBlobPut(nil, relaywire.BlobPut{ID: id, Size: len(blob)}))
	if st, err := relaywire.ParseBlobStat(s.read()); err != nil || st.Present {
		t.Fatalf("go-ahead: %+v %v", st, err)
	}
	s.data(randomBytes(len(blob)))
	if res := s.result(); res.Code != relaywire.CodeBlobMismatch {
		t.Fatalf("wrong bytes: %v", res)
	}
	// Half an upload, then the stream is reset.
	s = openBlobSession(t, h, r, alice.id)
	s.send(relaywire.AppendBlobPut(nil, relaywire.BlobPut{ID: id, Size: len(blob)}))
	s.read()
	s.data(blob[:len(blob)/2])
	s.st.Reset()
	if info, err := mailboxclient.HasBlob(ctx, h, r.id(), id); err != nil || info.Present {
		t.Fatalf("after refused and cut-off uploads the relay holds the blob: %+v %v", info, err)
	}
	// Quota: 16 KiB per uploader; nothing above was charged, so two 8 KiB blobs fit.
	if _, err := mailboxclient.PutBlob(ctx, h, r.id(), alice.id, blob); err != nil {
		t.Fatal(err)
	}
	if _, err := mailboxclient.PutBlob(ctx, h, r.id(), alice.id, randomBytes(8<<10)); err != nil {
		t.Fatal(err)
	}
	if _, err := mailboxclient.PutBlob(ctx, h, r.id(), alice.id, randomBytes(4<<10)); !errors.Is(err, mailboxclient.ErrQuotaBytes) {
		t.Fatalf("over quota: %v", err)
	}
	// Re-uploading a blob it holds costs nothing.
	if _, err := mailboxclient.PutBlob(ctx, h, r.id(), alice.id, blob); err != nil {
		t.Fatalf("re-upload at the quota: %v", err)
	}
	m := metricsText(t, r)
	if v := metricValue(t, m, "petrel_relay_blob_blobs"); v != 2 {
		t.Errorf("blobs %v, want 2", v)
	}
	for _, reason := range []string{"blob_size", "blob_mismatch", "quota_bytes", "not_registered"} {
		if metric(t, r, `petrel_relay_refusals_total{reason="`+reason+`"}`) < 1 {
			t.Errorf("refusal %s not counted", reason)
		}
	}
}

// TestBlobCorruptRelayDetected: a hostile relay that serves other bytes for a blob id is
// caught by the client (a *CorruptBlobError), not believed.
func TestBlobCorruptRelayDetected(t *testing.T) {
	evil := newListeningNode(t)
	blob := randomBytes(4096)
	id := relaywire.BlobIDOf(blob)
	evil.SetStreamHandler(relaywire.BlobProtocol, func(st network.Stream) {
		defer st.Close()
		r, w := bufio.NewReader(st), bufio.NewWriter(st)
		if _, err := relaywire.ReadFrame(r, nil, 0); err != nil {
			st.Reset()
			return
		}
		relaywire.WriteFrame(w, relaywire.AppendBlobStat(nil, relaywire.BlobStat{Present: true, Size: 4096, ExpiresAt: time.Now().Add(time.Hour).UnixMilli()}))
		wrong := bytes.Clone(blob)
		wrong[100] ^= 1
		relaywire.WriteFrame(w, relaywire.AppendBlobData(nil, wrong))
		w.Flush()
	})
	h := newNode(t, nil)
	if err := h.Connect(context.Background(), peer.AddrInfo{ID: evil.ID(), Addrs: evil.Addrs()}); err != nil {
		t.Fatal(err)
	}
	_, err := mailboxclient.GetBlob(context.Background(), h, evil.ID(), id, 0, -1)
	var ce *mailboxclient.CorruptBlobError
	if !errors.As(err, &ce) || !errors.Is(err, mailboxclient.ErrBlobCorrupt) || ce.Relay != evil.ID() {
		t.Fatalf("wrong bytes from a relay: %v", err)
	}
	if err := mailboxclient.VerifyBlob(evil.ID(), id, blob); err != nil {
		t.Fatal(err)
	}
}

// TestBlobTTLRefreshAndPurge: a blob lives for the mailbox TTL after its last upload; a
// re-upload renews it; the purge deletes the expired ones and gives the quota back.
func TestBlobTTLRefreshAndPurge(t *testing.T) {
	cfg := testConfig()
	cfg.Mailbox.TTL = relayserver.Duration(time.Hour)
	r := startRelay(t, cfg)
	ctx := context.Background()
	alice := newUser(t)
	h := newNode(t, r)
	register(t, h, r, alice)
	a, b := randomBytes(4096), randomBytes(4096)
	for _, blob := range [][]byte{a, b} {
		if _, err := mailboxclient.PutBlob(ctx, h, r.id(), alice.id, blob); err != nil {
			t.Fatal(err)
		}
	}
	r.now.advance(40 * time.Minute)
	if _, err := mailboxclient.PutBlob(ctx, h, r.id(), alice.id, b); err != nil {
		t.Fatal(err)
	}
	r.now.advance(30 * time.Minute)
	if _, err := r.PurgeNow(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err := mailboxclient.HasBlob(ctx, h, r.id(), relaywire.BlobIDOf(a)); err != nil || info.Present {
		t.Fatalf("expired blob: %+v %v", info, err)
	}
	if got, err := mailboxclient.GetBlob(ctx, h, r.id(), relaywire.BlobIDOf(b), 0, -1); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("renewed blob: %v", err)
	}
	if v := metric(t, r, "petrel_relay_blob_purged_total"); v != 1 {
		t.Errorf("purged %v, want 1", v)
	}
	if v := metric(t, r, "petrel_relay_blob_blobs"); v != 1 {
		t.Errorf("blobs %v, want 1", v)
	}
}

// TestBlobGetsAreRateLimited: a peer over its blob request rate is refused.
func TestBlobGetsAreRateLimited(t *testing.T) {
	cfg := testConfig()
	cfg.Blobs.GetRate, cfg.Blobs.GetBurst = 0.001, 3
	r := startRelay(t, cfg)
	h := newNode(t, r)
	id := relaywire.BlobIDOf(nil)
	for i := range 3 {
		if _, err := mailboxclient.HasBlob(context.Background(), h, r.id(), id); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if _, err := mailboxclient.GetBlob(context.Background(), h, r.id(), id, 0, -1); !errors.Is(err, mailboxclient.ErrRateLimited) {
		t.Fatalf("fourth request: %v", err)
	}
}

// TestBlobAcrossClusterRelays: three relay processes of one JetStream cluster: a node
// registered at the first uploads an encrypted blob through the second; another node
// fetches it through the third, whole and verified.
func TestBlobAcrossClusterRelays(t *testing.T) {
	rs := startClusterRelays(t, 3, testConfig())
	ctx := context.Background()
	alice := newUser(t)
	register(t, newNode(t, rs[0]), rs[0], alice)
	_, blob := encryptedBlob(t, 300_000)
	up := newNode(t, rs[1])
	id, err := mailboxclient.PutBlob(ctx, up, rs[1].id(), alice.id, blob)
	if err != nil {
		t.Fatal(err)
	}
	reader := newNode(t, rs[2])
	got, err := mailboxclient.GetBlob(ctx, reader, rs[2].id(), id, 0, -1)
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("get at another process: %v", err)
	}
	// Uploaded again at the third process: held already, nothing sent, counted once.
	if _, err := mailboxclient.PutBlob(ctx, newNode(t, rs[2]), rs[2].id(), alice.id, blob); err != nil {
		t.Fatal(err)
	}
	if _, err := rs[2].PurgeNow(ctx); err != nil {
		t.Fatal(err)
	}
	if v := metric(t, rs[2], "petrel_relay_blob_blobs"); v != 1 {
		t.Errorf("blobs at the third process: %v, want 1", v)
	}
	if v := metric(t, rs[2], "petrel_relay_blob_stored_total"); v != 0 {
		t.Errorf("the third process stored the blob again: %v", v)
	}
}

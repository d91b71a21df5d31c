package clusterstore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
	"golang.org/x/crypto/chacha20poly1305"
)

var blobQuota = relaystore.BlobQuota{MaxBytes: 1 << 20, TTL: time.Hour}

func randomBlob(n int) ([]byte, relaywire.BlobID) {
	b := make([]byte, n)
	rand.Read(b)
	return b, relaywire.BlobIDOf(b)
}

func uploader(i byte) []byte { return bytes.Repeat([]byte{i}, relaywire.MailboxIDSize) }

// TestBlobAcrossProcesses: a blob uploaded at one process is read, whole and by range, at
// the others; the same bytes uploaded again (at another process, by another uploader, or
// by three processes at once) are stored once and charged once; the uploader's quota holds
// at every process; three processes purging at once delete an expired blob once.
func TestBlobAcrossProcesses(t *testing.T) {
	ms := startCluster(t, 3)
	now := time.Now()
	data, id := randomBlob(256 << 10)
	if stored, err := ms[0].store.PutBlob(ctx, uploader(1), id, data, now, blobQuota); err != nil || !stored {
		t.Fatalf("put: %v %v", stored, err)
	}
	for _, m := range ms[1:] {
		got, err := m.store.ReadBlob(id, 0, len(data), now)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read at %s: %v", m.cfg.Listen, err)
		}
		part, err := m.store.ReadBlob(id, 200_000, 1000, now)
		if err != nil || !bytes.Equal(part, data[200_000:201_000]) {
			t.Fatalf("range at %s: %v", m.cfg.Listen, err)
		}
	}
	if stored, err := ms[2].store.PutBlob(ctx, uploader(2), id, data, now, blobQuota); err != nil || stored {
		t.Fatalf("second upload at another process: stored=%v %v", stored, err)
	}
	// Three processes upload one new blob at once: one stores it.
	other, otherID := randomBlob(4096)
	var wg sync.WaitGroup
	var mu sync.Mutex
	stores := 0
	for i, m := range ms {
		wg.Go(func() {
			stored, err := m.store.PutBlob(ctx, uploader(byte(3+i)), otherID, other, now, blobQuota)
			if err != nil {
				t.Error(err)
			}
			if stored {
				mu.Lock()
				stores++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if stores != 1 {
		t.Fatalf("three concurrent uploads stored the blob %d times", stores)
	}
	charged := int64(0)
	for i := byte(1); i <= 5; i++ {
		_, b, err := ms[1].store.BlobUsage(uploader(i))
		if err != nil {
			t.Fatal(err)
		}
		charged += b
	}
	if charged != int64(len(data)+len(other)) {
		t.Fatalf("uploaders charged %d bytes in all, want %d", charged, len(data)+len(other))
	}
	if _, err := ms[0].store.PurgeBlobs(ctx, now); err != nil {
		t.Fatal(err)
	}
	if st := ms[0].store.BlobStats(); st.Blobs != 2 || st.Bytes != int64(len(data)+len(other)) {
		t.Fatalf("stats %+v", st)
	}
	// The quota is the cluster's: 256 KiB charged at process 1, refused at process 3.
	q := blobQuota
	q.MaxBytes = 256 << 10
	more, moreID := randomBlob(4096)
	if _, err := ms[2].store.PutBlob(ctx, uploader(1), moreID, more, now, q); !errors.Is(err, relaystore.ErrBlobQuota) {
		t.Fatalf("over quota at another process: %v", err)
	}
	// Expiry, purged by three processes at once: each blob deleted once, charge returned.
	later := now.Add(2 * time.Hour)
	total := 0
	for _, m := range ms {
		wg.Go(func() {
			n, err := m.store.PurgeBlobs(ctx, later)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != 2 {
		t.Fatalf("purged %d, want 2", total)
	}
	if _, err := ms[1].store.StatBlob(id, now); !errors.Is(err, relaystore.ErrBlobNotFound) {
		t.Fatalf("purged blob: %v", err)
	}
	if _, b, _ := ms[1].store.BlobUsage(uploader(1)); b != 0 {
		t.Fatalf("uploader still charged %d after the purge", b)
	}
	if _, err := ms[0].store.blob.obj.GetInfo(ctx, blobKey(id)); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Fatalf("purged blob's object: %v", err)
	}
}

// TestBlobRefreshRewritesOldChunks: a blob kept alive by re-uploads for longer than a TTL
// has its chunks written again, so they outlive its record.
func TestBlobRefreshRewritesOldChunks(t *testing.T) {
	ms := startCluster(t, 1)
	s := ms[0].store
	data, id := randomBlob(8192)
	t0 := time.Now()
	if _, err := s.PutBlob(ctx, uploader(1), id, data, t0, blobQuota); err != nil {
		t.Fatal(err)
	}
	before, err := s.blob.obj.GetInfo(ctx, blobKey(id))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.TouchBlob(ctx, id, t0.Add(30*time.Minute), blobQuota); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.blob.obj.GetInfo(ctx, blobKey(id)); again.NUID != before.NUID {
		t.Fatal("a refresh within the TTL rewrote the chunks")
	}
	if err := s.TouchBlob(ctx, id, t0.Add(61*time.Minute), blobQuota); err != nil {
		t.Fatal(err)
	}
	after, err := s.blob.obj.GetInfo(ctx, blobKey(id))
	if err != nil || after.NUID == before.NUID {
		t.Fatalf("a refresh a TTL after the upload kept the old chunks: %v", err)
	}
	info, err := s.StatBlob(id, t0.Add(90*time.Minute))
	if err != nil || info.StoredAt != t0.Add(61*time.Minute).UnixMilli() {
		t.Fatalf("record after the rewrite: %+v %v", info, err)
	}
	got, err := s.ReadBlob(id, 0, len(data), t0.Add(90*time.Minute))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after the rewrite: %v", err)
	}
}

const childEnv = "PETREL_CLUSTERSTORE_BLOB_CHILD"

// childConfig is what the parent passes to the child process.
type childConfig struct {
	Cfg Config
	Dir string
}

// TestMain turns the test binary into a cluster process that starts uploading a blob and
// never finishes (TestBlobSIGKILLMidUpload kills it), when childEnv is set.
func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(runUploadChild(v))
	}
	os.Exit(m.Run())
}

func runUploadChild(v string) int {
	var c childConfig
	if err := json.Unmarshal([]byte(v), &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	octx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	s, err := Open(octx, c.Cfg, Options{DataDir: c.Dir, Quota: quota})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("READY")
	sc := bufio.NewScanner(os.Stdin)
	if !sc.Scan() {
		return 2
	}
	var id relaywire.BlobID
	if b, err := hex.DecodeString(sc.Text()); err != nil || copy(id[:], b) != len(id) {
		fmt.Fprintln(os.Stderr, "bad blob id", err)
		return 2
	}
	half := make([]byte, 1<<20)
	rand.Read(half)
	// The first half goes to JetStream (eight chunks); the second never comes.
	r := io.MultiReader(bytes.NewReader(half), &stallReader{said: func() { fmt.Println("MIDWAY") }})
	err = s.putObject(ctx, id, r, 2<<20)
	fmt.Fprintln(os.Stderr, "putObject returned:", err)
	return 1
}

// stallReader announces that the bytes before it were all read, then blocks forever.
type stallReader struct{ said func() }

func (s *stallReader) Read([]byte) (int, error) {
	s.said()
	select {}
}

// TestBlobSIGKILLMidUpload: a cluster process is SIGKILLed while it writes a blob into
// JetStream (its chunks partly stored); the other two, which keep a quorum, never show the
// half blob (no record, no object), and the same blob uploaded again at one of them is
// read whole at the other. No plaintext is in any process's data directory.
func TestBlobSIGKILLMidUpload(t *testing.T) {
	addrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	cfgs := make([]Config, 3)
	for i := range cfgs {
		var routes []string
		for j, a := range addrs {
			if j != i {
				routes = append(routes, a)
			}
		}
		cfgs[i] = Config{Name: "kill", Listen: addrs[i], Routes: routes, Replicas: 3}
	}
	childDir := t.TempDir()
	env, _ := json.Marshal(childConfig{Cfg: cfgs[2], Dir: childDir})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(env))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ms := make([]*member, 2)
	var wg sync.WaitGroup
	errs := make([]error, len(ms))
	for i := range ms {
		ms[i] = &member{cfg: cfgs[i], dir: t.TempDir(), notices: map[string]uint64{}, noticed: make(chan struct{}, 1)}
		wg.Go(func() { errs[i] = ms[i].open(quota) })
	}
	lines := bufio.NewScanner(stdout)
	expect := func(want string) {
		t.Helper()
		if !lines.Scan() || lines.Text() != want {
			t.Fatalf("child said %q (%v), want %q", lines.Text(), lines.Err(), want)
		}
	}
	expect("READY")
	wg.Wait()
	t.Cleanup(func() {
		for _, m := range ms {
			if m.store != nil {
				m.store.Close()
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// The blob a node uploads: a known plaintext pattern sealed with a fresh key
	// (XChaCha20-Poly1305), padded to its 2 MiB bucket.
	pattern := bytes.Repeat([]byte("PETREL-PLAINTEXT-PATTERN-"), 200)[:4096]
	key := make([]byte, chacha20poly1305.KeySize)
	rand.Read(key)
	aead, _ := chacha20poly1305.NewX(key)
	nonce := make([]byte, aead.NonceSize())
	ct := aead.Seal(nonce, nonce, bytes.Repeat(pattern, 300), nil)
	data := make([]byte, relaywire.BlobBucket(len(ct)))
	copy(data, ct)
	id := relaywire.BlobIDOf(data)
	// The child uploads another blob, and is killed half way.
	_, childID := randomBlob(4096)
	fmt.Fprintln(stdin, hex.EncodeToString(childID[:]))
	expect("MIDWAY")
	// The child's first megabyte is in the object stream: wait until JetStream has it.
	waitFor(t, "the child's chunks reach the stream", func() bool {
		st, err := ms[0].store.blob.obj.Status(ctx)
		return err == nil && st.Size() >= 1<<20
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for _, m := range ms {
		// Streams the killed process led elect a new leader first: until then requests
		// time out. Any answer but "not found" is a failure.
		var err error
		waitFor(t, "the survivors answer for the blob record", func() bool {
			_, err = m.store.StatBlob(childID, time.Now())
			return err == nil || errors.Is(err, relaystore.ErrBlobNotFound)
		})
		if !errors.Is(err, relaystore.ErrBlobNotFound) {
			t.Fatalf("half-uploaded blob has a record at %s: %v", m.cfg.Listen, err)
		}
		waitFor(t, "the survivors answer for the blob object", func() bool {
			_, err = m.store.blob.obj.GetInfo(ctx, blobKey(childID))
			return err == nil || errors.Is(err, jetstream.ErrObjectNotFound)
		})
		if !errors.Is(err, jetstream.ErrObjectNotFound) {
			t.Fatalf("half-uploaded blob's object visible at %s: %v", m.cfg.Listen, err)
		}
	}
	// The survivors carry on (once the buckets the killed process led have elected a
	// new leader; until then an upload fails and the node retries): a whole upload at
	// one is read at the other.
	// (A failed attempt may have left a record: the next one renews it only after reading
	// the object whole and finding it hashes to the id, else it stores the bytes again.)
	retry(t, "an upload after the kill", func() error {
		_, err := ms[1].store.PutBlob(ctx, uploader(1), id, data, time.Now(), relaystore.BlobQuota{TTL: time.Hour})
		return err
	})
	var got []byte
	retry(t, "a read after the kill", func() (err error) {
		got, err = ms[0].store.ReadBlob(id, 0, len(data), time.Now())
		return err
	})
	if !bytes.Equal(got, data) {
		t.Fatal("the blob read after the kill differs from the one uploaded")
	}
	for _, dir := range []string{ms[0].dir, ms[1].dir, childDir} {
		if hits := scanFiles(t, dir, pattern); len(hits) > 0 {
			t.Fatalf("plaintext pattern in %v", hits)
		}
		// JetStream's files are encrypted: not even the ciphertext shows.
		if hits := scanFiles(t, dir, data[8192:12288]); len(hits) > 0 {
			t.Fatalf("blob bytes in the clear in %v", hits)
		}
	}
}

// retry runs f until it succeeds, failing the test with f's last error after 60 s (a bound
// against a hang, not a timing claim: the streams the killed process led elect new leaders
// first).
func retry(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func scanFiles(t *testing.T, dir string, pattern []byte) []string {
	t.Helper()
	var hits []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, pattern) {
			hits = append(hits, strings.TrimPrefix(path, dir))
		}
		return nil
	})
	return hits
}

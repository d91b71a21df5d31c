package media

import (
	"bytes"
	"context"
	"encoding/base64"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/shredkeys"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
	"golang.org/x/crypto/chacha20poly1305"
)

// clock is a clock a test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// sealedStore is a media store with a real shredkeys keyring (hour buckets) on a moved clock.
type sealedStore struct {
	*testStore
	kr  *shredkeys.Keyring
	clk *clock
}

func newSealedStore(t testing.TB) *sealedStore {
	t.Helper()
	clk := &clock{now: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	db, err := store.Create(filepath.Join(dir, "store"), []byte(testPass), store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := shredkeys.Open(context.Background(), db, shredkeys.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ts := openTestStore(t, dir, db, Options{Sealer: kr, Now: clk.Now})
	t.Cleanup(func() { kr.Close() })
	return &sealedStore{testStore: ts, kr: kr, clk: clk}
}

// findings reads the closed store's directory as someone with the passphrase would: every
// version of every value (opened with the data key) and every sealed value under every
// key still in DIR/shredkeys. It returns where each secret was found.
func (s *sealedStore) findings(t *testing.T, secrets ...[]byte) []string {
	t.Helper()
	s.kr.Close()
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(s.dir, "store")
	dk := storetest.DataKey(t, dir, []byte(testPass))
	keys := storetest.ShredKeys(t, dir, dk)
	var out []string
	look := func(where string, b []byte) {
		for _, sec := range secrets {
			if bytes.Contains(b, sec) || bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString(sec))) {
				out = append(out, where)
			}
		}
	}
	for _, v := range storetest.AllVersions(t, dir, dk) {
		look("value at "+string(v.Key), v.Value)
		if len(v.Value) < 50 || v.Value[0] != 1 {
			continue
		}
		for _, k := range keys {
			a, _ := chacha20poly1305.NewX(k)
			ad := append(append([]byte("petrel_v1_shredkeys_content"), v.Value[1:10]...), v.Key...)
			if pt, err := a.Open(nil, v.Value[10:34], v.Value[34:], ad); err == nil {
				look("sealed value at "+string(v.Key)+" under a key still in the key file", pt)
			}
		}
	}
	return out
}

// reopen opens the store and keyring again (after findings).
func (s *sealedStore) reopen(t *testing.T) {
	t.Helper()
	db, err := store.Open(filepath.Join(s.dir, "store"), []byte(testPass), store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if s.kr, err = shredkeys.Open(context.Background(), db, shredkeys.Options{Now: s.clk.Now}); err != nil {
		t.Fatal(err)
	}
	s.testStore = openTestStore(t, s.dir, db, Options{Sealer: s.kr, Now: s.clk.Now})
}

func (s *sealedStore) update(t *testing.T, f func(tx *store.Tx) error) {
	t.Helper()
	if err := s.db.Update(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}

func (s *sealedStore) fileKeyOf(t *testing.T, id string) []byte {
	t.Helper()
	var key []byte
	err := s.db.View(func(tx *store.Tx) error {
		mf, err := s.Manifest(tx, id)
		key = mf.Key
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestDisappearingMediaLeavesNoTrace is the attack on a sent attachment of a disappearing
// message: after its expiry and the destruction of its bucket keys, the store's files,
// opened with the passphrase, yield neither its name nor its file key (with which its
// chunks would open), and its chunk files are gone; before it they do (the control).
func TestDisappearingMediaLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	s := newSealedStore(t)
	name := []byte("forensic-attachment-name.bin")
	a, err := s.Put(ctx, bytes.NewReader(randomBytes(7, 5000)), string(name), "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	key := s.fileKeyOf(t, a.MediaID)
	exp := s.clk.Now().Add(30 * time.Second).UnixMilli()
	s.update(t, func(tx *store.Tx) error {
		if err := Ref(tx, a.MediaID, "m1"); err != nil {
			return err
		}
		return s.RefUntil(tx, a.MediaID, "m1", true, exp)
	})
	if got := readAll(t, s.Store, a.MediaID); len(got) != 5000 {
		t.Fatalf("read back %d bytes", len(got))
	}
	if found := s.findings(t, name, key); len(found) == 0 {
		t.Fatal("the control before the expiry finds neither the name nor the file key")
	}
	s.reopen(t)

	// The message expires: its media goes with it; then the keys of the hour.
	s.clk.advance(31 * time.Second)
	s.update(t, func(tx *store.Tx) error { return s.Expire(tx, a.MediaID, "m1") })
	if _, err := s.Info(a.MediaID); err == nil {
		t.Fatal("the media is still there after the expiry of its only message")
	}
	if n := chunkFiles(t, s.dir); n != 0 {
		t.Fatalf("%d chunk files left after the expiry", n)
	}
	s.clk.advance(3 * time.Hour)
	if _, err := s.kr.Sweep(ctx, s.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if found := s.findings(t, name, key); len(found) > 0 {
		t.Fatalf("after the expiry the store still yields the attachment: %q", found)
	}
}

// TestReceivedDisappearingMediaLeavesNoTrace: a received attachment (Add) of a message read
// later (Pending, then its expiry) leaves nothing once it expired, though the download
// rewrote its file record meanwhile.
func TestReceivedDisappearingMediaLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	src := newTestStore(t, Options{})
	name := []byte("received-secret-name.pdf")
	a, err := src.Put(ctx, bytes.NewReader(randomBytes(8, 3000)), string(name), "application/pdf")
	if err != nil {
		t.Fatal(err)
	}
	var mf Manifest
	if err := src.db.View(func(tx *store.Tx) error { mf, err = src.Manifest(tx, a.MediaID); return err }); err != nil {
		t.Fatal(err)
	}
	s := newSealedStore(t)
	var id string
	s.update(t, func(tx *store.Tx) error {
		if id, err = s.AddTx(tx, mf); err != nil {
			return err
		}
		if err := Ref(tx, id, "m1"); err != nil {
			return err
		}
		return s.RefUntil(tx, id, "m1", true, 0) // unread: its timer has not started
	})
	relay := relayCopy(t, &sender{testStore: src}, a.MediaID)
	if _, err := s.Download(ctx, id, Sources{Blobs: relay}, nil); err != nil {
		t.Fatal(err)
	}
	exp := s.clk.Now().Add(10 * time.Second).UnixMilli() // read now
	s.update(t, func(tx *store.Tx) error { return s.RefUntil(tx, id, "m1", true, exp) })
	if got := readAll(t, s.Store, id); len(got) != 3000 {
		t.Fatalf("read back %d bytes", len(got))
	}
	if found := s.findings(t, name, mf.Key); len(found) == 0 {
		t.Fatal("the control before the expiry finds nothing")
	}
	s.reopen(t)
	s.clk.advance(11 * time.Second)
	s.update(t, func(tx *store.Tx) error { return s.Expire(tx, id, "m1") })
	s.clk.advance(3 * time.Hour)
	if _, err := s.kr.Sweep(ctx, s.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if found := s.findings(t, name, mf.Key); len(found) > 0 {
		t.Fatalf("after the expiry the store still yields the attachment: %q", found)
	}
}

// TestLastingReferenceUnseals: media a lasting message also uses stays readable after the
// disappearing one expired and every key of the time is destroyed; media used by no
// message yet is sealed (Pending) and readable until GC removes it.
func TestLastingReferenceUnseals(t *testing.T) {
	ctx := context.Background()
	s := newSealedStore(t)
	a, err := s.Put(ctx, bytes.NewReader(randomBytes(9, 2000)), "kept.bin", "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	_ = s.db.View(func(tx *store.Tx) error { raw, err = tx.Get(mediaKey(a.MediaID)); return err })
	if len(raw) == 0 || raw[0] == '{' {
		t.Fatal("an upload no message uses yet is not sealed")
	}
	exp := s.clk.Now().Add(5 * time.Second).UnixMilli()
	s.update(t, func(tx *store.Tx) error {
		for _, msg := range []string{"gone", "kept"} {
			if err := Ref(tx, a.MediaID, msg); err != nil {
				return err
			}
		}
		return s.RefUntil(tx, a.MediaID, "gone", true, exp)
	})
	_ = s.db.View(func(tx *store.Tx) error { raw, err = tx.Get(mediaKey(a.MediaID)); return err })
	if len(raw) > 0 && raw[0] != '{' {
		t.Fatal("media a lasting message uses is sealed")
	}
	s.clk.advance(6 * time.Second)
	s.update(t, func(tx *store.Tx) error { return s.Expire(tx, a.MediaID, "gone") })
	s.clk.advance(3 * time.Hour)
	if _, err := s.kr.Sweep(ctx, s.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s.Store, a.MediaID); len(got) != 2000 {
		t.Fatalf("the lasting message's media: %d bytes", len(got))
	}
}

// TestDisappearingTusUploadLeavesNoTrace: a resumable upload keeps the file's name, key and
// the bytes after its last chunk (the tail) in its own records while it runs; for an
// attachment of a disappearing message those too are gone for good after the expiry.
func TestDisappearingTusUploadLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	s := newSealedStore(t)
	name := []byte("resumable-secret-name.txt")
	data := bytes.Repeat([]byte("TUS-TAIL-PLAINTEXT-"), 200)
	up, err := s.Create(ctx, int64(len(data)), string(name), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, up, 0, bytes.NewReader(data[:1000])); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, up, 1000, bytes.NewReader(data[1000:])); err != nil {
		t.Fatal(err)
	}
	a, err := s.Complete(ctx, up)
	if err != nil {
		t.Fatal(err)
	}
	key := s.fileKeyOf(t, a.MediaID)
	exp := s.clk.Now().Add(20 * time.Second).UnixMilli()
	s.update(t, func(tx *store.Tx) error {
		if err := Ref(tx, a.MediaID, "m1"); err != nil {
			return err
		}
		return s.RefUntil(tx, a.MediaID, "m1", true, exp)
	})
	if got := readAll(t, s.Store, a.MediaID); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes", len(got))
	}
	secrets := [][]byte{name, key, []byte("TUS-TAIL-PLAINTEXT-")}
	if found := s.findings(t, secrets...); len(found) == 0 {
		t.Fatal("the control before the expiry finds nothing")
	}
	s.reopen(t)
	s.clk.advance(21 * time.Second)
	s.update(t, func(tx *store.Tx) error { return s.Expire(tx, a.MediaID, "m1") })
	s.clk.advance(3 * time.Hour)
	if _, err := s.kr.Sweep(ctx, s.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if found := s.findings(t, secrets...); len(found) > 0 {
		t.Fatalf("after the expiry the store still yields the upload: %q", found)
	}
}

// BenchmarkSealedMediaRecords: what sealing costs a disappearing attachment on the way in:
// a 64 KiB upload, its reference and the reseal under the message's expiry (two records
// opened and sealed again), each a durable commit; "plain" is the same without a sealer.
func BenchmarkSealedMediaRecords(b *testing.B) {
	for _, sealed := range []bool{false, true} {
		name := "plain"
		if sealed {
			name = "sealed"
		}
		b.Run(name, func(b *testing.B) {
			s := newSealedStore(b)
			m := s.Store
			if !sealed {
				m = openTestStore(b, s.dir, s.db, Options{Now: s.clk.Now}).Store
			}
			data := randomBytes(3, 64<<10)
			exp := s.clk.Now().Add(time.Minute).UnixMilli()
			b.ResetTimer()
			for i := range b.N {
				a, err := m.Put(context.Background(), bytes.NewReader(data[:len(data)-i%64]), "f.bin", "application/octet-stream")
				if err != nil {
					b.Fatal(err)
				}
				err = s.db.Update(context.Background(), func(tx *store.Tx) error {
					if err := Ref(tx, a.MediaID, "m"); err != nil {
						return err
					}
					return m.RefUntil(tx, a.MediaID, "m", true, exp)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package relaystore

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

func randomBlob(t *testing.T, n int) ([]byte, relaywire.BlobID) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b, relaywire.BlobIDOf(b)
}

// TestBlobStoredOnceCountedOnce: the same blob uploaded by two uploaders is stored once and
// charged once (to the first); a range reads back exactly; totals survive a reopen.
func TestBlobStoredOnceCountedOnce(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 16)
	q := BlobQuota{MaxBytes: 1 << 20, TTL: time.Hour}
	data, id := randomBlob(t, 64<<10)
	now := time.Now()
	for i, up := range [][]byte{a, a, b} {
		stored, err := s.PutBlob(ctx, up, id, data, now, q)
		if err != nil || stored != (i == 0) {
			t.Fatalf("upload %d: stored=%v %v", i, stored, err)
		}
	}
	if st := s.BlobStats(); st.Blobs != 1 || st.Bytes != 64<<10 {
		t.Fatalf("stats %+v, want one blob of 64 KiB", st)
	}
	if n, by, _ := s.BlobUsage(a); n != 1 || by != 64<<10 {
		t.Fatalf("first uploader charged %d blobs %d bytes", n, by)
	}
	if n, _, _ := s.BlobUsage(b); n != 0 {
		t.Fatalf("second uploader charged %d blobs", n)
	}
	got, err := s.ReadBlob(id, 1000, 5000, now)
	if err != nil || !bytes.Equal(got, data[1000:6000]) {
		t.Fatalf("range read: %v", err)
	}
	if _, err := s.ReadBlob(id, 60<<10, 8<<10, now); err == nil {
		t.Fatal("a range beyond the blob was read")
	}
	s.Close()
	s = openStore(t, dir)
	if st := s.BlobStats(); st.Blobs != 1 || st.Bytes != 64<<10 {
		t.Fatalf("stats after reopen %+v", st)
	}
}

// TestBlobRefusals: a size off the buckets, bytes that do not hash to the id and an
// upload over the uploader's quota are refused and store nothing.
func TestBlobRefusals(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := bytes.Repeat([]byte{7}, 16)
	q := BlobQuota{MaxBytes: 8 << 10, TTL: time.Hour}
	odd, oddID := randomBlob(t, 5000)
	if _, err := s.PutBlob(ctx, up, oddID, odd, time.Now(), q); !errors.Is(err, ErrBlobSize) {
		t.Fatalf("5000-byte blob: %v", err)
	}
	data, id := randomBlob(t, 4096)
	other, _ := randomBlob(t, 4096)
	if _, err := s.PutBlob(ctx, up, id, other, time.Now(), q); !errors.Is(err, ErrBlobMismatch) {
		t.Fatalf("wrong bytes: %v", err)
	}
	big, bigID := randomBlob(t, 16<<10)
	if _, err := s.PutBlob(ctx, up, bigID, big, time.Now(), q); !errors.Is(err, ErrBlobQuota) {
		t.Fatalf("over quota: %v", err)
	}
	if _, err := s.StatBlob(bigID, time.Now()); !errors.Is(err, ErrBlobNotFound) {
		t.Fatalf("a refused blob is visible: %v", err)
	}
	if _, err := s.PutBlob(ctx, up, id, data, time.Now(), q); err != nil {
		t.Fatal(err)
	}
	if st := s.BlobStats(); st.Blobs != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestBlobTTLRefreshAndPurge: a re-upload moves a blob's expiry; the purge deletes the
// expired ones and gives the uploader its quota back.
func TestBlobTTLRefreshAndPurge(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := bytes.Repeat([]byte{9}, 16)
	q := BlobQuota{MaxBytes: 1 << 20, TTL: time.Hour}
	t0 := time.Now()
	old, oldID := randomBlob(t, 4096)
	kept, keptID := randomBlob(t, 8192)
	for _, b := range []struct {
		d  []byte
		id relaywire.BlobID
	}{{old, oldID}, {kept, keptID}} {
		if _, err := s.PutBlob(ctx, up, b.id, b.d, t0, q); err != nil {
			t.Fatal(err)
		}
	}
	// Half an hour later the second is uploaded again: it lives until t0 + 1.5 h.
	if err := s.TouchBlob(ctx, keptID, t0.Add(30*time.Minute), q); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(70 * time.Minute)
	if _, err := s.StatBlob(oldID, later); !errors.Is(err, ErrBlobNotFound) {
		t.Fatalf("expired blob visible: %v", err)
	}
	n, err := s.PurgeBlobs(ctx, later)
	if err != nil || n != 1 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if _, err := s.StatBlob(keptID, later); err != nil {
		t.Fatalf("refreshed blob: %v", err)
	}
	if blobs, by, _ := s.BlobUsage(up); blobs != 1 || by != 8192 {
		t.Fatalf("usage after purge: %d blobs %d bytes", blobs, by)
	}
	if st := s.BlobStats(); st.Blobs != 1 || st.Bytes != 8192 {
		t.Fatalf("stats after purge %+v", st)
	}
	if err := s.TouchBlob(ctx, oldID, later, q); !errors.Is(err, ErrBlobNotFound) {
		t.Fatalf("touch of a purged blob: %v", err)
	}
}

// TestBlobStoredBytesThatDoNotHashAreNeverServed: a blob whose stored bytes no longer hash
// to its id (a disk that lost a bit) is not served, by range or whole, and not merely
// renewed by a re-upload: the re-upload stores the bytes again, charged once, and they are
// then served.
func TestBlobStoredBytesThatDoNotHashAreNeverServed(t *testing.T) {
	for _, path := range []string{"read", "upload"} {
		t.Run(path, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			up := bytes.Repeat([]byte{1}, 16)
			q := BlobQuota{MaxBytes: 1 << 20, TTL: time.Hour}
			data, id := randomBlob(t, 64<<10)
			now := time.Now()
			if stored, err := s.PutBlob(ctx, up, id, data, now, q); err != nil || !stored {
				t.Fatalf("put: %v %v", stored, err)
			}
			bad := bytes.Clone(data)
			bad[40_000] ^= 1
			if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(blobKey(pfxBlob, id), bad) }); err != nil {
				t.Fatal(err)
			}
			if path == "read" {
				for _, r := range [][2]int{{0, len(data)}, {39_000, 2_000}, {0, 100}} {
					got, err := s.ReadBlob(id, r[0], r[1], now)
					if !errors.Is(err, ErrBlobNotFound) {
						t.Fatalf("range %v of bytes that do not hash: %v (%d bytes)", r, err, len(got))
					}
				}
			}
			stored, err := s.PutBlob(ctx, up, id, data, now, q)
			if err != nil || !stored {
				t.Fatalf("the re-upload: stored=%v %v", stored, err)
			}
			got, err := s.ReadBlob(id, 0, len(data), now)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("the read after the re-upload: %v", err)
			}
			if n, by, _ := s.BlobUsage(up); n != 1 || by != int64(len(data)) {
				t.Fatalf("the uploader is charged %d blobs, %d bytes", n, by)
			}
			if st := s.BlobStats(); st.Blobs != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

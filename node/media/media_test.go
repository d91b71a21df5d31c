package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/node/store"
)

func TestPutOpenRoundTrip(t *testing.T) {
	ts := newTestStore(t, Options{})
	ctx := ctxT(t)
	for i, n := range []int{0, 1, 4096, ChunkSize, ChunkSize + 1, 3*ChunkSize + ChunkSize/2} {
		data := randomBytes(uint64(i), n)
		a, err := ts.Put(ctx, bytes.NewReader(data), "f.bin", "application/octet-stream")
		if err != nil {
			t.Fatalf("put %d bytes: %v", n, err)
		}
		if a.Size != int64(n) || a.SHA256 != hexSum(data) || a.State != Available || a.MIME != "application/octet-stream" {
			t.Fatalf("put %d bytes: attachment %+v", n, a)
		}
		if got := readAll(t, ts.Store, a.MediaID); !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: read back differs", n)
		}
	}
}

func TestReaderSeeksAcrossChunks(t *testing.T) {
	ts := newTestStore(t, Options{})
	data := randomBytes(7, 2*ChunkSize+1000)
	a, err := ts.Put(ctxT(t), bytes.NewReader(data), "f", "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ts.Open(a.MediaID)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, ChunkSize - 10, ChunkSize, 2*ChunkSize + 999, 5} {
		if _, err := r.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 50)
		n, err := io.ReadFull(r, buf)
		want := data[off:min(off+50, int64(len(data)))]
		if !bytes.Equal(buf[:n], want) || (n < 50 && !errors.Is(err, io.ErrUnexpectedEOF)) {
			t.Fatalf("at %d: got %d bytes (%v)", off, n, err)
		}
	}
	if end, _ := r.Seek(0, io.SeekEnd); end != int64(len(data)) {
		t.Fatalf("end %d", end)
	}
}

func TestPutOverLimitIsTooLargeAndKeepsNothing(t *testing.T) {
	ts := newTestStore(t, Options{MaxSize: ChunkSize * 2})
	_, err := ts.Put(ctxT(t), bytes.NewReader(randomBytes(1, 2*ChunkSize+1)), "big", "")
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if n := chunkFiles(t, ts.dir); n != 0 {
		t.Fatalf("%d chunk files left after a refused upload", n)
	}
	if _, err := ts.Create(ctxT(t), 2*ChunkSize+1, "big", ""); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("create: err = %v, want ErrTooLarge", err)
	}
}

func TestDefaultLimitIs100MiB(t *testing.T) {
	ts := newTestStore(t, Options{})
	if ts.MaxSize() != 100<<20 {
		t.Fatalf("MaxSize = %d", ts.MaxSize())
	}
	if _, err := ts.Create(ctxT(t), 100<<20+1, "big", ""); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

func TestIdenticalUploadsStoredOnce(t *testing.T) {
	ts := newTestStore(t, Options{})
	data := randomBytes(3, 2*ChunkSize+5)
	a, err := ts.Put(ctxT(t), bytes.NewReader(data), "one.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	before := chunkFiles(t, ts.dir)
	b, err := ts.Put(ctxT(t), bytes.NewReader(data), "two.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	if a.MediaID == b.MediaID || b.Name != "two.bin" || a.SHA256 != b.SHA256 {
		t.Fatalf("attachments %+v / %+v", a, b)
	}
	if after := chunkFiles(t, ts.dir); after != before || before != 3 {
		t.Fatalf("chunk files %d then %d, want 3 both times", before, after)
	}
	if !bytes.Equal(readAll(t, ts.Store, b.MediaID), data) {
		t.Fatal("second media reads differently")
	}
}

func TestTamperedChunkIsRefused(t *testing.T) {
	ts := newTestStore(t, Options{})
	data := randomBytes(4, ChunkSize+100)
	a, err := ts.Put(ctxT(t), bytes.NewReader(data), "f", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(ts.dir, "media", "chunks")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 1
		os.WriteFile(p, b, 0o600)
	}
	r, err := ts.Open(a.MediaID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of a tampered file: %v, want ErrCorrupt", err)
	}
}

func TestChunkBoundToFileIndexAndLastFlag(t *testing.T) {
	var id, other FileID
	other[0] = 1
	key := randomBytes(9, keySize)
	c, _ := newFileCipher(id, key)
	ct := c.seal(nil, []byte("chunk zero"), 0, false)
	if _, err := c.open(nil, ct, 0, false); err != nil {
		t.Fatalf("honest open: %v", err)
	}
	if _, err := c.open(nil, ct, 1, false); !errors.Is(err, ErrCorrupt) {
		t.Fatal("a chunk opened at another index")
	}
	if _, err := c.open(nil, ct, 0, true); !errors.Is(err, ErrCorrupt) {
		t.Fatal("a non-last chunk opened as the last (truncation undetected)")
	}
	c2, _ := newFileCipher(other, key)
	if _, err := c2.open(nil, ct, 0, false); !errors.Is(err, ErrCorrupt) {
		t.Fatal("a chunk opened under another file id")
	}
}

func TestNoPlaintextAtRest(t *testing.T) {
	ts := newTestStore(t, Options{})
	data := randomBytes(11, 3*ChunkSize)
	if _, err := ts.Put(ctxT(t), bytes.NewReader(data), "f", ""); err != nil {
		t.Fatal(err)
	}
	// Also an upload left with an unsealed tail.
	id, err := ts.Create(ctxT(t), int64(len(data)+10), "g", "")
	if err != nil {
		t.Fatal(err)
	}
	tail := randomBytes(12, ChunkSize/2)
	if _, err := ts.Write(ctxT(t), id, 0, bytes.NewReader(tail)); err != nil {
		t.Fatal(err)
	}
	ts.db.Close()
	assertNoPlaintext(t, ts.dir, data[4096:8192], data[2*ChunkSize+100:2*ChunkSize+4196], tail[1000:5096])
}

func TestGCRemovesUnreferencedAfterGrace(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	ts := newTestStore(t, Options{Grace: time.Hour, Now: clock})
	ctx := ctxT(t)
	kept, err := ts.Put(ctx, bytes.NewReader(randomBytes(1, ChunkSize+1)), "kept", "")
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := ts.Put(ctx, bytes.NewReader(randomBytes(2, 10)), "dropped", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return Ref(tx, kept.MediaID, "msg1") }); err != nil {
		t.Fatal(err)
	}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return Ref(tx, "nope", "msg1") }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ref of unknown media: %v", err)
	}
	// Within the grace period nothing goes.
	if st, err := ts.GC(ctx); err != nil || st.Media != 0 {
		t.Fatalf("gc within grace: %+v %v", st, err)
	}
	now = now.Add(2 * time.Hour)
	st, err := ts.GC(ctx)
	if err != nil || st.Media != 1 || st.Files != 1 {
		t.Fatalf("gc: %+v %v", st, err)
	}
	if _, err := ts.Info(dropped.MediaID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unreferenced media still there: %v", err)
	}
	if n := chunkFiles(t, ts.dir); n != 2 {
		t.Fatalf("%d chunk files, want the 2 of the referenced media", n)
	}
	if err := ts.db.Update(ctx, func(tx *store.Tx) error { return Unref(tx, kept.MediaID, "msg1") }); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Info(kept.MediaID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unreferenced media still there: %v", err)
	}
	if n := chunkFiles(t, ts.dir); n != 0 {
		t.Fatalf("%d chunk files left", n)
	}
}

func TestGCKeepsSharedFileUntilLastMediaGoes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ts := newTestStore(t, Options{Grace: time.Hour, Now: func() time.Time { return now }})
	ctx := ctxT(t)
	data := randomBytes(5, 100)
	a, _ := ts.Put(ctx, bytes.NewReader(data), "a", "")
	b, _ := ts.Put(ctx, bytes.NewReader(data), "b", "")
	ts.db.Update(ctx, func(tx *store.Tx) error { return Ref(tx, b.MediaID, "m") })
	now = now.Add(2 * time.Hour)
	if st, err := ts.GC(ctx); err != nil || st.Media != 1 || st.Files != 0 {
		t.Fatalf("gc: %+v %v", st, err)
	}
	if !bytes.Equal(readAll(t, ts.Store, b.MediaID), data) {
		t.Fatal("shared file lost with the other media")
	}
	_ = a
}

func TestGCSweepsOrphanChunks(t *testing.T) {
	now := time.Now()
	ts := newTestStore(t, Options{Grace: time.Hour, Now: func() time.Time { return now }})
	// A chunk written by a process killed before it recorded it.
	id, key := newFile()
	w, _ := ts.newFileWriter(id, key, 1<<30)
	w.Write(randomBytes(1, 100))
	w.finish()
	if chunkFiles(t, ts.dir) != 1 {
		t.Fatal("no orphan written")
	}
	if st, _ := ts.GC(ctxT(t)); st.Chunks != 0 {
		t.Fatal("a fresh chunk was swept")
	}
	now = now.Add(2 * time.Hour)
	if st, err := ts.GC(ctxT(t)); err != nil || st.Chunks != 1 || chunkFiles(t, ts.dir) != 0 {
		t.Fatalf("orphan not swept: %+v %v", st, err)
	}
}

func TestReaderServesHTTPRange(t *testing.T) {
	ts := newTestStore(t, Options{})
	data := randomBytes(13, 2*ChunkSize+500)
	a, err := ts.Put(ctxT(t), bytes.NewReader(data), "v.mp4", "video/mp4")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ts.Open(a.MediaID)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/v1/media/"+a.MediaID, nil)
	from := int64(ChunkSize - 100)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, from+299))
	rec := httptest.NewRecorder()
	http.ServeContent(rec, req, a.Name, time.Time{}, r)
	if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), data[from:from+300]) {
		t.Fatalf("status %d, %d bytes", rec.Code, rec.Body.Len())
	}
	if cr := rec.Header().Get("Content-Range"); cr != fmt.Sprintf("bytes %d-%d/%d", from, from+299, len(data)) {
		t.Fatalf("Content-Range %q", cr)
	}
}

// TestRunGCSweepsOnItsTickAndStopsWithItsContext: the node's supervisor runs RunGC; it
// removes an unreferenced media once its grace has passed, without anyone calling GC, and
// returns when its context ends.
func TestRunGCSweepsOnItsTickAndStopsWithItsContext(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ts := newTestStore(t, Options{Grace: time.Hour, Now: clock})
	dropped, err := ts.Put(ctxT(t), bytes.NewReader(randomBytes(3, ChunkSize+1)), "dropped", "")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() { done <- ts.RunGC(ctx, 10*time.Millisecond) }()
	wait.For(t, "the unreferenced media is swept by RunGC", func() error {
		if _, err := ts.Info(dropped.MediaID); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("RunGC returned %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("RunGC did not return after its context ended")
	}
}

package media

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/store"
)

func TestUploadResumesAcrossRestart(t *testing.T) {
	ts := newTestStore(t, Options{})
	ctx := ctxT(t)
	data := randomBytes(21, 3*ChunkSize+12345)
	id, err := ts.Create(ctx, int64(len(data)), "video.mp4", "video/mp4")
	if err != nil {
		t.Fatal(err)
	}
	// Three PATCHes of odd sizes, with a restart after each.
	cuts := []int{ChunkSize / 3, 2*ChunkSize + 7, len(data)}
	off := 0
	for _, c := range cuts {
		n, err := ts.Write(ctx, id, int64(off), bytes.NewReader(data[off:c]))
		if err != nil || n != int64(c) {
			t.Fatalf("write to %d: offset %d, %v", c, n, err)
		}
		ts = ts.reopen(t, Options{})
		up, err := ts.Offset(id)
		if err != nil || up.Offset != int64(c) || up.Length != int64(len(data)) {
			t.Fatalf("after restart: %+v %v, want offset %d", up, err, c)
		}
		off = c
	}
	a, err := ts.Complete(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if a.SHA256 != hexSum(data) || a.Name != "video.mp4" || a.MIME != "video/mp4" {
		t.Fatalf("attachment %+v", a)
	}
	if !bytes.Equal(readAll(t, ts.Store, a.MediaID), data) {
		t.Fatal("content differs")
	}
	again, err := ts.Complete(ctx, id)
	if err != nil || again.MediaID != a.MediaID {
		t.Fatalf("second Complete: %+v %v", again, err)
	}
	if up, _ := ts.Offset(id); up.MediaID != a.MediaID || up.Offset != up.Length {
		t.Fatalf("offset of a complete upload: %+v", up)
	}
}

func TestUploadRefusesWrongOffsetExtraBytesAndEarlyComplete(t *testing.T) {
	ts := newTestStore(t, Options{})
	ctx := ctxT(t)
	id, _ := ts.Create(ctx, 100, "f", "")
	if _, err := ts.Write(ctx, id, 5, bytes.NewReader(make([]byte, 10))); !errors.Is(err, ErrOffsetMismatch) {
		t.Fatalf("wrong offset: %v", err)
	}
	if _, err := ts.Complete(ctx, id); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("early complete: %v", err)
	}
	n, err := ts.Write(ctx, id, 0, bytes.NewReader(make([]byte, 150)))
	if !errors.Is(err, ErrBeyondLength) || n != 100 {
		t.Fatalf("extra bytes: offset %d, %v", n, err)
	}
	if _, err := ts.Write(ctx, "up-nope", 0, bytes.NewReader(nil)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown upload: %v", err)
	}
	if _, err := ts.Complete(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func TestUploadCancelRemovesChunks(t *testing.T) {
	ts := newTestStore(t, Options{})
	ctx := ctxT(t)
	id, _ := ts.Create(ctx, 3*ChunkSize, "f", "")
	ts.Write(ctx, id, 0, bytes.NewReader(randomBytes(1, 2*ChunkSize+1)))
	if chunkFiles(t, ts.dir) != 2 {
		t.Fatalf("want 2 sealed chunks")
	}
	if err := ts.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Offset(id); !errors.Is(err, ErrNotFound) || chunkFiles(t, ts.dir) != 0 {
		t.Fatalf("cancelled upload remains: %v, %d chunks", err, chunkFiles(t, ts.dir))
	}
}

// blockingReader hands out data, then announces how far it got and blocks forever.
type blockingReader struct {
	data []byte
	out  io.Writer
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if len(b.data) == 0 {
		fmt.Fprintln(b.out, "BLOCKED")
		select {}
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

const sigkillData = 5*ChunkSize/2 + 77 // what the child gets to upload before it is killed

// TestHelperProcess is the child of the SIGKILL tests (it does nothing unless
// MEDIA_HELPER is set).
func TestHelperProcess(t *testing.T) {
	switch os.Getenv("MEDIA_HELPER") {
	case "upload":
		helperUpload(t)
	case "download":
		helperDownload(t)
	}
}

func helperUpload(t *testing.T) {
	dir := os.Getenv("MEDIA_DIR")
	db, err := store.Open(filepath.Join(dir, "store"), []byte(testPass), store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(db, filepath.Join(dir, "media"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := os.Getenv("MEDIA_UPLOAD")
	data := randomBytes(31, 4*ChunkSize)
	m.Write(ctxT(t), id, 0, &blockingReader{data: data[:sigkillData], out: os.Stdout})
}

func TestUploadSurvivesSIGKILL(t *testing.T) {
	ts := newTestStore(t, Options{})
	ctx := ctxT(t)
	data := randomBytes(31, 4*ChunkSize)
	id, err := ts.Create(ctx, int64(len(data)), "big.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	ts.db.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), "MEDIA_HELPER=upload", "MEDIA_DIR="+ts.dir, "MEDIA_UPLOAD="+id)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "BLOCKED" {
		cmd.Process.Kill()
		t.Fatalf("child: %q %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	db, err := store.Open(filepath.Join(ts.dir, "store"), []byte(testPass), store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ts = openTestStore(t, ts.dir, db, Options{})
	up, err := ts.Offset(id)
	if err != nil {
		t.Fatal(err)
	}
	// The child was killed inside Write: what survives is the last durable chunk.
	if up.Offset != 2*ChunkSize {
		t.Fatalf("offset after SIGKILL = %d, want %d (two sealed chunks)", up.Offset, 2*ChunkSize)
	}
	if n, err := ts.Write(ctx, id, up.Offset, bytes.NewReader(data[up.Offset:])); err != nil || n != int64(len(data)) {
		t.Fatalf("resume: %d %v", n, err)
	}
	a, err := ts.Complete(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, ts.Store, a.MediaID), data) {
		t.Fatal("content after resume differs")
	}
}

// gateReader hands out data, closes started on its first read, and waits for release
// before ending.
type gateReader struct {
	data             []byte
	started, release chan struct{}
	once             bool
}

func (g *gateReader) Read(p []byte) (int, error) {
	if !g.once {
		g.once = true
		close(g.started)
	}
	if len(g.data) == 0 {
		<-g.release
		return 0, io.EOF
	}
	n := copy(p, g.data)
	g.data = g.data[n:]
	return n, nil
}

func TestConcurrentWritesToOneUploadAreRefused(t *testing.T) {
	ts := newTestStore(t, Options{})
	ctx := ctxT(t)
	id, _ := ts.Create(ctx, 200, "f", "")
	g := &gateReader{data: make([]byte, 100), started: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error)
	go func() {
		_, err := ts.Write(ctx, id, 0, g)
		done <- err
	}()
	<-g.started
	if _, err := ts.Write(ctx, id, 0, bytes.NewReader(make([]byte, 10))); !errors.Is(err, ErrBusy) {
		t.Fatalf("second writer: %v, want ErrBusy", err)
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if up, _ := ts.Offset(id); up.Offset != 100 {
		t.Fatalf("offset %d", up.Offset)
	}
}

func TestGCExpiresUploadSessions(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ts := newTestStore(t, Options{Grace: time.Hour, UploadTTL: 48 * time.Hour, Now: func() time.Time { return now }})
	ctx := ctxT(t)
	stale, _ := ts.Create(ctx, 3*ChunkSize, "stale", "")
	ts.Write(ctx, stale, 0, bytes.NewReader(randomBytes(1, ChunkSize+5)))
	done, _ := ts.Create(ctx, 10, "done", "")
	ts.Write(ctx, done, 0, bytes.NewReader(make([]byte, 10)))
	a, err := ts.Complete(ctx, done)
	if err != nil {
		t.Fatal(err)
	}
	ts.db.Update(ctx, func(tx *store.Tx) error { return Ref(tx, a.MediaID, "m") })
	now = now.Add(2 * time.Hour)
	if st, err := ts.GC(ctx); err != nil || st.Uploads != 1 {
		t.Fatalf("gc after grace: %+v %v (the completed session goes, the open one stays)", st, err)
	}
	if _, err := ts.Offset(done); !errors.Is(err, ErrNotFound) {
		t.Fatalf("completed session kept: %v", err)
	}
	if _, err := ts.Offset(stale); err != nil {
		t.Fatalf("open session removed before its TTL: %v", err)
	}
	now = now.Add(48 * time.Hour)
	if st, err := ts.GC(ctx); err != nil || st.Uploads != 1 || st.Chunks != 1 {
		t.Fatalf("gc after TTL: %+v %v", st, err)
	}
	if _, err := ts.Info(a.MediaID); err != nil {
		t.Fatalf("referenced media lost with its session: %v", err)
	}
	if n := chunkFiles(t, ts.dir); n != 1 {
		t.Fatalf("%d chunk files, want the referenced media's 1", n)
	}
}

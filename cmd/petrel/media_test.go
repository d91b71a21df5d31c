package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/media"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// TestTusUploadResumesAfterSIGKILL: a real petrel process is SIGKILLed in the middle of a
// tus PATCH. After the restart, HEAD answers an offset that covers every chunk the node had
// made durable (no byte past what was sent), the client sends the rest from there, and the
// file GETs back byte-identical. No byte of it is plaintext in the data directory.
func TestTusUploadResumesAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a real petrel process")
	}
	bin, err := exec.LookPath("petrel")
	if err != nil {
		t.Fatalf("petrel not on PATH (testscript.Main sets it up): %v", err)
	}
	p := newPetrelProc(t, bin, "uploader", t.TempDir())
	p.start()
	ctx := context.Background()

	pattern := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(13, 13))
	for i := range pattern {
		pattern[i] = byte(rng.Uint32())
	}
	data := bytes.Repeat(pattern, (5*media.ChunkSize+300_000)/4096)
	u, err := p.cl.CreateUpload(ctx, int64(len(data)), "killed.bin", "application/x-killed")
	if err != nil {
		t.Fatal(err)
	}
	// One PATCH for the whole file, whose body sends 3.5 chunks and then waits: the node
	// is killed while it reads.
	pr, pw := io.Pipe()
	sentUpTo := 3*media.ChunkSize + media.ChunkSize/2
	go func() {
		pw.Write(data[:sentUpTo])
		// Then nothing: the PATCH ends with the process.
	}()
	patchErr := make(chan error, 1)
	go func() {
		_, _, err := u.Patch(ctx, 0, pr, int64(len(data)))
		patchErr <- err
	}()
	wait.For(t, "the node has made three chunks durable", func() error {
		off, _, err := u.Offset(ctx)
		if err != nil {
			return err
		}
		if off < 3*int64(media.ChunkSize) {
			return fmt.Errorf("offset %d", off)
		}
		return nil
	})
	p.kill()
	err = <-patchErr
	var apiErr *localclient.APIError
	if err == nil || errors.As(err, &apiErr) {
		t.Fatalf("the PATCH cut by SIGKILL ended with %v, want a connection error", err)
	}
	pw.CloseWithError(errors.New("node killed"))

	p.start()
	u2 := p.cl.ResumeUpload(u.Location, int64(len(data)))
	off, id, err := u2.Offset(ctx)
	if err != nil || id != "" {
		t.Fatalf("HEAD after the restart: %d %q %v", off, id, err)
	}
	if off < 3*int64(media.ChunkSize) || off > int64(sentUpTo) {
		t.Fatalf("offset after SIGKILL %d: want every durable chunk (≥ %d) and nothing unsent (≤ %d)", off, 3*media.ChunkSize, sentUpTo)
	}
	t.Logf("SIGKILL after %d bytes sent: the node resumes at %d (%d chunks)", sentUpTo, off, off/int64(media.ChunkSize))
	id, err = u2.Upload(ctx, bytes.NewReader(data), 2<<20)
	if err != nil || id == "" {
		t.Fatalf("resuming the upload: %q %v", id, err)
	}
	a, err := p.cl.MediaInfo(ctx, id)
	sum := sha256.Sum256(data)
	if err != nil || a.Size != int64(len(data)) || a.SHA256 != hex.EncodeToString(sum[:]) || a.State != "available" {
		t.Fatalf("media after the resumed upload: %+v %v", a, err)
	}
	resp, err := p.cl.GetMedia(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GET after the resumed upload: %d bytes of %d, identical %v, %v", len(got), len(data), bytes.Equal(got, data), err)
	}
	p.stop()
	nodetest.NoPlaintext(t, p.dir, string(pattern))
}

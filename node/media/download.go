package media

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/petrel-chat/petrel/node/media/filemeta"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// BlobSource serves chunk ciphertexts from somewhere other than the sender: the relay blob
// store where the sender left them. Blobs are named by the SHA-256 of the chunk
// ciphertext; a relay may pad a blob to a size bucket, so the receiver asks for the n
// bytes at off it needs. Whatever it returns is checked against the hash. An error
// wrapping ErrNotFound means the relay answered that it has no such blob; any other error
// counts as the relay being unreachable.
type BlobSource interface {
	Get(ctx context.Context, id Hash, off, n int64) ([]byte, error)
}

// Sources are where a download may fetch chunks: the peers on Host (the sender, other
// holders) over the media protocol, then Blobs (nil: none).
type Sources struct {
	Host  host.Host
	Peers []peer.ID
	Blobs BlobSource
}

// Download fetches the chunks of a received media id (and first its thumbnail) that are
// not yet here, Options.Parallel at a time. Chunks already stored are skipped, so a
// download cut by a restart or a lost peer resumes where it stopped. Each chunk is checked
// against its hash and authenticated before it is stored; a chunk no source delivers
// intact makes the file failed (ErrFetchFailed with the reason); when no source could
// even be reached, the file stays downloading and the error is ErrUnreachable. The
// plaintext SHA-256 is verified before the file becomes available. progress, if set, is called after each
// stored chunk (from one goroutine at a time). A cancelled ctx leaves the file
// downloading, to resume later. A second Download of a media id while one runs is ErrBusy.
func (m *Store) Download(ctx context.Context, id string, src Sources, progress func(Attachment)) (Attachment, error) {
	if err := m.lockUpload("download/" + id); err != nil {
		return Attachment{}, err
	}
	defer m.unlockUpload("download/" + id)
	var md *mediaRecord
	var f *fileRecord
	var fid FileID
	err := m.db.View(func(tx *store.Tx) error {
		var err error
		if md, err = m.getMedia(tx, id); err != nil {
			return err
		}
		if fid, err = parseFileID(md.File); err != nil {
			return err
		}
		f, err = m.getFile(tx, fid)
		return err
	})
	if err != nil {
		return Attachment{}, err
	}
	if md.Thumb != "" {
		if _, err := m.Download(ctx, md.Thumb, src, nil); err != nil && ctx.Err() != nil {
			return Attachment{}, err
		}
	}
	if f.State == stateAvailable {
		return m.Info(id)
	}
	if f.State == stateFailed {
		if err := m.setState(ctx, fid, stateDownloading, ""); err != nil {
			return Attachment{}, err
		}
	}
	if err := m.fetchChunks(ctx, id, fid, f, src, progress); err != nil {
		if ctx.Err() != nil {
			return Attachment{}, ctx.Err()
		}
		if errors.Is(err, ErrUnreachable) {
			return Attachment{}, err // stays downloading
		}
		if serr := m.setState(context.WithoutCancel(ctx), fid, stateFailed, err.Error()); serr != nil {
			return Attachment{}, serr
		}
		return Attachment{}, fmt.Errorf("%w: %v", ErrFetchFailed, err)
	}
	if err := m.verifyFile(ctx, id, fid, f, md); err != nil {
		if ctx.Err() != nil {
			return Attachment{}, ctx.Err()
		}
		if serr := m.setState(context.WithoutCancel(ctx), fid, stateFailed, err.Error()); serr != nil {
			return Attachment{}, serr
		}
		return Attachment{}, fmt.Errorf("%w: %v", ErrFetchFailed, err)
	}
	a, err := m.Info(id)
	if err == nil && progress != nil {
		progress(a)
	}
	return a, err
}

func (m *Store) setState(ctx context.Context, fid FileID, state, reason string) error {
	return m.db.Update(ctx, func(tx *store.Tx) error {
		f, err := m.getFile(tx, fid)
		if err != nil {
			return err
		}
		f.State, f.Reason = state, reason
		return m.putFile(tx, fid, f)
	})
}

// verifyFile checks the plaintext SHA-256 over the stored chunks (and, for a claimed
// image, its type), then marks the file available. On a mismatch the chunks are removed.
func (m *Store) verifyFile(ctx context.Context, id string, fid FileID, f *fileRecord, md *mediaRecord) error {
	f.State = stateAvailable
	r, err := m.newReader(fid, f)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("reading back: %w", err)
	}
	if string(h.Sum(nil)) != string(f.SHA256) {
		for i := range f.Count() {
			m.blobs.Remove(f.Hash(i))
		}
		return errors.New("the file does not match its sha256")
	}
	mime := md.MIME
	if filemeta.Sniffable(mime) {
		head := make([]byte, 512)
		n, _ := r.ReadAt(head, 0)
		if filemeta.Sniff(head[:n]) != mime {
			mime = "application/octet-stream" // a UI renders inline only what the bytes are
		}
	}
	if err := m.blobs.SyncDir(); err != nil {
		return err
	}
	return m.db.Update(ctx, func(tx *store.Tx) error {
		cur, err := m.getFile(tx, fid)
		if err != nil {
			return err
		}
		cur.State, cur.Reason = stateAvailable, ""
		if err := m.putFile(tx, fid, cur); err != nil {
			return err
		}
		if mime != md.MIME {
			cm, err := m.getMedia(tx, id)
			if err != nil {
				return err
			}
			cm.MIME = mime
			return m.putMedia(tx, id, cm)
		}
		return nil
	})
}

// fetchChunks fetches every missing chunk with Parallel workers.
func (m *Store) fetchChunks(ctx context.Context, id string, fid FileID, f *fileRecord, src Sources, progress func(Attachment)) error {
	c, err := newFileCipher(fid, f.Key)
	if err != nil {
		return err
	}
	n := f.Count()
	var received int64
	var missing []int
	var buf []byte
	for i := range n {
		ct, err := m.blobs.Get(f.Hash(i), buf)
		if err == nil {
			buf = ct
			received += int64(chunkPlainLen(f.Size, i))
			continue
		}
		missing = append(missing, i)
	}
	if len(missing) == 0 {
		return nil
	}
	if len(src.Peers) == 0 && src.Blobs == nil {
		return fmt.Errorf("%w: no source to fetch from", ErrUnreachable)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	todo := make(chan int)
	var (
		mu      sync.Mutex
		failure error
		wg      sync.WaitGroup
	)
	workers := min(m.opts.Parallel, len(missing))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fw := &fetchWorker{m: m, c: c, f: f, src: src, streams: map[peer.ID]*chunkStream{}}
			defer fw.close()
			for i := range todo {
				err := fw.fetch(ctx, i)
				mu.Lock()
				if err != nil {
					if failure == nil {
						failure = err
					}
					mu.Unlock()
					cancel()
					continue
				}
				received += int64(chunkPlainLen(f.Size, i))
				if progress != nil {
					a, ierr := m.Info(id)
					if ierr == nil {
						a.Received = received
						progress(a)
					}
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, i := range missing {
		select {
		case todo <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(todo)
	wg.Wait()
	if failure != nil {
		return failure
	}
	return ctx.Err()
}

// fetchWorker fetches chunks one at a time, keeping a stream per peer.
type fetchWorker struct {
	m       *Store
	c       *fileCipher
	f       *fileRecord
	src     Sources
	streams map[peer.ID]*chunkStream
	buf     []byte
	plain   []byte
}

func (w *fetchWorker) close() {
	for _, s := range w.streams {
		s.s.Close()
	}
}

// fetch tries every source for chunk i, peers first (chunk i starting at peer i mod the
// number of peers, so the chunks spread over the peers however the workers take them),
// then the blob source, until one delivers bytes that match the hash and open.
func (w *fetchWorker) fetch(ctx context.Context, i int) error {
	want := w.f.Hash(i)
	size := chunkPlainLen(w.f.Size, i) + chunkOverhead
	last := i == w.f.Count()-1
	var reasons []string
	definitive := false // a source answered, and the answer was no or wrong
	try := func(name string, ct []byte, err error) bool {
		var refused refusal
		if errors.As(err, &refused) || errors.Is(err, ErrNotFound) {
			definitive = true
		}
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("%s: %v", name, err))
			return false
		}
		definitive = true
		if len(ct) != size || sha256.Sum256(ct) != want {
			reasons = append(reasons, fmt.Sprintf("%s: wrong bytes", name))
			return false
		}
		pt, err := w.c.open(w.plain[:0], ct, i, last)
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("%s: %v", name, err))
			return false
		}
		w.plain = pt
		if err := w.m.blobs.Put(want, ct); err != nil {
			reasons = append(reasons, fmt.Sprintf("storing: %v", err))
			return false
		}
		return true
	}
	np := len(w.src.Peers)
	for k := range np {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p := w.src.Peers[(i+k)%np]
		ct, err := w.fromPeer(ctx, p, i)
		if try("peer "+p.ShortString(), ct, err) {
			return nil
		}
	}
	if w.src.Blobs != nil && ctx.Err() == nil {
		ct, err := w.src.Blobs.Get(ctx, want, 0, int64(size))
		if try("relay", ct, err) {
			return nil
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !definitive {
		return fmt.Errorf("%w: chunk %d (%s)", ErrUnreachable, i, strings.Join(reasons, "; "))
	}
	return fmt.Errorf("chunk %d: no source delivered it (%s)", i, strings.Join(reasons, "; "))
}

// refusal is a source's answer that it will not or cannot serve a chunk (as opposed to a
// source that could not be reached).
type refusal struct{ status wire.ChunkStatus }

func (r refusal) Error() string { return r.status.String() }

// chunkStream is an open media stream to one peer.
type chunkStream struct {
	s  network.Stream
	br *bufio.Reader
	bw *bufio.Writer
}

func (w *fetchWorker) fromPeer(ctx context.Context, p peer.ID, i int) ([]byte, error) {
	if w.src.Host == nil {
		return nil, errors.New("no host")
	}
	cs := w.streams[p]
	if cs == nil {
		sctx, cancel := context.WithTimeout(ctx, requestTimeout)
		s, err := w.src.Host.NewStream(sctx, p, protocol.ID(wire.MediaProtocol))
		cancel()
		if err != nil {
			return nil, fmt.Errorf("open stream: %w", err)
		}
		cs = &chunkStream{s: s, br: bufio.NewReaderSize(s, 64<<10), bw: bufio.NewWriterSize(s, 64)}
		w.streams[p] = cs
	}
	drop := func(err error) ([]byte, error) {
		cs.s.Reset()
		delete(w.streams, p)
		return nil, err
	}
	deadline := time.Now().Add(requestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	cs.s.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { cs.s.SetDeadline(time.Now()) })
	defer stop()
	req := wire.AppendChunkRequest(nil, wire.ChunkRequest{File: w.c.id, Index: uint64(i)})
	if err := wire.WriteMediaFrame(cs.bw, req); err != nil {
		return drop(err)
	}
	if err := cs.bw.Flush(); err != nil {
		return drop(err)
	}
	if w.buf == nil {
		w.buf = make([]byte, 0, wire.MaxMediaFrame)
	}
	body, err := wire.ReadMediaFrame(cs.br, w.buf)
	if err != nil {
		return drop(err)
	}
	resp, err := wire.ParseChunkResponse(body)
	if err != nil {
		return drop(err)
	}
	if resp.Status != wire.ChunkOK {
		return nil, refusal{resp.Status}
	}
	return resp.Chunk, nil
}

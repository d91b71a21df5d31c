package media

import (
	"crypto/sha256"
	"encoding"
	"fmt"
	"hash"
)

// fileWriter seals a stream into chunks as it arrives, holding at most one chunk of
// plaintext and one of ciphertext. A full chunk is sealed only once the next byte arrives
// (or finish is called), so the last chunk can be flagged without knowing the length.
type fileWriter struct {
	m       *Store
	id      FileID
	key     []byte
	c       *fileCipher
	limit   int64
	buf     []byte // unsealed plaintext, ≤ ChunkSize
	sealed  []byte
	hashes  []Hash
	nsealed int64     // plaintext bytes in sealed chunks
	sum     hash.Hash // SHA-256 over the sealed chunks' plaintext
	done    bool
	// failed is the error of a chunk that could not be stored or recorded: the writer's
	// state is then ahead of what is durable.
	failed error
	// onChunk, when set, runs after each non-last chunk is durable (upload sessions
	// record their progress there).
	onChunk func() error
}

func (m *Store) newFileWriter(id FileID, key []byte, limit int64) (*fileWriter, error) {
	c, err := newFileCipher(id, key)
	if err != nil {
		return nil, err
	}
	return &fileWriter{m: m, id: id, key: key, c: c, limit: limit,
		buf: make([]byte, 0, ChunkSize), sum: sha256.New()}, nil
}

// size is the plaintext bytes written so far.
func (w *fileWriter) size() int64 { return w.nsealed + int64(len(w.buf)) }

// Write implements io.Writer. Past the limit it fails with ErrTooLarge.
func (w *fileWriter) Write(p []byte) (int, error) {
	if w.size()+int64(len(p)) > w.limit {
		return 0, fmt.Errorf("%w: over %d bytes", ErrTooLarge, w.limit)
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == ChunkSize {
			if err := w.flush(false); err != nil {
				return n, err
			}
		}
		k := copy(w.buf[len(w.buf):ChunkSize], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

// flush seals the buffered chunk and stores it durably.
func (w *fileWriter) flush(last bool) error {
	i := len(w.hashes)
	w.sealed = w.c.seal(w.sealed[:0], w.buf, i, last)
	h := Hash(sha256.Sum256(w.sealed))
	if err := w.m.blobs.Put(h, w.sealed); err != nil {
		w.failed = err
		return err
	}
	w.sum.Write(w.buf)
	w.hashes = append(w.hashes, h)
	w.nsealed += int64(len(w.buf))
	w.buf = w.buf[:0]
	if !last && w.onChunk != nil {
		if err := w.onChunk(); err != nil {
			w.failed = err
			return err
		}
	}
	return nil
}

// finish seals the last chunk.
func (w *fileWriter) finish() error {
	if w.done {
		return nil
	}
	if err := w.flush(true); err != nil {
		return err
	}
	w.done = true
	return nil
}

// abort removes the chunks written so far.
func (w *fileWriter) abort() {
	for _, h := range w.hashes {
		if err := w.m.blobs.Remove(h); err != nil {
			w.m.log.Warn("removing an aborted chunk", "err", err)
		}
	}
	w.hashes = nil
}

// chunks is the hashes, concatenated.
func (w *fileWriter) chunks() []byte {
	out := make([]byte, 0, 32*len(w.hashes))
	for _, h := range w.hashes {
		out = append(out, h[:]...)
	}
	return out
}

// sumState is the marshalled SHA-256 state over the sealed chunks.
func (w *fileWriter) sumState() ([]byte, error) {
	b, err := w.sum.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("media: hash state: %w", err)
	}
	return b, nil
}

// record is the file record of a finished writer.
func (w *fileWriter) record() *fileRecord {
	return &fileRecord{V: recordVersion, Key: w.key, Size: w.nsealed, SHA256: w.sum.Sum(nil),
		Chunks: w.chunks(), State: stateAvailable, Local: true}
}

// reader reads back what a finished writer stored.
func (w *fileWriter) reader() (*Reader, error) { return w.m.newReader(w.id, w.record()) }

package blobdir

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Errors of Get, to branch on with errors.Is. Their text is node/media's, where a failed
// download's reason shows it.
var (
	// ErrCorrupt: a blob over the size bound or whose bytes do not match its hash.
	ErrCorrupt = errors.New("media: corrupt chunk")
	// ErrMissing: no blob of that hash.
	ErrMissing = errors.New("media: chunk not stored")
)

// Dir holds chunk ciphertexts, one file each, named by the hex SHA-256 of its bytes.
// Nothing in it is plaintext; its names reveal only ciphertext hashes.
type Dir struct {
	dir string
	max int64
}

// Open opens (making it, 0700, when missing) the blob directory dir, whose blobs are at
// most maxSize bytes.
func Open(dir string, maxSize int64) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("media: blob directory: %w", err)
	}
	return &Dir{dir: dir, max: maxSize}, nil
}

func (b *Dir) path(h [32]byte) string { return filepath.Join(b.dir, hex.EncodeToString(h[:])) }

// Put stores a ciphertext: a temporary file, fsync, rename. The rename is durable at the
// next SyncDir, which callers run before a record names the chunk (one directory fsync
// per file instead of per chunk: BENCHMARKS.md, "Media"). An existing blob of the same
// hash is left as is.
func (b *Dir) Put(h [32]byte, data []byte) error {
	p := b.path(h)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	f, err := os.CreateTemp(b.dir, "tmp-*")
	if err != nil {
		return fmt.Errorf("media: write chunk: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("media: write chunk: %w", err)
	}
	return nil
}

// SyncDir makes the renames of every Put so far durable (one directory fsync).
func (b *Dir) SyncDir() error {
	d, err := os.Open(b.dir)
	if err != nil {
		return fmt.Errorf("media: sync blob directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("media: sync blob directory: %w", err)
	}
	return nil
}

// Get reads a ciphertext into buf (reused when large enough) and checks its hash: a blob
// edited on disk is ErrCorrupt, a missing one ErrMissing.
func (b *Dir) Get(h [32]byte, buf []byte) ([]byte, error) {
	f, err := os.Open(b.path(h))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrMissing
	}
	if err != nil {
		return nil, fmt.Errorf("media: read chunk: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("media: read chunk: %w", err)
	}
	if st.Size() > b.max {
		return nil, fmt.Errorf("%w: chunk file of %d bytes", ErrCorrupt, st.Size())
	}
	n := int(st.Size())
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("media: read chunk: %w", err)
	}
	if sha256.Sum256(buf) != h {
		return nil, fmt.Errorf("%w: chunk %x does not match its hash", ErrCorrupt, h)
	}
	return buf, nil
}

// Has reports whether a blob of hash h is present with the right size.
func (b *Dir) Has(h [32]byte, size int) bool {
	st, err := os.Stat(b.path(h))
	return err == nil && st.Size() == int64(size)
}

// Remove deletes the blob of hash h (nothing when there is none).
func (b *Dir) Remove(h [32]byte) error {
	err := os.Remove(b.path(h))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("media: remove chunk: %w", err)
	}
	return nil
}

// List calls fn for every blob's hash (temporary files are skipped).
func (b *Dir) List(fn func(h [32]byte, path string)) error {
	ents, err := os.ReadDir(b.dir)
	if err != nil {
		return fmt.Errorf("media: list chunks: %w", err)
	}
	for _, e := range ents {
		var h [32]byte
		if n, err := hex.Decode(h[:], []byte(e.Name())); err != nil || n != len(h) || len(e.Name()) != 2*len(h) {
			continue
		}
		fn(h, filepath.Join(b.dir, e.Name()))
	}
	return nil
}

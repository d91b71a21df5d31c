package store

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Specification constants of the key file (doc.go, "Key file").
const (
	headerMagic    = "PTRLSTOR"
	headerVersion  = 1
	kdfArgon2id    = 1
	saltSize       = 32
	dataKeySize    = 32
	wrapNonceSize  = chacha20poly1305.NonceSizeX                                     // 24
	wrappedKeySize = dataKeySize + chacha20poly1305.Overhead                         // 48
	headerADSize   = len(headerMagic) + 1 + 1 + 4 + 4 + 1 + saltSize + wrapNonceSize // 75
	headerSize     = headerADSize + wrappedKeySize                                   // 123
	kekSize        = chacha20poly1305.KeySize
	keyFileName    = "keyfile"
	dbDirName      = "db"
	keyFileTmpGlob = ".keyfile-*.tmp"
	keyFilePerm    = 0o600
	storeDirPerm   = 0o700
)

// header is the parsed key file. Its first headerADSize bytes are the associated data of
// the key wrap.
type header struct {
	params  KDFParams
	salt    [saltSize]byte
	nonce   [wrapNonceSize]byte
	wrapped [wrappedKeySize]byte
}

// parseHeader parses a key file. It fails with ErrCorruptHeader on a malformed file and
// with ErrWeakParams when the recorded parameters are below the floor; it does no
// key derivation, so garbage costs nothing.
func parseHeader(b []byte) (*header, error) {
	if len(b) != headerSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrCorruptHeader, len(b), headerSize)
	}
	if string(b[:len(headerMagic)]) != headerMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrCorruptHeader)
	}
	p := b[len(headerMagic):]
	if p[0] != headerVersion {
		return nil, fmt.Errorf("%w: unknown version %d", ErrCorruptHeader, p[0])
	}
	if p[1] != kdfArgon2id {
		return nil, fmt.Errorf("%w: unknown KDF id %d", ErrCorruptHeader, p[1])
	}
	h := &header{params: KDFParams{
		Time:      binary.BigEndian.Uint32(p[2:6]),
		MemoryKiB: binary.BigEndian.Uint32(p[6:10]),
		Threads:   p[10],
	}}
	if err := h.params.check(); err != nil {
		return nil, err
	}
	p = p[11:]
	p = p[copy(h.salt[:], p):]
	p = p[copy(h.nonce[:], p):]
	copy(h.wrapped[:], p)
	return h, nil
}

// marshal returns the key-file bytes; the first headerADSize bytes are the wrap's AD.
func (h *header) marshal() []byte {
	b := make([]byte, 0, headerSize)
	b = append(b, headerMagic...)
	b = append(b, headerVersion, kdfArgon2id)
	b = binary.BigEndian.AppendUint32(b, h.params.Time)
	b = binary.BigEndian.AppendUint32(b, h.params.MemoryKiB)
	b = append(b, h.params.Threads)
	b = append(b, h.salt[:]...)
	b = append(b, h.nonce[:]...)
	b = append(b, h.wrapped[:]...)
	return b
}

// deriveKEK is Argon2id(passphrase, salt, t, m, p) → 32-byte key-encryption key.
func deriveKEK(passphrase []byte, salt []byte, p KDFParams) []byte {
	return argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, kekSize)
}

// newHeader wraps dataKey under a key derived from passphrase with a fresh salt and nonce.
func newHeader(passphrase, dataKey []byte, p KDFParams) (*header, error) {
	h := &header{params: p}
	if _, err := rand.Read(h.salt[:]); err != nil {
		return nil, fmt.Errorf("store: salt: %w", err)
	}
	if _, err := rand.Read(h.nonce[:]); err != nil {
		return nil, fmt.Errorf("store: nonce: %w", err)
	}
	kek := deriveKEK(passphrase, h.salt[:], p)
	defer clear(kek)
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, fmt.Errorf("store: key wrap: %w", err)
	}
	ad := h.marshal()[:headerADSize]
	aead.Seal(h.wrapped[:0], h.nonce[:], dataKey, ad)
	return h, nil
}

// unwrap derives the key-encryption key and opens the data key; any failure of the AEAD
// (wrong passphrase, edited header) is ErrWrongPassphrase.
func (h *header) unwrap(passphrase []byte) ([]byte, error) {
	kek := deriveKEK(passphrase, h.salt[:], h.params)
	defer clear(kek)
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, fmt.Errorf("store: key wrap: %w", err)
	}
	ad := h.marshal()[:headerADSize]
	dk, err := aead.Open(nil, h.nonce[:], h.wrapped[:], ad)
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	return dk, nil
}

// readHeader reads and parses DIR/keyfile. A missing file is ErrNotInitialized.
func readHeader(dir string) (*header, error) {
	b, err := os.ReadFile(filepath.Join(dir, keyFileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotInitialized, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read key file: %w", err)
	}
	return parseHeader(b)
}

// writeHeader writes DIR/keyfile atomically: temp file, fsync, then link (exclusive: fails
// with ErrExists if a key file is there) or rename (replace), then fsync of the directory.
func writeHeader(dir string, h *header, exclusive bool) error {
	return writeAtomic(dir, keyFileName, keyFileTmpGlob, h.marshal(), exclusive)
}

// writeAtomic writes DIR/name (0600) atomically, as writeHeader describes; what says which
// file in errors.
func writeAtomic(dir, name, tmpGlob string, data []byte, exclusive bool) (err error) {
	f, err := os.CreateTemp(dir, tmpGlob)
	if err != nil {
		return fmt.Errorf("store: write %s: %w", name, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(keyFilePerm); err != nil {
		f.Close()
		return fmt.Errorf("store: write %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("store: write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("store: write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: write %s: %w", name, err)
	}
	final := filepath.Join(dir, name)
	if exclusive {
		// link(2) refuses an existing target, so two racing Creates cannot both win.
		if err := os.Link(tmp, final); err != nil {
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("%w: %s", ErrExists, dir)
			}
			return fmt.Errorf("store: write %s: %w", name, err)
		}
		os.Remove(tmp)
	} else if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("store: write %s: %w", name, err)
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so a rename or link in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: sync dir: %w", err)
	}
	return nil
}

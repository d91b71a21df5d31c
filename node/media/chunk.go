package media

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// Specification constants of the at-rest and on-wire chunk format (doc.go, "Chunks").
const (
	// SealedChunkSize is the ciphertext size of every chunk but the last: exactly 1 MiB, a
	// relay size bucket.
	SealedChunkSize = 1 << 20
	// ChunkSize is the plaintext size of every chunk but the last.
	ChunkSize = SealedChunkSize - chunkOverhead

	keySize       = 32 // AES-256
	nonceSize     = 12 // GCM standard nonce, random per seal
	tagSize       = 16
	chunkOverhead = nonceSize + tagSize
	// FileIDSize is the size of a file id.
	FileIDSize = 16

	chunkADLabel = "petrel_v1_media_chunk\x00"
)

// FileID names one encrypted file: the unit the media protocol serves and a Manifest
// describes. Ids are random.
type FileID [FileIDSize]byte

func (f FileID) String() string { return hex.EncodeToString(f[:]) }

// MarshalText is the id in hex.
func (f FileID) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText parses a hex file id.
func (f *FileID) UnmarshalText(b []byte) error { return unhex(f[:], b) }

// Hash is the SHA-256 of a chunk's ciphertext: its content address.
type Hash [32]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText is the hash in hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText parses a hex hash.
func (h *Hash) UnmarshalText(b []byte) error { return unhex(h[:], b) }

func unhex(dst, b []byte) error {
	if len(b) != 2*len(dst) {
		return fmt.Errorf("%w: %d hex digits, want %d", ErrBadManifest, len(b), 2*len(dst))
	}
	if _, err := hex.Decode(dst, b); err != nil {
		return fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	return nil
}

// chunkCount is the number of chunks of a file of size bytes (an empty file has one, empty).
func chunkCount(size int64) int {
	if size <= 0 {
		return 1
	}
	return int((size + ChunkSize - 1) / ChunkSize)
}

// chunkPlainLen is the plaintext length of chunk i of a file of size bytes.
func chunkPlainLen(size int64, i int) int {
	n := chunkCount(size)
	if i < n-1 {
		return ChunkSize
	}
	return int(size - int64(n-1)*ChunkSize)
}

// fileCipher seals and opens one file's chunks under its key.
type fileCipher struct {
	id   FileID
	aead cipher.AEAD
}

func newFileCipher(id FileID, key []byte) (*fileCipher, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("%w: key of %d bytes", ErrBadManifest, len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("media: chunk key: %w", err)
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("media: chunk key: %w", err)
	}
	return &fileCipher{id: id, aead: aead}, nil
}

// chunkAD is label ‖ file id ‖ index (8, big-endian) ‖ last (1).
func (c *fileCipher) chunkAD(index int, last bool) []byte {
	ad := make([]byte, 0, len(chunkADLabel)+FileIDSize+9)
	ad = append(ad, chunkADLabel...)
	ad = append(ad, c.id[:]...)
	ad = binary.BigEndian.AppendUint64(ad, uint64(index))
	if last {
		return append(ad, 1)
	}
	return append(ad, 0)
}

// seal appends nonce ‖ AES-256-GCM(key, nonce, plain, AD) to dst. The nonce is random, not
// the chunk counter: a resumed upload may seal the same index twice with different bytes
// (a client resending otherwise), which a counter nonce would turn into nonce reuse. A file
// has at most a few hundred seals, far below the random-nonce bound of GCM.
func (c *fileCipher) seal(dst, plain []byte, index int, last bool) []byte {
	off := len(dst)
	dst = append(dst, make([]byte, nonceSize)...)
	rand.Read(dst[off:])
	return c.aead.Seal(dst, dst[off:off+nonceSize], plain, c.chunkAD(index, last))
}

// open authenticates and decrypts a chunk ciphertext into dst.
func (c *fileCipher) open(dst, sealed []byte, index int, last bool) ([]byte, error) {
	if len(sealed) < chunkOverhead {
		return nil, fmt.Errorf("%w: chunk %d too short", ErrCorrupt, index)
	}
	pt, err := c.aead.Open(dst, sealed[:nonceSize], sealed[nonceSize:], c.chunkAD(index, last))
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %d failed authentication", ErrCorrupt, index)
	}
	return pt, nil
}

package shredkeys

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/crypto/chacha20poly1305"
)

// Specification constants of the key file (doc.go, "Key file").
const (
	fileMagic   = "PTRLSHRD"
	fileVersion = 1
	headerSize  = len(fileMagic) + 1 // 9

	slotVersion   = 1
	bucketIDSize  = 1 + 8 // kind ‖ window start (Unix ms)
	keySize       = chacha20poly1305.KeySize
	slotPlainSize = 1 + bucketIDSize + keySize                                              // 42
	slotSize      = chacha20poly1305.NonceSizeX + slotPlainSize + chacha20poly1305.Overhead // 82

	infoSlotKey = "petrel_v1_subkey_shredkeys_slot"
	slotADLabel = "petrel_v1_shredkeys_slot"

	// maxSlots bounds the slots read from a file (a crafted huge file costs no more than
	// this many trial decryptions): 16 Mi buckets, far above any real keyring.
	maxSlots = 1 << 24
)

// Implementation constants.
const (
	keyFileName = "shredkeys"
	keyFilePerm = 0o600
)

// slotEntry is a slot that authenticated: the key of one bucket.
type slotEntry struct {
	bucket Bucket
	key    [keySize]byte
}

// parsedFile is what a key file holds: its live slots by index, and how many slots its
// length covers (a trailing partial slot counts as one, unreadable).
type parsedFile struct {
	live  map[uint32]slotEntry
	slots uint32 // slots the length covers, a trailing partial one included
	full  uint32 // complete slots
}

// slotAD is label ‖ slot index (4): a slot's sealed key opens only at its own position.
func slotAD(index uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte(slotADLabel), index)
}

// parseKeyFile checks the header and opens every slot with aead. A slot that does not
// authenticate is free (random bytes: never written, or destroyed) or damaged; which of
// the two only the store's bucket records can tell. A malformed header is ErrCorruptFile.
// It never panics on any input.
func parseKeyFile(b []byte, aead cipher.AEAD) (parsedFile, error) {
	if len(b) < headerSize {
		return parsedFile{}, fmt.Errorf("%w: %d bytes, shorter than its header", ErrCorruptFile, len(b))
	}
	if string(b[:len(fileMagic)]) != fileMagic {
		return parsedFile{}, fmt.Errorf("%w: bad magic", ErrCorruptFile)
	}
	if b[len(fileMagic)] != fileVersion {
		return parsedFile{}, fmt.Errorf("%w: unknown version %d", ErrCorruptFile, b[len(fileMagic)])
	}
	body := b[headerSize:]
	n := (len(body) + slotSize - 1) / slotSize
	if n > maxSlots {
		return parsedFile{}, fmt.Errorf("%w: %d slots, at most %d", ErrCorruptFile, n, maxSlots)
	}
	p := parsedFile{live: map[uint32]slotEntry{}, slots: uint32(n), full: uint32(len(body) / slotSize)}
	for i := 0; i+slotSize <= len(body); i += slotSize {
		idx := uint32(i / slotSize)
		if e, ok := openSlot(aead, idx, body[i:i+slotSize]); ok {
			p.live[idx] = e
		}
	}
	return p, nil
}

// openSlot authenticates one slot: nonce (24) ‖ XChaCha20-Poly1305(slot key, nonce,
// version ‖ bucket id (9) ‖ key (32), AD = slotAD(index)).
func openSlot(aead cipher.AEAD, index uint32, slot []byte) (slotEntry, bool) {
	ns := aead.NonceSize()
	pt, err := aead.Open(nil, slot[:ns], slot[ns:], slotAD(index))
	if err != nil || len(pt) != slotPlainSize || pt[0] != slotVersion {
		clear(pt)
		return slotEntry{}, false
	}
	defer clear(pt)
	b, err := parseBucketID(pt[1 : 1+bucketIDSize])
	if err != nil {
		return slotEntry{}, false
	}
	e := slotEntry{bucket: b}
	copy(e.key[:], pt[1+bucketIDSize:])
	return e, true
}

// sealSlot returns the slotSize bytes of slot index holding key for b.
func sealSlot(aead cipher.AEAD, index uint32, b Bucket, key *[keySize]byte, nonce []byte) []byte {
	pt := make([]byte, 0, slotPlainSize)
	pt = append(pt, slotVersion)
	pt = b.appendID(pt)
	pt = append(pt, key[:]...)
	out := append(make([]byte, 0, slotSize), nonce...)
	out = aead.Seal(out, nonce, pt, slotAD(index))
	clear(pt)
	return out
}

// slotOffset is where slot index starts in the file.
func slotOffset(index uint32) int64 { return int64(headerSize) + int64(index)*slotSize }

// writeSlot writes b at slot index in place and fsyncs the file. In place means the same
// file blocks on an ordinary (non copy-on-write) filesystem: the old bytes are
// overwritten, not left in a freed block (docs/OPERATIONS.md, "Disappearing messages").
func writeSlot(f *os.File, index uint32, b []byte) error {
	if len(b) != slotSize {
		return fmt.Errorf("shredkeys: slot of %d bytes", len(b))
	}
	if _, err := f.WriteAt(b, slotOffset(index)); err != nil {
		return fmt.Errorf("shredkeys: write slot %d: %w", index, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("shredkeys: sync key file: %w", err)
	}
	return nil
}

// openKeyFile opens DIR/shredkeys read-write, creating it (header only, fsynced with its
// directory) when absent.
func openKeyFile(path, dir string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("shredkeys: open key file: %w", err)
	}
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, keyFilePerm)
	if err != nil {
		return nil, fmt.Errorf("shredkeys: create key file: %w", err)
	}
	hdr := append([]byte(fileMagic), fileVersion)
	if _, err := f.Write(hdr); err != nil {
		f.Close()
		return nil, fmt.Errorf("shredkeys: create key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("shredkeys: create key file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("shredkeys: sync directory: %w", err)
		}
	}
	return f, nil
}

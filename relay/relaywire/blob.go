package relaywire

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
)

// BlobProtocol is the relay blob store's protocol (docs/PROTOCOL.md, "Blob protocol").
const BlobProtocol = "/petrel/blob/1.0.0"

// Specification constants of the blob protocol.
const (
	// BlobIDSize is the size of a blob id: the SHA-256 of the blob's bytes.
	BlobIDSize = sha256.Size
	// MinBlobSize and MaxBlobSize bound a blob; every size is a power of two between them
	// (the padding buckets: an uploader pads its ciphertext up to one).
	MinBlobSize = 4 << 10
	MaxBlobSize = 4 << 20
	// MaxBlobData bounds the bytes of one BlobData frame.
	MaxBlobData = 64 << 10
)

// Blob frame types.
const (
	TypeBlobPut  byte = 0x30 // client → relay
	TypeBlobData byte = 0x31 // both ways
	TypeBlobGet  byte = 0x32 // client → relay
	TypeBlobHas  byte = 0x33 // client → relay
	TypeBlobStat byte = 0x34 // relay → client
)

// BlobID is the id of a blob: SHA-256 of its bytes.
type BlobID [BlobIDSize]byte

// BlobIDOf returns the id of b.
func BlobIDOf(b []byte) BlobID { return sha256.Sum256(b) }

// ValidBlobSize says whether n is a padding bucket: a power of two from MinBlobSize to
// MaxBlobSize.
func ValidBlobSize(n int) bool {
	return n >= MinBlobSize && n <= MaxBlobSize && bits.OnesCount(uint(n)) == 1
}

// BlobBucket returns the smallest padding bucket that holds n bytes, or 0 when n is over
// MaxBlobSize.
func BlobBucket(n int) int {
	if n > MaxBlobSize {
		return 0
	}
	b := MinBlobSize
	for b < n {
		b <<= 1
	}
	return b
}

// BlobPut announces an upload: the blob's id and size.
type BlobPut struct {
	ID   BlobID
	Size int // a padding bucket
}

// AppendBlobPut appends p's body: type ‖ id (32) ‖ size (4).
func AppendBlobPut(b []byte, p BlobPut) []byte {
	b = append(b, TypeBlobPut)
	b = append(b, p.ID[:]...)
	return binary.BigEndian.AppendUint32(b, uint32(p.Size))
}

// ParseBlobPut parses a BlobPut body. The size is not checked against the buckets here
// (the relay refuses a bad one with its own code).
func ParseBlobPut(body []byte) (BlobPut, error) {
	if len(body) != 1+BlobIDSize+4 || body[0] != TypeBlobPut {
		return BlobPut{}, malformed("not a blob put")
	}
	var p BlobPut
	copy(p.ID[:], body[1:])
	p.Size = int(binary.BigEndian.Uint32(body[1+BlobIDSize:]))
	return p, nil
}

// AppendBlobData appends a BlobData body: type ‖ bytes (1..MaxBlobData).
func AppendBlobData(b []byte, data []byte) []byte {
	b = append(b, TypeBlobData)
	return append(b, data...)
}

// ParseBlobData parses a BlobData body; the result aliases body.
func ParseBlobData(body []byte) ([]byte, error) {
	if len(body) < 2 || len(body) > 1+MaxBlobData || body[0] != TypeBlobData {
		return nil, malformed("not blob data")
	}
	return body[1:], nil
}

// BlobGet asks for Length bytes of a blob from Offset.
type BlobGet struct {
	ID             BlobID
	Offset, Length int
}

// AppendBlobGet appends g's body: type ‖ id (32) ‖ offset (4) ‖ length (4).
func AppendBlobGet(b []byte, g BlobGet) []byte {
	b = append(b, TypeBlobGet)
	b = append(b, g.ID[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(g.Offset))
	return binary.BigEndian.AppendUint32(b, uint32(g.Length))
}

// ParseBlobGet parses a BlobGet body: offset below MaxBlobSize, length 1..MaxBlobSize
// (the relay checks the range against the blob's size).
func ParseBlobGet(body []byte) (BlobGet, error) {
	if len(body) != 1+BlobIDSize+8 || body[0] != TypeBlobGet {
		return BlobGet{}, malformed("not a blob get")
	}
	var g BlobGet
	copy(g.ID[:], body[1:])
	off := binary.BigEndian.Uint32(body[1+BlobIDSize:])
	n := binary.BigEndian.Uint32(body[1+BlobIDSize+4:])
	if off >= MaxBlobSize || n == 0 || n > MaxBlobSize {
		return BlobGet{}, malformed("blob get range")
	}
	g.Offset, g.Length = int(off), int(n)
	return g, nil
}

// AppendBlobHas appends a BlobHas body: type ‖ id (32).
func AppendBlobHas(b []byte, id BlobID) []byte {
	b = append(b, TypeBlobHas)
	return append(b, id[:]...)
}

// ParseBlobHas parses a BlobHas body.
func ParseBlobHas(body []byte) (BlobID, error) {
	var id BlobID
	if len(body) != 1+BlobIDSize || body[0] != TypeBlobHas {
		return id, malformed("not a blob has")
	}
	copy(id[:], body[1:])
	return id, nil
}

// BlobStat is what the relay holds of a blob.
type BlobStat struct {
	Present   bool
	Size      int   // a padding bucket when present, else 0
	ExpiresAt int64 // Unix ms when present, else 0
}

// AppendBlobStat appends s's body: type ‖ present (1) ‖ size (4) ‖ expires at (8, Unix ms).
func AppendBlobStat(b []byte, s BlobStat) []byte {
	var p byte
	if s.Present {
		p = 1
	}
	b = append(b, TypeBlobStat, p)
	b = binary.BigEndian.AppendUint32(b, uint32(s.Size))
	return binary.BigEndian.AppendUint64(b, uint64(s.ExpiresAt))
}

// ParseBlobStat parses a BlobStat body: a present blob has a bucket size; an absent one
// has zero size and expiry.
func ParseBlobStat(body []byte) (BlobStat, error) {
	if len(body) != 2+4+8 || body[0] != TypeBlobStat || body[1] > 1 {
		return BlobStat{}, malformed("not a blob stat")
	}
	s := BlobStat{Present: body[1] == 1, Size: int(binary.BigEndian.Uint32(body[2:])),
		ExpiresAt: int64(binary.BigEndian.Uint64(body[6:]))}
	if s.Present && !ValidBlobSize(s.Size) || !s.Present && (s.Size != 0 || s.ExpiresAt != 0) {
		return BlobStat{}, malformed("blob stat fields")
	}
	return s, nil
}

package kdf

import (
	"crypto/ecdh"
	"crypto/subtle"
	"errors"
	"fmt"
)

// X25519Size is the size of an X25519 public key, private key and DH output.
const X25519Size = 32

// ErrInvalidX25519 reports an X25519 public key that is not canonical or is of
// low order.
var ErrInvalidX25519 = errors.New("invalid X25519 public key")

// lowOrder lists the canonical encodings (high bit clear, below p = 2^255-19)
// of the points of order 1, 2, 4 and 8 on Curve25519. Non-canonical encodings
// (high bit set, or p ≤ u < 2^255) are refused before this table is consulted.
var lowOrder = [...][X25519Size]byte{
	{}, // u = 0
	{1},
	{0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
		0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
	{0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
		0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, // p-1
}

// CheckX25519 reports whether b is a canonical X25519 public key (32 bytes,
// little-endian u < 2^255-19, high bit clear) that is not of low order.
// Refusing these keys up front means a peer cannot force a predictable or
// all-zero DH output, and every key has exactly one encoding (so keys can be
// compared and hashed as bytes).
func CheckX25519(b []byte) error {
	if len(b) != X25519Size {
		return fmt.Errorf("%w: length %d", ErrInvalidX25519, len(b))
	}
	if b[31]&0x80 != 0 {
		return fmt.Errorf("%w: high bit set", ErrInvalidX25519)
	}
	// u ≥ p = 2^255-19 iff bytes 1..30 are 0xff, byte 31 is 0x7f and byte 0 ≥ 0xed.
	if b[31] == 0x7f && b[0] >= 0xed && allFF(b[1:31]) {
		return fmt.Errorf("%w: not reduced", ErrInvalidX25519)
	}
	for i := range lowOrder {
		if subtle.ConstantTimeCompare(b, lowOrder[i][:]) == 1 {
			return fmt.Errorf("%w: low order", ErrInvalidX25519)
		}
	}
	return nil
}

func allFF(b []byte) bool {
	for _, c := range b {
		if c != 0xff {
			return false
		}
	}
	return true
}

// ParseX25519 checks b with CheckX25519 and returns it as a public key.
func ParseX25519(b []byte) (*ecdh.PublicKey, error) {
	if err := CheckX25519(b); err != nil {
		return nil, err
	}
	pk, err := ecdh.X25519().NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidX25519, err)
	}
	return pk, nil
}

// DH is DH(PK1, PK2) of the specifications: the X25519 output of a private key
// and a public key. It fails on an all-zero output (a low-order input).
func DH(priv *ecdh.PrivateKey, pub *ecdh.PublicKey) ([]byte, error) {
	out, err := priv.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidX25519, err)
	}
	return out, nil
}

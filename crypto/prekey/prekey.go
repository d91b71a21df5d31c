package prekey

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/internal/kdf"
)

// Specification constants.
const (
	// KEMMLKEM768 identifies ML-KEM-768 prekeys (suite 0x01).
	KEMMLKEM768 = 0x01
	// KEMMLKEM1024 is reserved for ML-KEM-1024 prekeys (suite 0x02).
	KEMMLKEM1024 = 0x02

	// SignedPrekeySize, OneTimePrekeySize and PQPrekeySize are wire sizes.
	SignedPrekeySize  = 4 + 8 + kdf.X25519Size + ed25519.SignatureSize
	OneTimePrekeySize = 4 + kdf.X25519Size
	PQPrekeySize      = 1 + 1 + 4 + 8 + mlkem.EncapsulationKeySize768 + ed25519.SignatureSize

	// RotationInterval is how often the signed prekey and the last-resort
	// PQ prekey should be replaced.
	RotationInterval = 7 * 24 * time.Hour
	// GracePeriod is how long a replaced signed or last-resort prekey still
	// answers handshakes.
	GracePeriod = 30 * 24 * time.Hour
	// RefillBelow is the one-time pool level that triggers a refill.
	RefillBelow = 20
	// PoolSize is how many unused one-time keys of each kind a refill restores.
	PoolSize = 100
)

// Kind says whether a PQ prekey is the last-resort key or a one-time key.
type Kind byte

// PQ prekey kinds.
const (
	LastResort Kind = 0x01
	OneTime    Kind = 0x02
)

func (k Kind) String() string {
	switch k {
	case LastResort:
		return "last-resort"
	case OneTime:
		return "one-time"
	}
	return fmt.Sprintf("Kind(%d)", byte(k))
}

var (
	// ErrMalformed reports bytes that are not a valid encoding.
	ErrMalformed = errors.New("prekey: malformed")
	// ErrBadSignature reports a prekey not signed by the bundle's identity
	// (under the right domain and kind). It is identity.ErrBadSignature.
	ErrBadSignature = identity.ErrBadSignature
	// ErrUnknownPrekey reports a prekey id the store does not hold (never
	// issued, already consumed, or pruned).
	ErrUnknownPrekey = errors.New("prekey: unknown prekey")
	// ErrExpiredPrekey reports a rotated-out prekey past its grace period.
	ErrExpiredPrekey = errors.New("prekey: prekey expired")
	// ErrUnsupported reports a reserved algorithm identifier (ML-KEM-1024).
	ErrUnsupported = errors.New("prekey: unsupported algorithm")
)

// SignedPrekey is the public signed X25519 prekey.
type SignedPrekey struct {
	id      uint32
	created int64
	pub     [kdf.X25519Size]byte
	sig     [ed25519.SignatureSize]byte
}

// ID returns the prekey id.
func (k SignedPrekey) ID() uint32 { return k.id }

// Created returns the creation time (second precision).
func (k SignedPrekey) Created() time.Time { return time.Unix(k.created, 0) }

// PublicKey returns the X25519 public key.
func (k SignedPrekey) PublicKey() *ecdh.PublicKey { return mustX25519(k.pub[:]) }

// Bytes returns the 108-byte wire form.
func (k SignedPrekey) Bytes() []byte {
	b := k.signed(make([]byte, 0, SignedPrekeySize))
	return append(b, k.sig[:]...)
}

// signed appends the signed fields (without domain).
func (k SignedPrekey) signed(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, k.id)
	b = binary.BigEndian.AppendUint64(b, uint64(k.created))
	return append(b, k.pub[:]...)
}

// Verify checks the signature against the identity.
func (k SignedPrekey) Verify(idk *identity.PublicIdentity) error {
	if !idk.Verify(identity.DomainSignedPrekey, k.signed(nil), k.sig[:]) {
		return fmt.Errorf("signed prekey %d: %w", k.id, ErrBadSignature)
	}
	return nil
}

// ParseSignedPrekey parses the wire form. It does not verify the signature.
func ParseSignedPrekey(b []byte) (SignedPrekey, error) {
	var k SignedPrekey
	if len(b) != SignedPrekeySize {
		return k, fmt.Errorf("%w: signed prekey of %d bytes", ErrMalformed, len(b))
	}
	k.id = binary.BigEndian.Uint32(b)
	k.created = int64(binary.BigEndian.Uint64(b[4:]))
	copy(k.pub[:], b[12:])
	copy(k.sig[:], b[12+kdf.X25519Size:])
	if k.id == 0 || k.created < 0 {
		return k, fmt.Errorf("%w: signed prekey id or time", ErrMalformed)
	}
	if err := kdf.CheckX25519(k.pub[:]); err != nil {
		return k, fmt.Errorf("%w: signed prekey: %w", ErrMalformed, err)
	}
	return k, nil
}

// OneTimePrekey is a public X25519 one-time prekey (unsigned).
type OneTimePrekey struct {
	id  uint32
	pub [kdf.X25519Size]byte
}

// ID returns the prekey id.
func (k OneTimePrekey) ID() uint32 { return k.id }

// PublicKey returns the X25519 public key.
func (k OneTimePrekey) PublicKey() *ecdh.PublicKey { return mustX25519(k.pub[:]) }

// Bytes returns the 36-byte wire form.
func (k OneTimePrekey) Bytes() []byte {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, OneTimePrekeySize), k.id)
	return append(b, k.pub[:]...)
}

// ParseOneTimePrekey parses the wire form.
func ParseOneTimePrekey(b []byte) (OneTimePrekey, error) {
	var k OneTimePrekey
	if len(b) != OneTimePrekeySize {
		return k, fmt.Errorf("%w: one-time prekey of %d bytes", ErrMalformed, len(b))
	}
	k.id = binary.BigEndian.Uint32(b)
	copy(k.pub[:], b[4:])
	if k.id == 0 {
		return k, fmt.Errorf("%w: one-time prekey id 0", ErrMalformed)
	}
	if err := kdf.CheckX25519(k.pub[:]); err != nil {
		return k, fmt.Errorf("%w: one-time prekey: %w", ErrMalformed, err)
	}
	return k, nil
}

// PQPrekey is a public signed ML-KEM prekey, last-resort or one-time.
type PQPrekey struct {
	kem     byte
	kind    Kind
	id      uint32
	created int64
	pub     []byte                     // ML-KEM encapsulation key; immutable once built
	ek      *mlkem.EncapsulationKey768 // pub, parsed once
	sig     [ed25519.SignatureSize]byte
}

// ID returns the prekey id.
func (k PQPrekey) ID() uint32 { return k.id }

// Kind says whether this is the last-resort key or a one-time key.
func (k PQPrekey) Kind() Kind { return k.kind }

// KEM returns the KEM identifier (KEMMLKEM768).
func (k PQPrekey) KEM() byte { return k.kem }

// Created returns the creation time (second precision).
func (k PQPrekey) Created() time.Time { return time.Unix(k.created, 0) }

// EncapsulationKey returns the ML-KEM-768 public key.
func (k PQPrekey) EncapsulationKey() *mlkem.EncapsulationKey768 {
	if k.ek != nil {
		return k.ek
	}
	ek, err := mlkem.NewEncapsulationKey768(k.pub)
	if err != nil {
		panic("prekey: unreachable: checked at construction: " + err.Error())
	}
	return ek
}

// Bytes returns the wire form.
func (k PQPrekey) Bytes() []byte {
	b := k.signed(make([]byte, 0, PQPrekeySize))
	return append(b, k.sig[:]...)
}

func (k PQPrekey) signed(b []byte) []byte {
	b = append(b, k.kem, byte(k.kind))
	b = binary.BigEndian.AppendUint32(b, k.id)
	b = binary.BigEndian.AppendUint64(b, uint64(k.created))
	return append(b, k.pub...)
}

// Verify checks the signature against the identity.
func (k PQPrekey) Verify(idk *identity.PublicIdentity) error {
	if !idk.Verify(identity.DomainPQPrekey, k.signed(nil), k.sig[:]) {
		return fmt.Errorf("%s PQ prekey %d: %w", k.kind, k.id, ErrBadSignature)
	}
	return nil
}

// ParsePQPrekey parses the wire form. It does not verify the signature.
func ParsePQPrekey(b []byte) (PQPrekey, error) {
	var k PQPrekey
	if len(b) < 2 {
		return k, fmt.Errorf("%w: PQ prekey of %d bytes", ErrMalformed, len(b))
	}
	switch b[0] {
	case KEMMLKEM768:
	case KEMMLKEM1024:
		return k, fmt.Errorf("%w: ML-KEM-1024 prekey", ErrUnsupported)
	default:
		return k, fmt.Errorf("%w: KEM %#x", ErrMalformed, b[0])
	}
	if len(b) != PQPrekeySize {
		return k, fmt.Errorf("%w: PQ prekey of %d bytes", ErrMalformed, len(b))
	}
	k.kem, k.kind = b[0], Kind(b[1])
	if k.kind != LastResort && k.kind != OneTime {
		return k, fmt.Errorf("%w: PQ prekey kind %#x", ErrMalformed, b[1])
	}
	k.id = binary.BigEndian.Uint32(b[2:])
	k.created = int64(binary.BigEndian.Uint64(b[6:]))
	if k.id == 0 || k.created < 0 {
		return k, fmt.Errorf("%w: PQ prekey id or time", ErrMalformed)
	}
	pub := b[14 : 14+mlkem.EncapsulationKeySize768]
	ek, err := mlkem.NewEncapsulationKey768(pub)
	if err != nil {
		return k, fmt.Errorf("%w: PQ prekey: %w", ErrMalformed, err)
	}
	k.pub, k.ek = append([]byte(nil), pub...), ek
	copy(k.sig[:], b[14+mlkem.EncapsulationKeySize768:])
	return k, nil
}

func mustX25519(b []byte) *ecdh.PublicKey {
	pk, err := ecdh.X25519().NewPublicKey(b)
	if err != nil {
		panic("prekey: unreachable: 32-byte X25519 key refused: " + err.Error())
	}
	return pk
}

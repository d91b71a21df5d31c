package identity

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/petrel-chat/petrel/crypto/internal/kdf"
)

// TextPrefix begins the text form of a public identity.
const TextPrefix = "petrel-idpk1:"

const userIDDomain = "petrel_v1_userid\x00"

// userIDBytes is how many bytes of SHA-256 a UserID keeps (200 bits).
const userIDBytes = 25

var userIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// A UserID is the stable printable name of a user: 40 lowercase base32
// characters derived from the Ed25519 identity key (see the package doc).
type UserID string

// PublicIdentity is the public half of an Identity: the Ed25519 key, the
// X25519 key and the signature binding them. Compare with Equal.
type PublicIdentity struct {
	_   [0]func() // not comparable with ==
	ed  [ed25519.PublicKeySize]byte
	x   [kdf.X25519Size]byte
	sig [ed25519.SignatureSize]byte
}

// ParsePublic parses and verifies the 129-byte wire form of a public identity.
func ParsePublic(b []byte) (*PublicIdentity, error) {
	if len(b) != PublicSize || b[0] != Version {
		return nil, fmt.Errorf("%w: public identity of %d bytes", ErrMalformed, len(b))
	}
	p := new(PublicIdentity)
	copy(p.ed[:], b[1:])
	copy(p.x[:], b[1+len(p.ed):])
	copy(p.sig[:], b[1+len(p.ed)+len(p.x):])
	if err := kdf.CheckX25519(p.x[:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if !p.Verify(DomainIdentityKey, p.x[:], p.sig[:]) {
		return nil, ErrBadSignature
	}
	return p, nil
}

// ParsePublicText parses the "petrel-idpk1:…" text form.
func ParsePublicText(s string) (*PublicIdentity, error) {
	rest, ok := strings.CutPrefix(s, TextPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: missing %q prefix", ErrMalformed, TextPrefix)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return ParsePublic(b)
}

// Bytes returns the 129-byte wire form.
func (p *PublicIdentity) Bytes() []byte {
	b := make([]byte, 0, PublicSize)
	b = append(b, Version)
	b = append(b, p.ed[:]...)
	b = append(b, p.x[:]...)
	return append(b, p.sig[:]...)
}

// Key returns the identity key Ed25519 public ‖ X25519 public, the encoding
// used in associated data.
func (p *PublicIdentity) Key() [KeySize]byte {
	var k [KeySize]byte
	copy(k[:], p.ed[:])
	copy(k[len(p.ed):], p.x[:])
	return k
}

// String returns the text form "petrel-idpk1:…".
func (p *PublicIdentity) String() string {
	return TextPrefix + base64.RawURLEncoding.EncodeToString(p.Bytes())
}

// MarshalText implements encoding.TextMarshaler with the String form.
func (p *PublicIdentity) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *PublicIdentity) UnmarshalText(b []byte) error {
	q, err := ParsePublicText(string(b))
	if err != nil {
		return err
	}
	*p = *q
	return nil
}

// Equal reports, in constant time, whether p and q are the same identity.
func (p *PublicIdentity) Equal(q *PublicIdentity) bool {
	if p == nil || q == nil {
		return p == q
	}
	pk, qk := p.Key(), q.Key()
	return subtle.ConstantTimeCompare(pk[:], qk[:]) == 1
}

// Compare orders identities by their identity key bytes. It returns -1, 0 or
// +1; it is not constant time (identity keys are public).
func (p *PublicIdentity) Compare(q *PublicIdentity) int {
	pk, qk := p.Key(), q.Key()
	return bytes.Compare(pk[:], qk[:])
}

// Verify reports whether sig is a valid signature of domain ‖ msg.
func (p *PublicIdentity) Verify(d Domain, msg, sig []byte) bool {
	return ed25519.Verify(p.ed[:], domainMessage(d, msg), sig)
}

// DHPublicKey returns the X25519 identity key.
func (p *PublicIdentity) DHPublicKey() *ecdh.PublicKey {
	pk, err := ecdh.X25519().NewPublicKey(p.x[:])
	if err != nil {
		panic("identity: unreachable: " + err.Error()) // 32 bytes always parse
	}
	return pk
}

// SigningKey returns a copy of the Ed25519 identity key.
func (p *PublicIdentity) SigningKey() ed25519.PublicKey {
	return bytes.Clone(p.ed[:])
}

// UserID returns the user ID derived from the Ed25519 key.
func (p *PublicIdentity) UserID() UserID { return UserIDForSigningKey(p.ed[:]) }

// UserIDForSigningKey returns the user ID of the identity whose Ed25519 key is k (for a
// sender known only by its key, as in a sealed envelope).
func UserIDForSigningKey(k ed25519.PublicKey) UserID {
	h := sha256.New()
	h.Write([]byte(userIDDomain))
	h.Write(k)
	return UserID(userIDEncoding.EncodeToString(h.Sum(nil)[:userIDBytes]))
}

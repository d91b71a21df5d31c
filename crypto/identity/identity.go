package identity

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/petrel-chat/petrel/crypto/internal/kdf"
)

// Specification constants.
const (
	// Version is the version byte of the public and private wire forms.
	Version = 0x01
	// PublicSize is the size of a marshalled PublicIdentity.
	PublicSize = 1 + ed25519.PublicKeySize + kdf.X25519Size + ed25519.SignatureSize
	// PrivateSize is the size of a marshalled Identity.
	PrivateSize = 1 + ed25519.SeedSize + kdf.X25519Size
	// KeySize is the size of the identity key (Ed25519 public ‖ X25519 public).
	KeySize = ed25519.PublicKeySize + kdf.X25519Size
)

// A Domain separates the signatures of different object types. The signed
// bytes are the domain followed by the object.
type Domain string

// Signature domains. Each ends in NUL so that none is a prefix of another.
const (
	DomainIdentityKey  Domain = "petrel_v1_sig_idk\x00"
	DomainSignedPrekey Domain = "petrel_v1_sig_spk\x00"
	DomainPQPrekey     Domain = "petrel_v1_sig_pqpk\x00"
	// DomainSealed signs sealed envelopes (crypto/sealed; the signed bytes are given there).
	DomainSealed Domain = "petrel_v1_sig_sealed\x00"
	// DomainMailbox signs a relay's challenge: the owner of a mailbox proves its
	// identity key to a relay (relay/relaywire documents the signed bytes).
	DomainMailbox Domain = "petrel_v1_sig_mailbox\x00"
	// DomainGroupState signs group state changes (node/wire GroupOp). It differs from the
	// group message domain of crypto/senderkey ("petrel_v1_sig_group\x00").
	DomainGroupState Domain = "petrel_v1_sig_gstate\x00"
	// DomainDeviceList signs an account's list of linked devices (node/wire DeviceList).
	DomainDeviceList Domain = "petrel_v1_sig_devlist\x00"
)

var (
	// ErrMalformed reports bytes that are not a valid encoding.
	ErrMalformed = errors.New("identity: malformed")
	// ErrBadSignature reports a public identity whose X25519 key is not signed
	// by its Ed25519 key.
	ErrBadSignature = errors.New("identity: bad signature")
)

// Identity is a user's private identity. The zero value is not usable; create
// one with Generate or Unmarshal. An Identity is safe for concurrent use.
type Identity struct {
	sign ed25519.PrivateKey
	dh   *ecdh.PrivateKey
	pub  PublicIdentity
}

// Generate creates a new identity from crypto/rand.
func Generate() (*Identity, error) {
	var seed [ed25519.SeedSize]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("identity: generate: %w", err)
	}
	dh, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate: %w", err)
	}
	id, err := newIdentity(seed[:], dh)
	clear(seed[:])
	return id, err
}

func newIdentity(seed []byte, dh *ecdh.PrivateKey) (*Identity, error) {
	id := &Identity{sign: ed25519.NewKeyFromSeed(seed), dh: dh}
	// A private X25519 key always has a valid public key, but keep the
	// invariant that no PublicIdentity holds a low-order key.
	if err := kdf.CheckX25519(dh.PublicKey().Bytes()); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	copy(id.pub.ed[:], id.sign.Public().(ed25519.PublicKey))
	copy(id.pub.x[:], dh.PublicKey().Bytes())
	copy(id.pub.sig[:], id.Sign(DomainIdentityKey, id.pub.x[:]))
	return id, nil
}

// Unmarshal parses an identity written by Marshal.
func Unmarshal(b []byte) (*Identity, error) {
	if len(b) != PrivateSize || b[0] != Version {
		return nil, ErrMalformed
	}
	dh, err := ecdh.X25519().NewPrivateKey(b[1+ed25519.SeedSize:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return newIdentity(b[1:1+ed25519.SeedSize], dh)
}

// Marshal returns the private identity for storage. The result is secret.
func (id *Identity) Marshal() []byte {
	b := make([]byte, 0, PrivateSize)
	b = append(b, Version)
	b = append(b, id.sign.Seed()...)
	return append(b, id.dh.Bytes()...)
}

// Public returns the public identity. The result must not be modified.
func (id *Identity) Public() *PublicIdentity { return &id.pub }

// UserID returns the identity's stable user ID.
func (id *Identity) UserID() UserID { return id.pub.UserID() }

// Sign signs domain ‖ msg with the Ed25519 identity key.
func (id *Identity) Sign(d Domain, msg []byte) []byte {
	return ed25519.Sign(id.sign, domainMessage(d, msg))
}

// DH returns X25519(identity DH key, remote). It fails on a low-order remote key.
func (id *Identity) DH(remote *ecdh.PublicKey) ([]byte, error) {
	return kdf.DH(id.dh, remote)
}

// String returns a redacted description that names only the user ID.
func (id *Identity) String() string {
	return "identity.Identity{" + string(id.UserID()) + ", private keys redacted}"
}

// GoString is redacted like String, so %#v cannot print secrets.
func (id *Identity) GoString() string { return id.String() }

// MarshalJSON refuses to encode a private identity.
func (id *Identity) MarshalJSON() ([]byte, error) {
	return nil, errors.New("identity: refusing to encode a private identity as JSON")
}

// MarshalText refuses to encode a private identity.
func (id *Identity) MarshalText() ([]byte, error) {
	return nil, errors.New("identity: refusing to encode a private identity as text")
}

func domainMessage(d Domain, msg []byte) []byte {
	m := make([]byte, 0, len(d)+len(msg))
	m = append(m, d...)
	return append(m, msg...)
}

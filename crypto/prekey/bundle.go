package prekey

import (
	"fmt"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// BundleVersion is the version byte of the Bundle wire form.
const BundleVersion = 0x01

// Bundle is what a directory hands an initiator: the responder's public
// identity, signed prekey, one PQ prekey (one-time if any is left, else the
// last-resort key) and optionally one X25519 one-time prekey. A Bundle from
// ParseBundle or NewBundle has been verified.
type Bundle struct {
	identity *identity.PublicIdentity
	spk      SignedPrekey
	pq       PQPrekey
	opk      *OneTimePrekey
}

// NewBundle assembles and verifies a bundle (for a directory building bundles
// from uploaded keys). opk may be nil.
func NewBundle(idk *identity.PublicIdentity, spk SignedPrekey, pq PQPrekey, opk *OneTimePrekey) (*Bundle, error) {
	if idk == nil {
		return nil, fmt.Errorf("%w: bundle without identity", ErrMalformed)
	}
	out := []byte{BundleVersion}
	out = append(out, idk.Bytes()...)
	out = append(out, spk.Bytes()...)
	out = append(out, pq.Bytes()...)
	if opk == nil {
		out = append(out, 0)
	} else {
		out = append(out, 1)
		out = append(out, opk.Bytes()...)
	}
	// Going through the wire form gives hand-assembled bundles exactly the
	// checks of received ones.
	return ParseBundle(out)
}

// Identity returns the responder's public identity.
func (b *Bundle) Identity() *identity.PublicIdentity { return b.identity }

// SignedPrekey returns the signed X25519 prekey.
func (b *Bundle) SignedPrekey() SignedPrekey { return b.spk }

// PQPrekey returns the ML-KEM prekey.
func (b *Bundle) PQPrekey() PQPrekey { return b.pq }

// OneTimePrekey returns the X25519 one-time prekey, if the bundle has one.
func (b *Bundle) OneTimePrekey() (OneTimePrekey, bool) {
	if b.opk == nil {
		return OneTimePrekey{}, false
	}
	return *b.opk, true
}

// Verify checks both prekey signatures against the bundle's identity and that
// the keys are well formed.
func (b *Bundle) Verify() error {
	if b.identity == nil || b.spk.id == 0 || b.pq.id == 0 || len(b.pq.pub) == 0 {
		return fmt.Errorf("%w: incomplete bundle", ErrMalformed)
	}
	// Re-parse the elements: a bundle assembled by NewBundle gets the same
	// key checks as one from the wire.
	if _, err := ParseSignedPrekey(b.spk.Bytes()); err != nil {
		return err
	}
	if _, err := ParsePQPrekey(b.pq.Bytes()); err != nil {
		return err
	}
	if b.opk != nil {
		if _, err := ParseOneTimePrekey(b.opk.Bytes()); err != nil {
			return err
		}
	}
	if err := b.spk.Verify(b.identity); err != nil {
		return err
	}
	return b.pq.Verify(b.identity)
}

// Marshal returns the wire form.
func (b *Bundle) Marshal() []byte {
	out := make([]byte, 0, 1+identity.PublicSize+SignedPrekeySize+PQPrekeySize+1+OneTimePrekeySize)
	out = append(out, BundleVersion)
	out = append(out, b.identity.Bytes()...)
	out = append(out, b.spk.Bytes()...)
	out = append(out, b.pq.Bytes()...)
	if b.opk == nil {
		return append(out, 0)
	}
	out = append(out, 1)
	return append(out, b.opk.Bytes()...)
}

// ParseBundle parses and verifies a bundle.
func ParseBundle(in []byte) (*Bundle, error) {
	const fixed = 1 + identity.PublicSize + SignedPrekeySize + PQPrekeySize + 1
	if len(in) < 1 || in[0] != BundleVersion {
		return nil, fmt.Errorf("%w: bundle version", ErrMalformed)
	}
	if len(in) < 1+identity.PublicSize+SignedPrekeySize+2 {
		return nil, fmt.Errorf("%w: bundle of %d bytes", ErrMalformed, len(in))
	}
	if kem := in[1+identity.PublicSize+SignedPrekeySize]; kem == KEMMLKEM1024 {
		return nil, fmt.Errorf("%w: ML-KEM-1024 bundle", ErrUnsupported)
	}
	if len(in) != fixed && len(in) != fixed+OneTimePrekeySize {
		return nil, fmt.Errorf("%w: bundle of %d bytes", ErrMalformed, len(in))
	}
	idk, err := identity.ParsePublic(in[1 : 1+identity.PublicSize])
	if err != nil {
		return nil, fmt.Errorf("bundle identity: %w", err)
	}
	rest := in[1+identity.PublicSize:]
	b := &Bundle{identity: idk}
	if b.spk, err = ParseSignedPrekey(rest[:SignedPrekeySize]); err != nil {
		return nil, err
	}
	rest = rest[SignedPrekeySize:]
	if b.pq, err = ParsePQPrekey(rest[:PQPrekeySize]); err != nil {
		return nil, err
	}
	rest = rest[PQPrekeySize:]
	switch {
	case rest[0] == 0 && len(rest) == 1:
	case rest[0] == 1 && len(rest) == 1+OneTimePrekeySize:
		opk, err := ParseOneTimePrekey(rest[1:])
		if err != nil {
			return nil, err
		}
		b.opk = &opk
	default:
		return nil, fmt.Errorf("%w: bundle one-time prekey flag", ErrMalformed)
	}
	if err := b.spk.Verify(b.identity); err != nil {
		return nil, err
	}
	if err := b.pq.Verify(b.identity); err != nil {
		return nil, err
	}
	return b, nil
}

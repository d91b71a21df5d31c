package pqxdh

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/internal/kdf"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/crypto/ratchet"
)

// Specification constants.
const (
	// Version is the initial message version.
	Version = 0x01
	// SuiteX25519MLKEM768 is suite 0x01: X25519, SHA-256, ML-KEM-768.
	SuiteX25519MLKEM768 = 0x01
	// SuiteX25519MLKEM1024 is reserved for X25519, SHA-256, ML-KEM-1024.
	SuiteX25519MLKEM1024 = 0x02
	// InitialMessageSize is the size of a suite 0x01 initial message.
	InitialMessageSize = 1 + 1 + identity.PublicSize + kdf.X25519Size + 3*4 + mlkem.CiphertextSize768
)

var (
	// ErrMalformed reports bytes that are not a valid initial message.
	ErrMalformed = errors.New("pqxdh: malformed initial message")
	// ErrBadSignature reports a bundle or identity whose signatures do not
	// verify. It is identity.ErrBadSignature (and prekey.ErrBadSignature).
	ErrBadSignature = identity.ErrBadSignature
	// ErrUnsupportedSuite reports a reserved or unknown suite.
	ErrUnsupportedSuite = errors.New("pqxdh: unsupported suite")
	// ErrInvalidKey reports a malformed or low-order X25519 key, or a
	// malformed ML-KEM key or ciphertext.
	ErrInvalidKey = kdf.ErrInvalidX25519
	// ErrWrongIdentity reports a prekey store that belongs to another
	// identity than the responder's.
	ErrWrongIdentity = errors.New("pqxdh: prekey store belongs to another identity")
)

// encapsulator is ML-KEM encapsulation, replaceable in known-answer tests.
type encapsulator func(ek *mlkem.EncapsulationKey768) (ss, ct []byte, err error)

func randomEncaps(ek *mlkem.EncapsulationKey768) ([]byte, []byte, error) {
	ss, ct := ek.Encapsulate()
	return ss, ct, nil
}

// Initiate runs the initiator's side of PQXDH (rev 1 §3.3) against a bundle
// from prekey.ParseBundle or prekey.NewBundle (which verify its signatures)
// and returns the ratchet state and the initial message to send. The
// initiator may Encrypt at once; every message it sends before its first
// Decrypt must carry the initial message (the node frames them together).
func Initiate(me *identity.Identity, theirs *prekey.Bundle) (*ratchet.State, []byte, error) {
	ek, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pqxdh: %w", err)
	}
	sk, msg, err := initiate(me, theirs, ek, randomEncaps)
	if err != nil {
		return nil, nil, err
	}
	defer clear(sk[:])
	spk := theirs.SignedPrekey()
	st, err := ratchet.NewInitiator(params(me.Public(), theirs.Identity()), &sk, spk.PublicKey().Bytes())
	if err != nil {
		return nil, nil, err
	}
	return st, msg, nil
}

func params(initiator, responder *identity.PublicIdentity) ratchet.Params {
	return ratchet.Params{Suite: SuiteX25519MLKEM768, InitiatorKey: initiator.Key(), ResponderKey: responder.Key()}
}

// initiate computes SK and the initial message with the given ephemeral key
// and encapsulation.
func initiate(me *identity.Identity, theirs *prekey.Bundle, ek *ecdh.PrivateKey, encaps encapsulator) ([kdf.KeySize]byte, []byte, error) {
	var sk [kdf.KeySize]byte
	// Alice verifies the prekey signatures and aborts if verification
	// fails: a Bundle can only be obtained from prekey.ParseBundle or
	// prekey.NewBundle, which verify, or from the owner's own Store. The zero
	// Bundle is refused here.
	if theirs == nil || theirs.Identity() == nil {
		return sk, nil, fmt.Errorf("%w: empty bundle", ErrMalformed)
	}
	spk, pq := theirs.SignedPrekey(), theirs.PQPrekey()
	opk, hasOPK := theirs.OneTimePrekey()
	if pq.KEM() != prekey.KEMMLKEM768 {
		return sk, nil, ErrUnsupportedSuite
	}
	ikB := theirs.Identity().DHPublicKey()
	// (SS, CT) = PQKEM-ENC(PQPKB)
	ss, ct, err := encaps(pq.EncapsulationKey())
	if err != nil {
		return sk, nil, fmt.Errorf("pqxdh: %w: %w", ErrInvalidKey, err)
	}
	defer clear(ss)
	// DH1 = DH(IKA, SPKB)
	dh1, err := me.DH(spk.PublicKey())
	if err != nil {
		return sk, nil, err
	}
	defer clear(dh1)
	// DH2 = DH(EKA, IKB)
	dh2, err := kdf.DH(ek, ikB)
	if err != nil {
		return sk, nil, err
	}
	defer clear(dh2)
	// DH3 = DH(EKA, SPKB)
	dh3, err := kdf.DH(ek, spk.PublicKey())
	if err != nil {
		return sk, nil, err
	}
	defer clear(dh3)
	dhs := [][]byte{dh1, dh2, dh3}
	var opkID uint32
	if hasOPK {
		// DH4 = DH(EKA, OPKB)
		dh4, err := kdf.DH(ek, opk.PublicKey())
		if err != nil {
			return sk, nil, err
		}
		defer clear(dh4)
		dhs = append(dhs, dh4)
		opkID = opk.ID()
	}
	// SK = KDF(DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS)
	if sk, err = kdf.PQXDH(kdf.InfoPQXDH768, ss, dhs...); err != nil {
		return sk, nil, err
	}
	m := initialMessage{
		suite:     SuiteX25519MLKEM768,
		initiator: me.Public(),
		spkID:     spk.ID(),
		opkID:     opkID,
		pqID:      pq.ID(),
		ct:        ct,
	}
	copy(m.ek[:], ek.PublicKey().Bytes())
	return sk, m.marshal(), nil
}

// Respond runs the responder's side of PQXDH (rev 1 §3.4) for an initial
// message and returns the ratchet state and the ids of the one-time prekeys
// (X25519 and ML-KEM) it used. Respond does not modify store: once the first
// message of the session has decrypted, call store.Consume(ids) and persist
// the store, so a forged initial message cannot burn one-time keys. now
// decides whether a rotated signed or last-resort prekey is still in grace.
func Respond(me *identity.Identity, store *prekey.Store, initial []byte, now time.Time) (*ratchet.State, []uint32, error) {
	sk, spkPriv, m, consumed, err := respond(me, store, initial, now)
	if err != nil {
		return nil, nil, err
	}
	defer clear(sk[:])
	st, err := ratchet.NewResponder(params(m.initiator, me.Public()), &sk, spkPriv)
	if err != nil {
		return nil, nil, err
	}
	return st, consumed, nil
}

func respond(me *identity.Identity, store *prekey.Store, initial []byte, now time.Time) (sk [kdf.KeySize]byte, spk *ecdh.PrivateKey, m *initialMessage, consumed []uint32, err error) {
	if !store.Identity().Equal(me.Public()) {
		return sk, nil, nil, nil, ErrWrongIdentity
	}
	m, err = parseInitialMessage(initial)
	if err != nil {
		return sk, nil, nil, nil, err
	}
	ekA, err := kdf.ParseX25519(m.ek[:])
	if err != nil {
		return sk, nil, nil, nil, fmt.Errorf("pqxdh: ephemeral key: %w", err)
	}
	if spk, err = store.SignedPrekeyPair(m.spkID, now); err != nil {
		return sk, nil, nil, nil, fmt.Errorf("pqxdh: %w", err)
	}
	// SS = PQKEM-DEC(PQPKB, CT)
	ss, kind, err := store.Decapsulate(m.pqID, now, m.ct)
	if err != nil {
		return sk, nil, nil, nil, fmt.Errorf("pqxdh: %w", err)
	}
	defer clear(ss)
	if kind == prekey.OneTime {
		consumed = append(consumed, m.pqID)
	}
	// DH1 = DH(SPKB, IKA)
	dh1, err := kdf.DH(spk, m.initiator.DHPublicKey())
	if err != nil {
		return sk, nil, nil, nil, err
	}
	defer clear(dh1)
	// DH2 = DH(IKB, EKA)
	dh2, err := me.DH(ekA)
	if err != nil {
		return sk, nil, nil, nil, err
	}
	defer clear(dh2)
	// DH3 = DH(SPKB, EKA)
	dh3, err := kdf.DH(spk, ekA)
	if err != nil {
		return sk, nil, nil, nil, err
	}
	defer clear(dh3)
	dhs := [][]byte{dh1, dh2, dh3}
	if m.opkID != 0 {
		// DH4 = DH(OPKB, EKA)
		dh4, err := store.OneTimePrekeyDH(m.opkID, ekA)
		if err != nil {
			return sk, nil, nil, nil, fmt.Errorf("pqxdh: %w", err)
		}
		defer clear(dh4)
		dhs = append(dhs, dh4)
		consumed = append(consumed, m.opkID)
	}
	if sk, err = kdf.PQXDH(kdf.InfoPQXDH768, ss, dhs...); err != nil {
		return sk, nil, nil, nil, err
	}
	return sk, spk, m, consumed, nil
}

// AssociatedData returns PQXDH's AD = Encode(IKA) ‖ Encode(IKB) for a session:
// the two identity keys (identity.PublicIdentity.Key), initiator first. The
// ratchet prefixes every message's associated data with it (after a protocol
// tag and the suite).
func AssociatedData(initiator, responder *identity.PublicIdentity) []byte {
	a, b := initiator.Key(), responder.Key()
	return append(a[:], b[:]...)
}

// Resolve settles simultaneous initiation. When both parties initiated a
// session to each other, each holds two states for the pair: one it
// initiated and one it responded to. Resolve returns the one to keep sending
// on: the session whose initiator has the lower identity key (bytewise on
// identity.PublicIdentity.Key). Both parties compute the same answer. The
// other session should still decrypt messages already in flight on it, and
// then be dropped.
func Resolve(a, b *ratchet.State) *ratchet.State {
	ka, kb := a.Params().InitiatorKey, b.Params().InitiatorKey
	for i := range ka {
		if ka[i] != kb[i] {
			if ka[i] < kb[i] {
				return a
			}
			return b
		}
	}
	return a
}

// initialMessage is the parsed initial message (see the package doc).
type initialMessage struct {
	suite     byte
	initiator *identity.PublicIdentity
	ek        [kdf.X25519Size]byte
	spkID     uint32
	opkID     uint32 // 0 = no one-time prekey
	pqID      uint32
	ct        []byte
}

func (m *initialMessage) marshal() []byte {
	b := make([]byte, 0, InitialMessageSize)
	b = append(b, Version, m.suite)
	b = append(b, m.initiator.Bytes()...)
	b = append(b, m.ek[:]...)
	b = binary.BigEndian.AppendUint32(b, m.spkID)
	b = binary.BigEndian.AppendUint32(b, m.opkID)
	b = binary.BigEndian.AppendUint32(b, m.pqID)
	return append(b, m.ct...)
}

// parseInitialMessage parses and checks an initial message: the initiator's
// identity signature, a canonical non-low-order ephemeral key and the
// ciphertext size.
func parseInitialMessage(b []byte) (*initialMessage, error) {
	if len(b) < 2 || b[0] != Version {
		return nil, fmt.Errorf("%w: version", ErrMalformed)
	}
	switch b[1] {
	case SuiteX25519MLKEM768:
	case SuiteX25519MLKEM1024:
		return nil, fmt.Errorf("%w: ML-KEM-1024 is reserved", ErrUnsupportedSuite)
	default:
		return nil, fmt.Errorf("%w: %#x", ErrUnsupportedSuite, b[1])
	}
	if len(b) != InitialMessageSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	m := &initialMessage{suite: b[1]}
	r := b[2:]
	var err error
	if m.initiator, err = identity.ParsePublic(r[:identity.PublicSize]); err != nil {
		return nil, fmt.Errorf("pqxdh: initiator identity: %w", err)
	}
	r = r[identity.PublicSize:]
	copy(m.ek[:], r)
	r = r[kdf.X25519Size:]
	if err := kdf.CheckX25519(m.ek[:]); err != nil {
		return nil, fmt.Errorf("pqxdh: ephemeral key: %w", err)
	}
	m.spkID = binary.BigEndian.Uint32(r)
	m.opkID = binary.BigEndian.Uint32(r[4:])
	m.pqID = binary.BigEndian.Uint32(r[8:])
	if m.spkID == 0 || m.pqID == 0 {
		return nil, fmt.Errorf("%w: prekey id 0", ErrMalformed)
	}
	m.ct = append([]byte(nil), r[12:]...)
	return m, nil
}

// InitiatorIdentity parses an initial message just far enough to return the
// initiator's verified public identity, so the node can decide (contact
// known? identity changed?) before running Respond.
func InitiatorIdentity(initial []byte) (*identity.PublicIdentity, error) {
	m, err := parseInitialMessage(initial)
	if err != nil {
		return nil, err
	}
	return m.initiator, nil
}

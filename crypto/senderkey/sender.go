package senderkey

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

// A SenderState is one member's sending chain in one group: a chain key, the next
// iteration and an Ed25519 signing key. Its zero value is not usable; create one with
// NewSender. It is not safe for concurrent use.
//
// Encrypt advances the state: persist the new state (MarshalBinary) before the message
// leaves the node, so that a crash can never reuse a message key.
type SenderState struct {
	id        DistributionID
	iteration uint32
	chainKey  [chainKeySize]byte
	sigPriv   ed25519.PrivateKey
}

// NewSender creates a fresh chain: a random distribution id, a random chain key at
// iteration 0 and a new signing key. Rotation (after any membership change) is creating
// a new SenderState and distributing it to the members that remain.
func NewSender() (*SenderState, error) {
	var id DistributionID
	var ck [chainKeySize]byte
	rand.Read(id[:])
	rand.Read(ck[:])
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("senderkey: signing key: %w", err)
	}
	return &SenderState{id: id, chainKey: ck, sigPriv: priv}, nil
}

// newSenderFrom builds a SenderState from explicit values (vectors and state decoding).
func newSenderFrom(id DistributionID, iteration uint32, ck [chainKeySize]byte, seed []byte) *SenderState {
	return &SenderState{id: id, iteration: iteration, chainKey: ck, sigPriv: ed25519.NewKeyFromSeed(seed)}
}

// ID returns the chain's distribution id.
func (s *SenderState) ID() DistributionID { return s.id }

// Iteration returns the iteration the next message will carry.
func (s *SenderState) Iteration() uint32 { return s.iteration }

// Distribution returns the distribution message for the current iteration, for the node
// to send to each member over its pairwise session. Members that receive it can decrypt
// messages from this iteration on, not earlier ones.
func (s *SenderState) Distribution() []byte {
	return marshalDistribution(&s.id, s.iteration, &s.chainKey, s.sigPriv.Public().(ed25519.PublicKey))
}

// Encrypt encrypts and signs one group message and advances the chain:
//
//	ck, mk        = kdfCK(ck)
//	key ‖ nonce   = HKDF(mk, 0^32, "petrel_v1_SenderKey", 44)
//	header        = version ‖ suite ‖ id ‖ iteration
//	ciphertext    = ChaCha20-Poly1305(key, nonce, plaintext, ad = header)
//	signature     = Ed25519(sigPriv, "petrel_v1_sig_group\x00" ‖ header ‖ ciphertext)
//
// It returns header ‖ ciphertext ‖ signature. On error the state is unchanged.
func (s *SenderState) Encrypt(plaintext []byte) ([]byte, error) {
	if s.iteration == maxIteration {
		return nil, ErrChainExhausted
	}
	next, mk := kdfCK(&s.chainKey)
	defer clear(mk[:])
	aead, nonce, err := messageAEAD(&mk)
	if err != nil {
		return nil, err
	}
	// One buffer holds sigPrefix ‖ header ‖ ciphertext ‖ signature, so the signed bytes
	// need no copy; the message is the slice after the prefix.
	buf := make([]byte, 0, len(sigPrefix)+headerSize+len(plaintext)+tagSize+sigSize)
	buf = append(buf, sigPrefix...)
	buf = appendHeader(buf, &s.id, s.iteration)
	var header [headerSize]byte // cipher.AEAD: dst and additional data must not overlap
	copy(header[:], buf[len(sigPrefix):])
	buf = aead.Seal(buf, nonce, plaintext, header[:])
	buf = append(buf, ed25519.Sign(s.sigPriv, buf)...)

	clear(s.chainKey[:])
	s.chainKey = next
	s.iteration++
	return buf[len(sigPrefix):], nil
}

// MarshalBinary encodes the state (it contains secrets: store it encrypted):
//
//	0x01 ‖ 'S' ‖ id (16) ‖ iteration (4) ‖ chain key (32) ‖ signing seed (32)
func (s *SenderState) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, senderStateSize)
	b = append(b, stateVersion, stateKindSender)
	b = append(b, s.id[:]...)
	b = binary.BigEndian.AppendUint32(b, s.iteration)
	b = append(b, s.chainKey[:]...)
	return append(b, s.sigPriv.Seed()...), nil
}

// UnmarshalSender decodes a state written by SenderState.MarshalBinary.
func UnmarshalSender(b []byte) (*SenderState, error) {
	if len(b) != senderStateSize {
		return nil, fmt.Errorf("%w: sender state of %d bytes", ErrMalformed, len(b))
	}
	if b[0] != stateVersion || b[1] != stateKindSender {
		return nil, fmt.Errorf("%w: sender state version %#x kind %#x", ErrUnsupported, b[0], b[1])
	}
	var id DistributionID
	var ck [chainKeySize]byte
	off := 2
	off += copy(id[:], b[off:])
	it := binary.BigEndian.Uint32(b[off:])
	off += 4
	off += copy(ck[:], b[off:])
	return newSenderFrom(id, it, ck, b[off:]), nil
}

// NewSenderBound is NewSender with a distribution id that names its owner instead of a
// random one:
//
//	id = SHA-256("petrel_v1_skid\x00" ‖ owner ‖ signing public key)[:16]
//
// owner is the caller's unambiguous encoding of whose chain it is (the node's: group id
// and sender). A receiver that knows who sent a distribution checks BoundTo, so no one can
// announce a chain under an id that names another sender's chain.
func NewSenderBound(owner []byte) (*SenderState, error) {
	s, err := NewSender()
	if err != nil {
		return nil, err
	}
	s.id = BoundID(owner, s.sigPriv.Public().(ed25519.PublicKey))
	return s, nil
}

// BoundID is the distribution id of a chain of owner with signing key pub (NewSenderBound).
func BoundID(owner []byte, pub ed25519.PublicKey) DistributionID {
	h := sha256.New()
	h.Write([]byte(boundIDLabel))
	h.Write(owner)
	h.Write(pub)
	var id DistributionID
	copy(id[:], h.Sum(nil))
	return id
}

// BoundTo reports whether the distribution's id is bound to owner and to its signing key.
func (d *Distribution) BoundTo(owner []byte) bool {
	id := BoundID(owner, d.sigPub[:])
	return subtle.ConstantTimeCompare(id[:], d.id[:]) == 1
}

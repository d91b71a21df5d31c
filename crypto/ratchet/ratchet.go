package ratchet

import (
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/internal/kdf"
	"golang.org/x/crypto/chacha20poly1305"
)

// Specification constants. Changing any of them changes the protocol.
const (
	// Version is the message header version.
	Version = 0x01
	// HeaderSize is the size of a header without extensions:
	// version (1) ‖ flags (1) ‖ ratchet public key (32) ‖ PN (4) ‖ N (4) ‖ ext len (2).
	HeaderSize = 1 + 1 + kdf.X25519Size + 4 + 4 + 2
	// ADTag opens the associated data of every message.
	ADTag = "petrel_v1_Message\x00"
	// MaxSkip is MAX_SKIP: the most message keys one chain may skip in one
	// step, checked before any KDF work.
	MaxSkip = 1000
	// MaxSkippedKeys bounds the stored skipped message keys; the oldest are
	// evicted first.
	MaxSkippedKeys = 2000
	// MaxReceiverChains bounds the receiving chains (the current one and
	// previous ones) whose skipped keys are kept.
	MaxReceiverChains = 5
	// Overhead is the AEAD tag size.
	Overhead = chacha20poly1305.Overhead
)

// Implementation constants.
const (
	// MaxExtensionSize bounds the header extensions a receiver accepts.
	MaxExtensionSize = 4096
	// MaxPlaintextSize bounds one message's plaintext; attachments travel
	// separately.
	MaxPlaintextSize = 1 << 20
	// minPadded is the smallest padded plaintext size.
	minPadded = 256
)

var (
	// ErrMalformed reports bytes that are not a valid encoding.
	ErrMalformed = errors.New("ratchet: malformed")
	// ErrDecrypt reports a message that failed authentication: tampered,
	// for another session, or with altered associated data.
	ErrDecrypt = errors.New("ratchet: message authentication failed")
	// ErrReplay reports a message whose key was already used (a replay or
	// duplicate) or discarded (evicted, or its chain dropped).
	ErrReplay = errors.New("ratchet: replayed or expired message")
	// ErrTooManySkipped reports a message that would skip more than MaxSkip
	// keys in one chain.
	ErrTooManySkipped = errors.New("ratchet: too many skipped messages")
	// ErrInvalidKey reports a malformed or low-order ratchet public key.
	ErrInvalidKey = kdf.ErrInvalidX25519
	// ErrNoSendingChain reports Encrypt on a responder state that has not yet
	// decrypted a message.
	ErrNoSendingChain = errors.New("ratchet: no sending chain yet")
	// ErrTooLarge reports a plaintext over MaxPlaintextSize.
	ErrTooLarge = errors.New("ratchet: plaintext too large")
)

// Params identify a session: its suite and both identity keys
// (identity.PublicIdentity.Key), initiator first.
type Params struct {
	Suite        byte
	InitiatorKey [identity.KeySize]byte
	ResponderKey [identity.KeySize]byte
}

// core is the fixed-size part of the state; Decrypt works on a copy of it
// and commits the copy only once the message has authenticated.
type core struct {
	dhs    *ecdh.PrivateKey // DHs: our ratchet key pair (immutable object)
	dhsPub [kdf.X25519Size]byte
	dhr    [kdf.X25519Size]byte // DHr: their ratchet public key
	hasDHr bool
	rk     [kdf.KeySize]byte // RK
	cks    [kdf.KeySize]byte // CKs
	ckr    [kdf.KeySize]byte // CKr
	hasCKs bool
	hasCKr bool
	ns     uint32 // Ns
	nr     uint32 // Nr
	pn     uint32 // PN
}

type skipID struct {
	dh [kdf.X25519Size]byte
	n  uint32
}

type skippedKey struct {
	id skipID
	mk [kdf.KeySize]byte
}

// State is one side of a Double Ratchet session. It is not safe for
// concurrent use. Create it with pqxdh.Initiate / pqxdh.Respond (or
// NewInitiator / NewResponder) or Unmarshal.
type State struct {
	initiator bool
	params    Params
	adPrefix  []byte // ADTag ‖ suite ‖ initiator key ‖ responder key
	c         core
	// prev lists the ratchet keys of previous receiving chains, oldest
	// first; with the current one at most MaxReceiverChains.
	prev [][kdf.X25519Size]byte
	// skipped holds MKSKIPPED; order remembers insertion order for eviction
	// (entries no longer in skipped are stale and ignored).
	skipped map[skipID][kdf.KeySize]byte
	order   []skipID
	// genKey is GENERATE_DH; nil means crypto/rand. Tests set it to replay
	// recorded keys.
	genKey func() (*ecdh.PrivateKey, error)
}

func newState(p Params, initiator bool) *State {
	s := &State{initiator: initiator, params: p, skipped: map[skipID][kdf.KeySize]byte{}}
	s.adPrefix = make([]byte, 0, len(ADTag)+1+2*identity.KeySize)
	s.adPrefix = append(s.adPrefix, ADTag...)
	s.adPrefix = append(s.adPrefix, p.Suite)
	s.adPrefix = append(s.adPrefix, p.InitiatorKey[:]...)
	s.adPrefix = append(s.adPrefix, p.ResponderKey[:]...)
	return s
}

// Clone returns an independent copy of s: advancing one does not advance the other. (It
// costs a few copies, where Unmarshal(s.Marshal()) would also derive the public half of
// DHs, an X25519 scalar multiplication.) Both copies hold the same secrets: keep a clone
// no longer than the state it was taken from, or forward secrecy suffers.
func (s *State) Clone() *State {
	c := *s
	c.adPrefix = slices.Clone(s.adPrefix)
	c.prev = slices.Clone(s.prev)
	c.skipped = maps.Clone(s.skipped)
	if c.skipped == nil {
		c.skipped = map[skipID][kdf.KeySize]byte{}
	}
	c.order = slices.Clone(s.order)
	return &c
}

func (s *State) generateDH() (*ecdh.PrivateKey, error) {
	if s.genKey != nil {
		return s.genKey()
	}
	return ecdh.X25519().GenerateKey(rand.Reader)
}

// NewInitiator is RatchetInitAlice: sk is the handshake secret and
// theirRatchetKey the responder's signed prekey. It sets up the sending chain
// at once, so the initiator can Encrypt immediately.
func NewInitiator(p Params, sk *[kdf.KeySize]byte, theirRatchetKey []byte) (*State, error) {
	return newInitiator(p, sk, theirRatchetKey, nil)
}

func newInitiator(p Params, sk *[kdf.KeySize]byte, theirRatchetKey []byte, gen func() (*ecdh.PrivateKey, error)) (*State, error) {
	pub, err := kdf.ParseX25519(theirRatchetKey)
	if err != nil {
		return nil, fmt.Errorf("ratchet: %w", err)
	}
	s := newState(p, true)
	s.genKey = gen
	// state.DHs = GENERATE_DH(); state.DHr = bob_dh_public_key
	if s.c.dhs, err = s.generateDH(); err != nil {
		return nil, fmt.Errorf("ratchet: %w", err)
	}
	copy(s.c.dhsPub[:], s.c.dhs.PublicKey().Bytes())
	copy(s.c.dhr[:], theirRatchetKey)
	s.c.hasDHr = true
	// state.RK, state.CKs = KDF_RK(SK, DH(state.DHs, state.DHr))
	dh, err := kdf.DH(s.c.dhs, pub)
	if err != nil {
		return nil, fmt.Errorf("ratchet: %w", err)
	}
	s.c.rk, s.c.cks, err = kdf.KDFRK(sk, dh)
	clear(dh)
	if err != nil {
		return nil, err
	}
	s.c.hasCKs = true
	return s, nil
}

// NewResponder is RatchetInitBob: sk is the handshake secret and
// ourRatchetKey the signed prekey pair the initiator used. The responder can
// Encrypt only after it has decrypted the initiator's first message.
func NewResponder(p Params, sk *[kdf.KeySize]byte, ourRatchetKey *ecdh.PrivateKey) (*State, error) {
	if ourRatchetKey == nil || ourRatchetKey.Curve() != ecdh.X25519() {
		return nil, fmt.Errorf("ratchet: %w: responder key", ErrInvalidKey)
	}
	s := newState(p, false)
	// state.DHs = bob_dh_key_pair; state.RK = SK
	s.c.dhs = ourRatchetKey
	copy(s.c.dhsPub[:], ourRatchetKey.PublicKey().Bytes())
	s.c.rk = *sk
	return s, nil
}

// IsInitiator reports whether this side started the session.
func (s *State) IsInitiator() bool { return s.initiator }

// Params returns the session's suite and identity keys.
func (s *State) Params() Params { return s.params }

// HasReceived reports whether this side has decrypted at least one message
// from the peer. Until then an initiator should keep attaching the PQXDH
// initial message to what it sends.
func (s *State) HasReceived() bool { return s.c.hasCKr }

// Encrypt is RatchetEncrypt: it pads and encrypts plaintext and returns
// header ‖ ciphertext. The state advances before Encrypt returns; persist it
// (Marshal) before sending the message so a crash can never reuse a key.
func (s *State) Encrypt(plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintextSize {
		return nil, ErrTooLarge
	}
	if !s.c.hasCKs {
		return nil, ErrNoSendingChain
	}
	if s.c.ns == math.MaxUint32 {
		return nil, fmt.Errorf("%w: sending chain exhausted", ErrTooManySkipped)
	}
	// state.CKs, mk = KDF_CK(state.CKs)
	cks, mk := kdf.KDFCK(&s.c.cks)
	// header = HEADER(state.DHs, state.PN, state.Ns)
	h := header{version: Version, dh: s.c.dhsPub, pn: s.c.pn, n: s.c.ns}
	padded := paddedSize(len(plaintext))
	out := make([]byte, 0, HeaderSize+padded+Overhead)
	out = appendHeader(out, &h)
	hlen := len(out)
	out = append(out, plaintext...)
	out = append(out, 0x80)
	out = out[:hlen+padded] // the rest of the bucket is already zero
	// ENCRYPT(mk, plaintext, CONCAT(AD, header))
	out, err := s.seal(&mk, out, hlen)
	if err != nil {
		return nil, err
	}
	// Commit: state.Ns += 1
	s.c.cks = cks
	s.c.ns++
	clear(cks[:])
	return out, nil
}

// seal encrypts buf[hlen:] in place with associated data adPrefix ‖ buf[:hlen]
// (returning buf extended by the tag) and zeroes mk.
func (s *State) seal(mk *[kdf.KeySize]byte, buf []byte, hlen int) ([]byte, error) {
	key, nonce, err := kdf.MessageKeys(mk)
	clear(mk[:])
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.New(key[:])
	clear(key[:])
	if err != nil {
		return nil, fmt.Errorf("ratchet: %w", err)
	}
	ad := s.associatedData(buf[:hlen])
	return aead.Seal(buf[:hlen], nonce[:], buf[hlen:], ad), nil
}

// open decrypts ct with associated data adPrefix ‖ hdr, removes the padding
// and zeroes mk.
func (s *State) open(mk *[kdf.KeySize]byte, hdr, ct []byte) ([]byte, error) {
	key, nonce, err := kdf.MessageKeys(mk)
	clear(mk[:])
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.New(key[:])
	clear(key[:])
	if err != nil {
		return nil, fmt.Errorf("ratchet: %w", err)
	}
	pt, err := aead.Open(nil, nonce[:], ct, s.associatedData(hdr))
	if err != nil {
		return nil, ErrDecrypt
	}
	return unpad(pt)
}

func (s *State) associatedData(hdr []byte) []byte {
	ad := make([]byte, 0, len(s.adPrefix)+len(hdr))
	ad = append(ad, s.adPrefix...)
	return append(ad, hdr...)
}

// Wipe zeroes the state's keys. The State must not be used afterwards. (The
// ratchet private key lives inside crypto/ecdh and cannot be zeroed.)
func (s *State) Wipe() {
	clear(s.c.rk[:])
	clear(s.c.cks[:])
	clear(s.c.ckr[:])
	for id := range s.skipped {
		s.skipped[id] = [kdf.KeySize]byte{}
	}
	clear(s.skipped)
	s.order = nil
	s.c = core{}
}

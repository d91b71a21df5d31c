package senderkey

import "errors"

// Specification constants: changing any of these changes the wire format or the keys
// derived, so they move only with a new Version.
const (
	// Version is the first byte of every group message and distribution message.
	Version = 0x01
	// Suite is the second byte: 0x01 is HMAC-SHA-256 chain, HKDF-SHA-256,
	// ChaCha20-Poly1305 and Ed25519 (suite 0x01, docs/PROTOCOL.md).
	Suite = 0x01

	// infoMessageKeys is the HKDF info expanding a message key into key ‖ nonce.
	infoMessageKeys = "petrel_v1_SenderKey"
	// sigPrefix is the domain prefix of every group message signature.
	sigPrefix = "petrel_v1_sig_group\x00"
	// boundIDLabel is the hash label of a distribution id bound to its owner (NewSenderBound).
	boundIDLabel = "petrel_v1_skid\x00"

	// messageKeySeed and chainKeySeed are the HMAC inputs of the chain KDF (DR §5.2).
	messageKeySeed = 0x01
	chainKeySeed   = 0x02

	// MaxSkip is how far ahead of the next expected iteration a message may be. It is
	// checked before any KDF work, so a hostile iteration costs one signature check.
	MaxSkip = 1000
	// MaxSkippedKeys caps the message keys stored per chain for late messages; the oldest
	// are evicted first.
	MaxSkippedKeys = 2000
	// MaxChains is how many chains a ReceiverState keeps: the newest, plus the one it
	// replaced so that messages already in flight at a rotation still decrypt.
	MaxChains = 2

	// IDSize is the size of a DistributionID.
	IDSize = 16

	chainKeySize   = 32
	messageKeySize = 32
	aeadKeySize    = 32
	aeadNonceSize  = 12
	tagSize        = 16
	sigSize        = 64
	pubKeySize     = 32
	seedSize       = 32

	// headerSize is version ‖ suite ‖ id ‖ iteration.
	headerSize = 2 + IDSize + 4
	// minMessageSize is a header, an empty plaintext's tag and a signature.
	minMessageSize = headerSize + tagSize + sigSize
	// distributionSize is version ‖ suite ‖ id ‖ iteration ‖ chain key ‖ signing key.
	distributionSize = 2 + IDSize + 4 + chainKeySize + pubKeySize
)

// Implementation constants: formats of our own serialized state, not seen by peers.
const (
	stateVersion      = 0x01
	stateKindSender   = 'S'
	stateKindReceiver = 'R'
	senderStateSize   = 2 + IDSize + 4 + chainKeySize + seedSize
	// maxIteration is never used for a message: a chain whose next iteration is
	// maxIteration is exhausted and must be rotated.
	maxIteration = ^uint32(0)
)

// Errors a caller can branch on. They are returned wrapped; use errors.Is.
var (
	// ErrMalformed: the bytes are not a well-formed message, distribution or state.
	ErrMalformed = errors.New("senderkey: malformed input")
	// ErrUnsupported: a version or suite this package does not speak.
	ErrUnsupported = errors.New("senderkey: unsupported version or suite")
	// ErrUnknownChain: no chain with the message's distribution id is held.
	ErrUnknownChain = errors.New("senderkey: unknown distribution id")
	// ErrBadSignature: the message is not signed by the chain's signing key.
	ErrBadSignature = errors.New("senderkey: bad signature")
	// ErrDuplicate: the iteration was already decrypted (or its key was evicted).
	ErrDuplicate = errors.New("senderkey: duplicate iteration")
	// ErrTooFarAhead: the iteration is more than MaxSkip past the next expected one.
	ErrTooFarAhead = errors.New("senderkey: iteration too far ahead")
	// ErrDecrypt: the AEAD refused the ciphertext although the signature was valid.
	ErrDecrypt = errors.New("senderkey: decryption failed")
	// ErrChainExhausted: the chain reached its last iteration; rotate it.
	ErrChainExhausted = errors.New("senderkey: chain exhausted, rotate")
	// ErrChainConflict: a distribution reuses a held distribution id with another key.
	ErrChainConflict = errors.New("senderkey: distribution id reused with another key")
)

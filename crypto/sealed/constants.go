package sealed

import "errors"

// Specification constants: changing any of these changes the wire format or the keys
// derived, so they move only with a new Version.
const (
	// Version is the first byte of an envelope.
	Version = 0x01
	// Suite is the second byte: 0x01 is X25519, HKDF-SHA-256, ChaCha20-Poly1305, Ed25519.
	Suite = 0x01

	// infoSealed starts the HKDF info; both public keys follow it.
	infoSealed = "petrel_v1_Sealed"
	// sigPrefix is the domain prefix of the sender's signature.
	sigPrefix = "petrel_v1_sig_sealed\x00"

	// MaxMailboxIDSize is the longest mailbox id (its length is one byte; 0 is refused).
	MaxMailboxIDSize = 255
	// MinPaddedSize is the smallest padded inner plaintext; below StepPaddedSize padded
	// sizes are powers of two, above it multiples of StepPaddedSize.
	MinPaddedSize  = 256
	StepPaddedSize = 64 << 10
	// MaxPaddedSize bounds the padded inner plaintext, and so the envelope.
	MaxPaddedSize = 4 << 20
	// MaxPayloadSize is the largest payload Seal accepts.
	MaxPayloadSize = MaxPaddedSize - innerOverhead

	keySize       = 32 // X25519 and Ed25519 public keys
	sigSize       = 64
	tagSize       = 16
	aeadKeySize   = 32
	aeadNonceSize = 12
	// prefixSize is version ‖ suite ‖ mailbox id length; the mailbox id and the
	// ephemeral key follow.
	prefixSize = 3
	// innerOverhead is sender signing key ‖ sender DH key ‖ signature ‖ payload length.
	innerOverhead = keySize + keySize + sigSize + 4
)

// Errors a caller can branch on. They are returned wrapped; use errors.Is.
var (
	// ErrMalformed: the envelope's outer layout is wrong.
	ErrMalformed = errors.New("sealed: malformed envelope")
	// ErrUnsupported: a version or suite this package does not speak.
	ErrUnsupported = errors.New("sealed: unsupported version or suite")
	// ErrOpen: the envelope does not open with this key: it was sealed to another
	// recipient, tampered with, or carries a low-order ephemeral key.
	ErrOpen = errors.New("sealed: cannot open envelope")
	// ErrBadSender: the envelope opened but its sender signature does not verify, so the
	// claimed sender did not seal it for this recipient.
	ErrBadSender = errors.New("sealed: sender signature invalid")
	// ErrInvalidKey: a key of the wrong type or size, or a low-order X25519 key.
	ErrInvalidKey = errors.New("sealed: invalid key")
	// ErrTooLarge: the payload or the mailbox id exceeds its limit.
	ErrTooLarge = errors.New("sealed: too large")
)

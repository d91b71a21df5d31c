package sealed

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"

	"github.com/petrel-chat/petrel/crypto/identity"
	"golang.org/x/crypto/chacha20poly1305"
)

// Shared envelopes: one payload for many recipients, encrypted once. The body is
// encrypted under a fresh random key K; each recipient gets K, and the body's hash, inside
// an ordinary envelope sealed to them (the header). No new primitive: the header is this
// package's envelope, the body one ChaCha20-Poly1305 seal under a key derived from K.
//
//	body    = 0x01 (version) ‖ 0x01 (suite) ‖ AEAD(k, n, padded, ad = 0x01 ‖ 0x01)
//	          k ‖ n  = HKDF-SHA-256(ikm = K, salt = 0^32, info = "petrel_v1_SharedBody", 44)
//	          padded = payload length (4) ‖ payload ‖ zeros, to the envelope padding buckets
//	header  = an envelope (Seal) for the recipient's mailbox whose payload is
//	          0x01 ‖ K (32) ‖ SHA-256(body) (32)
//	shared  = 0x02 (version) ‖ 0x01 (suite) ‖ header length (2) ‖ header ‖ body
//
// The header's sender signature covers SHA-256 of its payload, so of SHA-256(body): the
// sender authenticates the exact body to each recipient, and a recipient (who knows K)
// cannot pass another body off under someone else's header. ChaCha20-Poly1305 does not
// commit to its key; the signed hash does. K is random per body and seals one message,
// so the derived nonce never repeats.
const (
	// SharedVersion is the first byte of a shared envelope (a plain envelope has Version).
	SharedVersion = 0x02
	// bodyVersion and keyVersion version the body and the header's payload.
	bodyVersion = 0x01
	keyVersion  = 0x01
	// infoSharedBody is the HKDF info that derives the body's AEAD key and nonce from K.
	infoSharedBody = "petrel_v1_SharedBody"

	sharedKeySize = 32
	// keyPayloadSize is the header's payload: version ‖ K ‖ SHA-256(body).
	keyPayloadSize = 1 + sharedKeySize + sha256.Size
	// sharedPrefix is version ‖ suite ‖ header length.
	sharedPrefix = 4
	// bodyPrefix is the body's version ‖ suite.
	bodyPrefix = 2
	// MinBodySize is the smallest body: the smallest bucket and the tag.
	MinBodySize = bodyPrefix + MinPaddedSize + tagSize
	// MaxBodySize is the largest body.
	MaxBodySize = bodyPrefix + MaxPaddedSize + tagSize
	// MaxSharedPayloadSize is the largest payload SealBody accepts.
	MaxSharedPayloadSize = MaxPaddedSize - 4
)

// HeaderSize is the length of a header for a mailbox id of n bytes (every header for that
// length is the same size).
func HeaderSize(mailboxIDLen int) int { return Size(mailboxIDLen, keyPayloadSize) }

// BodySize is the length of the body SealBody produces for a payload of n bytes.
func BodySize(payloadLen int) int { return bodyPrefix + paddedSize(4+payloadLen) + tagSize }

// SharedSize is the length of the shared envelope that joins a header and a body.
func SharedSize(headerLen, bodyLen int) int { return sharedPrefix + headerLen + bodyLen }

// A SharedBody is a payload encrypted once, and the key that recipients' headers carry.
// Destroy it once every header is sealed.
type SharedBody struct {
	key  [sharedKeySize]byte
	body []byte
	hash [sha256.Size]byte
}

// SealBody encrypts payload once under a fresh random key.
func SealBody(payload []byte) (*SharedBody, error) {
	if len(payload) > MaxSharedPayloadSize {
		return nil, fmt.Errorf("%w: payload of %d bytes", ErrTooLarge, len(payload))
	}
	var key [sharedKeySize]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("sealed: shared key: %w", err)
	}
	return sealBody(key, payload)
}

// sealBody is SealBody under a given key (the known-answer vectors fix it).
func sealBody(key [sharedKeySize]byte, payload []byte) (*SharedBody, error) {
	s := &SharedBody{key: key}
	aead, nonce, err := bodyAEAD(s.key[:])
	if err != nil {
		return nil, err
	}
	padded := make([]byte, 4, paddedSize(4+len(payload)))
	binary.BigEndian.PutUint32(padded, uint32(len(payload)))
	padded = append(padded, payload...)
	padded = padded[:cap(padded)]
	ad := []byte{bodyVersion, Suite}
	body := make([]byte, 0, bodyPrefix+len(padded)+tagSize)
	body = append(body, ad...)
	s.body = aead.Seal(body, nonce, padded, ad)
	clear(padded)
	s.hash = sha256.Sum256(s.body)
	return s, nil
}

// Body returns the encrypted body, the part stored once for every recipient.
func (s *SharedBody) Body() []byte { return s.body }

// HeaderFrom seals the body's key and hash from sender to recipient, for mailbox: an
// ordinary envelope (SealFrom), so only the recipient learns the sender.
func (s *SharedBody) HeaderFrom(mailbox []byte, recipient *identity.PublicIdentity, sender *identity.Identity) ([]byte, error) {
	p := make([]byte, 0, keyPayloadSize)
	p = append(p, keyVersion)
	p = append(p, s.key[:]...)
	p = append(p, s.hash[:]...)
	h, err := SealFrom(mailbox, recipient, sender, p)
	clear(p)
	return h, err
}

// Destroy zeroes the key.
func (s *SharedBody) Destroy() { clear(s.key[:]) }

func bodyAEAD(key []byte) (cipher.AEAD, []byte, error) {
	okm, err := hkdf.Key(sha256.New, key, make([]byte, sha256.Size), infoSharedBody, aeadKeySize+aeadNonceSize)
	if err != nil {
		return nil, nil, fmt.Errorf("sealed: hkdf: %w", err)
	}
	aead, err := chacha20poly1305.New(okm[:aeadKeySize])
	clear(okm[:aeadKeySize])
	if err != nil {
		return nil, nil, fmt.Errorf("sealed: aead: %w", err)
	}
	return aead, okm[aeadKeySize:], nil
}

// ParseBody checks what a relay can check of a body: version, suite and a length a body
// can have. It does no cryptography.
func ParseBody(body []byte) error {
	if len(body) < bodyPrefix {
		return fmt.Errorf("%w: body of %d bytes", ErrMalformed, len(body))
	}
	if body[0] != bodyVersion || body[1] != Suite {
		return fmt.Errorf("%w: body version %#x suite %#x", ErrUnsupported, body[0], body[1])
	}
	if len(body) < MinBodySize || len(body) > MaxBodySize {
		return fmt.Errorf("%w: body of %d bytes", ErrMalformed, len(body))
	}
	return nil
}

// JoinShared builds the shared envelope a recipient fetches from its header and the body.
func JoinShared(header, body []byte) []byte {
	out := make([]byte, 0, SharedSize(len(header), len(body)))
	out = append(out, SharedVersion, Suite)
	out = binary.BigEndian.AppendUint16(out, uint16(len(header)))
	out = append(out, header...)
	return append(out, body...)
}

// IsShared reports whether an envelope is a shared one (by its version byte).
func IsShared(envelope []byte) bool { return len(envelope) > 0 && envelope[0] == SharedVersion }

// SplitShared cuts a shared envelope into its header and body (aliasing it), checking
// the layout (ParseHeader, ParseBody) but doing no cryptography.
func SplitShared(envelope []byte) (header, body []byte, err error) {
	if len(envelope) < sharedPrefix {
		return nil, nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(envelope))
	}
	if envelope[0] != SharedVersion || envelope[1] != Suite {
		return nil, nil, fmt.Errorf("%w: version %#x suite %#x", ErrUnsupported, envelope[0], envelope[1])
	}
	n := int(binary.BigEndian.Uint16(envelope[2:]))
	if len(envelope) < sharedPrefix+n {
		return nil, nil, fmt.Errorf("%w: header of %d bytes in %d", ErrMalformed, n, len(envelope))
	}
	header, body = envelope[sharedPrefix:sharedPrefix+n], envelope[sharedPrefix+n:]
	if _, err := ParseHeader(header); err != nil {
		return nil, nil, err
	}
	if err := ParseBody(body); err != nil {
		return nil, nil, err
	}
	return header, body, nil
}

// OpenSharedFor opens a shared envelope with recipient's identity: the header opens and
// authenticates the sender (as OpenFor), the body must hash to what the sender signed,
// then it decrypts. The result is as OpenFor's: the sender's keys and the payload.
func OpenSharedFor(envelope []byte, recipient *identity.Identity) (*Opened, error) {
	header, body, err := SplitShared(envelope)
	if err != nil {
		return nil, err
	}
	o, err := OpenFor(header, recipient)
	if err != nil {
		return nil, err
	}
	p := o.Payload
	if len(p) != keyPayloadSize || p[0] != keyVersion {
		return nil, fmt.Errorf("%w: shared header payload of %d bytes", ErrOpen, len(p))
	}
	sum := sha256.Sum256(body)
	if subtle.ConstantTimeCompare(sum[:], p[1+sharedKeySize:]) != 1 {
		return nil, fmt.Errorf("%w: the body is not the one the sender signed", ErrOpen)
	}
	aead, nonce, err := bodyAEAD(p[1 : 1+sharedKeySize])
	clear(p)
	if err != nil {
		return nil, err
	}
	padded, err := aead.Open(nil, nonce, body[bodyPrefix:], body[:bodyPrefix])
	if err != nil {
		return nil, ErrOpen
	}
	n := binary.BigEndian.Uint32(padded)
	rest := padded[4:]
	if uint64(n) > uint64(len(rest)) || paddedSize(4+int(n)) != len(padded) {
		return nil, fmt.Errorf("%w: body payload length %d in %d bytes", ErrOpen, n, len(padded))
	}
	for _, b := range rest[n:] {
		if b != 0 {
			return nil, fmt.Errorf("%w: non-zero body padding", ErrOpen)
		}
	}
	o.Payload = rest[:n:n]
	return o, nil
}

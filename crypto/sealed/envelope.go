package sealed

import (
	"fmt"
)

// A Header is the part of an envelope a relay reads: where to deliver it. Everything
// after the mailbox id is opaque to the relay.
type Header struct {
	Version byte
	Suite   byte
	// Mailbox is the recipient's mailbox id, as the sender was given it. It aliases the
	// envelope.
	Mailbox []byte
}

// ParseHeader reads an envelope's version, suite and mailbox id, and checks that the
// rest is long enough to be an ephemeral key and a ciphertext. It does no cryptography.
//
//	version (1) ‖ suite (1) ‖ mailbox id length (1) ‖ mailbox id ‖
//	ephemeral X25519 public key (32) ‖ ciphertext (≥ MinPaddedSize + 16)
func ParseHeader(envelope []byte) (*Header, error) {
	if len(envelope) < prefixSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(envelope))
	}
	if envelope[0] != Version || envelope[1] != Suite {
		return nil, fmt.Errorf("%w: version %#x suite %#x", ErrUnsupported, envelope[0], envelope[1])
	}
	n := int(envelope[2])
	if n == 0 {
		return nil, fmt.Errorf("%w: empty mailbox id", ErrMalformed)
	}
	if len(envelope) < prefixSize+n+keySize+MinPaddedSize+tagSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(envelope))
	}
	return &Header{Version: envelope[0], Suite: envelope[1], Mailbox: envelope[prefixSize : prefixSize+n]}, nil
}

// split cuts a parsed envelope into associated data (everything up to and including
// the ephemeral key), the ephemeral key and the ciphertext.
func split(envelope []byte, h *Header) (ad, eph, ciphertext []byte) {
	end := prefixSize + len(h.Mailbox) + keySize
	return envelope[:end], envelope[end-keySize : end], envelope[end:]
}

// paddedSize is the bucket an inner plaintext of n bytes is padded to: the next power of
// two from MinPaddedSize up to StepPaddedSize, then the next multiple of StepPaddedSize.
func paddedSize(n int) int {
	if n <= MinPaddedSize {
		return MinPaddedSize
	}
	if n <= StepPaddedSize {
		p := MinPaddedSize
		for p < n {
			p <<= 1
		}
		return p
	}
	return (n + StepPaddedSize - 1) / StepPaddedSize * StepPaddedSize
}

// Size returns the length of the envelope Seal produces for a mailbox id and a payload
// of the given lengths, so that a caller can check a quota before sealing.
func Size(mailboxIDLen, payloadLen int) int {
	return prefixSize + mailboxIDLen + keySize + paddedSize(innerOverhead+payloadLen) + tagSize
}

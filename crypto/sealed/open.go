package sealed

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
)

// An Opened envelope: the payload and the sender's identity public keys, authenticated
// by the sender's signature over this envelope.
type Opened struct {
	// SenderSigningKey is the sender's Ed25519 identity key, which signed the envelope.
	SenderSigningKey ed25519.PublicKey
	// SenderDHKey is the sender's X25519 identity key, as the sender signed it. The
	// caller checks that it belongs to SenderSigningKey's identity.
	SenderDHKey *ecdh.PublicKey
	Payload     []byte
}

// Open opens an envelope sealed to recipient. It refuses (ErrOpen) an envelope sealed
// to another key, any tampered byte and a low-order ephemeral key, and (ErrBadSender) an
// inner signature that does not bind the claimed sender to this envelope.
func Open(envelope []byte, recipient *ecdh.PrivateKey) (*Opened, error) {
	if recipient == nil || recipient.Curve() != ecdh.X25519() {
		return nil, fmt.Errorf("%w: recipient key is not X25519", ErrInvalidKey)
	}
	return openWith(envelope, recipient.PublicKey().Bytes(), recipient.ECDH)
}

// openWith is Open with the recipient's X25519 operation given as dh, for a private key
// held elsewhere (an identity). dh must refuse a low-order key (all-zero output).
func openWith(envelope, recipientPub []byte, dh func(*ecdh.PublicKey) ([]byte, error)) (*Opened, error) {
	h, err := ParseHeader(envelope)
	if err != nil {
		return nil, err
	}
	ad, ephBytes, ciphertext := split(envelope, h)
	if len(ciphertext) > MaxPaddedSize+tagSize {
		return nil, fmt.Errorf("%w: ciphertext of %d bytes", ErrTooLarge, len(ciphertext))
	}
	eph, err := ecdh.X25519().NewPublicKey(ephBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral key: %w", ErrOpen, err)
	}
	shared, err := dh(eph) // all-zero output (low-order eph) is an error
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral key: %w", ErrOpen, err)
	}
	aead, nonce, err := envelopeAEAD(shared, ephBytes, recipientPub)
	if err != nil {
		return nil, err
	}
	inner, err := aead.Open(nil, nonce, ciphertext, ad)
	if err != nil {
		return nil, ErrOpen
	}
	return openInner(inner, recipientPub, ephBytes)
}

// openInner parses and authenticates the inner plaintext:
//
//	sender Ed25519 key (32) ‖ sender X25519 key (32) ‖ signature (64) ‖
//	payload length (4) ‖ payload ‖ zero padding to paddedSize
func openInner(inner, recipientPub, ephPub []byte) (*Opened, error) {
	if len(inner) < innerOverhead {
		return nil, fmt.Errorf("%w: inner of %d bytes", ErrOpen, len(inner))
	}
	signing := inner[:keySize]
	dh := inner[keySize : 2*keySize]
	sig := inner[2*keySize : 2*keySize+sigSize]
	n := binary.BigEndian.Uint32(inner[innerOverhead-4:])
	rest := inner[innerOverhead:]
	if uint64(n) > uint64(len(rest)) || paddedSize(innerOverhead+int(n)) != len(inner) {
		return nil, fmt.Errorf("%w: payload length %d in %d bytes", ErrOpen, n, len(inner))
	}
	payload, padding := rest[:n], rest[n:]
	for _, b := range padding {
		if b != 0 {
			return nil, fmt.Errorf("%w: non-zero padding", ErrOpen)
		}
	}
	if !ed25519.Verify(signing, signedBytes(recipientPub, ephPub, dh, payload), sig) {
		return nil, ErrBadSender
	}
	dhKey, err := ecdh.X25519().NewPublicKey(dh)
	if err != nil {
		return nil, fmt.Errorf("%w: sender X25519 key: %w", ErrBadSender, err)
	}
	return &Opened{
		SenderSigningKey: ed25519.PublicKey(append([]byte(nil), signing...)),
		SenderDHKey:      dhKey,
		Payload:          payload[:len(payload):len(payload)], // aliases inner, a fresh buffer
	}, nil
}

package sealed

import (
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Seal seals payload for the holder of recipient, to be delivered to mailbox. The
// sender is identified by its Ed25519 identity key signer, which signs the envelope, and
// its X25519 identity public key senderDH, which the recipient gets back. Only the
// recipient learns who sent it; a relay sees the mailbox id and a padded length.
func Seal(mailbox []byte, recipient *ecdh.PublicKey, signer ed25519.PrivateKey, senderDH *ecdh.PublicKey, payload []byte) ([]byte, error) {
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sealed: ephemeral key: %w", err)
	}
	return seal(eph, mailbox, recipient, signer, senderDH, payload)
}

// seal is Seal with the ephemeral key given (known-answer vectors).
//
//	E               = the ephemeral key pair, R = the recipient's X25519 key
//	key ‖ nonce     = HKDF(X25519(E, R), 0^32, "petrel_v1_Sealed" ‖ E.pub ‖ R, 44)
//	signature       = Ed25519(signer, "petrel_v1_sig_sealed\x00" ‖ version ‖ suite ‖
//	                          R ‖ E.pub ‖ senderDH ‖ SHA-256(payload))
//	inner           = signer.pub ‖ senderDH ‖ signature ‖ len(payload) (4) ‖ payload ‖ 0…
//	ciphertext      = ChaCha20-Poly1305(key, nonce, inner, ad = outer header ‖ E.pub)
func seal(eph *ecdh.PrivateKey, mailbox []byte, recipient *ecdh.PublicKey, signer ed25519.PrivateKey, senderDH *ecdh.PublicKey, payload []byte) ([]byte, error) {
	if len(signer) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: signing key of %d bytes", ErrInvalidKey, len(signer))
	}
	sign := func(msg []byte) []byte { return ed25519.Sign(signer, append([]byte(sigPrefix), msg...)) }
	return sealWith(eph, mailbox, recipient, signer.Public().(ed25519.PublicKey), sign, senderDH, payload)
}

// sealWith is seal with the signature made by sign, which signs sigPrefix ‖ msg with
// the key whose public half is signerPub (the sender's identity key, held elsewhere).
func sealWith(eph *ecdh.PrivateKey, mailbox []byte, recipient *ecdh.PublicKey, signerPub ed25519.PublicKey, sign func(msg []byte) []byte, senderDH *ecdh.PublicKey, payload []byte) ([]byte, error) {
	switch {
	case len(mailbox) == 0:
		return nil, fmt.Errorf("%w: empty mailbox id", ErrMalformed)
	case len(mailbox) > MaxMailboxIDSize:
		return nil, fmt.Errorf("%w: mailbox id of %d bytes", ErrTooLarge, len(mailbox))
	case len(payload) > MaxPayloadSize:
		return nil, fmt.Errorf("%w: payload of %d bytes", ErrTooLarge, len(payload))
	case recipient == nil || recipient.Curve() != ecdh.X25519():
		return nil, fmt.Errorf("%w: recipient key is not X25519", ErrInvalidKey)
	case senderDH == nil || senderDH.Curve() != ecdh.X25519():
		return nil, fmt.Errorf("%w: sender key is not X25519", ErrInvalidKey)
	case len(signerPub) != ed25519.PublicKeySize:
		return nil, fmt.Errorf("%w: signing key of %d bytes", ErrInvalidKey, len(signerPub))
	}
	// A low-order recipient key makes X25519 output zero, which crypto/ecdh refuses.
	shared, err := eph.ECDH(recipient)
	if err != nil {
		return nil, fmt.Errorf("%w: recipient: %w", ErrInvalidKey, err)
	}
	ephPub := eph.PublicKey().Bytes()
	recipientPub := recipient.Bytes()
	aead, nonce, err := envelopeAEAD(shared, ephPub, recipientPub)
	if err != nil {
		return nil, err
	}
	senderDHPub := senderDH.Bytes()
	inner := make([]byte, 0, paddedSize(innerOverhead+len(payload))+tagSize)
	inner = append(inner, signerPub...)
	inner = append(inner, senderDHPub...)
	inner = append(inner, sign(signedBytes(recipientPub, ephPub, senderDHPub, payload)[len(sigPrefix):])...)
	inner = binary.BigEndian.AppendUint32(inner, uint32(len(payload)))
	inner = append(inner, payload...)
	inner = inner[:paddedSize(len(inner))] // zero padding: make zeroed the capacity

	env := make([]byte, 0, prefixSize+len(mailbox)+keySize+len(inner)+tagSize)
	env = append(env, Version, Suite, byte(len(mailbox)))
	env = append(env, mailbox...)
	env = append(env, ephPub...)
	ad := append([]byte(nil), env...) // cipher.AEAD: dst and additional data must not overlap
	env = aead.Seal(env, nonce, inner, ad)
	clear(inner)
	return env, nil
}

// envelopeAEAD derives the envelope's AEAD and nonce from the X25519 shared secret,
// binding both public keys:
//
//	key ‖ nonce = HKDF-SHA-256(shared, salt = 0^32, info = "petrel_v1_Sealed" ‖ E.pub ‖ R, 44)
//
// It wipes shared.
func envelopeAEAD(shared, ephPub, recipientPub []byte) (cipher.AEAD, []byte, error) {
	info := make([]byte, 0, len(infoSealed)+2*keySize)
	info = append(info, infoSealed...)
	info = append(info, ephPub...)
	info = append(info, recipientPub...)
	okm, err := hkdf.Key(sha256.New, shared, make([]byte, sha256.Size), string(info), aeadKeySize+aeadNonceSize)
	clear(shared)
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

// signedBytes is what the sender signs: the envelope's keys and the payload's hash, so
// that the signature cannot be lifted into an envelope for another recipient or with
// another payload, nor re-attributed to another X25519 key.
func signedBytes(recipientPub, ephPub, senderDHPub, payload []byte) []byte {
	h := sha256.Sum256(payload)
	b := make([]byte, 0, len(sigPrefix)+2+3*keySize+len(h))
	b = append(b, sigPrefix...)
	b = append(b, Version, Suite)
	b = append(b, recipientPub...)
	b = append(b, ephPub...)
	b = append(b, senderDHPub...)
	return append(b, h[:]...)
}

package senderkey

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// kdfCK is the symmetric-key ratchet step of DR §5.2:
//
//	mk  = HMAC-SHA-256(ck, 0x01)
//	ck' = HMAC-SHA-256(ck, 0x02)
func kdfCK(ck *[chainKeySize]byte) (next [chainKeySize]byte, mk [messageKeySize]byte) {
	h := hmac.New(sha256.New, ck[:])
	h.Write([]byte{messageKeySeed})
	h.Sum(mk[:0])
	h.Reset()
	h.Write([]byte{chainKeySeed})
	h.Sum(next[:0])
	return next, mk
}

// messageAEAD expands a message key: key ‖ nonce = HKDF(mk, salt = 0^32,
// "petrel_v1_SenderKey", 44). A message key is used for exactly one message, so the
// derived nonce is never reused under its key.
func messageAEAD(mk *[messageKeySize]byte) (aead cipher.AEAD, nonce []byte, err error) {
	okm, err := hkdf.Key(sha256.New, mk[:], nil, infoMessageKeys, aeadKeySize+aeadNonceSize)
	if err != nil {
		return nil, nil, fmt.Errorf("senderkey: hkdf: %w", err)
	}
	a, err := chacha20poly1305.New(okm[:aeadKeySize])
	clear(okm[:aeadKeySize])
	if err != nil {
		return nil, nil, fmt.Errorf("senderkey: aead: %w", err)
	}
	return a, okm[aeadKeySize:], nil
}

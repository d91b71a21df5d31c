package kdf

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// Specification constants. Changing any of them changes the protocol.
const (
	// InfoPQXDH768 is the PQXDH info string of suite 0x01
	// (X25519, SHA-256, ML-KEM-768).
	InfoPQXDH768 = "petrel_X25519_SHA-256_ML-KEM-768_v1"
	// InfoPQXDH1024 is reserved for suite 0x02 (X25519, SHA-256,
	// ML-KEM-1024). No code path uses it yet.
	InfoPQXDH1024 = "petrel_X25519_SHA-256_ML-KEM-1024_v1"
	// InfoRatchet is the info string of the root-key KDF (KDF_RK).
	InfoRatchet = "petrel_v1_Ratchet"
	// InfoMessageKeys is the info string that expands a message key into
	// an AEAD key and nonce.
	InfoMessageKeys = "petrel_v1_MessageKeys"

	// KeySize is the size of every root, chain, message and shared key.
	KeySize = 32
	// AEADKeySize and NonceSize are the ChaCha20-Poly1305 key and nonce sizes.
	AEADKeySize = 32
	NonceSize   = 12

	// chain-KDF constants (Double Ratchet §5.2).
	messageKeyConstant = 0x01
	chainKeyConstant   = 0x02
)

// PQXDH derives the shared secret SK of a PQXDH handshake:
//
//	SK = HKDF(0xFF×32 ‖ dhs[0] ‖ … ‖ dhs[n-1] ‖ ss, salt = 0×32, info, 32).
//
// The 0xFF prefix is the "F" of PQXDH §2.2 for curve X25519.
func PQXDH(info string, ss []byte, dhs ...[]byte) ([KeySize]byte, error) {
	var sk [KeySize]byte
	ikm := make([]byte, 0, 32+len(dhs)*32+len(ss))
	for range 32 {
		ikm = append(ikm, 0xFF)
	}
	for _, dh := range dhs {
		ikm = append(ikm, dh...)
	}
	ikm = append(ikm, ss...)
	var salt [sha256.Size]byte
	out, err := hkdf.Key(sha256.New, ikm, salt[:], info, KeySize)
	clear(ikm)
	if err != nil {
		return sk, fmt.Errorf("kdf: pqxdh: %w", err)
	}
	copy(sk[:], out)
	clear(out)
	return sk, nil
}

// KDFRK is KDF_RK(rk, dh_out) of the Double Ratchet: it returns the next
// root key and a new chain key.
func KDFRK(rk *[KeySize]byte, dhOut []byte) (newRK, ck [KeySize]byte, err error) {
	out, err := hkdf.Key(sha256.New, dhOut, rk[:], InfoRatchet, 2*KeySize)
	if err != nil {
		return newRK, ck, fmt.Errorf("kdf: KDF_RK: %w", err)
	}
	copy(newRK[:], out[:KeySize])
	copy(ck[:], out[KeySize:])
	clear(out)
	return newRK, ck, nil
}

// KDFCK is KDF_CK(ck) of the Double Ratchet: it returns the next chain key
// and the message key for the current step.
func KDFCK(ck *[KeySize]byte) (nextCK, mk [KeySize]byte) {
	h := hmac.New(sha256.New, ck[:])
	h.Write([]byte{messageKeyConstant})
	h.Sum(mk[:0])
	h.Reset()
	h.Write([]byte{chainKeyConstant})
	h.Sum(nextCK[:0])
	return nextCK, mk
}

// MessageKeys expands a message key into a ChaCha20-Poly1305 key and nonce.
func MessageKeys(mk *[KeySize]byte) (key [AEADKeySize]byte, nonce [NonceSize]byte, err error) {
	var salt [sha256.Size]byte
	out, err := hkdf.Key(sha256.New, mk[:], salt[:], InfoMessageKeys, AEADKeySize+NonceSize)
	if err != nil {
		return key, nonce, fmt.Errorf("kdf: message keys: %w", err)
	}
	copy(key[:], out[:AEADKeySize])
	copy(nonce[:], out[AEADKeySize:])
	clear(out)
	return key, nonce, nil
}

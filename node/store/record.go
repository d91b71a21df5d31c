package store

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Specification constants of record sealing (doc.go, "Records").
const (
	recordVersion  = 1
	recordNonceLen = chacha20poly1305.NonceSizeX // 24
	// recordOverhead is what sealing adds to a value: version ‖ nonce ‖ tag.
	recordOverhead = 1 + recordNonceLen + chacha20poly1305.Overhead // 41

	infoRecordKey = "petrel_v1_store_record"
	infoBadgerKey = "petrel_v1_store_badger_aes256"
)

// deriveSubkey is HKDF-SHA-256(ikm = data key, salt = none, info, 32).
func deriveSubkey(dataKey []byte, info string) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, dataKey, nil, info, 32)
	if err != nil {
		return nil, fmt.Errorf("store: hkdf %s: %w", info, err)
	}
	return k, nil
}

// sealer seals and opens record values with XChaCha20-Poly1305 under the record key,
// binding each value to its key.
type sealer struct{ aead cipher.AEAD }

func newSealer(dataKey []byte) (*sealer, error) {
	rk, err := deriveSubkey(dataKey, infoRecordKey)
	if err != nil {
		return nil, err
	}
	defer clear(rk)
	aead, err := chacha20poly1305.NewX(rk)
	if err != nil {
		return nil, fmt.Errorf("store: record key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// recordAD is version ‖ key.
func recordAD(key []byte) []byte {
	ad := make([]byte, 0, 1+len(key))
	ad = append(ad, recordVersion)
	return append(ad, key...)
}

// seal returns version ‖ nonce ‖ AEAD(value, ad = version ‖ key). The 24-byte random nonce
// makes collisions negligible for any number of records under one key.
func (s *sealer) seal(key, value []byte) []byte {
	out := make([]byte, 1+recordNonceLen, recordOverhead+len(value))
	out[0] = recordVersion
	rand.Read(out[1 : 1+recordNonceLen]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return s.aead.Seal(out, out[1:1+recordNonceLen], value, recordAD(key))
}

// open authenticates and decrypts a sealed value stored under key. The returned slice is
// freshly allocated. Any failure is ErrTampered.
func (s *sealer) open(key, sealed []byte) ([]byte, error) {
	if len(sealed) < recordOverhead || sealed[0] != recordVersion {
		return nil, ErrTampered
	}
	pt, err := s.aead.Open(nil, sealed[1:1+recordNonceLen], sealed[1+recordNonceLen:], recordAD(key))
	if err != nil {
		return nil, ErrTampered
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

package pushtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// jwtParts splits and decodes a compact JWS: its header and claims, and verifies the
// signature with verify(signingInput, sig).
func parseJWT(tok string, verify func(alg string, input, sig []byte) error) (hdr, claims map[string]any, err error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("jwt: not three parts")
	}
	dec := func(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
	hb, err := dec(parts[0])
	if err != nil {
		return nil, nil, fmt.Errorf("jwt header: %w", err)
	}
	cb, err := dec(parts[1])
	if err != nil {
		return nil, nil, fmt.Errorf("jwt claims: %w", err)
	}
	sig, err := dec(parts[2])
	if err != nil {
		return nil, nil, fmt.Errorf("jwt signature: %w", err)
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return nil, nil, fmt.Errorf("jwt header: %w", err)
	}
	if err := json.Unmarshal(cb, &claims); err != nil {
		return nil, nil, fmt.Errorf("jwt claims: %w", err)
	}
	alg, _ := hdr["alg"].(string)
	if err := verify(alg, []byte(parts[0]+"."+parts[1]), sig); err != nil {
		return nil, nil, err
	}
	return hdr, claims, nil
}

// es256 verifies an ES256 JWS signature (r ‖ s, 32 bytes each) with pub.
func es256(pub *ecdsa.PublicKey) func(alg string, input, sig []byte) error {
	return func(alg string, input, sig []byte) error {
		if alg != "ES256" {
			return fmt.Errorf("jwt: alg %q, want ES256", alg)
		}
		if len(sig) != 64 {
			return errors.New("jwt: ES256 signature not 64 bytes")
		}
		h := sha256.Sum256(input)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub, h[:], r, s) {
			return errors.New("jwt: bad ES256 signature")
		}
		return nil
	}
}

// rs256 verifies an RS256 JWS signature with pub.
func rs256(pub *rsa.PublicKey) func(alg string, input, sig []byte) error {
	return func(alg string, input, sig []byte) error {
		if alg != "RS256" {
			return fmt.Errorf("jwt: alg %q, want RS256", alg)
		}
		h := sha256.Sum256(input)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
			return fmt.Errorf("jwt: bad RS256 signature: %w", err)
		}
		return nil
	}
}

func claimNum(c map[string]any, k string) (int64, bool) {
	f, ok := c[k].(float64)
	return int64(f), ok
}

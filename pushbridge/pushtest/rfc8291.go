package pushtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Subscription is a browser-style push subscription: a P-256 key pair and an auth secret
// (what PushSubscription.getKey("p256dh") and getKey("auth") return).
type Subscription struct {
	Key  *ecdh.PrivateKey
	Auth []byte
}

// NewSubscription makes fresh subscription keys.
func NewSubscription() (*Subscription, error) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return &Subscription{Key: k, Auth: auth}, nil
}

// P256dh is the subscription's public key, uncompressed (65 bytes).
func (s *Subscription) P256dh() []byte { return s.Key.PublicKey().Bytes() }

// Decrypt opens an RFC 8291 aes128gcm body with the subscription's keys.
func (s *Subscription) Decrypt(body []byte) ([]byte, error) { return Decrypt(s.Key, s.Auth, body) }

// Decrypt opens an RFC 8291 (RFC 8188 aes128gcm) message body sent to the subscription
// (ua private key, auth secret). It accepts one record, as Web Push messages are.
func Decrypt(ua *ecdh.PrivateKey, auth, body []byte) ([]byte, error) {
	// RFC 8188 §2.1 header: salt (16) ‖ rs (4) ‖ idlen (1) ‖ keyid (idlen = 65: as_public).
	if len(body) < 21 {
		return nil, errors.New("rfc8291: short body")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != 65 || len(body) < 21+idlen+17 {
		return nil, errors.New("rfc8291: bad key id")
	}
	asPub, ct := body[21:21+idlen], body[21+idlen:]
	if rs < 18 || uint32(len(ct)) > rs {
		return nil, fmt.Errorf("rfc8291: record of %d bytes with rs %d (one record expected)", len(ct), rs)
	}
	as, err := ecdh.P256().NewPublicKey(asPub)
	if err != nil {
		return nil, fmt.Errorf("rfc8291: as_public: %w", err)
	}
	ecdhSecret, err := ua.ECDH(as)
	if err != nil {
		return nil, err
	}
	// RFC 8291 §3.4: PRK_key = HMAC(auth, ecdh); IKM = HMAC(PRK_key, key_info ‖ 0x01).
	keyInfo := append(append([]byte("WebPush: info\x00"), ua.PublicKey().Bytes()...), asPub...)
	ikm, err := hkdf.Key(sha256.New, ecdhSecret, auth, string(keyInfo), 32)
	if err != nil {
		return nil, err
	}
	// RFC 8188 §2.2–2.3: CEK and NONCE from PRK = HMAC(salt, IKM).
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	pt, err := gcm.Open(nil, nonce, ct, nil)
	if err != nil {
		return nil, fmt.Errorf("rfc8291: %w", err)
	}
	// The last record ends with 0x02 then zero padding.
	i := len(pt) - 1
	for i >= 0 && pt[i] == 0 {
		i--
	}
	if i < 0 || pt[i] != 0x02 {
		return nil, errors.New("rfc8291: bad padding delimiter")
	}
	return pt[:i], nil
}

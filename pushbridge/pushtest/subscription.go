package pushtest

import (
	"crypto/ecdh"
	"crypto/rand"

	"github.com/petrel-chat/petrel/pushbridge/webpush"
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
func (s *Subscription) Decrypt(body []byte) ([]byte, error) {
	return webpush.Decrypt(s.Key, s.Auth, body)
}

package senderkey

import "crypto/ed25519"

// Verify reports whether m is signed by pub, the signing key of the chain its distribution
// id names (Distribution.SigningKey). It changes no state, so a node can check a message
// before forwarding it (a GossipSub validator) without holding or advancing the chain;
// ReceiverState.Decrypt checks the signature again.
func (m *Message) Verify(pub ed25519.PublicKey) bool {
	if len(pub) != pubKeySize {
		return false
	}
	var k [pubKeySize]byte
	copy(k[:], pub)
	return verify(&k, m)
}

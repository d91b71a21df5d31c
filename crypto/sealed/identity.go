package sealed

import (
	"crypto/ecdh"
	"crypto/rand"
	"fmt"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// SealFrom seals payload from sender to recipient, for delivery to mailbox: Seal with the
// sender's identity keys, which never leave the identity package. The signature is the
// identity's signature under identity.DomainSealed, byte for byte the one Seal makes.
func SealFrom(mailbox []byte, recipient *identity.PublicIdentity, sender *identity.Identity, payload []byte) ([]byte, error) {
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sealed: ephemeral key: %w", err)
	}
	pub := sender.Public()
	sign := func(msg []byte) []byte { return sender.Sign(identity.DomainSealed, msg) }
	return sealWith(eph, mailbox, recipient.DHPublicKey(), pub.SigningKey(), sign, pub.DHPublicKey(), payload)
}

// OpenFor opens an envelope sealed to recipient's identity. The sender's keys in the
// result are authenticated by the envelope's signature; Opened.From tells whether they are
// a given identity's.
func OpenFor(envelope []byte, recipient *identity.Identity) (*Opened, error) {
	return openWith(envelope, recipient.Public().DHPublicKey().Bytes(), recipient.DH)
}

// From reports whether the envelope was sealed by identity p: both of p's keys are the
// ones the envelope's signature authenticates.
func (o *Opened) From(p *identity.PublicIdentity) bool {
	return p != nil && p.SigningKey().Equal(o.SenderSigningKey) && p.DHPublicKey().Equal(o.SenderDHKey)
}

package sealed

import (
	"bytes"
	"errors"
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// TestSealFromIdentityRoundTrip: an envelope sealed with identity keys opens for the
// recipient's identity only, names its sender, and refuses any flipped byte.
func TestSealFromIdentityRoundTrip(t *testing.T) {
	alice, bob, eve := mustIdentity(t), mustIdentity(t), mustIdentity(t)
	mailbox := []byte("bob's mailbox")
	payload := []byte("sealed sender via identities")
	env, err := SealFrom(mailbox, bob.Public(), alice, payload)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHeader(env)
	if err != nil || !bytes.Equal(h.Mailbox, mailbox) {
		t.Fatalf("header %+v, %v", h, err)
	}
	o, err := OpenFor(env, bob)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(o.Payload, payload) {
		t.Fatalf("payload %q", o.Payload)
	}
	if !o.From(alice.Public()) || o.From(eve.Public()) || o.From(nil) {
		t.Fatal("From does not name exactly the sender")
	}
	if _, err := OpenFor(env, eve); !errors.Is(err, ErrOpen) {
		t.Fatalf("opened by another identity: %v", err)
	}
	for i := range env {
		f := bytes.Clone(env)
		f[i] ^= 0x04
		if _, err := OpenFor(f, bob); err == nil {
			t.Fatalf("byte %d flipped: opened", i)
		}
	}
}

// TestDomainSealedIsTheEnvelopeSignaturePrefix: identity signatures under DomainSealed are
// the envelope signatures Seal makes with a raw key, so the two entry points interoperate.
func TestDomainSealedIsTheEnvelopeSignaturePrefix(t *testing.T) {
	if string(identity.DomainSealed) != sigPrefix {
		t.Fatalf("identity.DomainSealed %q, envelope signature prefix %q", identity.DomainSealed, sigPrefix)
	}
}

func mustIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

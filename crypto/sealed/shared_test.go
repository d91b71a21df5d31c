package sealed

import (
	"bytes"
	"errors"
	"testing"
)

// TestSharedEnvelopeEachRecipientOpensOneBody: one body, a header per recipient; each
// recipient opens the joined envelope, learns the sender and the payload; a stranger does
// not; the body is stored once and the headers do not depend on the payload's size.
func TestSharedEnvelopeEachRecipientOpensOneBody(t *testing.T) {
	alice, bob, carol, eve := mustIdentity(t), mustIdentity(t), mustIdentity(t), mustIdentity(t)
	payload := []byte("one group envelope for everyone offline")
	sb, err := SealBody(payload)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Destroy()
	if len(sb.Body()) != BodySize(len(payload)) || ParseBody(sb.Body()) != nil {
		t.Fatalf("body of %d bytes, want %d", len(sb.Body()), BodySize(len(payload)))
	}
	if bytes.Contains(sb.Body(), payload) {
		t.Fatal("body holds the plaintext")
	}
	mb := bytes.Repeat([]byte{0x4d}, 16)
	for _, r := range []struct {
		name string
		who  int
	}{{"bob", 0}, {"carol", 1}} {
		who := bob
		if r.who == 1 {
			who = carol
		}
		h, err := sb.HeaderFrom(mb, who.Public(), alice)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != HeaderSize(len(mb)) {
			t.Fatalf("%s: header of %d bytes, want %d", r.name, len(h), HeaderSize(len(mb)))
		}
		env := JoinShared(h, sb.Body())
		if !IsShared(env) || len(env) != SharedSize(len(h), len(sb.Body())) {
			t.Fatalf("%s: shared envelope of %d bytes", r.name, len(env))
		}
		o, err := OpenSharedFor(env, who)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if !bytes.Equal(o.Payload, payload) || !o.From(alice.Public()) {
			t.Fatalf("%s: payload %q from alice %v", r.name, o.Payload, o.From(alice.Public()))
		}
		if _, err := OpenSharedFor(env, eve); !errors.Is(err, ErrOpen) {
			t.Fatalf("%s: a stranger opened it: %v", r.name, err)
		}
		if _, err := OpenFor(env, who); err == nil {
			t.Fatalf("%s: a shared envelope opened as a plain one", r.name)
		}
	}
}

// TestSharedBodyIsBoundToTheSendersSignature: a recipient knows K, but a body it makes (or
// any other body) under someone else's header does not open; nor does any flipped byte.
func TestSharedBodyIsBoundToTheSendersSignature(t *testing.T) {
	alice, bob := mustIdentity(t), mustIdentity(t)
	mb := bytes.Repeat([]byte{1}, 16)
	sb, err := SealBody([]byte("genuine"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := SealBody([]byte("forged!"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := sb.HeaderFrom(mb, bob.Public(), alice)
	if err != nil {
		t.Fatal(err)
	}
	// The forger reuses alice's K (as a fellow recipient could) for a new body.
	forged, err := SealBody([]byte("forged!"))
	if err != nil {
		t.Fatal(err)
	}
	forged.key = sb.key
	aead, nonce, _ := bodyAEAD(forged.key[:])
	pt := make([]byte, 4, 256)
	pt[3] = 7
	pt = append(pt, "forged!"...)
	pt = pt[:256]
	forgedBody := aead.Seal([]byte{bodyVersion, Suite}, nonce, pt, []byte{bodyVersion, Suite})
	for name, body := range map[string][]byte{"other body": other.Body(), "same key, new body": forgedBody} {
		if _, err := OpenSharedFor(JoinShared(h, body), bob); !errors.Is(err, ErrOpen) {
			t.Fatalf("%s opened: %v", name, err)
		}
	}
	env := JoinShared(h, sb.Body())
	for i := range env {
		f := bytes.Clone(env)
		f[i] ^= 0x10
		if _, err := OpenSharedFor(f, bob); err == nil {
			t.Fatalf("byte %d flipped: opened", i)
		}
	}
}

// TestSharedBodyPadding: payloads within one bucket give bodies of one size.
func TestSharedBodyPadding(t *testing.T) {
	sizes := map[int]bool{}
	for _, n := range []int{0, 1, 100, 252} {
		sb, err := SealBody(make([]byte, n))
		if err != nil {
			t.Fatal(err)
		}
		sizes[len(sb.Body())] = true
	}
	if len(sizes) != 1 {
		t.Fatalf("bodies of sizes %v for payloads in the first bucket", sizes)
	}
	if _, err := SealBody(make([]byte, MaxSharedPayloadSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized payload: %v", err)
	}
}

func FuzzSplitShared(f *testing.F) {
	alice, bob := mustIdentity(f), mustIdentity(f)
	sb, err := SealBody([]byte("seed"))
	if err != nil {
		f.Fatal(err)
	}
	h, err := sb.HeaderFrom(bytes.Repeat([]byte{2}, 16), bob.Public(), alice)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(JoinShared(h, sb.Body()))
	f.Add([]byte{SharedVersion, Suite, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, body, err := SplitShared(b)
		if err != nil {
			return
		}
		if !bytes.Equal(JoinShared(h, body), b) {
			t.Fatalf("split and joined differently: %x", b)
		}
		if o, err := OpenSharedFor(b, bob); err == nil && !o.From(alice.Public()) {
			t.Fatal("opened from someone else")
		}
	})
}

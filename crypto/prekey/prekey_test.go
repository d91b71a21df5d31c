package prekey

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func newTestStore(tb testing.TB, pool int) (*identity.Identity, *Store) {
	tb.Helper()
	id, err := identity.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	s, err := newStore(id, t0, pool)
	if err != nil {
		tb.Fatal(err)
	}
	return id, s
}

func TestBundleRoundTrip(t *testing.T) {
	_, s := newTestStore(t, 2)
	for _, withOPK := range []bool{true, false} {
		b := s.Bundle()
		if !withOPK {
			b.opk = nil
		}
		wire := b.Marshal()
		back, err := ParseBundle(wire)
		if err != nil {
			t.Fatalf("ParseBundle: %v", err)
		}
		if !bytes.Equal(back.Marshal(), wire) {
			t.Fatal("Marshal(ParseBundle(b)) != b")
		}
		if _, ok := back.OneTimePrekey(); ok != withOPK {
			t.Fatalf("one-time prekey present = %v", ok)
		}
	}
}

// TestPrekeySignaturesRefused: tampered signatures, signatures by another
// identity, and keys of one type presented as another are refused.
func TestPrekeySignaturesRefused(t *testing.T) {
	_, s := newTestStore(t, 2)
	_, other := newTestStore(t, 2)
	good := s.Bundle()
	spk, pq, lr := good.spk, good.pq, s.LastResortPrekey()
	opk, _ := good.OneTimePrekey()

	tamperedSPK := spk
	tamperedSPK.sig[5] ^= 1
	movedSPK := spk
	movedSPK.id++ // the id is signed
	olderSPK := spk
	olderSPK.created-- // so is the creation time
	tamperedPQ := pq
	tamperedPQ.pub = bytes.Clone(pq.pub)
	// Flip a bit of the seed ρ (the last 32 bytes): any value there is a
	// valid encoding, so only the signature can catch it. A flipped
	// coefficient bit could instead make the key malformed.
	tamperedPQ.pub[len(pq.pub)-1] ^= 1
	asLastResort := pq
	asLastResort.kind = LastResort // one-time key passed off as last resort
	asOneTime := lr
	asOneTime.kind = OneTime
	spkSigOnPQ := pq
	spkSigOnPQ.sig = spk.sig // a signature from another domain
	foreignSPK := other.SignedPrekey()
	foreignPQ := other.LastResortPrekey()

	for name, c := range map[string]struct {
		spk SignedPrekey
		pq  PQPrekey
	}{
		"tampered spk signature":  {tamperedSPK, pq},
		"spk id changed":          {movedSPK, pq},
		"spk time changed":        {olderSPK, pq},
		"tampered pq key":         {spk, tamperedPQ},
		"one-time as last resort": {spk, asLastResort},
		"last resort as one-time": {spk, asOneTime},
		"spk signature on pq key": {spk, spkSigOnPQ},
		"spk of another identity": {foreignSPK, pq},
		"pq of another identity":  {spk, foreignPQ},
	} {
		if _, err := NewBundle(s.Identity(), c.spk, c.pq, &opk); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: NewBundle err = %v, want ErrBadSignature", name, err)
		}
		b := &Bundle{identity: s.Identity(), spk: c.spk, pq: c.pq, opk: &opk}
		if _, err := ParseBundle(b.Marshal()); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: ParseBundle err = %v, want ErrBadSignature", name, err)
		}
	}
	// A whole bundle under another identity.
	b := &Bundle{identity: other.Identity(), spk: spk, pq: pq}
	if _, err := ParseBundle(b.Marshal()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("wrong signer: err = %v", err)
	}
	if _, err := NewBundle(s.Identity(), spk, pq, &opk); err != nil {
		t.Fatalf("honest bundle refused: %v", err)
	}
}

// TestInvalidPrekeysRefused: low-order or non-canonical X25519 prekeys and
// malformed ML-KEM keys do not parse, and ML-KEM-1024 is reserved.
func TestInvalidPrekeysRefused(t *testing.T) {
	_, s := newTestStore(t, 1)
	wire := s.Bundle().Marshal()
	spkAt := 1 + identity.PublicSize + 12
	pqAt := 1 + identity.PublicSize + SignedPrekeySize
	opkAt := len(wire) - 32
	lowOrder := make([]byte, 32)
	lowOrder[0] = 1
	nonCanonical := bytes.Repeat([]byte{0xff}, 32)
	for name, f := range map[string]func(b []byte){
		"low-order spk":     func(b []byte) { copy(b[spkAt:], lowOrder) },
		"non-canonical spk": func(b []byte) { copy(b[spkAt:], nonCanonical) },
		"low-order opk":     func(b []byte) { copy(b[opkAt:], make([]byte, 32)) },
		"ml-kem key out of range": func(b []byte) {
			copy(b[pqAt+14:], bytes.Repeat([]byte{0xff}, 8)) // coefficients ≥ q
		},
		"ml-kem-1024": func(b []byte) { b[pqAt] = KEMMLKEM1024 },
		"unknown kem": func(b []byte) { b[pqAt] = 0x7f },
		"pq kind":     func(b []byte) { b[pqAt+1] = 3 },
		"version":     func(b []byte) { b[0] = 2 },
		"opk flag":    func(b []byte) { b[opkAt-5] = 2 },
	} {
		b := bytes.Clone(wire)
		f(b)
		if _, err := ParseBundle(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseBundle(wire[:len(wire)-1]); err == nil {
		t.Error("truncated bundle accepted")
	}
}

// TestOneTimePrekeysConsumedOnce: each one-time key can be consumed once;
// the signed and last-resort keys are never consumed.
func TestOneTimePrekeysConsumedOnce(t *testing.T) {
	_, s := newTestStore(t, 3)
	opk := s.OneTimePrekeys()[0].ID()
	pq := s.PQOneTimePrekeys()[0].ID()
	lr := s.LastResortPrekey().ID()
	peer, _ := ecdh.X25519().GenerateKey(rand.Reader)
	if _, err := s.OneTimePrekeyDH(opk, peer.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if err := s.Consume([]uint32{opk, pq, lr}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OneTimePrekeyDH(opk, peer.PublicKey()); !errors.Is(err, ErrUnknownPrekey) {
		t.Errorf("consumed X25519 key still usable: %v", err)
	}
	ct := make([]byte, 1088)
	if _, _, err := s.Decapsulate(pq, t0, ct); !errors.Is(err, ErrUnknownPrekey) {
		t.Errorf("consumed PQ key still usable: %v", err)
	}
	for range 3 {
		if _, kind, err := s.Decapsulate(lr, t0, ct); err != nil || kind != LastResort {
			t.Fatalf("last-resort key: kind %v, err %v", kind, err)
		}
	}
	before := s.Marshal()
	if err := s.Consume([]uint32{s.OneTimePrekeys()[0].ID(), opk}); !errors.Is(err, ErrUnknownPrekey) {
		t.Errorf("second Consume: err = %v", err)
	}
	if !bytes.Equal(before, s.Marshal()) {
		t.Error("failed Consume changed the store")
	}
	if len(s.OneTimePrekeys()) != 2 || len(s.PQOneTimePrekeys()) != 2 {
		t.Error("wrong pool sizes after consumption")
	}
}

// TestSignedPrekeyRotation: after rotation the old signed and last-resort
// keys answer within the 30-day grace and are refused after it.
func TestSignedPrekeyRotation(t *testing.T) {
	id, s := newTestStore(t, 1)
	oldSPK, oldLR := s.SignedPrekey().ID(), s.LastResortPrekey().ID()
	if s.NeedsRotation(t0.Add(RotationInterval - time.Second)) {
		t.Error("rotation due too early")
	}
	rotated := t0.Add(RotationInterval)
	if !s.NeedsRotation(rotated) {
		t.Error("rotation not due after a week")
	}
	if err := s.Rotate(id, rotated); err != nil {
		t.Fatal(err)
	}
	if s.SignedPrekey().ID() == oldSPK || s.LastResortPrekey().ID() == oldLR {
		t.Fatal("Rotate kept the old keys current")
	}
	ct := make([]byte, 1088)
	within := rotated.Add(GracePeriod - time.Second)
	if _, err := s.SignedPrekeyPair(oldSPK, within); err != nil {
		t.Errorf("old signed prekey refused within grace: %v", err)
	}
	if _, _, err := s.Decapsulate(oldLR, within, ct); err != nil {
		t.Errorf("old last-resort key refused within grace: %v", err)
	}
	after := rotated.Add(GracePeriod)
	if _, err := s.SignedPrekeyPair(oldSPK, after); !errors.Is(err, ErrExpiredPrekey) {
		t.Errorf("old signed prekey after grace: %v", err)
	}
	if _, _, err := s.Decapsulate(oldLR, after, ct); !errors.Is(err, ErrExpiredPrekey) {
		t.Errorf("old last-resort key after grace: %v", err)
	}
	if _, err := s.SignedPrekeyPair(s.SignedPrekey().ID(), after); err != nil {
		t.Errorf("current signed prekey refused: %v", err)
	}
	// A later rotation prunes keys past their grace.
	if err := s.Rotate(id, after.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SignedPrekeyPair(oldSPK, after); !errors.Is(err, ErrUnknownPrekey) {
		t.Errorf("pruned signed prekey: %v", err)
	}
}

// TestRefillBelowThreshold: Refill does nothing at or above RefillBelow and
// restores PoolSize below it, returning the new public keys.
func TestRefillBelowThreshold(t *testing.T) {
	id, s := newTestStore(t, RefillBelow)
	if o, p, err := s.Refill(id, t0); err != nil || len(o)+len(p) != 0 {
		t.Fatalf("Refill at threshold added %d+%d keys (%v)", len(o), len(p), err)
	}
	if err := s.Consume([]uint32{s.OneTimePrekeys()[0].ID()}); err != nil {
		t.Fatal(err)
	}
	o, p, err := s.Refill(id, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.OneTimePrekeys()) != PoolSize || len(s.PQOneTimePrekeys()) != PoolSize {
		t.Fatalf("pools %d/%d after refill", len(s.OneTimePrekeys()), len(s.PQOneTimePrekeys()))
	}
	if len(o) != PoolSize-RefillBelow+1 || len(p) != PoolSize-RefillBelow {
		t.Fatalf("Refill returned %d/%d new keys", len(o), len(p))
	}
	for _, k := range p {
		if err := k.Verify(s.Identity()); err != nil || k.Kind() != OneTime {
			t.Fatalf("refilled PQ key: %v", err)
		}
	}
	other, _ := identity.Generate()
	if _, _, err := s.Refill(other, t0); err == nil {
		t.Error("Refill with another identity accepted")
	}
}

// TestStoreMarshalRoundTrip: a store with rotated and consumed keys restores
// byte-identical and keeps answering.
func TestStoreMarshalRoundTrip(t *testing.T) {
	id, s := newTestStore(t, 3)
	if err := s.Rotate(id, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Consume([]uint32{s.OneTimePrekeys()[1].ID()}); err != nil {
		t.Fatal(err)
	}
	b := s.Marshal()
	back, err := UnmarshalStore(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Marshal(), b) {
		t.Fatal("Marshal(UnmarshalStore(b)) != b")
	}
	if !bytes.Equal(back.Bundle().Marshal(), s.Bundle().Marshal()) {
		t.Fatal("restored store publishes a different bundle")
	}
	if _, err := ParseBundle(back.Bundle().Marshal()); err != nil {
		t.Fatalf("restored bundle does not verify: %v", err)
	}
	for _, cut := range []int{0, 1, 100, len(b) - 1} {
		if _, err := UnmarshalStore(b[:cut]); err == nil {
			t.Errorf("truncated store (%d bytes) accepted", cut)
		}
	}
}

// TestBundleTamperingRefused: flipping a bit in any signed byte of a bundle
// (version, identity, signed prekey, PQ prekey, one-time flag) makes
// ParseBundle fail. The X25519 one-time prekey (the last 36 bytes) is
// unsigned by design, as in X3DH and PQXDH; a substituted one only breaks
// the handshake (pqxdh's TestTamperedOneTimePrekeyFailsHandshake).
func TestBundleTamperingRefused(t *testing.T) {
	_, s := newTestStore(t, 2)
	for _, withOPK := range []bool{true, false} {
		b := s.Bundle()
		if !withOPK {
			b.opk = nil
		}
		wire := b.Marshal()
		signedEnd := len(wire)
		if withOPK {
			signedEnd -= OneTimePrekeySize
		}
		for i := range signedEnd {
			f := bytes.Clone(wire)
			f[i] ^= 1 << (i % 8)
			if _, err := ParseBundle(f); err == nil {
				t.Fatalf("opk=%v: bundle with byte %d flipped accepted", withOPK, i)
			}
		}
		if _, err := ParseBundle(wire); err != nil {
			t.Fatalf("untouched bundle refused: %v", err)
		}
	}
}

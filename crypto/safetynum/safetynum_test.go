package safetynum

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func newKey(tb testing.TB) ed25519.PublicKey {
	tb.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return pub
}

func mustNew(tb testing.TB, lid []byte, lk ed25519.PublicKey, rid []byte, rk ed25519.PublicKey) *Number {
	tb.Helper()
	n, err := New(lid, lk, rid, rk)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestMatchesLibsignalAlgorithm runs our derivation with libsignal's parameters
// (version 0, 33-byte serialized keys) on its published NumericFingerprintGenerator
// vector, proving the algorithm is Signal's; petrel's version 1 differs only in inputs.
func TestMatchesLibsignalAlgorithm(t *testing.T) {
	h := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	alice := iterate(0, h("0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868"), []byte("+14152222222"))
	bob := iterate(0, h("05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b"), []byte("+14153333333"))
	n := &Number{local: alice, remote: bob}
	if got, want := n.Digits(), "300354477692869396892869876765458257569162576843440918079131"; got != want {
		t.Fatalf("digits\n got %s\nwant %s", got, want)
	}
	if got, want := hex.EncodeToString(alice.hash[:32]), "1e301a0353dce3dbe7684cb8336e85136cdc0ee96219494ada305d62a7bd61df"; got != want {
		t.Fatalf("alice scannable part\n got %s\nwant %s", got, want)
	}
	if got, want := hex.EncodeToString(bob.hash[:32]), "d62cbf73a11592015b6b9f1682ac306fea3aaf3885b84d12bca631e9d4fb3a4d"; got != want {
		t.Fatalf("bob scannable part\n got %s\nwant %s", got, want)
	}
}

func TestEqualOnBothSides(t *testing.T) {
	ak, bk := newKey(t), newKey(t)
	fromAlice := mustNew(t, []byte("alice"), ak, []byte("bob"), bk)
	fromBob := mustNew(t, []byte("bob"), bk, []byte("alice"), ak)
	if fromAlice.String() != fromBob.String() || !fromAlice.Equal(fromBob) {
		t.Fatalf("sides differ:\n%s\n%s", fromAlice, fromBob)
	}
	s := fromAlice.String()
	if groups := strings.Split(s, " "); len(groups) != 12 || len(fromAlice.Digits()) != 60 {
		t.Fatalf("display form %q", s)
	}
	for _, g := range strings.Split(s, " ") {
		if len(g) != 5 || strings.Trim(g, "0123456789") != "" {
			t.Fatalf("group %q", g)
		}
	}
	af, _ := Fingerprint([]byte("alice"), ak)
	bf, _ := Fingerprint([]byte("bob"), bk)
	if !strings.Contains(s, af) && !strings.Contains(s, bf) {
		t.Fatal("the number is not made of the parties' fingerprints")
	}
	if d := fromAlice.Digits(); d != strings.ReplaceAll(af+bf, " ", "") && d != strings.ReplaceAll(bf+af, " ", "") {
		t.Fatal("the number is not the two fingerprints, smaller first")
	}
}

func TestChangesWhenEitherKeyChanges(t *testing.T) {
	ak, bk := newKey(t), newKey(t)
	base := mustNew(t, []byte("alice"), ak, []byte("bob"), bk)
	for name, n := range map[string]*Number{
		"local key":  mustNew(t, []byte("alice"), newKey(t), []byte("bob"), bk),
		"remote key": mustNew(t, []byte("alice"), ak, []byte("bob"), newKey(t)),
		"remote id":  mustNew(t, []byte("alice"), ak, []byte("bob2"), bk),
	} {
		if n.Equal(base) || n.String() == base.String() {
			t.Errorf("%s changed but the safety number did not", name)
		}
	}
	flipped := bytes.Clone(bk)
	flipped[31] ^= 1
	f1, _ := Fingerprint([]byte("bob"), bk)
	f2, _ := Fingerprint([]byte("bob"), flipped)
	if f1 == f2 {
		t.Fatal("one flipped key bit left the fingerprint unchanged")
	}
}

func TestScannableMatchesOnlyTheSamePair(t *testing.T) {
	ak, bk := newKey(t), newKey(t)
	fromAlice := mustNew(t, []byte("alice"), ak, []byte("bob"), bk)
	fromBob := mustNew(t, []byte("bob"), bk, []byte("alice"), ak)
	if ok, err := fromAlice.MatchScanned(fromBob.Scannable()); !ok || err != nil {
		t.Fatalf("Alice scanning Bob: %v, %v", ok, err)
	}
	if ok, err := fromBob.MatchScanned(fromAlice.Scannable()); !ok || err != nil {
		t.Fatalf("Bob scanning Alice: %v, %v", ok, err)
	}
	if ok, _ := fromAlice.MatchScanned(fromAlice.Scannable()); ok {
		t.Fatal("a code matched itself (local and remote swapped)")
	}
	mitm := mustNew(t, []byte("bob"), newKey(t), []byte("alice"), ak)
	if ok, _ := fromAlice.MatchScanned(mitm.Scannable()); ok {
		t.Fatal("a code with another key for Bob matched")
	}
	code := fromBob.Scannable()
	code[0] = 2
	if _, err := fromAlice.MatchScanned(code); !errors.Is(err, ErrVersion) {
		t.Fatalf("version 2: %v", err)
	}
	for _, b := range [][]byte{nil, fromBob.Scannable()[:64], append(fromBob.Scannable(), 0)} {
		if _, err := fromAlice.MatchScanned(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%d bytes: %v", len(b), err)
		}
	}
}

func TestInvalidInputRefused(t *testing.T) {
	k := newKey(t)
	for name, c := range map[string]struct {
		id  []byte
		key ed25519.PublicKey
	}{
		"short key":   {[]byte("a"), k[:31]},
		"no key":      {[]byte("a"), nil},
		"empty id":    {nil, k},
		"oversize id": {make([]byte, MaxIDSize+1), k},
	} {
		if _, err := Fingerprint(c.id, c.key); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := New([]byte("me"), k, c.id, c.key); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s (remote): %v", name, err)
		}
	}
}

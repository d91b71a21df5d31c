package kdf

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"math/big"
	"slices"
	"testing"
)

// referenceCheckX25519 is CheckX25519 written independently of its lookup
// table: 32 bytes, high bit clear, u < p as an integer, and an X25519 with a
// fixed scalar that does not give the all-zero output (which happens exactly
// for the points of order dividing 8, since clamping makes the scalar a
// multiple of 8).
func referenceCheckX25519(tb testing.TB, b []byte) bool {
	if len(b) != X25519Size || b[31]&0x80 != 0 {
		return false
	}
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	if new(big.Int).SetBytes(reversed(b)).Cmp(p) >= 0 {
		return false
	}
	priv, err := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{0x5a}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := ecdh.X25519().NewPublicKey(b)
	if err != nil {
		tb.Fatal(err)
	}
	_, err = priv.ECDH(pub)
	return err == nil
}

func reversed(b []byte) []byte {
	r := slices.Clone(b)
	slices.Reverse(r)
	return r
}

// FuzzCheckX25519: CheckX25519 (and ParseX25519) agree with the reference
// check on every input, never panic, and an accepted key gives a non-zero DH.
func FuzzCheckX25519(f *testing.F) {
	for _, v := range loadVectors(f).X25519 {
		f.Add([]byte(v.Key))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := CheckX25519(b)
		if err != nil && !errors.Is(err, ErrInvalidX25519) {
			t.Fatalf("error %v does not wrap ErrInvalidX25519", err)
		}
		if want := referenceCheckX25519(t, b); (err == nil) != want {
			t.Fatalf("CheckX25519(%x) = %v, reference says valid = %v", b, err, want)
		}
		pub, perr := ParseX25519(b)
		if (perr == nil) != (err == nil) {
			t.Fatalf("ParseX25519 and CheckX25519 disagree on %x", b)
		}
		if perr != nil {
			return
		}
		priv, _ := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{0xa5}, 32))
		if _, err := DH(priv, pub); err != nil {
			t.Fatalf("accepted key %x gives an invalid DH: %v", b, err)
		}
	})
}

// TestCheckX25519MatchesReference runs the reference check over every
// non-canonical encoding class boundary and the low-order table with each
// byte perturbed.
func TestCheckX25519MatchesReference(t *testing.T) {
	var cases [][]byte
	for d := -20; d <= 20; d++ {
		cases = append(cases, pMinus(d))
	}
	for _, lo := range lowOrder {
		for i := range lo {
			c := lo
			c[i] ^= 1
			cases = append(cases, c[:], slices.Clone(lo[:]))
		}
	}
	for _, c := range cases {
		if got, want := CheckX25519(c) == nil, referenceCheckX25519(t, c); got != want {
			t.Errorf("CheckX25519(%x) valid = %v, reference %v", c, got, want)
		}
	}
}

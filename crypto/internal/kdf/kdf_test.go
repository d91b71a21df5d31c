package kdf

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
)

// TestLowOrderTableIsLowOrder proves each table entry is a low-order point:
// X25519 with any scalar yields zero, which crypto/ecdh refuses.
func TestLowOrderTableIsLowOrder(t *testing.T) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range lowOrder {
		pub, err := ecdh.X25519().NewPublicKey(p[:])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := priv.ECDH(pub); err == nil {
			t.Errorf("%x: ECDH succeeded; not a low-order point", p)
		}
		if err := CheckX25519(p[:]); !errors.Is(err, ErrInvalidX25519) {
			t.Errorf("CheckX25519(%x) = %v", p, err)
		}
	}
}

func TestCheckX25519RefusesNonCanonical(t *testing.T) {
	p := [32]byte{0xed}
	for i := 1; i < 31; i++ {
		p[i] = 0xff
	}
	p[31] = 0x7f // p itself
	for _, b := range [][]byte{p[:], nil, make([]byte, 31), make([]byte, 33)} {
		if CheckX25519(b) == nil {
			t.Errorf("CheckX25519(%x) accepted", b)
		}
	}
	hi := [32]byte{9}
	hi[31] = 0x80
	if CheckX25519(hi[:]) == nil {
		t.Error("high bit set accepted")
	}
	for range 100 {
		k, _ := ecdh.X25519().GenerateKey(rand.Reader)
		if err := CheckX25519(k.PublicKey().Bytes()); err != nil {
			t.Fatalf("honest key refused: %v", err)
		}
	}
}

func TestKDFCKMatchesSpec(t *testing.T) {
	var ck [KeySize]byte
	rand.Read(ck[:])
	next, mk := KDFCK(&ck)
	h := hmac.New(sha256.New, ck[:])
	h.Write([]byte{1})
	if !bytes.Equal(mk[:], h.Sum(nil)) {
		t.Error("mk != HMAC(ck, 0x01)")
	}
	h = hmac.New(sha256.New, ck[:])
	h.Write([]byte{2})
	if !bytes.Equal(next[:], h.Sum(nil)) {
		t.Error("ck' != HMAC(ck, 0x02)")
	}
}

// TestInfoStringsDistinct: every KDF label is distinct, versioned and at
// least 8 bytes, so no two derivations can collide.
func TestInfoStringsDistinct(t *testing.T) {
	infos := []string{InfoPQXDH768, InfoPQXDH1024, InfoRatchet, InfoMessageKeys}
	seen := map[string]bool{}
	for _, s := range infos {
		if len(s) < 8 || seen[s] || !bytes.Contains([]byte(s), []byte("v1")) {
			t.Errorf("bad info string %q", s)
		}
		seen[s] = true
	}
	var rk [KeySize]byte
	a, b, _ := KDFRK(&rk, make([]byte, 32))
	k, _, _ := MessageKeys(&rk)
	if a == b || bytes.Equal(a[:], k[:]) {
		t.Error("KDF outputs collide")
	}
}

func TestPQXDHDependsOnEveryInput(t *testing.T) {
	dh := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	base, _ := PQXDH(InfoPQXDH768, dh(9), dh(1), dh(2), dh(3))
	for _, v := range [][]any{
		{InfoPQXDH1024, dh(9), [][]byte{dh(1), dh(2), dh(3)}},
		{InfoPQXDH768, dh(8), [][]byte{dh(1), dh(2), dh(3)}},
		{InfoPQXDH768, dh(9), [][]byte{dh(1), dh(2), dh(4)}},
		{InfoPQXDH768, dh(9), [][]byte{dh(1), dh(2), dh(3), dh(4)}},
	} {
		got, _ := PQXDH(v[0].(string), v[1].([]byte), v[2].([][]byte)...)
		if got == base {
			t.Errorf("SK unchanged for %v", v[0])
		}
	}
}

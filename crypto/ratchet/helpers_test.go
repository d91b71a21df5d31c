package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
)

// newPair returns an initiator and a responder sharing a random secret, as
// PQXDH would leave them.
func newPair(tb testing.TB) (alice, bob *State) {
	tb.Helper()
	var sk [32]byte
	rand.Read(sk[:])
	spk, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	p := Params{Suite: 0x01}
	rand.Read(p.InitiatorKey[:])
	rand.Read(p.ResponderKey[:])
	if alice, err = NewInitiator(p, &sk, spk.PublicKey().Bytes()); err != nil {
		tb.Fatal(err)
	}
	if bob, err = NewResponder(p, &sk, spk); err != nil {
		tb.Fatal(err)
	}
	return alice, bob
}

func mustEncrypt(tb testing.TB, s *State, pt []byte) []byte {
	tb.Helper()
	m, err := s.Encrypt(pt)
	if err != nil {
		tb.Fatalf("Encrypt: %v", err)
	}
	return m
}

func mustDecrypt(tb testing.TB, s *State, m, want []byte) {
	tb.Helper()
	pt, err := s.Decrypt(m)
	if err != nil {
		tb.Fatalf("Decrypt: %v", err)
	}
	if !bytes.Equal(pt, want) {
		tb.Fatalf("Decrypt = %q, want %q", pt, want)
	}
}

// exchange sends one message each way, so both sides take a DH step.
func exchange(tb testing.TB, a, b *State) {
	tb.Helper()
	m := mustEncrypt(tb, a, []byte("ping"))
	mustDecrypt(tb, b, m, []byte("ping"))
	m = mustEncrypt(tb, b, []byte("pong"))
	mustDecrypt(tb, a, m, []byte("pong"))
}

// mustFailUnchanged decrypts m expecting an error matching want (nil: any
// error) and checks the state's serialization did not change.
func mustFailUnchanged(tb testing.TB, s *State, m []byte, want error) error {
	tb.Helper()
	before := s.Marshal()
	pt, err := s.Decrypt(m)
	if err == nil {
		tb.Fatalf("Decrypt succeeded (%q), want error", pt)
	}
	if want != nil && !errors.Is(err, want) {
		tb.Fatalf("Decrypt error = %v, want %v", err, want)
	}
	if after := s.Marshal(); !bytes.Equal(before, after) {
		tb.Fatalf("state changed by a failed Decrypt (%v)", err)
	}
	return err
}

func msg(i int) []byte { return fmt.Appendf(nil, "message %d", i) }

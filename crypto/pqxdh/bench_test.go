package pqxdh

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"

	"github.com/petrel-chat/petrel/crypto/prekey"
	"testing"
	"time"
)

// BenchmarkSessionSetup measures a whole PQXDH session setup, both sides:
// parsing and verifying the bundle, Initiate, and Respond (with an X25519
// and an ML-KEM one-time prekey, the most work). It interleaves chunks of
// the raw primitives the same work needs and reports floor-ns/op and
// x-floor (our time / primitive floor).
func BenchmarkSessionSetup(b *testing.B) {
	alice, bob := newParty(b), newParty(b)
	wire := bob.bundle(b, true, true).Marshal()
	op := func() {
		bundle, err := prekey.ParseBundle(wire)
		if err != nil {
			b.Fatal(err)
		}
		_, initial, err := Initiate(alice.id, bundle)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := Respond(bob.id, bob.store, initial, now); err != nil {
			b.Fatal(err)
		}
	}
	measureAgainstFloor(b, op, setupFloor(b))
}

// setupFloor returns the primitives of one setup: Ed25519 verifications of
// the bundle's identity, signed prekey and PQ prekey and of the initiator's
// identity (4); parsing the ML-KEM key; 2 X25519 key generations (ephemeral,
// first ratchet key); 9 X25519 exchanges (DH1–DH4 on each side, the first
// ratchet step); ML-KEM-768 encapsulation and decapsulation; 3 HKDFs.
func setupFloor(b *testing.B) func() {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 1200)
	sig := ed25519.Sign(priv, msg)
	dk, _ := mlkem.GenerateKey768()
	ekBytes := dk.EncapsulationKey().Bytes()
	_, ct := dk.EncapsulationKey().Encapsulate()
	x1, _ := ecdh.X25519().GenerateKey(rand.Reader)
	x2, _ := ecdh.X25519().GenerateKey(rand.Reader)
	ikm := make([]byte, 32*6)
	return func() {
		for range 4 {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("verify")
			}
		}
		ek, _ := mlkem.NewEncapsulationKey768(ekBytes)
		ek.Encapsulate()
		dk.Decapsulate(ct)
		for range 2 {
			ecdh.X25519().GenerateKey(rand.Reader)
		}
		for range 9 {
			x1.ECDH(x2.PublicKey())
		}
		for range 3 {
			hkdf.Key(sha256.New, ikm, nil, "petrel_X25519_SHA-256_ML-KEM-768_v1", 32)
		}
	}
}

// measureAgainstFloor: see the ratchet package's benchmark of the same name.
func measureAgainstFloor(b *testing.B, op func(), floor func()) {
	const chunk = 4
	var ours, fl time.Duration
	for i := 0; i < b.N; {
		n := min(chunk, b.N-i)
		t := time.Now()
		for range n {
			op()
		}
		ours += time.Since(t)
		t = time.Now()
		for range n {
			floor()
		}
		fl += time.Since(t)
		i += n
	}
	b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "ns/op")
	b.ReportMetric(float64(fl.Nanoseconds())/float64(b.N), "floor-ns/op")
	b.ReportMetric(float64(ours)/float64(fl), "x-floor")
}

package ratchet

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// BenchmarkRatchet measures Encrypt+Decrypt of one message, without a DH
// step (one long chain) and with one (every message answers the last, so
// each Decrypt runs DHRatchet). After the timed loop it times the raw
// primitives the same work needs, in the same process, and reports
// floor-ns/op and x-floor (our time / primitive floor).
func BenchmarkRatchet(b *testing.B) {
	for _, size := range []int{100, 64 << 10} {
		for _, dh := range []bool{false, true} {
			name := fmt.Sprintf("%s/noDH", sizeName(size))
			if dh {
				name = fmt.Sprintf("%s/DH", sizeName(size))
			}
			b.Run(name, func(b *testing.B) {
				alice, bob := newPair(b)
				exchange(b, alice, bob)
				pt := make([]byte, size)
				op := func(i int) {
					from, to := alice, bob
					if dh && i%2 == 1 {
						from, to = bob, alice
					}
					m, err := from.Encrypt(pt)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := to.Decrypt(m); err != nil {
						b.Fatal(err)
					}
				}
				measureAgainstFloor(b, op, floorOp(size, dh))
			})
		}
	}
}

// measureAgainstFloor runs op b.N times, interleaving chunks of op with
// chunks of the same number of floor runs, so that load from other
// processes on a shared machine hits both alike. It reports ns/op for op
// alone (overriding the framework's figure, which includes the floor runs),
// the floor's time per op and our ratio to it.
func measureAgainstFloor(b *testing.B, op func(i int), floor func()) {
	const chunk = 16
	var ours, fl time.Duration
	for i := 0; i < b.N; {
		n := min(chunk, b.N-i)
		t := time.Now()
		for j := range n {
			op(i + j)
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

// floorOp returns the primitives of one Encrypt+Decrypt: per side two HMACs
// (KDF_CK), one 44-byte HKDF (message keys), a ChaCha20-Poly1305 instance
// and a seal or open of the plaintext size; with a DH step, Decrypt adds two
// X25519 exchanges, one X25519 key generation and two 64-byte HKDFs (KDF_RK).
func floorOp(size int, dh bool) func() {
	ck := make([]byte, 32)
	rk := make([]byte, 32)
	pt := make([]byte, size)
	priv, _ := ecdh.X25519().GenerateKey(rand.Reader)
	peer, _ := ecdh.X25519().GenerateKey(rand.Reader)
	key := make([]byte, 32)
	nonce := make([]byte, 12)
	aead, _ := chacha20poly1305.New(key)
	ct := aead.Seal(nil, nonce, pt, nil)
	return func() {
		for range 2 { // sender and receiver
			for c := byte(1); c <= 2; c++ {
				h := hmac.New(sha256.New, ck)
				h.Write([]byte{c})
				h.Sum(nil)
			}
			hkdf.Key(sha256.New, ck, nil, "petrel_v1_MessageKeys", 44)
			chacha20poly1305.New(key)
		}
		aead.Seal(nil, nonce, pt, nil)
		aead.Open(nil, nonce, ct, nil)
		if dh {
			priv.ECDH(peer.PublicKey())
			ecdh.X25519().GenerateKey(rand.Reader)
			priv.ECDH(peer.PublicKey())
			hkdf.Key(sha256.New, ck, rk, "petrel_v1_Ratchet", 64)
			hkdf.Key(sha256.New, ck, rk, "petrel_v1_Ratchet", 64)
		}
	}
}

// BenchmarkPrimitives reports the raw primitives on their own, for the
// record in BENCHMARKS.md.
func BenchmarkPrimitives(b *testing.B) {
	priv, _ := ecdh.X25519().GenerateKey(rand.Reader)
	peer, _ := ecdh.X25519().GenerateKey(rand.Reader)
	k := make([]byte, 32)
	b.Run("X25519", func(b *testing.B) {
		for range b.N {
			priv.ECDH(peer.PublicKey())
		}
	})
	b.Run("HMAC-SHA256", func(b *testing.B) {
		for range b.N {
			h := hmac.New(sha256.New, k)
			h.Write([]byte{1})
			h.Sum(nil)
		}
	})
	b.Run("HKDF-SHA256-44", func(b *testing.B) {
		for range b.N {
			hkdf.Key(sha256.New, k, nil, "petrel_v1_MessageKeys", 44)
		}
	})
	for _, size := range []int{100, 64 << 10} {
		aead, _ := chacha20poly1305.New(k)
		pt := make([]byte, size)
		nonce := make([]byte, 12)
		b.Run("ChaCha20Poly1305-seal-"+sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for range b.N {
				aead.Seal(nil, nonce, pt, nil)
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

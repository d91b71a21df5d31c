package sealed

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// reportFloor measures the operation against its floor (the raw primitives it cannot
// avoid) in interleaved rounds in the same process, so that load from other processes
// hits both alike, and reports the median ratio (x-floor) and the median floor
// (floor-ns/op). prepare, if not nil, runs untimed before each round of op with the
// number of calls that will follow.
func reportFloor(b *testing.B, prepare func(k int), op, floor func()) {
	b.Helper()
	b.StopTimer()
	const rounds = 11
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	k := max(1, int(5e6/perOp)) // about 5 ms per half-round
	ratios := make([]float64, rounds)
	floors := make([]float64, rounds)
	for r := range rounds {
		if prepare != nil {
			prepare(k)
		}
		start := time.Now()
		for range k {
			op()
		}
		opNs := time.Since(start)
		start = time.Now()
		for range k {
			floor()
		}
		floorNs := time.Since(start)
		ratios[r] = float64(opNs) / float64(floorNs)
		floors[r] = float64(floorNs.Nanoseconds()) / float64(k)
	}
	slices.Sort(ratios)
	slices.Sort(floors)
	b.ReportMetric(floors[rounds/2], "floor-ns/op")
	b.ReportMetric(ratios[rounds/2], "x-floor")
}

// floor holds keys and buffers for the raw primitives one envelope needs: an X25519 key
// generation and one X25519 (sealing) or one X25519 (opening), one HKDF, SHA-256 of the
// payload, one Ed25519 signature or verification, ChaCha20-Poly1305 of the padded inner.
type floor struct {
	eph, recipient *ecdh.PrivateKey
	priv           ed25519.PrivateKey
	pub            ed25519.PublicKey
	payload, inner []byte
	ct, signed     []byte
	sig, nonce     []byte
}

func newFloor(b *testing.B, size int) *floor {
	f := &floor{payload: make([]byte, size), inner: make([]byte, paddedSize(innerOverhead+size)), nonce: make([]byte, 12)}
	f.eph, _ = ecdh.X25519().GenerateKey(rand.Reader)
	f.recipient, _ = ecdh.X25519().GenerateKey(rand.Reader)
	f.pub, f.priv, _ = ed25519.GenerateKey(rand.Reader)
	f.signed = make([]byte, len(sigPrefix)+2+4*keySize)
	f.sig = ed25519.Sign(f.priv, f.signed)
	aead, _ := chacha20poly1305.New(make([]byte, 32))
	f.ct = aead.Seal(nil, f.nonce, f.inner, nil)
	return f
}

func (f *floor) seal() {
	eph, _ := ecdh.X25519().GenerateKey(rand.Reader)
	shared, _ := eph.ECDH(f.recipient.PublicKey())
	okm, _ := hkdf.Key(sha256.New, shared, nil, infoSealed, 44)
	sha256.Sum256(f.payload)
	ed25519.Sign(f.priv, f.signed)
	aead, _ := chacha20poly1305.New(okm[:32])
	aead.Seal(f.ct[:0], f.nonce, f.inner, nil)
}

func (f *floor) open() {
	shared, _ := f.recipient.ECDH(f.eph.PublicKey())
	okm, _ := hkdf.Key(sha256.New, shared, nil, infoSealed, 44)
	aead, _ := chacha20poly1305.New(make([]byte, 32))
	aead.Open(f.inner[:0], f.nonce, f.ct, nil)
	_ = okm
	sha256.Sum256(f.payload)
	ed25519.Verify(f.pub, f.signed, f.sig)
}

var sizes = []int{100, 64 << 10}

type benchParty struct {
	sign ed25519.PrivateKey
	dh   *ecdh.PrivateKey
}

func benchParties() (alice, bob benchParty) {
	_, alice.sign, _ = ed25519.GenerateKey(rand.Reader)
	_, bob.sign, _ = ed25519.GenerateKey(rand.Reader)
	alice.dh, _ = ecdh.X25519().GenerateKey(rand.Reader)
	bob.dh, _ = ecdh.X25519().GenerateKey(rand.Reader)
	return alice, bob
}

func BenchmarkSeal(b *testing.B) {
	for _, size := range sizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			alice, bob := benchParties()
			payload := make([]byte, size)
			mailbox := make([]byte, 32)
			seal := func() {
				if _, err := Seal(mailbox, bob.dh.PublicKey(), alice.sign, alice.dh.PublicKey(), payload); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				seal()
			}
			reportFloor(b, nil, seal, newFloor(b, size).seal)
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, size := range sizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			alice, bob := benchParties()
			env, _ := Seal(make([]byte, 32), bob.dh.PublicKey(), alice.sign, alice.dh.PublicKey(), make([]byte, size))
			open := func() {
				if _, err := Open(env, bob.dh); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				open()
			}
			reportFloor(b, nil, open, newFloor(b, size).open)
		})
	}
}

// BenchmarkPrimitives measures the raw X25519 operations in the same run, for reference.
func BenchmarkPrimitives(b *testing.B) {
	f := newFloor(b, 0)
	b.Run("X25519-keygen", func(b *testing.B) {
		for b.Loop() {
			ecdh.X25519().GenerateKey(rand.Reader)
		}
	})
	b.Run("X25519", func(b *testing.B) {
		for b.Loop() {
			f.recipient.ECDH(f.eph.PublicKey())
		}
	})
}

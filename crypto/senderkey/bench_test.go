package senderkey

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
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

// primitives holds keys and buffers for the floor: the raw primitives one group message
// needs (two chain HMACs, one HKDF, one ChaCha20-Poly1305 of the plaintext, one Ed25519
// signature or verification over the message).
type primitives struct {
	ck, nonce []byte
	aead      interface {
		Seal(dst, nonce, plaintext, ad []byte) []byte
		Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
	}
	priv     ed25519.PrivateKey
	pub      ed25519.PublicKey
	pt, ct   []byte
	msg, sig []byte
}

func newPrimitives(b *testing.B, size int) *primitives {
	p := &primitives{ck: make([]byte, 32), nonce: make([]byte, 12), pt: make([]byte, size)}
	p.aead, _ = chacha20poly1305.New(make([]byte, 32))
	p.pub, p.priv, _ = ed25519.GenerateKey(nil)
	p.ct = p.aead.Seal(nil, p.nonce, p.pt, make([]byte, headerSize))
	p.msg = make([]byte, len(sigPrefix)+headerSize+len(p.ct))
	p.sig = ed25519.Sign(p.priv, p.msg)
	return p
}

func (p *primitives) chainAndKeys() {
	h := hmac.New(sha256.New, p.ck)
	h.Write([]byte{1})
	h.Sum(nil)
	h = hmac.New(sha256.New, p.ck)
	h.Write([]byte{2})
	h.Sum(nil)
	hkdf.Key(sha256.New, p.ck, nil, infoMessageKeys, 44)
}

func (p *primitives) encryptFloor() {
	p.chainAndKeys()
	p.aead.Seal(p.ct[:0], p.nonce, p.pt, p.msg[:headerSize])
	ed25519.Sign(p.priv, p.msg)
}

func (p *primitives) decryptFloor() {
	ed25519.Verify(p.pub, p.msg, p.sig)
	p.chainAndKeys()
	p.aead.Open(nil, p.nonce, p.ct, p.msg[:headerSize])
}

var sizes = []int{100, 64 << 10}

func BenchmarkEncrypt(b *testing.B) {
	for _, size := range sizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			s, _ := NewSender()
			pt := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			encrypt := func() {
				if _, err := s.Encrypt(pt); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				encrypt()
			}
			reportFloor(b, nil, encrypt, newPrimitives(b, size).encryptFloor)
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	for _, size := range sizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			s, _ := NewSender()
			d, _ := ParseDistribution(s.Distribution())
			pt := make([]byte, size)
			// Messages are encrypted untimed, in batches, and decrypted in order, so the
			// receiver never stores skipped keys.
			r := NewReceiver(d)
			var queue [][]byte
			prepare := func(k int) {
				queue = queue[:0]
				for range k {
					m, _ := s.Encrypt(pt)
					queue = append(queue, m)
				}
			}
			decrypt := func() {
				if _, err := r.Decrypt(queue[0]); err != nil {
					b.Fatal(err)
				}
				queue = queue[1:]
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if len(queue) == 0 {
					b.StopTimer()
					prepare(256)
					b.StartTimer()
				}
				decrypt()
			}
			reportFloor(b, prepare, decrypt, newPrimitives(b, size).decryptFloor)
		})
	}
}

// BenchmarkPrimitives measures the raw primitives in the same run, for reference.
func BenchmarkPrimitives(b *testing.B) {
	p := newPrimitives(b, 100)
	b.Run("HMAC-SHA-256", func(b *testing.B) {
		for b.Loop() {
			h := hmac.New(sha256.New, p.ck)
			h.Write([]byte{1})
			h.Sum(nil)
		}
	})
	b.Run("HKDF-SHA-256-44B", func(b *testing.B) {
		for b.Loop() {
			hkdf.Key(sha256.New, p.ck, nil, infoMessageKeys, 44)
		}
	})
	for _, size := range sizes {
		pt := make([]byte, size)
		b.Run(fmt.Sprintf("ChaCha20-Poly1305-seal-%dB", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			dst := make([]byte, 0, size+16)
			for b.Loop() {
				p.aead.Seal(dst, p.nonce, pt, nil)
			}
		})
	}
	b.Run("Ed25519-sign", func(b *testing.B) {
		for b.Loop() {
			ed25519.Sign(p.priv, p.msg)
		}
	})
	b.Run("Ed25519-verify", func(b *testing.B) {
		for b.Loop() {
			ed25519.Verify(p.pub, p.msg, p.sig)
		}
	})
}

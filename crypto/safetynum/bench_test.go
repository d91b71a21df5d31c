package safetynum

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"slices"
	"testing"
	"time"
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

// hashFloor is the raw work of one party: Iterations SHA-512 of h ‖ K (96 bytes).
func hashFloor(parties int) func() {
	buf := make([]byte, sha512.Size+ed25519.PublicKeySize)
	return func() {
		for range parties * Iterations {
			sha512.Sum512(buf)
		}
	}
}

func BenchmarkSafetyNumber(b *testing.B) {
	ak, _, _ := ed25519.GenerateKey(rand.Reader)
	bk, _, _ := ed25519.GenerateKey(rand.Reader)
	op := func() {
		n, err := New([]byte("alice"), ak, []byte("bob"), bk)
		if err != nil {
			b.Fatal(err)
		}
		_ = n.String()
	}
	b.ReportAllocs()
	for b.Loop() {
		op()
	}
	reportFloor(b, nil, op, hashFloor(2))
}

func BenchmarkFingerprint(b *testing.B) {
	ak, _, _ := ed25519.GenerateKey(rand.Reader)
	op := func() {
		if _, err := Fingerprint([]byte("alice"), ak); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		op()
	}
	reportFloor(b, nil, op, hashFloor(1))
}

func BenchmarkPrimitiveSHA512(b *testing.B) {
	buf := make([]byte, 96)
	for b.Loop() {
		sha512.Sum512(buf)
	}
}

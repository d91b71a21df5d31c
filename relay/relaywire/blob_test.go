package relaywire

import (
	"bytes"
	"errors"
	"testing"
)

// blobDecoders parse a blob frame body and re-encode it (one encoding per value).
var blobDecoders = map[string]func([]byte) ([]byte, error){
	"put": func(b []byte) ([]byte, error) {
		p, err := ParseBlobPut(b)
		return AppendBlobPut(nil, p), err
	},
	"data": func(b []byte) ([]byte, error) {
		d, err := ParseBlobData(b)
		return AppendBlobData(nil, d), err
	},
	"get": func(b []byte) ([]byte, error) {
		g, err := ParseBlobGet(b)
		return AppendBlobGet(nil, g), err
	},
	"has": func(b []byte) ([]byte, error) {
		id, err := ParseBlobHas(b)
		return AppendBlobHas(nil, id), err
	},
	"stat": func(b []byte) ([]byte, error) {
		s, err := ParseBlobStat(b)
		return AppendBlobStat(nil, s), err
	},
}

func blobSeeds() map[string][][]byte {
	id := BlobIDOf([]byte("petrel"))
	return map[string][][]byte{
		"put":  {AppendBlobPut(nil, BlobPut{ID: id, Size: MinBlobSize}), AppendBlobPut(nil, BlobPut{ID: id, Size: 5000})},
		"data": {AppendBlobData(nil, []byte{1}), AppendBlobData(nil, make([]byte, MaxBlobData))},
		"get":  {AppendBlobGet(nil, BlobGet{ID: id, Offset: 0, Length: 4096}), AppendBlobGet(nil, BlobGet{ID: id, Offset: MaxBlobSize - 1, Length: 1})},
		"has":  {AppendBlobHas(nil, id)},
		"stat": {AppendBlobStat(nil, BlobStat{}), AppendBlobStat(nil, BlobStat{Present: true, Size: MaxBlobSize, ExpiresAt: 1_800_000_000_000})},
	}
}

// TestBlobCodecs: every frame round-trips; malformed ones are refused with ErrMalformed.
func TestBlobCodecs(t *testing.T) {
	for name, seeds := range blobSeeds() {
		for _, in := range seeds {
			again, err := blobDecoders[name](in)
			if err != nil || !bytes.Equal(again, in) {
				t.Errorf("%s %x: %v, re-encoded %x", name, in, err, again)
			}
		}
	}
	id := BlobIDOf(nil)
	bad := map[string][][]byte{
		"put":  {nil, {TypeBlobPut}, AppendBlobPut(nil, BlobPut{ID: id})[:36], append(AppendBlobPut(nil, BlobPut{ID: id}), 0)},
		"data": {{TypeBlobData}, AppendBlobData(nil, make([]byte, MaxBlobData+1)), {TypeBlobPut, 1}},
		"get": {AppendBlobGet(nil, BlobGet{ID: id, Length: 0}), AppendBlobGet(nil, BlobGet{ID: id, Offset: MaxBlobSize, Length: 1}),
			AppendBlobGet(nil, BlobGet{ID: id, Length: MaxBlobSize + 1})},
		"has": {AppendBlobHas(nil, id)[:32]},
		"stat": {AppendBlobStat(nil, BlobStat{Present: true, Size: 5000}), AppendBlobStat(nil, BlobStat{Size: 4096}),
			func() []byte { b := AppendBlobStat(nil, BlobStat{}); b[1] = 2; return b }()},
	}
	for name, ins := range bad {
		for _, in := range ins {
			if _, err := blobDecoders[name](in); !errors.Is(err, ErrMalformed) {
				t.Errorf("%s %x accepted: %v", name, in, err)
			}
		}
	}
}

func TestBlobSizes(t *testing.T) {
	for n, want := range map[int]bool{4096: true, 8192: true, 4 << 20: true, 2048: false, 5000: false, 8 << 20: false, 0: false, -4096: false} {
		if ValidBlobSize(n) != want {
			t.Errorf("ValidBlobSize(%d) = %v", n, !want)
		}
	}
	for n, want := range map[int]int{0: 4096, 1: 4096, 4096: 4096, 4097: 8192, 3 << 20: 4 << 20, 4<<20 + 1: 0} {
		if got := BlobBucket(n); got != want {
			t.Errorf("BlobBucket(%d) = %d, want %d", n, got, want)
		}
	}
}

func fuzzBlob(f *testing.F, name string) {
	for _, s := range blobSeeds()[name] {
		f.Add(s)
	}
	dec := blobDecoders[name]
	f.Fuzz(func(t *testing.T, in []byte) {
		again, err := dec(in)
		if err == nil && !bytes.Equal(again, in) {
			t.Fatalf("%s: parsed input re-encodes differently:\n in %x\nout %x", name, in, again)
		}
	})
}

func FuzzParseBlobPut(f *testing.F)  { fuzzBlob(f, "put") }
func FuzzParseBlobData(f *testing.F) { fuzzBlob(f, "data") }
func FuzzParseBlobGet(f *testing.F)  { fuzzBlob(f, "get") }
func FuzzParseBlobHas(f *testing.F)  { fuzzBlob(f, "has") }
func FuzzParseBlobStat(f *testing.F) { fuzzBlob(f, "stat") }

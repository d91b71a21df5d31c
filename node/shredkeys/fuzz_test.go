package shredkeys

import (
	"crypto/rand"
	"errors"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// FuzzParseKeyFile: the key-file decoder never panics, reports a bad header only as
// ErrCorruptFile, and finds a live slot only where one was sealed (garbage never
// authenticates).
func FuzzParseKeyFile(f *testing.F) {
	key := make([]byte, 32)
	a, _ := chacha20poly1305.NewX(key)
	var bk [keySize]byte
	nonce := make([]byte, 24)
	good := append([]byte(fileMagic), fileVersion)
	good = append(good, sealSlot(a, 0, Bucket{kind: Expiry, start: 3600000}, &bk, nonce)...)
	junk := make([]byte, slotSize)
	rand.Read(junk)
	good = append(good, junk...)
	f.Add(good)
	f.Add(good[:headerSize+slotSize+10])
	f.Add([]byte(fileMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseKeyFile(b, a)
		if err != nil {
			if !errors.Is(err, ErrCorruptFile) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(p.live) > int(p.full) || p.full > p.slots {
			t.Fatalf("%d live of %d full of %d slots", len(p.live), p.full, p.slots)
		}
		for idx, e := range p.live {
			if idx >= p.full || (e.bucket.kind != Expiry && e.bucket.kind != Pending) {
				t.Fatalf("live slot %d: %+v", idx, e.bucket)
			}
		}
	})
}

// FuzzOpenContent: sealed content from anywhere never panics Open or BucketOf.
func FuzzOpenContent(f *testing.F) {
	f.Add([]byte{contentVersion, 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(make([]byte, contentOverhead))
	f.Fuzz(func(t *testing.T, b []byte) {
		k := &Keyring{keys: map[Bucket]*bucketKey{}, damaged: map[Bucket]uint32{}}
		if _, err := k.Open(b, nil); err == nil {
			t.Fatal("garbage opened")
		}
	})
}

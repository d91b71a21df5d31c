package shredkeys

import (
	"context"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/store"
)

// BenchmarkSealOpen: sealing and opening 1 KiB of content under a bucket key (inside a
// View, without the store's own commit).
func BenchmarkSealOpen(b *testing.B) {
	n := newNode(b)
	bk, err := n.kr.ExpiryBucket(context.Background(), n.clk.Now().Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	pt := make([]byte, 1024)
	ad := []byte("msg/bench")
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		s, err := n.kr.seal(bk, ad, pt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := n.kr.Open(s, ad); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateDestroy: one bucket's life on disk: its slot written and fsynced, its
// record committed, then the record deleted and the slot overwritten and fsynced.
func BenchmarkCreateDestroy(b *testing.B) {
	n := newNode(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		bk, err := n.kr.ExpiryBucket(ctx, n.clk.Now().Add(time.Duration(i)*time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		if err := n.kr.Destroy(ctx, bk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealInUpdate: Seal with its count, in a store Update that also writes the
// content (what a message write costs on top of the store's own).
func BenchmarkSealInUpdate(b *testing.B) {
	n := newNode(b)
	bk, err := n.kr.ExpiryBucket(context.Background(), n.clk.Now().Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	pt := make([]byte, 256)
	for b.Loop() {
		err := n.st.Update(context.Background(), func(tx *store.Tx) error {
			s, err := n.kr.Seal(tx, bk, []byte("msg/x"), pt)
			if err != nil {
				return err
			}
			return tx.Set([]byte("msg/x"), s)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

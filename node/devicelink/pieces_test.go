package devicelink

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

// TestMediaChunksInPieces: a media's sealed chunks (one of 1 MiB, larger than a relay
// circuit carries, and a small one) go as pieces no larger than pieceSize; taken in
// batches cut anywhere — in the middle of a chunk, as a circuit closing cuts a transfer —
// with the pieces of an incomplete chunk kept in the new device's store between batches,
// the new device writes each chunk whole, once, in order, and keeps no piece after.
func TestMediaChunksInPieces(t *testing.T) {
	src, dst := storetest.Open(t), storetest.Open(t)
	if err := src.Update(t.Context(), func(tx *store.Tx) error { return tx.Set([]byte("media/m/f1"), []byte("{}")) }); err != nil {
		t.Fatal(err)
	}
	want := [][]byte{make([]byte, 1<<20+40), make([]byte, 3000)}
	for _, c := range want {
		rand.Read(c)
	}
	media := func(id string, fn func(ct []byte) error) error {
		for _, c := range want {
			if err := fn(c); err != nil {
				return err
			}
		}
		return nil
	}
	var recs []record
	if err := mediaRecords(src, nil, media, func(k, v []byte) error {
		if len(v) > pieceSize+1 {
			t.Fatalf("a piece of %d bytes", len(v))
		}
		recs = append(recs, record{Key: bytes.Clone(k), Value: bytes.Clone(v)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(recs) < 65 {
		t.Fatalf("%d pieces for %d bytes", len(recs), len(want[0])+len(want[1]))
	}
	for _, cut := range []int{1, 7, 30, len(recs)} {
		var got [][]byte
		for i := 0; i < len(recs); i += cut {
			chunks, stage, done, err := pieces(dst, recs[i:min(i+cut, len(recs))])
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, chunks...)
			err = dst.Update(t.Context(), func(tx *store.Tx) error {
				for _, r := range stage {
					if err := tx.Set(r.Key, r.Value); err != nil {
						return err
					}
				}
				for _, ch := range done {
					if _, err := tx.DeletePrefix([]byte(pieceStage + string(ch) + "/")); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if len(got) != len(want) || !bytes.Equal(got[0], want[0]) || !bytes.Equal(got[1], want[1]) {
			t.Fatalf("batches of %d pieces: %d chunks written, not the two sent", cut, len(got))
		}
		left := 0
		_ = dst.View(func(tx *store.Tx) error {
			return tx.Iterate(store.IterOptions{Prefix: []byte(pieceStage), KeysOnly: true}, func(_, _ []byte) (bool, error) {
				left++
				return true, nil
			})
		})
		if left != 0 {
			t.Fatalf("batches of %d pieces: %d pieces kept after the chunks were written", cut, left)
		}
	}
	// A piece whose flag is neither more nor last is refused.
	bad := []record{{Key: recs[0].Key, Value: append([]byte{7}, recs[0].Value[1:]...)}}
	if _, _, _, err := pieces(dst, bad); err == nil {
		t.Fatal("a piece with a bad flag was taken")
	}
}

// FuzzPieces: the new device's reading of media pieces (keys and values the primary
// sends) never panics, and never writes a chunk larger than the pieces it was given.
func FuzzPieces(f *testing.F) {
	f.Add([]byte("f1/00000000/0000"), []byte{pieceLast, 1, 2, 3}, []byte("f1/00000000/0001"), []byte{pieceMore})
	f.Add([]byte("x/1/2"), []byte{}, []byte("/00000000/0000"), []byte{9, 9})
	st := storetest.Open(f)
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 []byte) {
		recs := []record{
			{Key: append([]byte(mediaChunkPrefix), k1...), Value: v1},
			{Key: append([]byte(mediaChunkPrefix), k2...), Value: v2},
		}
		chunks, _, _, err := pieces(st, recs)
		if err != nil {
			return
		}
		n := 0
		for _, c := range chunks {
			n += len(c)
		}
		if n > len(v1)+len(v2) {
			t.Fatalf("%d bytes of chunks from %d bytes of pieces", n, len(v1)+len(v2))
		}
	})
}

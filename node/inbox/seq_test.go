package inbox

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/petrel-chat/petrel/node/wire"
)

func TestSeqsInOrderDuplicatesAndGaps(t *testing.T) {
	t.Parallel()
	var s Seqs
	steps := []struct {
		seq   uint64
		fresh bool
		ask   Range
		recv  uint64
	}{
		{1, true, Range{}, 1},
		{2, true, Range{}, 2},
		{2, false, Range{}, 2},    // a duplicate
		{1, false, Range{}, 2},    // an old one
		{5, true, Range{3, 4}, 2}, // a gap: ask for 3..4
		{7, true, Range{6, 6}, 2}, // a second gap: only the new part
		{5, false, Range{}, 2},    // a duplicate ahead of the gap
		{3, true, Range{}, 3},     // the gap fills partly
		{4, true, Range{}, 5},     // and folds in what was ahead
		{6, true, Range{}, 7},     // the second gap fills
		{8, true, Range{}, 8},     // in order again
		{9 + 2*wire.MaxReceiptID, true, Range{9, 9 + wire.MaxReceiptID}, 8}, // one request names at most MaxReceiptID+1
	}
	for i, st := range steps {
		fresh, ask := s.Take(st.seq)
		if fresh != st.fresh || ask != st.ask || s.Recv != st.recv {
			t.Fatalf("step %d (seq %d): fresh %v ask %+v recv %d; want %v %+v %d", i, st.seq, fresh, ask, s.Recv, st.fresh, st.ask, st.recv)
		}
	}
	if !slices.Equal(s.Ahead, []uint64{9 + 2*wire.MaxReceiptID}) {
		t.Fatalf("ahead %v", s.Ahead)
	}
	if r := AskAll(8); r.From != 9 || r.To != 8+wire.MaxReceiptID {
		t.Fatalf("AskAll(8) = %+v", r)
	}
}

// TestSeqsGiveUpTheOldestGap: past MaxAhead numbers beyond a gap, the gap is given up
// (the position moves to the oldest number ahead) instead of remembered forever.
func TestSeqsGiveUpTheOldestGap(t *testing.T) {
	t.Parallel()
	s := Seqs{Recv: 10}
	for seq := uint64(12); seq < 12+MaxAhead; seq++ {
		s.Take(seq)
	}
	if s.Recv != 10 || len(s.Ahead) != MaxAhead {
		t.Fatalf("recv %d, %d ahead before the limit", s.Recv, len(s.Ahead))
	}
	if fresh, _ := s.Take(12 + MaxAhead); !fresh {
		t.Fatal("a new number refused at the limit")
	}
	if s.Recv != 12 || len(s.Ahead) != MaxAhead {
		t.Fatalf("recv %d, %d ahead past the limit; want the gap at 11 given up", s.Recv, len(s.Ahead))
	}
	if fresh, _ := s.Take(11); fresh {
		t.Fatal("a number of the given-up gap taken as new")
	}
}

// FuzzSeqsTake: whatever numbers a contact sends, in whatever order, the position only
// moves forward, nothing is remembered twice or below it, at most MaxAhead are remembered,
// a number taken once is a duplicate after, and a request asks only inside the gap.
func FuzzSeqsTake(f *testing.F) {
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{5, 3, 9, 4, 2, 1})
	f.Add(binary.BigEndian.AppendUint16(nil, 60000))
	f.Fuzz(func(t *testing.T, in []byte) {
		var s Seqs
		for len(in) >= 2 {
			seq := uint64(binary.BigEndian.Uint16(in)) + 1
			in = in[2:]
			before := s.Recv
			fresh, ask := s.Take(seq)
			if s.Recv < before {
				t.Fatalf("position moved back %d → %d", before, s.Recv)
			}
			if len(s.Ahead) > MaxAhead {
				t.Fatalf("%d numbers remembered", len(s.Ahead))
			}
			seen := map[uint64]bool{}
			for _, a := range s.Ahead {
				if a <= s.Recv || seen[a] {
					t.Fatalf("ahead %v with position %d", s.Ahead, s.Recv)
				}
				seen[a] = true
			}
			if !ask.Empty() && (!fresh || ask.From <= before || ask.To >= seq || ask.From > ask.To || ask.To-ask.From > wire.MaxReceiptID) {
				t.Fatalf("seq %d (position %d): ask %+v", seq, before, ask)
			}
			if again, _ := s.Take(seq); again {
				t.Fatalf("seq %d taken twice", seq)
			}
		}
	})
}

package inbox

import (
	"slices"

	"github.com/petrel-chat/petrel/node/wire"
)

// MaxAhead bounds the sequence numbers remembered beyond a gap.
const MaxAhead = 4096

// Seqs is the receiving position of a contact's contents: every sequence number up to
// Recv has arrived, and so have those in Ahead (beyond a gap).
type Seqs struct {
	Recv  uint64
	Ahead []uint64
}

// Range is a span of sequence numbers, From..To; the zero Range is empty.
type Range struct{ From, To uint64 }

// Empty reports whether r asks for nothing.
func (r Range) Empty() bool { return r.From == 0 }

// Take takes sequence number seq. fresh is false for a duplicate (at or below Recv, or
// already ahead), which changes nothing. A fresh number beyond a gap is remembered, and ask
// is the part of the gap not asked for by an earlier one (at most wire.MaxReceiptID + 1
// numbers); past MaxAhead remembered numbers the oldest gap is given up rather than
// remembered forever.
func (s *Seqs) Take(seq uint64) (fresh bool, ask Range) {
	if seq <= s.Recv || slices.Contains(s.Ahead, seq) {
		return false, Range{}
	}
	if seq == s.Recv+1 {
		s.Recv++
		for len(s.Ahead) > 0 {
			slices.Sort(s.Ahead)
			if s.Ahead[0] != s.Recv+1 {
				break
			}
			s.Recv++
			s.Ahead = s.Ahead[1:]
		}
		return true, Range{}
	}
	from := s.Recv + 1
	if len(s.Ahead) > 0 {
		from = max(from, slices.Max(s.Ahead)+1)
	}
	s.Ahead = append(s.Ahead, seq)
	if len(s.Ahead) > MaxAhead {
		slices.Sort(s.Ahead)
		s.Recv, s.Ahead = s.Ahead[0], s.Ahead[1:]
	}
	if from < seq {
		return true, Range{From: from, To: min(seq-1, from+wire.MaxReceiptID)}
	}
	return true, Range{}
}

// AskAll is the resend request for everything after recv that one request can name: what
// a node asks for when mail it could not decrypt may have carried anything.
func AskAll(recv uint64) Range { return Range{From: recv + 1, To: recv + wire.MaxReceiptID} }

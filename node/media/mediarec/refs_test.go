package mediarec

import (
	"testing"
)

// TestRefValues: a reference's timer reads back as written, and the longest of several
// is what the media is sealed for.
func TestRefValues(t *testing.T) {
	for _, c := range []struct {
		dis  bool
		exp  int64
		want until
	}{
		{false, 0, until{set: true, lasting: true}},
		{false, 123, until{set: true, lasting: true}},
		{true, 0, until{set: true, pending: true}},
		{true, 1_700_000_000_123, until{set: true, at: 1_700_000_000_123}},
	} {
		if got := parseRef([]byte(refValue(c.dis, c.exp))); got != c.want {
			t.Errorf("refValue(%v, %d) reads back as %+v, want %+v", c.dis, c.exp, got, c.want)
		}
	}
	at := func(ms int64) until { return until{set: true, at: ms} }
	pending, lasting := until{set: true, pending: true}, until{set: true, lasting: true}
	for _, c := range []struct{ a, b, want until }{
		{at(5), at(9), at(9)},
		{at(9), at(5), at(9)},
		{at(9), pending, pending},
		{pending, lasting, lasting},
		{until{}, at(3), at(3)},
		{at(3), until{}, at(3)},
	} {
		if got := c.a.or(c.b); got != c.want {
			t.Errorf("%+v or %+v = %+v, want %+v", c.a, c.b, got, c.want)
		}
	}
}

// FuzzParseRef: any stored reference value reads as some timer, never a panic; what is not
// a pending or a positive expiry is lasting (never sealed, so never lost).
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"", "p", "e1", "e-5", "e", "x", "e99999999999999999999", "e1700000000000"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		u := parseRef(v)
		if !u.set {
			t.Fatalf("%q reads as no timer", v)
		}
		if !u.lasting && !u.pending && u.at <= 0 {
			t.Fatalf("%q reads as an expiry of %d", v, u.at)
		}
		if u.at > 0 && parseRef([]byte(refValue(true, u.at))) != u {
			t.Fatalf("%q does not round-trip", v)
		}
	})
}

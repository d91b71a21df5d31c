package hlc

import (
	"cmp"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestStringKnownAnswers pins the text form.
func TestStringKnownAnswers(t *testing.T) {
	for _, tc := range []struct {
		ts   Timestamp
		want string
	}{
		{Timestamp{}, "00000000000000000000"},
		{Timestamp{Wall: 1700000000000, Logical: 1}, "018bcfe5680000000001"},
		{Timestamp{Wall: 0xabcdef012345, Logical: 0x6789abcd}, "abcdef0123456789abcd"},
		{Timestamp{Wall: MaxWall, Logical: math.MaxUint32}, "ffffffffffffffffffff"},
	} {
		if got := tc.ts.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.ts, got, tc.want)
		}
		got, err := Parse(tc.want)
		if err != nil || got != tc.ts {
			t.Errorf("Parse(%q) = %v, %v, want %#v", tc.want, got, err, tc.ts)
		}
	}
}

// TestParseRejects: Parse accepts only the canonical form.
func TestParseRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"018bcfe568000000000",   // 19 digits
		"018bcfe56800000000011", // 21 digits
		"018BCFE5680000000001",  // upper case
		"018bcfe568000000000g",
		" 18bcfe5680000000001",
		"-18bcfe5680000000001",
		"+18bcfe5680000000001",
		"0x8bcfe5680000000001",
		"018bcfe56800\x0000000001",
		"018bcfe5680000000001\n",
	} {
		if ts, err := Parse(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %v, %v, want ErrMalformed", s, ts, err)
		}
	}
}

// randomTimestamp draws timestamps that often share a Wall or differ by
// little, so both halves of the comparison get exercised.
func randomTimestamp(r *rand.Rand) Timestamp {
	var ts Timestamp
	switch r.IntN(3) {
	case 0:
		ts.Wall = r.Int64N(MaxWall + 1)
	case 1:
		ts.Wall = 1_700_000_000_000 + r.Int64N(4)
	default:
		ts.Wall = r.Int64N(20)
	}
	switch r.IntN(3) {
	case 0:
		ts.Logical = r.Uint32()
	default:
		ts.Logical = uint32(r.IntN(4))
	}
	return ts
}

// TestStringOrderIsTimeOrder: for random timestamps, comparing the strings
// gives the same answer as Compare, and every string parses back.
func TestStringOrderIsTimeOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		a, b := randomTimestamp(r), randomTimestamp(r)
		as, bs := a.String(), b.String()
		if len(as) != 20 {
			t.Fatalf("%#v.String() = %q: not 20 characters", a, as)
		}
		if got, want := strings.Compare(as, bs), a.Compare(b); got != want {
			t.Fatalf("%q vs %q: string order %d, time order %d", as, bs, got, want)
		}
		if back, err := Parse(as); err != nil || back != a {
			t.Fatalf("Parse(%q) = %v, %v, want %#v", as, back, err, a)
		}
	}
}

// TestCompare checks Compare against the (Wall, Logical) order directly.
func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b Timestamp
		want int
	}{
		{Timestamp{1, 0}, Timestamp{1, 0}, 0},
		{Timestamp{1, 5}, Timestamp{2, 0}, -1},
		{Timestamp{2, 0}, Timestamp{1, math.MaxUint32}, 1},
		{Timestamp{2, 3}, Timestamp{2, 4}, -1},
		{Timestamp{-1, 0}, Timestamp{}, -1},
	} {
		if got := tc.a.Compare(tc.b); got != tc.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := tc.b.Compare(tc.a); got != -tc.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
	if !(Timestamp{}).IsZero() || (Timestamp{Logical: 1}).IsZero() || (Timestamp{Wall: 1}).IsZero() {
		t.Fatal("IsZero is wrong")
	}
}

// TestInvalidTimestampText: String of a timestamp outside [0, MaxWall] does
// not parse, and MarshalText refuses it.
func TestInvalidTimestampText(t *testing.T) {
	for _, ts := range []Timestamp{{Wall: -1}, {Wall: MaxWall + 1}, {Wall: math.MaxInt64}} {
		if ts.Valid() {
			t.Errorf("%d is Valid", ts.Wall)
		}
		if _, err := Parse(ts.String()); err == nil {
			t.Errorf("String of invalid %d parses: %q", ts.Wall, ts.String())
		}
		if _, err := ts.MarshalText(); !errors.Is(err, ErrMalformed) {
			t.Errorf("MarshalText(%d) err = %v", ts.Wall, err)
		}
	}
}

// TestJSON: a Timestamp travels in JSON as its text form.
func TestJSON(t *testing.T) {
	in := struct{ TS Timestamp }{Timestamp{Wall: 1700000000000, Logical: 1}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"TS":"018bcfe5680000000001"}` {
		t.Fatalf("JSON = %s", b)
	}
	var out struct{ TS Timestamp }
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("round trip = %+v, %v", out, err)
	}
	if err := json.Unmarshal([]byte(`{"TS":"018BCFE5680000000001"}`), &out); err == nil {
		t.Fatal("upper-case timestamp accepted from JSON")
	}
}

// TestOrderKeyOrder: comparing order keys as strings compares (timestamp,
// tiebreak), including tiebreaks that contain bytes below "-".
func TestOrderKeyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tiebreaks := []string{"", "!", "+", "-", "a", "a-", "a-b", "b", "userA-0001", "userB-0000", "\x00", "é"}
	for range 20000 {
		a, b := randomTimestamp(r), randomTimestamp(r)
		ta, tb := tiebreaks[r.IntN(len(tiebreaks))], tiebreaks[r.IntN(len(tiebreaks))]
		want := a.Compare(b)
		if want == 0 {
			want = cmp.Compare(ta, tb)
		}
		ka, kb := OrderKey(a, ta), OrderKey(b, tb)
		if got := strings.Compare(ka, kb); got != want {
			t.Fatalf("%q vs %q: key order %d, (timestamp, tiebreak) order %d", ka, kb, got, want)
		}
		ts, tie, err := ParseOrderKey(ka)
		if err != nil || ts != a || tie != ta {
			t.Fatalf("ParseOrderKey(%q) = %v, %q, %v", ka, ts, tie, err)
		}
	}
}

// TestOrderKeyKnownAnswer pins the key layout.
func TestOrderKeyKnownAnswer(t *testing.T) {
	const want = "018bcfe5680000000001-abcdefghijklmnopqrstuvwxyz234567abcdefgh-0190d2a4-8f5c-7d2e-9b1a-3c4d5e6f7a8b"
	tb := "abcdefghijklmnopqrstuvwxyz234567abcdefgh-0190d2a4-8f5c-7d2e-9b1a-3c4d5e6f7a8b"
	if got := OrderKey(Timestamp{Wall: 1700000000000, Logical: 1}, tb); got != want {
		t.Fatalf("OrderKey = %q", got)
	}
}

// TestParseOrderKeyRejects: keys without a valid timestamp and separator.
func TestParseOrderKeyRejects(t *testing.T) {
	for _, k := range []string{
		"",
		"018bcfe5680000000001",   // no separator
		"018bcfe5680000000001x",  // wrong separator
		"018bcfe568000000001-ab", // short timestamp
		"018BCFE5680000000001-ab",
		"-018bcfe5680000000001",
	} {
		if _, _, err := ParseOrderKey(k); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseOrderKey(%q) err = %v, want ErrMalformed", k, err)
		}
	}
}

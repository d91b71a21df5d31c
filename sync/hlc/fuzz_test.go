package hlc

import "testing"

// FuzzParse: no input panics Parse; an accepted string is valid and is
// exactly the String of what it parsed to.
func FuzzParse(f *testing.F) {
	f.Add("018bcfe5680000000001")
	f.Add("ffffffffffffffffffff")
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := Parse(s)
		if err != nil {
			return
		}
		if !ts.Valid() || ts.String() != s {
			t.Fatalf("Parse(%q) = %#v, which prints as %q", s, ts, ts.String())
		}
	})
}

// FuzzParseOrderKey: no input panics ParseOrderKey; an accepted key is
// rebuilt exactly by OrderKey.
func FuzzParseOrderKey(f *testing.F) {
	f.Add("018bcfe5680000000001-abcdefghijklmnopqrstuvwxyz234567abcdefgh-0190d2a4-8f5c-7d2e-9b1a-3c4d5e6f7a8b")
	f.Add("00000000000000000000-")
	f.Fuzz(func(t *testing.T, key string) {
		ts, tie, err := ParseOrderKey(key)
		if err != nil {
			return
		}
		if got := OrderKey(ts, tie); got != key {
			t.Fatalf("ParseOrderKey(%q) = %v, %q, which rebuilds as %q", key, ts, tie, got)
		}
	})
}

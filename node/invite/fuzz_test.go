package invite

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParse: no input panics Parse; an accepted link is the one canonical
// encoding of what it parsed to (re-encoding the fields and the signature
// gives the same text, white space aside).
func FuzzParse(f *testing.F) {
	vs := loadVectors(f)
	for _, v := range vs.Valid {
		f.Add(v.Link)
		f.Add(" " + v.Link + "\n")
	}
	for _, v := range vs.Invalid {
		f.Add(v.Link)
	}
	f.Add(expiringLink(f))
	f.Fuzz(func(t *testing.T, link string) {
		inv, body, sig, err := parseLink(link)
		if err != nil {
			return
		}
		re, err := encodeBody(inv)
		if err != nil {
			t.Fatalf("accepted invite does not encode: %v", err)
		}
		if !bytes.Equal(re, body) {
			t.Fatalf("accepted payload is not canonical:\n got %x\nwant %x", body, re)
		}
		if got := encodeLink(append(re, sig...)); got != strings.TrimSpace(link) {
			t.Fatalf("accepted link %q re-encodes as %q", link, got)
		}
	})
}

// FuzzDecodePayload: below the signature, so the fuzzer reaches every field
// check: no payload panics decodePayload, and an accepted body re-encodes to
// the same bytes.
func FuzzDecodePayload(f *testing.F) {
	for _, v := range loadVectors(f).Valid {
		f.Add(decodeLink(f, v.Link))
	}
	f.Add(decodeLink(f, expiringLink(f)))
	f.Fuzz(func(t *testing.T, p []byte) {
		inv, body, _, err := decodePayload(p)
		if err != nil {
			return
		}
		re, err := encodeBody(inv)
		if err != nil {
			t.Fatalf("accepted invite does not encode: %v", err)
		}
		if !bytes.Equal(re, body) {
			t.Fatalf("accepted payload is not canonical:\n got %x\nwant %x", body, re)
		}
	})
}

// expiringLink is a version 2 (expiring) link, for the fuzzers' seeds.
func expiringLink(tb testing.TB) string {
	tb.Helper()
	inv, _ := expiringInvite(tb)
	link, err := Link(testIdentity(tb, "alice"), inv)
	if err != nil {
		tb.Fatal(err)
	}
	return link
}

package devicelink

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func testLink(t testing.TB) *Link {
	t.Helper()
	pid, err := peer.Decode("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
	if err != nil {
		t.Fatal(err)
	}
	l := &Link{PeerID: pid, Addrs: []string{"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"},
		Relays:  []string{"/ip4/10.0.0.1/tcp/4002/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"},
		Expires: time.Unix(1900000000, 0).UTC()}
	rand.Read(l.Secret[:])
	return l
}

func TestLinkRoundTrip(t *testing.T) {
	l := testLink(t)
	s := l.String()
	if !strings.HasPrefix(s, Scheme) || len(s) > MaxLinkLen {
		t.Fatalf("link %q", s)
	}
	got, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.PeerID != l.PeerID || got.Secret != l.Secret || !got.Expires.Equal(l.Expires) ||
		strings.Join(got.Addrs, ",") != strings.Join(l.Addrs, ",") || strings.Join(got.Relays, ",") != strings.Join(l.Relays, ",") {
		t.Fatalf("round trip: %+v, want %+v", got, l)
	}
	if got.String() != s {
		t.Fatal("re-encoding differs")
	}
}

// TestParseRefusesMalformed: every way a link can be wrong is refused with ErrMalformed.
func TestParseRefusesMalformed(t *testing.T) {
	l := testLink(t)
	good := l.String()
	payload, _ := linkEncoding.DecodeString(strings.TrimPrefix(good, Scheme))
	enc := func(b []byte) string { return Scheme + linkEncoding.EncodeToString(b) }
	cases := map[string]string{
		"empty":           "",
		"invite scheme":   "petrel:" + strings.TrimPrefix(good, Scheme),
		"padded":          good + "=",
		"not base64":      good[:len(good)-1] + "*",
		"truncated":       enc(payload[:len(payload)-1]),
		"trailing byte":   enc(append(append([]byte{}, payload...), 0)),
		"version 2":       enc(append([]byte{2}, payload[1:]...)),
		"zero expiry":     enc(append(append([]byte{}, payload[:len(payload)-8]...), 0, 0, 0, 0, 0, 0, 0, 0)),
		"too long":        Scheme + strings.Repeat("A", MaxLinkLen),
		"bad peer id":     enc(append([]byte{1, 3, 'a', 'b', 'c'}, payload[2+len(l.PeerID):]...)),
		"no secret":       enc(payload[:len(payload)-40]),
		"address is junk": strings.Replace(good, good[len(Scheme):len(Scheme)+8], "AAAAAAAA", 1),
	}
	for name, s := range cases {
		if _, err := Parse(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	// Relays must name their peer; addresses must not.
	bad := *l
	bad.Relays = []string{"/ip4/10.0.0.1/tcp/4002"}
	if bad.String() != "" {
		t.Error("a relay without /p2p/ encoded")
	}
	bad = *l
	bad.Addrs = []string{l.Relays[0]}
	if bad.String() != "" {
		t.Error("an address with /p2p/ encoded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(testLink(f).String())
	f.Add(Scheme)
	f.Add(Scheme + "AQ")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := Parse(l.String())
		if err != nil || again.Secret != l.Secret || again.PeerID != l.PeerID {
			t.Fatalf("a parsed link does not re-encode: %v", err)
		}
	})
}

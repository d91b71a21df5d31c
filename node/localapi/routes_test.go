package localapi

import (
	"strings"
	"testing"
)

// TestRoutesSorted keeps the one route table sorted by path then method, all under /v1/, so
// the API's surface reads in one place.
func TestRoutesSorted(t *testing.T) {
	s := &Server{}
	rs := s.routes()
	if len(rs) == 0 {
		t.Fatal("no routes")
	}
	key := func(p string) string {
		m, path, _ := strings.Cut(p, " ")
		return path + " " + m
	}
	for i, r := range rs {
		_, path, ok := strings.Cut(r.pattern, " ")
		if !ok || !strings.HasPrefix(path, "/v1/") {
			t.Errorf("route %q: want \"METHOD /v1/...\"", r.pattern)
		}
		if i > 0 && key(rs[i-1].pattern) >= key(r.pattern) {
			t.Errorf("routes out of order: %q before %q", rs[i-1].pattern, r.pattern)
		}
	}
}

// FuzzParseClientFrame: no input panics the socket's frame decoder, and a decoded frame
// always has a type.
func FuzzParseClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","since":0}`, `{"type":"ping"}`,
		`{"type":"send","conversation_id":"c1","client_msg_id":"m1","body":"hi","reply_to":null,"attachments":[]}`,
		`{"type":"read","conversation_id":"c","up_to":"m"}`, `{"type":"typing","conversation_id":"c","state":"start"}`,
		`{"type":1}`, `{"since":-1,"type":"hello"}`, `[]`, `null`, `{`, "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := parseClientFrame(b)
		if err == nil && fr.Type == "" {
			t.Fatalf("accepted a frame without a type: %q", b)
		}
	})
}

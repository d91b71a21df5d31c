package bridge

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// An attacker registering an endpoint on the relay's own network is refused, by URL and
// again at dial time (a public name resolving to a private address).
func TestSSRFGuard(t *testing.T) {
	for _, u := range []string{
		"http://push.example/x", "https://127.0.0.1/x", "https://[::1]/x", "https://10.1.2.3/x",
		"https://169.254.169.254/latest/meta-data", "https://192.168.1.1/", "https://100.64.0.1/",
		"https://[fd00::1]/", "https://[::ffff:127.0.0.1]/", "https://user:pw@push.example/", "ftp://push.example/",
		"https://0.0.0.0/",
	} {
		if _, err := CheckEndpoint(u, false); !errors.Is(err, ErrEndpoint) {
			t.Errorf("%s accepted", u)
		}
	}
	for _, u := range []string{"https://push.example/x", "https://8.8.8.8/x", "https://[2606:4700::1]/"} {
		if _, err := CheckEndpoint(u, false); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	if _, err := CheckEndpoint("http://127.0.0.1:8080/x", true); err != nil {
		t.Errorf("allow_private refused loopback: %v", err)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	if _, err := GuardedClient(false, 5*time.Second).Do(req); !errors.Is(err, ErrEndpoint) {
		t.Errorf("guarded client dialled loopback: %v", err)
	}
	req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := GuardedClient(true, 5*time.Second).Do(req)
	if err != nil {
		t.Fatalf("allow_private client: %v", err)
	}
	resp.Body.Close()
	if PublicAddr(netip.MustParseAddr("64:ff9b::a00:1")) {
		t.Error("NAT64 of a private address counted as public")
	}
}

// A redirect is not followed (it could point anywhere).
func TestNoRedirects(t *testing.T) {
	hit := false
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = true }))
	defer inner.Close()
	outer := httptest.NewServer(http.RedirectHandler(inner.URL, http.StatusTemporaryRedirect))
	defer outer.Close()
	resp, err := GuardedClient(true, 5*time.Second).Post(outer.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hit || resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("redirect followed (status %d)", resp.StatusCode)
	}
}

func TestRetryAfterDate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}
	if d := RetryAfter(h, now); d != 90*time.Second {
		t.Fatalf("Retry-After date → %v, want 90s", d)
	}
}

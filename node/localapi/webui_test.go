package localapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/petrel-chat/petrel/node/nodetest"
)

// TestWebUIServing: the embedded UI is served at / without auth but behind the Host check
// and with the strict headers; the session cookie (per API port) authenticates the socket
// upgrade the way a browser sends it; GET /v1/events/latest gives the UI its starting seq.
func TestWebUIServing(t *testing.T) {
	n := nodetest.Start(t, "alice")
	port := strings.TrimPrefix(n.Info.URL, "http://127.0.0.1:")

	t.Run("IndexWithoutAuthAndHeaders", func(t *testing.T) {
		resp, err := http.Get(n.Info.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self' ws://127.0.0.1:" + port + ";", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("CSP allows inline code: %q", csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("headers: %v", resp.Header)
		}
		for _, p := range []string{"/js/main.js", "/app.css"} {
			resp, err := http.Get(n.Info.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("GET %s: %d", p, resp.StatusCode)
			}
		}
	})

	t.Run("HostCheckCoversTheUI", func(t *testing.T) {
		status, _, _ := raw(t, "GET", n.Info.URL+"/", map[string]string{"Host": "evil.example:" + port}, nil)
		if status != http.StatusMisdirectedRequest {
			t.Fatalf("GET / with a foreign Host: %d, want 421", status)
		}
	})

	t.Run("CookieOpensTheSocket", func(t *testing.T) {
		cookie := sessionCookie(t, n)
		if cookie == nil || cookie.Name != "petrel_session_"+port {
			t.Fatalf("session cookie %+v, want it named for port %s", cookie, port)
		}
		// What a browser sends on a same-origin upgrade: the cookie and its own Origin.
		h := http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}, "Origin": {n.Info.URL}}
		ws, _, err := websocket.DefaultDialer.Dial("ws://127.0.0.1:"+port+"/v1/ws", h)
		if err != nil {
			t.Fatalf("socket with the session cookie: %v", err)
		}
		defer ws.Close()
		if err := ws.WriteJSON(map[string]any{"type": "hello", "since": 0}); err != nil {
			t.Fatal(err)
		}
		var f struct{ Type string }
		for f.Type != "synced" {
			if err := ws.ReadJSON(&f); err != nil {
				t.Fatal(err)
			}
		}
		// Another node's cookie on the same host (another port) does not authenticate here.
		other := http.Header{"Cookie": {"petrel_session_1=" + cookie.Value}, "Origin": {n.Info.URL}}
		if _, resp, err := websocket.DefaultDialer.Dial("ws://127.0.0.1:"+port+"/v1/ws", other); err == nil || resp.StatusCode != 401 {
			t.Fatalf("socket with another port's cookie: %v", err)
		}
	})

	t.Run("LatestEvent", func(t *testing.T) {
		if _, err := n.Client.SetName(t.Context(), "Alice L."); err != nil {
			t.Fatal(err)
		}
		var got struct{ Seq uint64 }
		if err := n.Client.Do(t.Context(), "GET", "/v1/events/latest", nil, &got); err != nil {
			t.Fatal(err)
		}
		page, err := n.Client.Events(t.Context(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if got.Seq == 0 || got.Seq != page.Next {
			b, _ := json.Marshal(page)
			t.Fatalf("latest %d, log %s", got.Seq, b)
		}
	})
}

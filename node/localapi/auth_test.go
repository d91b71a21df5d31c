package localapi_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
)

// cookieSocket opens the socket as the web UI does (the cookie and its own Origin) and waits
// for synced.
func cookieSocket(t *testing.T, n *nodetest.Node, c *http.Cookie) *websocket.Conn {
	t.Helper()
	h := http.Header{"Cookie": {c.Name + "=" + c.Value}, "Origin": {n.Info.URL}}
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(n.Info.URL, "http")+"/v1/ws", h)
	if err != nil {
		t.Fatalf("socket with the session cookie: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	if err := ws.WriteJSON(map[string]any{"type": "hello", "since": 1 << 62}); err != nil {
		t.Fatal(err)
	}
	var f struct{ Type string }
	for f.Type != "synced" {
		if err := ws.ReadJSON(&f); err != nil {
			t.Fatal(err)
		}
	}
	return ws
}

// socketEnds reads from ws until the node closes it (30 s bound the wait, should it not).
func socketEnds(t *testing.T, ws *websocket.Conn, what string) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
				t.Errorf("%s: socket ended with %v, want close 1008 from the node", what, err)
			}
			return
		}
	}
}

func cookieStatus(t *testing.T, n *nodetest.Node, c *http.Cookie) int {
	t.Helper()
	status, _, _ := raw(t, "GET", n.Info.URL+"/v1/me", map[string]string{"Cookie": c.Name + "=" + c.Value}, nil)
	return status
}

// TestLogoutRevokesTheSession: DELETE /v1/session ends that browser's session on the node:
// the same cookie, replayed (as an attacker who copied it would), is refused, and its open
// socket is closed; another browser's session is untouched, across a restart too.
func TestLogoutRevokesTheSession(t *testing.T) {
	n := nodetest.Start(t, "alice")
	a, b := sessionCookie(t, n), sessionCookie(t, n)
	if a == nil || b == nil || a.Value == b.Value {
		t.Fatalf("two logins: cookies %v and %v, want two different sessions", a, b)
	}
	for _, c := range []*http.Cookie{a, b} {
		if st := cookieStatus(t, n, c); st != 200 {
			t.Fatalf("GET with a fresh cookie: %d", st)
		}
	}
	wsA, wsB := cookieSocket(t, n, a), cookieSocket(t, n, b)

	status, _, body := raw(t, "DELETE", n.Info.URL+"/v1/session", map[string]string{"Cookie": a.Name + "=" + a.Value, "X-Petrel-CSRF": "1"}, nil)
	if status != 204 {
		t.Fatalf("DELETE /v1/session: %d %s", status, body)
	}
	if st := cookieStatus(t, n, a); st != http.StatusUnauthorized {
		t.Fatalf("the logged-out cookie replayed: %d, want 401", st)
	}
	socketEnds(t, wsA, "the logged-out browser's socket")
	if st := cookieStatus(t, n, b); st != 200 {
		t.Fatalf("the other browser after a logout: %d, want 200", st)
	}
	if err := wsB.WriteJSON(map[string]string{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	var f struct{ Type string }
	if err := wsB.ReadJSON(&f); err != nil || f.Type != "pong" {
		t.Fatalf("the other browser's socket after a logout: %+v %v", f, err)
	}

	// Sessions are kept in the node's store: across a restart (same port, so the same
	// cookie name) the live one still works and the ended one stays refused.
	n.APIAddr = strings.TrimPrefix(n.Info.URL, "http://")
	n.Restart()
	if st := cookieStatus(t, n, b); st != 200 {
		t.Fatalf("the other browser after a restart: %d, want 200", st)
	}
	if st := cookieStatus(t, n, a); st != http.StatusUnauthorized {
		t.Fatalf("the logged-out cookie after a restart: %d, want 401", st)
	}
}

// TestTokenRotation: POST /v1/token/rotate answers the new token and rewrites api.json
// (0600) with it; the old token, every session cookie and every open socket are refused from
// then on; the new token works, across a restart too.
func TestTokenRotation(t *testing.T) {
	n := nodetest.Start(t, "alice")
	ctx := ctxT(t)
	cookie := sessionCookie(t, n)
	wsCookie := cookieSocket(t, n, cookie)
	sock, _, err := n.Client.Dial(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	old := n.Info.Token

	tok, err := n.Client.RotateToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 64 || tok == old {
		t.Fatalf("new token %q (old %q)", tok, old)
	}
	path := filepath.Join(n.Dir, "api.json")
	info, err := localclient.ReadInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Token != tok || info.URL != n.Info.URL || info.PeerID != n.Info.PeerID {
		t.Fatalf("api.json after rotation: %+v, want token %s", info, tok)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("api.json mode: %v %v, want 0600", fi.Mode(), err)
	}

	if _, err := n.Client.Me(ctx); !isStatus(err, 401) {
		t.Fatalf("the old token after rotation: %v, want 401", err)
	}
	u := "ws" + strings.TrimPrefix(n.Info.URL, "http") + "/v1/ws?token=" + old
	if _, resp, err := websocket.DefaultDialer.Dial(u, nil); err == nil || resp.StatusCode != 401 {
		t.Fatalf("a socket with the old ?token=: %v", err)
	}
	if st := cookieStatus(t, n, cookie); st != http.StatusUnauthorized {
		t.Fatalf("a session cookie after rotation: %d, want 401", st)
	}
	socketEnds(t, wsCookie, "the cookie's socket")
	for {
		if _, err := sock.Read(ctx); err != nil {
			if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
				t.Fatalf("the old token's socket after rotation: %v, want close 1008 from the node", err)
			}
			break
		}
	}
	fresh := localclient.New(n.Info.URL, tok)
	if me, err := fresh.Me(ctx); err != nil || me.Name != "alice" {
		t.Fatalf("the new token: %+v %v", me, err)
	}

	n.Restart()
	if n.Info.Token != tok {
		t.Fatalf("after a restart the token is %s, want the rotated %s", n.Info.Token, tok)
	}
	if _, err := localclient.New(n.Info.URL, old).Me(ctx); !isStatus(err, 401) {
		t.Fatalf("the old token after a restart: %v, want 401", err)
	}
}

func isStatus(err error, status int) bool {
	var ae *localclient.APIError
	return errors.As(err, &ae) && ae.Status == status
}

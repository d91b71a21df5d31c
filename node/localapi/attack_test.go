//go:build unix

package localapi_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/localapi"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
)

// attackConns is how many connections the attacker opens (issue 11 held 1,100 forever).
const attackConns = 1100

// fdBudget returns how many attacker connections this process can afford when both ends of
// each may be open at once (the node runs in this process), raising the soft descriptor
// limit towards the hard one if needed. Too few descriptors to test the attack at all fail
// the test, naming the limit.
func fdBudget(t *testing.T, want, floor int) int {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	const reserve = 512 // the node's store, libp2p host and the test's own
	need := uint64(2*want + reserve)
	if rl.Cur < need && rl.Max > rl.Cur {
		rl.Cur = min(need, rl.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Logf("setrlimit: %v", err)
		}
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	n := want
	if rl.Cur < need {
		n = (int(rl.Cur) - reserve) / 2
	}
	if n < floor {
		t.Fatalf("ulimit -n is %d: this test needs at least %d file descriptors (raise ulimit -n)", rl.Cur, 2*floor+reserve)
	}
	return n
}

// attacker is one raw TCP connection to the API that sends what its kind says and then
// nothing more.
type attacker struct {
	kind string
	conn net.Conn
	// first is the first line the node answered ("" if none), sent on done when the node
	// closes the connection.
	first string
}

// attackKinds: what each connection sends. None of them knows the token, except "stall-auth"
// (a token holder whose body never comes).
func attackKinds(host, token string) map[string]string {
	return map[string]string{
		// Headers with a Content-Length and no body, to the API, unauthenticated.
		"no-body": "PATCH /v1/me HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
		// The same to an endpoint that never reads a body (the static web UI).
		"no-body-ui": "POST /index.html HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 1000\r\n\r\n",
		// Half a body, then silence.
		"half-body": "POST /v1/contacts HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 1000\r\n\r\n{\"link\":\"",
		// Headers that never end.
		"slow-headers": "GET /v1/me HTTP/1.1\r\nHost: " + host + "\r\nX-Slow: ",
		// Nothing at all.
		"silent": "",
		// Authenticated, and the body never comes.
		"stall-auth": "PATCH /v1/me HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + token + "\r\nContent-Length: 1000\r\n\r\n",
	}
}

// attack opens n connections round-robin over kinds; each reports on done once the node has
// closed it.
func attack(t *testing.T, addr string, kinds map[string]string, n int, done chan<- *attacker) []*attacker {
	t.Helper()
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	out := make([]*attacker, 0, n)
	t.Cleanup(func() {
		for _, a := range out {
			a.conn.Close()
		}
	})
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("attacker connection %d: %v", i, err)
		}
		a := &attacker{kind: names[i%len(names)], conn: c}
		out = append(out, a)
		if p := kinds[a.kind]; p != "" {
			if _, err := c.Write([]byte(p)); err != nil {
				t.Fatalf("attacker %d (%s) write: %v", i, a.kind, err)
			}
		}
		go func() {
			r := bufio.NewReader(c)
			line, _ := r.ReadString('\n')
			a.first = strings.TrimSpace(line)
			for {
				if _, err := r.Discard(4096); err != nil {
					break // closed by the node (or by the cleanup above)
				}
			}
			done <- a
		}()
	}
	return out
}

// waitClosed waits until at least k attacker connections have been closed by the node and
// returns them. ctx bounds the wait for a node that never closes them.
func waitClosed(t *testing.T, ctx context.Context, done <-chan *attacker, k int, what string) []*attacker {
	t.Helper()
	var closed []*attacker
	for len(closed) < k {
		select {
		case a := <-done:
			closed = append(closed, a)
		case <-ctx.Done():
			t.Fatalf("%s: only %d of %d attacker connections were closed by the node", what, len(closed), k)
		}
	}
	return closed
}

// freshClient is the node's own UI on a connection of its own (not one opened before the
// attack).
func freshClient(n *nodetest.Node, token string) *localclient.Client {
	return localclient.NewWithDial(n.Info.URL, token, (&net.Dialer{}).DialContext)
}

// TestSlowConnectionsCannotStarveTheUI (issue 11, item 6): an attacker without the token
// opens 1,100 connections that send headers with a Content-Length and no body, half a body,
// headers that never end, or nothing. The API holds at most MaxConns connections (the oldest
// unauthenticated one makes room for a new one), so the node's own UI is answered, on a new
// connection, while the attack is on; every refused request is answered at once and its
// connection closed, without waiting for the body.
func TestSlowConnectionsCannotStarveTheUI(t *testing.T) {
	const maxConns = 64
	nAtt := fdBudget(t, attackConns, 4*maxConns)
	// Deadlines far beyond the test: only the cap and the early refusal can free anything.
	n := nodetest.StartWith(t, "alice", func(c *node.Config) {
		c.APILimits = localapi.Limits{HeaderTimeout: time.Hour, BodyTimeout: time.Hour, MaxConns: maxConns}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A UI's socket, open before the attack: the oldest connection, but authenticated, so it
	// is never the one displaced.
	sock, _, err := freshClient(n, n.Info.Token).Dial(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	sock.Send(map[string]any{"type": "hello", "since": 1 << 62})
	readUntil(t, ctx, sock, "synced")

	addr := strings.TrimPrefix(n.Info.URL, "http://")
	kinds := attackKinds(addr, "not-the-token")
	delete(kinds, "stall-auth")
	done := make(chan *attacker, nAtt)
	attack(t, addr, kinds, nAtt, done)

	// Every connection beyond the cap is closed by the node, so it holds at most maxConns.
	closed := waitClosed(t, ctx, done, nAtt-maxConns, "at the cap")

	// The node's own UI, on a new connection, during the attack: read and write.
	ui := freshClient(n, n.Info.Token)
	if me, err := ui.Me(ctx); err != nil || me.Name != "alice" {
		t.Fatalf("the UI during the attack: %+v %v", me, err)
	}
	if me, err := ui.SetName(ctx, "alice under attack"); err != nil || me.Name != "alice under attack" {
		t.Fatalf("the UI's write during the attack: %+v %v", me, err)
	}
	// Its connection displaced one more attacker's: the cap holds with the UI in it.
	closed = append(closed, waitClosed(t, ctx, done, 1, "after the UI connected")...)
	if err := sock.Send(map[string]string{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ctx, sock, "pong") // (after the event of the UI's write)

	// The unauthenticated requests with a body that reached the API were refused with 401
	// before any body was read (not held waiting for it); each connection was closed.
	refused := 0
	for _, a := range closed {
		if a.first == "" {
			continue // displaced before the node read its request
		}
		refused++
		if a.kind != "no-body" && a.kind != "half-body" {
			t.Errorf("%s connection answered %q before it was closed", a.kind, a.first)
		} else if a.first != "HTTP/1.1 401 Unauthorized" {
			t.Errorf("%s connection answered %q, want 401", a.kind, a.first)
		}
	}
	t.Logf("%d attacker connections, %d closed by the node (%d of them answered 401 first), cap %d", nAtt, len(closed), refused, maxConns)
}

// TestDeadlinesCloseSlowConnections (issue 11, item 6): with a cap that the attack does not
// reach, the header and body deadlines alone close every slow connection, a token holder's
// whose body never comes too. A socket opened before the attack and the UI's kept-alive
// connection outlive the deadlines.
func TestDeadlinesCloseSlowConnections(t *testing.T) {
	// Long enough that an attacker whose whole header is one write gets it out before the
	// header deadline even when the race detector and a loaded machine delay its goroutine
	// (at 300 ms, one stall-auth connection in 183 was cut before its headers were read).
	const timeout = time.Second
	nAtt := fdBudget(t, attackConns, 256)
	n := nodetest.StartWith(t, "alice", func(c *node.Config) {
		c.APILimits = localapi.Limits{HeaderTimeout: timeout, BodyTimeout: timeout, MaxConns: 2*nAtt + 64}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ui := freshClient(n, n.Info.Token)
	if _, err := ui.Me(ctx); err != nil {
		t.Fatal(err)
	}
	sock, _, err := ui.Dial(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	sock.Send(map[string]any{"type": "hello", "since": 1 << 62})
	readUntil(t, ctx, sock, "synced")

	addr := strings.TrimPrefix(n.Info.URL, "http://")
	kinds := attackKinds(addr, n.Info.Token)
	done := make(chan *attacker, nAtt)
	attack(t, addr, kinds, nAtt, done)
	closed := waitClosed(t, ctx, done, nAtt, "by the deadlines")
	answers := map[string]map[string]int{}
	for _, a := range closed {
		if answers[a.kind] == nil {
			answers[a.kind] = map[string]int{}
		}
		answers[a.kind][a.first]++
	}
	for kind, want := range map[string]string{
		"no-body": "HTTP/1.1 401 Unauthorized", "half-body": "HTTP/1.1 401 Unauthorized",
		"stall-auth": "HTTP/1.1 400 Bad Request", // "cannot read the request body"
		"silent":     "", "slow-headers": "",     // closed without an answer
	} {
		if len(answers[kind]) != 1 || answers[kind][want] == 0 {
			t.Errorf("%s connections answered %v, want %q", kind, answers[kind], want)
		}
	}
	t.Logf("first lines by kind: %v", answers)

	// Everything above took longer than the deadlines: the socket and the UI's connection,
	// both opened before, still work.
	if err := sock.Send(map[string]string{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	if f, err := sock.Read(ctx); err != nil || f.Type != "pong" {
		t.Fatalf("the socket after the deadlines: %+v %v", f, err)
	}
	if me, err := ui.SetName(ctx, "still here"); err != nil || me.Name != "still here" {
		t.Fatalf("the UI after the deadlines: %+v %v", me, err)
	}
}

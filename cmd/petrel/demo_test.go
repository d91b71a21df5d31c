package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDemo: `petrel demo` prints two UI links that log in, the nodes are contacts of each
// other (not message requests), the UI is served, and cancelling (Ctrl-C) stops both and
// removes the temporary directory.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut lockedBuffer
	env := &cliEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}
	done := make(chan error, 1)
	go func() { done <- cmdDemo(ctx, env, nil) }()

	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "Ctrl-C stops") {
		select {
		case err := <-done:
			t.Fatalf("demo ended early: %v\n%s\n%s", err, out.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo not ready in 2 minutes:\n%s\n%s", out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	text := out.String()
	links := regexp.MustCompile(`(alice|bob)\s+(http://127\.0\.0\.1:\d+)/#token=([0-9a-f]+)`).FindAllStringSubmatch(text, -1)
	if len(links) != 2 {
		t.Fatalf("want two UI links, got:\n%s", text)
	}
	root := regexp.MustCompile(`deletes (\S+)\.`).FindStringSubmatch(text)
	if root == nil {
		t.Fatalf("no data directory named:\n%s", text)
	}
	for i, l := range links {
		name, base, token := l[1], l[2], l[3]
		resp, err := http.Get(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`<script type="module" src="js/main.js">`)) {
			t.Fatalf("%s: GET / = %d %.200s", name, resp.StatusCode, body)
		}
		cs, err := localclient.New(base, token).Contacts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		other := []string{"Bob", "Alice"}[i]
		if len(cs) != 1 || cs[0].Name != other || cs[0].Request != api.RequestAccepted {
			t.Fatalf("%s's contacts: %+v, want %s, accepted", name, cs, other)
		}
		// The demo's relay is each node's home relay, and the node reaches it.
		relay := regexp.MustCompile(`relay\s+(/ip4/127\.0\.0\.1/\S+/p2p/\S+)`).FindStringSubmatch(text)
		if relay == nil {
			t.Fatalf("no relay address printed:\n%s", text)
		}
		wait.For(t, name+" connects to the demo relay", func() error {
			st, err := localclient.New(base, token).Status(ctx)
			if err != nil {
				return err
			}
			if len(st.Relays) != 1 || st.Relays[0].Addr != relay[1] || !st.Relays[0].Connected {
				return fmt.Errorf("relays %+v, want %s connected", st.Relays, relay[1])
			}
			return nil
		})
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo after Ctrl-C: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("demo did not stop within a minute")
	}
	if _, err := os.Stat(root[1]); !os.IsNotExist(err) {
		t.Fatalf("%s still exists after the demo: %v", root[1], err)
	}
}

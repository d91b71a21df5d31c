package nodetest

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// UserID is n's user id (GET /v1/me).
func UserID(t testing.TB, n *Node) string {
	t.Helper()
	me, err := n.Client.Me(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return me.UserID
}

// WaitRelayConnected waits until n has one home relay and is registered there (GET
// /v1/status); what names n in the wait's message.
func WaitRelayConnected(t testing.TB, n *Node, what string) {
	t.Helper()
	wait.For(t, what+" registered at its relay", func() error {
		st, err := n.Client.Status(context.Background())
		if err != nil {
			return err
		}
		if len(st.Relays) != 1 || !st.Relays[0].Connected {
			return fmt.Errorf("relays %+v", st.Relays)
		}
		return nil
	})
}

// NoPlaintext fails t for every file under dir that holds one of texts as plain bytes
// (nothing is plaintext at rest), and if there is no file at all to scan.
func NoPlaintext(t testing.TB, dir string, texts ...string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		for _, s := range texts {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds plaintext %q", p, s)
			}
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("scanned %d files under %s: %v", n, dir, err)
	}
}

package nodetest

import (
	"context"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/store"
)

// StartLinked creates a node in a fresh temp dir as a new device named name of the account
// that issued link (node.InitLinked: the link and the history transfer), runs it until the
// test ends and returns it with the number of history records it received.
func StartLinked(t testing.TB, name, link string) (*Node, int) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	recs, err := node.InitLinked(ctx, dir, []byte(Passphrase), name, link, store.Options{}, node.LinkOptions{})
	if err != nil {
		t.Fatalf("nodetest: link %s: %v", name, err)
	}
	n := &Node{Dir: dir, Name: name, t: t}
	n.Run()
	t.Cleanup(n.Stop)
	return n, recs
}

package node_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/media"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/node/shredkeys"
	"github.com/petrel-chat/petrel/node/store/storetest"
	"github.com/petrel-chat/petrel/relay/relayserver"
	"github.com/petrel-chat/petrel/relay/relaytest"
	"golang.org/x/crypto/chacha20poly1305"
)

// The forensic tools below read a stopped node's data directory as an attacker with the
// passphrase would: from the formats documented in docs/PROTOCOL.md ("Store",
// "Disappearing messages at rest"), not through the node's packages.

// shortBuckets gives a node's keyring two-second buckets, swept often, so that a test sees
// an expired message's key destroyed within seconds (a node's default is one hour).
func shortBuckets(c *node.Config) {
	c.Shred = shredkeys.Options{Window: 2 * time.Second, SweepInterval: 200 * time.Millisecond}
}

// sealedCandidates are the byte strings in v that may be content sealed under a bucket
// key: v itself and every JSON string in it that is base64 (a []byte field).
func sealedCandidates(v []byte) [][]byte {
	out := [][]byte{v}
	var x any
	if json.Unmarshal(v, &x) != nil {
		return out
	}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case string:
			if b, err := base64.StdEncoding.DecodeString(x); err == nil && len(b) > 16 {
				out = append(out, b)
				out = append(out, sealedCandidates(b)...)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(x)
	return out
}

// openSealed tries key on c as sealed content (docs/PROTOCOL.md) stored at storeKey.
func openSealed(key, c, storeKey []byte) ([]byte, bool) {
	if len(c) < 50 || c[0] != 1 {
		return nil, false
	}
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, false
	}
	ad := append(append([]byte("petrel_v1_shredkeys_content"), c[1:10]...), storeKey...)
	pt, err := a.Open(nil, c[10:34], c[34:], ad)
	return pt, err == nil
}

// forensicFinding is where a scan found a secret.
type forensicFinding struct {
	where string
	key   []byte // the bucket key that opened it, if it was sealed
}

// forensicScan reads the stopped node's whole data directory and reports every place one
// of secrets can be read: in the plain bytes of any file, in any version of any value of
// the store, or in content sealed under a bucket key still in DIR/shredkeys.
func forensicScan(t *testing.T, n *nodetest.Node, secrets ...string) []forensicFinding {
	t.Helper()
	var out []forensicFinding
	files := 0
	err := filepath.WalkDir(n.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				out = append(out, forensicFinding{where: "file " + p})
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("scanned %d files under %s: %v", files, n.Dir, err)
	}
	dk := storetest.DataKey(t, n.Dir, []byte(nodetest.Passphrase))
	keys := storetest.ShredKeys(t, n.Dir, dk)
	values := storetest.AllVersions(t, n.Dir, dk)
	if len(values) == 0 {
		t.Fatalf("no value in %s's store", n.Name)
	}
	for _, v := range values {
		for _, s := range secrets {
			if bytes.Contains(v.Value, []byte(s)) {
				out = append(out, forensicFinding{where: fmt.Sprintf("store value at %q", v.Key)})
			}
		}
		for i, c := range sealedCandidates(v.Value) {
			for _, s := range secrets {
				if i > 0 && bytes.Contains(c, []byte(s)) {
					out = append(out, forensicFinding{where: fmt.Sprintf("store value at %q, base64 in its JSON", v.Key)})
				}
			}
			for _, k := range keys {
				pt, ok := openSealed(k, c, v.Key)
				if !ok {
					continue
				}
				for _, s := range secrets {
					if bytes.Contains(pt, []byte(s)) {
						out = append(out, forensicFinding{where: fmt.Sprintf("sealed content at %q", v.Key), key: k})
					}
				}
			}
		}
	}
	return out
}

// keysStillInFile reports how many of keys DIR/shredkeys still yields (read while the
// node runs, as a file).
func keysStillInFile(t *testing.T, n *nodetest.Node, dk []byte, keys [][]byte) int {
	t.Helper()
	c := 0
	for _, k := range storetest.ShredKeys(t, n.Dir, dk) {
		for _, want := range keys {
			if bytes.Equal(k, want) {
				c++
			}
		}
	}
	return c
}

func findingsString(fs []forensicFinding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("\n\t" + f.where)
		if f.key != nil {
			b.WriteString(" (opened with a bucket key still in DIR/shredkeys)")
		}
	}
	return b.String()
}

// forensicControl stops n, scans its data directory before the expiry and runs it
// again: the scan must find the secret (the control: it can see it). It returns the
// bucket keys that opened it.
func forensicControl(t *testing.T, n *nodetest.Node, secrets ...string) [][]byte {
	t.Helper()
	n.Stop()
	before := forensicScan(t, n, secrets...)
	n.Run()
	if len(before) == 0 {
		t.Fatalf("%s: the control scan before the expiry finds none of %q", n.Name, secrets)
	}
	var keys [][]byte
	for _, f := range before {
		if f.key != nil {
			keys = append(keys, f.key)
		}
	}
	return keys
}

// forensicGone waits (gone, through the API) for the expiry and until every key of keys
// is gone from DIR/shredkeys, stops n and scans its data directory: it must find nothing.
func forensicGone(t *testing.T, n *nodetest.Node, keys [][]byte, gone func(), secrets ...string) {
	t.Helper()
	gone()
	dk := storetest.DataKey(t, n.Dir, []byte(nodetest.Passphrase))
	wait.For(t, n.Name+" destroys the bucket keys of the expired content", func() error {
		if c := keysStillInFile(t, n, dk, keys); c > 0 {
			return fmt.Errorf("%d of %d keys still in DIR/shredkeys", c, len(keys))
		}
		return nil
	})
	n.Stop()
	after := forensicScan(t, n, secrets...)
	n.Run()
	if len(after) > 0 {
		t.Errorf("%s: after the expiry the data directory still yields the plaintext:%s", n.Name, findingsString(after))
	}
}

// chunkFileCount counts the media chunk files in n's data directory.
func chunkFileCount(t *testing.T, n *nodetest.Node) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(n.Dir, "media", "chunks"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	c := 0
	for _, e := range ents {
		if len(e.Name()) == 64 {
			c++
		}
	}
	return c
}

// noBodyInEvents fails t if n's event log (GET /v1/events) returns any of secrets.
func noBodyInEvents(t *testing.T, n *nodetest.Node, secrets ...string) {
	t.Helper()
	page, err := n.Client.Events(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range page.Events {
		for _, s := range secrets {
			if strings.Contains(string(ev.Payload), s) {
				t.Errorf("%s's event log returns %q after the expiry: %s %s", n.Name, s, ev.Kind, ev.Payload)
			}
		}
	}
}

// waitGone waits until n no longer shows body in conv and has said so with a
// message_update.
func waitGone(t *testing.T, n *nodetest.Node, conv, id, body string) func() {
	return func() {
		t.Helper()
		wait.For(t, n.Name+" deletes the message at its expiry", func() error {
			if findBody(t, n, conv, body) != nil {
				return fmt.Errorf("still there")
			}
			if !deletedUpdate(t, n, id) {
				return fmt.Errorf("no message_update with deleted")
			}
			return nil
		})
	}
}

// TestDisappearedDirectMessageLeavesNoTraceOnDisk: alice sends bob, who is offline, a
// disappearing message; it waits in his relay mailbox; bob comes back, reads it, and
// restarts during the timer. Before the expiry each node's data directory, opened with
// the passphrase, yields the text (the control); after it, neither yields it: not in any
// file, not in any version of any store value, not in content under any key left.
func TestDisappearedDirectMessageLeavesNoTraceOnDisk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const secret = "forensic secret: the eagle lands at nine"
	const fileName = "forensic-eagle-landing-plan.bin"
	cfg := relayserver.DefaultConfig()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	r := relaytest.Start(t, &cfg)
	alice := nodetest.StartWith(t, "alice", shortBuckets)
	bob := nodetest.StartWith(t, "bob", shortBuckets)
	bob.Stop()
	bob.Relays = []string{r.Info.Addrs[0]}
	bob.Run()
	nodetest.WaitRelayConnected(t, bob, "bob")
	toBob, toAlice := nodetest.BefriendBoth(t, alice, bob)
	conv, bconv := toBob.ConversationID, toAlice.ConversationID
	if status, _ := setDisappear(t, alice, conv, 30); status != 200 {
		t.Fatalf("set: %d", status)
	}
	waitTimer(t, bob, bconv, 30, "alice set messages to disappear after 30 seconds")

	bob.Stop()
	// With an attachment: its name, its bytes and its file key (which opens its chunks)
	// are secrets too, on both sides.
	file := testFile(t, 10_000)
	att, err := alice.Client.UploadMedia(ctx, bytes.NewReader(file), int64(len(file)), fileName, "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := alice.Node.MediaManifest(att.MediaID)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{secret, fileName, string(mediaPattern), string(mf.Key), base64.StdEncoding.EncodeToString(mf.Key)}
	code, sent := sendAttachments(t, alice.Client, conv, "f1", secret, att.MediaID)
	if code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("send: %d", code)
	}
	wait.For(t, "alice's message waits in bob's mailbox", allStatus(t, alice.Client, conv, api.StatusSent))
	bob.Run()
	var got *api.Message
	wait.For(t, "bob gets the message from his mailbox", func() error {
		if got = findBody(t, bob, bconv, secret); got == nil {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	ba := waitAttachment(t, bob, bconv, secret, media.Available)
	if !bytes.Equal(readMedia(t, bob, ba.MediaID), file) {
		t.Fatal("bob's copy of the attachment differs")
	}
	// GET /v1/messages/{id} has it (and its events, from its record, while it lives:
	// TestDisappearingMessageEventsCarryItWhileItLives; the log on disk keeps no copy).
	if m, err := bob.Client.Message(ctx, got.ID); err != nil || m.Body != secret {
		t.Fatalf("GET /v1/messages/{id}: %+v %v", m, err)
	}
	if status, err := bob.Client.DoStatus(ctx, "GET", "/v1/messages/nosuchmessage", nil, nil); status != 404 {
		t.Fatalf("GET /v1/messages/ of an unknown id: %d %v", status, err)
	}
	if err := bob.Client.MarkRead(ctx, bconv, got.ID); err != nil {
		t.Fatal(err)
	}
	// A restart during the timer: the stored expiry stands.
	bob.Restart()
	if m := findBody(t, bob, bconv, secret); m == nil || m.ExpiresAt == nil {
		t.Fatalf("bob after a restart within the timer: %+v", m)
	}
	// An edit and a reaction of the message inherit its timer: the edit's new text is a
	// secret too (in alice's outbox and resend history), and bob's reaction travels the
	// same way back.
	const edited = "forensic secret, edited: the eagle lands at ten"
	secrets = append(secrets, edited)
	if _, err := alice.Client.Edit(ctx, sent.ID, edited); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Client.React(ctx, got.ID, "🦅", false); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "bob shows the edit and alice bob's reaction", func() error {
		if findBody(t, bob, bconv, edited) == nil {
			return fmt.Errorf("bob: no edit yet")
		}
		if m := findBody(t, alice, conv, edited); m == nil || len(m.Reactions["🦅"]) == 0 {
			return fmt.Errorf("alice: no reaction yet")
		}
		return nil
	})

	ka, kb := forensicControl(t, alice, secrets...), forensicControl(t, bob, secrets...)
	forensicGone(t, alice, ka, waitGone(t, alice, conv, sent.ID, edited), secrets...)
	forensicGone(t, bob, kb, waitGone(t, bob, bconv, got.ID, edited), secrets...)
	noBodyInEvents(t, alice, secret, fileName, edited)
	noBodyInEvents(t, bob, secret, fileName, edited)
	for _, n := range []*nodetest.Node{alice, bob} {
		if c := chunkFileCount(t, n); c != 0 {
			t.Errorf("%s keeps %d chunk files of the expired attachment", n.Name, c)
		}
	}
	if _, err := bob.Client.MediaInfo(ctx, ba.MediaID); err == nil {
		t.Error("bob's node still describes the expired attachment")
	}
	if m, err := bob.Client.Message(ctx, got.ID); err != nil || !m.Deleted || m.Body != "" {
		t.Fatalf("GET /v1/messages/{id} after the expiry: %+v %v", m, err)
	}
}

// TestDisappearedGroupMessageLeavesNoTraceOnDisk is the forensic check for a group: the
// admin's message, read by one member and read later by another after a restart.
func TestDisappearedGroupMessageLeavesNoTraceOnDisk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const secret = "forensic group secret: the heron flies at dawn"
	nodes := startNodes(t, 3, shortBuckets)
	if _, err := nodes[0].Client.SetName(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	gid, _ := makeGroup(t, nodes, "forensics")
	if status, _ := setDisappear(t, nodes[0], gid, 20); status != 200 {
		t.Fatalf("set: %d", status)
	}
	for _, n := range nodes {
		waitTimer(t, n, gid, 20, "Alice set messages to disappear after 20 seconds")
	}
	const fileName = "forensic-heron-flight-path.bin"
	file := testFile(t, 9_000)
	att, err := nodes[0].Client.UploadMedia(ctx, bytes.NewReader(file), int64(len(file)), fileName, "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := nodes[0].Node.MediaManifest(att.MediaID)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{secret, fileName, string(mediaPattern), string(mf.Key), base64.StdEncoding.EncodeToString(mf.Key)}
	code, sent := sendAttachments(t, nodes[0].Client, gid, "g1", secret, att.MediaID)
	if code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("send: %d", code)
	}
	ids := map[*nodetest.Node]string{nodes[0]: sent.ID}
	for _, n := range nodes[1:] {
		wait.For(t, n.Name+" gets the message", func() error {
			m := findBody(t, n, gid, secret)
			if m == nil {
				return fmt.Errorf("not yet")
			}
			ids[n] = m.ID
			return nil
		})
		waitAttachment(t, n, gid, secret, media.Available)
	}
	// nodes[2] restarts before reading it (sealed while unread), then reads it.
	nodes[2].Restart()
	for _, n := range nodes[1:] {
		if err := n.Client.MarkRead(ctx, gid, ids[n]); err != nil {
			t.Fatal(err)
		}
	}
	keys := map[*nodetest.Node][][]byte{}
	for _, n := range nodes {
		keys[n] = forensicControl(t, n, secrets...)
	}
	for _, n := range nodes {
		forensicGone(t, n, keys[n], waitGone(t, n, gid, ids[n], secret), secrets...)
		noBodyInEvents(t, n, secret, fileName)
		if c := chunkFileCount(t, n); c != 0 {
			t.Errorf("%s keeps %d chunk files of the expired attachment", n.Name, c)
		}
	}
}

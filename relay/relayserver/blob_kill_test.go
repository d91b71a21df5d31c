package relayserver_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relayserver"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// relayChildEnv makes the test binary a relay process on its Badger store in the named
// data directory (TestMain), printing its first address, until it is killed.
const relayChildEnv = "PETREL_RELAY_CHILD"

func relayChild(dir string) int {
	s, err := relayserver.New(testConfig(), relayserver.Options{DataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	err = s.Run(context.Background(), func(info relayserver.Info) { fmt.Println(info.Addrs[0], info.Metrics) })
	fmt.Fprintln(os.Stderr, "relay child:", err)
	return 1
}

// TestBlobRelaySIGKILLMidUpload: a real relay process is SIGKILLed while a node is half
// way through uploading a blob. Restarted on the same data directory, the relay holds
// the blob it acknowledged before, whole, and nothing of the one cut off: no blob, no
// charge to the uploader.
func TestBlobRelaySIGKILLMidUpload(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), relayChildEnv+"="+dir)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("relay child: %v", err)
	}
	fields := strings.Fields(line)
	if len(fields) != 2 {
		t.Fatalf("relay child said %q", line)
	}
	child := &testRelay{info: relayserver.Info{Metrics: fields[1]}} // for metric()
	ai, err := peer.AddrInfoFromString(fields[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	alice := newUser(t)
	h := newNode(t, nil)
	if err := h.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	if err := mailboxclient.Register(ctx, h, ai.ID, alice.id); err != nil {
		t.Fatal(err)
	}
	done := randomBytes(1 << 20)
	if _, err := mailboxclient.PutBlob(ctx, h, ai.ID, alice.id, done); err != nil {
		t.Fatal(err)
	}
	cut := randomBytes(2 << 20)
	s := openBlobSessionAs(t, h, ai.ID, alice.id, false)
	s.send(relaywire.AppendBlobPut(nil, relaywire.BlobPut{ID: relaywire.BlobIDOf(cut), Size: len(cut)}))
	if st, err := relaywire.ParseBlobStat(s.read()); err != nil || st.Present {
		t.Fatalf("go-ahead: %+v %v", st, err)
	}
	s.data(cut[:1<<20])
	// Mid-upload: the relay holds the first half.
	waitFor(t, func() bool { return metric(t, child, "petrel_relay_blob_receiving_bytes") == 1<<20 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	r := startRelayIn(t, testConfig(), dir)
	if r.id() != ai.ID {
		t.Fatal("the restarted relay has another key")
	}
	h2 := newNode(t, r)
	got, err := mailboxclient.GetBlob(ctx, h2, r.id(), relaywire.BlobIDOf(done), 0, -1)
	if err != nil || !bytes.Equal(got, done) {
		t.Fatalf("the blob acknowledged before the kill: %v", err)
	}
	if info, err := mailboxclient.HasBlob(ctx, h2, r.id(), relaywire.BlobIDOf(cut)); err != nil || info.Present {
		t.Fatalf("the blob cut off by the kill: %+v %v", info, err)
	}
	if v := metric(t, r, "petrel_relay_blob_blobs"); v != 1 {
		t.Fatalf("blobs after the restart: %v, want 1", v)
	}
	if v := metric(t, r, "petrel_relay_blob_bytes"); v != float64(len(done)) {
		t.Fatalf("blob bytes after the restart: %v, want %d", v, len(done))
	}
}

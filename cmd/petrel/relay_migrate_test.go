package main

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// TestRelayMigrateMovesMailAndBlobsIntoACluster: a real single `petrel relay` (Badger)
// holds a mailbox with waiting mail and a blob. It is stopped; two new cluster processes
// start with its relay key; `petrel relay migrate`, run as a process on the single relay's
// data directory with the third process's cluster config, moves its state in; the third
// process then starts. A node that knew only the old relay's peer id drains the mail at a
// process that never saw the Badger store, and reads the blob there byte-identical, whole
// and by range, with its expiry unchanged. No plaintext is in any data directory.
func TestRelayMigrateMovesMailAndBlobsIntoACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real petrel relay processes")
	}
	bin, err := exec.LookPath("petrel")
	if err != nil {
		t.Fatalf("petrel not on PATH (testscript.Main sets it up): %v", err)
	}
	ctx := context.Background()
	single := newRelayProc(t, bin)
	single.start()
	relayID := single.addrInfo().ID
	h := newClientHost(t)
	if err := h.Connect(ctx, single.addrInfo()); err != nil {
		t.Fatal(err)
	}
	bob, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := mailboxclient.Register(ctx, h, relayID, bob); err != nil {
		t.Fatal(err)
	}
	mb := relaywire.MailboxID(bob.Public())
	bobDH, _ := ecdh.X25519().GenerateKey(rand.Reader)
	_, signer, _ := ed25519.GenerateKey(rand.Reader)
	senderDH, _ := ecdh.X25519().GenerateKey(rand.Reader)
	var sent []string
	for i := range 20 {
		p := fmt.Sprintf("migrate-relay-body #%02d", i)
		env, err := sealed.Seal(mb, bobDH.PublicKey(), signer, senderDH.PublicKey(), []byte(p))
		if err != nil {
			t.Fatal(err)
		}
		if err := mailboxclient.Deposit(ctx, h, relayID, mb, env); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, p)
	}
	blob := make([]byte, 2<<20) // two megabytes: sixteen object chunks in the cluster
	rand.Read(blob)
	blobID, err := mailboxclient.PutBlob(ctx, h, relayID, bob, blob)
	if err != nil {
		t.Fatal(err)
	}
	before, err := mailboxclient.HasBlob(ctx, h, relayID, blobID)
	if err != nil || !before.Present {
		t.Fatalf("the blob at the single relay: %+v %v", before, err)
	}
	single.cmd.Process.Signal(syscall.SIGTERM)
	<-single.done
	if code := single.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("the single relay exited %d after SIGTERM", code)
	}

	// The cluster: process 0 runs on the single relay's data directory (and key); 1 and 2
	// are new, with a copy of that key, so nodes see the same relay peer.
	key, err := os.ReadFile(filepath.Join(single.dir, "relay.key"))
	if err != nil {
		t.Fatal(err)
	}
	routes := []string{"127.0.0.1:" + strconv.Itoa(freePort(t)), "127.0.0.1:" + strconv.Itoa(freePort(t)), "127.0.0.1:" + strconv.Itoa(freePort(t))}
	config := func(i int) string {
		var others []string
		for j, a := range routes {
			if j != i {
				others = append(others, strconv.Quote(a))
			}
		}
		return fmt.Sprintf(`{"mailbox": {"peer_rate": 0, "mailbox_rate": 0}, "metrics_addr": "127.0.0.1:0",
			"cluster": {"name": "migrated", "listen": %q, "routes": [%s], "secret": "s3cret"}}`, routes[i], strings.Join(others, ","))
	}
	procs := []*relayProc{single, newRelayProc(t, bin), newRelayProc(t, bin)}
	for i, r := range procs {
		r.config = config(i)
		if i > 0 {
			if err := os.WriteFile(filepath.Join(r.dir, "relay.key"), key, 0o600); err != nil {
				t.Fatal(err)
			}
			r.launch() // waits for a quorum: the migration's node is the third
		}
	}
	cfg0 := filepath.Join(t.TempDir(), "cluster-0.json")
	if err := os.WriteFile(cfg0, []byte(procs[0].config), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "relay", "migrate", "--data", single.dir, "--config", cfg0).CombinedOutput()
	if err != nil {
		t.Fatalf("petrel relay migrate: %v\n%s", err, out)
	}
	t.Logf("petrel relay migrate:\n%s", out)
	for _, want := range []string{"migrated 1 mailboxes", "20 messages", fmt.Sprintf("migrated 1 blobs, %d bytes", len(blob))} {
		if !bytes.Contains(out, []byte(want)) {
			t.Fatalf("the migration's report lacks %q:\n%s", want, out)
		}
	}
	procs[0].launch()
	for _, r := range procs {
		r.waitReady()
	}

	// A node that knows the relay's peer id, at the process that never held the Badger store.
	h2 := newClientHost(t)
	if err := h2.Connect(ctx, peer.AddrInfo{ID: relayID, Addrs: []ma.Multiaddr{ma.StringCast(procs[2].listen)}}); err != nil {
		t.Fatal(err)
	}
	mail, err := mailboxclient.Fetch(ctx, h2, relayID, bob, 100)
	if err != nil || len(mail) != len(sent) {
		t.Fatalf("bob's mail from the cluster: %d of %d (%v)", len(mail), len(sent), err)
	}
	for i, m := range mail {
		o, err := sealed.Open(m.Envelope, bobDH)
		if err != nil || string(o.Payload) != sent[i] {
			t.Fatalf("message %d from the cluster: %v %q, want %q", i, err, o.Payload, sent[i])
		}
	}
	after, err := mailboxclient.HasBlob(ctx, h2, relayID, blobID)
	if err != nil || !after.Present || after.Size != before.Size || !after.Expires.Equal(before.Expires) {
		t.Fatalf("the blob in the cluster: %+v %v; at the single relay: %+v", after, err, before)
	}
	got, err := mailboxclient.GetBlob(ctx, h2, relayID, blobID, 0, -1)
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("the blob read whole from the cluster: %v", err)
	}
	part, err := mailboxclient.GetBlob(ctx, h2, relayID, blobID, 1<<20+7, 300_000)
	if err != nil || !bytes.Equal(part, blob[1<<20+7:1<<20+7+300_000]) {
		t.Fatalf("a range of the blob from the cluster: %v", err)
	}
	for i, r := range procs {
		r.cmd.Process.Signal(syscall.SIGTERM)
		<-r.done
		nodetest.NoPlaintext(t, r.dir, "migrate-relay-body")
		if i > 0 && bytes.Contains([]byte(dirBytes(t, r.dir)), blob[4096:8192]) {
			// JetStream's files are encrypted: not even the (already sealed) blob shows.
			t.Errorf("the blob's bytes in the clear under %s", r.dir)
		}
	}
}

// dirBytes is every file under dir, concatenated.
func dirBytes(t *testing.T, dir string) string {
	t.Helper()
	var all []byte
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		all = append(all, b...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(all)
}

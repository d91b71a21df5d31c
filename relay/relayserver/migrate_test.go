package relayserver_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/relay/clusterstore"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relayserver"
)

// TestMigrateToCluster: a single relay's mailboxes (registration, waiting mail including a
// multi deposit, prekeys) and blobs are moved into a cluster by MigrateToCluster (what
// `petrel relay migrate` runs); the relay restarted with the cluster config serves them
// unchanged (a blob whole and by range, its expiry kept),
// and a second migration copies nothing twice.
func TestMigrateToCluster(t *testing.T) {
	dir := t.TempDir()
	r := startRelayIn(t, testConfig(), dir)
	bob, carol := newUser(t), newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	register(t, h, r, carol)
	s := newSender(t)
	if err := mailboxclient.Deposit(ctx, h, r.id(), bob.mb, s.seal(t, bob, "one")); err != nil {
		t.Fatal(err)
	}
	if err := mailboxclient.Deposit(ctx, h, r.id(), bob.mb, s.seal(t, bob, "two")); err != nil {
		t.Fatal(err)
	}
	_, up := prekeyUpload(t, bob.id, 3, 2)
	if _, err := mailboxclient.UploadPrekeys(ctx, h, r.id(), bob.id, up); err != nil {
		t.Fatal(err)
	}
	alice, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	rs, body := multiFor(t, alice, []byte("to the group"), bob, carol)
	if errs, err := mailboxclient.DepositMulti(ctx, h, r.id(), rs, body); err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("multi deposit: %v %v", errs, err)
	}
	blob := make([]byte, 512<<10) // a padding bucket
	rand.Read(blob)
	blobID, err := mailboxclient.PutBlob(ctx, h, r.id(), bob.id, blob)
	if err != nil {
		t.Fatal(err)
	}
	before, err := mailboxclient.HasBlob(ctx, h, r.id(), blobID)
	if err != nil || !before.Present {
		t.Fatalf("the blob at the single relay: %+v %v", before, err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	route := l.Addr().String()
	l.Close()
	cfg := testConfig()
	cfg.Cluster = &clusterstore.Config{Name: "migrate", Listen: route, Replicas: 1}
	log := slog.New(slog.DiscardHandler)
	n, err := relayserver.MigrateToCluster(context.Background(), cfg, dir, log)
	if err != nil {
		t.Fatal(err)
	}
	if n.Mailboxes != 2 || n.Messages != 4 || n.Prekeys == 0 || n.Skipped != 0 || n.Blobs != 1 || n.BlobBytes != int64(before.Size) {
		t.Fatalf("migrated %+v", n)
	}
	if again, err := relayserver.MigrateToCluster(context.Background(), cfg, dir, log); err != nil || again.Skipped != 2 || again.Messages != 0 ||
		again.Blobs != 0 || again.BlobsSkipped != 1 {
		t.Fatalf("second migration: %+v %v", again, err)
	}

	rc := startRelayIn(t, cfg, dir)
	h2 := newNode(t, rc)
	mail, err := mailboxclient.Fetch(ctx, h2, rc.id(), bob.id, 10)
	if err != nil || len(mail) != 3 {
		t.Fatalf("bob's mail in the cluster: %d %v", len(mail), err)
	}
	for i, want := range []string{"one", "two"} {
		o, err := sealed.Open(mail[i].Envelope, bob.dh)
		if err != nil || string(o.Payload) != want {
			t.Fatalf("message %d: %v %q", i, err, o.Payload)
		}
	}
	if o, err := sealed.OpenSharedFor(mail[2].Envelope, bob.id); err != nil || string(o.Payload) != "to the group" {
		t.Fatalf("bob's multi deposit after the migration: %v", err)
	}
	cm, err := mailboxclient.Fetch(ctx, h2, rc.id(), carol.id, 10)
	if err != nil || len(cm) != 1 {
		t.Fatalf("carol's mail in the cluster: %d %v", len(cm), err)
	}
	if o, err := sealed.OpenSharedFor(cm[0].Envelope, carol.id); err != nil || string(o.Payload) != "to the group" {
		t.Fatalf("carol's multi deposit after the migration: %v", err)
	}
	if _, err := mailboxclient.FetchBundle(ctx, h2, rc.id(), bob.id.Public()); err != nil {
		t.Fatalf("bob's prekeys in the cluster: %v", err)
	}
	after, err := mailboxclient.HasBlob(ctx, h2, rc.id(), blobID)
	if err != nil || !after.Present || after.Size != before.Size || !after.Expires.Equal(before.Expires) {
		t.Fatalf("the blob in the cluster: %+v %v, at the single relay %+v", after, err, before)
	}
	got, err := mailboxclient.GetBlob(ctx, h2, rc.id(), blobID, 0, -1)
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("the blob read from the cluster: %v", err)
	}
	part, err := mailboxclient.GetBlob(ctx, h2, rc.id(), blobID, 100_000, 5000)
	if err != nil || !bytes.Equal(part, blob[100_000:105_000]) {
		t.Fatalf("a range of the blob from the cluster: %v", err)
	}
}

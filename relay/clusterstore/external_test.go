package clusterstore

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// externalNATS runs a NATS server with JetStream on loopback, outside any Store (what an
// operator's own NATS deployment is to the relay), requiring user "relay", password pw.
func externalNATS(t *testing.T, pw string) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), Username: "relay", Password: pw, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("the external NATS server did not start within 30 s")
	}
	return ns.ClientURL()
}

// TestExternalNATSByURL: two relay processes configured with an external NATS server's URL
// and credentials (nats_url, user, password; nothing embedded) share one relay's state: a
// mailbox registered at one takes mail at the other, which the first drains; a blob put at
// one is read whole at the other. A process with a wrong password does not open, and says
// why.
func TestExternalNATSByURL(t *testing.T) {
	url := externalNATS(t, "s3cret")
	open := func(pw string) (*Store, error) {
		octx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return Open(octx, Config{NATSURL: url, User: "relay", Password: pw, Replicas: 1}, Options{DataDir: t.TempDir(), Quota: quota})
	}
	a, err := open("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := open("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.ns != nil || b.ns != nil {
		t.Fatal("a store with nats_url started an embedded server")
	}
	owner, mb := newOwner(t, a)
	for i := range 5 {
		deposit(t, b, mb, fmt.Sprintf("external-%d", i))
	}
	mail, _, err := a.Fetch(mb, 10, 1<<20, time.Now())
	if err != nil || len(mail) != 5 || string(mail[0].Envelope) != "external-0" {
		t.Fatalf("mail deposited at the other process: %d %v", len(mail), err)
	}
	if p, err := b.Owner(mb); err != nil || !bytes.Equal(p.Bytes(), owner.Public().Bytes()) {
		t.Fatalf("the registration at the other process: %v", err)
	}
	data, id := randomBlob(64 << 10)
	if stored, err := a.PutBlob(ctx, uploader(1), id, data, time.Now(), blobQuota); err != nil || !stored {
		t.Fatalf("blob put: %v %v", stored, err)
	}
	if got, err := b.ReadBlob(id, 0, len(data), time.Now()); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the blob at the other process: %v", err)
	}
	if s, err := open("wrong"); err == nil {
		s.Close()
		t.Fatal("a wrong password opened the store")
	} else {
		t.Logf("with a wrong password: %v", err)
	}
}

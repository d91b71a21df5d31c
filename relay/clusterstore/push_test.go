package clusterstore

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// TestPushRegistrationsSharedAcrossProcesses: a registration made at one process is what
// the bridge of another reads (a deposit there wakes the owner); dead marks, deletion, the
// per-owner limit and do-not-disturb are the same at every process.
func TestPushRegistrationsSharedAcrossProcesses(t *testing.T) {
	ms := startCluster(t, 3)
	a, b, c := ms[0].store, ms[1].store, ms[2].store
	_, mb := newOwner(t, a)
	var id1, id2 [relaywire.PushRegistrationIDSize]byte
	id1[0], id2[0] = 1, 2
	now := time.UnixMilli(time.Now().UnixMilli())
	if err := a.PutPush(ctx, mb, id1, []byte("sealed-one"), now, 2); err != nil {
		t.Fatal(err)
	}
	if err := b.PutPush(ctx, mb, id2, []byte("sealed-two"), now, 2); err != nil {
		t.Fatal(err)
	}
	var id3 [relaywire.PushRegistrationIDSize]byte
	id3[0] = 3
	if err := c.PutPush(ctx, mb, id3, []byte("sealed-three"), now, 2); !errors.Is(err, relaystore.ErrPushLimit) {
		t.Fatalf("third registration over a limit of 2: %v", err)
	}
	recs, err := c.Pushes(mb)
	if err != nil || len(recs) != 2 || recs[0].ID != id1 || !bytes.Equal(recs[1].Sealed, []byte("sealed-two")) || !recs[0].Created.Equal(now) {
		t.Fatalf("registrations read at a third process: %+v %v", recs, err)
	}
	if err := b.MarkPushDead(ctx, mb, id1, "410 gone"); err != nil {
		t.Fatal(err)
	}
	recs, err = a.Pushes(mb)
	if err != nil || len(recs) != 2 || !recs[0].Dead || recs[0].Reason != "410 gone" || recs[1].Dead {
		t.Fatalf("after a dead mark at another process: %+v %v", recs, err)
	}
	// The owner registering the same id again with new bytes makes it active again.
	if err := c.PutPush(ctx, mb, id1, []byte("sealed-one-new"), now, 2); err != nil {
		t.Fatal(err)
	}
	if recs, _ = b.Pushes(mb); len(recs) != 2 || recs[0].Dead || string(recs[0].Sealed) != "sealed-one-new" {
		t.Fatalf("re-registration: %+v", recs)
	}
	if err := a.DeletePush(ctx, mb, id2); err != nil {
		t.Fatal(err)
	}
	if recs, _ = c.Pushes(mb); len(recs) != 1 || recs[0].ID != id1 {
		t.Fatalf("after deletion at another process: %+v", recs)
	}
	until := time.UnixMilli(now.Add(time.Hour).UnixMilli())
	if err := b.SetPushDND(ctx, mb, until); err != nil {
		t.Fatal(err)
	}
	if got, err := c.PushDND(mb); err != nil || !got.Equal(until) {
		t.Fatalf("do-not-disturb at another process: %v %v", got, err)
	}
	if err := a.SetPushDND(ctx, mb, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.PushDND(mb); err != nil || !got.IsZero() {
		t.Fatalf("do-not-disturb cleared: %v %v", got, err)
	}
	if err := a.PutPush(ctx, make([]byte, relaywire.MailboxIDSize), id1, []byte("x"), now, 2); !errors.Is(err, relaystore.ErrUnknownMailbox) {
		t.Fatalf("registration for an unknown mailbox: %v", err)
	}
}

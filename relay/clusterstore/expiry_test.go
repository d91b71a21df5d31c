package clusterstore

import (
	"sync"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/relay/relaystore"
)

// TestOwnExpiryClusterWide: mail deposited with an expiry before its TTL (single and multi,
// at different processes) is not fetched after it at any process, is purged once by three
// processes purging at once, releases the message quota and the shared body, and leaves
// the expiry index empty; mail without an expiry stays.
func TestOwnExpiryClusterWide(t *testing.T) {
	q := relaystore.Quota{TTL: 24 * time.Hour, MaxMessages: 3}
	ms := startClusterQuota(t, 3, q)
	_, a := newOwner(t, ms[0].store)
	_, b := newOwner(t, ms[0].store)
	now := time.Now()
	until := now.Add(time.Minute)
	if _, err := ms[1].store.StartDepositUntil(ctx, a, []byte("\x01lives"), now, time.Time{}, q)(); err != nil {
		t.Fatal(err)
	}
	if _, err := ms[1].store.StartDepositUntil(ctx, a, []byte("\x01goes"), now, until, q)(); err != nil {
		t.Fatal(err)
	}
	errs, err := ms[2].store.StartMultiDepositUntil(ctx, []relaystore.Recipient{{Mailbox: a, Header: []byte("ha")}, {Mailbox: b, Header: []byte("hb")}},
		[]byte("\x02body"), now, until, q)()
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("multi: %v %v", errs, err)
	}
	if _, err := ms[1].store.StartDepositUntil(ctx, a, []byte("\x01full"), now, time.Time{}, q)(); err == nil {
		t.Fatal("a fourth message passed the message quota")
	}
	if mail, _, err := ms[0].store.Fetch(a, 10, 1<<20, now); err != nil || len(mail) != 3 {
		t.Fatalf("before the expiry: %d messages, %v", len(mail), err)
	}

	later := now.Add(2 * time.Minute) // past the expiry's whole minute, far from the TTL
	for i, m := range ms {
		mail, _, err := m.store.Fetch(a, 10, 1<<20, later)
		if err != nil || len(mail) != 1 || string(mail[0].Envelope) != "\x01lives" {
			t.Fatalf("process %d after the expiry: %d messages, %v", i, len(mail), err)
		}
		if mail, _, err := m.store.Fetch(b, 10, 1<<20, later); err != nil || len(mail) != 0 {
			t.Fatalf("process %d, b after the expiry: %d messages, %v", i, len(mail), err)
		}
	}
	var total int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() {
			n, err := m.store.PurgeExpired(ctx, later)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != 3 {
		t.Fatalf("three processes purging at once deleted %d, want 3", total)
	}
	waitFor(t, "a's usage to show one message", func() bool { return ms[1].store.Waiting(a) == 1 && ms[1].store.Waiting(b) == 0 })
	for _, env := range []string{"\x01room", "\x01again"} {
		if _, err := ms[0].store.StartDepositUntil(ctx, a, []byte(env), later, time.Time{}, q)(); err != nil {
			t.Fatalf("deposit after the purge: %v (quota not released)", err)
		}
	}
	if info, err := ms[0].store.body.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Errorf("the shared body stream holds %d after the purge (%v)", info.State.Msgs, err)
	}
	if info, err := ms[0].store.exp.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Errorf("the expiry index holds %d after the purge (%v)", info.State.Msgs, err)
	}
}

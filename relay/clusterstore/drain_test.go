package clusterstore

import (
	"fmt"
	"testing"
	"time"
)

// TestPipelinedDepositsDrainedOnce: 10,000 deposits pipelined at one process are fetched
// and acknowledged at another exactly once each, in order.
func TestPipelinedDepositsDrainedOnce(t *testing.T) {
	q := quota
	q.MaxMessages, q.MaxBytes = 0, 0
	ms := startClusterQuota(t, 3, q)
	_, mb := newOwner(t, ms[0].store)
	const n = 10_000
	waits := make([]func() (uint64, error), n)
	for i := range n {
		waits[i] = ms[0].store.StartDeposit(ctx, mb, []byte(fmt.Sprintf("m%05d", i)), time.Now(), q)
	}
	for i, w := range waits {
		if _, err := w(); err != nil {
			t.Fatalf("deposit %d: %v", i, err)
		}
	}
	info, err := ms[1].store.mail.Info(ctx)
	if err != nil || info.State.Msgs != n {
		t.Fatalf("the mail stream holds %d messages after %d deposits: %v", info.State.Msgs, n, err)
	}
	next := 0
	for {
		mail, more, err := ms[1].store.Fetch(mb, 1000, 4<<20, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var ids []uint64
		for _, m := range mail {
			if want := fmt.Sprintf("m%05d", next); string(m.Envelope) != want {
				t.Fatalf("got %q, want %q", m.Envelope, want)
			}
			next++
			ids = append(ids, m.ID)
		}
		if k, err := ms[1].store.Ack(ctx, mb, ids); err != nil || k != len(ids) {
			t.Fatalf("ack of %d: %d %v", len(ids), k, err)
		}
		if !more {
			break
		}
	}
	if next != n {
		t.Fatalf("drained %d of %d", next, n)
	}
}

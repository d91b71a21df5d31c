package sessions

import (
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestBudgetsBurstThenRefill: a peer gets its burst at once, then one more per interval;
// peers have budgets of their own, contacts and strangers apart. The clock is the caller's.
func TestBudgetsBurstThenRefill(t *testing.T) {
	var b Budgets
	now := time.Unix(1_700_000_000, 0)
	p, q := peer.ID("peer-p"), peer.ID("peer-q")
	for i := range ContactBurst {
		if !b.Contact(p, now) {
			t.Fatalf("contact request %d of the burst refused", i+1)
		}
	}
	if b.Contact(p, now) {
		t.Fatal("a contact over its burst was served")
	}
	if !b.Contact(q, now) || !b.Stranger(p, now) {
		t.Fatal("another peer, or the same peer as a stranger, shares the spent budget")
	}
	if b.Contact(p, now.Add(ContactEvery-time.Millisecond)) {
		t.Fatal("served before a token came back")
	}
	if !b.Contact(p, now.Add(ContactEvery)) {
		t.Fatal("no token back after ContactEvery")
	}
	for i := 1; i < StrangerBurst; i++ {
		if !b.Stranger(p, now) {
			t.Fatalf("stranger request %d of the burst refused", i+1)
		}
	}
	if b.Stranger(p, now) {
		t.Fatal("a stranger over its burst was served")
	}
}

// TestBudgetsTableFull: with maxPeers peers all still drawing on their budgets, a new peer
// is refused (an attacker with many peer ids cannot grow the table); once their buckets
// are full again, they are forgotten and the new peer is served.
func TestBudgetsTableFull(t *testing.T) {
	var b Budgets
	now := time.Unix(1_700_000_000, 0)
	for i := range maxPeers {
		if !b.Stranger(peer.ID(fmt.Sprint("p", i)), now) {
			t.Fatalf("peer %d refused", i)
		}
	}
	if b.Stranger("newcomer", now) {
		t.Fatal("a new peer was tracked past maxPeers")
	}
	if !b.Stranger("newcomer", now.Add(StrangerEvery)) {
		t.Fatal("the table did not forget peers whose buckets filled up again")
	}
}

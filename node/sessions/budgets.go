package sessions

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Prekey protocol budgets (per requesting peer, token buckets): a contact gets bundles with
// one-time keys at most ContactBurst at once and one more every ContactEvery, and beyond that
// the keys-free bundle; a stranger gets only keys-free bundles, at most StrangerBurst at
// once and one more every StrangerEvery, and beyond that a refusal. At most maxPeers
// peers of each kind are tracked: when the table is full of peers still drawing on their
// budget, a new peer is over budget until some bucket fills up again.
const (
	ContactBurst  = 3
	ContactEvery  = 20 * time.Second
	StrangerBurst = 10
	StrangerEvery = 2 * time.Second
	maxPeers      = 1024
)

// Budgets are the prekey protocol's per-peer budgets, one table for contacts and one for
// strangers. The zero Budgets is ready.
type Budgets struct {
	contacts  bucketTable
	strangers bucketTable
}

// Contact spends one of contact pid's bundles with one-time keys and reports whether its
// budget had one at now.
func (b *Budgets) Contact(pid peer.ID, now time.Time) bool {
	return b.contacts.take(pid, now, ContactBurst, ContactEvery)
}

// Stranger spends one of stranger pid's keys-free bundles and reports whether its budget
// had one at now.
func (b *Budgets) Stranger(pid peer.ID, now time.Time) bool {
	return b.strangers.take(pid, now, StrangerBurst, StrangerEvery)
}

// bucketTable holds one token bucket per peer.
type bucketTable struct {
	mu sync.Mutex
	m  map[peer.ID]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// take spends one of pid's tokens (burst at most, one more every every) and reports
// whether there was one.
func (t *bucketTable) take(pid peer.ID, now time.Time, burst int, every time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	fill := func(b *bucket) {
		b.tokens = min(float64(burst), b.tokens+float64(now.Sub(b.at))/float64(every))
		b.at = now
	}
	b, ok := t.m[pid]
	if !ok {
		if t.m == nil {
			t.m = map[peer.ID]*bucket{}
		}
		if len(t.m) >= maxPeers {
			// A full bucket holds nothing a fresh one would not: forget those.
			for id, o := range t.m {
				if fill(o); o.tokens >= float64(burst) {
					delete(t.m, id)
				}
			}
			if len(t.m) >= maxPeers {
				return false
			}
		}
		b = &bucket{tokens: float64(burst), at: now}
		t.m[pid] = b
	}
	fill(b)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

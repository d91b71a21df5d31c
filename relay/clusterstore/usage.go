package clusterstore

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"golang.org/x/sync/errgroup"
)

// flushEvery is how often a process writes its mailbox usage deltas to the usage bucket.
const flushEvery = 50 * time.Millisecond

// usage is a mailbox's charge: messages held and envelope bytes charged.
type usage struct{ count, bytes int64 }

func (u usage) marshal() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(u.count))
	return binary.BigEndian.AppendUint64(b, uint64(u.bytes))
}

func parseUsage(v []byte) (usage, error) {
	if len(v) != 16 {
		return usage{}, fmt.Errorf("clusterstore: usage record of %d bytes", len(v))
	}
	return usage{int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))}, nil
}

// usageTracker keeps every mailbox's usage as the bucket holds it (a watch), the deltas
// this process has not written yet, and the bytes of deposits in flight here. The byte
// quota is checked against their sum: exact within one process, and across processes up
// to what the others deposited in the last flush interval (see doc.go).
type usageTracker struct {
	s    *Store
	wake chan struct{}

	mu       sync.Mutex
	seen     map[string]usage  // the bucket's value
	rev      map[string]uint64 // its revision
	pending  map[string]usage  // acknowledged here, not yet in the bucket
	inflight map[string]int64  // bytes of deposits awaiting JetStream's ack here
	total    int64
}

func newUsageTracker(s *Store) *usageTracker {
	return &usageTracker{s: s, wake: make(chan struct{}, 1), seen: map[string]usage{}, rev: map[string]uint64{},
		pending: map[string]usage{}, inflight: map[string]int64{}}
}

// load reads the whole bucket and keeps watching it.
func (t *usageTracker) load(ctx context.Context) error {
	w, err := t.s.use.WatchAll(t.s.ctx)
	if err != nil {
		return fmt.Errorf("clusterstore: watch usage: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			w.Stop()
			return ctx.Err()
		case e := <-w.Updates():
			if e == nil { // the initial values are all in
				t.s.wg.Add(1)
				go func() {
					defer t.s.wg.Done()
					defer w.Stop()
					for e := range w.Updates() {
						if e != nil {
							t.apply(e)
						}
					}
				}()
				return nil
			}
			t.apply(e)
		}
	}
}

func (t *usageTracker) apply(e jetstream.KeyValueEntry) {
	var u usage
	if e.Operation() == jetstream.KeyValuePut {
		var err error
		if u, err = parseUsage(e.Value()); err != nil {
			return
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := keyMailbox(e.Key())
	if e.Revision() < t.rev[k] {
		return
	}
	t.total += u.bytes - t.seen[k].bytes
	t.seen[k], t.rev[k] = u, e.Revision()
}

// reserve admits size more bytes into mailbox under q's byte quota, or refuses.
func (t *usageTracker) reserve(mb []byte, size int64, q relaystore.Quota) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := string(mb)
	held := t.seen[k].bytes + t.pending[k].bytes + t.inflight[k]
	if q.MaxBytes > 0 && held+size > q.MaxBytes {
		return fmt.Errorf("%w: %d of %d bytes held, %d more refused", relaystore.ErrQuotaBytes, held, q.MaxBytes, size)
	}
	t.inflight[k] += size
	return nil
}

// settle ends a reservation: stored says whether JetStream took the deposit.
func (t *usageTracker) settle(mb []byte, size int64, stored bool) {
	t.mu.Lock()
	k := string(mb)
	if t.inflight[k] -= size; t.inflight[k] <= 0 {
		delete(t.inflight, k)
	}
	if stored {
		p := t.pending[k]
		p.count++
		p.bytes += size
		t.pending[k] = p
	}
	t.mu.Unlock()
	if stored {
		t.poke()
	}
}

// remove charges back messages deleted here (acknowledged or expired).
func (t *usageTracker) remove(mb []byte, n, size int64) {
	t.mu.Lock()
	p := t.pending[string(mb)]
	p.count -= n
	p.bytes -= size
	t.pending[string(mb)] = p
	t.mu.Unlock()
	t.poke()
}

func (t *usageTracker) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// waiting is about how many messages mailbox holds.
func (t *usageTracker) waiting(mb []byte) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return uint64(max(0, t.seen[string(mb)].count+t.pending[string(mb)].count))
}

func (t *usageTracker) totalBytes() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.total
	for _, p := range t.pending {
		n += p.bytes
	}
	return n
}

func (t *usageTracker) flushLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
		}
		t.flush(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(flushEvery):
		}
	}
}

// flush writes the pending deltas to the bucket (compare-and-set per mailbox) and
// publishes a notice for each mailbox that received mail.
func (t *usageTracker) flush(ctx context.Context) {
	t.mu.Lock()
	batch := t.pending
	t.pending = map[string]usage{}
	revs := make(map[string]uint64, len(batch))
	for k := range batch {
		revs[k] = t.rev[k]
	}
	t.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	var g errgroup.Group
	g.SetLimit(64)
	var mu sync.Mutex
	failed := map[string]usage{}
	for k, d := range batch {
		g.Go(func() error {
			n, err := t.add(ctx, k, d, revs[k])
			if err != nil {
				mu.Lock()
				failed[k] = d
				mu.Unlock()
				t.s.log.Warn("usage update failed; retrying", "err", err)
				return nil
			}
			if d.count > 0 {
				t.s.nc.Publish(t.s.subject("notice", hex.EncodeToString([]byte(k))), binary.BigEndian.AppendUint64(nil, uint64(max(1, n.count))))
			}
			return nil
		})
	}
	g.Wait()
	if len(failed) > 0 {
		t.mu.Lock()
		for k, d := range failed {
			p := t.pending[k]
			p.count += d.count
			p.bytes += d.bytes
			t.pending[k] = p
		}
		t.mu.Unlock()
		if ctx.Err() == nil {
			t.poke()
		}
	}
}

// add applies d to mailbox k's usage record by compare-and-set, starting from the revision
// the watch last saw, and returns the new usage.
func (t *usageTracker) add(ctx context.Context, k string, d usage, rev uint64) (usage, error) {
	key := mailboxKey([]byte(k))
	for attempt := 0; attempt < 100; attempt++ {
		cur := usage{}
		if attempt > 0 || rev == 0 {
			e, err := t.s.leaderGet(ctx, t.s.use, key)
			switch {
			case err == nil:
				if cur, err = parseUsage(e.value); err != nil {
					return usage{}, err
				}
				rev = e.revision
			case errors.Is(err, jetstream.ErrKeyNotFound):
				rev = 0
			default:
				return usage{}, err
			}
		} else {
			t.mu.Lock()
			cur = t.seen[k]
			t.mu.Unlock()
		}
		n := usage{max(0, cur.count+d.count), max(0, cur.bytes+d.bytes)}
		rctx, cancel := t.s.req(ctx)
		var err error
		var newRev uint64
		if rev == 0 {
			newRev, err = t.s.use.Create(rctx, key, n.marshal())
		} else {
			newRev, err = t.s.use.Update(rctx, key, n.marshal(), rev)
		}
		cancel()
		if err == nil {
			t.mu.Lock()
			if newRev > t.rev[k] {
				t.total += n.bytes - t.seen[k].bytes
				t.seen[k], t.rev[k] = n, newRev
			}
			t.mu.Unlock()
			return n, nil
		}
		if !isConflict(err) {
			return usage{}, err
		}
		// Someone else wrote first: read the current value and try again.
	}
	return usage{}, errors.New("clusterstore: usage update kept conflicting")
}

// mailboxKey and keyMailbox map a mailbox id to a bucket key and back.
func mailboxKey(mb []byte) string { return hex.EncodeToString(mb) }

func keyMailbox(k string) string {
	b, _ := hex.DecodeString(k)
	return string(b)
}

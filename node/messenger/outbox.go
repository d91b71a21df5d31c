package messenger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Outbox delivery parameters.
const (
	// window is how many Deliver frames may await their Ack on one stream.
	window = 256
	// ackTimeout fails a stream whose receiver acknowledges nothing for this long.
	ackTimeout = 30 * time.Second
	// idleLinger keeps an emptied stream open this long for the next message.
	idleLinger = 3 * time.Second
	// backoffBase and backoffMax bound the retry delay (doubling, with ±25% jitter).
	backoffBase = 250 * time.Millisecond
	backoffMax  = 30 * time.Second
	// expireAfter fails a content its recipient has not taken for this long.
	expireAfter = 30 * 24 * time.Hour
	// dialTimeout bounds connecting to a contact.
	dialTimeout = 10 * time.Second
	// maxSessionResets bounds how many new sessions one content is encrypted again under
	// when the receiver answers that it could not decrypt it; then it fails with a reason.
	maxSessionResets = 3
)

// errSessionReset ends a delivery whose receiver could not decrypt what it got: the session
// was set aside, and the worker starts a new one and sends the contents again.
var errSessionReset = errors.New("the contact's node could not decrypt our messages: starting a new session")

// outbox runs one delivery worker per contact with pending contents.
type outbox struct {
	m   *Messenger
	ctx context.Context

	mu       sync.Mutex
	workers  map[string]*worker
	wg       sync.WaitGroup
	stopping bool // set under mu before wg.Wait; no worker is added after
}

type worker struct {
	cid  string
	wake chan struct{}
}

func newOutbox(m *Messenger) *outbox {
	return &outbox{m: m, ctx: m.ctx, workers: map[string]*worker{}}
}

// kick makes sure a worker delivers contact cid's outbox.
func (o *outbox) kick(cid string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ctx.Err() != nil || o.stopping {
		return
	}
	if w := o.workers[cid]; w != nil {
		select {
		case w.wake <- struct{}{}:
		default:
		}
		return
	}
	w := &worker{cid: cid, wake: make(chan struct{}, 1)}
	o.workers[cid] = w
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		o.run(w)
	}()
}

// peerConnected wakes the worker of the contact that just connected, skipping its backoff.
func (o *outbox) peerConnected(pid peer.ID) {
	var cid string
	_ = o.m.st.View(func(tx *store.Tx) error {
		var err error
		cid, err = getString(tx, kContactByPeer(pid.String()))
		return err
	})
	if cid == "" {
		return
	}
	o.mu.Lock()
	w := o.workers[cid]
	o.mu.Unlock()
	if w != nil {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (o *outbox) wait() {
	o.mu.Lock()
	o.stopping = true
	o.mu.Unlock()
	o.wg.Wait()
}

// run delivers until the contact's outbox is empty, retrying with backoff.
func (o *outbox) run(w *worker) {
	attempt := 0
	for {
		progress, err := o.deliver(w)
		if errors.Is(err, errSessionReset) {
			o.m.log.Info("new session for undecryptable contents", "contact", w.cid)
			continue // bounded: each content is sent under at most maxSessionResets new sessions
		}
		if err != nil && o.ctx.Err() == nil && o.relayFallback(w.cid) {
			// The contact's node is out of reach: leave the mail at its relays.
			n, derr := o.depositAll(w)
			progress += n
			if derr == nil {
				o.m.log.Debug("delivered to the contact's mailbox", "contact", w.cid, "n", n, "direct", err)
				err = nil
			} else {
				err = fmt.Errorf("%w; mailbox: %w", err, derr)
			}
		}
		if err == nil {
			o.mu.Lock()
			select {
			case <-w.wake:
				o.mu.Unlock()
				continue
			default:
				delete(o.workers, w.cid)
				o.mu.Unlock()
				return
			}
		}
		if o.ctx.Err() != nil {
			return
		}
		if progress > 0 {
			attempt = 0
		}
		d := backoff(attempt)
		attempt++
		o.m.log.Warn("delivery failed, retrying", "contact", w.cid, "err", err, "in", d)
		t := time.NewTimer(d)
		select {
		case <-o.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-w.wake:
			t.Stop()
		}
	}
}

// backoff is the delay before retry attempt n: exponential with ±25% jitter.
func backoff(n int) time.Duration {
	d := backoffMax
	if n < 20 {
		d = min(backoffBase<<n, backoffMax)
	}
	return d - d/4 + time.Duration(mrand.Int64N(int64(d/2)+1))
}

// sentEntry is an outbox entry written to the stream and awaiting its Ack.
type sentEntry struct {
	key   []byte
	msgID string // message whose status the Ack drives, or ""
}

// pending is an outbox entry loaded for sending.
type pending struct {
	key []byte
	rec outboxRec
}

// deliver sends everything in the outbox over one stream, pipelined, and applies the
// acknowledgements. It returns how many contents were acknowledged.
func (o *outbox) deliver(w *worker) (int, error) {
	m := o.m
	ctx := o.ctx
	if empty, err := o.empty(w.cid); err != nil || empty {
		return 0, err
	}
	sctx, cancel := context.WithTimeout(ctx, dialTimeout)
	err := m.ensureSession(sctx, w.cid)
	cancel()
	if err != nil {
		return 0, err
	}
	c, err := o.contact(w.cid)
	if err != nil {
		return 0, err
	}
	pid, err := peerOf(c)
	if err != nil {
		return 0, err
	}
	m.addAddrs(pid, c.Addrs)
	h := m.hostOrNil()
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	err = ensureDirect(dctx, h, pid)
	if err != nil {
		cancel()
		return 0, fmt.Errorf("open stream: %w", err)
	}
	s, err := h.NewStream(dctx, pid, wire.MessageProtocol)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("open stream: %w", err)
	}
	acks := make(chan wire.Ack, window)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReader(s)
		var buf []byte
		for {
			b, err := wire.ReadFrame(r, buf)
			if err != nil {
				readErr <- err
				return
			}
			a, err := wire.ParseAck(b)
			if err != nil {
				readErr <- err
				return
			}
			select {
			case acks <- a:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		s.Reset()
		<-done
	}()

	// Acknowledged entries that drive no message status (receipts and other control
	// contents) are deleted lazily: with the next status change, in bulk, or when the
	// stream ends. A crash before that only sends them again, and the receiver drops the
	// copies by envelope id. This saves the receiving side of a conversation one durable
	// commit per receipt it sends.
	var acked [][]byte
	defer func() { o.forget(w.cid, acked) }()

	bw := bufio.NewWriterSize(s, 64<<10)
	inflight := map[wire.ID]sentEntry{}
	var cursor []byte // last outbox key written
	progress := 0
	timer := time.NewTimer(ackTimeout)
	defer timer.Stop()
	for {
		if len(inflight) < window {
			batch, err := o.load(w.cid, cursor, window-len(inflight))
			if err != nil {
				return progress, err
			}
			if batch, err = o.encrypt(ctx, w.cid, batch); err != nil {
				return progress, err
			}
			for _, p := range batch {
				var id wire.ID
				copy(id[:], p.rec.EnvID)
				frame := wire.AppendDeliver(nil, &wire.Deliver{ID: id, Initial: p.rec.Initial, Message: p.rec.Cipher})
				if err := wire.WriteFrame(bw, frame); err != nil {
					return progress, err
				}
				inflight[id] = sentEntry{key: p.key, msgID: p.rec.MsgID}
				cursor = p.key
			}
			if len(batch) > 0 {
				if err := bw.Flush(); err != nil {
					return progress, err
				}
			}
		}
		if len(inflight) == 0 {
			// Linger briefly for the next message, then let the worker end.
			t := time.NewTimer(idleLinger)
			select {
			case <-w.wake:
				t.Stop()
				continue
			case <-t.C:
				return progress, nil
			case <-ctx.Done():
				t.Stop()
				return progress, ctx.Err()
			case <-readErr: // the receiver closed the idle stream: nothing is in flight
				t.Stop()
				return progress, nil
			}
		}
		timer.Reset(ackTimeout)
		select {
		case a := <-acks:
			got := []wire.Ack{a}
		drain:
			for len(got) < window {
				select {
				case a := <-acks:
					got = append(got, a)
				default:
					break drain
				}
			}
			n, err := o.applyAcks(ctx, w.cid, got, inflight, &acked)
			progress += n
			if err != nil {
				return progress, err
			}
		case <-w.wake:
			// new contents: loop to send them
		case err := <-readErr:
			return progress, fmt.Errorf("receiver: %w", err)
		case <-timer.C:
			return progress, errors.New("receiver acknowledged nothing for 30 s")
		case <-ctx.Done():
			return progress, ctx.Err()
		}
	}
}

func (o *outbox) contact(cid string) (*contactRec, error) {
	var c *contactRec
	err := o.m.st.View(func(tx *store.Tx) error {
		var err error
		c, err = loadContact(tx, cid)
		return err
	})
	return c, err
}

func (o *outbox) empty(cid string) (bool, error) {
	empty := true
	err := o.m.st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: kOutboxPrefix(cid), KeysOnly: true}, func(_, _ []byte) (bool, error) {
			empty = false
			return false, nil
		})
	})
	return empty, err
}

// load returns up to n outbox entries after cursor.
func (o *outbox) load(cid string, cursor []byte, n int) ([]pending, error) {
	var out []pending
	err := o.m.st.View(func(tx *store.Tx) error {
		opt := store.IterOptions{Prefix: kOutboxPrefix(cid)}
		if cursor != nil {
			opt.Start = cursor
		}
		return tx.Iterate(opt, func(k, v []byte) (bool, error) {
			if cursor != nil && bytes.Equal(k, cursor) {
				return true, nil
			}
			var p pending
			p.key = k
			if err := json.Unmarshal(v, &p.rec); err != nil {
				return false, err
			}
			out = append(out, p)
			return len(out) < n, nil
		})
	})
	return out, err
}

// encrypt gives every entry without ciphertext its ciphertext, in one transaction that
// also saves the advanced ratchet, and fails entries older than expireAfter.
func (o *outbox) encrypt(ctx context.Context, cid string, batch []pending) ([]pending, error) {
	var todo bool
	cutoff := o.m.now().Add(-expireAfter).UnixMilli()
	for _, p := range batch {
		if p.rec.Cipher == nil || p.rec.Created < cutoff {
			todo = true
		}
	}
	if !todo {
		return batch, nil
	}
	var out []pending
	err := o.m.st.Update(ctx, func(tx *store.Tx) error {
		out = out[:0]
		c, err := loadContact(tx, cid)
		if err != nil {
			return err
		}
		s0, err := o.m.ratchets.Load(tx, cid, sessions.Current)
		if err != nil {
			return err
		}
		if s0 == nil {
			return errors.New("no session with the contact yet")
		}
		dirty := false
		for _, p := range batch {
			var rec outboxRec
			ok, err := getJSON(tx, p.key, &rec)
			if err != nil {
				return err
			}
			if !ok {
				continue // acknowledged meanwhile
			}
			if rec.Created < cutoff {
				if err := tx.Delete(p.key); err != nil {
					return err
				}
				if rec.MsgID != "" {
					if err := o.m.setStatus(tx, rec.MsgID, api.StatusFailed, "expired: the contact's node did not take it within 30 days"); err != nil {
						return err
					}
				}
				continue
			}
			if rec.Cipher == nil {
				if err := sealEntry(c, s0, &rec, nil); err != nil {
					return err
				}
				if err := putJSON(tx, p.key, &rec); err != nil {
					return err
				}
				dirty = true
			}
			out = append(out, pending{key: p.key, rec: rec})
		}
		if dirty {
			return o.m.ratchets.Save(tx, cid, sessions.Current, s0)
		}
		return nil
	})
	return out, err
}

// applyAcks removes acknowledged entries and moves their messages' status.
// A message failed meanwhile (identity change) stays failed: setStatus never leaves failed.
// If lazy is not nil, entries that drive no status are added to *lazy instead of being
// deleted, unless there is a transaction to commit anyway or *lazy holds a window's worth:
// then everything in *lazy is deleted with it.
func (o *outbox) applyAcks(ctx context.Context, cid string, acks []wire.Ack, inflight map[wire.ID]sentEntry, lazy *[][]byte) (int, error) {
	all := acks
	if lazy != nil {
		status := false
		for _, a := range acks {
			if e, ok := inflight[a.ID]; ok && (e.msgID != "" || a.Status == wire.AckUndecryptable) {
				status = true
			}
		}
		if !status {
			for _, a := range acks {
				if e, ok := inflight[a.ID]; ok {
					*lazy = append(*lazy, e.key)
				}
			}
			if len(*lazy) < window {
				return forgetAcked(all, inflight), nil
			}
			acks = nil // all of them are in *lazy now
		}
	}
	var deferred [][]byte
	if lazy != nil {
		deferred = *lazy
	}
	var reset bool
	err := o.m.st.Update(ctx, func(tx *store.Tx) error {
		reset = false
		for _, k := range deferred {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		for _, a := range acks {
			e, ok := inflight[a.ID]
			if !ok {
				continue
			}
			if a.Status == wire.AckUndecryptable {
				// Never left "sent" or failed at the first try: sent again under a new
				// session, a bounded number of times.
				var rec outboxRec
				found, err := getJSON(tx, e.key, &rec)
				if err != nil {
					return err
				}
				if found && rec.Resets < maxSessionResets {
					rec.Resets++
					rec.Cipher, rec.EnvID, rec.Initial = nil, nil, nil
					if err := putJSON(tx, e.key, &rec); err != nil {
						return err
					}
					reset = true
					continue
				}
			}
			if err := tx.Delete(e.key); err != nil {
				return err
			}
			if e.msgID == "" {
				continue
			}
			var err error
			switch a.Status {
			case wire.AckStored:
				err = o.m.setStatus(tx, e.msgID, api.StatusSent, "")
			case wire.AckBlocked:
				err = o.m.setStatus(tx, e.msgID, api.StatusFailed, "blocked: the contact does not accept your messages")
			case wire.AckUndecryptable:
				err = o.m.setStatus(tx, e.msgID, api.StatusFailed, fmt.Sprintf("the contact's node could not decrypt it, under %d new sessions either", maxSessionResets))
			default:
				err = o.m.setStatus(tx, e.msgID, api.StatusFailed, "refused by the contact's node")
			}
			if err != nil {
				return err
			}
		}
		if reset {
			return o.m.resetSession(tx, cid)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if lazy != nil {
		*lazy = nil
	}
	n := forgetAcked(all, inflight)
	if reset {
		return n, errSessionReset
	}
	return n, nil
}

// resetSession sets contact cid's current session aside (kept as the previous one, to
// decrypt what the contact sent on it) so that the next delivery starts a new one, and
// clears the ciphertext of everything in the outbox: it is all encrypted again, in order,
// under the new session.
func (m *Messenger) resetSession(tx *store.Tx, cid string) error {
	c, err := loadContact(tx, cid)
	if err != nil {
		return err
	}
	s0, err := m.ratchets.Load(tx, cid, sessions.Current)
	if err != nil {
		return err
	}
	if s0 != nil {
		if err := m.ratchets.Save(tx, cid, sessions.Previous, s0); err != nil {
			return err
		}
		if err := sessions.Delete(tx, cid, 0); err != nil {
			return err
		}
	}
	c.Initial = nil
	type entry struct {
		key []byte
		rec outboxRec
	}
	var es []entry
	err = tx.Iterate(store.IterOptions{Prefix: kOutboxPrefix(cid)}, func(k, v []byte) (bool, error) {
		var e entry
		if err := json.Unmarshal(v, &e.rec); err != nil {
			return false, err
		}
		if e.rec.Cipher != nil {
			e.key = k
			es = append(es, e)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, e := range es {
		e.rec.Cipher, e.rec.EnvID, e.rec.Initial = nil, nil, nil
		if err := putJSON(tx, e.key, &e.rec); err != nil {
			return err
		}
	}
	return putJSON(tx, kContact(cid), c)
}

// forgetAcked removes acknowledged entries from inflight and returns how many there were.
func forgetAcked(acks []wire.Ack, inflight map[wire.ID]sentEntry) int {
	n := 0
	for _, a := range acks {
		if _, ok := inflight[a.ID]; ok {
			delete(inflight, a.ID)
			n++
		}
	}
	return n
}

// forget deletes acknowledged entries whose deletion was deferred (see deliver). It is
// best effort: an entry left behind is sent again and dropped as a copy.
func (o *outbox) forget(cid string, keys [][]byte) {
	if len(keys) == 0 || o.ctx.Err() != nil {
		return
	}
	err := o.m.st.Update(o.ctx, func(tx *store.Tx) error {
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		o.m.log.Debug("deleting acknowledged outbox entries", "contact", cid, "err", err)
	}
}

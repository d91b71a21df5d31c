package outbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Sent is an outbox entry handed to the receiver (written to its stream, deposited at its
// relay) and awaiting its Ack.
type Sent struct {
	Key   []byte
	MsgID string // message whose status the Ack drives, or ""
}

// deliver sends everything in the outbox over one stream, pipelined, and applies the
// acknowledgements. It returns how many contents were acknowledged.
func (q *Queue) deliver(w *worker) (int, error) {
	ctx := q.ctx
	if empty, err := q.empty(w.cid); err != nil || empty {
		return 0, err
	}
	sctx, cancel := context.WithTimeout(ctx, dialTimeout)
	err := q.cfg.Session(sctx, w.cid)
	cancel()
	if err != nil {
		return 0, err
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	s, err := q.cfg.Dial(dctx, w.cid)
	cancel()
	if err != nil {
		return 0, err
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
	defer func() { q.forget(w.cid, acked) }()

	bw := bufio.NewWriterSize(s, 64<<10)
	inflight := map[wire.ID]Sent{}
	var cursor []byte // last outbox key written
	progress := 0
	timer := time.NewTimer(AckTimeout)
	defer timer.Stop()
	for {
		if len(inflight) < window {
			batch, err := q.load(w.cid, cursor, window-len(inflight))
			if err != nil {
				return progress, err
			}
			if batch, err = q.Encrypt(ctx, w.cid, batch); err != nil {
				return progress, err
			}
			for _, it := range batch {
				var id wire.ID
				copy(id[:], it.Entry.EnvID)
				frame := wire.AppendDeliver(nil, &wire.Deliver{ID: id, Initial: it.Entry.Initial, Message: it.Entry.Cipher})
				if err := wire.WriteFrame(bw, frame); err != nil {
					return progress, err
				}
				inflight[id] = Sent{Key: it.Key, MsgID: it.Entry.MsgID}
				cursor = it.Key
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
		timer.Reset(AckTimeout)
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
			n, err := q.applyAcks(ctx, w.cid, got, inflight, &acked)
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

func (q *Queue) empty(cid string) (bool, error) {
	var empty bool
	err := q.cfg.Store.View(func(tx *store.Tx) error {
		var err error
		empty, err = Empty(tx, cid)
		return err
	})
	return empty, err
}

// load returns up to n outbox entries after cursor.
func (q *Queue) load(cid string, cursor []byte, n int) ([]Item, error) {
	var out []Item
	err := q.cfg.Store.View(func(tx *store.Tx) error {
		var err error
		out, err = Load(tx, cid, cursor, n)
		return err
	})
	return out, err
}

// Encrypt gives every entry of batch (loaded from contact cid's outbox) without ciphertext
// its ciphertext, in one transaction that also saves the advanced ratchet, and fails
// entries older than ExpireAfter. It returns the entries still in the outbox, encrypted.
func (q *Queue) Encrypt(ctx context.Context, cid string, batch []Item) ([]Item, error) {
	var todo bool
	cutoff := q.cfg.Now().Add(-ExpireAfter).UnixMilli()
	for i := range batch {
		e := &batch[i].Entry
		if err := openCipher(q.cfg.Sealer, cid, e); errors.Is(err, ErrGone) {
			todo = true // dropped below
		} else if err != nil {
			return nil, err
		}
		if e.Cipher == nil || e.Created < cutoff {
			todo = true
		}
	}
	if !todo {
		return batch, nil
	}
	var out []Item
	err := q.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		out = out[:0]
		c, err := q.cfg.Contacts.Contact(tx, cid)
		if err != nil {
			return err
		}
		s0, err := q.cfg.Ratchets.Load(tx, cid, sessions.Current)
		if err != nil {
			return err
		}
		if s0 == nil {
			return errors.New("no session with the contact yet")
		}
		dirty := false
		for _, it := range batch {
			var e Entry
			ok, err := store.GetJSON(tx, it.Key, &e)
			if err != nil {
				return err
			}
			if !ok {
				continue // acknowledged meanwhile
			}
			if e.Created < cutoff {
				if err := tx.Delete(it.Key); err != nil {
					return err
				}
				if e.MsgID != "" {
					if err := q.cfg.Status(tx, e.MsgID, api.StatusFailed, "expired: the contact's node did not take it within 30 days"); err != nil {
						return err
					}
				}
				continue
			}
			err = openCipher(q.cfg.Sealer, cid, &e)
			if e.Cipher == nil && err == nil {
				err = SealFrom(s0, &e, q.cfg.Sealer, cid, nil, c.Initial)
				if err == nil {
					// Stored sealed when its content is; handed on opened.
					stored := e
					if err := SealCipher(tx, q.cfg.Sealer, cid, &stored); err != nil {
						return err
					}
					if err := store.PutJSON(tx, it.Key, &stored); err != nil {
						return err
					}
					dirty = true
				}
			}
			if errors.Is(err, ErrGone) { // a disappearing content that expired waiting
				if err := tx.Delete(it.Key); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, Item{Key: it.Key, Entry: e})
		}
		if dirty {
			return q.cfg.Ratchets.Save(tx, cid, sessions.Current, s0)
		}
		return nil
	})
	return out, err
}

// Acknowledge applies acks for entries in inflight (handed to contact cid's node, by
// envelope id): it removes the acknowledged entries, from the outbox and from inflight, and
// moves their messages' status. It returns how many were acknowledged. An entry the
// receiver could not decrypt is encrypted again under a new session, at most
// MaxSessionResets times, before its message fails; then the error says the session was
// reset, and the caller starts over (the worker does).
func (q *Queue) Acknowledge(ctx context.Context, cid string, acks []wire.Ack, inflight map[wire.ID]Sent) (int, error) {
	return q.applyAcks(ctx, cid, acks, inflight, nil)
}

// applyAcks is Acknowledge, lazily for some entries. A message failed meanwhile (identity
// change) stays failed: Status never leaves failed. If lazy is not nil, entries that drive
// no status are added to *lazy instead of being deleted, unless there is a transaction to
// commit anyway or *lazy holds a window's worth: then everything in *lazy is deleted with
// it.
func (q *Queue) applyAcks(ctx context.Context, cid string, acks []wire.Ack, inflight map[wire.ID]Sent, lazy *[][]byte) (int, error) {
	all := acks
	if lazy != nil {
		status := false
		for _, a := range acks {
			if e, ok := inflight[a.ID]; ok && (e.MsgID != "" || a.Status == wire.AckUndecryptable) {
				status = true
			}
		}
		if !status {
			for _, a := range acks {
				if e, ok := inflight[a.ID]; ok {
					*lazy = append(*lazy, e.Key)
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
	err := q.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		reset = false
		for _, k := range deferred {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		for _, a := range acks {
			s, ok := inflight[a.ID]
			if !ok {
				continue
			}
			if a.Status == wire.AckUndecryptable {
				// Never left "sent" or failed at the first try: sent again under a new
				// session, a bounded number of times.
				var e Entry
				found, err := store.GetJSON(tx, s.Key, &e)
				if err != nil {
					return err
				}
				if found && e.Resets < MaxSessionResets {
					e.Resets++
					e.Cipher, e.EnvID, e.Initial, e.CipherSealed = nil, nil, nil, false
					if err := store.PutJSON(tx, s.Key, &e); err != nil {
						return err
					}
					reset = true
					continue
				}
			}
			if err := tx.Delete(s.Key); err != nil {
				return err
			}
			if s.MsgID == "" {
				continue
			}
			var err error
			switch a.Status {
			case wire.AckStored:
				err = q.cfg.Status(tx, s.MsgID, api.StatusSent, "")
			case wire.AckBlocked:
				err = q.cfg.Status(tx, s.MsgID, api.StatusFailed, "blocked: the contact does not accept your messages")
			case wire.AckUndecryptable:
				err = q.cfg.Status(tx, s.MsgID, api.StatusFailed, fmt.Sprintf("the contact's node could not decrypt it, under %d new sessions either", MaxSessionResets))
			default:
				err = q.cfg.Status(tx, s.MsgID, api.StatusFailed, "refused by the contact's node: the invite link you used was revoked or has expired (ask for a new one), or their node does not accept this message")
			}
			if err != nil {
				return err
			}
		}
		if reset {
			return ResetSession(tx, q.cfg.Ratchets, q.cfg.Contacts, cid)
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

// forgetAcked removes acknowledged entries from inflight and returns how many there were.
func forgetAcked(acks []wire.Ack, inflight map[wire.ID]Sent) int {
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
func (q *Queue) forget(cid string, keys [][]byte) {
	if len(keys) == 0 || q.ctx.Err() != nil {
		return
	}
	err := q.cfg.Store.Update(q.ctx, func(tx *store.Tx) error {
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		q.cfg.Logger.Debug("deleting acknowledged outbox entries", "contact", cid, "err", err)
	}
}

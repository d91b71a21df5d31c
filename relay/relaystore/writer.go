package relaystore

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// maxBatch bounds how many writes one group commit takes.
const maxBatch = 4096

// writeTx is what a write function sees: reads through the batch's Badger transaction
// (so it sees the writes of the functions batched before it) and buffered writes that
// reach the transaction only if the function returns nil.
type writeTx struct {
	txn      *badger.Txn
	ops      []op
	onCommit []func()
	// refs are the shared-body references this function changed: its own writes are not
	// visible to its reads, so it keeps them here.
	refs map[uint64]*bodyRef
}

type op struct {
	key, val []byte
	del      bool
}

func (w *writeTx) get(key []byte) ([]byte, error) {
	it, err := w.txn.Get(key)
	if err != nil {
		return nil, err
	}
	return it.ValueCopy(nil)
}

func (w *writeTx) set(key, val []byte) { w.ops = append(w.ops, op{key: key, val: val}) }
func (w *writeTx) del(key []byte)      { w.ops = append(w.ops, op{key: key, del: true}) }

// afterCommit runs f once the function's writes are durable.
func (w *writeTx) afterCommit(f func()) { w.onCommit = append(w.onCommit, f) }

func (w *writeTx) apply(txn *badger.Txn) error {
	for _, o := range w.ops {
		var err error
		if o.del {
			err = txn.Delete(o.key)
		} else {
			err = txn.Set(o.key, o.val)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type request struct {
	fn   func(*writeTx) error
	done chan error
}

// update runs fn on the writer goroutine and returns once its writes are durable (one
// fsync for every function batched with it: group commit). fn runs exactly once and must
// not block; if it returns an error none of its writes land. ctx bounds only the wait for
// the writer to take the request.
func (s *Store) update(ctx context.Context, fn func(*writeTx) error) error {
	return s.submit(ctx, fn)()
}

// submit queues fn for the writer and returns a function that waits for its outcome.
// Writes submitted one after another by one goroutine run in that order.
func (s *Store) submit(ctx context.Context, fn func(*writeTx) error) (wait func() error) {
	r := &request{fn: fn, done: make(chan error, 1)}
	select {
	case s.reqs <- r:
	case <-s.stop:
		return func() error { return ErrClosed }
	case <-ctx.Done():
		err := ctx.Err()
		return func() error { return err }
	}
	// Once queued, the write runs to its end: wait for it even if ctx ends, so the caller
	// never reports failure for writes that became durable.
	return func() error { return <-r.done }
}

// writeLoop is the writer goroutine: it takes every waiting request and commits them as
// one group; while it fsyncs, new requests queue up for the next group.
func (s *Store) writeLoop() {
	defer close(s.writerDone)
	batch := make([]*request, 0, maxBatch)
	for {
		select {
		case <-s.stop:
			// Requests still in the channel: refuse them.
			for {
				select {
				case r := <-s.reqs:
					r.done <- ErrClosed
				default:
					return
				}
			}
		case r := <-s.reqs:
			batch = append(batch, r)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.commitBatch(batch)
		clear(batch)
		batch = batch[:0]
	}
}

type member struct {
	r *request
	w *writeTx
}

func (s *Store) commitBatch(batch []*request) {
	txn := s.db.NewTransaction(true)
	var members []member
	for _, r := range batch {
		w := &writeTx{txn: txn}
		if err := runFn(r.fn, w); err != nil {
			r.done <- err
			continue
		}
		if err := w.apply(txn); err != nil {
			txn.Discard()
			if errors.Is(err, badger.ErrTxnTooBig) && len(members) > 0 {
				// Commit what the batch has, then this function's writes alone: its reads
				// saw exactly the state that is now committed.
				s.commit(s.rebuild(members), members)
				members = nil
				txn = s.db.NewTransaction(true)
				w.txn = txn
				if err = w.apply(txn); err == nil {
					members = append(members, member{r, w})
					continue
				}
				txn.Discard()
			}
			txn = s.rebuild(members)
			r.done <- fmt.Errorf("relaystore: write: %w", err)
			continue
		}
		members = append(members, member{r, w})
	}
	s.commit(txn, members)
}

// runFn runs fn, turning a panic (a bug) into an error rather than killing the relay.
func runFn(fn func(*writeTx) error, w *writeTx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("relaystore: write function panicked: %v", v)
		}
	}()
	return fn(w)
}

func (s *Store) rebuild(members []member) *badger.Txn {
	txn := s.db.NewTransaction(true)
	for _, m := range members {
		m.w.txn = txn
		if err := m.w.apply(txn); err != nil {
			// The same writes fitted before; cannot happen. Fail them rather than lose them.
			s.log.Error("re-applying a batch failed", "err", err)
		}
	}
	return txn
}

func (s *Store) commit(txn *badger.Txn, members []member) {
	if len(members) == 0 {
		txn.Discard()
		return
	}
	err := txn.Commit()
	if err != nil {
		err = fmt.Errorf("relaystore: commit: %w", err)
		s.log.Error("commit failed", "err", err, "writes", len(members))
	}
	for _, m := range members {
		if err == nil {
			for _, f := range m.w.onCommit {
				f()
			}
		}
		m.r.done <- err
	}
}

package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
)

// maxBatch bounds how many Update requests one group commit takes.
const maxBatch = 256

// request states: the writer claims a waiting request; Update cancels one still waiting.
const (
	reqWaiting int32 = iota
	reqTaken
	reqCancelled
)

type request struct {
	fn    func(*Tx) error
	state atomic.Int32
	done  chan struct{} // closed when err/panicVal are final

	err      error
	panicked bool
	panicVal any
}

func (r *request) finish(err error) {
	r.err = err
	close(r.done)
}

// Update runs fn in a read-write transaction and returns once its writes are durable
// (Badger SyncWrites: fsynced before Commit returns, so they survive SIGKILL and power loss).
//
// Concurrent Updates are group-committed: one writer goroutine takes every waiting request
// (up to 256), runs their functions one after another against one Badger transaction, and
// commits them with one fsync. fn runs on that goroutine, serially with other functions; it
// sees everything committed before it and the writes of the functions batched before it.
//
// If fn returns an error (or panics), none of its writes land and Update returns that error
// as-is (a panic is re-raised in the caller's goroutine); the other functions of the batch
// are unaffected. Each function's writes are buffered in its Tx and reach Badger only when
// it returns nil, so in this implementation fn runs exactly once; callers must still treat
// fn as re-runnable (no side effects outside tx; use tx.OnCommit), as the contract allows
// a re-run. A batch larger than one Badger transaction is committed in several; a single
// fn whose writes alone exceed one transaction fails with an error wrapping
// badger.ErrTxnTooBig.
//
// ctx cancels waiting for the writer, not a commit that has started: if ctx is done before
// the writer takes the request, Update returns ctx.Err() and fn never runs. After Close,
// Update returns ErrClosed. fn must not call Update (it would wait for itself); View is fine.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{fn: fn, done: make(chan struct{})}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqWaiting, reqCancelled) {
			return ctx.Err()
		}
		<-r.done // taken: the commit runs to its end
	}
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}

// writeLoop is the writer goroutine: it takes every waiting request and commits them as
// one group. While it fsyncs, new requests queue up and form the next group.
func (s *Store) writeLoop() {
	defer s.done.Done()
	batch := make([]*request, 0, maxBatch)
	for {
		select {
		case <-s.stop:
			return
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

// member is a function that ran successfully in the current Badger transaction.
type member struct {
	r  *request
	tx *Tx
}

// commitBatch runs the batch's functions and commits their writes, splitting into several
// Badger transactions on ErrTxnTooBig.
func (s *Store) commitBatch(batch []*request) {
	txn := s.db.NewTransaction(true)
	var members []member
	for _, r := range batch {
		if !r.state.CompareAndSwap(reqWaiting, reqTaken) {
			continue // cancelled while waiting
		}
		tx := &Tx{s: s, txn: txn, writable: true}
		err := runFn(r, tx)
		tx.done = true
		if r.panicked || err != nil {
			r.finish(err)
			continue
		}
		if err := tx.apply(txn); err != nil {
			// txn now holds part of tx's writes: rebuild it from the members.
			txn.Discard()
			if errors.Is(err, badger.ErrTxnTooBig) && len(members) > 0 {
				// Commit what the batch has, then retry this function's writes alone.
				// Its reads saw exactly the state that is now committed.
				txn = s.rebuild(members)
				s.commit(txn, members)
				members = nil
				txn = s.db.NewTransaction(true)
				if err = tx.apply(txn); err == nil {
					members = append(members, member{r, tx})
					continue
				}
				txn.Discard()
			}
			txn = s.rebuild(members)
			r.finish(fmt.Errorf("store: update: %w", err))
			continue
		}
		members = append(members, member{r, tx})
	}
	s.commit(txn, members)
}

// runFn runs r.fn on tx, turning a panic into r.panicked.
func runFn(r *request, tx *Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			r.panicked, r.panicVal = true, v
		}
	}()
	return r.fn(tx)
}

// rebuild returns a new Badger transaction holding the members' writes, which fitted in
// one transaction before and so fit again.
func (s *Store) rebuild(members []member) *badger.Txn {
	txn := s.db.NewTransaction(true)
	for _, m := range members {
		if err := m.tx.apply(txn); err != nil {
			// Cannot happen (same writes, same limits); fail loudly rather than lose them.
			panic(fmt.Sprintf("store: re-applying a batch that fitted before: %v", err))
		}
	}
	return txn
}

// commit commits txn durably, then runs each member's OnCommit functions in commit order
// and releases its Update.
func (s *Store) commit(txn *badger.Txn, members []member) {
	var err error
	if len(members) == 0 {
		txn.Discard()
		return
	}
	if err = txn.Commit(); err != nil {
		err = fmt.Errorf("store: commit: %w", err)
		s.log.Error("commit failed", "err", err, "updates", len(members))
	}
	for _, m := range members {
		if err == nil {
			runOnCommit(m.r, m.tx.onCommit)
		}
		m.r.finish(err)
	}
}

// runOnCommit runs the callbacks; a panic stops that Update's remaining callbacks and is
// re-raised in its caller's goroutine.
func runOnCommit(r *request, fs []func()) {
	defer func() {
		if v := recover(); v != nil {
			r.panicked, r.panicVal = true, v
		}
	}()
	for _, f := range fs {
		f()
	}
}

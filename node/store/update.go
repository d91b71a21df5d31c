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

// Writes is how many Updates since Open committed at least one Set or Delete (an Update
// that wrote nothing is not counted). It lets a caller see what a piece of work cost in
// durable writes.
func (s *Store) Writes() int64 { return s.writes.Load() }

// Update runs fn in a read-write transaction and returns once its writes are durable
// (Badger SyncWrites: fsynced before Commit returns, so they survive SIGKILL and power loss).
//
// Concurrent Updates are group-committed: one writer goroutine takes every waiting request
// (up to 256), runs their functions one after another against one Badger transaction, and
// commits them with one fsync. fn runs on that goroutine, serially with other functions; it
// sees the writes of every function that ran before it and succeeded. Groups are
// pipelined: the next group's functions run while the previous group's commit syncs, so fn
// may read writes that are not durable yet; but its own writes land only after them, and
// if that earlier commit fails, fn's Update fails too (nothing of it lands). OnCommit
// callbacks run in commit order, but a later group's functions may run before an earlier
// group's callbacks: in-memory state set by a callback is not a reliable input to fn.
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

// writeLoop is the writer goroutine. It takes every waiting request and runs their
// functions as one group; while that group's commit is syncing, the next group's functions
// already run (pipelining), reading the in-flight group's writes through its layer. At most
// one commit is in flight: a group's commit starts only after the previous one has landed,
// so commits, OnCommit callbacks and Update returns keep the order of the groups.
func (s *Store) writeLoop() {
	defer s.done.Done()
	var prev *flight // the group whose commit is in flight, or nil
	defer func() {
		if prev != nil {
			s.land(prev)
		}
	}()
	batch := make([]*request, 0, maxBatch)
	for {
		var landed <-chan struct{}
		if prev != nil {
			landed = prev.done
		}
		select {
		case <-s.stop:
			return
		case <-landed:
			s.land(prev)
			prev = nil
			continue
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
		prev = s.runGroup(batch, prev)
		clear(batch)
		batch = batch[:0]
	}
}

// member is a function that ran successfully in the current Badger transaction.
type member struct {
	r  *request
	tx *Tx
}

// flight is a group whose Badger commit has been handed to Badger and may still be
// syncing.
type flight struct {
	members []member
	done    chan struct{} // closed when err is final
	err     error
	// lay holds the group's writes, for the next group to read until the commit lands.
	lay *layer
	// next is a Badger transaction opened just before this commit (so it sees every
	// earlier commit but not this one), for the next group to run in while this one
	// syncs; nil once taken or discarded.
	next *badger.Txn
}

// land waits for f's commit, runs its members' OnCommit functions in order and releases
// their Updates. It returns the commit's error.
func (s *Store) land(f *flight) error {
	<-f.done
	if f.next != nil {
		f.next.Discard()
		f.next = nil
	}
	err := f.err
	if err != nil {
		err = fmt.Errorf("store: commit: %w", err)
		s.log.Error("commit failed", "err", err, "updates", len(f.members))
	}
	for _, m := range f.members {
		if err == nil {
			if len(m.tx.ops) > 0 {
				s.writes.Add(1)
			}
			runOnCommit(m.r, m.tx.onCommit)
		}
		m.r.finish(err)
	}
	return err
}

// landed reports whether f's commit has finished (without waiting).
func (f *flight) landed() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// runGroup runs a group's functions and starts its commit, returning it in flight (or nil
// if nothing is left to commit). prev is the group still in flight, if any: the functions
// run in the transaction prev opened before its commit, reading prev's writes through its
// layer, and prev lands before this group's commit starts. A group larger than one Badger
// transaction is committed in several, synchronously but the last.
func (s *Store) runGroup(batch []*request, prev *flight) *flight {
	var txn *badger.Txn
	lay := &layer{}
	if prev != nil && !prev.landed() {
		txn, prev.next = prev.next, nil
		lay.under = prev.lay
		s.overlapped.Add(1)
	} else {
		if prev != nil {
			s.land(prev) // its error, if any, was its own members': this group read nothing of it
			prev = nil
		}
		txn = s.db.NewTransaction(true)
	}
	var members []member
	// fail ends the members run so far with err (their writes are dropped).
	fail := func(err error) {
		txn.Discard()
		for _, m := range members {
			m.r.finish(err)
		}
		members = nil
	}
	for _, r := range batch {
		if !r.state.CompareAndSwap(reqWaiting, reqTaken) {
			continue // cancelled while waiting
		}
		tx := &Tx{s: s, txn: txn, lay: lay, writable: true}
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
				// Commit what the group has, then retry this function's writes alone.
				// Its reads saw exactly the state that is then committed.
				txn = s.rebuild(members)
				if prev != nil {
					perr := s.land(prev)
					prev = nil
					if perr != nil {
						fail(fmt.Errorf("%w: %w", errEarlierCommit, perr))
						r.finish(fmt.Errorf("%w: %w", errEarlierCommit, perr))
						txn = s.db.NewTransaction(true)
						lay = &layer{}
						continue
					}
				}
				s.commitNow(txn, members)
				members = nil
				txn = s.db.NewTransaction(true)
				lay = &layer{}
				if err = tx.apply(txn); err == nil {
					lay.add(tx.ops)
					members = append(members, member{r, tx})
					continue
				}
				txn.Discard()
			}
			txn = s.rebuild(members)
			r.finish(fmt.Errorf("store: update: %w", err))
			continue
		}
		lay.add(tx.ops)
		members = append(members, member{r, tx})
	}
	if prev != nil {
		if perr := s.land(prev); perr != nil {
			fail(fmt.Errorf("%w: %w", errEarlierCommit, perr))
			return nil
		}
	}
	if len(members) == 0 {
		txn.Discard()
		return nil
	}
	lay.under = nil // the next group's transaction sees everything that landed
	f := &flight{members: members, done: make(chan struct{}), lay: lay}
	f.next = s.db.NewTransaction(true) // before CommitWith: it must not wait for this commit
	txn.CommitWith(func(err error) {
		f.err = err
		close(f.done)
	})
	return f
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

// commitNow commits txn durably and lands its members.
func (s *Store) commitNow(txn *badger.Txn, members []member) {
	f := &flight{members: members, done: make(chan struct{})}
	f.err = txn.Commit()
	close(f.done)
	s.land(f)
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

package store

import (
	"context"

	"github.com/dgraph-io/badger/v4"

	"github.com/petrel-chat/petrel/internal/groupcommit"
)

// maxBatch bounds how many Update requests one group commit takes.
const maxBatch = 256

// pending is a successful Update function's Tx, as the writer holds it until it lands.
type pending struct{ tx *Tx }

func (p pending) Apply(txn *badger.Txn) error { return p.tx.apply(txn) }

// newWriter starts the store's writer (internal/groupcommit), pipelined: a group's
// functions read the unlanded writes of the group before it through its layer.
func (s *Store) newWriter() *groupcommit.Writer[pending, *layer] {
	return groupcommit.New(groupcommit.Config[pending, *layer]{
		DB:        s.db,
		Name:      "store",
		MaxBatch:  maxBatch,
		Pipeline:  true,
		ErrClosed: ErrClosed,
		Log:       s.log,
		NewGroup: func(inFlight *layer, ok bool) *layer {
			if !ok {
				return &layer{}
			}
			// The in-flight group's transaction was opened once the group before it had
			// landed, and so has every transaction after it: what lies under its layer is
			// in Badger for everyone now.
			inFlight.under = nil
			return &layer{under: inFlight}
		},
		Added:  func(l *layer, p pending) { l.add(p.tx.ops) },
		Failed: s.cache.reset, // Badger may hold part of what failed: trust Badger alone
		Landed: func(p pending) {
			s.cache.landed(p.tx.ops)
			if len(p.tx.ops) > 0 {
				s.writes.Add(1)
			}
			for _, f := range p.tx.onCommit {
				f()
			}
		},
	})
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
	r, err := s.w.Submit(ctx, func(txn *badger.Txn, lay *layer) (pending, error) {
		tx := &Tx{s: s, txn: txn, lay: lay, cache: s.cache, writable: true}
		defer func() { tx.done = true }()
		return pending{tx}, fn(tx)
	})
	if err != nil {
		return err
	}
	select {
	case <-r.Done():
	case <-ctx.Done():
		if r.Cancel() {
			return ctx.Err()
		}
		<-r.Done() // taken: the commit runs to its end
	}
	v, panicked, err := r.Result()
	if panicked {
		panic(v)
	}
	return err
}

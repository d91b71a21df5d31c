package relaystore

import (
	"context"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/petrel-chat/petrel/internal/groupcommit"
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

// Apply hands the buffered writes to txn (groupcommit.Writes).
func (w *writeTx) Apply(txn *badger.Txn) error {
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

// newWriter starts the store's writer (internal/groupcommit), not pipelined: a write
// function reads Badger's transaction directly, which holds the writes of the functions
// batched before it.
func (s *Store) newWriter() *groupcommit.Writer[*writeTx, struct{}] {
	return groupcommit.New(groupcommit.Config[*writeTx, struct{}]{
		DB:        s.db,
		Name:      "relaystore",
		MaxBatch:  maxBatch,
		ErrClosed: ErrClosed,
		Log:       s.log,
		Landed: func(w *writeTx) {
			for _, f := range w.onCommit {
				f()
			}
		},
	})
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
	r, err := s.w.Submit(ctx, func(txn *badger.Txn, _ struct{}) (*writeTx, error) {
		w := &writeTx{txn: txn}
		return w, fn(w)
	})
	if err != nil {
		return func() error { return err }
	}
	// Once queued, the write runs to its end: wait for it even if ctx ends, so the caller
	// never reports failure for writes that became durable.
	return func() error {
		<-r.Done()
		v, panicked, err := r.Result()
		if panicked {
			// A bug: an error rather than a dead relay.
			return fmt.Errorf("relaystore: write function panicked: %v", v)
		}
		return err
	}
}

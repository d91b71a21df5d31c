package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
)

// Writes is what one successful write function left: buffered writes, applied to the
// group's Badger transaction once the function returned nil (and again if the group's
// transaction has to be rebuilt).
type Writes interface {
	Apply(txn *badger.Txn) error
}

// Func is a write function: it runs on the writer goroutine against the group's Badger
// transaction and the owner's state for the group, and returns its buffered writes.
type Func[W Writes, S any] func(txn *badger.Txn, state S) (W, error)

// Config configures a Writer. DB is required; the rest have defaults.
type Config[W Writes, S any] struct {
	DB *badger.DB
	// Name prefixes the writer's errors ("store", "relaystore").
	Name string
	// MaxBatch bounds how many functions one group commit takes (default 256).
	MaxBatch int
	// Pipeline runs the next group's functions while the previous group's commit syncs.
	Pipeline bool
	// NewGroup returns the owner's state for a group about to run. inFlight is the state of
	// the group whose commit is still syncing, if pipelined (ok false otherwise). The
	// writer calls it on its goroutine; nil means the zero S.
	NewGroup func(inFlight S, ok bool) S
	// Added records, in the group's state, the writes of a function that joined the group.
	Added func(state S, w W)
	// Landed runs after the commit holding w is durable, in commit order, before the
	// function's caller is released. A panic in it is handed to that caller.
	Landed func(w W)
	// Failed runs after a commit failed, before its functions' callers are released (Badger
	// may hold part of what it was given).
	Failed func()
	// ErrClosed is what Submit returns after Close, and what requests still queued at
	// Close get.
	ErrClosed error
	Log       *slog.Logger
}

// request states: the writer claims a waiting request; Cancel withdraws one still waiting.
const (
	reqWaiting int32 = iota
	reqTaken
	reqCancelled
)

// Request is a submitted write function.
type Request[W Writes, S any] struct {
	fn    Func[W, S]
	state atomic.Int32
	done  chan struct{} // closed when err and the panic fields are final

	err      error
	panicked bool
	panicVal any
}

// Done is closed once the request has its result.
func (r *Request[W, S]) Done() <-chan struct{} { return r.done }

// Cancel withdraws the request if the writer has not taken it yet; it reports whether it
// did. A request that was taken runs to its end: wait for Done.
func (r *Request[W, S]) Cancel() bool { return r.state.CompareAndSwap(reqWaiting, reqCancelled) }

// Result is the request's outcome, valid once Done is closed: the function's error (or
// the commit's), or the value of a panic in the function or in Landed.
func (r *Request[W, S]) Result() (panicVal any, panicked bool, err error) {
	return r.panicVal, r.panicked, r.err
}

func (r *Request[W, S]) finish(err error) {
	r.err = err
	close(r.done)
}

// ErrEarlierCommit fails the functions that read the writes of a group whose commit failed.
var ErrEarlierCommit = errors.New("an earlier group commit failed")

// Writer is the writer goroutine and its queue. Its methods are safe for concurrent use.
type Writer[W Writes, S any] struct {
	cfg  Config[W, S]
	reqs chan *Request[W, S]
	stop chan struct{}
	done chan struct{}
	// overlapped counts groups whose functions ran while the previous commit synced.
	overlapped atomic.Int64
}

// New starts a writer on cfg.DB. Close stops it.
func New[W Writes, S any](cfg Config[W, S]) *Writer[W, S] {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.Name == "" {
		cfg.Name = "groupcommit"
	}
	if cfg.ErrClosed == nil {
		cfg.ErrClosed = errors.New(cfg.Name + ": closed")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	w := &Writer[W, S]{
		cfg:  cfg,
		reqs: make(chan *Request[W, S], cfg.MaxBatch),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go w.loop()
	return w
}

// Submit queues fn for the writer. It fails with ctx's error if ctx ends first, and with
// Config.ErrClosed after Close. Functions submitted one after another by one goroutine run
// in that order.
func (w *Writer[W, S]) Submit(ctx context.Context, fn Func[W, S]) (*Request[W, S], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-w.stop:
		return nil, w.cfg.ErrClosed
	default:
	}
	r := &Request[W, S]{fn: fn, done: make(chan struct{})}
	select {
	case w.reqs <- r:
		// Close may have begun meanwhile, and the writer may have ended without seeing r:
		// withdraw it then (if the writer took it, it finishes it).
		select {
		case <-w.stop:
			if r.Cancel() {
				return nil, w.cfg.ErrClosed
			}
		default:
		}
		return r, nil
	case <-w.stop:
		return nil, w.cfg.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Queued is how many requests wait for the writer.
func (w *Writer[W, S]) Queued() int { return len(w.reqs) }

// Overlapped is how many groups ran while the previous group's commit synced.
func (w *Writer[W, S]) Overlapped() int64 { return w.overlapped.Load() }

// Close stops the writer: the commit in flight lands, requests still queued get
// Config.ErrClosed. It returns once the writer goroutine has ended. Calling it again is a
// no-op.
func (w *Writer[W, S]) Close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// loop is the writer goroutine. It takes every waiting request and runs their functions as
// one group; pipelined, while that group's commit is syncing the next group's functions
// already run. A group's commit starts only after the previous one has landed, so commits,
// Landed calls and releases keep the order of the groups.
func (w *Writer[W, S]) loop() {
	defer close(w.done)
	var prev *flight[W, S] // the group whose commit is in flight, or nil
	defer func() {
		if prev != nil {
			w.land(prev)
		}
		for {
			select {
			case r := <-w.reqs:
				if r.state.CompareAndSwap(reqWaiting, reqTaken) {
					r.finish(w.cfg.ErrClosed)
				}
			default:
				return
			}
		}
	}()
	batch := make([]*Request[W, S], 0, w.cfg.MaxBatch)
	for {
		var landed <-chan struct{}
		if prev != nil {
			landed = prev.done
		}
		select {
		case <-w.stop:
			return
		case <-landed:
			w.land(prev)
			prev = nil
			continue
		case r := <-w.reqs:
			batch = append(batch, r)
		}
	more:
		for len(batch) < w.cfg.MaxBatch {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		prev = w.runGroup(batch, prev)
		clear(batch)
		batch = batch[:0]
	}
}

// member is a function that ran successfully in the current Badger transaction.
type member[W Writes, S any] struct {
	r      *Request[W, S]
	writes W
}

// flight is a group whose Badger commit has been handed to Badger and may still be syncing.
type flight[W Writes, S any] struct {
	members []member[W, S]
	done    chan struct{} // closed when err is final
	err     error
	state   S // the group's state, for the next group to read until the commit lands
	// next is a Badger transaction opened just before this commit (so it sees every
	// earlier commit but not this one), for the next group to run in while this one
	// syncs; nil once taken or discarded.
	next *badger.Txn
}

func (f *flight[W, S]) landed() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// land waits for f's commit, runs Landed for its members in order and releases them. It
// returns the commit's error.
func (w *Writer[W, S]) land(f *flight[W, S]) error {
	<-f.done
	if f.next != nil {
		f.next.Discard()
		f.next = nil
	}
	err := f.err
	if err != nil {
		err = fmt.Errorf("%s: commit: %w", w.cfg.Name, err)
		w.cfg.Log.Error("commit failed", "err", err, "updates", len(f.members))
		if w.cfg.Failed != nil {
			w.cfg.Failed()
		}
	}
	for _, m := range f.members {
		if err == nil && w.cfg.Landed != nil {
			w.runLanded(m)
		}
		m.r.finish(err)
	}
	return err
}

func (w *Writer[W, S]) runLanded(m member[W, S]) {
	defer func() {
		if v := recover(); v != nil {
			m.r.panicked, m.r.panicVal = true, v
		}
	}()
	w.cfg.Landed(m.writes)
}

func (w *Writer[W, S]) newGroup(inFlight *flight[W, S]) S {
	var s S
	if w.cfg.NewGroup == nil {
		return s
	}
	if inFlight != nil {
		return w.cfg.NewGroup(inFlight.state, true)
	}
	return w.cfg.NewGroup(s, false)
}

func (w *Writer[W, S]) added(state S, writes W) {
	if w.cfg.Added != nil {
		w.cfg.Added(state, writes)
	}
}

// runGroup runs a group's functions and starts its commit, returning it in flight (or nil
// if nothing is left to commit). prev is the group still in flight, if any: pipelined, the
// functions run in the transaction prev opened before its commit, and prev lands before
// this group's commit starts. A group larger than one Badger transaction is committed in
// several, synchronously but the last.
func (w *Writer[W, S]) runGroup(batch []*Request[W, S], prev *flight[W, S]) *flight[W, S] {
	var txn *badger.Txn
	var state S
	if w.cfg.Pipeline && prev != nil && !prev.landed() {
		txn, prev.next = prev.next, nil
		state = w.newGroup(prev)
		w.overlapped.Add(1)
	} else {
		if prev != nil {
			w.land(prev) // its error, if any, was its own members': this group read nothing of it
			prev = nil
		}
		txn = w.cfg.DB.NewTransaction(true)
		state = w.newGroup(nil)
	}
	var members []member[W, S]
	// fail ends the members run so far with err (their writes are dropped).
	fail := func(err error) {
		txn.Discard()
		for _, m := range members {
			m.r.finish(err)
		}
		members = nil
	}
	earlier := func(perr error) error { return fmt.Errorf("%s: %w: %w", w.cfg.Name, ErrEarlierCommit, perr) }
	for _, r := range batch {
		if !r.state.CompareAndSwap(reqWaiting, reqTaken) {
			continue // cancelled while waiting
		}
		writes, err := run(r, txn, state)
		if r.panicked || err != nil {
			r.finish(err)
			continue
		}
		if err := writes.Apply(txn); err != nil {
			// txn now holds part of the function's writes: rebuild it from the members.
			txn.Discard()
			if errors.Is(err, badger.ErrTxnTooBig) && len(members) > 0 {
				// Commit what the group has, then retry this function's writes alone.
				// Its reads saw exactly the state that is then committed.
				txn = w.rebuild(members)
				if prev != nil {
					perr := w.land(prev)
					prev = nil
					if perr != nil {
						fail(earlier(perr))
						r.finish(earlier(perr))
						txn = w.cfg.DB.NewTransaction(true)
						state = w.newGroup(nil)
						continue
					}
				}
				w.commitNow(txn, members)
				members = nil
				txn = w.cfg.DB.NewTransaction(true)
				state = w.newGroup(nil)
				if err = writes.Apply(txn); err == nil {
					w.added(state, writes)
					members = append(members, member[W, S]{r, writes})
					continue
				}
				txn.Discard()
			}
			txn = w.rebuild(members)
			r.finish(fmt.Errorf("%s: update: %w", w.cfg.Name, err))
			continue
		}
		w.added(state, writes)
		members = append(members, member[W, S]{r, writes})
	}
	if prev != nil {
		if perr := w.land(prev); perr != nil {
			fail(earlier(perr))
			return nil
		}
	}
	if len(members) == 0 {
		txn.Discard()
		return nil
	}
	f := &flight[W, S]{members: members, done: make(chan struct{}), state: state}
	if !w.cfg.Pipeline {
		f.err = txn.Commit()
		close(f.done)
		w.land(f)
		return nil
	}
	f.next = w.cfg.DB.NewTransaction(true) // before CommitWith: it must not wait for this commit
	txn.CommitWith(func(err error) {
		f.err = err
		close(f.done)
	})
	return f
}

// run runs r's function, turning a panic into r.panicked.
func run[W Writes, S any](r *Request[W, S], txn *badger.Txn, state S) (writes W, err error) {
	defer func() {
		if v := recover(); v != nil {
			r.panicked, r.panicVal = true, v
		}
	}()
	return r.fn(txn, state)
}

// rebuild returns a new Badger transaction holding the members' writes, which fitted in
// one transaction before and so fit again.
func (w *Writer[W, S]) rebuild(members []member[W, S]) *badger.Txn {
	txn := w.cfg.DB.NewTransaction(true)
	for _, m := range members {
		if err := m.writes.Apply(txn); err != nil {
			// Cannot happen (same writes, same limits); fail loudly rather than lose them.
			panic(fmt.Sprintf("%s: re-applying a batch that fitted before: %v", w.cfg.Name, err))
		}
	}
	return txn
}

// commitNow commits txn durably and lands its members.
func (w *Writer[W, S]) commitNow(txn *badger.Txn, members []member[W, S]) {
	f := &flight[W, S]{members: members, done: make(chan struct{})}
	f.err = txn.Commit()
	close(f.done)
	w.land(f)
}

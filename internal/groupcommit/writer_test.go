package groupcommit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// kv is a test function's buffered writes.
type kv struct {
	keys, vals [][]byte
	seq        int
}

func (w *kv) Apply(txn *badger.Txn) error {
	for i := range w.keys {
		if err := txn.Set(w.keys[i], w.vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// seen is the test's per-group state: the keys written by the group's earlier functions.
type seen struct {
	keys  map[string][]byte
	under *seen
}

func (s *seen) get(k []byte) ([]byte, bool) {
	for ; s != nil; s = s.under {
		if v, ok := s.keys[string(k)]; ok {
			return v, true
		}
	}
	return nil, false
}

func openDB(t *testing.T, dir string) *badger.DB {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithSyncWrites(true).WithLogger(nil).
		WithMemTableSize(1 << 20).WithValueThreshold(1 << 10))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

type harness struct {
	w      *Writer[*kv, *seen]
	mu     sync.Mutex
	landed []int
}

func newHarness(t *testing.T, db *badger.DB, pipeline bool) *harness {
	h := &harness{}
	h.w = New(Config[*kv, *seen]{
		DB: db, Name: "test", Pipeline: pipeline,
		NewGroup: func(inFlight *seen, ok bool) *seen {
			if !ok {
				return &seen{keys: map[string][]byte{}}
			}
			inFlight.under = nil
			return &seen{keys: map[string][]byte{}, under: inFlight}
		},
		Added: func(s *seen, w *kv) {
			for i := range w.keys {
				s.keys[string(w.keys[i])] = w.vals[i]
			}
		},
		Landed: func(w *kv) {
			if w.seq < 0 {
				panic("landed panics")
			}
			h.mu.Lock()
			h.landed = append(h.landed, w.seq)
			h.mu.Unlock()
		},
	})
	t.Cleanup(h.w.Close)
	return h
}

// update submits fn and waits for its result, re-raising nothing: a panic is an error here.
func (h *harness) update(ctx context.Context, fn Func[*kv, *seen]) error {
	r, err := h.w.Submit(ctx, fn)
	if err != nil {
		return err
	}
	<-r.Done()
	v, panicked, err := r.Result()
	if panicked {
		return fmt.Errorf("panic: %v", v)
	}
	return err
}

// read returns key's value through the group state, then Badger.
func read(txn *badger.Txn, s *seen, key []byte) ([]byte, error) {
	if v, ok := s.get(key); ok {
		return v, nil
	}
	it, err := txn.Get(key)
	if err != nil {
		return nil, err
	}
	return it.ValueCopy(nil)
}

func set(key, val string, seq int) Func[*kv, *seen] {
	return func(*badger.Txn, *seen) (*kv, error) {
		return &kv{keys: [][]byte{[]byte(key)}, vals: [][]byte{[]byte(val)}, seq: seq}, nil
	}
}

// TestConcurrentWritesAreDurableAndCounted: 200 concurrent read-modify-writes of one
// counter, pipelined, lose no increment (each reads the writes of the functions before it,
// in its group or in the group still syncing), survive a reopen, and land in commit order.
func TestConcurrentWritesAreDurableAndCounted(t *testing.T) {
	for _, pipeline := range []bool{false, true} {
		t.Run(fmt.Sprintf("pipeline=%v", pipeline), func(t *testing.T) {
			dir := t.TempDir()
			db := openDB(t, dir)
			h := newHarness(t, db, pipeline)
			ctx := context.Background()
			var wg sync.WaitGroup
			for range 200 {
				wg.Go(func() {
					err := h.update(ctx, func(txn *badger.Txn, s *seen) (*kv, error) {
						v, err := read(txn, s, []byte("n"))
						if errors.Is(err, badger.ErrKeyNotFound) {
							v, err = []byte{0, 0}, nil
						}
						if err != nil {
							return nil, err
						}
						n := int(v[0])<<8 | int(v[1]) + 1
						return &kv{keys: [][]byte{[]byte("n")}, vals: [][]byte{{byte(n >> 8), byte(n)}}, seq: n}, nil
					})
					if err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			h.w.Close()
			for i, seq := range h.landed {
				if seq != i+1 {
					t.Fatalf("landed %v, want 1..200 in order", h.landed)
				}
			}
			if len(h.landed) != 200 {
				t.Fatalf("%d landed", len(h.landed))
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db = openDB(t, dir)
			defer db.Close()
			err := db.View(func(txn *badger.Txn) error {
				it, err := txn.Get([]byte("n"))
				if err != nil {
					return err
				}
				v, _ := it.ValueCopy(nil)
				if !bytes.Equal(v, []byte{0, 200}) {
					return fmt.Errorf("counter %v after reopen, want 200", v)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFailedOrPanickingFunctionsLandNothing: a function that errs or panics (in its body or
// in Landed) reports it to its caller alone; the writer keeps serving.
func TestFailedOrPanickingFunctionsLandNothing(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	h := newHarness(t, db, true)
	ctx := context.Background()
	boom := errors.New("boom")
	if err := h.update(ctx, func(*badger.Txn, *seen) (*kv, error) {
		return &kv{keys: [][]byte{[]byte("bad")}, vals: [][]byte{[]byte("x")}}, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("erring function: %v", err)
	}
	if err := h.update(ctx, func(*badger.Txn, *seen) (*kv, error) { panic("body panics") }); err == nil || err.Error() != "panic: body panics" {
		t.Fatalf("panicking function: %v", err)
	}
	if err := h.update(ctx, set("landed-panic", "y", -1)); err == nil || err.Error() != "panic: landed panics" {
		t.Fatalf("panicking Landed: %v", err)
	}
	if err := h.update(ctx, set("good", "z", 1)); err != nil {
		t.Fatal(err)
	}
	err := db.View(func(txn *badger.Txn) error {
		if _, err := txn.Get([]byte("bad")); !errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("an erring function's write landed: %v", err)
		}
		for _, k := range []string{"good", "landed-panic"} { // durable before Landed ran
			if _, err := txn.Get([]byte(k)); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBatchLargerThanATransactionIsSplit: functions that together outgrow one Badger
// transaction all land; one that alone outgrows it fails with ErrTxnTooBig and nothing else.
func TestBatchLargerThanATransactionIsSplit(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	h := newHarness(t, db, true)
	ctx := context.Background()
	val := bytes.Repeat([]byte("v"), 900)
	var wg sync.WaitGroup
	for i := range 400 { // 360 KB against a 1 MiB memtable's ~150 KB transaction
		wg.Go(func() {
			if err := h.update(ctx, func(*badger.Txn, *seen) (*kv, error) {
				return &kv{keys: [][]byte{fmt.Appendf(nil, "k%03d", i)}, vals: [][]byte{val}, seq: i}, nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	huge := &kv{}
	for i := range 2000 {
		huge.keys = append(huge.keys, fmt.Appendf(nil, "huge%04d", i))
		huge.vals = append(huge.vals, val)
	}
	if err := h.update(ctx, func(*badger.Txn, *seen) (*kv, error) { return huge, nil }); !errors.Is(err, badger.ErrTxnTooBig) {
		t.Fatalf("oversized function: %v, want ErrTxnTooBig", err)
	}
	n := 0
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if bytes.HasPrefix(it.Item().Key(), []byte("huge")) {
				return errors.New("part of the oversized function landed")
			}
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 400 {
		t.Fatalf("%d of 400 keys landed", n)
	}
}

// TestCancelAndClose: a request withdrawn before the writer takes it never runs; after
// Close, Submit is refused with ErrClosed.
func TestCancelAndClose(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	h := newHarness(t, db, true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.w.Submit(ctx, set("a", "b", 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("submit on a done context: %v", err)
	}
	// Hold the writer inside a function so the next request waits, then withdraw it.
	inside, release := make(chan struct{}), make(chan struct{})
	first, err := h.w.Submit(context.Background(), func(*badger.Txn, *seen) (*kv, error) {
		close(inside)
		<-release
		return &kv{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	<-inside
	ran := false
	second, err := h.w.Submit(context.Background(), func(*badger.Txn, *seen) (*kv, error) {
		ran = true
		return &kv{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !second.Cancel() {
		t.Fatal("a waiting request could not be cancelled")
	}
	close(release)
	<-first.Done()
	h.w.Close()
	if ran {
		t.Fatal("a cancelled request ran")
	}
	if _, err := h.w.Submit(context.Background(), set("a", "b", 1)); err == nil || err.Error() != "test: closed" {
		t.Fatalf("submit after Close: %v", err)
	}
}

// TestSubmitRacingClose: writers that keep submitting while the store closes each get an
// answer (durable, or ErrClosed); none is left waiting on a writer that has ended.
func TestSubmitRacingClose(t *testing.T) {
	for round := range 20 {
		db := openDB(t, t.TempDir())
		h := newHarness(t, db, round%2 == 0)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := 0; ; i++ {
					err := h.update(context.Background(), set(fmt.Sprintf("k%d-%d", g, i), "v", 1))
					if err != nil {
						if err.Error() != "test: closed" {
							t.Errorf("%v, want ErrClosed", err)
						}
						return
					}
				}
			})
		}
		for { // let some writes land first
			h.mu.Lock()
			n := len(h.landed)
			h.mu.Unlock()
			if n >= 20 {
				break
			}
			runtime.Gosched()
		}
		h.w.Close()
		wg.Wait() // a lost request would hang here until the test's timeout
		db.Close()
	}
}

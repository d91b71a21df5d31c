package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// In one group commit, a function that fails lands none of its writes, and every other
// function lands all of its writes; later functions see earlier successful writes only.
func TestUpdateFailureAtomicity(t *testing.T) {
	s, dir := newTestStore(t)
	set(t, s, "shared", "base")
	release := blockWriter(t, s)

	const n = 60
	errFail := errors.New("fn refused")
	errs := make([]error, n)
	seen := make([]string, n) // what each function read for "shared"
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(context.Background(), func(tx *Tx) error {
				v, err := tx.Get([]byte("shared"))
				if err != nil {
					return err
				}
				seen[i] = string(v)
				for j := range 3 {
					if err := tx.Set(fmt.Appendf(nil, "k/%02d/%d", i, j), []byte("v")); err != nil {
						return err
					}
				}
				if err := tx.Set([]byte("shared"), []byte(strconv.Itoa(i))); err != nil {
					return err
				}
				switch i % 4 {
				case 1:
					return fmt.Errorf("update %d: %w", i, errFail)
				case 2:
					if err := tx.Delete([]byte("shared")); err != nil {
						return err
					}
					return errFail
				}
				return nil
			})
		}()
		waitQueued(t, s, i+1) // enqueue in order i = 0, 1, 2, …
	}
	release()
	wg.Wait()

	last := "base"
	for i := range n {
		fails := i%4 == 1 || i%4 == 2
		if fails != errors.Is(errs[i], errFail) {
			t.Fatalf("update %d: err %v", i, errs[i])
		}
		if seen[i] != last {
			t.Errorf("update %d read shared=%q, want %q (the last successful write before it)", i, seen[i], last)
		}
		if !fails {
			last = strconv.Itoa(i)
		}
	}
	s = reopen(t, s, dir)
	for i := range n {
		fails := i%4 == 1 || i%4 == 2
		for j := range 3 {
			_, err := get(t, s, fmt.Sprintf("k/%02d/%d", i, j))
			if fails && !errors.Is(err, ErrNotFound) {
				t.Errorf("failed update %d: key %d landed (%v)", i, j, err)
			}
			if !fails && err != nil {
				t.Errorf("successful update %d: key %d: %v", i, j, err)
			}
		}
	}
	if v, err := get(t, s, "shared"); err != nil || v != last {
		t.Errorf("shared = %q, %v; want %q", v, err, last)
	}
}

// A panicking function is like a failing one, and the panic reaches its caller.
func TestUpdatePanicIsolated(t *testing.T) {
	s, _ := newTestStore(t)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want boom", r)
			}
		}()
		s.Update(context.Background(), func(tx *Tx) error {
			tx.Set([]byte("p"), []byte("x"))
			panic("boom")
		})
	}()
	if _, err := get(t, s, "p"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("panicking update landed: %v", err)
	}
	set(t, s, "after", "ok") // the writer survived
}

// 50 goroutines updating at once all land, and survive a reopen.
func TestConcurrentUpdatesAllLand(t *testing.T) {
	s, dir := newTestStore(t)
	const writers, each = 50, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				k := fmt.Sprintf("w%02d/%03d", w, i)
				errs <- s.Update(context.Background(), func(tx *Tx) error { return tx.Set([]byte(k), []byte(k)) })
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s = reopen(t, s, dir)
	n := 0
	err := s.View(func(tx *Tx) error {
		return tx.Iterate(IterOptions{Prefix: []byte("w")}, func(k, v []byte) (bool, error) {
			if !bytes.Equal(k, v) {
				return false, fmt.Errorf("%q = %q", k, v)
			}
			n++
			return true, nil
		})
	})
	if err != nil || n != writers*each {
		t.Fatalf("found %d of %d keys after reopen: %v", n, writers*each, err)
	}
}

// OnCommit runs after the write is durable and visible, only on success, in commit order.
func TestOnCommitOrder(t *testing.T) {
	s, _ := newTestStore(t)
	var (
		mu    sync.Mutex
		order []int
		wg    sync.WaitGroup
	)
	const n = 200
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Update(context.Background(), func(tx *Tx) error {
				v, _ := tx.Get([]byte("ctr"))
				c, _ := strconv.Atoi(string(v))
				c++
				if err := tx.Set([]byte("ctr"), []byte(strconv.Itoa(c))); err != nil {
					return err
				}
				tx.OnCommit(func() {
					v, err := get(t, s, "ctr")
					if now, _ := strconv.Atoi(v); err != nil || now < c {
						t.Errorf("OnCommit for %d ran before its write was visible (ctr=%q, %v)", c, v, err)
					}
					mu.Lock()
					order = append(order, c)
					mu.Unlock()
				})
				if i%5 == 0 {
					tx.OnCommit(func() { t.Errorf("OnCommit of failed update %d ran", i) })
					return errors.New("refused")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	want := n - n/5
	if len(order) != want {
		t.Fatalf("%d callbacks ran, want %d", len(order), want)
	}
	for i, c := range order {
		if c != i+1 {
			t.Fatalf("callback %d saw counter %d: not in commit order", i, c)
		}
	}
}

// A cancelled ctx abandons a queued Update: it returns ctx.Err() and fn never runs.
func TestUpdateCancelWhileWaiting(t *testing.T) {
	s, _ := newTestStore(t)
	release := blockWriter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{}, 1)
	errc := make(chan error)
	go func() {
		errc <- s.Update(ctx, func(tx *Tx) error { ran <- struct{}{}; return tx.Set([]byte("c"), []byte("x")) })
	}()
	waitQueued(t, s, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Update: %v, want context.Canceled", err)
	}
	release()
	set(t, s, "after", "x") // the writer has passed the cancelled request
	select {
	case <-ran:
		t.Fatal("cancelled Update's fn ran")
	default:
	}
	if _, err := get(t, s, "c"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancelled Update landed: %v", err)
	}
	if err := s.Update(ctx, func(*Tx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with a done ctx: %v", err)
	}
}

// A batch larger than one Badger transaction is split and all of it lands; one function
// too large for any transaction fails alone with badger.ErrTxnTooBig.
func TestBatchLargerThanTxn(t *testing.T) {
	s, dir := newTestStore(t)
	release := blockWriter(t, s)
	const updates, keys = 12, 1500 // ~12 × 1500 × 260 B ≈ 4.7 MB > 1.2 MB per txn
	val := bytes.Repeat([]byte("m"), 200)
	errs := make([]error, updates+1)
	var wg sync.WaitGroup
	for u := range updates + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[u] = s.Update(context.Background(), func(tx *Tx) error {
				n := keys
				if u == updates/2 {
					n = 30000 // alone exceeds a transaction
				}
				for i := range n {
					if err := tx.Set(fmt.Appendf(nil, "b/%02d/%05d", u, i), val); err != nil {
						return err
					}
				}
				return nil
			})
		}()
		waitQueued(t, s, u+1)
	}
	release()
	wg.Wait()
	for u, err := range errs {
		if u == updates/2 {
			if !errors.Is(err, badger.ErrTxnTooBig) {
				t.Fatalf("oversized update: %v, want ErrTxnTooBig", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("update %d: %v", u, err)
		}
	}
	s = reopen(t, s, dir)
	count := map[string]int{}
	s.View(func(tx *Tx) error {
		return tx.Iterate(IterOptions{Prefix: []byte("b/"), KeysOnly: true}, func(k, _ []byte) (bool, error) {
			count[string(k[:4])]++
			return true, nil
		})
	})
	for u := range updates + 1 {
		want := keys
		if u == updates/2 {
			want = 0
		}
		if got := count[fmt.Sprintf("b/%02d", u)]; got != want {
			t.Errorf("update %d: %d keys landed, want %d", u, got, want)
		}
	}
}

// Tx misuse is reported, not silently accepted.
func TestTxMisuse(t *testing.T) {
	s, _ := newTestStore(t)
	var kept *Tx
	err := s.View(func(tx *Tx) error {
		kept = tx
		if err := tx.Set([]byte("k"), nil); !errors.Is(err, ErrReadOnly) {
			t.Errorf("Set in View: %v", err)
		}
		if err := tx.Delete([]byte("k")); !errors.Is(err, ErrReadOnly) {
			t.Errorf("Delete in View: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kept.Get([]byte("k")); !errors.Is(err, ErrTxDone) {
		t.Errorf("Get after View returned: %v", err)
	}
	s.Update(context.Background(), func(tx *Tx) error {
		for _, k := range [][]byte{nil, {}, []byte("!badger!x"), make([]byte, MaxKeySize+1)} {
			if err := tx.Set(k, []byte("v")); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Set(%.10q): %v, want ErrInvalidKey", k, err)
			}
		}
		kept = tx
		return nil
	})
	if err := kept.Set([]byte("late"), []byte("v")); !errors.Is(err, ErrTxDone) {
		t.Errorf("Set after Update returned: %v", err)
	}
}

// A function reads its own buffered writes, including deletes and overwrites.
func TestReadYourWrites(t *testing.T) {
	s, _ := newTestStore(t)
	set(t, s, "a", "committed")
	err := s.Update(context.Background(), func(tx *Tx) error {
		buf := []byte("first")
		tx.Set([]byte("b"), buf)
		copy(buf, "XXXXX") // Set copied the value
		if v, err := tx.Get([]byte("b")); err != nil || string(v) != "first" {
			return fmt.Errorf("own write: %q %v", v, err)
		}
		tx.Delete([]byte("a"))
		if _, err := tx.Get([]byte("a")); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("own delete: %v", err)
		}
		tx.Set([]byte("a"), []byte("again"))
		if v, err := tx.Get([]byte("a")); err != nil || string(v) != "again" {
			return fmt.Errorf("own overwrite: %q %v", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := get(t, s, "a"); v != "again" {
		t.Fatalf("a = %q", v)
	}
}

// Groups are pipelined: a function may run while the previous group's commit syncs. Every
// function must still see every earlier successful write, through Get and Iterate alike,
// and overwrites and deletes of earlier groups must shadow what Badger holds. Each update
// counts the keys under "n/" (Iterate), checks the count against "ctr" (Get), adds the
// next key and, every third time, deletes the previous one and adds it back.
func TestPipelinedReadYourWrites(t *testing.T) {
	s, dir := newTestStore(t)
	const writers, each = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				errs <- s.Update(context.Background(), func(tx *Tx) error {
					n := 0
					err := tx.Iterate(IterOptions{Prefix: []byte("n/"), KeysOnly: true}, func(_, _ []byte) (bool, error) {
						n++
						return true, nil
					})
					if err != nil {
						return err
					}
					v, err := tx.Get([]byte("ctr"))
					if err != nil && !errors.Is(err, ErrNotFound) {
						return err
					}
					if c, _ := strconv.Atoi(string(v)); c != n {
						return fmt.Errorf("ctr = %d but %d keys under n/", c, n)
					}
					if n%3 == 2 {
						prev := fmt.Appendf(nil, "n/%05d", n-1)
						if err := tx.Delete(prev); err != nil {
							return err
						}
						if _, err := tx.Get(prev); !errors.Is(err, ErrNotFound) {
							return fmt.Errorf("own delete of %s: %v", prev, err)
						}
						if err := tx.Set(prev, []byte("again")); err != nil {
							return err
						}
					}
					if err := tx.Set(fmt.Appendf(nil, "n/%05d", n), []byte("v")); err != nil {
						return err
					}
					return tx.Set([]byte("ctr"), []byte(strconv.Itoa(n+1)))
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d groups ran over an in-flight commit", s.w.Overlapped())
	s = reopen(t, s, dir)
	if v, err := get(t, s, "ctr"); err != nil || v != strconv.Itoa(writers*each) {
		t.Fatalf("ctr = %q, %v; want %d", v, err, writers*each)
	}
}

// Deletes of a group whose commit is in flight hide the key from the next group's
// iterations and reads, and a key it set is visible to them.
func TestPipelinedDeletes(t *testing.T) {
	s, _ := newTestStore(t)
	const rounds = 300
	for i := range rounds {
		set(t, s, fmt.Sprintf("d/%04d", i), "v")
	}
	var wg sync.WaitGroup
	errs := make([]error, rounds)
	for i := range rounds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(context.Background(), func(tx *Tx) error {
				return tx.Delete(fmt.Appendf(nil, "d/%04d", i))
			})
		}()
	}
	// Meanwhile, count: the count may only fall, never rise.
	last := rounds
	for last > 0 {
		n := 0
		err := s.Update(context.Background(), func(tx *Tx) error {
			n = 0
			return tx.Iterate(IterOptions{Prefix: []byte("d/")}, func(k, v []byte) (bool, error) {
				if string(v) != "v" {
					return false, fmt.Errorf("%s = %q", k, v)
				}
				n++
				return true, nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if n > last {
			t.Fatalf("%d keys after %d: a delete was undone", n, last)
		}
		last = n
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
	}
}

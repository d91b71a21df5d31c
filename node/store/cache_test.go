package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// updateGet reads k inside an Update (where the writer's read cache serves reads).
func updateGet(t *testing.T, s *Store, k string) (string, error) {
	t.Helper()
	var v []byte
	err := s.Update(context.Background(), func(tx *Tx) error {
		var err error
		v, err = tx.Get([]byte(k))
		return err
	})
	return string(v), err
}

// TestHotCountersThroughTheReadCache: 8 writers × 60 read-modify-writes of 4 shared counters
// lose no increment (each Update reads the newest value, from its group, the group still
// syncing, the read cache or Badger), and the counts are the same in a View and after a
// reopen, where no cache exists.
func TestHotCountersThroughTheReadCache(t *testing.T) {
	s, dir := newTestStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 60 {
				k := []byte("ctr/" + strconv.Itoa((w+i)%4))
				err := s.Update(ctx, func(tx *Tx) error {
					n := 0
					v, err := tx.Get(k)
					switch {
					case errors.Is(err, ErrNotFound):
					case err != nil:
						return err
					default:
						if n, err = strconv.Atoi(string(v)); err != nil {
							return err
						}
					}
					return tx.Set(k, []byte(strconv.Itoa(n+1)))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	check := func(s *Store, where string) {
		for c := range 4 {
			v, err := get(t, s, "ctr/"+strconv.Itoa(c))
			if err != nil || v != "120" {
				t.Fatalf("%s: counter %d = %q, %v; want 120", where, c, v, err)
			}
		}
	}
	check(s, "View")
	check(reopen(t, s, dir), "after reopen")
}

// TestReadCacheForgetsDeletesAndFailures: a cached record read again after a Delete is gone,
// after a failed Update keeps its old value, and after a write too large for the cache has
// the new value.
func TestReadCacheForgetsDeletesAndFailures(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	set(t, s, "k", "one")
	if v, err := updateGet(t, s, "k"); err != nil || v != "one" { // now cached
		t.Fatalf("read: %q %v", v, err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete([]byte("k")) }); err != nil {
		t.Fatal(err)
	}
	if v, err := updateGet(t, s, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Delete: %q %v, want ErrNotFound", v, err)
	}
	set(t, s, "k", "two")
	boom := errors.New("boom")
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Set([]byte("k"), []byte("never")); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if v, err := updateGet(t, s, "k"); err != nil || v != "two" {
		t.Fatalf("after a failed Update: %q %v, want two", v, err)
	}
	big := bytes.Repeat([]byte("b"), readCacheBytes/8)
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Set([]byte("k"), big) }); err != nil {
		t.Fatal(err)
	}
	if v, err := updateGet(t, s, "k"); err != nil || v != string(big) {
		t.Fatalf("after a large write: %d bytes, %v; want %d", len(v), err, len(big))
	}
}

// TestReadCacheIsBounded: the cache keeps at most its size in values, the newest first.
func TestReadCacheIsBounded(t *testing.T) {
	c := newReadCache(4096)
	for i := range 1000 {
		c.put(fmt.Appendf(nil, "k%d", i), bytes.Repeat([]byte{1}, 100))
		if i%3 == 0 {
			c.put(fmt.Appendf(nil, "k%d", i), bytes.Repeat([]byte{2}, 50)) // re-put: no double count
		}
		if c.size > c.max {
			t.Fatalf("after %d puts: %d bytes cached, bound %d", i+1, c.size, c.max)
		}
	}
	total := 0
	for _, v := range c.m {
		total += len(v)
	}
	if total != c.size {
		t.Fatalf("size %d, values hold %d", c.size, total)
	}
	if _, ok := c.get([]byte("k999")); !ok {
		t.Fatal("the newest value was evicted")
	}
	if _, ok := c.get([]byte("k0")); ok {
		t.Fatal("the oldest value survived 1000 puts into a 4 KiB cache")
	}
	if len(c.order) > 4*len(c.m)+64 {
		t.Fatalf("%d names kept for %d values", len(c.order), len(c.m))
	}
	c.put([]byte("k999"), bytes.Repeat([]byte{3}, c.max)) // too large: dropped, not stale
	if _, ok := c.get([]byte("k999")); ok {
		t.Fatal("a stale value survived a write too large to cache")
	}
}

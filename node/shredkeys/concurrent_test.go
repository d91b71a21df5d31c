package shredkeys

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestConcurrentUse: writers creating buckets and sealing under them while the clock moves
// and sweeps run: every stored item opens unless its window has ended, and every item
// whose window has ended is shredded (run with -race).
func TestConcurrentUse(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	type item struct {
		key string
		end int64
	}
	var mu sync.Mutex
	var stored []item
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				exp := n.clk.Now().Add(time.Duration(30+i*7) * time.Minute)
				b, err := n.kr.ExpiryBucket(ctx, exp)
				if errors.Is(err, ErrExpired) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				key := fmt.Sprintf("msg/%d/%d", w, i)
				if err := putErr(n, b, key, "content of "+key); errors.Is(err, ErrNoBucket) {
					continue // destroyed meanwhile: its window passed
				} else if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				stored = append(stored, item{key, b.start + time.Hour.Milliseconds()})
				mu.Unlock()
			}
		})
	}
	var sweeps sync.WaitGroup
	sweeps.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			n.clk.advance(5 * time.Minute)
			if _, err := n.kr.Sweep(ctx, n.clk.Now()); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	sweeps.Wait()
	now := n.clk.Now().UnixMilli()
	if _, err := n.kr.Sweep(ctx, n.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if len(stored) == 0 {
		t.Fatal("nothing was stored")
	}
	for _, it := range stored {
		v, err := n.get(it.key)
		if it.end <= now {
			if !errors.Is(err, ErrShredded) {
				t.Errorf("%s past its window: %q, %v", it.key, v, err)
			}
		} else if err != nil || v != "content of "+it.key {
			t.Errorf("%s: %q, %v", it.key, v, err)
		}
	}
}

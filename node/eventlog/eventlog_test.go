package eventlog

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// Since answers the same from memory (the newest events) and from the store, from every
// cursor and page size, and a log reopened on the same store (empty memory) agrees with
// the first one. Events are appended by concurrent transactions, some of which fail.
func TestSinceFromMemoryMatchesStore(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Create(dir, []byte("pass"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := Open(st)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3*recentEvents + 100 // more than memory holds
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n / 8 {
				err := st.Update(context.Background(), func(tx *store.Tx) error {
					if _, err := l.Append(tx, "test", map[string]int{"w": w, "i": i}); err != nil {
						return err
					}
					if i%7 == 3 {
						return fmt.Errorf("refused")
					}
					return nil
				})
				if err != nil && err.Error() != "refused" {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	last := l.Last()
	if l.recent[0].Seq == 1 || l.recent[len(l.recent)-1].Seq != last {
		t.Fatalf("memory holds %d..%d of 1..%d", l.recent[0].Seq, l.recent[len(l.recent)-1].Seq, last)
	}
	fromStore, err := Open(st) // nothing in memory
	if err != nil {
		t.Fatal(err)
	}
	for _, since := range []uint64{0, 1, last - recentEvents - 1, last - recentEvents, last - 10, last - 1, last} {
		for _, limit := range []int{1, 7, MaxPage} {
			a, moreA, err := l.Since(since, limit)
			if err != nil {
				t.Fatal(err)
			}
			b, moreB, err := fromStore.Since(since, limit)
			if err != nil {
				t.Fatal(err)
			}
			if moreA != moreB || !slices.EqualFunc(a, b, sameEvent) {
				t.Fatalf("Since(%d, %d): memory %d events (more %v), store %d (more %v)", since, limit, len(a), moreA, len(b), moreB)
			}
			for i, ev := range a {
				if ev.Seq != since+1+uint64(i) {
					t.Fatalf("Since(%d, %d)[%d] has seq %d", since, limit, i, ev.Seq)
				}
			}
		}
	}
}

func sameEvent(a, b api.Event) bool {
	return a.Seq == b.Seq && a.Kind == b.Kind && string(a.Payload) == string(b.Payload)
}

package expiry

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
	"github.com/petrel-chat/petrel/sync/hlc"
)

type recorder struct {
	mu      sync.Mutex
	lines   []api.Message
	expired []string
	convs   int
}

func newTimers(t *testing.T, now *time.Time) (*Timers, *recorder, *store.Store) {
	st := storetest.Open(t)
	rec := &recorder{}
	n := 0
	tm := New(Config{
		Store: st, Now: func() time.Time { return *now },
		NewID: func() string { n++; return "line" + string(rune('a'+n)) },
		SaveLine: func(_ *store.Tx, m api.Message, _ string) error {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.lines = append(rec.lines, m)
			return nil
		},
		EmitConv: func(*store.Tx, string) error { rec.convs++; return nil },
		Expire: func(_ *store.Tx, id string) error {
			rec.expired = append(rec.expired, id)
			return nil
		},
	})
	return tm, rec, st
}

// TestApplyLatestChangeWins: timer changes apply in timestamp order whatever order they
// arrive in (an older one is dropped, with no system line), each applied one saved with
// its system line and reported.
func TestApplyLatestChangeWins(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tm, rec, st := newTimers(t, &now)
	conv := &history.Conversation{ID: "d1", Type: api.ConversationDirect}
	ts := func(n uint32) hlc.Timestamp { return hlc.Timestamp{Wall: now.UnixMilli(), Logical: n} }
	storetest.Update(t, st, func(tx *store.Tx) error {
		if err := tm.Apply(tx, conv, "u1", "Alice", 86400, ts(2), true); err != nil {
			return err
		}
		return tm.Apply(tx, conv, "u2", "Bob", 30, ts(1), false) // older: dropped
	})
	if conv.Disappear != 86400 || len(rec.lines) != 1 || rec.convs != 1 {
		t.Fatalf("timer %d, %d lines, %d conversation events", conv.Disappear, len(rec.lines), rec.convs)
	}
	if l := rec.lines[0]; l.Body != "Alice set messages to disappear after 1 day" || !l.System || l.Status != api.StatusDelivered {
		t.Fatalf("system line %+v", l)
	}
	_ = st.View(func(tx *store.Tx) error {
		c, err := history.GetConversation(tx, "d1")
		if err != nil || c.Disappear != 86400 || c.DisappearTS != ts(2).String() {
			t.Fatalf("stored conversation %+v %v", c, err)
		}
		return nil
	})
}

// TestExpireDueInOrder: ExpireDue expires exactly the messages whose expiry has come, in
// expiry order, drops their index entries, and returns the next expiry.
func TestExpireDueInOrder(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tm, rec, st := newTimers(t, &now)
	at := func(d time.Duration) *int64 { v := now.Add(d).UnixMilli(); return &v }
	storetest.Update(t, st, func(tx *store.Tx) error {
		for id, exp := range map[string]*int64{"late": at(time.Hour), "b": at(-time.Second), "a": at(-time.Minute), "now": at(0)} {
			if err := tm.Index(tx, &api.Message{ID: id, ExpiresAt: exp}); err != nil {
				return err
			}
		}
		return tm.Index(tx, &api.Message{ID: "deleted", ExpiresAt: at(-time.Hour), Deleted: true}) // not indexed
	})
	next, err := tm.ExpireDue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.expired, []string{"a", "b", "now"}) || next != *at(time.Hour) {
		t.Fatalf("expired %v, next %d", rec.expired, next)
	}
	rec.expired = nil
	if _, err := tm.ExpireDue(context.Background()); err != nil || len(rec.expired) != 0 {
		t.Fatalf("again: %v %v", rec.expired, err)
	}
}

func TestTimerRulesAndWords(t *testing.T) {
	for _, secs := range []int64{-1, 1, 4, 90*86400 + 1} {
		if err := Check(secs); !errors.Is(err, api.ErrBadRequest) {
			t.Errorf("Check(%d): %v", secs, err)
		}
	}
	for _, secs := range []int64{0, 5, 90 * 86400} {
		if err := Check(secs); err != nil {
			t.Errorf("Check(%d): %v", secs, err)
		}
	}
	for secs, want := range map[int64]string{30: "30 seconds", 86400: "1 day", 7 * 86400: "1 week", 90 * 86400: "90 days", 3600: "1 hour", 61: "61 seconds"} {
		if got := DurationWords(secs); got != want {
			t.Errorf("DurationWords(%d) = %q, want %q", secs, got, want)
		}
	}
	m := api.Message{DisappearAfterS: 30}
	if !StartRead(&m, 1000) || *m.ExpiresAt != 31000 || StartRead(&m, 5000) || *m.ExpiresAt != 31000 {
		t.Fatalf("StartRead: %v", m.ExpiresAt)
	}
	if !ExpiredOnArrival(31000, 1000, 30) || ExpiredOnArrival(30999, 1000, 30) || ExpiredOnArrival(1e12, 1000, 0) {
		t.Fatal("ExpiredOnArrival")
	}
}

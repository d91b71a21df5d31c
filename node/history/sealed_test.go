package history

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/shredkeys"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestDisappearingMessageSealed: a disappearing message's record keeps no content in the
// clear (not at KeyMsg, not in its sealed form without the bucket key); it reads back
// whole while its key lives, unread (Pending) and read (Expiry); once its bucket's key is
// destroyed it reads as deleted, and a message without a timer is stored as before.
func TestDisappearingMessageSealed(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	clk := &testClock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	kr, err := shredkeys.Open(ctx, st, shredkeys.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer kr.Close()
	want := fullMessage()
	want.Deleted, want.DisappearAfterS = false, 60
	put := func(m api.Message) {
		storetest.Update(t, st, func(tx *store.Tx) error {
			r := &Message{ContactID: "c1", EditTS: "ts1"}
			FromAPI(r, &m)
			return PutMessage(tx, kr, r)
		})
	}
	get := func() api.Message {
		var out api.Message
		if err := st.View(func(tx *store.Tx) error {
			r, err := GetMessage(tx, kr, want.ID)
			if err != nil {
				return err
			}
			out = ToAPI(r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	inClear := func() {
		_ = st.View(func(tx *store.Tx) error {
			v, err := tx.Get(KeyMsg(want.ID))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{want.Body, want.Attachments[0].Name, "👍"} {
				if contains(v, s) {
					t.Fatalf("the message record holds %q: %s", s, v)
				}
			}
			return nil
		})
	}
	put(want) // unread: Pending
	inClear()
	if got := get(); !reflect.DeepEqual(got, want) {
		t.Fatalf("unread:\n got %+v\nwant %+v", got, want)
	}
	exp := clk.Now().Add(time.Minute).UnixMilli()
	want.ExpiresAt = &exp
	put(want) // read: Expiry
	inClear()
	if got := get(); !reflect.DeepEqual(got, want) {
		t.Fatalf("read:\n got %+v\nwant %+v", got, want)
	}
	clk.add(3 * time.Hour)
	if done, err := kr.Sweep(ctx, clk.Now()); err != nil || len(done) != 2 {
		t.Fatalf("sweep: %v %v (want the Pending and the Expiry bucket)", done, err)
	}
	if got := get(); !got.Deleted || got.Body != "" || len(got.Attachments) != 0 {
		t.Fatalf("after its key is destroyed: %+v", got)
	}
	// No timer: stored whole, no sealed copy.
	plain := fullMessage()
	plain.ID, plain.Deleted = "m2", false
	put(plain)
	_ = st.View(func(tx *store.Tx) error {
		if _, err := tx.Get(KeySealed("m2")); err == nil {
			t.Fatal("a message without a timer has a sealed copy")
		}
		return nil
	})
}

func contains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }

// TestJSONSealedContentStillOpens: a disappearing message written before store format 2
// (its record without content and its sealed whole record both JSON) reads back whole.
func TestJSONSealedContentStillOpens(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	clk := &testClock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	kr, err := shredkeys.Open(ctx, st, shredkeys.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer kr.Close()
	exp := clk.now.Add(time.Hour).UnixMilli()
	full := &Message{V: Version, ID: "m1", ConversationID: "d1", Body: "old secret", Status: api.StatusSent,
		Total: 1, Disappear: 3600, ExpiresAt: &exp, ContactID: "c1"}
	storetest.Update(t, st, func(tx *store.Tx) error {
		pt, err := json.Marshal(full)
		if err != nil {
			return err
		}
		sealed, err := kr.SealUntil(tx, exp, KeySealed("m1"), pt)
		if err != nil {
			return err
		}
		if err := tx.Set(KeySealed("m1"), sealed); err != nil {
			return err
		}
		stub := *full
		stub.Body, stub.Sealed = "", true
		return store.PutJSON(tx, KeyMsg("m1"), &stub)
	})
	if err := st.View(func(tx *store.Tx) error {
		r, err := GetMessage(tx, kr, "m1")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(r, full) {
			t.Errorf("read %+v, want %+v", *r, *full)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

package history

import (
	"context"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/shredkeys"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

// FuzzSealedMessage: whatever bytes a disappearing message's two records hold (a damaged
// or edited store), reading it returns the message or an error, never a panic, and never
// another message's content.
func FuzzSealedMessage(f *testing.F) {
	st := storetest.Open(f)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	kr, err := shredkeys.Open(context.Background(), st, shredkeys.Options{Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { kr.Close() })
	var good []byte
	storetest.Update(f, st, func(tx *store.Tx) error {
		r := &Message{ID: "m1", ConversationID: "d1", Body: "seed", Disappear: 60}
		if err := PutMessage(tx, kr, r); err != nil {
			return err
		}
		good, err = tx.Get(KeySealed("m1"))
		return err
	})
	f.Add([]byte(`{"v":1,"id":"m1","sealed":true}`), good)
	f.Add([]byte(`{"v":1,"id":"m1","sealed":true,"media":["x"]}`), []byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte(`{"v":1,"id":"m1"}`), []byte("{}"))
	f.Add(EncodeMessage(&Message{ID: "m1", Sealed: true, Disappear: 60, Media: []string{"x"}}), good)
	f.Add(EncodeMessage(&Message{ID: "m2", Sealed: true}), EncodeMessage(&Message{ID: "m1", Body: "not sealed"}))
	f.Fuzz(func(t *testing.T, stub, sealed []byte) {
		storetest.Update(t, st, func(tx *store.Tx) error {
			if err := tx.Set(KeyMsg("m1"), stub); err != nil {
				return err
			}
			return tx.Set(KeySealed("m1"), sealed)
		})
		_ = st.View(func(tx *store.Tx) error {
			r, err := GetMessage(tx, kr, "m1")
			if err == nil && r.ID != "m1" {
				t.Fatalf("message m1 read as %q", r.ID)
			}
			_, _ = MessageMedia(tx, kr, "m1")
			return nil
		})
	})
}

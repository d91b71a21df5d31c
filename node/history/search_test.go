package history

import (
	"context"
	"slices"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/eventlog"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

// A block that does not decode is an error, not a panic.
func TestSearchBlockDecodeRefusesGarbage(t *testing.T) {
	good := encodeBlock([]searchEntry{{"id", "order", "conv", false, "body"}})
	for _, b := range [][]byte{{0xff}, {5, 'a'}, good[:len(good)-1], append(append([]byte{}, good[:len(good)-6]...), 7)} {
		if _, err := decodeBlock(b); err == nil {
			t.Fatalf("block %x decoded", b)
		}
	}
	es, err := decodeBlock(good)
	if err != nil || len(es) != 1 || es[0].body != "body" {
		t.Fatalf("good block: %+v %v", es, err)
	}
}

func FuzzSearchBlock(f *testing.F) {
	f.Add(encodeBlock([]searchEntry{{"id", "order", "conv", true, "body"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := decodeBlock(b)
		if err != nil {
			return
		}
		again, err := decodeBlock(encodeBlock(es))
		if err != nil || !slices.Equal(again, es) {
			t.Fatalf("block %x: entries do not survive a re-encoding: %v", b, err)
		}
	})
}

// TestSearchIndexFollowsTheEventLog: messages written before the index exists are found by
// its first build, messages and edits reported to the event log afterwards by its catch-up,
// and a deleted message is not found.
func TestSearchIndexFollowsTheEventLog(t *testing.T) {
	st := storetest.Open(t)
	ev, err := eventlog.Open(st)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	write := func(m api.Message, kind string) {
		storetest.Update(t, st, func(tx *store.Tx) error {
			r := &Message{}
			FromAPI(r, &m)
			if err := PutMessage(tx, nil, r); err != nil {
				return err
			}
			_, err := ev.Append(tx, kind, m)
			return err
		})
	}
	find := func(q, conv string) []string {
		var idx SearchIndex
		if err := idx.Refresh(ctx, st, ev); err != nil {
			t.Fatal(err)
		}
		var ids []string
		_ = st.View(func(tx *store.Tx) error {
			hits, err := SearchIndexed(tx, q, conv)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hits {
				ids = append(ids, h.ID)
			}
			return nil
		})
		return ids
	}
	write(api.Message{ID: "m1", ConversationID: "d1", Order: "01", Body: "Ferry at nine"}, api.KindMessage)
	write(api.Message{ID: "m2", ConversationID: "d2", Order: "02", Body: "the ferry is late"}, api.KindMessage)
	if got := find("ferry", ""); !slices.Equal(got, []string{"m2", "m1"}) {
		t.Fatalf("first build: %v", got)
	}
	write(api.Message{ID: "m3", ConversationID: "d1", Order: "03", Body: "another ferry"}, api.KindMessage)
	write(api.Message{ID: "m1", ConversationID: "d1", Order: "01", Body: "bus at nine"}, api.KindMessageUpdate)
	write(api.Message{ID: "m2", ConversationID: "d2", Order: "02", Deleted: true}, api.KindMessageUpdate)
	if got := find("ferry", ""); !slices.Equal(got, []string{"m3"}) {
		t.Fatalf("after the catch-up: %v", got)
	}
	if got := find("nine", "d2"); len(got) != 0 {
		t.Fatalf("in d2: %v", got)
	}
}

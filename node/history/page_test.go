package history

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

// TestPageInOrder: pages come in conversation order whatever order the messages were
// written in: the newest first page, before and after a message, a range, and has_more.
func TestPageInOrder(t *testing.T) {
	st := storetest.Open(t)
	storetest.Update(t, st, func(tx *store.Tx) error {
		if err := PutConversation(tx, &Conversation{ID: "d1", Type: api.ConversationDirect}); err != nil {
			return err
		}
		if err := PutConversation(tx, &Conversation{ID: "d2", Type: api.ConversationDirect}); err != nil {
			return err
		}
		for _, i := range []int{3, 1, 5, 2, 4} {
			m := api.Message{ID: fmt.Sprintf("m%d", i), ConversationID: "d1", Order: fmt.Sprintf("%04d", i)}
			r := &Message{}
			FromAPI(r, &m)
			if err := PutMessage(tx, nil, r); err != nil {
				return err
			}
			if err := tx.Set(KeyOrder("d1", m.Order), []byte(m.ID)); err != nil {
				return err
			}
		}
		return nil
	})
	page := func(before, after string, limit int) ([]string, bool) {
		t.Helper()
		var p api.MessagePage
		if err := st.View(func(tx *store.Tx) error {
			var err error
			p, err = Page(tx, nil, "d1", before, after, limit)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range p.Messages {
			ids = append(ids, m.ID)
		}
		return ids, p.HasMore
	}
	for _, c := range []struct {
		before, after string
		limit         int
		want          []string
		more          bool
	}{
		{"", "", 2, []string{"m4", "m5"}, true},
		{"", "", 5, []string{"m1", "m2", "m3", "m4", "m5"}, false},
		{"m4", "", 2, []string{"m2", "m3"}, true},
		{"", "m2", 2, []string{"m3", "m4"}, true},
		{"", "m3", 5, []string{"m4", "m5"}, false},
		{"m5", "m1", 5, []string{"m2", "m3", "m4"}, false},
	} {
		got, more := page(c.before, c.after, c.limit)
		if !slices.Equal(got, c.want) || more != c.more {
			t.Errorf("before %q after %q limit %d: %v more=%v, want %v more=%v", c.before, c.after, c.limit, got, more, c.want, c.more)
		}
	}
	_ = st.View(func(tx *store.Tx) error {
		if _, err := Page(tx, nil, "nope", "", "", 5); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("unknown conversation: %v", err)
		}
		if _, err := Page(tx, nil, "d2", "m1", "", 5); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("a message of another conversation as a reference: %v", err)
		}
		return nil
	})
}

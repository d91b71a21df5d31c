package history

import (
	"errors"
	"fmt"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

// TestConversationPageWalksEveryConversationOnce: paging with the returned cursor lists
// every shown conversation once, newest activity first, leaves out the hidden ones, and
// ends without a cursor; a malformed cursor and a negative limit are bad requests.
func TestConversationPageWalksEveryConversationOnce(t *testing.T) {
	st := storetest.Open(t)
	storetest.Update(t, st, func(tx *store.Tx) error {
		for i := range 7 {
			cv := &Conversation{ID: fmt.Sprintf("c%d", i), Type: api.ConversationDirect, UpdatedAt: int64(100 + i%3)}
			if err := PutConversation(tx, cv); err != nil {
				return err
			}
		}
		return nil
	})
	hidden := func(cv *Conversation) bool { return cv.ID == "c4" }
	show := func(cv *Conversation) (api.Conversation, error) {
		return api.Conversation{ID: cv.ID, UpdatedAt: cv.UpdatedAt}, nil
	}
	var got []api.Conversation
	cursor, pages := "", 0
	for {
		var page api.ConversationPage
		_ = st.View(func(tx *store.Tx) error {
			var err error
			page, err = ConversationPage(tx, cursor, 2, hidden, show)
			if err != nil {
				t.Fatal(err)
			}
			return nil
		})
		got = append(got, page.Conversations...)
		pages++
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
		if pages > 10 {
			t.Fatal("the cursor does not advance")
		}
	}
	seen := map[string]bool{}
	for i, c := range got {
		if seen[c.ID] || c.ID == "c4" {
			t.Errorf("conversation %s listed twice or hidden", c.ID)
		}
		seen[c.ID] = true
		if i > 0 && (c.UpdatedAt > got[i-1].UpdatedAt || c.UpdatedAt == got[i-1].UpdatedAt && c.ID < got[i-1].ID) {
			t.Errorf("%s after %s: not newest first", c.ID, got[i-1].ID)
		}
	}
	if len(got) != 6 {
		t.Errorf("listed %d conversations, want 6", len(got))
	}
	_ = st.View(func(tx *store.Tx) error {
		if _, err := ConversationPage(tx, "no-dot", 2, hidden, show); !errors.Is(err, api.ErrBadRequest) {
			t.Errorf("bad cursor: %v", err)
		}
		return nil
	})
	for _, c := range []struct{ in, max, want int }{{0, MaxPage, DefaultPage}, {0, 10, 10}, {500, MaxPage, MaxPage}, {7, MaxPage, 7}} {
		if n, err := PageLimit(c.in, c.max); err != nil || n != c.want {
			t.Errorf("PageLimit(%d, %d) = %d, %v; want %d", c.in, c.max, n, err, c.want)
		}
	}
	if _, err := PageLimit(-1, MaxPage); !errors.Is(err, api.ErrBadRequest) {
		t.Errorf("negative limit: %v", err)
	}
}

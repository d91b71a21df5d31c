package messenger

import (
	"context"
	"strings"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/store"
)

// History limits (node/history).
const (
	DefaultPage   = history.DefaultPage
	MaxPage       = history.MaxPage
	MaxSearchPage = history.MaxSearchPage
)

// Message is message id as GET /v1/messages/{id} shows it (not_found when there is none).
func (m *Messenger) Message(_ context.Context, id string) (api.Message, error) {
	var out api.Message
	err := m.st.View(func(tx *store.Tx) error {
		r, err := history.LoadItem(tx, m.sealer(), id)
		if err != nil {
			return err
		}
		out = r.M
		return nil
	})
	return out, err
}

// Messages pages through a conversation in order: the newest limit messages, or those
// before or after a message, or (both given) those between two messages, from the earlier
// one on. Results are ascending; hasMore says whether more exist in the direction paged
// (for a range: before its upper end).
func (m *Messenger) Messages(ctx context.Context, convID, before, after string, limit int) (api.MessagePage, error) {
	limit, err := history.PageLimit(limit, MaxPage)
	if err != nil {
		return api.MessagePage{}, err
	}
	var page api.MessagePage
	err = m.st.View(func(tx *store.Tx) error {
		page, err = history.Page(tx, m.sealer(), convID, before, after, limit)
		return err
	})
	return page, err
}

// Conversations lists conversations, newest activity first (history.ConversationPage),
// without a fellow group member's empty direct conversation. The cursor is opaque.
func (m *Messenger) Conversations(ctx context.Context, cursor string, limit int) (api.ConversationPage, error) {
	limit, err := history.PageLimit(limit, MaxPage)
	if err != nil {
		return api.ConversationPage{}, err
	}
	var page api.ConversationPage
	err = m.st.View(func(tx *store.Tx) error {
		hidden := func(cv *history.Conversation) bool {
			if cv.Type != api.ConversationDirect || cv.LastMsgID != "" {
				return false
			}
			c, err := contacts.Get(tx, cv.ContactID)
			return err == nil && c.GroupOnly
		}
		show := func(cv *history.Conversation) (api.Conversation, error) { return m.apiConvRec(tx, cv) }
		page, err = history.ConversationPage(tx, cursor, limit, hidden, show)
		return err
	})
	return page, err
}

// Conversation returns one conversation.
func (m *Messenger) Conversation(ctx context.Context, id string) (api.Conversation, error) {
	var out api.Conversation
	err := m.st.View(func(tx *store.Tx) error {
		var err error
		out, err = m.apiConv(tx, id)
		return err
	})
	return out, err
}

// Search finds messages whose body contains q (case-insensitive), newest first, in one
// conversation or all. It reads the search index (node/history search.go), brought up to date
// first, and checks every result against its message record (history.SearchResults).
func (m *Messenger) Search(ctx context.Context, q, convID string, limit int) ([]api.Message, error) {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" {
		return nil, api.Errorf(api.ErrBadRequest, "q is required")
	}
	limit, err := history.PageLimit(limit, MaxSearchPage)
	if err != nil {
		return nil, err
	}
	if convID != "" {
		if err := m.st.View(func(tx *store.Tx) error {
			_, err := history.GetConversation(tx, convID)
			return err
		}); err != nil {
			return nil, err
		}
	}
	if err := m.search.Refresh(ctx, m.st, m.ev); err != nil {
		return nil, err
	}
	var out []api.Message
	err = m.st.View(func(tx *store.Tx) error {
		out, err = history.SearchResults(tx, m.sealer(), q, convID, limit)
		return err
	})
	return out, err
}

// searchScan is Search without the index (history.SearchScan), the reference it is tested
// against.
func (m *Messenger) searchScan(q, convID string, limit int) (out []api.Message, err error) {
	err = m.st.View(func(tx *store.Tx) error {
		out, err = history.SearchScan(tx, q, convID, limit)
		return err
	})
	return out, err
}

package messenger

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/store"
)

// History limits.
const (
	DefaultPage   = 50
	MaxPage       = 200
	MaxSearchPage = 200
)

// pageLimit applies a page size: 0 is the default, above max is max (API.md: limit ≤ max),
// negative is refused.
func pageLimit(limit, max int) (int, error) {
	switch {
	case limit < 0:
		return 0, api.Errorf(api.ErrBadRequest, "limit must be 1 to %d", max)
	case limit == 0:
		return min(DefaultPage, max), nil
	}
	return min(limit, max), nil
}

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
	limit, err := pageLimit(limit, MaxPage)
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

// Conversations lists conversations, newest activity first. The cursor is opaque.
func (m *Messenger) Conversations(ctx context.Context, cursor string, limit int) (api.ConversationPage, error) {
	limit, err := pageLimit(limit, MaxPage)
	if err != nil {
		return api.ConversationPage{}, err
	}
	var curAt int64
	var curID string
	if cursor != "" {
		at, id, ok := strings.Cut(cursor, ".")
		n, err := strconv.ParseInt(at, 10, 64)
		if !ok || err != nil {
			return api.ConversationPage{}, api.Errorf(api.ErrBadRequest, "bad cursor")
		}
		curAt, curID = n, id
	}
	page := api.ConversationPage{Conversations: []api.Conversation{}}
	err = m.st.View(func(tx *store.Tx) error {
		all, err := history.ByActivity(tx)
		if err != nil {
			return err
		}
		less := history.CompareActivity
		groupOnly := func(cid string) bool {
			c, err := contacts.Get(tx, cid)
			return err == nil && c.GroupOnly
		}
		for _, cv := range all {
			if cv.Type == api.ConversationDirect && cv.LastMsgID == "" && groupOnly(cv.ContactID) {
				continue // a fellow group member's empty direct conversation
			}
			if cursor != "" && less(cv, &history.Conversation{UpdatedAt: curAt, ID: curID}) <= 0 {
				continue
			}
			if len(page.Conversations) == limit {
				last := page.Conversations[limit-1]
				next := strconv.FormatInt(last.UpdatedAt, 10) + "." + last.ID
				page.NextCursor = &next
				break
			}
			c, err := m.apiConvRec(tx, cv)
			if err != nil {
				return err
			}
			page.Conversations = append(page.Conversations, c)
		}
		return nil
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
// first, and checks every result against its message record.
func (m *Messenger) Search(ctx context.Context, q, convID string, limit int) ([]api.Message, error) {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" {
		return nil, api.Errorf(api.ErrBadRequest, "q is required")
	}
	limit, err := pageLimit(limit, MaxSearchPage)
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
	out := []api.Message{}
	err = m.st.View(func(tx *store.Tx) error {
		hits, err := history.SearchIndexed(tx, q, convID)
		if err != nil {
			return err
		}
		for _, h := range hits {
			if len(out) == limit {
				break
			}
			r, err := history.LoadItem(tx, m.sealer(), h.ID)
			if err != nil {
				continue // gone since it was indexed
			}
			if r.M.Deleted || (convID != "" && r.M.ConversationID != convID) || !strings.Contains(strings.ToLower(r.M.Body), q) {
				continue
			}
			out = append(out, r.M)
		}
		return nil
	})
	return out, err
}

// searchScan is Search without the index: every message record decoded and matched. It is
// the reference the index is tested and measured against.
func (m *Messenger) searchScan(q, convID string, limit int) ([]api.Message, error) {
	q = strings.ToLower(strings.TrimSpace(q))
	out := []api.Message{}
	err := m.st.View(func(tx *store.Tx) error {
		return history.Messages(tx, nil, func(_ []byte, r *history.Message) (bool, error) {
			if r.Deleted || (convID != "" && r.ConversationID != convID) {
				return true, nil
			}
			if strings.Contains(strings.ToLower(r.Body), q) {
				out = append(out, history.ToAPI(r))
			}
			return true, nil
		})
	})
	slices.SortFunc(out, func(a, b api.Message) int { return strings.Compare(b.Order, a.Order) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

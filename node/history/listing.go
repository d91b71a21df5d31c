package history

import (
	"slices"
	"strconv"
	"strings"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// Page sizes of the local API's lists (docs/API.md).
const (
	DefaultPage   = 50
	MaxPage       = 200
	MaxSearchPage = 200
)

// PageLimit applies a page size: 0 is the default, above max is max (limit ≤ max), negative
// is a bad request.
func PageLimit(limit, max int) (int, error) {
	switch {
	case limit < 0:
		return 0, api.Errorf(api.ErrBadRequest, "limit must be 1 to %d", max)
	case limit == 0:
		return min(DefaultPage, max), nil
	}
	return min(limit, max), nil
}

// ConversationPage lists up to limit conversations newest activity first, from after the
// opaque cursor ("" for the first page; a malformed one is a bad request), leaving out
// those hidden says to hide, each shown as show makes it. NextCursor is set when more follow.
func ConversationPage(tx *store.Tx, cursor string, limit int, hidden func(*Conversation) bool,
	show func(*Conversation) (api.Conversation, error)) (api.ConversationPage, error) {
	page := api.ConversationPage{Conversations: []api.Conversation{}}
	var from *Conversation
	if cursor != "" {
		at, id, ok := strings.Cut(cursor, ".")
		n, err := strconv.ParseInt(at, 10, 64)
		if !ok || err != nil {
			return page, api.Errorf(api.ErrBadRequest, "bad cursor")
		}
		from = &Conversation{UpdatedAt: n, ID: id}
	}
	all, err := ByActivity(tx)
	if err != nil {
		return page, err
	}
	for _, cv := range all {
		if hidden(cv) || from != nil && CompareActivity(cv, from) <= 0 {
			continue
		}
		if len(page.Conversations) == limit {
			last := page.Conversations[limit-1]
			next := strconv.FormatInt(last.UpdatedAt, 10) + "." + last.ID
			page.NextCursor = &next
			break
		}
		c, err := show(cv)
		if err != nil {
			return page, err
		}
		page.Conversations = append(page.Conversations, c)
	}
	return page, nil
}

// SearchResults are up to limit messages for the index's hits (SearchIndexed) of q
// (lower-cased, trimmed), in conversation convID or all, each checked against its message
// record: one deleted, moved or no longer matching since it was indexed is left out.
func SearchResults(tx *store.Tx, s Sealer, q, convID string, limit int) ([]api.Message, error) {
	out := []api.Message{}
	hits, err := SearchIndexed(tx, q, convID)
	if err != nil {
		return out, err
	}
	for _, h := range hits {
		if len(out) == limit {
			break
		}
		r, err := LoadItem(tx, s, h.ID)
		if err != nil {
			continue // gone since it was indexed
		}
		if r.M.Deleted || (convID != "" && r.M.ConversationID != convID) || !strings.Contains(strings.ToLower(r.M.Body), q) {
			continue
		}
		out = append(out, r.M)
	}
	return out, nil
}

// SearchScan is a search without the index: every message record decoded and matched,
// newest first. It is the reference the index is tested and measured against.
func SearchScan(tx *store.Tx, q, convID string, limit int) ([]api.Message, error) {
	q = strings.ToLower(strings.TrimSpace(q))
	out := []api.Message{}
	err := Messages(tx, nil, func(_ []byte, r *Message) (bool, error) {
		if r.Deleted || (convID != "" && r.ConversationID != convID) {
			return true, nil
		}
		if strings.Contains(strings.ToLower(r.Body), q) {
			out = append(out, ToAPI(r))
		}
		return true, nil
	})
	slices.SortFunc(out, func(a, b api.Message) int { return strings.Compare(b.Order, a.Order) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

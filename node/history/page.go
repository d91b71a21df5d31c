package history

import (
	"slices"
	"strings"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// Page reads a page of conversation convID in order: the newest limit messages, or those
// before or after a message, or (both given) those between two messages, from the earlier
// one on. Results are ascending; HasMore says whether more exist in the direction paged
// (for a range: before its upper end). The conversation must exist (not_found otherwise),
// and so must before and after in it.
func Page(tx *store.Tx, s Sealer, convID, before, after string, limit int) (api.MessagePage, error) {
	page := api.MessagePage{Messages: []api.Message{}}
	if _, err := GetConversation(tx, convID); err != nil {
		return page, err
	}
	opt := store.IterOptions{Prefix: KeyOrderPrefix(convID), Reverse: after == ""}
	var skip, end []byte
	for _, ref := range []string{before, after} {
		if ref == "" {
			continue
		}
		r, err := GetMessage(tx, s, ref)
		if err != nil || r.ConversationID != convID {
			return page, api.Errorf(api.ErrNotFound, "no message %q in this conversation", ref)
		}
		if ref == before && after != "" {
			end = KeyOrder(convID, r.Order) // a range: forward from after, up to before
			continue
		}
		skip = KeyOrder(convID, r.Order)
		opt.Start = skip
	}
	var ids []string
	err := tx.Iterate(opt, func(k, v []byte) (bool, error) {
		if skip != nil && string(k) == string(skip) {
			return true, nil
		}
		if end != nil && string(k) >= string(end) {
			return false, nil
		}
		if len(ids) == limit {
			page.HasMore = true
			return false, nil
		}
		ids = append(ids, string(v))
		return true, nil
	})
	if err != nil {
		return page, err
	}
	if opt.Reverse {
		slices.Reverse(ids)
	}
	for _, id := range ids {
		r, err := GetMessage(tx, s, id)
		if err != nil {
			return page, err
		}
		page.Messages = append(page.Messages, ToAPI(r))
	}
	return page, nil
}

// ByActivity returns every conversation, newest activity first (ties by id).
func ByActivity(tx *store.Tx) ([]*Conversation, error) {
	var all []*Conversation
	err := Conversations(tx, func(c *Conversation) (bool, error) {
		all = append(all, c)
		return true, nil
	})
	slices.SortFunc(all, CompareActivity)
	return all, err
}

// CompareActivity orders conversations newest activity first, ties by id.
func CompareActivity(a, b *Conversation) int {
	if a.UpdatedAt != b.UpdatedAt {
		if a.UpdatedAt > b.UpdatedAt {
			return -1
		}
		return 1
	}
	return strings.Compare(a.ID, b.ID)
}

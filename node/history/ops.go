package history

import (
	"slices"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// AdvanceStatus moves message r's status forward to status (failed, with reason, is final
// and never undoes a message one of the person's devices took), setting its receipts to
// match; it reports whether r changed (the caller saves it and reports it).
func AdvanceStatus(r *Item, status, reason string) bool {
	if r.M.Status == api.StatusFailed {
		return false
	}
	if status == api.StatusFailed {
		if api.StatusRank(r.M.Status) >= api.StatusRank(api.StatusSent) {
			return false // one of the person's devices took it: another's failure does not undo that
		}
		r.M.Status, r.M.Error = status, reason
	} else {
		if api.StatusRank(status) <= api.StatusRank(r.M.Status) {
			return false
		}
		r.M.Status = status
	}
	switch r.M.Status {
	case api.StatusDelivered:
		r.M.Receipts.Delivered = 1
	case api.StatusRead:
		r.M.Receipts.Delivered, r.M.Receipts.Read = 1, 1
	}
	return true
}

// ApplyReaction applies a reaction change stamped ts unless a later change of the same
// user and emoji was applied already; it reports whether the message changed.
func ApplyReaction(r *Item, user, emoji string, present bool, ts string) bool {
	if r.ReactTS == nil {
		r.ReactTS = Reactions{}
	}
	if r.ReactTS[user] == nil {
		r.ReactTS[user] = map[string]ReactState{}
	}
	if old, ok := r.ReactTS[user][emoji]; ok && old.TS >= ts {
		return false
	}
	r.ReactTS[user][emoji] = ReactState{TS: ts, Present: present}
	out := map[string][]string{}
	for u, es := range r.ReactTS {
		for e, s := range es {
			if s.Present {
				out[e] = append(out[e], u)
			}
		}
	}
	for e := range out {
		slices.Sort(out[e])
	}
	r.M.Reactions = out
	return true
}

// FixLast points conversation convID's last message at the newest one left in its order
// after removed left it, when removed was the last; it reports whether it changed the
// conversation (saved).
func FixLast(tx *store.Tx, convID, removed string) (bool, error) {
	conv, err := GetConversation(tx, convID)
	if err != nil || conv.LastMsgID != removed {
		return false, err
	}
	conv.LastMsgID = ""
	err = tx.Iterate(store.IterOptions{Prefix: KeyOrderPrefix(convID), Reverse: true}, func(_, v []byte) (bool, error) {
		conv.LastMsgID = string(v)
		return false, nil
	})
	if err != nil {
		return false, err
	}
	return true, PutConversation(tx, conv)
}

// ReadUpTo marks conversation convID read up to and including message upTo (not_found
// when it is not in the conversation): the conversation's read mark moves forward and its
// unread count becomes the incoming messages after upTo. It returns the conversation (not
// saved), the incoming messages newly read (their status set to read, not saved) and
// whether the conversation as the UI shows it changed.
func ReadUpTo(tx *store.Tx, s Sealer, convID, upTo string) (conv *Conversation, newly []*Item, changed bool, err error) {
	conv, err = GetConversation(tx, convID)
	if err != nil {
		return nil, nil, false, err
	}
	target, err := LoadItem(tx, s, upTo)
	if err != nil || target.M.ConversationID != convID {
		return nil, nil, false, api.Errorf(api.ErrNotFound, "no message %q in this conversation", upTo)
	}
	unread := 0
	prefix := KeyOrderPrefix(convID)
	err = tx.Iterate(store.IterOptions{Prefix: prefix, Start: KeyOrder(convID, conv.ReadUpTo)}, func(k, v []byte) (bool, error) {
		order := string(k[len(prefix):])
		if order <= conv.ReadUpTo {
			return true, nil
		}
		r, err := LoadItem(tx, s, string(v))
		if err != nil {
			return false, err
		}
		if !r.Incoming {
			return true, nil
		}
		if order <= target.M.Order {
			if r.M.Status != api.StatusRead {
				newly = append(newly, r)
			}
		} else {
			unread++
		}
		return true, nil
	})
	if err != nil {
		return nil, nil, false, err
	}
	if target.M.Order > conv.ReadUpTo {
		conv.ReadUpTo = target.M.Order
	}
	changed = conv.Unread != unread || len(newly) > 0
	conv.Unread = unread
	for _, r := range newly {
		r.M.Status = api.StatusRead
		r.M.Receipts.Read = r.M.Receipts.Delivered // incoming: its receipts describe this node
	}
	return conv, newly, changed, nil
}

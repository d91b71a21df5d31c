package messenger

import (
	"context"
	"strings"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// GroupChanges lists the changes that made a group what it is — created, members added,
// removed or leaving, renamed, roles changed — with who made each and when, oldest first:
// the operations of the group's signed log that the fold applied (docs/API.md, extension
// GET /v1/conversations/{id}/changes). A direct conversation has none.
func (m *Messenger) GroupChanges(ctx context.Context, convID string) ([]api.GroupChange, error) {
	out := []api.GroupChange{}
	err := m.st.View(func(tx *store.Tx) error {
		cv, err := loadConv(tx, convID)
		if err != nil {
			return err
		}
		if cv.Type != api.ConversationGroup {
			return nil
		}
		g, err := loadGroup(tx, convID)
		if err != nil {
			return err
		}
		if err := withOps(tx, g); err != nil {
			return err
		}
		// Names as the members' own cards give them (the UI prefers its contacts' names).
		names := map[string]string{}
		for _, mb := range g.Members {
			names[mb.UserID] = mb.Name
		}
		member := func(uid string) api.Member { return api.Member{UserID: uid, Name: names[uid]} }
		_, err = foldWith(convID, g.Ops, func(s *wire.SignedGroupOp) {
			op := s.Op
			for _, mb := range op.Members {
				if _, ok := names[mb.UserID]; !ok || op.Kind == wire.OpAdd {
					names[mb.UserID] = mb.Name
				}
			}
			ch := api.GroupChange{Kind: op.Kind, Author: member(op.Author), Users: []api.Member{}, Name: op.Name, Role: op.Role}
			ch.Order = op.TS + "-" + op.Author + "-" + op.ID
			if ts, err := hlc.Parse(op.TS); err == nil {
				ch.At = ts.Wall
			}
			switch op.Kind {
			case wire.OpCreate, wire.OpAdd:
				for _, mb := range op.Members {
					if mb.UserID != op.Author {
						ch.Users = append(ch.Users, member(mb.UserID))
					}
				}
			case wire.OpRemove, wire.OpRole:
				for _, u := range op.Users {
					ch.Users = append(ch.Users, member(u))
				}
			}
			if op.Kind != wire.OpRename && op.Kind != wire.OpCreate {
				ch.Name = ""
			}
			if op.Kind != wire.OpRole {
				ch.Role = ""
			}
			out = append(out, ch)
		})
		return err
	})
	return out, err
}

// MessageReceipts says, for one of our own group messages, how far each member got: a
// receipt per member of the group (docs/API.md, extension GET /v1/messages/{id}/receipts).
// For a direct message it is the contact's status.
func (m *Messenger) MessageReceipts(ctx context.Context, msgID string) ([]api.MemberReceipt, error) {
	out := []api.MemberReceipt{}
	err := m.st.View(func(tx *store.Tx) error {
		r, err := loadMsg(tx, msgID)
		if err != nil {
			return err
		}
		if r.M.SenderID != m.uid {
			return api.Errorf(api.ErrBadRequest, "receipts are kept for your own messages only")
		}
		conv, err := m.apiConv(tx, r.M.ConversationID)
		if err != nil {
			return err
		}
		if conv.Type != api.ConversationGroup {
			for _, mb := range conv.Members {
				if mb.UserID != m.uid {
					out = append(out, api.MemberReceipt{UserID: mb.UserID, Name: mb.Name, Status: r.M.Status})
				}
			}
			return nil
		}
		seen := map[string]bool{}
		add := func(uid, name string, level int) {
			seen[uid] = true
			st := api.StatusSent
			switch level {
			case 1:
				st = api.StatusDelivered
			case 2:
				st = api.StatusRead
			}
			out = append(out, api.MemberReceipt{UserID: uid, Name: name, Status: st})
		}
		for _, mb := range conv.Members {
			if mb.UserID == m.uid {
				continue
			}
			level, err := receiptLevel(tx, msgID, mb.UserID)
			if err != nil {
				return err
			}
			add(mb.UserID, mb.Name, level)
		}
		// Members who acknowledged it and have left since.
		prefix := kGroupReceipt(msgID, "")
		return tx.Iterate(store.IterOptions{Prefix: prefix}, func(k, v []byte) (bool, error) {
			uid := strings.TrimPrefix(string(k), string(prefix))
			if !seen[uid] && len(v) == 1 {
				add(uid, "", int(v[0]))
			}
			return true, nil
		})
	})
	return out, err
}

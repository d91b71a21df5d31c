package grouplog

import (
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// Changes lists the changes that made group convID what it is — created, members added,
// removed or leaving, renamed, roles changed — with who made each and when, oldest first:
// the operations of the group's signed log that the fold applied (docs/API.md, extension
// GET /v1/conversations/{id}/changes).
func Changes(tx *store.Tx, convID string) ([]api.GroupChange, error) {
	out := []api.GroupChange{}
	err := func() error {
		g, err := Load(tx, convID)
		if err != nil {
			return err
		}
		if err := WithOps(tx, g); err != nil {
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
	}()
	return out, err
}

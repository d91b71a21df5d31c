package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/petrel-chat/petrel/node/api"
)

// Groups is the group part of the node (API.md §4 and extensions).
type Groups interface {
	CreateGroup(ctx context.Context, name string, members []string) (api.Conversation, error)
	ChangeMembers(ctx context.Context, id string, add, remove []string) (api.Conversation, error)
	SetRole(ctx context.Context, id string, users []string, role string) (api.Conversation, error)
	LeaveGroup(ctx context.Context, id string) (api.Conversation, error)
	RenameGroup(ctx context.Context, id, name string) (api.Conversation, error)
	// GroupChanges and MessageReceipts are extensions for UIs (docs/API.md).
	GroupChanges(ctx context.Context, id string) ([]api.GroupChange, error)
	MessageReceipts(ctx context.Context, msgID string) ([]api.MemberReceipt, error)
}

func (s *Server) postConversation(w http.ResponseWriter, r *http.Request) {
	var req api.GroupCreate
	if err := s.decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Type != api.ConversationGroup {
		s.writeError(w, r, api.Errorf(api.ErrBadRequest, `type must be "group" (a direct conversation exists with every contact)`))
		return
	}
	c, err := s.cfg.Backend.CreateGroup(r.Context(), req.Name, req.Members)
	s.reply(w, r, http.StatusCreated, c, err)
}

func (s *Server) patchConversation(w http.ResponseWriter, r *http.Request) {
	var raw json.RawMessage
	var req api.ConversationPatch
	if err := s.decodeBody(w, r, &raw); err != nil {
		s.writeError(w, r, err)
		return
	}
	mute, err := s.mutePatch(raw) // muted_until (handlers_push.go)
	if err := errors.Join(decodeJSON(raw, &req), err); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Name == nil && mute == nil && req.DisappearAfterS == nil {
		s.writeError(w, r, api.Errorf(api.ErrBadRequest, "name, muted_until or disappear_after_s is required"))
		return
	}
	id := r.PathValue("id")
	var c api.Conversation
	if req.DisappearAfterS != nil {
		if _, err := s.cfg.Backend.SetDisappear(r.Context(), id, *req.DisappearAfterS); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if req.Name != nil {
		c, err = s.cfg.Backend.RenameGroup(r.Context(), id, *req.Name)
	} else {
		c, err = s.cfg.Backend.Conversation(r.Context(), id)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err = s.applyMute(r.Context(), c, mute)
	s.reply(w, r, http.StatusOK, c, err)
}

func (s *Server) postMembers(w http.ResponseWriter, r *http.Request) {
	var req api.MembersChange
	if err := s.decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	var c api.Conversation
	var err error
	switch {
	case req.Role != "" && len(req.Add)+len(req.Remove) > 0:
		err = api.Errorf(api.ErrBadRequest, "change roles and membership in separate requests")
	case req.Role != "":
		c, err = s.cfg.Backend.SetRole(r.Context(), id, req.Users, req.Role)
	default:
		c, err = s.cfg.Backend.ChangeMembers(r.Context(), id, req.Add, req.Remove)
	}
	s.reply(w, r, http.StatusOK, c, err)
}

func (s *Server) postLeave(w http.ResponseWriter, r *http.Request) {
	c, err := s.cfg.Backend.LeaveGroup(r.Context(), r.PathValue("id"))
	s.reply(w, r, http.StatusOK, c, err)
}

func (s *Server) getGroupChanges(w http.ResponseWriter, r *http.Request) {
	ch, err := s.cfg.Backend.GroupChanges(r.Context(), r.PathValue("id"))
	s.reply(w, r, http.StatusOK, api.GroupChanges{Changes: ch}, err)
}

func (s *Server) getMessageReceipts(w http.ResponseWriter, r *http.Request) {
	rs, err := s.cfg.Backend.MessageReceipts(r.Context(), r.PathValue("id"))
	s.reply(w, r, http.StatusOK, api.MessageReceipts{Receipts: rs}, err)
}

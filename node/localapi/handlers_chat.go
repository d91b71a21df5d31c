package localapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/petrel-chat/petrel/node/api"
)

// reply writes v with status, or the error.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

// optional serves a route with the backend's part T, or 501 (missing): 200 with f's value, 204 for nil.
func optional[T any](s *Server, missing string, f func(r *http.Request, b T) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, ok := s.cfg.Backend.(T)
		if !ok {
			writeErrorCode(w, http.StatusNotImplemented, codeNotImplemented, missing)
			return
		}
		v, err := f(r, b)
		if v == nil && err == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		s.reply(w, r, http.StatusOK, v, err)
	}
}

// intParam reads a paging limit: absent or 0 is 0, which the node serves as its default page.
func intParam(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, api.Errorf(api.ErrBadRequest, "%s must be a non-negative integer (0 is the default)", name)
	}
	return n, nil
}

func (s *Server) postContact(w http.ResponseWriter, r *http.Request) {
	var req api.ContactAdd
	if err := s.decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Link == "" {
		s.writeError(w, r, api.Errorf(api.ErrBadRequest, "link is required"))
		return
	}
	c, created, err := s.cfg.Backend.AddContact(r.Context(), req.Link, req.Name)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.reply(w, r, status, c, err)
}

func (s *Server) getContacts(w http.ResponseWriter, r *http.Request) {
	cs, err := s.cfg.Backend.Contacts(r.Context())
	s.reply(w, r, http.StatusOK, api.ContactList{Contacts: cs}, err)
}

func (s *Server) getContact(w http.ResponseWriter, r *http.Request) {
	c, err := s.cfg.Backend.Contact(r.Context(), r.PathValue("id"))
	s.reply(w, r, http.StatusOK, c, err)
}

func (s *Server) patchContact(w http.ResponseWriter, r *http.Request) {
	var p api.ContactPatch
	if err := s.decodeBody(w, r, &p); err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.cfg.Backend.UpdateContact(r.Context(), r.PathValue("id"), p)
	s.reply(w, r, http.StatusOK, c, err)
}

func (s *Server) getConversations(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.cfg.Backend.Conversations(r.Context(), r.URL.Query().Get("cursor"), limit)
	s.reply(w, r, http.StatusOK, page, err)
}

func (s *Server) getConversation(w http.ResponseWriter, r *http.Request) {
	c, err := s.cfg.Backend.Conversation(r.Context(), r.PathValue("id"))
	s.reply(w, r, http.StatusOK, c, err)
}

func (s *Server) getMessages(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	page, err := s.cfg.Backend.Messages(r.Context(), r.PathValue("id"), q.Get("before"), q.Get("after"), limit)
	s.reply(w, r, http.StatusOK, page, err)
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	m, err := s.cfg.Backend.Message(r.Context(), r.PathValue("id"))
	s.reply(w, r, http.StatusOK, m, err)
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	var req api.SendRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	req.ConversationID = r.PathValue("id")
	m, repeat, err := s.cfg.Backend.Send(r.Context(), req)
	status := http.StatusCreated
	if repeat {
		status = http.StatusOK
	}
	s.reply(w, r, status, m, err)
}

func (s *Server) postRead(w http.ResponseWriter, r *http.Request) {
	var req api.ReadRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.UpTo == "" {
		s.writeError(w, r, api.Errorf(api.ErrBadRequest, "up_to is required"))
		return
	}
	err := s.cfg.Backend.MarkRead(r.Context(), r.PathValue("id"), req.UpTo)
	s.reply(w, r, http.StatusOK, map[string]bool{"ok": true}, err)
}

func (s *Server) patchMessage(w http.ResponseWriter, r *http.Request) {
	var req api.EditRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Body == nil {
		s.writeError(w, r, api.Errorf(api.ErrBadRequest, "body is required"))
		return
	}
	m, err := s.cfg.Backend.Edit(r.Context(), r.PathValue("id"), *req.Body)
	s.reply(w, r, http.StatusOK, m, err)
}

func (s *Server) deleteMessage(w http.ResponseWriter, r *http.Request) {
	var everyone bool
	switch r.URL.Query().Get("for") {
	case "everyone":
		everyone = true
	case "me", "":
	default:
		s.writeError(w, r, api.Errorf(api.ErrBadRequest, `for must be "everyone" or "me"`))
		return
	}
	m, err := s.cfg.Backend.Delete(r.Context(), r.PathValue("id"), everyone)
	s.reply(w, r, http.StatusOK, m, err)
}

func (s *Server) postReaction(w http.ResponseWriter, r *http.Request) {
	var req api.ReactionRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.cfg.Backend.React(r.Context(), r.PathValue("id"), req.Emoji, req.Remove)
	s.reply(w, r, http.StatusOK, m, err)
}

func (s *Server) getSearch(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	ms, err := s.cfg.Backend.Search(r.Context(), q.Get("q"), q.Get("conversation_id"), limit)
	s.reply(w, r, http.StatusOK, api.SearchResult{Messages: ms}, err)
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) {
	st, err := s.cfg.Backend.Settings(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.withPush(r.Context(), st)
	s.reply(w, r, http.StatusOK, out, err)
}

func (s *Server) putSettings(w http.ResponseWriter, r *http.Request) {
	var raw json.RawMessage
	var p api.SettingsPatch
	if err := s.decodeBody(w, r, &raw); err != nil {
		s.writeError(w, r, err)
		return
	}
	applyPush, err := s.pushSettingsPatch(raw)
	if err := errors.Join(decodeJSON(raw, &p), err); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.cfg.Backend.UpdateSettings(r.Context(), p)
	if err == nil {
		err = applyPush(r.Context())
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.withPush(r.Context(), st)
	s.reply(w, r, http.StatusOK, out, err)
}

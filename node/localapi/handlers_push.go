package localapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/petrel-chat/petrel/node/api"
)

// Push is the node's push part (API.md §7). A Backend that does not implement it answers
// the push routes with 501.
type Push interface {
	CreatePushRegistration(ctx context.Context, req api.PushRegistrationRequest) (r api.PushRegistration, created bool, err error)
	PushRegistrations(ctx context.Context) ([]api.PushRegistration, error)
	DeletePushRegistration(ctx context.Context, id string) error
	PushSettings(ctx context.Context) (api.PushSettings, error)
	UpdatePushSettings(ctx context.Context, p api.PushSettings) (api.PushSettings, error)
}

func (s *Server) pushBackend(w http.ResponseWriter) (Push, bool) {
	p, ok := s.cfg.Backend.(Push)
	if !ok {
		writeErrorCode(w, http.StatusNotImplemented, codeNotImplemented, "push registrations are not supported by this node")
	}
	return p, ok
}

func (s *Server) postPushRegistration(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pushBackend(w)
	if !ok {
		return
	}
	var req api.PushRegistrationRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	reg, created, err := p.CreatePushRegistration(r.Context(), req)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.reply(w, r, status, reg, err)
}

func (s *Server) getPushRegistrations(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pushBackend(w)
	if !ok {
		return
	}
	regs, err := p.PushRegistrations(r.Context())
	s.reply(w, r, http.StatusOK, api.PushRegistrations{Registrations: regs}, err)
}

func (s *Server) deletePushRegistration(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pushBackend(w)
	if !ok {
		return
	}
	if err := p.DeletePushRegistration(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// settingsWithPush is Settings with its push part (API.md §7).
type settingsWithPush struct {
	api.Settings
	Push *api.PushSettings `json:"push,omitempty"`
}

// withPush adds the push settings to st, when the node has them.
func (s *Server) withPush(ctx context.Context, st api.Settings) (settingsWithPush, error) {
	out := settingsWithPush{Settings: st}
	if p, ok := s.cfg.Backend.(Push); ok {
		ps, err := p.PushSettings(ctx)
		if err != nil {
			return out, err
		}
		out.Push = &ps
	}
	return out, nil
}

// pushSettingsPatch checks the "push" object of a PUT /v1/settings body and returns what
// applies it (nothing when absent), so a bad value changes no setting.
func (s *Server) pushSettingsPatch(raw json.RawMessage) (func(context.Context) error, error) {
	none := func(context.Context) error { return nil }
	var body struct {
		Push *api.PushSettings `json:"push"`
	}
	if err := decodeJSON(raw, &body); err != nil || body.Push == nil {
		return none, err
	}
	p, ok := s.cfg.Backend.(Push)
	if !ok {
		return none, api.Errorf(api.ErrNotImplemented, "push settings are not supported by this node")
	}
	if d := body.Push.DNDUntil; d != nil && *d <= 0 {
		return none, api.Errorf(api.ErrBadRequest, "push.dnd_until must be a positive Unix millisecond time or null")
	}
	return func(ctx context.Context) error {
		_, err := p.UpdatePushSettings(ctx, *body.Push)
		return err
	}, nil
}

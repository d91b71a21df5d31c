package localapi

import (
	"context"
	"encoding/json"
	"errors"
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
	// MuteConversation sets a conversation's muted_until (nil: not muted; the node shows
	// no notification for it until then) and returns the conversation as it then is. Every
	// Conversation object carries muted_until (api.Conversation).
	MuteConversation(ctx context.Context, convID string, until *int64) (api.Conversation, error)
}

const noPush = "push registrations are not supported by this node"

func (s *Server) pushBackend(w http.ResponseWriter) (Push, bool) {
	p, ok := s.cfg.Backend.(Push)
	if !ok {
		writeErrorCode(w, http.StatusNotImplemented, codeNotImplemented, noPush)
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

func getPushRegistrations(r *http.Request, p Push) (any, error) {
	regs, err := p.PushRegistrations(r.Context())
	return api.PushRegistrations{Registrations: regs}, err
}

func deletePushRegistration(r *http.Request, p Push) (any, error) {
	return nil, p.DeletePushRegistration(r.Context(), r.PathValue("id"))
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

// optionalMs is a JSON field that may be absent, null or a Unix millisecond time.
type optionalMs struct {
	set bool
	v   *int64
}

func (o *optionalMs) UnmarshalJSON(b []byte) error {
	o.set = true
	if string(b) == "null" {
		return nil
	}
	var v int64
	if err := json.Unmarshal(b, &v); err != nil || v <= 0 {
		return api.Errorf(api.ErrBadRequest, "muted_until must be a positive Unix millisecond time or null")
	}
	o.v = &v
	return nil
}

// mutePatch reads muted_until from a PATCH /v1/conversations/{id} body: nil when absent,
// else the mute to apply (its value nil to unmute).
func (s *Server) mutePatch(raw json.RawMessage) (*optionalMs, error) {
	var body struct {
		MutedUntil optionalMs `json:"muted_until"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		var apiErr *api.Error
		if errors.As(err, &apiErr) {
			return nil, err
		}
		return nil, nil // malformed JSON is reported by the main decode
	}
	if !body.MutedUntil.set {
		return nil, nil
	}
	if _, ok := s.cfg.Backend.(Push); !ok {
		return nil, api.Errorf(api.ErrNotImplemented, "muting is not supported by this node")
	}
	return &body.MutedUntil, nil
}

// applyMute applies mute (if not nil) to conversation c and returns c as it then is.
func (s *Server) applyMute(ctx context.Context, c api.Conversation, mute *optionalMs) (api.Conversation, error) {
	p, ok := s.cfg.Backend.(Push)
	if !ok || mute == nil {
		return c, nil
	}
	return p.MuteConversation(ctx, c.ID, mute.v)
}

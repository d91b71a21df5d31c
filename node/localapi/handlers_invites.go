package localapi

import (
	"bytes"
	"context"
	"net/http"
	"time"

	"github.com/petrel-chat/petrel/node/api"
)

// Invites is the node's expiring-invite part (docs/API.md, Invites). Without it,
// POST /v1/invites makes a link with the Backend's CreateInvite and the other invite
// routes answer 501.
type Invites interface {
	// CreateInviteFor makes an invite valid for ttl (0: the node's default).
	CreateInviteFor(ctx context.Context, ttl time.Duration) (api.Invite, error)
	// Invites lists the live invites, newest first.
	Invites(ctx context.Context) ([]api.Invite, error)
	// RevokeInvite revokes a live invite (not_found otherwise).
	RevokeInvite(ctx context.Context, id string) error
}

const noInvites = "this node's invites do not expire and cannot be listed or revoked"

// postInvite answers POST /v1/invites: an optional body {"expires_in_s":N}; no body (or
// an empty one) is the default lifetime.
func (s *Server) postInvite(w http.ResponseWriter, r *http.Request) {
	b, ok := s.cfg.Backend.(Invites)
	if !ok {
		inv, err := s.cfg.Backend.CreateInvite(r.Context())
		s.reply(w, r, http.StatusOK, inv, err)
		return
	}
	raw, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req api.InviteCreate
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := decodeJSON(raw, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	const maxS = int64(1) << 40 // far above any bound; keeps the Duration from overflowing
	if req.ExpiresInS < 0 || req.ExpiresInS > maxS {
		s.writeError(w, r, api.Errorf(api.ErrBadRequest, "expires_in_s must be a positive number of seconds (0 or absent: the default)"))
		return
	}
	inv, err := b.CreateInviteFor(r.Context(), time.Duration(req.ExpiresInS)*time.Second)
	s.reply(w, r, http.StatusOK, inv, err)
}

func getInvites(r *http.Request, b Invites) (any, error) {
	invs, err := b.Invites(r.Context())
	return api.InviteList{Invites: invs}, err
}

func deleteInvite(r *http.Request, b Invites) (any, error) {
	return nil, b.RevokeInvite(r.Context(), r.PathValue("id"))
}

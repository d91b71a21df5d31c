package api

// InviteCreate is the optional body of POST /v1/invites (extension).
type InviteCreate struct {
	// ExpiresInS is the invite's lifetime in seconds; absent or 0 is the node's default.
	ExpiresInS int64 `json:"expires_in_s,omitempty"`
}

// InviteList is GET /v1/invites (extension): the node's live invites, newest first.
type InviteList struct {
	Invites []Invite `json:"invites"`
}

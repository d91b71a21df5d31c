package localapi

import (
	"context"

	"github.com/petrel-chat/petrel/node/api"
)

// Disappear is the node's disappearing-messages part (API.md §9). A Backend that does not
// implement it answers a PATCH /v1/conversations/{id} with disappear_after_s with 501.
type Disappear interface {
	// SetDisappear sets a conversation's timer (0 off, else 5 s to 90 days: 400
	// otherwise; a group's non-admins get 403) and returns the conversation as it then is.
	SetDisappear(ctx context.Context, convID string, secs int64) (api.Conversation, error)
}

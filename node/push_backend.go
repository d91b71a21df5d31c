package node

import (
	"context"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localapi"
)

// The node serves the push part of the API (API.md §7) through node/push.
var _ localapi.Push = (*Node)(nil)

// CreatePushRegistration implements localapi.Push.
func (n *Node) CreatePushRegistration(ctx context.Context, req api.PushRegistrationRequest) (api.PushRegistration, bool, error) {
	return n.push.Create(ctx, req)
}

// PushRegistrations implements localapi.Push.
func (n *Node) PushRegistrations(ctx context.Context) ([]api.PushRegistration, error) {
	return n.push.List(ctx)
}

// DeletePushRegistration implements localapi.Push.
func (n *Node) DeletePushRegistration(ctx context.Context, id string) error {
	return n.push.Delete(ctx, id)
}

// PushSettings implements localapi.Push.
func (n *Node) PushSettings(ctx context.Context) (api.PushSettings, error) {
	d, err := n.push.DND()
	return api.PushSettings{DNDUntil: d}, err
}

// UpdatePushSettings implements localapi.Push.
func (n *Node) UpdatePushSettings(ctx context.Context, p api.PushSettings) (api.PushSettings, error) {
	if err := n.push.SetDND(ctx, p.DNDUntil); err != nil {
		return api.PushSettings{}, err
	}
	return n.PushSettings(ctx)
}

// ConversationMute implements localapi.Push.
func (n *Node) ConversationMute(ctx context.Context, convID string) (*int64, error) {
	return n.push.Mute(convID)
}

// MuteConversation implements localapi.Push: the conversation must exist.
func (n *Node) MuteConversation(ctx context.Context, convID string, until *int64) error {
	if _, err := n.Conversation(ctx, convID); err != nil {
		return err
	}
	return n.push.SetMute(ctx, convID, until)
}

package node

import (
	"context"

	"github.com/petrel-chat/petrel/node/api"
)

// The node serves the push part of the API (API.md §7) through node/push; apiBackend
// hands these methods to the local API.

// CreatePushRegistration is the push part of the API (localapi.Push).
func (n *Node) CreatePushRegistration(ctx context.Context, req api.PushRegistrationRequest) (api.PushRegistration, bool, error) {
	return n.push.Create(ctx, req)
}

// PushRegistrations is the push part of the API (localapi.Push).
func (n *Node) PushRegistrations(ctx context.Context) ([]api.PushRegistration, error) {
	return n.push.List(ctx)
}

// DeletePushRegistration is the push part of the API (localapi.Push).
func (n *Node) DeletePushRegistration(ctx context.Context, id string) error {
	return n.push.Delete(ctx, id)
}

// PushSettings is the push part of the API (localapi.Push).
func (n *Node) PushSettings(ctx context.Context) (api.PushSettings, error) {
	d, err := n.push.DND()
	return api.PushSettings{DNDUntil: d}, err
}

// UpdatePushSettings is the push part of the API (localapi.Push).
func (n *Node) UpdatePushSettings(ctx context.Context, p api.PushSettings) (api.PushSettings, error) {
	if err := n.push.SetDND(ctx, p.DNDUntil); err != nil {
		return api.PushSettings{}, err
	}
	return n.PushSettings(ctx)
}

// ConversationMute is the push part of the API (localapi.Push).
func (n *Node) ConversationMute(ctx context.Context, convID string) (*int64, error) {
	return n.push.Mute(convID)
}

// MuteConversation is the push part of the API (localapi.Push): the conversation must exist.
func (n *Node) MuteConversation(ctx context.Context, convID string, until *int64) error {
	if _, err := n.msg.Conversation(ctx, convID); err != nil {
		return err
	}
	return n.push.SetMute(ctx, convID, until)
}

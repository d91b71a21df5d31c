package node

import (
	"context"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/push"
	"github.com/petrel-chat/petrel/node/store"
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
	// To our other devices: the settings as they are, with the new time (node/devicesync).
	if _, err := n.msg.UpdateSettings(ctx, api.SettingsPatch{}); err != nil {
		return api.PushSettings{}, err
	}
	return n.PushSettings(ctx)
}

// MuteConversation is the push part of the API (localapi.Push): the conversation must
// exist; every UI gets a conversation event with the new muted_until.
func (n *Node) MuteConversation(ctx context.Context, convID string, until *int64) (api.Conversation, error) {
	return n.msg.ChangeConversation(ctx, convID, func(tx *store.Tx) error {
		if err := push.SetMuteIn(tx, convID, until); err != nil {
			return err
		}
		return n.msg.DeviceSync().SyncMute(tx, convID, until) // to our other devices
	})
}

package localclient

import (
	"context"
	"net/url"

	"github.com/petrel-chat/petrel/node/api"
)

// CreateGroup is POST /v1/conversations.
func (c *Client) CreateGroup(ctx context.Context, name string, members []string) (api.Conversation, error) {
	var out api.Conversation
	return out, c.Do(ctx, "POST", "/v1/conversations", api.GroupCreate{Type: api.ConversationGroup, Name: name, Members: members}, &out)
}

// ChangeMembers is POST /v1/conversations/{id}/members.
func (c *Client) ChangeMembers(ctx context.Context, id string, add, remove []string) (api.Conversation, error) {
	var out api.Conversation
	return out, c.Do(ctx, "POST", "/v1/conversations/"+url.PathEscape(id)+"/members", api.MembersChange{Add: add, Remove: remove}, &out)
}

// SetRole is POST /v1/conversations/{id}/members with role and users (extension).
func (c *Client) SetRole(ctx context.Context, id string, users []string, role string) (api.Conversation, error) {
	var out api.Conversation
	return out, c.Do(ctx, "POST", "/v1/conversations/"+url.PathEscape(id)+"/members", api.MembersChange{Users: users, Role: role}, &out)
}

// LeaveGroup is POST /v1/conversations/{id}/leave.
func (c *Client) LeaveGroup(ctx context.Context, id string) (api.Conversation, error) {
	var out api.Conversation
	return out, c.Do(ctx, "POST", "/v1/conversations/"+url.PathEscape(id)+"/leave", struct{}{}, &out)
}

// RenameGroup is PATCH /v1/conversations/{id} (extension).
func (c *Client) RenameGroup(ctx context.Context, id, name string) (api.Conversation, error) {
	var out api.Conversation
	return out, c.Do(ctx, "PATCH", "/v1/conversations/"+url.PathEscape(id), api.ConversationPatch{Name: &name}, &out)
}

// Settings is GET /v1/settings.
func (c *Client) Settings(ctx context.Context) (api.Settings, error) {
	var out api.Settings
	return out, c.Do(ctx, "GET", "/v1/settings", nil, &out)
}

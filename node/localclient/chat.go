package localclient

import (
	"context"
	"net/url"
	"strconv"

	"github.com/petrel-chat/petrel/node/api"
)

// CreateInvite is POST /v1/invites.
func (c *Client) CreateInvite(ctx context.Context) (api.Invite, error) {
	var out api.Invite
	return out, c.Do(ctx, "POST", "/v1/invites", struct{}{}, &out)
}

// AddContact is POST /v1/contacts.
func (c *Client) AddContact(ctx context.Context, link string) (api.Contact, error) {
	var out api.Contact
	return out, c.Do(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: link}, &out)
}

// Contacts is GET /v1/contacts.
func (c *Client) Contacts(ctx context.Context) ([]api.Contact, error) {
	var out api.ContactList
	return out.Contacts, c.Do(ctx, "GET", "/v1/contacts", nil, &out)
}

// UpdateContact is PATCH /v1/contacts/{id}.
func (c *Client) UpdateContact(ctx context.Context, id string, p api.ContactPatch) (api.Contact, error) {
	var out api.Contact
	return out, c.Do(ctx, "PATCH", "/v1/contacts/"+url.PathEscape(id), p, &out)
}

// Conversations is GET /v1/conversations.
func (c *Client) Conversations(ctx context.Context, cursor string, limit int) (api.ConversationPage, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out api.ConversationPage
	return out, c.Do(ctx, "GET", "/v1/conversations?"+q.Encode(), nil, &out)
}

// Conversation is GET /v1/conversations/{id}.
func (c *Client) Conversation(ctx context.Context, id string) (api.Conversation, error) {
	var out api.Conversation
	return out, c.Do(ctx, "GET", "/v1/conversations/"+url.PathEscape(id), nil, &out)
}

// Messages is GET /v1/conversations/{id}/messages.
func (c *Client) Messages(ctx context.Context, conv, before, after string, limit int) (api.MessagePage, error) {
	q := url.Values{}
	if before != "" {
		q.Set("before", before)
	}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out api.MessagePage
	return out, c.Do(ctx, "GET", "/v1/conversations/"+url.PathEscape(conv)+"/messages?"+q.Encode(), nil, &out)
}

// Send is POST /v1/conversations/{id}/messages.
func (c *Client) Send(ctx context.Context, conv, clientMsgID, body string) (api.Message, error) {
	var out api.Message
	return out, c.Do(ctx, "POST", "/v1/conversations/"+url.PathEscape(conv)+"/messages",
		api.SendRequest{ClientMsgID: clientMsgID, Body: body}, &out)
}

// MarkRead is POST /v1/conversations/{id}/read.
func (c *Client) MarkRead(ctx context.Context, conv, upTo string) error {
	return c.Do(ctx, "POST", "/v1/conversations/"+url.PathEscape(conv)+"/read", api.ReadRequest{UpTo: upTo}, nil)
}

// Edit is PATCH /v1/messages/{id}.
func (c *Client) Edit(ctx context.Context, id, body string) (api.Message, error) {
	var out api.Message
	return out, c.Do(ctx, "PATCH", "/v1/messages/"+url.PathEscape(id), api.EditRequest{Body: &body}, &out)
}

// Delete is DELETE /v1/messages/{id}?for=everyone|me.
func (c *Client) Delete(ctx context.Context, id string, forEveryone bool) (api.Message, error) {
	who := "me"
	if forEveryone {
		who = "everyone"
	}
	var out api.Message
	return out, c.Do(ctx, "DELETE", "/v1/messages/"+url.PathEscape(id)+"?for="+who, nil, &out)
}

// React is POST /v1/messages/{id}/reactions.
func (c *Client) React(ctx context.Context, id, emoji string, remove bool) (api.Message, error) {
	var out api.Message
	return out, c.Do(ctx, "POST", "/v1/messages/"+url.PathEscape(id)+"/reactions", api.ReactionRequest{Emoji: emoji, Remove: remove}, &out)
}

// Search is GET /v1/search.
func (c *Client) Search(ctx context.Context, q, conv string, limit int) ([]api.Message, error) {
	v := url.Values{"q": {q}}
	if conv != "" {
		v.Set("conversation_id", conv)
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var out api.SearchResult
	return out.Messages, c.Do(ctx, "GET", "/v1/search?"+v.Encode(), nil, &out)
}

// UpdateSettings is PUT /v1/settings.
func (c *Client) UpdateSettings(ctx context.Context, p api.SettingsPatch) (api.Settings, error) {
	var out api.Settings
	return out, c.Do(ctx, "PUT", "/v1/settings", p, &out)
}

// Message is GET /v1/messages/{id}.
func (c *Client) Message(ctx context.Context, id string) (api.Message, error) {
	var out api.Message
	return out, c.Do(ctx, "GET", "/v1/messages/"+url.PathEscape(id), nil, &out)
}

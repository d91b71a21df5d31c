package localclient

import (
	"context"

	"github.com/petrel-chat/petrel/node/api"
)

// CreatePushRegistration is POST /v1/push/registrations.
func (c *Client) CreatePushRegistration(ctx context.Context, req api.PushRegistrationRequest) (api.PushRegistration, error) {
	var r api.PushRegistration
	err := c.Do(ctx, "POST", "/v1/push/registrations", req, &r)
	return r, err
}

// PushRegistrations is GET /v1/push/registrations.
func (c *Client) PushRegistrations(ctx context.Context) ([]api.PushRegistration, error) {
	var r api.PushRegistrations
	err := c.Do(ctx, "GET", "/v1/push/registrations", nil, &r)
	return r.Registrations, err
}

// DeletePushRegistration is DELETE /v1/push/registrations/{id}.
func (c *Client) DeletePushRegistration(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/v1/push/registrations/"+id, nil, nil)
}

// SetDoNotDisturb is PUT /v1/settings {"push":{"dnd_until":until}} (nil: off).
func (c *Client) SetDoNotDisturb(ctx context.Context, until *int64) error {
	return c.Do(ctx, "PUT", "/v1/settings", map[string]any{"push": api.PushSettings{DNDUntil: until}}, nil)
}

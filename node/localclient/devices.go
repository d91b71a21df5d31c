package localclient

import (
	"context"
	"net/url"

	"github.com/petrel-chat/petrel/node/api"
)

// LinkDevice is POST /v1/devices/link: a single-use link for a new device.
func (c *Client) LinkDevice(ctx context.Context) (api.DeviceLink, error) {
	var l api.DeviceLink
	err := c.Do(ctx, "POST", "/v1/devices/link", nil, &l)
	return l, err
}

// Devices is GET /v1/devices.
func (c *Client) Devices(ctx context.Context) ([]api.Device, error) {
	var r api.DeviceList
	err := c.Do(ctx, "GET", "/v1/devices", nil, &r)
	return r.Devices, err
}

// RevokeDevice is DELETE /v1/devices/{id}.
func (c *Client) RevokeDevice(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", "/v1/devices/"+url.PathEscape(id), nil, nil)
}

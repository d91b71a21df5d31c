package localapi

import (
	"context"
	"net/http"

	"github.com/petrel-chat/petrel/node/api"
)

// Devices is the node's linked-devices part (docs/API.md §8; no route reads a body).
type Devices interface {
	LinkDevice(ctx context.Context) (api.DeviceLink, error)
	Devices(ctx context.Context) (api.DeviceList, error)
	RevokeDevice(ctx context.Context, id string) error
}

func postDeviceLink(r *http.Request, b Devices) (any, error) { return b.LinkDevice(r.Context()) }
func getDevices(r *http.Request, b Devices) (any, error)     { return b.Devices(r.Context()) }
func deleteDevice(r *http.Request, b Devices) (any, error) {
	return nil, b.RevokeDevice(r.Context(), r.PathValue("id"))
}

package messenger

import (
	"context"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/devicesync"
	"github.com/petrel-chat/petrel/node/wire"
)

// Linked devices (node/devicesync, docs/API.md §8): the account's devices, adding and
// revoking one (on the primary: the account key signs the list), whether this device was
// revoked, a contact's devices, and the account key a new device is provisioned with.
func (m *Messenger) Devices(ctx context.Context) ([]devicesync.DeviceInfo, error) {
	return m.dev.Devices(ctx)
}
func (m *Messenger) AddDevice(ctx context.Context, d wire.Device) (*wire.DeviceList, error) {
	return m.dev.AddDevice(ctx, d)
}
func (m *Messenger) RevokeDevice(ctx context.Context, id string) error {
	return m.dev.RevokeDevice(ctx, id)
}
func (m *Messenger) DeviceList(ctx context.Context) (*wire.DeviceList, []byte, error) {
	return m.dev.DeviceList(ctx)
}
func (m *Messenger) DeviceRevoked() bool { return m.dev.DeviceRevoked() }
func (m *Messenger) CurrentDevice(ctx context.Context) (api.CurrentDevice, error) {
	return m.dev.Current(ctx)
}

// WithRevocation is a context that ends with ctx or when this device is revoked: what
// runs for the account only while the device is active (the home relays' mailbox drain).
func (m *Messenger) WithRevocation(ctx context.Context) (context.Context, context.CancelFunc) {
	return m.dev.WithRevocation(ctx)
}
func (m *Messenger) AccountKey() *identity.PublicIdentity { return m.acct }
func (m *Messenger) ContactDevices(ctx context.Context, id string) ([]devicesync.DeviceInfo, error) {
	return m.dev.ContactDevices(ctx, id)
}

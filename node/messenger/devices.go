package messenger

import (
	"context"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/devicesync"
	"github.com/petrel-chat/petrel/node/store"
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

// Settings on every device of ours (node/devicesync, settings.go): what this device
// changes goes to the others, what they change is taken here, the last writer winning.

// syncSettings queues the settings as they are in tx for our other devices.
func (m *Messenger) syncSettings(tx *store.Tx, set api.Settings) error {
	var dnd *int64
	if m.cfg.DND != nil {
		var err error
		if dnd, err = m.cfg.DND(tx); err != nil {
			return err
		}
	}
	return m.dev.SyncSettings(tx, set, dnd)
}

// SyncSettings queues the settings as they now are for our other devices (after a change
// of the push do-not-disturb time, which node/push keeps).
func (m *Messenger) SyncSettings(ctx context.Context) error {
	return m.st.Update(ctx, func(tx *store.Tx) error {
		set, err := m.settings(tx)
		if err != nil {
			return err
		}
		return m.syncSettings(tx, set)
	})
}

// SyncMute queues conversation convID's mute (until, nil: none) for our other devices, in
// tx (the transaction that changed it).
func (m *Messenger) SyncMute(tx *store.Tx, convID string, until *int64) error {
	return m.dev.SyncMute(tx, convID, until)
}

// applySettings saves settings another device of ours changed.
func (m *Messenger) applySettings(tx *store.Tx, set api.Settings, dnd *int64) error {
	if err := store.PutJSON(tx, kSettings, set); err != nil {
		return err
	}
	hidden := set.Presence == api.PresenceNobody
	tx.OnCommit(func() { m.live.SetHidden(hidden) })
	if m.cfg.SetDND != nil {
		if err := m.cfg.SetDND(tx, dnd); err != nil {
			return err
		}
	}
	if m.cfg.PushChanged != nil {
		tx.OnCommit(m.cfg.PushChanged)
	}
	return nil
}

// applyMute saves a conversation's mute another device of ours changed.
func (m *Messenger) applyMute(tx *store.Tx, convID string, until *int64) error {
	if m.cfg.SetMute == nil {
		return nil
	}
	if err := m.cfg.SetMute(tx, convID, until); err != nil {
		return err
	}
	if m.cfg.PushChanged != nil {
		tx.OnCommit(m.cfg.PushChanged)
	}
	return nil
}

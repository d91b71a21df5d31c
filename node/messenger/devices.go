package messenger

import (
	"context"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// DeviceInfo is one active device of the account (GET /v1/devices, docs/API.md §8).
type DeviceInfo = devices.Info

// self is this node within its account (node/devices), as tx sees it.
func (m *Messenger) self(tx *store.Tx) (*devices.Self, error) {
	pid := ""
	if h := m.hostOrNil(); h != nil {
		pid = h.ID().String()
	}
	return devices.Load(tx, m.id, pid, m.cfg.Relays)
}

// Devices lists the account's active devices, this one marked current.
func (m *Messenger) Devices(ctx context.Context) ([]DeviceInfo, error) {
	var out []DeviceInfo
	err := m.st.View(func(tx *store.Tx) error {
		s, err := m.self(tx)
		if err != nil {
			return err
		}
		out = s.Infos()
		return nil
	})
	return out, err
}

// DeviceList returns the account's current list and its signed bytes (nil while the
// account has a single device).
func (m *Messenger) DeviceList(ctx context.Context) (*wire.DeviceList, []byte, error) {
	var l *wire.DeviceList
	var raw []byte
	err := m.st.View(func(tx *store.Tx) error {
		s, err := m.self(tx)
		if err == nil {
			l, raw = s.List, s.Raw
		}
		return err
	})
	return l, raw, err
}

// AddDevice adds device d to the account (on the primary only: the account key signs the
// list) and sends the new list to every contact and every other device of ours. It returns
// the new list; the device linking it (node/devicelink) hands the signed list to the new
// device (DeviceList).
func (m *Messenger) AddDevice(ctx context.Context, d wire.Device) (*wire.DeviceList, error) {
	h := m.hostOrNil()
	if h == nil {
		return nil, api.Errorf(api.ErrUnavailable, "the node is not running")
	}
	me := wire.Device{PeerID: h.ID().String(), Name: "primary", Relays: m.cfg.Relays[:min(len(m.cfg.Relays), wire.MaxAddrs)]}
	var l *wire.DeviceList
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		var raw []byte
		var err error
		if l, raw, err = devices.AddDevice(tx, m.id, me, d, m.nowMS()); err != nil {
			return err
		}
		return m.publishDevices(tx, raw)
	})
	return l, err
}

// RevokeDevice revokes device id (on the primary only; not the current device): the
// signed list without it goes to every contact and every device of ours, contacts stop
// encrypting to it, and the revoked node, once it gets the list, stops.
func (m *Messenger) RevokeDevice(ctx context.Context, id string) error {
	return m.st.Update(ctx, func(tx *store.Tx) error {
		s, err := m.self(tx)
		if err != nil {
			return err
		}
		if id == s.ID {
			return api.Errorf(api.ErrBadRequest, "the current device cannot revoke itself")
		}
		if !s.Primary {
			return api.Errorf(api.ErrForbidden, "only the account's primary device revokes devices")
		}
		_, raw, err := devices.Revoke(tx, m.id, id, m.nowMS())
		if err != nil {
			return err
		}
		return m.publishDevices(tx, raw)
	})
}

// DeviceRevoked reports whether the account's list revokes this device (GET /v1/me's
// device_revoked): such a node sends nothing and takes nothing new.
func (m *Messenger) DeviceRevoked() bool {
	revoked := false
	_ = m.st.View(func(tx *store.Tx) error {
		s, err := m.self(tx)
		if err == nil {
			revoked = s.Revoked()
		}
		return err
	})
	return revoked
}

// publishDevices queues raw, the account's new signed list, to every contact (blocked ones
// included: they must stop encrypting to a revoked device as well) and every other device
// of ours, in tx.
func (m *Messenger) publishDevices(tx *store.Tx, raw []byte) error {
	var ids []string
	err := contacts.List(tx, func(r *contacts.Record) (bool, error) {
		ids = append(ids, r.ID)
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		c, err := sessions.LoadContact(tx, id)
		if err != nil {
			return err
		}
		if err := m.enqueue(tx, c, &wire.Content{Kind: wire.KindDevices, Data: raw}, ""); err != nil {
			return err
		}
	}
	return nil
}

// loadAccount sets the account key and user id this device acts for (on a linked device,
// not its own key's).
func (m *Messenger) loadAccount(tx *store.Tx) error {
	s, err := devices.Load(tx, m.id, "", nil)
	if err != nil {
		return err
	}
	m.acct, m.uid = s.Account, s.UserID()
	return nil
}

// AccountKey is the account's public key (what a new device is provisioned with, beside
// the signed list: devices.Provision).
func (m *Messenger) AccountKey() *identity.PublicIdentity { return m.acct }

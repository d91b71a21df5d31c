package devicesync

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/inbox"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// A device's reachability in the list: a linked device learns its listen addresses only
// when it runs (petrel init --link links it before it listens), so at each start it tells
// the account's primary its addresses and home relays (a sync content, status device),
// and the primary, when they differ from the device's entry, signs them into the list and
// sends the new list to every contact and device: contacts then dial the device directly,
// not only through its relays. Only the device itself says where it is: the primary takes
// a device's reachability only from that device's own channel.

// listenAddrs are the host's addresses a contact can dial directly (no relay circuits),
// without /p2p/, at most wire.MaxAddrs.
func (s *Service) listenAddrs() []string {
	h := s.cfg.Host()
	if h == nil {
		return nil
	}
	var out []string
	for _, a := range h.Addrs() {
		str := a.String()
		if strings.Contains(str, "/p2p-circuit") || len(str) > wire.MaxAddrLen {
			continue
		}
		if len(out) < wire.MaxAddrs {
			out = append(out, str)
		}
	}
	return out
}

// AnnounceReach tells the account's primary, from a linked device, where this device is
// reached, unless its list entry says so already (node/messenger calls it once the host
// runs).
func (s *Service) AnnounceReach(ctx context.Context) error {
	addrs, relays := s.listenAddrs(), capped(s.cfg.Relays)
	if relays == nil {
		relays = []string{}
	}
	return s.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		me, err := s.Self(tx)
		if err != nil || me.Primary || me.Raw == nil || me.Revoked() {
			return err
		}
		d, _ := me.List.Find(me.ID)
		if slices.Equal(d.Addrs, addrs) && slices.Equal(d.Relays, relays) {
			return nil
		}
		data, err := json.Marshal(&wire.SyncedDevice{Addrs: addrs, Relays: relays})
		if err != nil {
			return err
		}
		pc, err := s.primaryChannel(tx, me)
		if err != nil || pc == nil {
			return err
		}
		return s.enqueue(tx, pc, &wire.Content{Kind: wire.KindSync, Status: wire.SyncDevice, With: s.uid, Data: data}, "")
	})
}

// applySyncedDevice, on the primary, takes what one of our devices (b's channel) says of
// its own reachability into its list entry and publishes the list when it changed.
func (s *Service) applySyncedDevice(b *inbox.Batch, data []byte) error {
	sd, err := wire.ParseSyncedDevice(data)
	if err != nil {
		s.cfg.Log.Info("malformed synced device", "err", err)
		return nil
	}
	tx := b.Tx()
	me, err := s.Self(tx)
	if err != nil || !me.Primary {
		return err
	}
	_, dev := devices.SplitChannel(b.Contact().Ch())
	l, raw, err := devices.SetReach(tx, s.cfg.Device, dev, sd.Addrs, sd.Relays, s.cfg.Now().UnixMilli())
	if err != nil || l == nil {
		if err != nil {
			s.cfg.Log.Info("device's reachability refused", "device", dev, "err", err)
		}
		return nil
	}
	return s.publishDevicesVia(tx, raw, b.Contact()) // the batch saves its channel
}

// primaryChannel loads the channel to the account's primary (nil on the primary).
func (s *Service) primaryChannel(tx *store.Tx, me *devices.Self) (*sessions.Contact, error) {
	if me.Primary {
		return nil, nil
	}
	return sessions.LoadContact(tx, devices.Channel(devices.Own, wire.DeviceID(me.Account), ""))
}

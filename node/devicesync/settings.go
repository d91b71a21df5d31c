package devicesync

import (
	"encoding/json"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Settings converge on every device of ours: a change (PUT /v1/settings: presence,
// read receipts, push do-not-disturb; a conversation's mute) goes to our other devices as
// the whole settings object (or the conversation's mute) with the change's hybrid
// logical clock, and a device takes it only when it is newer than the last change it
// holds (devices.TakeSettings, TakeMute): the last writer wins, whichever device wrote.

// Push is what the settings sync needs of the push part (node/push): DND and SetDND read
// and set the do-not-disturb time in tx, SetMute a conversation's mute, and Changed, once
// such a change committed, brings the relays in step. Any nil: that setting is not synced.
type Push struct {
	DND     func(tx *store.Tx) (*int64, error)
	SetDND  func(tx *store.Tx, until *int64) error
	SetMute func(tx *store.Tx, conv string, until *int64) error
	Changed func()
}

// SyncSettings queues the account's settings as they now are (set, and the push
// do-not-disturb time) for our own other devices, stamped now.
func (s *Service) SyncSettings(tx *store.Tx, set api.Settings) error {
	var dnd *int64
	if s.cfg.Push.DND != nil {
		var err error
		if dnd, err = s.cfg.Push.DND(tx); err != nil {
			return err
		}
	}
	ts := s.cfg.Clock.Now().String()
	if _, err := devices.TakeSettings(tx, ts); err != nil {
		return err
	}
	ss := wire.SyncedSettings{TS: ts, Presence: set.Presence, ReadReceipts: set.ReadReceipts}
	if dnd != nil {
		ss.DNDUntil = *dnd
	}
	return s.syncState(tx, wire.SyncSettings, &ss)
}

// SyncMute queues conversation conv's mute (until, nil: not muted) for our own other
// devices, stamped now.
func (s *Service) SyncMute(tx *store.Tx, conv string, until *int64) error {
	ts := s.cfg.Clock.Now().String()
	if _, err := devices.TakeMute(tx, conv, ts); err != nil {
		return err
	}
	sm := wire.SyncedMute{TS: ts, Conv: conv}
	if until != nil {
		sm.MutedUntil = *until
	}
	return s.syncState(tx, wire.SyncMute, &sm)
}

// syncState queues v as a sync content of status for our own other devices.
func (s *Service) syncState(tx *store.Tx, status string, v any) error {
	own, err := s.ownChannels(tx)
	if err != nil || len(own) == 0 {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	for _, oc := range own {
		if err := s.enqueue(tx, oc, &wire.Content{Kind: wire.KindSync, Status: status, With: s.uid, Data: data}, ""); err != nil {
			return err
		}
	}
	return nil
}

// applySyncedSettings takes the account's settings one of our devices changed, when the
// change is newer than the last one held.
func (s *Service) applySyncedSettings(tx *store.Tx, data []byte) error {
	ss, err := wire.ParseSyncedSettings(data)
	if err != nil {
		s.cfg.Log.Info("malformed synced settings", "err", err)
		return nil
	}
	if newer, err := devices.TakeSettings(tx, ss.TS); err != nil || !newer || s.cfg.PutSettings == nil {
		return err
	}
	if err := s.cfg.PutSettings(tx, api.Settings{Presence: ss.Presence, ReadReceipts: ss.ReadReceipts}); err != nil {
		return err
	}
	if s.cfg.Push.SetDND == nil {
		return nil
	}
	var dnd *int64
	if ss.DNDUntil > 0 {
		d := ss.DNDUntil
		dnd = &d
	}
	s.pushChanged(tx)
	return s.cfg.Push.SetDND(tx, dnd)
}

// pushChanged tells the push part once tx commits.
func (s *Service) pushChanged(tx *store.Tx) {
	if s.cfg.Push.Changed != nil {
		tx.OnCommit(s.cfg.Push.Changed)
	}
}

// applySyncedMute takes a conversation's mute one of our devices changed, when newer than
// the last change held; every UI gets the conversation.
func (s *Service) applySyncedMute(tx *store.Tx, data []byte) error {
	sm, err := wire.ParseSyncedMute(data)
	if err != nil {
		s.cfg.Log.Info("malformed synced mute", "err", err)
		return nil
	}
	if _, err := history.GetConversation(tx, sm.Conv); err != nil {
		return nil // not here (yet)
	}
	if newer, err := devices.TakeMute(tx, sm.Conv, sm.TS); err != nil || !newer || s.cfg.Push.SetMute == nil {
		return err
	}
	var until *int64
	if sm.MutedUntil > 0 {
		u := sm.MutedUntil
		until = &u
	}
	if err := s.cfg.Push.SetMute(tx, sm.Conv, until); err != nil {
		return err
	}
	s.pushChanged(tx)
	return s.cfg.EmitConv(tx, sm.Conv)
}

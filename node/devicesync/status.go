package devicesync

import (
	"encoding/json"
	"errors"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/receipts"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Receipts count a person once on every device of ours: a contact's device acknowledges
// our message to the device of ours that sent it (its channel), so that device tells our
// others (a sync content, status receipt: the ids, delivered or read, and when it got the
// receipt), and each raises its copy's status and notes the contact's receipt time, as if
// the receipt had come to it.

// SyncReceipt queues, for our own other devices, that contact uid acknowledged our
// messages ids with status (wire.ReceiptDelivered or wire.ReceiptRead) at at (Unix ms).
func (s *Service) SyncReceipt(tx *store.Tx, uid, status string, ids []string, at int64) error {
	if len(ids) == 0 {
		return nil
	}
	own, err := s.ownChannels(tx)
	if err != nil || len(own) == 0 {
		return err
	}
	data, err := json.Marshal(&wire.SyncedReceipt{Status: status, IDs: ids, At: at})
	if err != nil {
		return err
	}
	for _, oc := range own {
		if err := s.enqueue(tx, oc, &wire.Content{Kind: wire.KindSync, Status: wire.SyncReceipt, With: uid, Data: data}, ""); err != nil {
			return err
		}
	}
	return nil
}

// applySyncedReceipt raises the status of our messages to contact uid that one of our
// devices says uid acknowledged, and notes uid's receipt time.
func (s *Service) applySyncedReceipt(tx *store.Tx, uid string, data []byte) error {
	sr, err := wire.ParseSyncedReceipt(data)
	if err != nil {
		s.cfg.Log.Info("malformed synced receipt", "err", err)
		return nil
	}
	cid, err := contacts.ByUser(tx, uid)
	if err != nil || cid == "" {
		return err
	}
	r0, err := contacts.Get(tx, cid)
	if err != nil {
		return err
	}
	status, level := api.StatusDelivered, 1
	if sr.Status == wire.ReceiptRead {
		status, level = api.StatusRead, 2
	}
	for _, id := range sr.IDs {
		r, err := history.LoadItem(tx, s.cfg.Sealer, id)
		if errors.Is(err, api.ErrNotFound) {
			continue // not here (yet): its own sync copy is on the way
		} else if err != nil {
			return err
		}
		if r.M.SenderID != s.uid || r.M.ConversationID != r0.ConvID {
			continue
		}
		if err := s.cfg.SetStatus(tx, r, status); err != nil {
			return err
		}
		if _, _, err := receipts.Note(tx, id, uid, level, sr.At); err != nil {
			return err
		}
	}
	return nil
}

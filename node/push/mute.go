package push

import (
	"context"
	"encoding/binary"
	"errors"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// pfxMute keys a conversation's mute: "pm/" ‖ conversation id → until (8, Unix ms).
const pfxMute = "pm/"

// Mute returns a conversation's muted_until (nil: not muted).
func (s *Service) Mute(convID string) (*int64, error) {
	var out *int64
	err := s.cfg.Store.View(func(tx *store.Tx) error {
		v, err := tx.Get([]byte(pfxMute + convID))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(v) != 8 {
			return errors.New("push: mute record malformed")
		}
		ms := int64(binary.BigEndian.Uint64(v))
		out = &ms
		return nil
	})
	return out, err
}

// SetMute mutes a conversation until a Unix ms time, or unmutes it (nil). The caller has
// checked the conversation exists.
func (s *Service) SetMute(ctx context.Context, convID string, until *int64) error {
	if until != nil && *until <= 0 {
		return api.Errorf(api.ErrBadRequest, "muted_until must be a positive Unix millisecond time or null")
	}
	return s.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		if until == nil {
			return tx.Delete([]byte(pfxMute + convID))
		}
		return tx.Set([]byte(pfxMute+convID), binary.BigEndian.AppendUint64(nil, uint64(*until)))
	})
}

// ShouldNotify is the node's notification decision for a new message in a conversation at
// now (Unix ms): not while the conversation is muted.
func (s *Service) ShouldNotify(convID string, nowMs int64) (bool, error) {
	m, err := s.Mute(convID)
	if err != nil {
		return false, err
	}
	return m == nil || *m <= nowMs, nil
}

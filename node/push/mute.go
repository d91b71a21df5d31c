package push

import (
	"encoding/binary"
	"errors"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// pfxMute keys a conversation's mute: "pm/" ‖ conversation id → until (8, Unix ms).
const pfxMute = "pm/"

// MutedUntil reads a conversation's muted_until in tx (nil: not muted). node/messenger puts
// it on every Conversation object it builds.
func MutedUntil(tx *store.Tx, convID string) (*int64, error) {
	v, err := tx.Get([]byte(pfxMute + convID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(v) != 8 {
		return nil, errors.New("push: mute record malformed")
	}
	ms := int64(binary.BigEndian.Uint64(v))
	return &ms, nil
}

// SetMuteIn mutes a conversation until a Unix ms time, or unmutes it (nil), in tx. The
// caller has checked the conversation exists.
func SetMuteIn(tx *store.Tx, convID string, until *int64) error {
	if until != nil && *until <= 0 {
		return api.Errorf(api.ErrBadRequest, "muted_until must be a positive Unix millisecond time or null")
	}
	if until == nil {
		return tx.Delete([]byte(pfxMute + convID))
	}
	return tx.Set([]byte(pfxMute+convID), binary.BigEndian.AppendUint64(nil, uint64(*until)))
}

// Mute returns a conversation's muted_until (nil: not muted).
func (s *Service) Mute(convID string) (*int64, error) {
	var out *int64
	err := s.cfg.Store.View(func(tx *store.Tx) (err error) {
		out, err = MutedUntil(tx, convID)
		return err
	})
	return out, err
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

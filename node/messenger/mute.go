package messenger

import (
	"context"
	"fmt"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/store"
)

// withMute returns c with its muted_until (Config.MutedUntil): every Conversation object the
// messenger builds goes through here, so the list, one conversation, the answers and the
// conversation events all carry the same mute.
func (m *Messenger) withMute(tx *store.Tx, c api.Conversation) (api.Conversation, error) {
	if m.cfg.MutedUntil == nil {
		return c, nil
	}
	until, err := m.cfg.MutedUntil(tx, c.ID)
	if err != nil {
		return api.Conversation{}, fmt.Errorf("messenger: mute of %s: %w", c.ID, err)
	}
	c.MutedUntil = until
	return c, nil
}

// ChangeConversation runs change in one transaction with conversation id (404 when there is
// none) and returns the conversation as it then is, reporting it to every UI with a
// conversation event: what changes a conversation outside the messenger (its mute) is seen
// at once everywhere.
func (m *Messenger) ChangeConversation(ctx context.Context, id string, change func(tx *store.Tx) error) (api.Conversation, error) {
	var out api.Conversation
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		if _, err := history.GetConversation(tx, id); err != nil {
			return err
		}
		if err := change(tx); err != nil {
			return err
		}
		var err error
		if out, err = m.apiConv(tx, id); err != nil {
			return err
		}
		_, err = m.ev.Append(tx, api.KindConversation, out)
		return err
	})
	return out, err
}

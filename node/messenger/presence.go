package messenger

import (
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// Presence and typing live in node/presence; node/presencebook answers what it asks of
// contacts and groups (presence.Book) from the store.

// presenceHidden reports whether our setting is presence: nobody (presence.Config.Hidden).
func (m *Messenger) presenceHidden() bool {
	hidden := false
	_ = m.st.View(func(tx *store.Tx) error {
		s, err := m.settings(tx)
		hidden = err == nil && s.Presence == api.PresenceNobody
		return nil
	})
	return hidden
}

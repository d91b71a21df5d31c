package settings

import (
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// key is the store key of the settings.
var key = []byte("settings")

// Get reads the settings; a store that has none has the defaults (presence shown to
// contacts, read receipts sent).
func Get(tx *store.Tx) (api.Settings, error) {
	s := api.Settings{Presence: api.PresenceContacts, ReadReceipts: true}
	_, err := store.GetJSON(tx, key, &s)
	return s, err
}

// Apply changes the settings p gives and saves them: presence must be "contacts" or
// "nobody" (a bad request otherwise, and nothing changes).
func Apply(tx *store.Tx, p api.SettingsPatch) (api.Settings, error) {
	if p.Presence != nil && *p.Presence != api.PresenceContacts && *p.Presence != api.PresenceNobody {
		return api.Settings{}, api.Errorf(api.ErrBadRequest, `presence must be "contacts" or "nobody"`)
	}
	s, err := Get(tx)
	if err != nil {
		return api.Settings{}, err
	}
	if p.Presence != nil {
		s.Presence = *p.Presence
	}
	if p.ReadReceipts != nil {
		s.ReadReceipts = *p.ReadReceipts
	}
	return s, Put(tx, s)
}

// Put saves s as they are (a change made here, or one synced from another device).
func Put(tx *store.Tx, s api.Settings) error { return store.PutJSON(tx, key, s) }

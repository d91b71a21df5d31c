package messenger

import (
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// (The ct/ cu/ cp/ keys are node/contacts', cv/ ms/ mo/ mc/ node/history's, ob/ and sh/
// node/outbox's, rx/ node/inbox's.)

var (
	kClock    = []byte("hlc")
	kSettings = []byte("settings")
)

// getJSON, putJSON, getString, trimKey and newID are node/store's and node/api's record
// and id helpers under the names this package has always used.
func getJSON(tx *store.Tx, key []byte, v any) (bool, error) { return store.GetJSON(tx, key, v) }
func putJSON(tx *store.Tx, key []byte, v any) error         { return putRecord(tx, key, v) }
func getString(tx *store.Tx, key []byte) (string, error)    { return store.GetString(tx, key) }
func trimKey(k []byte) string                               { return store.KeyPrefix(k) }
func newID(prefix string) string                            { return api.NewID(prefix) }

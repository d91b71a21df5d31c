package messenger

import (
	"encoding/binary"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// outboxRec is one content waiting for the receiving node's acknowledgement.
type outboxRec struct {
	Seq     uint64 `json:"seq"`     // content seq
	Content []byte `json:"content"` // wire.Content JSON
	MsgID   string `json:"msg_id"`  // message whose status this drives, or ""
	Created int64  `json:"created"`
	// Set once, when encrypted: the same bytes are resent until acknowledged.
	EnvID   []byte `json:"env_id,omitempty"`
	Initial []byte `json:"initial,omitempty"`
	Cipher  []byte `json:"cipher,omitempty"`
	// Resets counts the new sessions this entry was encrypted again under because the
	// receiver could not decrypt it (bounded by maxSessionResets).
	Resets int `json:"resets,omitempty"`
}

// Key builders.
func kOutboxPrefix(cid string) []byte { return []byte("ob/" + cid + "/") }
func kOutbox(cid string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(kOutboxPrefix(cid), seq)
}
func kSentPrefix(cid string) []byte { return []byte("sh/" + cid + "/") }
func kSent(cid string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(kSentPrefix(cid), seq)
}
func kSeen(cid string, env []byte) []byte { return append([]byte("rx/"+cid+"/"), env...) }

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

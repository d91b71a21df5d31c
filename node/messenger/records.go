package messenger

import (
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// contactRec is a contact as stored.
type contactRec struct {
	ID       string   `json:"id"`
	UserID   string   `json:"user_id"`
	Identity []byte   `json:"identity"` // identity.PublicIdentity wire form
	PeerID   string   `json:"peer_id"`
	Addrs    []string `json:"addrs"`  // without /p2p/
	Relays   []string `json:"relays"` // full
	Name     string   `json:"name"`
	NameSet  bool     `json:"name_set"` // the user named the contact; cards do not rename it
	Verified bool     `json:"verified"`
	Blocked  bool     `json:"blocked"`
	Request  string   `json:"request"`
	Changed  bool     `json:"identity_changed"`
	ConvID   string   `json:"conversation_id"`
	Created  int64    `json:"created"`
	// GroupOnly: a fellow group member we never added; hidden from the contact list.
	GroupOnly bool `json:"group_only,omitempty"`
	// PeerProven: PeerID is proven to be this identity's: a message that decrypted under
	// this contact's session arrived over a libp2p stream authenticated as PeerID. Until
	// then PeerID is a claim (a link's, a card's): it routes, but no other identity on that
	// peer is ever taken for this contact's identity change. Absent in records written
	// before it existed: such a contact proves its peer again with its next direct message.
	PeerProven bool `json:"peer_proven,omitempty"`

	SendSeq  uint64   `json:"send_seq"`  // last content seq assigned
	OutSeq   uint64   `json:"out_seq"`   // last outbox key used
	RecvSeq  uint64   `json:"recv_seq"`  // highest contiguous content seq received
	Ahead    []uint64 `json:"ahead"`     // seqs received beyond a gap
	Initial  []byte   `json:"initial"`   // our PQXDH initial message, until they answer
	Answered bool     `json:"answered"`  // we have received content from them
	Seen     []byte   `json:"seen_init"` // hash of the last initial message we responded to
}

// convRec is a conversation as stored.
type convRec struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	ContactID string `json:"contact_id"`
	LastMsgID string `json:"last_msg_id"`
	Unread    int    `json:"unread"`
	UpdatedAt int64  `json:"updated_at"`
	ReadUpTo  string `json:"read_up_to"` // order of the last message read
}

// msgRec is a message as stored.
type msgRec struct {
	M         api.Message `json:"m"`
	ContactID string      `json:"contact_id"`
	Incoming  bool        `json:"incoming"`
	EditTS    string      `json:"edit_ts,omitempty"`  // timestamp of the edit applied
	ReactTS   reactions   `json:"react_ts,omitempty"` // user → emoji → timestamp of last change
}

// reactions records, per user and emoji, the timestamp and state of the last change so that
// reaction changes apply in order whatever order they arrive in.
type reactions map[string]map[string]reactState

type reactState struct {
	TS      string `json:"ts"`
	Present bool   `json:"on"`
}

// Key builders.
func kContact(id string) []byte          { return []byte("ct/" + id) }
func kContactByUser(uid string) []byte   { return []byte("cu/" + uid) }
func kContactByPeer(pid string) []byte   { return []byte("cp/" + pid) }
func kConv(id string) []byte             { return []byte("cv/" + id) }
func kMsg(id string) []byte              { return []byte("ms/" + id) }
func kOrderPrefix(conv string) []byte    { return []byte("mo/" + conv + "/") }
func kOrder(conv, order string) []byte   { return []byte("mo/" + conv + "/" + order) }
func kClient(conv, client string) []byte { return []byte("mc/" + conv + "/" + client) }

// (The ob/ and sh/ keys are node/outbox's, rx/ node/inbox's.)

var (
	kClock    = []byte("hlc")
	kSettings = []byte("settings")
)

// getJSON, putJSON, getString, trimKey and newID are node/store's and node/api's record
// and id helpers under the names this package has always used.
func getJSON(tx *store.Tx, key []byte, v any) (bool, error) { return store.GetJSON(tx, key, v) }
func putJSON(tx *store.Tx, key []byte, v any) error         { return store.PutJSON(tx, key, v) }
func getString(tx *store.Tx, key []byte) (string, error)    { return store.GetString(tx, key) }
func trimKey(k []byte) string                               { return store.KeyPrefix(k) }
func newID(prefix string) string                            { return api.NewID(prefix) }

package contacts

import (
	"encoding/json"
	"fmt"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// Version is the version of the contact record this code writes and reads.
const Version = 1

// Record is a contact as stored at Key(ID).
type Record struct {
	V        int      `json:"v"`
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
	// peer is ever taken for this contact's identity change.
	PeerProven bool `json:"peer_proven,omitempty"`
	// Invite is the hex id of the expiring invite link this contact was added by (empty
	// for a version 1 link or none): our first messages' card names it, so that their node
	// can refuse a request under an invite it revoked or that expired.
	Invite string `json:"invite,omitempty"`
}

// Key builders.
func Key(id string) []byte        { return []byte("ct/" + id) }
func KeyByUser(uid string) []byte { return []byte("cu/" + uid) }
func KeyByPeer(pid string) []byte { return []byte("cp/" + pid) }

// Prefix is the prefix of every contact record's key.
var Prefix = []byte("ct/")

// Get reads contact id: an api not_found error when there is none.
func Get(tx *store.Tx, id string) (*Record, error) {
	var r Record
	ok, err := store.GetJSON(tx, Key(id), &r)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, api.Errorf(api.ErrNotFound, "no contact %q", id)
	}
	if r.V != Version {
		return nil, fmt.Errorf("contacts: record of %s has version %d, not %d", id, r.V, Version)
	}
	return &r, nil
}

// ByUser returns the id of the contact of user uid, "" when there is none.
func ByUser(tx *store.Tx, uid string) (string, error) { return store.GetString(tx, KeyByUser(uid)) }

// ByPeer returns the id of the contact holding peer pid, "" when there is none.
func ByPeer(tx *store.Tx, pid string) (string, error) { return store.GetString(tx, KeyByPeer(pid)) }

// Put writes r (at Version). It does not touch the cu/ and cp/ indexes: Create, SetUser and
// SetPeer do.
func Put(tx *store.Tx, r *Record) error {
	r.V = Version
	return store.PutJSON(tx, Key(r.ID), r)
}

// Create writes a new contact r with its user and peer indexes. The caller made sure no
// contact has r's user id or holds its peer id.
func Create(tx *store.Tx, r *Record) error {
	if err := tx.Set(KeyByUser(r.UserID), []byte(r.ID)); err != nil {
		return err
	}
	if r.PeerID != "" {
		if err := tx.Set(KeyByPeer(r.PeerID), []byte(r.ID)); err != nil {
			return err
		}
	}
	return Put(tx, r)
}

// SetUser moves r to user id uid in r and the cu/ index. r is not saved.
func SetUser(tx *store.Tx, r *Record, uid string) error {
	if err := tx.Delete(KeyByUser(r.UserID)); err != nil {
		return err
	}
	r.UserID = uid
	return tx.Set(KeyByUser(uid), []byte(r.ID))
}

// SetPeer binds r to peer pid (proven or only claimed) in r and the cp/ index, releasing
// r's previous peer. r is not saved.
func SetPeer(tx *store.Tx, r *Record, pid string, proven bool) error {
	if r.PeerID != "" && r.PeerID != pid {
		if owner, err := ByPeer(tx, r.PeerID); err != nil {
			return err
		} else if owner == r.ID {
			if err := tx.Delete(KeyByPeer(r.PeerID)); err != nil {
				return err
			}
		}
	}
	r.PeerID, r.PeerProven = pid, proven && pid != ""
	if pid == "" {
		return nil
	}
	return tx.Set(KeyByPeer(pid), []byte(r.ID))
}

// List calls fn with every contact, in id order, until fn returns false.
func List(tx *store.Tx, fn func(r *Record) (bool, error)) error {
	return tx.Iterate(store.IterOptions{Prefix: Prefix}, func(k, v []byte) (bool, error) {
		var r Record
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("contacts: %s record: %w", store.KeyPrefix(k), err)
		}
		if r.V != Version {
			return false, fmt.Errorf("contacts: a record of version %d, not %d", r.V, Version)
		}
		return fn(&r)
	})
}

// ToAPI is r as the local API shows it, with its safety number and last-seen time (which
// the caller computes: they need our identity and the presence service).
func ToAPI(r *Record, safetyNumber string, lastSeen *int64) api.Contact {
	return api.Contact{
		ID: r.ID, UserID: r.UserID, Name: r.Name, Verified: r.Verified,
		SafetyNumber: safetyNumber, ConversationID: r.ConvID, Blocked: r.Blocked,
		Request: r.Request, IdentityChanged: r.Changed, LastSeen: lastSeen,
	}
}

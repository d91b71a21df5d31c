package sessions

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/store"
)

// Contact is a contact as delivery works with it within one transaction: its address-book
// record (ct/, node/contacts) and its Channel (sc/), loaded and saved together. On disk
// they stay two versioned records.
type Contact struct {
	contacts.Record
	Channel `json:"-"` // a Contact is never stored whole: SaveContact writes both records
}

// LoadContact reads contact id, address book and channel: an api not_found error when
// there is none.
func LoadContact(tx *store.Tx, id string) (*Contact, error) {
	r, err := contacts.Get(tx, id)
	if err != nil {
		return nil, err
	}
	ch, err := LoadChannel(tx, id)
	if err != nil {
		return nil, err
	}
	return &Contact{Record: *r, Channel: ch}, nil
}

// SaveContact writes c, address book and channel. It does not touch the cu/ and cp/
// indexes (contacts.Create, SetUser and SetPeer do).
func SaveContact(tx *store.Tx, c *Contact) error {
	if err := contacts.Put(tx, &c.Record); err != nil {
		return err
	}
	return SaveChannel(tx, c.ID, &c.Channel)
}

// AcceptedPeer reports whether pid is the peer of an accepted contact who is not blocked
// (PrekeyServer.IsContact).
func AcceptedPeer(tx *store.Tx, pid peer.ID) (bool, error) {
	cid, err := contacts.ByPeer(tx, pid.String())
	if err != nil || cid == "" {
		return false, err
	}
	r, err := contacts.Get(tx, cid)
	if err != nil {
		return false, err
	}
	return !r.Blocked && r.Request == api.RequestAccepted, nil
}

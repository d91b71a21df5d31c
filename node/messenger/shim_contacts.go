package messenger

import (
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// contactRec is a contact as the messenger's code handles it in memory: its address-book
// record (ct/, node/contacts) and its delivery counters (sc/, sessions.Channel), loaded by
// loadContact and saved by saveContact (or putJSON at kContact) together.
type contactRec struct {
	contacts.Record
	sessions.Channel `json:"-"` // in JSON (presence.go reads ct/ records), the record only
	// Chan is the channel of a remote device that is not the contact's primary (node/devices;
	// channels.go), empty for the primary's, whose channel is the contact's id. On such a
	// channel Identity, PeerID, Addrs and Relays are the device's, Account the account key,
	// and saving writes the channel's counters only.
	Chan    string       `json:"-"`
	Device  *wire.Device `json:"-"`
	Account []byte       `json:"-"`
}

func kContact(id string) []byte        { return contacts.Key(id) }
func kContactByUser(uid string) []byte { return contacts.KeyByUser(uid) }
func kContactByPeer(pid string) []byte { return contacts.KeyByPeer(pid) }

// loadContact reads contact id, address book and counters; id may name a device's channel
// (loadChannel, channels.go).
func loadContact(tx *store.Tx, id string) (*contactRec, error) {
	if owner, dev := devices.SplitChannel(id); dev != "" {
		return loadChannel(tx, id, owner, dev)
	}
	r, err := contacts.Get(tx, id)
	if err != nil {
		return nil, err
	}
	ch, err := sessions.LoadChannel(tx, id)
	if err != nil {
		return nil, err
	}
	return &contactRec{Record: *r, Channel: ch}, nil
}

// saveContact writes c, address book and counters (a device's channel: its counters).
func saveContact(tx *store.Tx, c *contactRec) error {
	if c.Chan != "" {
		return sessions.SaveChannel(tx, c.Chan, &c.Channel)
	}
	if err := contacts.Put(tx, &c.Record); err != nil {
		return err
	}
	return sessions.SaveChannel(tx, c.ID, &c.Channel)
}

// setPeer binds contact c to peer pid (contacts.SetPeer). c is not saved.
func (m *Messenger) setPeer(tx *store.Tx, c *contactRec, pid string, proven bool) error {
	return contacts.SetPeer(tx, &c.Record, pid, proven)
}

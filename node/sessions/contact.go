package sessions

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/wire"

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
	// Chan is the channel of a remote device that is not the contact's primary
	// (node/devices), empty for the primary's, whose channel is the contact's id. On such a
	// channel Identity, PeerID, Addrs and Relays are the device's (its key signs its
	// prekeys and sealed mail), Account is the account key, and SaveContact writes the
	// channel's counters only. Our own other devices are channels of owner devices.Own.
	Chan    string       `json:"-"`
	Device  *wire.Device `json:"-"`
	Account []byte       `json:"-"`
}

// Ch is c's channel id: the key of its sessions (ss/), counters (sc/), outbox (ob/, sh/)
// and envelope dedup (rx/).
func (c *Contact) Ch() string {
	if c.Chan != "" {
		return c.Chan
	}
	return c.ID
}

// Own reports whether c is a channel to one of our own devices.
func (c *Contact) Own() bool { return c.ID == devices.Own }

// AccountKey is the key of c's account (identity.PublicIdentity wire form).
func (c *Contact) AccountKey() []byte {
	if c.Account != nil {
		return c.Account
	}
	return c.Identity
}

// LoadContact reads contact id, address book and channel: an api not_found error when
// there is none. id may be a device's channel (loadDevice).
func LoadContact(tx *store.Tx, id string) (*Contact, error) {
	if owner, dev := devices.SplitChannel(id); dev != "" {
		return loadDevice(tx, id, owner, dev)
	}
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
	if c.Chan != "" {
		return SaveChannel(tx, c.Chan, &c.Channel)
	}
	// As contacts.Put, but an address book unchanged (most saves: a send, a received
	// batch, only move the channel's counters) is not written again.
	c.Record.V = contacts.Version
	if _, err := store.PutJSONIfChanged(tx, contacts.Key(c.ID), &c.Record); err != nil {
		return err
	}
	return SaveChannel(tx, c.ID, &c.Channel)
}

// AcceptedPeer reports whether pid is the peer of an accepted contact who is not blocked
// (PrekeyServer.IsContact).
func AcceptedPeer(tx *store.Tx, pid peer.ID) (bool, error) {
	cid, err := contacts.ByPeer(tx, pid.String())
	if err == nil && cid == "" {
		// A listed device of a contact's, or of ours (node/devices).
		var ch string
		if ch, err = devices.ChannelByPeer(tx, pid.String()); err == nil && ch != "" {
			if cid, _ = devices.SplitChannel(ch); cid == devices.Own {
				return true, nil
			}
		}
	}
	if err != nil || cid == "" {
		return false, err
	}
	r, err := contacts.Get(tx, cid)
	if err != nil {
		return false, err
	}
	return !r.Blocked && r.Request == api.RequestAccepted, nil
}

// loadDevice loads channel ch, the channel of device dev of owner (a contact id or
// devices.Own). A device no verified list holds active has no channel (not found), except
// a revoked device of ours, which is sent the list that revokes it.
func loadDevice(tx *store.Tx, ch, owner, dev string) (*Contact, error) {
	var r contacts.Record
	var d wire.Device
	if owner == devices.Own {
		acct, l, err := devices.OwnAccount(tx)
		if err != nil {
			return nil, err
		}
		var ok bool
		if l != nil {
			d, ok = l.Find(dev)
		}
		if !ok {
			return nil, api.Errorf(api.ErrNotFound, "no device %q of ours", dev)
		}
		r = contacts.Record{ID: devices.Own, UserID: l.Account, Identity: acct.Bytes(), Name: d.Name, Request: api.RequestAccepted}
	} else {
		cr, err := contacts.Get(tx, owner)
		if err != nil {
			return nil, err
		}
		acct, err := identity.ParsePublic(cr.Identity)
		if err != nil {
			return nil, err
		}
		var ok bool
		if d, ok, err = devices.ContactDevice(tx, owner, dev, acct); err != nil {
			return nil, err
		} else if !ok {
			return nil, api.Errorf(api.ErrNotFound, "no device %q of contact %s", dev, owner)
		}
		r = *cr
	}
	ch0, err := LoadChannel(tx, ch)
	if err != nil {
		return nil, err
	}
	c := &Contact{Record: r, Channel: ch0, Chan: ch, Device: &d, Account: r.Identity}
	c.Identity, c.PeerID, c.Addrs, c.Relays, c.PeerProven = d.Key, d.PeerID, d.Addrs, d.Relays, true
	return c, nil
}

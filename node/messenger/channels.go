package messenger

import (
	"errors"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Channels to remote devices (node/devices): a contact's primary device is the contact
// itself (channel id = contact id); each other active device of a contact's verified list
// and each other device of ours is a channel of its own, loaded as a contactRec whose
// Identity, peer and relays are the device's, so that sessions, outbox, dial, mailbox
// deposits and the inbox work per device unchanged.

// ch is the channel id of c: its sessions, counters, outbox and envelope dedup.
func (c *contactRec) ch() string {
	if c.Chan != "" {
		return c.Chan
	}
	return c.ID
}

// own reports whether c is a channel to one of our own devices.
func (c *contactRec) own() bool { return c.ID == devices.Own }

// accountKey is the key of c's account (the contact's identity; ours for own channels).
func (c *contactRec) accountKey() []byte {
	if c.Account != nil {
		return c.Account
	}
	return c.Identity
}

// loadChannel loads channel ch, the channel of device dev of owner (a contact id or
// devices.Own). A device no verified list holds active has no channel: not found.
func loadChannel(tx *store.Tx, ch, owner, dev string) (*contactRec, error) {
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
		// A revoked device of ours is still loaded: it is sent the list that revokes it
		// (RevokeDevice); nothing else goes to it (ownChannels lists active ones only).
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
	ch0, err := sessions.LoadChannel(tx, ch)
	if err != nil {
		return nil, err
	}
	c := &contactRec{Record: r, Channel: ch0, Chan: ch, Device: &d, Account: r.Identity}
	c.Identity, c.PeerID, c.Addrs, c.Relays, c.PeerProven = d.Key, d.PeerID, d.Addrs, d.Relays, true
	return c, nil
}

// channelsOf loads the channels of every active device of contact c (c itself for its
// primary), in its list's order.
func channelsOf(tx *store.Tx, c *contactRec) ([]*contactRec, error) {
	acct, err := identity.ParsePublic(c.accountKey())
	if err != nil {
		return nil, err
	}
	chs, err := devices.ContactChannels(tx, c.ID, acct, c.PeerID, c.Relays)
	if err != nil {
		return nil, err
	}
	out := make([]*contactRec, 0, len(chs))
	for _, x := range chs {
		if x.Primary {
			out = append(out, c)
			continue
		}
		dc, err := loadContact(tx, x.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, dc)
	}
	return out, nil
}

// ownChannels loads the channels of our own other active devices.
func (m *Messenger) ownChannels(tx *store.Tx) ([]*contactRec, error) {
	s, err := m.self(tx)
	if err != nil || s.Raw == nil {
		return nil, err
	}
	var out []*contactRec
	for _, x := range s.OwnChannels() {
		c, err := loadContact(tx, x.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// channelByPeer returns the channel of the listed device on peer pid, "" when none.
func (m *Messenger) channelByPeer(pid string) (string, error) {
	var ch string
	err := m.st.View(func(tx *store.Tx) error {
		var err error
		ch, err = devices.ChannelByPeer(tx, pid)
		return err
	})
	return ch, err
}

// sameKey reports whether key (identity wire form) is pub.
func sameKey(key []byte, pub *identity.PublicIdentity) bool {
	k, err := identity.ParsePublic(key)
	return err == nil && k.Equal(pub)
}

// listedDevice takes the signed device list a card carries (card.devices) when it verifies
// under the account key we hold — a contact's, or our own account's — and returns the
// channel of device key pub if that list (or the one we already held) lists it, "" when
// not: pub is then a stranger's.
func (m *Messenger) listedDevice(tx *store.Tx, card *wire.Card, pub *identity.PublicIdentity) (string, error) {
	if card == nil || len(card.Devices) == 0 {
		return "", nil
	}
	if err := m.takeList(tx, card.Devices); err != nil {
		return "", err
	}
	return devices.ChannelByKey(tx, string(pub.UserID()))
}

// takeList takes raw, a signed device list, for the account it names: ours (AcceptOwn) or
// a contact's (AcceptContact, under the key we hold for that contact). A list that does
// not verify, is older than the one held, or names an account we do not know changes
// nothing (and is no error: it is logged).
func (m *Messenger) takeList(tx *store.Tx, raw []byte) error {
	sl, err := wire.ParseDeviceList(raw)
	if err != nil {
		m.log.Info("malformed device list", "err", err)
		return nil
	}
	if sl.List.Account == m.uid {
		s, err := m.self(tx)
		if err != nil {
			return err
		}
		if _, changed, err := devices.AcceptOwn(tx, s, raw); err != nil {
			if !errors.Is(err, api.ErrForbidden) {
				return err
			}
			m.log.Info("own device list refused", "err", err)
		} else if changed && s.Revoked() {
			m.log.Warn("this device was revoked by the account's primary device")
		}
		return nil
	}
	cid, err := getString(tx, kContactByUser(sl.List.Account))
	if err != nil || cid == "" {
		return err
	}
	r, err := contacts.Get(tx, cid)
	if err != nil {
		return err
	}
	acct, err := identity.ParsePublic(r.Identity)
	if err != nil {
		return err
	}
	l, changed, err := devices.AcceptContact(tx, cid, acct, raw)
	if err != nil {
		if !errors.Is(err, api.ErrForbidden) {
			return err
		}
		m.log.Info("contact's device list refused", "contact", cid, "err", err)
		return nil
	}
	if !changed {
		return nil
	}
	// A revoked device gets nothing more: what waits for it is dropped with its sessions.
	for _, d := range l.Devices {
		if d.Revoked != 0 {
			if err := dropChannel(tx, devices.Channel(cid, d.ID, wire.DeviceID(acct))); err != nil {
				return err
			}
		}
	}
	return nil
}

// ownListRaw is our account's signed device list (nil while it has one device).
func ownListRaw(tx *store.Tx) ([]byte, error) { return devices.OwnRaw(tx) }

// dropChannel removes what waits in channel ch's outbox and its sessions.
func dropChannel(tx *store.Tx, ch string) error {
	var dead [][]byte
	err := tx.Iterate(store.IterOptions{Prefix: kOutboxPrefix(ch), KeysOnly: true}, func(k, _ []byte) (bool, error) {
		dead = append(dead, k)
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, k := range dead {
		if err := tx.Delete(k); err != nil {
			return err
		}
	}
	for i := range 2 {
		if err := sessions.Delete(tx, ch, i); err != nil {
			return err
		}
	}
	return nil
}

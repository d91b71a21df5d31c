package devices

import (
	"errors"
	"strings"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Channels. A pairwise channel (its sessions ss/, counters sc/, outbox ob/ sh/, envelope
// dedup rx/) is kept with each remote device. The channel of a contact's primary device —
// the one whose key is the account key, and the only one of every account without a list —
// is named by the contact's id alone, so the stores of single-device accounts keep their
// keys; any other device's channel is "<owner>~<device id>". Our own other devices are the
// channels of the owner Own.
const (
	// Own is the owner of the channels to our own other devices.
	Own = "self"
	sep = "~"
)

// Channel names the channel to device dev of owner (a contact id, or Own); primary is
// the owner's account key's device id.
func Channel(owner, dev, primary string) string {
	if dev == primary && owner != Own {
		return owner
	}
	return owner + sep + dev
}

// SplitChannel returns a channel's owner and device id ("" for a contact's primary).
func SplitChannel(ch string) (owner, dev string) {
	owner, dev, _ = strings.Cut(ch, sep)
	return owner, dev
}

// Index keys: the channel of a device's libp2p peer id and of its key's user id.
func keyByPeer(pid string) []byte { return []byte("dp/" + pid) }
func keyByKey(uid string) []byte  { return []byte("dk/" + uid) }

// ChannelByPeer returns the channel of the listed non-primary device on peer pid ("" none).
func ChannelByPeer(tx *store.Tx, pid string) (string, error) {
	return store.GetString(tx, keyByPeer(pid))
}

// ChannelByKey returns the channel of the listed non-primary device whose device key has
// user id uid ("" none): the initiator of a PQXDH session names its device key.
func ChannelByKey(tx *store.Tx, uid string) (string, error) {
	return store.GetString(tx, keyByKey(uid))
}

// index points dp/ and dk/ at owner's channels for the active non-primary devices of l,
// and removes the entries of the devices in old that l no longer lists as active.
func index(tx *store.Tx, owner string, old, l *wire.DeviceList, primary string, skip string) error {
	keep := map[string]bool{}
	if l != nil {
		for _, d := range l.Active() {
			if d.ID == primary && owner != Own || d.ID == skip {
				continue
			}
			ch := Channel(owner, d.ID, primary)
			key, err := identity.ParsePublic(d.Key)
			if err != nil {
				return err
			}
			for _, k := range [][]byte{keyByPeer(d.PeerID), keyByKey(string(key.UserID()))} {
				// A list names peers and keys its signer chose: it never takes over an
				// entry of another owner's device.
				if cur, err := store.GetString(tx, k); err != nil {
					return err
				} else if o, _ := SplitChannel(cur); cur != "" && o != owner {
					continue
				}
				keep[string(k)] = true
				if err := tx.Set(k, []byte(ch)); err != nil {
					return err
				}
			}
		}
	}
	if old == nil {
		return nil
	}
	for _, d := range old.Devices {
		key, err := identity.ParsePublic(d.Key)
		if err != nil {
			continue
		}
		for _, k := range [][]byte{keyByPeer(d.PeerID), keyByKey(string(key.UserID()))} {
			if keep[string(k)] {
				continue
			}
			if cur, err := store.GetString(tx, k); err != nil {
				return err
			} else if o, _ := SplitChannel(cur); o == owner {
				if err := tx.Delete(k); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
		}
	}
	return nil
}

// Chan is one remote device's channel.
type Chan struct {
	ID     string      // the channel id
	Device wire.Device // the device as its account's list has it
	// Primary: the device's key is its account's key (the channel of a contact's primary
	// is the contact's id).
	Primary bool
}

// ContactChannels are the channels of contact cid's active devices, in list order: its
// list (Contact) or, without one, its primary alone on peer pid with relays.
func ContactChannels(tx *store.Tx, cid string, account *identity.PublicIdentity, pid string, relays []string) ([]Chan, error) {
	l, err := Contact(tx, cid, account, pid, relays)
	if err != nil {
		return nil, err
	}
	primary := wire.DeviceID(account)
	var out []Chan
	for _, d := range l.Active() {
		if d.ID == primary {
			// The contact record's peer, addresses and relays are the primary's freshest.
			d.PeerID, d.Relays = pid, relays
		}
		out = append(out, Chan{ID: Channel(cid, d.ID, primary), Device: d, Primary: d.ID == primary})
	}
	return out, nil
}

// OwnChannels are the channels of our own other active devices.
func (s *Self) OwnChannels() []Chan {
	primary := wire.DeviceID(s.Account)
	var out []Chan
	for _, d := range s.Others() {
		out = append(out, Chan{ID: Channel(Own, d.ID, ""), Device: d, Primary: d.ID == primary})
	}
	return out
}

// ContactDevice returns the active device dev of contact cid's verified list (false when
// the list does not hold it active: a revoked device has no channel).
func ContactDevice(tx *store.Tx, cid, dev string, account *identity.PublicIdentity) (wire.Device, bool, error) {
	l, err := Contact(tx, cid, account, "", nil)
	if err != nil {
		return wire.Device{}, false, err
	}
	d, ok := l.Find(dev)
	return d, ok && d.Revoked == 0, nil
}

// OwnDevice returns our own active device dev (not this one).
func (s *Self) OwnDevice(dev string) (wire.Device, bool) {
	d, ok := s.List.Find(dev)
	return d, ok && d.Revoked == 0 && dev != s.ID
}

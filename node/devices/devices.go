package devices

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Errors of a device list that is not believed. Both wrap api.ErrForbidden.
var (
	// ErrForged: the list is not signed by the account key we hold, or is another account's.
	ErrForged = fmt.Errorf("%w: device list not signed by the account", api.ErrForbidden)
	// ErrStale: the list's Seq is not above the one we have (a replay of an older list, or
	// a different list under the same Seq).
	ErrStale = fmt.Errorf("%w: device list older than the one held", api.ErrForbidden)
)

var (
	keyAccount = []byte("dv/account")
	keyList    = []byte("dv/list")
)

// KeyContact is the key of contact id's verified list.
func KeyContact(id string) []byte { return []byte("dc/" + id) }

// Self is this node within its account.
type Self struct {
	// Account is the account's key: its user id is the user id on every device.
	Account *identity.PublicIdentity
	// Device is this device's key: the account identity itself on the primary.
	Device *identity.Identity
	// ID is this device's id (wire.DeviceID of Device).
	ID string
	// Primary: this device holds the account key (it alone signs the list).
	Primary bool
	// List is the account's current list: the signed one, or the implicit list of one
	// (Raw nil) while the account has a single device.
	List *wire.DeviceList
	Raw  []byte
}

// UserID is the account's user id.
func (s *Self) UserID() string { return string(s.Account.UserID()) }

// Revoked reports whether the account's list revokes this device.
func (s *Self) Revoked() bool {
	d, ok := s.List.Find(s.ID)
	return ok && d.Revoked != 0
}

// Current is this device as the local API shows it (GET /v1/me's device).
func (s *Self) Current() api.CurrentDevice {
	out := api.CurrentDevice{ID: s.ID, Primary: s.Primary}
	if d, ok := s.List.Find(s.ID); ok {
		out.Name = d.Name
		if d.Revoked != 0 {
			at := d.Revoked
			out.RevokedAt = &at
		}
	}
	return out
}

// Others are the account's other active devices (the ones a sync copy goes to).
func (s *Self) Others() []wire.Device {
	var out []wire.Device
	for _, d := range s.List.Active() {
		if d.ID != s.ID {
			out = append(out, d)
		}
	}
	return out
}

// OwnAccount returns the account key and its verified list as the store holds them, nil
// for both while the account has a single device (no list signed yet). It needs no key of
// this device: the channels to our own devices are loaded with it.
func OwnAccount(tx *store.Tx) (*identity.PublicIdentity, *wire.DeviceList, error) {
	b, err := tx.Get(keyAccount)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	acct, err := identity.ParsePublic(b)
	if err != nil {
		return nil, nil, fmt.Errorf("devices: account key: %w", err)
	}
	raw, err := tx.Get(keyList)
	if err != nil {
		return nil, nil, fmt.Errorf("devices: own list: %w", err)
	}
	sl, err := verify(raw, acct)
	if err != nil {
		return nil, nil, fmt.Errorf("devices: own list: %w", err)
	}
	return acct, sl.List, nil
}

// Implicit is the list of one of an account whose only device is its account key on peer
// pid (Seq 0: never signed, replaced by any signed list).
func Implicit(account *identity.PublicIdentity, pid string, relays []string) *wire.DeviceList {
	return &wire.DeviceList{Account: string(account.UserID()), Devices: []wire.Device{{
		ID: wire.DeviceID(account), Key: account.Bytes(), PeerID: pid, Relays: relays,
	}}}
}

// Load returns what this device is. device is the node's identity (cfg/identity); pid is
// its libp2p peer id and relays its home relays (used in the implicit list only).
func Load(tx *store.Tx, device *identity.Identity, pid string, relays []string) (*Self, error) {
	s := &Self{Account: device.Public(), Device: device, ID: wire.DeviceID(device.Public()), Primary: true}
	b, err := tx.Get(keyAccount)
	switch {
	case err == nil:
		if s.Account, err = identity.ParsePublic(b); err != nil {
			return nil, fmt.Errorf("devices: account key: %w", err)
		}
		s.Primary = s.Account.Equal(device.Public())
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	raw, err := tx.Get(keyList)
	if errors.Is(err, store.ErrNotFound) {
		if !s.Primary {
			return nil, errors.New("devices: a linked device without its account's list")
		}
		s.List = Implicit(s.Account, pid, relays)
		return s, nil
	} else if err != nil {
		return nil, err
	}
	sl, err := verify(raw, s.Account)
	if err != nil {
		return nil, fmt.Errorf("devices: own list: %w", err)
	}
	s.List, s.Raw = sl.List, raw
	return s, nil
}

func verify(raw []byte, account *identity.PublicIdentity) (*wire.SignedDeviceList, error) {
	sl, err := wire.ParseDeviceList(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrForged, err)
	}
	if !sl.Verify(account) {
		return nil, ErrForged
	}
	return sl, nil
}

// AddDevice appends d to the account's list and signs it (on the primary only). self is
// the primary's own entry, used when the account had no signed list yet. It returns the new
// list and its signed bytes, saved in tx.
func AddDevice(tx *store.Tx, account *identity.Identity, self, d wire.Device, now int64) (*wire.DeviceList, []byte, error) {
	cur, err := primaryList(tx, account, self, now)
	if err != nil {
		return nil, nil, err
	}
	key, err := identity.ParsePublic(d.Key)
	if err != nil {
		return nil, nil, api.Errorf(api.ErrBadRequest, "device key: %v", err)
	}
	if d.ID == "" {
		d.ID = wire.DeviceID(key)
	}
	if d.ID != wire.DeviceID(key) {
		return nil, nil, api.Errorf(api.ErrBadRequest, "device id %q is not its key's", d.ID)
	}
	if _, ok := cur.Find(d.ID); ok {
		return nil, nil, api.Errorf(api.ErrConflict, "device %s is listed already (a revoked device is never added back)", d.ID)
	}
	if _, ok := cur.FindPeer(d.PeerID); ok {
		return nil, nil, api.Errorf(api.ErrConflict, "peer %s is another device's", d.PeerID)
	}
	if len(cur.Devices) >= wire.MaxDevices {
		return nil, nil, api.Errorf(api.ErrConflict, "an account lists at most %d devices, revoked ones included", wire.MaxDevices)
	}
	if d.Added <= 0 {
		d.Added = now
	}
	d.Revoked = 0
	next := &wire.DeviceList{Account: cur.Account, Seq: cur.Seq + 1, Devices: append(append([]wire.Device{}, cur.Devices...), d)}
	return sign(tx, account, cur, next)
}

// Revoke marks device id revoked at now and signs the list (on the primary only). The
// primary itself cannot be revoked: its key is the account's.
func Revoke(tx *store.Tx, account *identity.Identity, id string, now int64) (*wire.DeviceList, []byte, error) {
	if id == wire.DeviceID(account.Public()) {
		return nil, nil, api.Errorf(api.ErrBadRequest, "the primary device holds the account key and cannot be revoked")
	}
	cur, err := primaryList(tx, account, wire.Device{}, now)
	if err != nil {
		return nil, nil, err
	}
	next := &wire.DeviceList{Account: cur.Account, Seq: cur.Seq + 1, Devices: append([]wire.Device{}, cur.Devices...)}
	found := false
	for i := range next.Devices {
		if next.Devices[i].ID == id && next.Devices[i].Revoked == 0 {
			next.Devices[i].Revoked, found = now, true
		}
	}
	if !found {
		return nil, nil, api.Errorf(api.ErrNotFound, "no active device %q", id)
	}
	return sign(tx, account, cur, next)
}

// SetReach puts addrs and relays (each at most wire.MaxAddrs) in active device id's entry
// and signs the list (on the primary only), the device having told them itself. It returns
// the new list and its signed bytes, saved in tx, or a nil list when the entry holds them
// already.
func SetReach(tx *store.Tx, account *identity.Identity, id string, addrs, relays []string, now int64) (*wire.DeviceList, []byte, error) {
	cur, err := primaryList(tx, account, wire.Device{}, now)
	if err != nil {
		return nil, nil, err
	}
	if cur.Seq == 0 {
		return nil, nil, api.Errorf(api.ErrNotFound, "no active device %q", id)
	}
	next := &wire.DeviceList{Account: cur.Account, Seq: cur.Seq + 1, Devices: append([]wire.Device{}, cur.Devices...)}
	i := slices.IndexFunc(next.Devices, func(d wire.Device) bool { return d.ID == id && d.Revoked == 0 })
	if i < 0 {
		return nil, nil, api.Errorf(api.ErrNotFound, "no active device %q", id)
	}
	d := &next.Devices[i]
	if slices.Equal(d.Addrs, addrs) && slices.Equal(d.Relays, relays) {
		return nil, nil, nil
	}
	d.Addrs, d.Relays = slices.Clone(addrs), slices.Clone(relays)
	return sign(tx, account, cur, next)
}

// primaryList is the primary's current list; self (with the account key) stands in for it
// when none is signed yet.
func primaryList(tx *store.Tx, account *identity.Identity, self wire.Device, now int64) (*wire.DeviceList, error) {
	if b, err := tx.Get(keyAccount); err == nil {
		if pub, err := identity.ParsePublic(b); err != nil || !pub.Equal(account.Public()) {
			return nil, api.Errorf(api.ErrForbidden, "only the account's primary device changes its device list")
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	raw, err := tx.Get(keyList)
	if errors.Is(err, store.ErrNotFound) {
		self.Key, self.ID, self.Revoked = account.Public().Bytes(), wire.DeviceID(account.Public()), 0
		if self.Added <= 0 {
			self.Added = now
		}
		return &wire.DeviceList{Account: string(account.UserID()), Devices: []wire.Device{self}}, nil
	} else if err != nil {
		return nil, err
	}
	sl, err := verify(raw, account.Public())
	if err != nil {
		return nil, fmt.Errorf("devices: own list: %w", err)
	}
	return sl.List, nil
}

func sign(tx *store.Tx, account *identity.Identity, old, l *wire.DeviceList) (*wire.DeviceList, []byte, error) {
	raw, err := wire.SignDeviceList(account, l)
	if err != nil {
		return nil, nil, api.Errorf(api.ErrBadRequest, "device list: %v", err)
	}
	if err := tx.Set(keyList, raw); err != nil {
		return nil, nil, err
	}
	if err := tx.Set(keyAccount, account.Public().Bytes()); err != nil {
		return nil, nil, err
	}
	return l, raw, index(tx, Own, old, l, "", wire.DeviceID(account.Public()))
}

// Provision makes a fresh store a linked device of account: device is the new node's own
// key (its cfg/identity), raw the account's signed list that lists it, active. It refuses a
// store that already belongs to an account with a list, a list the account did not sign,
// and a list without this device.
func Provision(tx *store.Tx, device *identity.Identity, account *identity.PublicIdentity, raw []byte) (*wire.DeviceList, error) {
	if account.Equal(device.Public()) {
		return nil, api.Errorf(api.ErrBadRequest, "a linked device has its own key, not the account's")
	}
	for _, k := range [][]byte{keyAccount, keyList} {
		if _, err := tx.Get(k); err == nil {
			return nil, api.Errorf(api.ErrConflict, "this node is a device of an account already")
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	sl, err := verify(raw, account)
	if err != nil {
		return nil, err
	}
	d, ok := sl.List.Find(wire.DeviceID(device.Public()))
	if !ok || d.Revoked != 0 {
		return nil, api.Errorf(api.ErrForbidden, "the account's list does not list this device as active")
	}
	if err := tx.Set(keyAccount, account.Bytes()); err != nil {
		return nil, err
	}
	if err := tx.Set(keyList, raw); err != nil {
		return nil, err
	}
	return sl.List, index(tx, Own, nil, sl.List, "", d.ID)
}

// AcceptOwn takes raw as the account's list when it verifies under the account key and
// its Seq is above the one held (on any device: the primary, too, takes back its own
// newer list, e.g. after a restore). It returns the list now held and whether it changed.
// The same list again is no change; an older one, or another list under the same Seq, is
// ErrStale.
func AcceptOwn(tx *store.Tx, self *Self, raw []byte) (*wire.DeviceList, bool, error) {
	sl, err := verify(raw, self.Account)
	if err != nil {
		return self.List, false, err
	}
	if err := newer(sl, self.List.Seq, self.Raw); err != nil {
		if errors.Is(err, errSame) {
			return self.List, false, nil
		}
		return self.List, false, err
	}
	if err := tx.Set(keyList, raw); err != nil {
		return nil, false, err
	}
	old := self.List
	self.List, self.Raw = sl.List, raw
	return sl.List, true, index(tx, Own, old, sl.List, "", self.ID)
}

var errSame = errors.New("devices: the list held")

func newer(sl *wire.SignedDeviceList, seq uint64, held []byte) error {
	switch {
	case sl.List.Seq == seq && bytes.Equal(sl.Raw, held):
		return errSame
	case sl.List.Seq <= seq:
		return fmt.Errorf("%w: seq %d, holding %d", ErrStale, sl.List.Seq, seq)
	}
	return nil
}

// Contact returns contact id's list: the verified one held, or the implicit list of one of
// its account key on peer pid with its relays.
func Contact(tx *store.Tx, id string, account *identity.PublicIdentity, pid string, relays []string) (*wire.DeviceList, error) {
	raw, err := tx.Get(KeyContact(id))
	if errors.Is(err, store.ErrNotFound) {
		return Implicit(account, pid, relays), nil
	} else if err != nil {
		return nil, err
	}
	sl, err := verify(raw, account)
	if err != nil {
		// The held list was verified under this key; a contact whose key changed starts
		// again from its implicit list until it sends a list under its new key.
		return Implicit(account, pid, relays), nil
	}
	return sl.List, nil
}

// AcceptContact takes raw as contact id's list when it verifies under account (the key we
// hold for that contact) and its Seq is above the one we have. It returns the list now
// held and whether it changed; a forged list is ErrForged, an older one ErrStale, and both
// leave the held list as it was.
func AcceptContact(tx *store.Tx, id string, account *identity.PublicIdentity, raw []byte) (*wire.DeviceList, bool, error) {
	sl, err := verify(raw, account)
	if err != nil {
		return nil, false, err
	}
	var seq uint64
	var old *wire.DeviceList
	held, err := tx.Get(KeyContact(id))
	switch {
	case err == nil:
		if cur, err := verify(held, account); err == nil {
			seq, old = cur.List.Seq, cur.List
		} else {
			held = nil
		}
	case errors.Is(err, store.ErrNotFound):
	default:
		return nil, false, err
	}
	if err := newer(sl, seq, held); err != nil {
		if errors.Is(err, errSame) {
			return sl.List, false, nil
		}
		return nil, false, err
	}
	if err := tx.Set(KeyContact(id), raw); err != nil {
		return nil, false, err
	}
	return sl.List, true, index(tx, id, old, sl.List, wire.DeviceID(account), "")
}

// OwnRaw returns the account's signed list as held (nil while it has a single device).
func OwnRaw(tx *store.Tx) ([]byte, error) {
	raw, err := tx.Get(keyList)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return raw, err
}

// ContactRaw returns contact id's signed list as held (nil when none).
func ContactRaw(tx *store.Tx, id string) ([]byte, error) {
	raw, err := tx.Get(KeyContact(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return raw, err
}

// DeleteContact forgets contact id's list and its devices' channel index.
func DeleteContact(tx *store.Tx, id string) error {
	raw, err := ContactRaw(tx, id)
	if err != nil || raw == nil {
		return err
	}
	if sl, err := wire.ParseDeviceList(raw); err == nil {
		if err := index(tx, id, sl.List, nil, "", ""); err != nil {
			return err
		}
	}
	return tx.Delete(KeyContact(id))
}

// Info is one active device of the account as the local API lists it (docs/API.md §8).
type Info struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Current  bool   `json:"current"`
	Primary  bool   `json:"primary"`
	LinkedAt int64  `json:"linked_at"`
	LastSeen *int64 `json:"last_seen"`
}

// Infos lists the account's active devices, in list order, this one marked current.
func (s *Self) Infos() []Info {
	primary := wire.DeviceID(s.Account)
	var out []Info
	for _, d := range s.List.Active() {
		out = append(out, Info{ID: d.ID, Name: d.Name, Current: d.ID == s.ID, Primary: d.ID == primary, LinkedAt: d.Added})
	}
	return out
}

package devices_test

import (
	"errors"
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
	"github.com/petrel-chat/petrel/node/wire"
)

func newID(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// device is a new device's entry, as the link protocol hands it to the primary.
func device(t *testing.T, key *identity.Identity, pid, name string) wire.Device {
	t.Helper()
	return wire.Device{ID: wire.DeviceID(key.Public()), Key: key.Public().Bytes(), PeerID: pid, Name: name}
}

func load(t *testing.T, st *store.Store, key *identity.Identity, pid string) *devices.Self {
	t.Helper()
	var s *devices.Self
	storetest.Update(t, st, func(tx *store.Tx) (err error) {
		s, err = devices.Load(tx, key, pid, nil)
		return err
	})
	return s
}

// TestSingleDeviceIsImplicit: a store that never linked a device is its account's one
// device: the account key is the device key, the list is the implicit list of one.
func TestSingleDeviceIsImplicit(t *testing.T) {
	st, acct := storetest.Open(t), newID(t)
	s := load(t, st, acct, "12D3KooWprimary")
	if !s.Primary || s.UserID() != string(acct.UserID()) || s.ID != wire.DeviceID(acct.Public()) || s.Raw != nil {
		t.Fatalf("self = %+v", s)
	}
	if act := s.List.Active(); len(act) != 1 || act[0].PeerID != "12D3KooWprimary" || s.Revoked() || len(s.Others()) != 0 {
		t.Fatalf("implicit list = %+v", s.List)
	}
}

// TestLinkSixDevices: the primary adds five devices (six in all, the least an account must
// hold), each new device is provisioned with the list, and every device loads the same
// account, user id and list; the ids and peers are unique.
func TestLinkSixDevices(t *testing.T) {
	acct := newID(t)
	pst := storetest.Open(t)
	self := wire.Device{PeerID: "12D3KooWprimary", Name: "desktop"}
	var raw []byte
	keys := []*identity.Identity{}
	for i := 0; i < 5; i++ {
		k := newID(t)
		keys = append(keys, k)
		storetest.Update(t, pst, func(tx *store.Tx) (err error) {
			var l *wire.DeviceList
			l, raw, err = devices.AddDevice(tx, acct, self, device(t, k, "12D3KooWdev"+string(rune('a'+i)), "phone"), 1000+int64(i))
			if err == nil && (l.Seq != uint64(i+1) || len(l.Active()) != i+2) {
				t.Errorf("after %d adds: seq %d, %d active", i+1, l.Seq, len(l.Active()))
			}
			return err
		})
	}
	ps := load(t, pst, acct, "12D3KooWprimary")
	if len(ps.List.Active()) != 6 || len(ps.Others()) != 5 || ps.List.Devices[0].Name != "desktop" || ps.List.Devices[0].Added != 1000 {
		t.Fatalf("primary's list = %+v", ps.List)
	}
	if infos := ps.Infos(); len(infos) != 6 || !infos[0].Current || !infos[0].Primary || infos[1].Current || infos[2].LinkedAt != 1001 {
		t.Fatalf("infos = %+v", infos)
	}
	for i, k := range keys {
		st := storetest.Open(t)
		storetest.Update(t, st, func(tx *store.Tx) error {
			_, err := devices.Provision(tx, k, acct.Public(), raw)
			return err
		})
		s := load(t, st, k, "ignored")
		if s.Primary || s.UserID() != string(acct.UserID()) || s.ID != wire.DeviceID(k.Public()) || s.List.Seq != 5 || len(s.Others()) != 5 {
			t.Fatalf("device %d: %+v", i, s)
		}
		// A linked device cannot change the list: it does not hold the account key.
		err := st.Update(t.Context(), func(tx *store.Tx) error {
			_, _, err := devices.AddDevice(tx, k, wire.Device{}, device(t, newID(t), "12D3KooWx", "x"), 1)
			return err
		})
		if !errors.Is(err, api.ErrForbidden) {
			t.Fatalf("a linked device added a device: %v", err)
		}
	}
}

// TestAddDeviceRefuses: a device whose id is not its key's, one listed already (by id or
// peer), and a seventeenth entry are refused, and the list is unchanged.
func TestAddDeviceRefuses(t *testing.T) {
	acct, st := newID(t), storetest.Open(t)
	self := wire.Device{PeerID: "12D3KooWprimary"}
	k := newID(t)
	add := func(d wire.Device) error {
		return st.Update(t.Context(), func(tx *store.Tx) error {
			_, _, err := devices.AddDevice(tx, acct, self, d, 5)
			return err
		})
	}
	if err := add(device(t, k, "12D3KooWa", "a")); err != nil {
		t.Fatal(err)
	}
	bad := device(t, newID(t), "12D3KooWb", "b")
	bad.ID = wire.DeviceID(k.Public())
	for name, d := range map[string]wire.Device{
		"id of another key": bad,
		"same device":       device(t, k, "12D3KooWc", "a"),
		"same peer":         device(t, newID(t), "12D3KooWa", "b"),
		"primary's peer":    device(t, newID(t), "12D3KooWprimary", "b"),
	} {
		if err := add(d); !errors.Is(err, api.ErrBadRequest) && !errors.Is(err, api.ErrConflict) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for i := 2; i < wire.MaxDevices; i++ {
		if err := add(device(t, newID(t), "12D3KooWn"+string(rune('a'+i)), "n")); err != nil {
			t.Fatal(i, err)
		}
	}
	if err := add(device(t, newID(t), "12D3KooWfull", "n")); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("entry %d: %v", wire.MaxDevices+1, err)
	}
	if s := load(t, st, acct, "12D3KooWprimary"); len(s.List.Devices) != wire.MaxDevices || s.List.Seq != wire.MaxDevices-1 {
		t.Fatalf("list = seq %d, %d devices", s.List.Seq, len(s.List.Devices))
	}
}

// TestRevoke: a revoked device stays listed as a tombstone, is no longer active, learns it
// is revoked from the newer list, and cannot be added back; the primary cannot be revoked.
func TestRevoke(t *testing.T) {
	acct, pst, dst := newID(t), storetest.Open(t), storetest.Open(t)
	k := newID(t)
	self := wire.Device{PeerID: "12D3KooWprimary"}
	var raw1, raw2 []byte
	storetest.Update(t, pst, func(tx *store.Tx) (err error) {
		_, raw1, err = devices.AddDevice(tx, acct, self, device(t, k, "12D3KooWphone", "phone"), 1)
		return err
	})
	storetest.Update(t, dst, func(tx *store.Tx) error {
		_, err := devices.Provision(tx, k, acct.Public(), raw1)
		return err
	})
	id := wire.DeviceID(k.Public())
	storetest.Update(t, pst, func(tx *store.Tx) (err error) {
		var l *wire.DeviceList
		l, raw2, err = devices.Revoke(tx, acct, id, 7)
		if err == nil && (len(l.Active()) != 1 || len(l.Devices) != 2 || l.Devices[1].Revoked != 7) {
			t.Errorf("revoked list = %+v", l)
		}
		return err
	})
	for name, rid := range map[string]string{"primary": wire.DeviceID(acct.Public()), "again": id, "unknown": "d00"} {
		err := pst.Update(t.Context(), func(tx *store.Tx) error { _, _, err := devices.Revoke(tx, acct, rid, 8); return err })
		if err == nil {
			t.Errorf("revoke %s: accepted", name)
		}
	}
	err := pst.Update(t.Context(), func(tx *store.Tx) error {
		_, _, err := devices.AddDevice(tx, acct, self, device(t, k, "12D3KooWphone2", "phone"), 9)
		return err
	})
	if !errors.Is(err, api.ErrConflict) {
		t.Fatalf("a revoked device was added back: %v", err)
	}
	s := load(t, dst, k, "")
	if s.Revoked() {
		t.Fatal("revoked before seeing the list")
	}
	storetest.Update(t, dst, func(tx *store.Tx) error {
		_, changed, err := devices.AcceptOwn(tx, s, raw2)
		if err == nil && !changed {
			t.Error("the newer list is no change")
		}
		return err
	})
	if s = load(t, dst, k, ""); !s.Revoked() || len(s.Others()) != 1 {
		t.Fatalf("the revoked device does not know: %+v", s.List)
	}
}

// TestAttackOwnList: a linked device refuses, as its account's list, one signed by another
// key and a replay of an older one; Provision refuses a forged list and one that does not
// list the device.
func TestAttackOwnList(t *testing.T) {
	acct, mallory, k := newID(t), newID(t), newID(t)
	pst, dst := storetest.Open(t), storetest.Open(t)
	self := wire.Device{PeerID: "12D3KooWprimary"}
	var raw1, raw2 []byte
	storetest.Update(t, pst, func(tx *store.Tx) (err error) {
		if _, raw1, err = devices.AddDevice(tx, acct, self, device(t, k, "12D3KooWphone", "phone"), 1); err != nil {
			return err
		}
		_, raw2, err = devices.AddDevice(tx, acct, self, device(t, newID(t), "12D3KooWtab", "tablet"), 2)
		return err
	})
	// Mallory's list: her account with alice's devices' keys.
	forged := &wire.DeviceList{Account: string(mallory.UserID()), Seq: 99, Devices: []wire.Device{
		{ID: wire.DeviceID(mallory.Public()), Key: mallory.Public().Bytes(), PeerID: "12D3KooWm", Added: 1},
		device(t, k, "12D3KooWphone", "phone"),
	}}
	forged.Devices[1].Added = 1
	fraw, err := wire.SignDeviceList(mallory, forged)
	if err != nil {
		t.Fatal(err)
	}
	provision := func(key *identity.Identity, raw []byte) error {
		return storetest.Open(t).Update(t.Context(), func(tx *store.Tx) error {
			_, err := devices.Provision(tx, key, acct.Public(), raw)
			return err
		})
	}
	if err := provision(k, fraw); !errors.Is(err, devices.ErrForged) {
		t.Fatalf("provisioned from a forged list: %v", err)
	}
	if err := provision(newID(t), raw2); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("provisioned a device the list does not name: %v", err)
	}
	storetest.Update(t, dst, func(tx *store.Tx) error { _, err := devices.Provision(tx, k, acct.Public(), raw2); return err })
	s := load(t, dst, k, "")
	for name, c := range map[string]struct {
		raw  []byte
		want error
	}{"forged": {fraw, devices.ErrForged}, "replayed": {raw1, devices.ErrStale}, "garbage": {[]byte{1, 2, 3}, devices.ErrForged}} {
		err := dst.Update(t.Context(), func(tx *store.Tx) error { _, _, err := devices.AcceptOwn(tx, s, c.raw); return err })
		if !errors.Is(err, c.want) {
			t.Errorf("%s list: %v, want %v", name, err, c.want)
		}
	}
	if s = load(t, dst, k, ""); s.List.Seq != 2 || len(s.List.Active()) != 3 {
		t.Fatalf("the held list changed: %+v", s.List)
	}
	err = dst.Update(t.Context(), func(tx *store.Tx) error { _, err := devices.Provision(tx, k, acct.Public(), raw2); return err })
	if !errors.Is(err, api.ErrConflict) {
		t.Fatalf("provisioned twice: %v", err)
	}
}

// TestAttackContactList: bob keeps alice's highest-Seq list that verifies under the key he
// holds for her: a list signed by another key (even naming alice's account), a replayed
// older list and a different list under the same Seq are refused and change nothing.
func TestAttackContactList(t *testing.T) {
	acct, mallory := newID(t), newID(t)
	pst, bst := storetest.Open(t), storetest.Open(t)
	self := wire.Device{PeerID: "12D3KooWalice"}
	var raws [][]byte
	for i := 0; i < 3; i++ {
		storetest.Update(t, pst, func(tx *store.Tx) error {
			_, raw, err := devices.AddDevice(tx, acct, self, device(t, newID(t), "12D3KooWa"+string(rune('a'+i)), "d"), int64(i+1))
			raws = append(raws, raw)
			return err
		})
	}
	contact := func(raw []byte) error {
		return bst.Update(t.Context(), func(tx *store.Tx) error {
			_, _, err := devices.AcceptContact(tx, "c1", acct.Public(), raw)
			return err
		})
	}
	held := func() *wire.DeviceList {
		var l *wire.DeviceList
		storetest.Update(t, bst, func(tx *store.Tx) (err error) {
			l, err = devices.Contact(tx, "c1", acct.Public(), "12D3KooWalice", nil)
			return err
		})
		return l
	}
	if l := held(); l.Seq != 0 || len(l.Active()) != 1 || l.Active()[0].PeerID != "12D3KooWalice" {
		t.Fatalf("no list yet: %+v", l)
	}
	if err := contact(raws[1]); err != nil {
		t.Fatal(err)
	}
	// Mallory signs a list in alice's name with her key: SignDeviceList itself refuses, so
	// she re-signs alice's body under her own account and then claims alice's account.
	forged := &wire.DeviceList{Account: string(mallory.UserID()), Seq: 50, Devices: []wire.Device{
		{ID: wire.DeviceID(mallory.Public()), Key: mallory.Public().Bytes(), PeerID: "12D3KooWalice", Added: 1}}}
	fraw, err := wire.SignDeviceList(mallory, forged)
	if err != nil {
		t.Fatal(err)
	}
	same := &wire.DeviceList{Account: string(acct.UserID()), Seq: 2, Devices: []wire.Device{
		{ID: wire.DeviceID(acct.Public()), Key: acct.Public().Bytes(), PeerID: "12D3KooWalice", Added: 1}}}
	sraw, err := wire.SignDeviceList(acct, same)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		raw  []byte
		want error
	}{"other key": {fraw, devices.ErrForged}, "replayed": {raws[0], devices.ErrStale}, "same seq": {sraw, devices.ErrStale}} {
		if err := contact(c.raw); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if l := held(); l.Seq != 2 || len(l.Active()) != 3 {
		t.Fatalf("held list = %+v", l)
	}
	if err := contact(raws[1]); err != nil {
		t.Fatalf("the held list again: %v", err)
	}
	if err := contact(raws[2]); err != nil || held().Seq != 3 {
		t.Fatalf("newer list: %v", err)
	}
}

// TestChannels: the devices of a contact's list get channels by peer and by key (its
// primary keeps the contact's id as its channel), a revoked device loses them, our own
// other devices are self channels, and a contact's list cannot take over a peer another
// contact's device holds.
func TestChannels(t *testing.T) {
	alice, carol := newID(t), newID(t)
	ast, bst, cst := storetest.Open(t), storetest.Open(t), storetest.Open(t)
	phone, tablet := newID(t), newID(t)
	var raw1, raw2 []byte
	storetest.Update(t, ast, func(tx *store.Tx) (err error) {
		self := wire.Device{PeerID: "12D3KooWalice"}
		if _, _, err = devices.AddDevice(tx, alice, self, device(t, phone, "12D3KooWphone", "phone"), 1); err != nil {
			return err
		}
		if _, raw1, err = devices.AddDevice(tx, alice, self, device(t, tablet, "12D3KooWtablet", "tablet"), 2); err != nil {
			return err
		}
		// alice's own index: her other devices are self channels.
		if ch, err := devices.ChannelByPeer(tx, "12D3KooWphone"); err != nil || ch != devices.Channel(devices.Own, wire.DeviceID(phone.Public()), "") {
			t.Errorf("own phone's channel = %q, %v", ch, err)
		}
		if ch, _ := devices.ChannelByPeer(tx, "12D3KooWalice"); ch != "" {
			t.Errorf("the primary indexes itself: %q", ch)
		}
		_, raw2, err = devices.Revoke(tx, alice, wire.DeviceID(phone.Public()), 3)
		return err
	})
	// The phone, provisioned from raw1, indexes alice's primary and tablet as self channels.
	storetest.Update(t, cst, func(tx *store.Tx) error {
		if _, err := devices.Provision(tx, phone, alice.Public(), raw1); err != nil {
			return err
		}
		ch, err := devices.ChannelByKey(tx, string(alice.UserID()))
		if want := devices.Channel(devices.Own, wire.DeviceID(alice.Public()), ""); err != nil || ch != want {
			t.Errorf("the phone's channel to the primary = %q, want %q (%v)", ch, want, err)
		}
		return nil
	})
	storetest.Update(t, bst, func(tx *store.Tx) error {
		// carol, another contact of bob, already holds 12D3KooWevil as a device.
		evil := newID(t)
		cl := &wire.DeviceList{Account: string(carol.UserID()), Seq: 1, Devices: []wire.Device{
			{ID: wire.DeviceID(carol.Public()), Key: carol.Public().Bytes(), PeerID: "12D3KooWcarol", Added: 1},
			{ID: wire.DeviceID(evil.Public()), Key: evil.Public().Bytes(), PeerID: "12D3KooWevil", Added: 1},
		}}
		craw, err := wire.SignDeviceList(carol, cl)
		if err != nil {
			return err
		}
		if _, _, err := devices.AcceptContact(tx, "carol", carol.Public(), craw); err != nil {
			return err
		}
		if _, _, err := devices.AcceptContact(tx, "alice", alice.Public(), raw1); err != nil {
			return err
		}
		pch, _ := devices.ChannelByPeer(tx, "12D3KooWphone")
		kch, _ := devices.ChannelByKey(tx, string(phone.UserID()))
		if want := "alice~" + wire.DeviceID(phone.Public()); pch != want || kch != want {
			t.Errorf("phone's channel = %q / %q, want %q", pch, kch, want)
		}
		if owner, dev := devices.SplitChannel(pch); owner != "alice" || dev != wire.DeviceID(phone.Public()) {
			t.Errorf("split %q = %q %q", pch, owner, dev)
		}
		if devices.Channel("alice", wire.DeviceID(alice.Public()), wire.DeviceID(alice.Public())) != "alice" {
			t.Error("a contact's primary channel is not its contact id")
		}
		if _, _, err := devices.AcceptContact(tx, "alice", alice.Public(), raw2); err != nil {
			return err
		}
		if ch, _ := devices.ChannelByPeer(tx, "12D3KooWphone"); ch != "" {
			t.Errorf("the revoked phone still has a channel: %q", ch)
		}
		if ch, _ := devices.ChannelByPeer(tx, "12D3KooWtablet"); ch != "alice~"+wire.DeviceID(tablet.Public()) {
			t.Errorf("tablet's channel = %q", ch)
		}
		// alice signs a list naming carol's device's peer as her own: it keeps carol's.
		al := &wire.DeviceList{Account: string(alice.UserID()), Seq: 9, Devices: []wire.Device{
			{ID: wire.DeviceID(alice.Public()), Key: alice.Public().Bytes(), PeerID: "12D3KooWalice", Added: 1},
			{ID: wire.DeviceID(newID(t).Public()), PeerID: "12D3KooWevil", Added: 1},
		}}
		k := newID(t)
		al.Devices[1].ID, al.Devices[1].Key = wire.DeviceID(k.Public()), k.Public().Bytes()
		araw, err := wire.SignDeviceList(alice, al)
		if err != nil {
			return err
		}
		if _, _, err := devices.AcceptContact(tx, "alice", alice.Public(), araw); err != nil {
			return err
		}
		if ch, _ := devices.ChannelByPeer(tx, "12D3KooWevil"); ch != "carol~"+wire.DeviceID(evil.Public()) {
			t.Errorf("alice's list took over carol's device's peer: %q", ch)
		}
		if err := devices.DeleteContact(tx, "carol"); err != nil {
			return err
		}
		if ch, _ := devices.ChannelByPeer(tx, "12D3KooWevil"); ch != "" {
			t.Errorf("a deleted contact's device keeps its channel: %q", ch)
		}
		return nil
	})
}

// TestContactChannels: a contact without a list is one channel under its contact id; with
// a list, every active device has its channel (the primary's with the record's peer), a
// revoked one none; our own other devices are self channels.
func TestContactChannels(t *testing.T) {
	alice, phone := newID(t), newID(t)
	ast, bst := storetest.Open(t), storetest.Open(t)
	var raw []byte
	storetest.Update(t, ast, func(tx *store.Tx) (err error) {
		_, raw, err = devices.AddDevice(tx, alice, wire.Device{PeerID: "12D3KooWold"}, device(t, phone, "12D3KooWphone", "phone"), 1)
		return err
	})
	storetest.Update(t, bst, func(tx *store.Tx) error {
		chs, err := devices.ContactChannels(tx, "c1", alice.Public(), "12D3KooWalice", []string{"/r"})
		if err != nil || len(chs) != 1 || chs[0].ID != "c1" || !chs[0].Primary || chs[0].Device.PeerID != "12D3KooWalice" {
			t.Errorf("no list: %+v %v", chs, err)
		}
		if _, _, err := devices.AcceptContact(tx, "c1", alice.Public(), raw); err != nil {
			return err
		}
		chs, err = devices.ContactChannels(tx, "c1", alice.Public(), "12D3KooWalice", []string{"/r"})
		pid := wire.DeviceID(phone.Public())
		if err != nil || len(chs) != 2 || chs[0].ID != "c1" || chs[0].Device.PeerID != "12D3KooWalice" ||
			chs[1].ID != "c1~"+pid || chs[1].Primary || chs[1].Device.PeerID != "12D3KooWphone" {
			t.Errorf("with a list: %+v %v", chs, err)
		}
		if d, ok, err := devices.ContactDevice(tx, "c1", pid, alice.Public()); err != nil || !ok || d.Name != "phone" {
			t.Errorf("ContactDevice = %+v %v %v", d, ok, err)
		}
		if _, ok, _ := devices.ContactDevice(tx, "c1", "dunknown", alice.Public()); ok {
			t.Error("an unlisted device has a channel")
		}
		return nil
	})
	s := load(t, ast, alice, "12D3KooWalice")
	if own := s.OwnChannels(); len(own) != 1 || own[0].ID != "self~"+wire.DeviceID(phone.Public()) {
		t.Fatalf("own channels: %+v", own)
	}
	if _, ok := s.OwnDevice(s.ID); ok {
		t.Fatal("this device is its own remote device")
	}
}

// TestOwnAccount: the store names the account and its list once the account has one, on
// the primary and on a linked device alike.
func TestOwnAccount(t *testing.T) {
	alice, phone := newID(t), newID(t)
	st, pst := storetest.Open(t), storetest.Open(t)
	var raw []byte
	storetest.Update(t, st, func(tx *store.Tx) (err error) {
		if a, l, err := devices.OwnAccount(tx); a != nil || l != nil || err != nil {
			t.Errorf("single device: %v %v %v", a, l, err)
		}
		_, raw, err = devices.AddDevice(tx, alice, wire.Device{PeerID: "12D3KooWa"}, device(t, phone, "12D3KooWp", "phone"), 1)
		return err
	})
	storetest.Update(t, pst, func(tx *store.Tx) error { _, err := devices.Provision(tx, phone, alice.Public(), raw); return err })
	for _, s := range []*store.Store{st, pst} {
		storetest.Update(t, s, func(tx *store.Tx) error {
			a, l, err := devices.OwnAccount(tx)
			if err != nil || !a.Equal(alice.Public()) || l.Seq != 1 {
				t.Errorf("own account: %v %+v %v", a, l, err)
			}
			return nil
		})
	}
	if s := load(t, st, alice, "12D3KooWa"); !s.Primary {
		t.Fatal("the primary is not primary once it has a list")
	}
}

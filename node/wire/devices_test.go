package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// testDeviceList lists the account's own key as its first device and n-1 more devices.
func testDeviceList(tb testing.TB, account *identity.Identity, n int) *DeviceList {
	tb.Helper()
	l := &DeviceList{Account: string(account.UserID()), Seq: 1}
	for i := 0; i < n; i++ {
		key := account.Public()
		if i > 0 {
			key = testIdentity(tb, byte(100+i)).Public()
		}
		l.Devices = append(l.Devices, Device{
			ID: DeviceID(key), Key: key.Bytes(), PeerID: "12D3KooWpeer" + string(rune('a'+i)),
			Name: "device", Added: 1_700_000_000_000 + int64(i),
		})
	}
	return l
}

// TestDeviceListRoundTrip: a signed list parses back to the same list and verifies under
// the account's key.
func TestDeviceListRoundTrip(t *testing.T) {
	acct := testIdentity(t, 1)
	l := testDeviceList(t, acct, 6)
	b, err := SignDeviceList(acct, l)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseDeviceList(b)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Verify(acct.Public()) {
		t.Fatal("the account's own list does not verify")
	}
	if len(s.List.Active()) != 6 || s.List.Seq != 1 || s.List.Devices[3].ID != l.Devices[3].ID {
		t.Fatalf("parsed list differs: %+v", s.List)
	}
	if d, ok := s.List.FindPeer(l.Devices[2].PeerID); !ok || d.ID != l.Devices[2].ID {
		t.Fatal("FindPeer misses a listed device")
	}
}

// TestDeviceListForgeries: an attacker cannot pass off a list as an account's: not by
// signing with its own key, not by editing a signed list, not by naming a device whose id
// is not its key's, and a revoked-only list is refused.
func TestDeviceListForgeries(t *testing.T) {
	acct, mallory := testIdentity(t, 1), testIdentity(t, 2)
	l := testDeviceList(t, acct, 2)

	// Mallory signs alice's list with her own key: SignDeviceList refuses, and a list
	// built by hand with mallory's signature does not verify under alice's key.
	if _, err := SignDeviceList(mallory, l); !errors.Is(err, ErrMalformed) {
		t.Fatalf("signing another account's list: err = %v", err)
	}
	ml := testDeviceList(t, mallory, 2)
	mb, err := SignDeviceList(mallory, ml)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := ParseDeviceList(mb)
	if err != nil {
		t.Fatal(err)
	}
	if ms.Verify(acct.Public()) {
		t.Fatal("mallory's list verified as alice's")
	}

	// Tampering with any byte of a signed list breaks it.
	b, err := SignDeviceList(acct, l)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x20
		if s, err := ParseDeviceList(c); err == nil && s.Verify(acct.Public()) {
			t.Fatalf("list with byte %d flipped still verifies", i)
		}
	}

	// A device id that is not its key's hash, a device listed twice, no active device.
	wrongID := testDeviceList(t, acct, 2)
	wrongID.Devices[1].ID = wrongID.Devices[0].ID
	twice := testDeviceList(t, acct, 2)
	twice.Devices[1] = twice.Devices[0]
	allRevoked := testDeviceList(t, acct, 2)
	allRevoked.Devices[0].Revoked, allRevoked.Devices[1].Revoked = 5, 5
	tooMany := testDeviceList(t, acct, MaxDevices+1)
	for name, bad := range map[string]*DeviceList{"wrong id": wrongID, "twice": twice, "all revoked": allRevoked, "too many": tooMany} {
		if _, err := SignDeviceList(acct, bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// FuzzParseDeviceList: no input panics ParseDeviceList, and an accepted list re-encodes to
// its signed body.
func FuzzParseDeviceList(f *testing.F) {
	acct := testIdentity(f, 1)
	for _, n := range []int{1, 2, 6} {
		b, err := SignDeviceList(acct, testDeviceList(f, acct, n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{DeviceListVersion, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseDeviceList(b)
		if err != nil {
			return
		}
		if len(s.List.Active()) == 0 || len(s.List.Devices) > MaxDevices {
			t.Fatalf("accepted a list with %d active of %d", len(s.List.Active()), len(s.List.Devices))
		}
	})
}

// TestDeviceContents: a devices content carries a signed list and a sync content an inner
// content about one contact or group; malformed ones are refused.
func TestDeviceContents(t *testing.T) {
	acct := testIdentity(t, 1)
	raw, err := SignDeviceList(acct, testDeviceList(t, acct, 2))
	if err != nil {
		t.Fatal(err)
	}
	inner, err := (&Content{Kind: KindText, ID: "m1", Seq: 1, TS: testTS, Body: "hi"}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ts := testTS
	good := []*Content{
		{Kind: KindDevices, ID: "x1", Seq: 1, TS: ts, Data: raw},
		{Kind: KindSync, ID: "x2", Seq: 2, TS: ts, Data: inner, With: string(acct.UserID())},
		{Kind: KindSync, ID: "x3", Seq: 3, TS: ts, Data: inner, Group: "g1"},
		{Kind: KindText, ID: "x4", Seq: 4, TS: ts, Body: "from a phone", Card: &Card{PeerID: "12D3KooWp", Devices: raw}},
	}
	for _, c := range good {
		b, err := c.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", c.Kind, err)
		}
		back, err := ParseContent(b)
		if err != nil || !bytes.Equal(back.Data, c.Data) || back.With != c.With || c.Card != nil && !bytes.Equal(back.Card.Devices, raw) {
			t.Fatalf("%s: round trip: %v", c.Kind, err)
		}
	}
	bad := []*Content{
		{Kind: KindDevices, ID: "x1", Seq: 1, TS: ts},
		{Kind: KindDevices, ID: "x1", Seq: 1, TS: ts, Data: []byte{9, 9, 9}},
		{Kind: KindSync, ID: "x2", Seq: 2, TS: ts, Data: inner},
		{Kind: KindSync, ID: "x2", Seq: 2, TS: ts, Data: inner, With: "u1", Group: "g1"},
		{Kind: KindSync, ID: "x2", Seq: 2, TS: ts, With: "u1"},
		{Kind: KindSync, ID: "x2", Seq: 2, TS: ts, Data: inner, With: "not an id"},
		{Kind: KindText, ID: "x4", Seq: 4, TS: ts, Body: "b", Card: &Card{PeerID: "p", Devices: make([]byte, MaxDeviceList+1)}},
	}
	for i, c := range bad {
		if _, err := c.Marshal(); !errors.Is(err, ErrMalformed) {
			t.Errorf("bad content %d accepted: %v", i, err)
		}
	}
}

// TestSyncedContact: a synced contact round-trips, and one whose user id is not its key's,
// or with an oversized field, is refused.
func TestSyncedContact(t *testing.T) {
	bob := testIdentity(t, 3)
	c := &SyncedContact{UserID: string(bob.UserID()), Identity: bob.Public().Bytes(), PeerID: "12D3KooWbob",
		Relays: []string{"/ip4/127.0.0.1/tcp/1/p2p/12D3KooWr"}, Name: "Bob", Verified: true, Request: "accepted"}
	b, err := MarshalSyncedContact(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseSyncedContact(b)
	if err != nil || back.UserID != c.UserID || !back.Verified || back.Relays[0] != c.Relays[0] {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	other := *c
	other.UserID = string(testIdentity(t, 4).UserID())
	long := *c
	long.Name = strings.Repeat("n", MaxName+1)
	for name, x := range map[string]*SyncedContact{"other user id": &other, "long name": &long} {
		if _, err := MarshalSyncedContact(x); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParseSyncedContact(append(b[:len(b)-1], []byte(`,"x":1}`)...)); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown key: %v", err)
	}
}

// FuzzParseSyncedContact: the decoder of a synced contact (bytes another device sends)
// never panics, and what it accepts encodes again.
func FuzzParseSyncedContact(f *testing.F) {
	bob := testIdentity(f, 3)
	b, _ := MarshalSyncedContact(&SyncedContact{UserID: string(bob.UserID()), Identity: bob.Public().Bytes(), PeerID: "p", Name: "Bob"})
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseSyncedContact(b)
		if err != nil {
			return
		}
		if _, err := MarshalSyncedContact(c); err != nil {
			t.Fatalf("accepted %q but cannot encode it: %v", b, err)
		}
	})
}

package node_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/relay/relayserver"
	"github.com/petrel-chat/petrel/relay/relaytest"
)

// nodeIdentity reads a stopped node's own key (its device key) from its store.
func nodeIdentity(t *testing.T, n *nodetest.Node) *identity.Identity {
	t.Helper()
	var id *identity.Identity
	n.UpdateStore(t, func(tx *store.Tx) error {
		b, err := tx.Get([]byte("cfg/identity"))
		if err != nil {
			return err
		}
		id, err = identity.Unmarshal(b)
		return err
	})
	return id
}

// linkDevice starts a new node named name and makes it a device of primary's account the
// way the link protocol ends (node/devicelink): the primary adds the new node's device key
// and peer (messenger AddDevice), and the new node is provisioned with the account key and
// the signed list (devices.Provision); then it runs again, as the account's device.
func linkDevice(t *testing.T, primary *nodetest.Node, name string, relays ...string) *nodetest.Node {
	t.Helper()
	ctx := context.Background()
	d := nodetest.Start(t, name)
	if len(relays) > 0 {
		d.Stop()
		d.Relays = relays
		d.Run()
	}
	pid := d.Info.PeerID
	var addrs []string
	for _, a := range d.Info.Addrs {
		if s, _, ok := strings.Cut(a, "/p2p/"); ok && !strings.Contains(a, "p2p-circuit") {
			addrs = append(addrs, s)
		}
	}
	d.Stop()
	key := nodeIdentity(t, d)
	pm := primary.Node.MessengerForTest()
	if _, err := pm.AddDevice(ctx, wire.Device{Key: key.Public().Bytes(), PeerID: pid, Addrs: addrs, Relays: relays, Name: name}); err != nil {
		t.Fatalf("%s adds %s: %v", primary.Name, name, err)
	}
	_, raw, err := pm.DeviceList(ctx)
	if err != nil || raw == nil {
		t.Fatalf("%s's signed list: %v", primary.Name, err)
	}
	d.UpdateStore(t, func(tx *store.Tx) error {
		_, err := devices.Provision(tx, key, pm.AccountKey(), raw)
		return err
	})
	d.Run()
	return d
}

// convOf returns the conversation of n with the contact of user uid, waiting for it.
func convOf(t *testing.T, n *nodetest.Node, uid string) api.Contact {
	t.Helper()
	var c api.Contact
	wait.For(t, n.Name+" has the contact "+uid, func() error {
		cs, err := n.Client.Contacts(context.Background())
		if err != nil {
			return err
		}
		for _, x := range cs {
			if x.UserID == uid {
				c = x
				return nil
			}
		}
		return fmt.Errorf("%d contacts, none of %s", len(cs), uid)
	})
	return c
}

// bodies is what n shows in conversation conv, in order, as "sender:body" with each
// message's order key, failing the wait until it holds want.
func sameHistory(t *testing.T, conv string, want []string, ns ...*nodetest.Node) {
	t.Helper()
	var orders []string
	for i, n := range ns {
		wait.For(t, n.Name+" shows "+strings.Join(want, ", "), func() error {
			ms := messages(t, n.Client, conv)
			var got, ord []string
			for _, m := range ms {
				got, ord = append(got, m.Body), append(ord, m.Order)
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("shows %q", got)
			}
			if i > 0 && !slices.Equal(ord, orders) {
				return wait.Final(fmt.Errorf("order %q, %s has %q", ord, ns[0].Name, orders))
			}
			orders = ord
			return nil
		})
	}
}

// TestLinkedDevicesEveryMessageEverywhere: alice on three devices and bob on two. Every
// message reaches all five in one order, whichever device sent it; what one of alice's
// devices sent shows on her others as hers; reading on one clears the unread count on
// the others; the safety number is the account's and never changes.
func TestLinkedDevicesEveryMessageEverywhere(t *testing.T) {
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	aliceID, bobID := nodetest.UserID(t, alice), nodetest.UserID(t, bob)
	bobAtAlice := nodetest.Befriend(t, alice, bob)
	conv := bobAtAlice.ConversationID
	if _, err := alice.Client.Send(ctx, conv, "c0", "before the devices"); err != nil {
		t.Fatal(err)
	}
	aliceAtBob := convOf(t, bob, aliceID)
	safety := aliceAtBob.SafetyNumber

	phone := linkDevice(t, alice, "alice-phone")
	tablet := linkDevice(t, alice, "alice-tablet")
	laptop := linkDevice(t, bob, "bob-laptop")
	for _, d := range []*nodetest.Node{phone, tablet} {
		if uid := nodetest.UserID(t, d); uid != aliceID {
			t.Fatalf("%s is user %s, not alice's %s", d.Name, uid, aliceID)
		}
	}
	if ds, err := alice.Node.MessengerForTest().Devices(ctx); err != nil || len(ds) != 3 || !ds[0].Current {
		t.Fatalf("alice's devices: %+v %v", ds, err)
	}
	// Bob accepts; his answer goes to each of alice's devices.
	if _, err := bob.Client.Send(ctx, conv, "b1", "hello alice"); err != nil {
		t.Fatal(err)
	}
	// Every device of each account knows the other account as a contact with the same
	// conversation.
	for _, d := range []*nodetest.Node{phone, tablet} {
		if c := convOf(t, d, bobID); c.ConversationID != conv {
			t.Fatalf("%s: conversation %s, not %s", d.Name, c.ConversationID, conv)
		}
	}
	if c := convOf(t, laptop, aliceID); c.ConversationID != conv || c.SafetyNumber != safety {
		t.Fatalf("bob's laptop: %+v", c)
	}
	if _, err := phone.Client.Send(ctx, conv, "p1", "from alice's phone"); err != nil {
		t.Fatal(err)
	}
	if _, err := laptop.Client.Send(ctx, conv, "l1", "from bob's laptop"); err != nil {
		t.Fatal(err)
	}
	want := []string{"hello alice", "from alice's phone", "from bob's laptop"}
	everyone := []*nodetest.Node{alice, phone, tablet, bob, laptop}
	sameHistory(t, conv, append([]string{"before the devices"}, want...), alice, bob)
	sameHistory(t, conv, want, phone, tablet, laptop)
	for _, m := range messages(t, tablet.Client, conv) {
		if m.Body == "from alice's phone" && m.SenderID != aliceID {
			t.Fatalf("alice's tablet shows her phone's message as %s's", m.SenderID)
		}
	}

	// Read on the phone clears the unread count on alice's other devices.
	ms := messages(t, phone.Client, conv)
	if err := phone.Client.MarkRead(ctx, conv, ms[len(ms)-1].ID); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*nodetest.Node{alice, phone, tablet} {
		wait.For(t, d.Name+" has nothing unread", func() error {
			page, err := d.Client.Conversations(ctx, "", 50)
			if err != nil {
				return err
			}
			for _, c := range page.Conversations {
				if c.ID == conv && c.UnreadCount != 0 {
					return fmt.Errorf("%d unread", c.UnreadCount)
				}
			}
			return nil
		})
	}
	// The safety number is the account's on every device, unchanged by devices.
	for _, d := range everyone {
		other := aliceID
		if d == alice || d == phone || d == tablet {
			other = bobID
		}
		if c := convOf(t, d, other); c.SafetyNumber != safety {
			t.Fatalf("%s: safety number %q, was %q", d.Name, c.SafetyNumber, safety)
		}
	}
}

// contactID is n's contact id of user uid.
func contactID(t *testing.T, n *nodetest.Node, uid string) string { return convOf(t, n, uid).ID }

// TestRevokedDeviceGetsNothingNew: alice revokes her tablet on her primary. Bob's node
// takes the new list and stops encrypting to the tablet: what he sends afterwards reaches
// alice's other devices and not the tablet, and nothing waits for it in his outbox; the
// tablet learns that it is revoked and refuses to send.
func TestRevokedDeviceGetsNothingNew(t *testing.T) {
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	aliceID := nodetest.UserID(t, alice)
	conv := nodetest.Befriend(t, alice, bob).ConversationID
	phone := linkDevice(t, alice, "alice-phone")
	tablet := linkDevice(t, alice, "alice-tablet")
	if _, err := alice.Client.Send(ctx, conv, "a1", "hi bob"); err != nil {
		t.Fatal(err)
	}
	aliceAtBob := contactID(t, bob, aliceID)
	bm := bob.Node.MessengerForTest()
	wait.For(t, "bob knows alice's three devices", func() error {
		ds, err := bm.ContactDevices(ctx, aliceAtBob)
		if err != nil || len(ds) != 3 {
			return fmt.Errorf("%d devices %v", len(ds), err)
		}
		return nil
	})
	if _, err := bob.Client.Send(ctx, conv, "b1", "before"); err != nil {
		t.Fatal(err)
	}
	bobID := nodetest.UserID(t, bob)
	convOf(t, phone, bobID)
	convOf(t, tablet, bobID)
	// What alice's primary sent shows on her other devices too (its sync copy).
	sameHistory(t, conv, []string{"hi bob", "before"}, alice, bob, phone, tablet)

	tabletID := ""
	ds, err := alice.Node.MessengerForTest().Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Name == "alice-tablet" {
			tabletID = d.ID
		}
	}
	if err := alice.Node.MessengerForTest().RevokeDevice(ctx, ds[0].ID); err == nil {
		t.Fatal("the primary revoked itself")
	}
	if err := alice.Node.MessengerForTest().RevokeDevice(ctx, tabletID); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "bob takes the list without the tablet", func() error {
		ds, err := bm.ContactDevices(ctx, aliceAtBob)
		if err != nil || len(ds) != 2 || slices.ContainsFunc(ds, func(d devices.Info) bool { return d.ID == tabletID }) {
			return fmt.Errorf("%+v %v", ds, err)
		}
		return nil
	})
	wait.For(t, "the tablet knows it is revoked", func() error {
		if !tablet.Node.MessengerForTest().DeviceRevoked() {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if _, err := tablet.Client.Send(ctx, conv, "t1", "from a revoked tablet"); err == nil {
		t.Fatal("a revoked device sent a message")
	}
	if _, err := bob.Client.Send(ctx, conv, "b2", "after"); err != nil {
		t.Fatal(err)
	}
	sameHistory(t, conv, []string{"hi bob", "before", "after"}, alice, bob, phone)
	wait.For(t, "bob's outbox is empty", func() error {
		if n := bm.OutboxLen(); n != 0 {
			return fmt.Errorf("%d waiting", n)
		}
		return nil
	})
	if got := messages(t, tablet.Client, conv); len(got) != 2 {
		t.Fatalf("the revoked tablet shows %d messages, want only the one before", len(got))
	}
}

// TestStolenDeviceKeyOnAnotherPeer: a thief with a copy of alice's phone's device key (and
// her signed list) but its own libp2p peer writes to bob. The list names the phone's
// peer, so bob refuses what comes from another peer as that device: nothing shows in his
// conversation with alice, and the thief's message fails.
func TestStolenDeviceKeyOnAnotherPeer(t *testing.T) {
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	aliceID := nodetest.UserID(t, alice)
	conv := nodetest.Befriend(t, alice, bob).ConversationID
	phone := linkDevice(t, alice, "alice-phone")
	if _, err := alice.Client.Send(ctx, conv, "a1", "hi bob"); err != nil {
		t.Fatal(err)
	}
	aliceAtBob := contactID(t, bob, aliceID)
	wait.For(t, "bob knows alice's phone", func() error {
		ds, err := bob.Node.MessengerForTest().ContactDevices(ctx, aliceAtBob)
		if err != nil || len(ds) != 2 {
			return fmt.Errorf("%d devices %v", len(ds), err)
		}
		return nil
	})
	thief := nodetest.Start(t, "thief")
	thief.Stop()
	phone.Stop()
	var stolen [][2][]byte
	phone.UpdateStore(t, func(tx *store.Tx) error {
		for _, k := range []string{"cfg/identity", "dv/account", "dv/list", "pk", "pki"} {
			v, err := tx.Get([]byte(k))
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			stolen = append(stolen, [2][]byte{[]byte(k), v})
		}
		return nil
	})
	thief.UpdateStore(t, func(tx *store.Tx) error {
		for _, kv := range stolen {
			if err := tx.Set(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	thief.Run()
	if uid := nodetest.UserID(t, thief); uid != aliceID {
		t.Fatalf("the thief acts as %s, not alice", uid)
	}
	nodetest.Befriend(t, thief, bob)
	if _, err := thief.Client.Send(ctx, conv, "x1", "a stolen key speaks"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the thief's message fails", func() error {
		for _, m := range messages(t, thief.Client, conv) {
			if m.Body == "a stolen key speaks" && m.Status == api.StatusFailed {
				return nil
			}
		}
		return fmt.Errorf("not failed yet")
	})
	for _, m := range messages(t, bob.Client, conv) {
		if m.Body == "a stolen key speaks" {
			t.Fatalf("bob shows the thief's message as alice's: %+v", m)
		}
	}
}

// TestOfflineDeviceCatchesUpFromItsMailbox: alice's phone has its own mailbox at its home
// relay, under its device key. While the phone is off, what bob sends alice reaches her
// primary directly and waits for the phone in the phone's mailbox; the phone, back, takes
// it from there and shows the conversation in the same order as the others.
func TestOfflineDeviceCatchesUpFromItsMailbox(t *testing.T) {
	ctx := context.Background()
	cfg := relayserver.DefaultConfig()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	r := relaytest.Start(t, &cfg)
	relay := r.Info.Addrs[0]
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	bob.Stop()
	bob.Relays = []string{relay}
	bob.Run()
	bobID := nodetest.UserID(t, bob)
	conv := nodetest.Befriend(t, alice, bob).ConversationID
	phone := linkDevice(t, alice, "alice-phone", relay)
	nodetest.WaitRelayConnected(t, phone, "the phone")
	if _, err := alice.Client.Send(ctx, conv, "a1", "hi bob"); err != nil {
		t.Fatal(err)
	}
	convOf(t, phone, bobID)
	sameHistory(t, conv, []string{"hi bob"}, alice, bob, phone)
	phone.Stop()
	for i := range 3 {
		if _, err := bob.Client.Send(ctx, conv, fmt.Sprintf("b%d", i), fmt.Sprintf("while the phone is off %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"hi bob", "while the phone is off 0", "while the phone is off 1", "while the phone is off 2"}
	sameHistory(t, conv, want, alice, bob)
	wait.For(t, "the phone's mail waits at its relay", func() error {
		if got := r.Stats().Messages; got < 3 {
			return fmt.Errorf("the relay holds %d", got)
		}
		return nil
	})
	phone.Run()
	sameHistory(t, conv, want, alice, phone)
	wait.For(t, "the phone's mailbox is drained", func() error {
		if got := r.Stats().Messages; got != 0 {
			return fmt.Errorf("the relay still holds %d", got)
		}
		return nil
	})
}

// TestSixDeviceAccount: an account holds six active devices (the least it must): bob's
// message reaches all six in one order, each shows it from bob, and alice's account is
// one contact with one safety number at bob's.
func TestSixDeviceAccount(t *testing.T) {
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	aliceID, bobID := nodetest.UserID(t, alice), nodetest.UserID(t, bob)
	conv := nodetest.Befriend(t, alice, bob).ConversationID
	if _, err := alice.Client.Send(ctx, conv, "a1", "hi bob"); err != nil {
		t.Fatal(err)
	}
	devs := []*nodetest.Node{alice}
	for i := 1; i < 6; i++ {
		devs = append(devs, linkDevice(t, alice, fmt.Sprintf("alice-%d", i)))
	}
	if ds, err := alice.Node.MessengerForTest().Devices(ctx); err != nil || len(ds) != 6 {
		t.Fatalf("alice's devices: %d %v", len(ds), err)
	}
	aliceAtBob := contactID(t, bob, aliceID)
	wait.For(t, "bob knows alice's six devices", func() error {
		ds, err := bob.Node.MessengerForTest().ContactDevices(ctx, aliceAtBob)
		if err != nil || len(ds) != 6 {
			return fmt.Errorf("%d devices %v", len(ds), err)
		}
		return nil
	})
	if _, err := bob.Client.Send(ctx, conv, "b1", "to all six"); err != nil {
		t.Fatal(err)
	}
	for _, d := range devs[1:] {
		convOf(t, d, bobID)
	}
	// (What came before a device was linked is the history transfer's: node/devicelink.)
	sameHistory(t, conv, []string{"hi bob", "to all six"}, alice, bob)
	sameHistory(t, conv, []string{"to all six"}, devs[1:]...)
	cs, err := bob.Client.Contacts(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("bob has %d contacts for one account: %v", len(cs), err)
	}
}

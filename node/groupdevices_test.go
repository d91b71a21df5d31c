package node_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// groupDevices is alice on two devices, bob and carol on one each, each pair of
// accounts befriended and every device knowing the others' accounts (each sent a direct
// message that every device of the other shows), with a group of the three created on
// alice's primary.
type groupDevices struct {
	alice, phone, bob, carol *nodetest.Node
	aliceID, bobID, carolID  string
	gid                      string
}

func (g *groupDevices) all() []*nodetest.Node {
	return []*nodetest.Node{g.alice, g.phone, g.bob, g.carol}
}

func newGroupDevices(t *testing.T) *groupDevices {
	t.Helper()
	ctx := context.Background()
	g := &groupDevices{alice: nodetest.Start(t, "alice"), bob: nodetest.Start(t, "bob"), carol: nodetest.Start(t, "carol")}
	g.aliceID, g.bobID, g.carolID = nodetest.UserID(t, g.alice), nodetest.UserID(t, g.bob), nodetest.UserID(t, g.carol)
	ab := nodetest.Befriend(t, g.alice, g.bob)
	ac := nodetest.Befriend(t, g.alice, g.carol)
	nodetest.Befriend(t, g.bob, g.carol)
	g.phone = linkDevice(t, g.alice, "alice-phone")
	// Each answer goes to every device of the other account, and makes it known there.
	for _, x := range []struct {
		from *nodetest.Node
		conv string
		sees []*nodetest.Node
	}{
		{g.bob, ab.ConversationID, []*nodetest.Node{g.alice, g.phone}},
		{g.carol, ac.ConversationID, []*nodetest.Node{g.alice, g.phone}},
	} {
		body := x.from.Name + " answers in " + x.conv
		if _, err := x.from.Client.Send(ctx, x.conv, "a-"+x.conv, body); err != nil {
			t.Fatal(err)
		}
		for _, n := range x.sees {
			wait.For(t, n.Name+" shows "+body, func() error {
				p, err := n.Client.Messages(ctx, x.conv, "", "", 50)
				if err != nil {
					return err // the conversation is not there yet
				}
				for _, m := range p.Messages {
					if m.Body == body {
						return nil
					}
				}
				return fmt.Errorf("%d messages, not that one", len(p.Messages))
			})
		}
	}
	conv, err := g.alice.Client.CreateGroup(ctx, "four devices", []string{g.bobID, g.carolID})
	if err != nil {
		t.Fatal(err)
	}
	g.gid = conv.ID
	waitMembers(t, g.all(), g.gid, []string{g.aliceID, g.bobID, g.carolID})
	return g
}

// TestGroupOnLinkedDevices: a group created on alice's primary appears on her phone (the
// group-changes sync) and on bob's and carol's nodes; a message from each of the four
// devices reaches all four, once each and in one order; what alice's phone sent shows as
// alice's on bob's and carol's devices and as her own on her primary (sent, not unread),
// and the members' receipts reach it there too.
func TestGroupOnLinkedDevices(t *testing.T) {
	ctx := context.Background()
	g := newGroupDevices(t)
	var want []string
	for _, n := range g.all() {
		body := "from " + n.Name
		if _, err := n.Client.Send(ctx, g.gid, "g-"+n.Name, body); err != nil {
			t.Fatalf("%s sends to the group: %v", n.Name, err)
		}
		want = append(want, body)
	}
	slices.Sort(want)
	var ref []api.Message
	for i, n := range g.all() {
		var ms []api.Message
		wait.For(t, n.Name+" shows every device's message once", func() error {
			ms = messages(t, n.Client, g.gid)
			var bodies []string
			for _, m := range ms {
				bodies = append(bodies, m.Body)
			}
			slices.Sort(bodies)
			if !slices.Equal(bodies, want) {
				return fmt.Errorf("shows %q", bodies)
			}
			return nil
		})
		if i == 0 {
			ref = ms
			continue
		}
		for k := range ms {
			if ms[k].ID != ref[k].ID || ms[k].Order != ref[k].Order || ms[k].SenderID != ref[k].SenderID {
				t.Fatalf("%s: message %d is %s %q by %s, alice's primary has %s %q by %s", n.Name, k,
					ms[k].Order, ms[k].Body, ms[k].SenderID, ref[k].Order, ref[k].Body, ref[k].SenderID)
			}
		}
	}
	owner := map[string]string{"from alice": g.aliceID, "from alice-phone": g.aliceID,
		"from bob": g.bobID, "from carol": g.carolID}
	for _, m := range ref {
		if m.SenderID != owner[m.Body] {
			t.Fatalf("%q shows as sent by %s, want %s", m.Body, m.SenderID, owner[m.Body])
		}
	}
	// Group changes are signed with the account key, which only the primary holds: the
	// phone refuses them, saying where to make them, and the group stays as it was.
	var ae *localclient.APIError
	if _, err := g.phone.Client.RenameGroup(ctx, g.gid, "renamed on the phone"); !errors.As(err, &ae) || ae.Status != 403 {
		t.Fatalf("renaming on the phone: %v, want 403", err)
	}
	if _, err := g.phone.Client.LeaveGroup(ctx, g.gid); !errors.As(err, &ae) || ae.Status != 403 {
		t.Fatalf("leaving on the phone: %v, want 403", err)
	}
	waitMembers(t, g.all(), g.gid, []string{g.aliceID, g.bobID, g.carolID})
	// On alice's primary, her phone's message is hers: not unread, and delivered once
	// bob and carol (any of their devices) have it.
	wait.For(t, "alice's primary counts her phone's message as hers", func() error {
		c, err := g.alice.Client.Conversation(ctx, g.gid)
		if err != nil {
			return err
		}
		if c.UnreadCount != 2 {
			return wait.Final(fmt.Errorf("%d unread, want 2 (bob's and carol's)", c.UnreadCount))
		}
		for _, m := range messages(t, g.alice.Client, g.gid) {
			if m.Body == "from alice-phone" && (m.Status != api.StatusDelivered || m.Receipts.Total != 2 || m.Receipts.Delivered != 2) {
				return fmt.Errorf("her phone's message is %s, %+v", m.Status, m.Receipts)
			}
		}
		return nil
	})
}

// lastGroupEnvelope is the newest group envelope stopped node n sent in gid (gh/, kept
// for resends) and the chain id it was sent with.
func lastGroupEnvelope(t *testing.T, n *nodetest.Node, gid string) ([]byte, senderkey.DistributionID) {
	t.Helper()
	var env []byte
	n.UpdateStore(t, func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: []byte("gh/" + gid + "/")}, func(_, v []byte) (bool, error) {
			env = slices.Clone(v)
			return true, nil
		})
	})
	skm, err := wire.ParseEnvelope(env)
	if err != nil {
		t.Fatalf("%s's last envelope: %v", n.Name, err)
	}
	sm, err := senderkey.ParseMessage(skm)
	if err != nil {
		t.Fatal(err)
	}
	return skm, sm.ID()
}

// TestRevokedDeviceCannotReadTheGroup: alice revokes her phone. Every member rotates their
// chain and gives it only to the devices that remain, so what alice's primary and bob send
// afterwards reaches carol and the others and cannot be read with what the phone kept:
// it holds the chains it had (the attack), and none of them is the one the new messages
// were sent with.
func TestRevokedDeviceCannotReadTheGroup(t *testing.T) {
	ctx := context.Background()
	g := newGroupDevices(t)
	for _, n := range []*nodetest.Node{g.alice, g.bob} {
		if _, err := n.Client.Send(ctx, g.gid, "before-"+n.Name, "before, from "+n.Name); err != nil {
			t.Fatal(err)
		}
	}
	waitMessages(t, g.phone, g.gid, 2)
	pm := g.alice.Node.MessengerForTest()
	ds, err := pm.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var phoneID string
	for _, d := range ds {
		if !d.Current {
			phoneID = d.ID
		}
	}
	if err := pm.RevokeDevice(ctx, phoneID); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "bob takes alice's list without her phone", func() error {
		ds, err := g.bob.Node.MessengerForTest().ContactDevices(ctx, contactID(t, g.bob, g.aliceID))
		if err != nil || len(ds) != 1 {
			return fmt.Errorf("%d devices of alice (%v)", len(ds), err)
		}
		return nil
	})
	for _, n := range []*nodetest.Node{g.alice, g.bob} {
		if _, err := n.Client.Send(ctx, g.gid, "after-"+n.Name, "after, from "+n.Name); err != nil {
			t.Fatal(err)
		}
	}
	// Carol and the senders read both new messages (the new chains reached them).
	for _, n := range []*nodetest.Node{g.alice, g.bob, g.carol} {
		waitMessages(t, n, g.gid, 4)
	}
	g.phone.Stop()
	g.alice.Stop()
	g.bob.Stop()
	for _, sender := range []struct {
		n   *nodetest.Node
		uid string
	}{{g.alice, g.aliceID}, {g.bob, g.bobID}} {
		env, id := lastGroupEnvelope(t, sender.n, g.gid)
		g.phone.UpdateStore(t, func(tx *store.Tx) error {
			raw, err := tx.Get([]byte("gx/" + g.gid + "/" + sender.uid))
			if err != nil {
				return fmt.Errorf("the phone kept no chain of %s: %w", sender.n.Name, err)
			}
			rs, err := senderkey.UnmarshalReceiver(raw)
			if err != nil {
				return err
			}
			if slices.Contains(rs.IDs(), id) {
				t.Errorf("%s's message after the revocation is on a chain the revoked phone holds", sender.n.Name)
			}
			if pt, err := rs.Decrypt(env); err == nil {
				t.Errorf("the revoked phone reads %s's message after the revocation: %q", sender.n.Name, pt)
			} else if !errors.Is(err, senderkey.ErrUnknownChain) {
				t.Errorf("the phone's attempt on %s's message: %v, want an unknown chain", sender.n.Name, err)
			}
			return nil
		})
	}
}

// TestGroupReachesADeviceLinkedLater: alice links her phone after the group exists (no
// history transfer here: the phone starts empty). Her primary sends the phone the group's
// log and its chain when the list changes; the phone makes its own chain and hands it to
// the members' devices; from then on the phone reads the group and is read in it.
func TestGroupReachesADeviceLinkedLater(t *testing.T) {
	ctx := context.Background()
	alice, bob, carol := nodetest.Start(t, "alice"), nodetest.Start(t, "bob"), nodetest.Start(t, "carol")
	aliceID, bobID, carolID := nodetest.UserID(t, alice), nodetest.UserID(t, bob), nodetest.UserID(t, carol)
	nodetest.Befriend(t, alice, bob)
	nodetest.Befriend(t, alice, carol)
	nodetest.Befriend(t, bob, carol)
	conv, err := alice.Client.CreateGroup(ctx, "before the phone", []string{bobID, carolID})
	if err != nil {
		t.Fatal(err)
	}
	gid := conv.ID
	waitMembers(t, []*nodetest.Node{alice, bob, carol}, gid, []string{aliceID, bobID, carolID})
	if _, err := bob.Client.Send(ctx, gid, "b0", "before the phone, from bob"); err != nil {
		t.Fatal(err)
	}
	waitMessages(t, alice, gid, 1)

	phone := linkDevice(t, alice, "alice-phone")
	waitMembers(t, []*nodetest.Node{phone}, gid, []string{aliceID, bobID, carolID})
	wait.For(t, "bob and carol take alice's list with her phone", func() error {
		for _, n := range []*nodetest.Node{bob, carol} {
			ds, err := n.Node.MessengerForTest().ContactDevices(ctx, contactID(t, n, aliceID))
			if err != nil || len(ds) != 2 {
				return fmt.Errorf("%s: %d devices of alice (%v)", n.Name, len(ds), err)
			}
		}
		return nil
	})
	for _, n := range []*nodetest.Node{phone, bob, carol} {
		if _, err := n.Client.Send(ctx, gid, "late-"+n.Name, "after the phone, from "+n.Name); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"after the phone, from alice-phone", "after the phone, from bob", "after the phone, from carol"}
	for _, n := range []*nodetest.Node{alice, phone, bob, carol} {
		wait.For(t, n.Name+" shows the three later messages", func() error {
			var got []string
			for _, m := range messages(t, n.Client, gid) {
				if slices.Contains(want, m.Body) {
					got = append(got, m.Body)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return fmt.Errorf("shows %q", got)
			}
			return nil
		})
	}
}

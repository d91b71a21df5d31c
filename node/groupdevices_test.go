package node_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
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

package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/node/store"
)

func contactOf(t *testing.T, n *nodetest.Node, id string) api.Contact {
	t.Helper()
	var c api.Contact
	if err := n.Client.Do(context.Background(), "GET", "/v1/contacts/"+id, nil, &c); err != nil {
		t.Fatalf("%s: contact %s: %v", n.Name, id, err)
	}
	return c
}

// TestIdentityChangeWarnsAndFailsPending: a contact's peer comes back presenting another
// identity key (a reinstall, or someone holding its network key). The contact is marked
// unverified and identity_changed with a contact event, its safety number changes, and what
// was waiting for the old identity fails with "identity changed" instead of being handed to
// the new key.
func TestIdentityChangeWarnsAndFailsPending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	toBob := nodetest.Befriend(t, alice, bob)
	if _, err := alice.Client.Send(ctx, toBob.ConversationID, "a1", "hello bob"); err != nil {
		t.Fatal(err)
	}
	var toAlice api.Contact
	wait.For(t, "bob gets alice's message", func() error {
		cs, err := bob.Client.Contacts(ctx)
		if err != nil || len(cs) != 1 {
			return fmt.Errorf("contacts %v %v", cs, err)
		}
		toAlice = cs[0]
		if n := len(messages(t, bob.Client, toAlice.ConversationID)); n != 1 {
			return fmt.Errorf("%d messages", n)
		}
		return nil
	})
	verified := true
	if _, err := bob.Client.UpdateContact(ctx, toAlice.ID, api.ContactPatch{Verified: &verified}); err != nil {
		t.Fatal(err)
	}
	before := contactOf(t, bob, toAlice.ID)
	if !before.Verified || before.IdentityChanged {
		t.Fatalf("before the change: %+v", before)
	}

	// Alice goes away; bob writes to her, and the message waits in bob's outbox.
	alice.Stop()
	pending, err := bob.Client.Send(ctx, toAlice.ConversationID, "b-pending", "for the old alice")
	if err != nil {
		t.Fatal(err)
	}
	if pending.Status != api.StatusPending {
		t.Fatalf("status while alice is away: %s", pending.Status)
	}

	// Mallory runs a fresh identity behind alice's network key and writes to bob.
	mallory := nodetest.StartImpostor(t, alice, "mallory")
	mToBob := nodetest.Befriend(t, mallory, bob)
	if _, err := mallory.Client.Send(ctx, mToBob.ConversationID, "m1", "it is me, alice, new phone"); err != nil {
		t.Fatal(err)
	}

	wait.For(t, "bob flags the identity change", func() error {
		c := contactOf(t, bob, toAlice.ID)
		if !c.IdentityChanged || c.Verified {
			return fmt.Errorf("identity_changed %v verified %v", c.IdentityChanged, c.Verified)
		}
		if c.SafetyNumber == before.SafetyNumber {
			return errors.New("safety number unchanged")
		}
		return nil
	})
	wait.For(t, "bob's pending message fails", func() error {
		for _, m := range messages(t, bob.Client, toAlice.ConversationID) {
			if m.ID != pending.ID {
				continue
			}
			if m.Status != api.StatusFailed {
				return fmt.Errorf("status %s", m.Status)
			}
			if m.Error == "" {
				return errors.New("failed without a reason")
			}
			return nil
		}
		return errors.New("pending message gone")
	})
	// The event log carries the warning for every UI.
	evs, err := bob.Client.Events(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	warned := false
	for _, e := range evs.Events {
		var c api.Contact
		if e.Kind == api.KindContact && json.Unmarshal(e.Payload, &c) == nil && c.ID == toAlice.ID && c.IdentityChanged {
			warned = true
		}
	}
	if !warned {
		t.Fatal("no contact event with identity_changed in bob's event log")
	}
	// Mallory never got the text meant for the old identity.
	for _, m := range messages(t, mallory.Client, mToBob.ConversationID) {
		if strings.Contains(m.Body, "old alice") {
			t.Fatalf("the new identity read a message meant for the old one: %+v", m)
		}
	}
	// Bob still talks to the conversation (now with the new key, after the warning).
	if _, err := bob.Client.Send(ctx, toAlice.ConversationID, "b2", "who is this?"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the new identity gets messages sent after the warning", func() error {
		for _, m := range messages(t, mallory.Client, mToBob.ConversationID) {
			if m.Body == "who is this?" {
				return nil
			}
		}
		return errors.New("not yet")
	})
	// The warning keeps naming who the contact was: the new key's cards do not rename it.
	if c := contactOf(t, bob, toAlice.ID); c.Name != before.Name {
		t.Fatalf("the new identity renamed the contact %q to %q", before.Name, c.Name)
	}
}

// TestGapTriggersResend: the sender loses one queued message (its outbox entry is gone, as
// after a fault); the receiver sees the sequence gap, asks for a resend, and ends up with every
// message exactly once and in order, and the sender sees each delivered.
func TestGapTriggersResend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	toBob := nodetest.Befriend(t, alice, bob)
	if _, err := alice.Client.Send(ctx, toBob.ConversationID, "c0", "warm up"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "first message delivered", func() error {
		ms := messages(t, alice.Client, toBob.ConversationID)
		if len(ms) != 1 || ms[0].Status != api.StatusDelivered {
			return fmt.Errorf("%+v", ms)
		}
		return nil
	})
	bob.Stop()
	const n = 6
	for i := range n {
		if _, err := alice.Client.Send(ctx, toBob.ConversationID, fmt.Sprintf("c%d", i+1), fmt.Sprintf("m%d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	alice.Stop()
	// Drop the third queued message from alice's outbox; its copy in the sent history stays.
	alice.UpdateStore(t, func(tx *store.Tx) error {
		var keys [][]byte
		err := tx.Iterate(store.IterOptions{Prefix: []byte("ob/"), KeysOnly: true}, func(k, _ []byte) (bool, error) {
			keys = append(keys, k)
			return true, nil
		})
		if err != nil {
			return err
		}
		if len(keys) != n {
			return fmt.Errorf("%d outbox entries, want %d", len(keys), n)
		}
		return tx.Delete(keys[2])
	})
	bob.Run()
	alice.Run()
	want := []string{"warm up", "m1", "m2", "m3", "m4", "m5", "m6"}
	wait.For(t, "bob has every message once, in order", func() error {
		var got []string
		for _, m := range messages(t, bob.Client, toBob.ConversationID) {
			got = append(got, m.Body)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			return fmt.Errorf("bob has %q", got)
		}
		return nil
	})
	wait.For(t, "alice sees every message delivered", allStatus(t, alice.Client, toBob.ConversationID, api.StatusDelivered))
}

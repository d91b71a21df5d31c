package node_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// TestRevokedDeviceChangesNothingForOthers: a device removed from the account acts for it
// no more (API.md §8). Beyond sends, an edit, a delete for everyone, a reaction, a new
// invite link and a conversation's timer all answer 403 on it, in a
// direct chat as in a group (the checks are the same entry points), and nothing of them
// reaches the contact.
func TestRevokedDeviceChangesNothingForOthers(t *testing.T) {
	ctx := context.Background()
	alice, bob, tablet, conv := pairWithLinkedDevice(t, "alice-tablet")
	own, err := tablet.Client.Send(ctx, conv, "t0", "the tablet's own message")
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, "bob has the tablet's message", func() error {
		if findBody(t, bob, conv, own.Body) == nil {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	me, err := tablet.Client.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Node.MessengerForTest().RevokeDevice(ctx, me.Device.ID); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the tablet knows it is revoked", func() error {
		me, err := tablet.Client.Me(ctx)
		if err != nil || me.Device.RevokedAt == nil {
			return fmt.Errorf("not yet (%v)", err)
		}
		return nil
	})
	for what, call := range map[string]func() error{
		"edit":           func() error { _, err := tablet.Client.Edit(ctx, own.ID, "edited by a revoked device"); return err },
		"delete for all": func() error { _, err := tablet.Client.Delete(ctx, own.ID, true); return err },
		"reaction":       func() error { _, err := tablet.Client.React(ctx, own.ID, "👍", false); return err },
		"invite":         func() error { _, err := tablet.Client.CreateInvite(ctx); return err },
	} {
		if err := call(); !forbidden(err) {
			t.Errorf("%s on a revoked device: %v, want 403 forbidden", what, err)
		}
	}
	if status, _ := setDisappear(t, tablet, conv, 60); status != 403 {
		t.Errorf("a disappearing timer set on a revoked device: %d, want 403", status)
	}
	// What bob shows of the tablet's message is as it was.
	m := findBody(t, bob, conv, own.Body)
	if m == nil || m.Deleted || m.EditedAt != nil || len(m.Reactions) != 0 {
		t.Fatalf("bob's copy of the tablet's message changed: %+v", m)
	}
}

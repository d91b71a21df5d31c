package node_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// TestOwnDisappearingMessageFromAnotherDeviceExpires: a disappearing message alice sends
// from her phone shows on her primary with its timer running from when it was sent (API.md
// §9: "for the sender: when sent"), as on the phone, not as a message that never expires.
func TestOwnDisappearingMessageFromAnotherDeviceExpires(t *testing.T) {
	ctx := context.Background()
	alice, _, phone, conv := pairWithLinkedDevice(t, "alice-phone")
	if status, _ := setDisappear(t, phone, conv, 3600); status != 200 {
		t.Fatalf("the phone sets the timer: %d", status)
	}
	sent, err := phone.Client.Send(ctx, conv, "p1", "from the phone, disappearing")
	if err != nil {
		t.Fatal(err)
	}
	if sent.ExpiresAt == nil || *sent.ExpiresAt != sent.SentAt+3600_000 {
		t.Fatalf("the phone's own message: expires_at %v, sent %d", sent.ExpiresAt, sent.SentAt)
	}
	wait.For(t, "alice's primary shows the phone's message with its timer running", func() error {
		m := findBody(t, alice, conv, "from the phone, disappearing")
		if m == nil {
			return fmt.Errorf("not there yet")
		}
		if m.DisappearAfterS != 3600 || m.ExpiresAt == nil || *m.ExpiresAt != sent.SentAt+3600_000 {
			return wait.Final(fmt.Errorf("disappear_after_s %d, expires_at %v; want 3600 and %d", m.DisappearAfterS, m.ExpiresAt, sent.SentAt+3600_000))
		}
		return nil
	})
}

// pairWithLinkedDevice starts alice and bob as contacts who have exchanged a message, and
// links a second device of alice's named name that knows the conversation; conv is the
// conversation's id (the same on every device).
func pairWithLinkedDevice(t *testing.T, name string) (alice, bob, dev *nodetest.Node, conv string) {
	t.Helper()
	ctx := context.Background()
	alice, bob = nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	conv = nodetest.Befriend(t, alice, bob).ConversationID
	if _, err := alice.Client.Send(ctx, conv, "a0", "hello bob"); err != nil {
		t.Fatal(err)
	}
	convOf(t, bob, nodetest.UserID(t, alice))
	dev = linkDevice(t, alice, name)
	convOf(t, dev, nodetest.UserID(t, bob))
	return alice, bob, dev, conv
}

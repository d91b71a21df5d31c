package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// statusOn waits until n shows message id with status want.
func statusOn(t *testing.T, n *nodetest.Node, id, want string) api.Message {
	t.Helper()
	var m api.Message
	wait.For(t, n.Name+" shows "+id+" "+want, func() error {
		var err error
		if m, err = n.Client.Message(context.Background(), id); err != nil {
			return err
		}
		if m.Status != want {
			return fmt.Errorf("status %s", m.Status)
		}
		return nil
	})
	return m
}

// TestReceiptsOnEveryOwnDevice: a message alice sends from her primary shows on her phone
// as hers, sent; bob's node acknowledges it to the primary only, and the phone still
// shows it delivered, then read once bob reads it, with bob's receipt times — receipts
// count a person once on every device of the sender.
func TestReceiptsOnEveryOwnDevice(t *testing.T) {
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	aliceID, bobID := nodetest.UserID(t, alice), nodetest.UserID(t, bob)
	toBob, _ := nodetest.BefriendBoth(t, alice, bob) // bob accepted: he sends read receipts
	conv := toBob.ConversationID
	phone := linkDevice(t, alice, "alice-phone")
	convOf(t, phone, bobID)
	m, err := alice.Client.Send(ctx, conv, "a1", "read me")
	if err != nil {
		t.Fatal(err)
	}
	if got := statusOn(t, alice, m.ID, api.StatusDelivered); got.SenderID != aliceID {
		t.Fatalf("alice's primary shows the message from %s", got.SenderID)
	}
	if got := statusOn(t, phone, m.ID, api.StatusDelivered); got.SenderID != aliceID || got.Receipts.Delivered != 1 {
		t.Fatalf("alice's phone shows %+v", got)
	}
	var rs api.MessageReceipts
	if err := phone.Client.Do(ctx, "GET", "/v1/messages/"+m.ID+"/receipts", nil, &rs); err != nil {
		t.Fatal(err)
	}
	if len(rs.Receipts) != 1 || rs.Receipts[0].UserID != bobID || rs.Receipts[0].DeliveredAt == nil {
		t.Fatalf("the phone's receipts of the message: %+v", rs.Receipts)
	}
	sameHistory(t, conv, []string{"read me"}, bob)
	if err := bob.Client.MarkRead(ctx, conv, m.ID); err != nil {
		t.Fatal(err)
	}
	statusOn(t, alice, m.ID, api.StatusRead)
	if got := statusOn(t, phone, m.ID, api.StatusRead); got.Receipts.Read != 1 {
		t.Fatalf("alice's phone shows %+v", got.Receipts)
	}
}

// settingsOf is n's GET /v1/settings as a UI reads it.
type uiSettings struct {
	Presence     string `json:"presence"`
	ReadReceipts bool   `json:"read_receipts"`
	Push         struct {
		DNDUntil *int64 `json:"dnd_until"`
	} `json:"push"`
}

// waitSettings waits until each of ns shows settings want.
func waitSettings(t *testing.T, want uiSettings, ns ...*nodetest.Node) {
	t.Helper()
	for _, n := range ns {
		wait.For(t, n.Name+fmt.Sprintf(" shows the settings %+v", want), func() error {
			var got uiSettings
			if err := n.Client.Do(context.Background(), "GET", "/v1/settings", nil, &got); err != nil {
				return err
			}
			if got.Presence != want.Presence || got.ReadReceipts != want.ReadReceipts ||
				(got.Push.DNDUntil == nil) != (want.Push.DNDUntil == nil) ||
				got.Push.DNDUntil != nil && *got.Push.DNDUntil != *want.Push.DNDUntil {
				return fmt.Errorf("shows %+v (dnd %v)", got, got.Push.DNDUntil)
			}
			return nil
		})
	}
}

// TestSettingsOnEveryOwnDevice: alice on three devices. Settings changed on her phone
// (presence, read receipts, push do-not-disturb) show on her primary and her tablet; a
// later change on the tablet wins everywhere (last writer wins); a mute and a
// disappearing-message timer set on the primary for her chat with bob show on the phone
// and the tablet, and the timer reaches bob.
func TestSettingsOnEveryOwnDevice(t *testing.T) {
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	bobID := nodetest.UserID(t, bob)
	toBob, _ := nodetest.BefriendBoth(t, alice, bob)
	conv := toBob.ConversationID
	phone := linkDevice(t, alice, "alice-phone")
	tablet := linkDevice(t, alice, "alice-tablet")
	convOf(t, phone, bobID)
	convOf(t, tablet, bobID)

	dnd := time.Now().Add(time.Hour).UnixMilli()
	if err := phone.Client.Do(ctx, "PUT", "/v1/settings", map[string]any{"presence": "nobody", "read_receipts": false, "push": map[string]any{"dnd_until": dnd}}, nil); err != nil {
		t.Fatal(err)
	}
	want := uiSettings{Presence: api.PresenceNobody}
	want.Push.DNDUntil = &dnd
	waitSettings(t, want, phone, alice, tablet)

	if err := tablet.Client.Do(ctx, "PUT", "/v1/settings", map[string]any{"presence": "contacts", "push": map[string]any{"dnd_until": nil}}, nil); err != nil {
		t.Fatal(err)
	}
	want = uiSettings{Presence: api.PresenceContacts}
	waitSettings(t, want, tablet, alice, phone)

	muted := time.Now().Add(2 * time.Hour).UnixMilli()
	if err := alice.Client.Do(ctx, "PATCH", "/v1/conversations/"+conv, map[string]any{"muted_until": muted, "disappear_after_s": 3600}, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*nodetest.Node{alice, phone, tablet, bob} {
		wait.For(t, n.Name+" shows the chat's timer (and, on alice's devices, its mute)", func() error {
			var c api.Conversation
			if err := n.Client.Do(ctx, "GET", "/v1/conversations/"+conv, nil, &c); err != nil {
				return err
			}
			if c.DisappearAfterS != 3600 {
				return fmt.Errorf("timer %d", c.DisappearAfterS)
			}
			if n != bob && (c.MutedUntil == nil || *c.MutedUntil != muted) {
				return fmt.Errorf("muted until %v", c.MutedUntil)
			}
			return nil
		})
	}
}

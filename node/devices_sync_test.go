package node_test

import (
	"context"
	"fmt"
	"testing"

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

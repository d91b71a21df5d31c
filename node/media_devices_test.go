package node_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/petrel-chat/petrel/node/media"
	"github.com/petrel-chat/petrel/node/nodetest"
)

// TestLinkedDevicesOpenAttachments: an attachment reaches every device of both people
// straight from the device that sent it (no relay holds a copy here): alice's file opens
// on bob and on bob's laptop, and on alice's phone as hers; a file sent from bob's laptop
// opens on alice, her phone and bob. The sending node serves a listed device of a contact,
// and its own account's other devices, as it serves the contact's primary.
func TestLinkedDevicesOpenAttachments(t *testing.T) {
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	aliceID := nodetest.UserID(t, alice)
	conv := nodetest.Befriend(t, alice, bob).ConversationID
	if _, err := alice.Client.Send(ctx, conv, "a0", "hello bob"); err != nil {
		t.Fatal(err)
	}
	convOf(t, bob, aliceID)
	if _, err := bob.Client.Send(ctx, conv, "b0", "hi"); err != nil { // bob accepts
		t.Fatal(err)
	}
	phone := linkDevice(t, alice, "alice-phone")
	laptop := linkDevice(t, bob, "bob-laptop")
	convOf(t, laptop, aliceID)

	send := func(from *nodetest.Node, name, body string, to ...*nodetest.Node) {
		t.Helper()
		file := testFile(t, 300_000) // under the auto-download limit: every device fetches it
		a, err := from.Client.UploadMedia(ctx, bytes.NewReader(file), int64(len(file)), name, "application/octet-stream")
		if err != nil {
			t.Fatal(err)
		}
		if code, m := sendAttachments(t, from.Client, conv, "att"+fmt.Sprint(len(name)), body, a.MediaID); code != http.StatusCreated && code != http.StatusOK {
			t.Fatalf("%s sends %s: %d %+v", from.Name, name, code, m)
		}
		for _, n := range to {
			got := waitAttachment(t, n, conv, body, media.Available)
			if got.SHA256 != a.SHA256 || got.Name != name || !bytes.Equal(readMedia(t, n, got.MediaID), file) {
				t.Fatalf("%s's copy of %s differs: %+v, sent %+v", n.Name, name, got, a)
			}
		}
	}
	send(alice, "from-alice.bin", "alice's file", bob, laptop, phone)
	send(laptop, "from-laptop.bin", "bob's laptop's file", alice, phone, bob)
}

package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/relay/relayserver"
	"github.com/petrel-chat/petrel/relay/relaytest"
)

// forbidden reports whether err is the API's 403.
func forbidden(err error) bool {
	var ae *localclient.APIError
	return errors.As(err, &ae) && ae.Status == http.StatusForbidden
}

// revokedEvents returns the device_revoked events in n's log.
func revokedEvents(t *testing.T, n *nodetest.Node) []api.CurrentDevice {
	t.Helper()
	var out []api.CurrentDevice
	var since uint64
	for {
		page, err := n.Client.Events(context.Background(), since, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Events {
			if ev.Kind == api.KindDeviceRevoked {
				var d api.CurrentDevice
				if err := json.Unmarshal(ev.Payload, &d); err != nil {
					t.Fatalf("device_revoked event %s: %v", ev.Payload, err)
				}
				out = append(out, d)
			}
		}
		if len(page.Events) == 0 {
			return out
		}
		since = page.Next
	}
}

// TestRevokedDeviceSaysSoAndStops: alice's tablet, with its own mailbox at a home relay,
// shows in GET /v1/me that it is an active device of her account. Alice's primary revokes
// it: a UI on the tablet's socket gets one device_revoked event naming it, GET /v1/me
// says when it was revoked, sending is refused (403), and the tablet stops draining its
// mailbox (its home relay shows as no longer connected) while its API goes on serving.
// After a restart it is still revoked and says so, and the event is not repeated.
func TestRevokedDeviceSaysSoAndStops(t *testing.T) {
	ctx := context.Background()
	cfg := relayserver.DefaultConfig()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	r := relaytest.Start(t, &cfg)
	relay := r.Info.Addrs[0]
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	conv := nodetest.Befriend(t, alice, bob).ConversationID
	tablet := linkDevice(t, alice, "alice-tablet", relay)
	nodetest.WaitRelayConnected(t, tablet, "the tablet")

	me, err := tablet.Client.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if me.Device.ID == "" || me.Device.Name != "alice-tablet" || me.Device.Primary || me.Device.RevokedAt != nil {
		t.Fatalf("the active tablet's device: %+v", me.Device)
	}
	if am, err := alice.Client.Me(ctx); err != nil || !am.Device.Primary || am.Device.RevokedAt != nil || am.Device.ID == me.Device.ID {
		t.Fatalf("alice's primary's device: %+v %v", am.Device, err)
	}

	sock, _, err := tablet.Client.Dial(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	if err := sock.Send(map[string]any{"type": "hello", "since": 0}); err != nil {
		t.Fatal(err)
	}
	before := time.Now().UnixMilli()
	if err := alice.Node.MessengerForTest().RevokeDevice(ctx, me.Device.ID); err != nil {
		t.Fatal(err)
	}
	// The socket's frames until the device_revoked event (bounded by the read deadline).
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var got api.CurrentDevice
	for {
		f, err := sock.Read(rctx)
		if err != nil {
			t.Fatalf("the tablet's socket ended before a device_revoked event: %v", err)
		}
		if f.Type != "event" {
			continue
		}
		ev, err := f.Event()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == api.KindDeviceRevoked {
			if err := json.Unmarshal(ev.Payload, &got); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if got.ID != me.Device.ID || got.RevokedAt == nil || *got.RevokedAt < before {
		t.Fatalf("the device_revoked event names %+v, want %s revoked after %d", got, me.Device.ID, before)
	}
	if me, err := tablet.Client.Me(ctx); err != nil || me.Device.RevokedAt == nil || *me.Device.RevokedAt != *got.RevokedAt {
		t.Fatalf("the revoked tablet's GET /v1/me: %+v %v", me.Device, err)
	}
	_, err = tablet.Client.Send(ctx, conv, "t1", "from a revoked tablet")
	if !forbidden(err) {
		t.Fatalf("a revoked device's send: %v, want 403 forbidden", err)
	}
	wait.For(t, "the tablet no longer drains its mailbox at its home relay", func() error {
		st, err := tablet.Client.Status(ctx)
		if err != nil {
			return err
		}
		for _, rs := range st.Relays {
			if rs.Connected {
				return fmt.Errorf("%s connected", rs.Addr)
			}
		}
		return nil
	})

	tablet.Restart()
	if me, err := tablet.Client.Me(ctx); err != nil || me.Device.RevokedAt == nil {
		t.Fatalf("the restarted revoked tablet's GET /v1/me: %+v %v", me.Device, err)
	}
	if evs := revokedEvents(t, tablet); len(evs) != 1 {
		t.Fatalf("%d device_revoked events, want one", len(evs))
	}
	if _, err := tablet.Client.Send(ctx, conv, "t2", "again"); !forbidden(err) {
		t.Fatalf("a restarted revoked device's send: %v, want 403 forbidden", err)
	}
}

// TestLinkedDeviceListsItsAddresses: a device linked with a real link (petrel init
// --link, which runs before the device listens) tells alice's primary where it listens
// once it runs; the primary signs those addresses into the device list, and bob's node —
// with no relay anywhere — dials the laptop directly: bob's message shows on it, and bob's
// outbox empties.
func TestLinkedDeviceListsItsAddresses(t *testing.T) {
	ctx := context.Background()
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	aliceID, bobID := nodetest.UserID(t, alice), nodetest.UserID(t, bob)
	conv := nodetest.Befriend(t, alice, bob).ConversationID
	if _, err := alice.Client.Send(ctx, conv, "a1", "hi bob"); err != nil {
		t.Fatal(err)
	}
	aliceAtBob := contactID(t, bob, aliceID)
	dl, err := alice.Client.LinkDevice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	laptop, _ := nodetest.StartLinked(t, "laptop", dl.Link)
	me, err := laptop.Client.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the laptop's entry in alice's list has its addresses", func() error {
		l, _, err := alice.Node.MessengerForTest().DeviceList(ctx)
		if err != nil || l == nil {
			return fmt.Errorf("%v %v", l, err)
		}
		d, ok := l.Find(me.Device.ID)
		if !ok || len(d.Addrs) == 0 {
			return fmt.Errorf("entry %+v", d)
		}
		return nil
	})
	bm := bob.Node.MessengerForTest()
	wait.For(t, "bob knows alice's two devices", func() error {
		ds, err := bm.ContactDevices(ctx, aliceAtBob)
		if err != nil || len(ds) != 2 {
			return fmt.Errorf("%d devices %v", len(ds), err)
		}
		return nil
	})
	if _, err := bob.Client.Send(ctx, conv, "b1", "to the laptop too"); err != nil {
		t.Fatal(err)
	}
	convOf(t, laptop, bobID)
	wait.For(t, "the laptop shows bob's message", func() error {
		for _, m := range messages(t, laptop.Client, conv) {
			if m.Body == "to the laptop too" && m.SenderID == bobID {
				return nil
			}
		}
		return errors.New("not yet")
	})
	wait.For(t, "bob's outbox is empty", func() error {
		if n := bm.OutboxLen(); n != 0 {
			return fmt.Errorf("%d waiting", n)
		}
		return nil
	})
}

package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"fmt"
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

package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/push"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/pushbridge/pushtest"
	"github.com/petrel-chat/petrel/relay/relayserver"
	"github.com/petrel-chat/petrel/relay/relaytest"
)

// TestPushRegistrationsReachBridges: bob registers a UnifiedPush endpoint; it reaches the
// bridge of his home relay that has one (active) and shows no_bridge at the other. While
// bob's node is stopped, alice's message wakes the endpoint with a push bob's keys decrypt
// to a sealed envelope for bob's mailbox that shows neither the text nor alice. Do-not-
// disturb reaches the relay and holds pushes back; a deleted registration is gone.
func TestPushRegistrationsReachBridges(t *testing.T) {
	ctx := context.Background()
	cfg := relaytest.Config()
	cfg.Push = &relayserver.PushConfig{AllowPrivateEndpoints: true}
	withBridge, without := relaytest.Start(t, &cfg), relaytest.Start(t, nil)
	srv := pushtest.NewPushServer(true)
	defer srv.Close()
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	bob.Stop()
	bob.Relays = []string{withBridge.Info.Addrs[0], without.Info.Addrs[0]}
	bob.Run()
	alice.Stop()
	alice.Relays = []string{withBridge.Info.Addrs[0]}
	alice.Run()

	ep := srv.NewEndpoint(nil)
	var reg api.PushRegistration
	status, err := bob.Client.DoStatus(ctx, "POST", "/v1/push/registrations", api.PushRegistrationRequest{Kind: "unifiedpush", Endpoint: ep}, &reg)
	if err != nil || status != http.StatusCreated || reg.ID == "" || reg.Keys != nil || reg.CreatedAt == 0 {
		t.Fatalf("create: %d %v %+v", status, err, reg)
	}
	var again api.PushRegistration
	if status, err := bob.Client.DoStatus(ctx, "POST", "/v1/push/registrations", api.PushRegistrationRequest{Kind: "unifiedpush", Endpoint: ep}, &again); err != nil || status != http.StatusOK || again.ID != reg.ID {
		t.Fatalf("repeat: %d %v %s", status, err, again.ID)
	}
	for _, bad := range []api.PushRegistrationRequest{
		{Kind: "pager"}, {Kind: "webpush", Endpoint: ep}, {Kind: "unifiedpush", Endpoint: "ftp://x/"},
		{Kind: "apns", Token: "xyz", Topic: "a.b"}, {Kind: "apns", Token: string(bytes.Repeat([]byte("ab"), 32))},
		{Kind: "fcm"}, {Kind: "webpush", Endpoint: ep, Keys: &api.PushKeys{P256dh: "AAAA", Auth: "AAAAAAAAAAAAAAAAAAAAAA"}},
	} {
		var e *localclient.APIError
		if _, err := bob.Client.CreatePushRegistration(ctx, bad); !errors.As(err, &e) || e.Status != 400 {
			t.Errorf("%+v: %v, want 400", bad, err)
		}
	}
	eventually(t, "the registration is active at the bridge and no_bridge at the other relay", func() error {
		regs, err := bob.Client.PushRegistrations(ctx)
		if err != nil || len(regs) != 1 {
			return fmt.Errorf("%d registrations: %v", len(regs), err)
		}
		r := regs[0]
		if r.State != "active" || len(r.Relays) != 2 || r.Relays[0].State != "active" || r.Relays[1].State != "no_bridge" {
			return fmt.Errorf("%+v", r)
		}
		return nil
	})

	toBob := befriend(t, alice, bob)
	bob.Stop()
	if _, err := alice.Client.Send(ctx, toBob.ConversationID, "c1", "a secret for bob"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	got, err := srv.WaitPushes(wctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	me, _ := alice.Client.Me(ctx)
	bob.UpdateStore(t, func(tx *store.Tx) error {
		env, err := push.OpenUnifiedPush(tx, reg.ID, got[0].Body)
		if err != nil {
			return err
		}
		if len(env) == 0 {
			return errors.New("the push carries no envelope")
		}
		for _, leak := range []string{"a secret for bob", me.UserID, me.PeerID, me.Name} {
			if bytes.Contains(env, []byte(leak)) || bytes.Contains(got[0].Body, []byte(leak)) {
				return fmt.Errorf("the push shows %q", leak)
			}
		}
		return nil
	})

	// Do-not-disturb: set, then proven at the relay by a registration handed over after it
	// in the same exchange; alice's next message is held back.
	bob.Run()
	until := time.Now().Add(time.Hour).UnixMilli()
	if err := bob.Client.SetDoNotDisturb(ctx, &until); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Push *api.PushSettings `json:"push"`
	}
	if err := bob.Client.Do(ctx, "GET", "/v1/settings", nil, &st); err != nil || st.Push == nil || st.Push.DNDUntil == nil || *st.Push.DNDUntil != until {
		t.Fatalf("settings after PUT: %+v %v", st.Push, err)
	}
	second, err := bob.Client.CreatePushRegistration(ctx, api.PushRegistrationRequest{Kind: "unifiedpush", Endpoint: srv.NewEndpoint(nil)})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second registration is active", func() error {
		regs, err := bob.Client.PushRegistrations(ctx)
		if err != nil {
			return err
		}
		for _, r := range regs {
			if r.ID == second.ID && r.Relays[0].State == "active" {
				return nil
			}
		}
		return errors.New("not yet")
	})
	bob.Stop()
	pushes := len(srv.Pushes())
	if _, err := alice.Client.Send(ctx, toBob.ConversationID, "c2", "during do-not-disturb"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the relay holds the push back", func() error {
		if v := relayMetric(t, withBridge, "petrel_push_suppressed_dnd_total"); v < 2 {
			return fmt.Errorf("suppressed %v", v)
		}
		return nil
	})
	if n := len(srv.Pushes()); n != pushes {
		t.Fatalf("%d pushes during do-not-disturb", n-pushes)
	}

	bob.Run()
	if err := bob.Client.DeletePushRegistration(ctx, reg.ID); err != nil {
		t.Fatal(err)
	}
	var e *localclient.APIError
	if err := bob.Client.DeletePushRegistration(ctx, reg.ID); !errors.As(err, &e) || e.Status != 404 {
		t.Fatalf("second delete: %v", err)
	}
	regs, _ := bob.Client.PushRegistrations(ctx)
	if len(regs) != 1 || regs[0].ID != second.ID {
		t.Fatalf("after delete: %+v", regs)
	}
}

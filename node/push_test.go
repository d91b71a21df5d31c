package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
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
	t.Parallel()
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
	wait.For(t, "the registration is active at the bridge and no_bridge at the other relay", func() error {
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

	toBob := nodetest.Befriend(t, alice, bob)
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
	wait.For(t, "the second registration is active", func() error {
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
	wait.For(t, "the relay holds the push back", func() error {
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

// TestMuteAndDoNotDisturbSettings: muted_until is stored per conversation (set, shown,
// cleared), do-not-disturb with the other settings; bad values are refused and change
// nothing; a node without home relays shows its registration dead with the reason.
func TestMuteAndDoNotDisturbSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	conv := nodetest.Befriend(t, alice, bob).ConversationID
	type muted struct {
		ID         string `json:"id"`
		MutedUntil *int64 `json:"muted_until"`
	}
	until := time.Now().Add(8 * time.Hour).UnixMilli()
	var got muted
	if err := alice.Client.Do(ctx, "PATCH", "/v1/conversations/"+conv, map[string]any{"muted_until": until}, &got); err != nil || got.MutedUntil == nil || *got.MutedUntil != until || got.ID != conv {
		t.Fatalf("mute: %+v %v", got, err)
	}
	got = muted{}
	if err := alice.Client.Do(ctx, "GET", "/v1/conversations/"+conv, nil, &got); err != nil || got.MutedUntil == nil || *got.MutedUntil != until {
		t.Fatalf("GET after mute: %+v %v", got, err)
	}
	for _, bad := range []string{`{"muted_until":-5}`, `{"muted_until":"soon"}`, `{}`} {
		status, err := alice.Client.DoStatus(ctx, "PATCH", "/v1/conversations/"+conv, json.RawMessage(bad), nil)
		if status != 400 || err == nil {
			t.Errorf("%s: %d %v, want 400", bad, status, err)
		}
	}
	if status, _ := alice.Client.DoStatus(ctx, "PATCH", "/v1/conversations/nope", map[string]any{"muted_until": until}, nil); status != 404 {
		t.Errorf("mute an unknown conversation: %d, want 404", status)
	}
	if err := alice.Client.Do(ctx, "PATCH", "/v1/conversations/"+conv, map[string]any{"muted_until": nil}, &got); err != nil || got.MutedUntil != nil {
		t.Fatalf("unmute: %+v %v", got, err)
	}

	type settings struct {
		Presence string            `json:"presence"`
		Push     *api.PushSettings `json:"push"`
	}
	var st settings
	if status, _ := alice.Client.DoStatus(ctx, "PUT", "/v1/settings", json.RawMessage(`{"presence":"nobody","push":{"dnd_until":0}}`), nil); status != 400 {
		t.Errorf("dnd_until 0: %d, want 400", status)
	}
	if err := alice.Client.Do(ctx, "GET", "/v1/settings", nil, &st); err != nil || st.Presence != "contacts" || st.Push == nil || st.Push.DNDUntil != nil {
		t.Fatalf("a refused PUT changed settings: %+v %v", st, err)
	}
	if err := alice.Client.Do(ctx, "PUT", "/v1/settings", map[string]any{"presence": "nobody", "push": map[string]any{"dnd_until": until}}, &st); err != nil || st.Presence != "nobody" || st.Push.DNDUntil == nil || *st.Push.DNDUntil != until {
		t.Fatalf("PUT presence and dnd: %+v %v", st, err)
	}
	if err := alice.Client.SetDoNotDisturb(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := alice.Client.Do(ctx, "GET", "/v1/settings", nil, &st); err != nil || st.Push.DNDUntil != nil || st.Presence != "nobody" {
		t.Fatalf("after clearing dnd: %+v %v", st, err)
	}

	reg, err := alice.Client.CreatePushRegistration(ctx, api.PushRegistrationRequest{Kind: "fcm", Token: "device-token"})
	if err != nil || reg.State != "dead" || reg.Error != "no home relays" {
		t.Fatalf("registration without relays: %+v %v", reg, err)
	}
}

// TestPushRefusedAndDeadShown: a relay that may not contact private endpoints refuses a
// loopback one (the node shows refused with the bridge's reason); at a relay that may, the
// provider's 410 makes the registration dead there, and the node shows the reason.
func TestPushRefusedAndDeadShown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	strict, lax := relaytest.Config(), relaytest.Config()
	strict.Push = &relayserver.PushConfig{}
	lax.Push = &relayserver.PushConfig{AllowPrivateEndpoints: true}
	rs, rl := relaytest.Start(t, &strict), relaytest.Start(t, &lax)
	srv := pushtest.NewPushServer(true)
	defer srv.Close()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.StartWith(t, "bob", func(c *node.Config) { c.RelayPoll = 300 * time.Millisecond })
	bob.Stop()
	bob.Relays = []string{rs.Info.Addrs[0], rl.Info.Addrs[0]}
	bob.Run()
	alice.Stop()
	alice.Relays = []string{rl.Info.Addrs[0]}
	alice.Run()
	ep := srv.NewEndpoint(nil)
	_, err := bob.Client.CreatePushRegistration(ctx, api.PushRegistrationRequest{Kind: "unifiedpush", Endpoint: ep})
	if err != nil {
		t.Fatal(err)
	}
	state := func() (api.PushRegistration, error) {
		regs, err := bob.Client.PushRegistrations(ctx)
		if err != nil || len(regs) != 1 {
			return api.PushRegistration{}, fmt.Errorf("%d registrations: %v", len(regs), err)
		}
		return regs[0], nil
	}
	wait.For(t, "refused at the strict relay, active at the other", func() error {
		r, err := state()
		if err != nil {
			return err
		}
		if r.Relays[0].State != "refused" || !strings.Contains(r.Relays[0].Error, "endpoint refused") || r.Relays[1].State != "active" || r.State != "active" {
			return fmt.Errorf("%+v", r)
		}
		return nil
	})
	toBob := nodetest.Befriend(t, alice, bob)
	bob.Stop()
	srv.Script(ep, pushtest.Answer{Status: http.StatusGone})
	if _, err := alice.Client.Send(ctx, toBob.ConversationID, "c1", "hi"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := srv.WaitPushes(wctx, 1); err != nil {
		t.Fatal(err)
	}
	bob.Run()
	wait.For(t, "dead with the provider's reason", func() error {
		r, err := state()
		if err != nil {
			return err
		}
		if r.State != "dead" || r.Relays[1].State != "dead" || r.Relays[1].Error != "410 Gone" {
			return fmt.Errorf("%+v", r)
		}
		return nil
	})
}

// TestPushRegistrationsBesideLastSeen: a node that remembers when a contact was last seen
// (presence, written at shutdown for the contacts online then) still takes, lists and
// hands over push registrations after a restart, and still shows the last seen time: the
// two are kept under their own store keys (they once shared "pr/", and every
// registration call answered 500 on such a node).
func TestPushRegistrationsBesideLastSeen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	nodetest.Befriend(t, alice, bob)
	nodetest.Befriend(t, bob, alice)
	wait.For(t, "alice has seen bob", func() error {
		cs, err := alice.Client.Contacts(ctx)
		if err != nil {
			return err
		}
		if len(cs) != 1 || cs[0].LastSeen == nil {
			return fmt.Errorf("contacts %+v", cs)
		}
		return nil
	})
	alice.Stop() // bob is online: his last seen time is written now
	alice.Run()
	reg, err := alice.Client.CreatePushRegistration(ctx, api.PushRegistrationRequest{Kind: "fcm", Token: "device-token"})
	if err != nil {
		t.Fatalf("registering a push beside a stored last seen: %v", err)
	}
	regs, err := alice.Client.PushRegistrations(ctx)
	if err != nil || len(regs) != 1 || regs[0].ID != reg.ID {
		t.Fatalf("registrations %+v %v", regs, err)
	}
	alice.Stop()
	alice.Run()
	if regs, err := alice.Client.PushRegistrations(ctx); err != nil || len(regs) != 1 || regs[0].ID != reg.ID {
		t.Fatalf("registrations after a restart %+v %v", regs, err)
	}
	cs, err := alice.Client.Contacts(ctx)
	if err != nil || len(cs) != 1 || cs[0].LastSeen == nil {
		t.Fatalf("bob's last seen is gone: %+v %v", cs, err)
	}
}

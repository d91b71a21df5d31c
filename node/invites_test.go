package node_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/invite"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// shiftedClock is a node clock that a test moves forward.
type shiftedClock struct{ offset atomic.Int64 }

func (c *shiftedClock) now() time.Time             { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *shiftedClock) advance(d time.Duration)    { c.offset.Add(int64(d)) }
func (c *shiftedClock) configure(cfg *node.Config) { cfg.Now = c.now }

func createInvite(t *testing.T, n *nodetest.Node, body any) api.Invite {
	t.Helper()
	var inv api.Invite
	if status, err := n.Client.DoStatus(context.Background(), "POST", "/v1/invites", body, &inv); err != nil || status != 200 {
		t.Fatalf("POST /v1/invites %v: %d %v", body, status, err)
	}
	return inv
}

func liveInvites(t *testing.T, n *nodetest.Node) []api.Invite {
	t.Helper()
	var l api.InviteList
	if err := n.Client.Do(context.Background(), "GET", "/v1/invites", nil, &l); err != nil {
		t.Fatal(err)
	}
	return l.Invites
}

// POST /v1/invites keeps its answer and adds id and expires_at; GET lists the live ones;
// DELETE revokes.
func TestInvitesExpireListAndRevoke(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")

	before := time.Now()
	def := createInvite(t, alice, nil)
	if def.Link == "" || !strings.HasPrefix(def.QRSVG, "<svg") || len(def.ID) != 32 {
		t.Fatalf("default invite: %+v", def)
	}
	week := 7 * 24 * time.Hour
	if got := time.UnixMilli(def.ExpiresAt).Sub(time.UnixMilli(def.CreatedAt)); got != week {
		t.Fatalf("default lifetime %v, want %v", got, week)
	}
	if time.UnixMilli(def.CreatedAt).Before(before.Add(-time.Second)) {
		t.Fatalf("created_at %d before the request", def.CreatedAt)
	}
	parsed, err := invite.Parse(def.Link)
	if err != nil || parsed.Expires.UnixMilli() != def.ExpiresAt || fmt.Sprintf("%x", parsed.ID) != def.ID {
		t.Fatalf("the link carries id %x expires %v (%v); the answer %s %d", parsed.ID, parsed.Expires, err, def.ID, def.ExpiresAt)
	}
	hour := createInvite(t, alice, map[string]any{"expires_in_s": 3600})
	if hour.ExpiresAt-hour.CreatedAt != 3600_000 {
		t.Fatalf("an hour's invite lasts %d ms", hour.ExpiresAt-hour.CreatedAt)
	}
	for _, bad := range []any{map[string]any{"expires_in_s": 30}, map[string]any{"expires_in_s": -5},
		map[string]any{"expires_in_s": 91 * 24 * 3600}, map[string]any{"expires_in_s": "soon"}} {
		status, err := alice.Client.DoStatus(ctx, "POST", "/v1/invites", bad, nil)
		if status != 400 || err == nil || !strings.Contains(err.Error(), "second") && !strings.Contains(err.Error(), "JSON") {
			t.Fatalf("POST /v1/invites %v: %d %v, want 400 with a sentence", bad, status, err)
		}
	}

	live := liveInvites(t, alice)
	if len(live) != 2 || live[0].ID != hour.ID || live[1].ID != def.ID || live[0].Link != hour.Link || live[0].QRSVG != "" {
		t.Fatalf("live invites: %+v", live)
	}
	if status, err := alice.Client.DoStatus(ctx, "DELETE", "/v1/invites/"+def.ID, nil, nil); status != 204 || err != nil {
		t.Fatalf("revoke: %d %v", status, err)
	}
	if live := liveInvites(t, alice); len(live) != 1 || live[0].ID != hour.ID {
		t.Fatalf("after revoking: %+v", live)
	}
	if status, _ := alice.Client.DoStatus(ctx, "DELETE", "/v1/invites/"+def.ID, nil, nil); status != 404 {
		t.Fatalf("revoking twice: %d, want 404", status)
	}
}

// refusedRequest has bob send alice a message under link and checks that it fails with a
// sentence naming the invite, and that alice's node made no contact of it.
func refusedRequest(t *testing.T, alice, bob *nodetest.Node, link, clientID string) {
	t.Helper()
	ctx := context.Background()
	var c api.Contact
	if err := bob.Client.Do(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: link}, &c); err != nil {
		t.Fatalf("bob adds the link: %v", err)
	}
	var m api.Message
	if err := bob.Client.Do(ctx, "POST", "/v1/conversations/"+c.ConversationID+"/messages",
		api.SendRequest{ClientMsgID: clientID, Body: "hi, it's bob"}, &m); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "bob's request is refused", func() error {
		for _, got := range messages(t, bob.Client, c.ConversationID) {
			if got.ID == m.ID && got.Status == api.StatusFailed {
				if !strings.Contains(got.Error, "revoked or has expired") {
					return fmt.Errorf("failed with %q", got.Error)
				}
				return nil
			}
		}
		return fmt.Errorf("not failed yet")
	})
	cs, err := alice.Client.Contacts(ctx)
	if err != nil || len(cs) != 0 {
		t.Fatalf("alice's contacts after a refused request: %+v %v", cs, err)
	}
}

// Attack: a revoked invite replayed. Bob's node may add it (the link itself is genuine),
// but alice's node refuses the request it carries; a fresh link then works.
func TestRevokedInviteRefusedByInviter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	old := createInvite(t, alice, nil)
	if err := alice.Client.Do(ctx, "DELETE", "/v1/invites/"+old.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	refusedRequest(t, alice, bob, old.Link, "r1")

	fresh := createInvite(t, alice, nil)
	var c api.Contact
	if err := bob.Client.Do(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: fresh.Link}, &c); err != nil {
		t.Fatal(err)
	}
	if err := bob.Client.Do(ctx, "POST", "/v1/conversations/"+c.ConversationID+"/messages",
		api.SendRequest{ClientMsgID: "r2", Body: "with the new link"}, nil); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "alice gets bob's request under the fresh invite", func() error {
		cs, err := alice.Client.Contacts(ctx)
		if err != nil {
			return err
		}
		if len(cs) != 1 || cs[0].Request != api.RequestPending {
			return fmt.Errorf("contacts %+v", cs)
		}
		return nil
	})
}

// Attack: an expired link. The inviter's node refuses the request once it has expired;
// the adding side refuses the link itself with 400 and a sentence.
func TestExpiredInviteRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var clock shiftedClock
	alice := nodetest.StartWith(t, "alice", clock.configure)
	bob := nodetest.Start(t, "bob")
	inv := createInvite(t, alice, map[string]any{"expires_in_s": 60})

	// Bob adds it while it is valid (his clock); it expires at alice's before he writes.
	clock.advance(2 * time.Minute)
	if live := liveInvites(t, alice); len(live) != 0 {
		t.Fatalf("an expired invite is still listed: %+v", live)
	}
	refusedRequest(t, alice, bob, inv.Link, "e1")

	// Carol's clock is past the expiry: her node refuses the link.
	var late shiftedClock
	late.advance(2 * time.Minute)
	carol := nodetest.StartWith(t, "carol", late.configure)
	inv2 := createInvite(t, bob, map[string]any{"expires_in_s": 60})
	status, err := carol.Client.DoStatus(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv2.Link}, nil)
	if status != 400 || err == nil || !strings.Contains(err.Error(), "expired on") || !strings.Contains(err.Error(), "new one") {
		t.Fatalf("adding an expired link: %d %v, want 400 with a sentence", status, err)
	}
	if cs, _ := carol.Client.Contacts(ctx); len(cs) != 0 {
		t.Fatalf("an expired link made a contact: %+v", cs)
	}
}

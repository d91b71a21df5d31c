package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// convMute is what a UI reads of a Conversation object to show a mute: muted_until must be
// present (null when not muted) on every one.
type convMute struct {
	ID         string           `json:"id"`
	MutedUntil *json.RawMessage `json:"muted_until"`
}

// muteOf returns a conversation object's muted_until as JSON ("null" when not muted), or
// fails the test when the object does not carry the field at all.
func muteOf(t *testing.T, where string, raw json.RawMessage) (id, mute string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	v, ok := m["muted_until"]
	if !ok {
		t.Fatalf("%s: the conversation has no muted_until: %s", where, raw)
	}
	var cid string
	_ = json.Unmarshal(m["id"], &cid)
	return cid, string(v)
}

// listMutes returns muted_until of every conversation in GET /v1/conversations.
func listMutes(t *testing.T, cl *localclient.Client) map[string]string {
	t.Helper()
	var page struct {
		Conversations []json.RawMessage `json:"conversations"`
	}
	if err := cl.Do(context.Background(), "GET", "/v1/conversations", nil, &page); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range page.Conversations {
		id, m := muteOf(t, "GET /v1/conversations", c)
		out[id] = m
	}
	return out
}

// lastConvEvent waits for a conversation event about conv after seq *since that match
// accepts, and returns its muted_until; *since moves past it.
func lastConvEvent(t *testing.T, cl *localclient.Client, since *uint64, conv string, match func(raw json.RawMessage) bool) string {
	t.Helper()
	var got string
	wait.For(t, "a conversation event for "+conv, func() error {
		page, err := cl.Events(context.Background(), *since, 1000)
		if err != nil {
			return err
		}
		for _, ev := range page.Events {
			*since = ev.Seq
			if ev.Kind != api.KindConversation {
				continue
			}
			id, m := muteOf(t, "conversation event", ev.Payload)
			if id == conv && match(ev.Payload) {
				got = m
				return nil
			}
		}
		return fmt.Errorf("none yet (seq %d)", *since)
	})
	return got
}

// anyConv matches every conversation object.
func anyConv(json.RawMessage) bool { return true }

// TestMuteOnEveryConversationObject: a conversation's muted_until is on every Conversation
// object the node gives a UI — the list, one conversation, the group answers, and the
// conversation events (the one the mute itself makes, and those new messages make, sent or
// received), so every UI of the node shows the mute at once and keeps showing it.
func TestMuteOnEveryConversationObject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	nodetest.Befriend(t, alice, bob)
	conv := nodetest.Befriend(t, bob, alice).ConversationID
	bobMe, err := bob.Client.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	grp, err := alice.Client.CreateGroup(ctx, "Book club", []string{bobMe.UserID})
	if err != nil {
		t.Fatal(err)
	}
	if got := listMutes(t, alice.Client); got[conv] != "null" || got[grp.ID] != "null" {
		t.Fatalf("before any mute: %v, want null for both", got)
	}
	latest, err := alice.Client.Events(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	since := latest.Next

	until := time.Now().Add(8 * time.Hour).UnixMilli()
	want := fmt.Sprint(until)
	for _, id := range []string{conv, grp.ID} {
		var c convMute
		if err := alice.Client.Do(ctx, "PATCH", "/v1/conversations/"+id, map[string]any{"muted_until": until}, &c); err != nil || c.MutedUntil == nil || string(*c.MutedUntil) != want {
			t.Fatalf("mute %s: %+v %v", id, c, err)
		}
		// Another UI of the node learns it from the socket's conversation event.
		if got := lastConvEvent(t, alice.Client, &since, id, anyConv); got != want {
			t.Fatalf("the mute's conversation event for %s says muted_until %s, want %s", id, got, want)
		}
	}
	if got := listMutes(t, alice.Client); got[conv] != want || got[grp.ID] != want {
		t.Fatalf("GET /v1/conversations after muting: %v, want %s for both", got, want)
	}
	var one json.RawMessage
	if err := alice.Client.Do(ctx, "GET", "/v1/conversations/"+grp.ID, nil, &one); err != nil {
		t.Fatal(err)
	}
	if _, m := muteOf(t, "GET /v1/conversations/{group}", one); m != want {
		t.Fatalf("GET the group: muted_until %s, want %s", m, want)
	}

	// New messages keep the mute on the conversation events they make: one bob sends
	// (received), one alice sends, and a group rename.
	m := send(t, bob.Client, conv, "b1", "hello while muted")
	if got := lastConvEvent(t, alice.Client, &since, conv, hasLast(m.ID)); got != want {
		t.Fatalf("the conversation event of a received message says muted_until %s, want %s", got, want)
	}
	mine := send(t, alice.Client, conv, "a1", "and back")
	if got := lastConvEvent(t, alice.Client, &since, conv, hasLast(mine.ID)); got != want {
		t.Fatalf("the conversation event of a sent message says muted_until %s, want %s", got, want)
	}
	var renamed json.RawMessage
	if err := alice.Client.Do(ctx, "PATCH", "/v1/conversations/"+grp.ID, map[string]any{"name": "Books"}, &renamed); err != nil {
		t.Fatal(err)
	}
	if _, m := muteOf(t, "rename answer", renamed); m != want {
		t.Fatalf("the rename's answer says muted_until %s, want %s", m, want)
	}
	var members json.RawMessage
	if err := alice.Client.Do(ctx, "POST", "/v1/conversations/"+grp.ID+"/members", api.MembersChange{Users: []string{bobMe.UserID}, Role: api.RoleAdmin}, &members); err != nil {
		t.Fatal(err)
	}
	if _, m := muteOf(t, "members answer", members); m != want {
		t.Fatalf("the role change's answer says muted_until %s, want %s", m, want)
	}

	// Unmuting shows null everywhere again.
	if err := alice.Client.Do(ctx, "PATCH", "/v1/conversations/"+conv, map[string]any{"muted_until": nil}, nil); err != nil {
		t.Fatal(err)
	}
	if got := lastConvEvent(t, alice.Client, &since, conv, anyConv); got != "null" {
		t.Fatalf("the unmute's conversation event says muted_until %s, want null", got)
	}
	if got := listMutes(t, alice.Client); got[conv] != "null" || got[grp.ID] != want {
		t.Fatalf("after unmuting the direct chat: %v", got)
	}
	// A mute on one node is that node's: bob's conversations are not muted.
	for id, m := range listMutes(t, bob.Client) {
		if m != "null" {
			t.Fatalf("bob's conversation %s: muted_until %s, want null", id, m)
		}
	}
}

// hasLast matches a conversation object whose last message is id.
func hasLast(id string) func(json.RawMessage) bool {
	return func(raw json.RawMessage) bool {
		var c api.Conversation
		return json.Unmarshal(raw, &c) == nil && c.LastMessage != nil && c.LastMessage.ID == id
	}
}

// send posts a message over the API.
func send(t *testing.T, cl *localclient.Client, conv, cmid, body string) api.Message {
	t.Helper()
	m, err := cl.Send(context.Background(), conv, cmid, body)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/relay/relayserver"
	"github.com/petrel-chat/petrel/relay/relaytest"
)

// setDisappear is PATCH /v1/conversations/{id} {"disappear_after_s":secs} on n: the status
// and the conversation answered.
func setDisappear(t *testing.T, n *nodetest.Node, conv string, secs int64) (int, api.Conversation) {
	t.Helper()
	var c api.Conversation
	status, err := n.Client.DoStatus(context.Background(), "PATCH", "/v1/conversations/"+conv,
		map[string]any{"disappear_after_s": secs}, &c)
	if err != nil && status < 400 {
		t.Fatal(err)
	}
	return status, c
}

// waitTimer waits until n sees conversation conv with timer secs and the system line
// saying so.
func waitTimer(t *testing.T, n *nodetest.Node, conv string, secs int64, line string) {
	t.Helper()
	wait.For(t, n.Name+" sees the timer", func() error {
		c, err := n.Client.Conversation(context.Background(), conv)
		if err != nil {
			return err
		}
		if c.DisappearAfterS != secs {
			return fmt.Errorf("disappear_after_s %d, want %d", c.DisappearAfterS, secs)
		}
		for _, m := range messages(t, n.Client, conv) {
			if m.System && m.Body == line {
				return nil
			}
		}
		return fmt.Errorf("no system line %q", line)
	})
}

// findBody is the message of conv on n with body, or nil.
func findBody(t *testing.T, n *nodetest.Node, conv, body string) *api.Message {
	t.Helper()
	for _, m := range messages(t, n.Client, conv) {
		if m.Body == body {
			return &m
		}
	}
	return nil
}

// deletedUpdate reports whether n's event log holds a message_update of message id with
// deleted true and an empty body.
func deletedUpdate(t *testing.T, n *nodetest.Node, id string) bool {
	t.Helper()
	page, err := n.Client.Events(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range page.Events {
		if ev.Kind != api.KindMessageUpdate {
			continue
		}
		var m api.Message
		if err := json.Unmarshal(ev.Payload, &m); err != nil {
			t.Fatal(err)
		}
		if m.ID == id && m.Deleted && m.Body == "" {
			return true
		}
	}
	return false
}

func TestDisappearingMessagesDirectChat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	if _, err := alice.Client.SetName(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	bobAtAlice, aliceAtBob := nodetest.BefriendBoth(t, alice, bob)
	conv, bconv := bobAtAlice.ConversationID, aliceAtBob.ConversationID

	// Out of range: 400, nothing changed.
	for _, secs := range []int64{-1, 1, 4, 90*86400 + 1} {
		if status, _ := setDisappear(t, alice, conv, secs); status != 400 {
			t.Fatalf("disappear_after_s %d: %d, want 400", secs, status)
		}
	}
	// 20 s: long enough that bob's restart below ends well within the timer.
	if status, c := setDisappear(t, alice, conv, 20); status != 200 || c.DisappearAfterS != 20 {
		t.Fatalf("set 20 s: %d %+v", status, c)
	}
	waitTimer(t, alice, conv, 20, "Alice set messages to disappear after 20 seconds")
	waitTimer(t, bob, bconv, 20, "Alice set messages to disappear after 20 seconds")

	sent, err := alice.Client.Send(ctx, conv, "d1", "a secret that disappears")
	if err != nil {
		t.Fatal(err)
	}
	if sent.ExpiresAt == nil || *sent.ExpiresAt != sent.SentAt+20000 || sent.DisappearAfterS != 20 {
		t.Fatalf("sender's expires_at %v, sent_at %d, timer %d", sent.ExpiresAt, sent.SentAt, sent.DisappearAfterS)
	}
	var got *api.Message
	wait.For(t, "bob gets the message", func() error {
		if got = findBody(t, bob, bconv, "a secret that disappears"); got == nil {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if got.ExpiresAt != nil || got.DisappearAfterS != 20 {
		t.Fatalf("unread at bob: expires_at %v, timer %d (the timer starts when read)", got.ExpiresAt, got.DisappearAfterS)
	}
	if err := bob.Client.MarkRead(ctx, bconv, got.ID); err != nil {
		t.Fatal(err)
	}
	read := findBody(t, bob, bconv, "a secret that disappears")
	if read == nil || read.ExpiresAt == nil {
		t.Fatalf("read at bob: %+v", read)
	}
	// A restart during the timer: the stored expiry stands and the loop picks it up.
	bob.Restart()
	after := findBody(t, bob, bconv, "a secret that disappears")
	if after == nil || after.ExpiresAt == nil || *after.ExpiresAt != *read.ExpiresAt {
		t.Fatalf("after a restart within the timer: %+v (expires_at %d before)", after, *read.ExpiresAt)
	}

	for _, n := range []struct {
		nd       *nodetest.Node
		conv, id string
	}{{alice, conv, sent.ID}, {bob, bconv, got.ID}} {
		wait.For(t, n.nd.Name+" deletes the message at its expiry", func() error {
			if findBody(t, n.nd, n.conv, "a secret that disappears") != nil {
				return fmt.Errorf("still there")
			}
			if !deletedUpdate(t, n.nd, n.id) {
				return fmt.Errorf("no message_update with deleted")
			}
			return nil
		})
		if hits, err := n.nd.Client.Search(ctx, "secret", "", 10); err != nil || len(hits) != 0 {
			t.Fatalf("%s finds the expired message: %v %+v", n.nd.Name, err, hits)
		}
	}

	// Off again: later messages have no timer.
	if status, c := setDisappear(t, bob, bconv, 0); status != 200 || c.DisappearAfterS != 0 {
		t.Fatalf("off: %d %+v", status, c)
	}
	waitTimer(t, alice, conv, 0, "bob turned off disappearing messages")
	kept, err := alice.Client.Send(ctx, conv, "d2", "this one stays")
	if err != nil || kept.ExpiresAt != nil || kept.DisappearAfterS != 0 {
		t.Fatalf("after off: %v %+v", err, kept)
	}
}

func TestDisappearingMessagesGroupAdminsOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nodes := startNodes(t, 3, nil)
	if _, err := nodes[0].Client.SetName(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	gid, _ := makeGroup(t, nodes, "timers")
	if status, _ := setDisappear(t, nodes[1], gid, 30); status != 403 {
		t.Fatalf("a member sets the timer: %d, want 403", status)
	}
	if status, _ := setDisappear(t, nodes[0], gid, 3); status != 400 {
		t.Fatalf("3 s: %d, want 400", status)
	}
	if status, c := setDisappear(t, nodes[0], gid, 5); status != 200 || c.DisappearAfterS != 5 {
		t.Fatalf("the admin sets 5 s: %d %+v", status, c)
	}
	for _, n := range nodes {
		waitTimer(t, n, gid, 5, "Alice set messages to disappear after 5 seconds")
	}
	sent, err := nodes[0].Client.Send(ctx, gid, "g1", "group secret")
	if err != nil || sent.ExpiresAt == nil {
		t.Fatalf("send: %v %+v", err, sent)
	}
	// nodes[1] reads it; nodes[2] does not, so its copy keeps no running timer.
	var atOne *api.Message
	wait.For(t, "the members get the message", func() error {
		for _, n := range nodes[1:] {
			if findBody(t, n, gid, "group secret") == nil {
				return fmt.Errorf("%s: not yet", n.Name)
			}
		}
		atOne = findBody(t, nodes[1], gid, "group secret")
		return nil
	})
	if err := nodes[1].Client.MarkRead(ctx, gid, atOne.ID); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[:2] {
		wait.For(t, n.Name+" deletes the message at its expiry", func() error {
			if findBody(t, n, gid, "group secret") != nil {
				return fmt.Errorf("still there")
			}
			return nil
		})
	}
	unread := findBody(t, nodes[2], gid, "group secret")
	if unread == nil || unread.ExpiresAt != nil {
		t.Fatalf("the unread copy: %+v", unread)
	}
	// The change shows once on each member's node (the refused attempt left no trace).
	lines := func(n *nodetest.Node) int {
		return len(slices.DeleteFunc(messages(t, n.Client, gid), func(m api.Message) bool {
			return !m.System || !strings.Contains(m.Body, "disappear")
		}))
	}
	if got := lines(nodes[2]); got != 1 {
		t.Fatalf("%d timer lines at a member, want 1", got)
	}
}

// TestDisappearingMailExpiresAtTheRelay: bob is offline; alice's disappearing message
// waits in his relay mailbox carrying its expiry, and the relay drops it then (without the
// expiry the relay would keep it for its mailbox TTL, days). Bob, back after the expiry,
// never shows it; a message without a timer sent meanwhile still arrives.
func TestDisappearingMailExpiresAtTheRelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := relayserver.DefaultConfig()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	r := relaytest.Start(t, &cfg)
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	bob.Stop()
	bob.Relays = []string{r.Info.Addrs[0]}
	bob.Run()
	nodetest.WaitRelayConnected(t, bob, "bob")
	toBob, _ := nodetest.BefriendBoth(t, alice, bob)
	conv := toBob.ConversationID
	if status, _ := setDisappear(t, alice, conv, 5); status != 200 {
		t.Fatalf("set: %d", status)
	}
	waitTimer(t, bob, toBob.ConversationID, 5, "alice set messages to disappear after 5 seconds")
	bob.Stop()
	sent, err := alice.Client.Send(ctx, conv, "x1", "mail that must not outlive its timer")
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the relay holds the mail", func() error {
		if got := r.Stats().Messages; got != 1 {
			return fmt.Errorf("the relay holds %d", got)
		}
		return nil
	})
	wait.For(t, "alice's message is sent (deposited)", allStatus(t, alice.Client, conv, api.StatusSent))
	wait.For(t, "the relay drops the mail at its expiry", func() error {
		if _, err := r.Server.PurgeNow(ctx); err != nil {
			return err
		}
		if got := r.Stats().Messages; got != 0 {
			return fmt.Errorf("the relay still holds %d (expires %d)", got, *sent.ExpiresAt)
		}
		return nil
	})
	if status, _ := setDisappear(t, alice, conv, 0); status != 200 {
		t.Fatalf("off: %d", status)
	}
	if _, err := alice.Client.Send(ctx, conv, "x2", "this one waits"); err != nil {
		t.Fatal(err)
	}
	bob.Run()
	bconv := ""
	cs, err := bob.Client.Contacts(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("bob's contacts: %v %v", cs, err)
	}
	bconv = cs[0].ConversationID
	wait.For(t, "bob gets the message without a timer", func() error {
		if findBody(t, bob, bconv, "this one waits") == nil {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if m := findBody(t, bob, bconv, "mail that must not outlive its timer"); m != nil {
		t.Fatalf("bob shows the expired message: %+v", m)
	}
}

// TestDisappearingMessageArrivingAfterItsExpiryIsNeverShown: bob's clock is an hour ahead,
// so alice's 30-second message has expired by his clock when it arrives (as for a member
// back after the expiry): his node drops it at once. A message without a timer sent after
// it arrives, so the first was received and dropped, not lost in transit.
func TestDisappearingMessageArrivingAfterItsExpiryIsNeverShown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.StartWith(t, "bob", func(c *node.Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Hour) }
	})
	toBob, toAlice := nodetest.BefriendBoth(t, alice, bob)
	conv, bconv := toBob.ConversationID, toAlice.ConversationID
	if status, _ := setDisappear(t, alice, conv, 30); status != 200 {
		t.Fatalf("set: %d", status)
	}
	waitTimer(t, bob, bconv, 30, "alice set messages to disappear after 30 seconds")
	if _, err := alice.Client.Send(ctx, conv, "l1", "too late to be read"); err != nil {
		t.Fatal(err)
	}
	if status, _ := setDisappear(t, alice, conv, 0); status != 200 {
		t.Fatalf("off: %d", status)
	}
	if _, err := alice.Client.Send(ctx, conv, "l2", "on time"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "bob gets the later message", func() error {
		if findBody(t, bob, bconv, "on time") == nil {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if m := findBody(t, bob, bconv, "too late to be read"); m != nil {
		t.Fatalf("bob shows a message that expired before it arrived: %+v", m)
	}
	page, err := bob.Client.Events(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range page.Events {
		if strings.Contains(string(ev.Payload), "too late to be read") {
			t.Fatalf("bob's event log carries the expired message: %s", ev.Payload)
		}
	}
}

// TestDisappearingGroupMailExpiresAtTheRelay: a group member is offline behind a relay; the
// admin's disappearing message is fanned out to the relay (a multi deposit) carrying the
// message's expiry, and the relay drops it then (without it, the relay would keep it for
// its mailbox TTL, days). The member, back after the expiry, never shows it; a message
// without a timer sent meanwhile arrives.
func TestDisappearingGroupMailExpiresAtTheRelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := relayserver.DefaultConfig()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	r := relaytest.Start(t, &cfg)
	nodes := startNodes(t, 3, fast(300*time.Millisecond))
	away := nodes[2]
	away.Stop()
	away.Relays = []string{r.Info.Addrs[0]}
	away.Run()
	if _, err := nodes[0].Client.SetName(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	gid, _ := makeGroup(t, nodes, "mail that expires")
	if status, _ := setDisappear(t, nodes[0], gid, 5); status != 200 {
		t.Fatalf("set: %d", status)
	}
	for _, n := range nodes {
		waitTimer(t, n, gid, 5, "Alice set messages to disappear after 5 seconds")
	}
	away.Stop()
	const secret = "group mail that must not outlive its timer"
	sent, err := nodes[0].Client.Send(ctx, gid, "gx1", secret)
	if err != nil {
		t.Fatal(err)
	}
	// The relay may also hold pairwise mail for the member (the group's log, a receipt);
	// the group message is the one shared body of a multi deposit.
	wait.For(t, "the relay holds the group mail", func() error {
		if st := r.Stats(); st.SharedBodies != 1 || st.Messages < 1 {
			return fmt.Errorf("the relay holds %d messages, %d shared bodies", st.Messages, st.SharedBodies)
		}
		return nil
	})
	wait.For(t, "the relay drops the group mail at its expiry", func() error {
		if _, err := r.Server.PurgeNow(ctx); err != nil {
			return err
		}
		if st := r.Stats(); st.SharedBodies != 0 {
			return fmt.Errorf("the relay still holds the group mail (expires %d)", *sent.ExpiresAt)
		}
		return nil
	})
	if status, _ := setDisappear(t, nodes[0], gid, 0); status != 200 {
		t.Fatalf("off: %d", status)
	}
	if _, err := nodes[0].Client.Send(ctx, gid, "gx2", "this group message waits"); err != nil {
		t.Fatal(err)
	}
	away.Run()
	wait.For(t, "the member gets the message without a timer", func() error {
		if findBody(t, away, gid, "this group message waits") == nil {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if m := findBody(t, away, gid, secret); m != nil {
		t.Fatalf("the member shows the expired message: %+v", m)
	}
}

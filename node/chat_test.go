package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// allStatus returns a check for wait.For: every message of conv on cl has status.
func allStatus(t *testing.T, cl *localclient.Client, conv, status string) func() error {
	return func() error {
		for _, m := range messages(t, cl, conv) {
			if m.Status != status {
				return fmt.Errorf("%q is %s %s", m.Body, m.Status, m.Error)
			}
		}
		return nil
	}
}

// messages returns every message of a conversation in order.
func messages(t *testing.T, cl *localclient.Client, conv string) []api.Message {
	t.Helper()
	var all []api.Message
	before := ""
	for {
		p, err := cl.Messages(context.Background(), conv, before, "", 200)
		if err != nil {
			t.Fatal(err)
		}
		all = append(p.Messages, all...)
		if !p.HasMore || len(p.Messages) == 0 {
			return all
		}
		before = p.Messages[0].ID
	}
}

func TestTwoNodesChatBothWays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	if _, err := alice.Client.SetName(ctx, "Alice Liddell"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Client.SetName(ctx, "Bob Builder"); err != nil {
		t.Fatal(err)
	}
	bobAtAlice := nodetest.Befriend(t, alice, bob)
	if bobAtAlice.Name != "Bob Builder" || bobAtAlice.Request != api.RequestAccepted {
		t.Fatalf("contact from the invite: %+v", bobAtAlice)
	}
	conv := bobAtAlice.ConversationID

	// Alice writes first; a repeat of the same client_msg_id returns the original.
	var first api.Message
	status, err := alice.Client.DoStatus(ctx, "POST", "/v1/conversations/"+conv+"/messages",
		api.SendRequest{ClientMsgID: "c1", Body: "hello bob"}, &first)
	if err != nil || status != 201 || first.Status != api.StatusPending && first.Status != api.StatusSent {
		t.Fatalf("send: %d %v %+v", status, err, first)
	}
	var repeat api.Message
	status, err = alice.Client.DoStatus(ctx, "POST", "/v1/conversations/"+conv+"/messages",
		api.SendRequest{ClientMsgID: "c1", Body: "hello bob"}, &repeat)
	if err != nil || status != 200 || repeat.ID != first.ID {
		t.Fatalf("repeat send: %d %v, id %s then %s", status, err, first.ID, repeat.ID)
	}

	// Bob gets a message request from Alice with her message.
	var aliceAtBob api.Contact
	wait.For(t, "bob gets alice as a contact", func() error {
		cs, err := bob.Client.Contacts(ctx)
		if err != nil {
			return err
		}
		if len(cs) != 1 {
			return fmt.Errorf("%d contacts", len(cs))
		}
		aliceAtBob = cs[0]
		if aliceAtBob.Name != "Alice Liddell" {
			return fmt.Errorf("name %q", aliceAtBob.Name)
		}
		return nil
	})
	if aliceAtBob.Request != api.RequestPending || aliceAtBob.ConversationID != conv {
		t.Fatalf("alice at bob: %+v (conversation %s)", aliceAtBob, conv)
	}
	if aliceAtBob.SafetyNumber == "" || aliceAtBob.SafetyNumber != bobAtAlice.SafetyNumber {
		t.Fatalf("safety numbers differ: %q vs %q", aliceAtBob.SafetyNumber, bobAtAlice.SafetyNumber)
	}
	var got api.Message
	wait.For(t, "bob receives the message", func() error {
		ms := messages(t, bob.Client, conv)
		if len(ms) != 1 {
			return fmt.Errorf("%d messages", len(ms))
		}
		got = ms[0]
		return nil
	})
	if got.ID != first.ID || got.Body != "hello bob" || got.Order != first.Order || got.SenderID != first.SenderID {
		t.Fatalf("bob got %+v, alice sent %+v", got, first)
	}
	wait.For(t, "alice sees delivered", func() error {
		ms := messages(t, alice.Client, conv)
		if ms[0].Status != api.StatusDelivered {
			return fmt.Errorf("status %s", ms[0].Status)
		}
		return nil
	})
	page, err := bob.Client.Conversations(ctx, "", 0)
	if err != nil || len(page.Conversations) != 1 || page.Conversations[0].UnreadCount != 1 ||
		page.Conversations[0].LastMessage == nil || page.Conversations[0].LastMessage.ID != first.ID {
		t.Fatalf("bob's conversation list: %+v %v", page, err)
	}

	// Bob answers (accepting the request) and reads; Alice's message turns read.
	reply, err := bob.Client.Send(ctx, conv, "b1", "hi alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.Client.MarkRead(ctx, conv, first.ID); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "alice sees read and gets the reply", func() error {
		ms := messages(t, alice.Client, conv)
		if len(ms) != 2 {
			return fmt.Errorf("%d messages", len(ms))
		}
		if ms[0].Status != api.StatusRead || ms[1].ID != reply.ID || ms[1].Body != "hi alice" {
			return fmt.Errorf("alice sees %s / %+v", ms[0].Status, ms[1])
		}
		return nil
	})
	page, _ = bob.Client.Conversations(ctx, "", 0)
	if page.Conversations[0].UnreadCount != 0 {
		t.Fatalf("unread after read: %d", page.Conversations[0].UnreadCount)
	}

	// Edits, reactions and delete-for-everyone reach the other side.
	if _, err := alice.Client.Edit(ctx, first.ID, "hello bob (edited)"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Client.React(ctx, reply.ID, "👍", false); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Client.Edit(ctx, first.ID, "not mine"); err == nil {
		t.Fatal("bob edited alice's message")
	}
	wait.For(t, "edit and reaction reach bob", func() error {
		ms := messages(t, bob.Client, conv)
		if ms[0].Body != "hello bob (edited)" || ms[0].EditedAt == nil {
			return fmt.Errorf("edit not applied: %+v", ms[0])
		}
		if r := ms[1].Reactions["👍"]; len(r) != 1 || r[0] != first.SenderID {
			return fmt.Errorf("reactions %v", ms[1].Reactions)
		}
		return nil
	})
	if _, err := bob.Client.Delete(ctx, reply.ID, true); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "delete reaches alice", func() error {
		ms := messages(t, alice.Client, conv)
		if !ms[1].Deleted || ms[1].Body != "" {
			return fmt.Errorf("not deleted: %+v", ms[1])
		}
		return nil
	})
	res, err := bob.Client.Search(ctx, "EDITED", "", 0)
	if err != nil || len(res) != 1 || res[0].ID != first.ID {
		t.Fatalf("search: %v %+v", err, res)
	}

	// Nothing plaintext in either data directory.
	alice.Stop()
	bob.Stop()
	for _, n := range []*nodetest.Node{alice, bob} {
		nodetest.NoPlaintext(t, n.Dir, "hello bob", "hi alice", "Alice Liddell", "Bob Builder", nodetest.Passphrase)
	}
}

func TestBurstArrivesOnceInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	conv := nodetest.Befriend(t, alice, bob).ConversationID
	const n = 300
	sent := make([]string, 0, n)
	// Both sides write at once, so the two streams interleave.
	errc := make(chan error, 1)
	bobSent := 0
	go func() {
		for i := range n / 3 {
			if _, err := bob.Client.Send(ctx, conv, fmt.Sprintf("b%d", i), fmt.Sprintf("bob %d", i)); err != nil {
				var ae *localclient.APIError
				if errors.As(err, &ae) && ae.Status == 404 {
					// bob does not know the conversation until alice's first message.
					time.Sleep(20 * time.Millisecond)
					continue
				}
				errc <- err
				return
			}
			bobSent++
		}
		errc <- nil
	}()
	for i := range n {
		m, err := alice.Client.Send(ctx, conv, fmt.Sprintf("a%d", i), fmt.Sprintf("alice %d", i))
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m.ID)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	var am, bm []api.Message
	wait.For(t, "both sides hold the same history", func() error {
		am, bm = messages(t, alice.Client, conv), messages(t, bob.Client, conv)
		if len(am) != n+bobSent || len(bm) != n+bobSent {
			return fmt.Errorf("alice has %d messages, bob %d, of %d", len(am), len(bm), n+bobSent)
		}
		return nil
	})
	ids := func(ms []api.Message) []string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = m.ID
		}
		return out
	}
	if !slices.Equal(ids(am), ids(bm)) {
		t.Fatal("alice and bob order the conversation differently")
	}
	// Paging: a limit over 200 is 200 (API.md: limit ≤ 200), and before+after together give
	// the messages between the two, from the earlier one on.
	p, err := alice.Client.Messages(ctx, conv, "", "", 500)
	if err != nil || len(p.Messages) != 200 || !p.HasMore || !slices.Equal(ids(p.Messages), ids(am[len(am)-200:])) {
		t.Fatalf("limit 500: %d messages, has_more %v, %v", len(p.Messages), p.HasMore, err)
	}
	p, err = alice.Client.Messages(ctx, conv, am[100].ID, am[10].ID, 50)
	if err != nil || !slices.Equal(ids(p.Messages), ids(am[11:61])) || !p.HasMore {
		t.Fatalf("between 10 and 100, 50 of them: %d messages, has_more %v, %v", len(p.Messages), p.HasMore, err)
	}
	p, err = alice.Client.Messages(ctx, conv, am[100].ID, am[10].ID, 200)
	if err != nil || !slices.Equal(ids(p.Messages), ids(am[11:100])) || p.HasMore {
		t.Fatalf("between 10 and 100: %d messages, has_more %v, %v", len(p.Messages), p.HasMore, err)
	}
	seen := map[string]bool{}
	var fromAlice []string
	for _, m := range bm {
		if seen[m.ID] {
			t.Fatalf("message %s twice", m.ID)
		}
		seen[m.ID] = true
		if m.Body[:5] == "alice" {
			fromAlice = append(fromAlice, m.ID)
		}
	}
	if !slices.Equal(fromAlice, sent) {
		st := map[string]int{}
		for _, m := range am {
			st[m.Status+" "+m.Error]++
		}
		t.Logf("alice %d bob %d statuses %v", len(am), len(bm), st)
		t.Fatalf("bob got %d of alice's %d messages, or in another order", len(fromAlice), len(sent))
	}
	wait.For(t, "every message delivered", func() error {
		for _, m := range messages(t, alice.Client, conv) {
			if m.Body[:5] == "alice" && m.Status != api.StatusDelivered {
				return fmt.Errorf("%s is %s", m.ID, m.Status)
			}
		}
		return nil
	})
}

// readUntil reads socket frames until match accepts one.
func readUntil(t *testing.T, s *localclient.Socket, what string, match func(localclient.Frame) bool) localclient.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		f, err := s.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(f) {
			return f
		}
	}
}

func TestSocketSendAckAndOtherUIs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	conv := nodetest.Befriend(t, alice, bob).ConversationID

	ui1, _, err := alice.Client.Dial(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ui1.Close()
	ui2, _, err := alice.Client.Dial(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ui2.Close()
	for _, s := range []*localclient.Socket{ui1, ui2} {
		if err := s.Send(map[string]any{"type": "hello", "since": 0}); err != nil {
			t.Fatal(err)
		}
		readUntil(t, s, "synced", func(f localclient.Frame) bool { return f.Type == "synced" })
	}
	send := map[string]any{"type": "send", "conversation_id": conv, "client_msg_id": "ws-1", "body": "over the socket"}
	if err := ui1.Send(send); err != nil {
		t.Fatal(err)
	}
	type ack struct {
		ClientMsgID string `json:"client_msg_id"`
		MessageID   string `json:"message_id"`
		Status      string `json:"status"`
	}
	parseAck := func(f localclient.Frame) ack {
		var a ack
		if err := json.Unmarshal(f.Raw, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	a1 := parseAck(readUntil(t, ui1, "ack", func(f localclient.Frame) bool { return f.Type == "ack" }))
	if a1.ClientMsgID != "ws-1" || a1.MessageID == "" {
		t.Fatalf("ack %+v", a1)
	}
	// The other UI sees the send as a message event.
	readUntil(t, ui2, "the message event on the other UI", func(f localclient.Frame) bool {
		if f.Type != "event" || f.Kind != api.KindMessage {
			return false
		}
		ev, err := f.Event()
		if err != nil {
			t.Fatal(err)
		}
		var m api.Message
		if err := json.Unmarshal(ev.Payload, &m); err != nil {
			t.Fatal(err)
		}
		return m.ID == a1.MessageID && m.Body == "over the socket"
	})
	// A repeat returns the original; a bad send is an error frame naming the client_msg_id.
	if err := ui1.Send(send); err != nil {
		t.Fatal(err)
	}
	if a2 := parseAck(readUntil(t, ui1, "repeat ack", func(f localclient.Frame) bool { return f.Type == "ack" })); a2.MessageID != a1.MessageID {
		t.Fatalf("repeat got %s, original %s", a2.MessageID, a1.MessageID)
	}
	if err := ui1.Send(map[string]any{"type": "send", "conversation_id": conv, "client_msg_id": "ws-2", "body": ""}); err != nil {
		t.Fatal(err)
	}
	if f := readUntil(t, ui1, "error frame", func(f localclient.Frame) bool { return f.Type == "error" }); f.Ref != "ws-2" || f.Code != "bad_request" {
		t.Fatalf("error frame %s", f.Raw)
	}
	if err := ui1.Send(map[string]any{"type": "send", "conversation_id": "nope", "client_msg_id": "ws-3", "body": "x"}); err != nil {
		t.Fatal(err)
	}
	if f := readUntil(t, ui1, "error frame", func(f localclient.Frame) bool { return f.Type == "error" }); f.Ref != "ws-3" || f.Code != "not_found" {
		t.Fatalf("error frame %s", f.Raw)
	}
	// Bob accepts alice's message request and reads: alice's UIs see the status turn to
	// read. (A pending request gets no read receipts.)
	wait.For(t, "bob has the message", func() error {
		p, err := bob.Client.Messages(ctx, conv, "", "", 0)
		if err == nil && len(p.Messages) != 1 {
			err = fmt.Errorf("%d messages", len(p.Messages))
		}
		return err
	})
	cs, err := bob.Client.Contacts(ctx)
	if err != nil || len(cs) != 1 || cs[0].Request != api.RequestPending {
		t.Fatalf("bob's contacts: %+v %v", cs, err)
	}
	accept := true
	if _, err := bob.Client.UpdateContact(ctx, cs[0].ID, api.ContactPatch{Accept: &accept}); err != nil {
		t.Fatal(err)
	}
	if err := bob.Client.MarkRead(ctx, conv, a1.MessageID); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ui2, "read status", func(f localclient.Frame) bool {
		if f.Type != "event" || f.Kind != api.KindMessageUpdate {
			return false
		}
		ev, _ := f.Event()
		var m api.Message
		json.Unmarshal(ev.Payload, &m)
		return m.ID == a1.MessageID && m.Status == api.StatusRead && m.Receipts.Read == 1
	})
}

func TestReadReceiptsSetting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	conv := nodetest.Befriend(t, alice, bob).ConversationID
	// Bob adds alice too, so he has accepted her: only the setting holds receipts back.
	inv, err := alice.Client.CreateInvite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Client.AddContact(ctx, inv.Link); err != nil {
		t.Fatal(err)
	}
	off := false
	if _, err := bob.Client.UpdateSettings(ctx, api.SettingsPatch{ReadReceipts: &off}); err != nil {
		t.Fatal(err)
	}
	m, err := alice.Client.Send(ctx, conv, "x1", "do not tell me you read this")
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, "delivered", func() error {
		ms := messages(t, alice.Client, conv)
		if ms[0].Status != api.StatusDelivered {
			return fmt.Errorf("status %s", ms[0].Status)
		}
		return nil
	})
	if err := bob.Client.MarkRead(ctx, conv, m.ID); err != nil {
		t.Fatal(err)
	}
	// A later message acts as a barrier: once it is delivered, a read receipt sent before
	// it would have arrived too.
	if _, err := bob.Client.Send(ctx, conv, "y1", "barrier"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "barrier arrives", func() error {
		if ms := messages(t, alice.Client, conv); len(ms) != 2 {
			return fmt.Errorf("%d messages", len(ms))
		}
		return nil
	})
	if ms := messages(t, alice.Client, conv); ms[0].Status != api.StatusDelivered {
		t.Fatalf("read receipts off, yet alice sees %s", ms[0].Status)
	}
	page, err := bob.Client.Conversations(ctx, "", 0)
	if err != nil || len(page.Conversations) == 0 {
		t.Fatalf("bob's conversations: %+v %v", page, err)
	}
	if page.Conversations[0].UnreadCount != 0 {
		t.Fatalf("bob's unread count %d after reading", page.Conversations[0].UnreadCount)
	}
}

// TestBlockedContactIsNotToldAndItsMessagesNeverArrive: bob blocks alice. Her messages
// stay "sent" (one tick) — neither failed, which would tell her she is blocked, nor
// delivered; bob never sees them, not even after he unblocks her (they are not asked for
// again as a gap); what she writes after the unblock arrives as usual.
func TestBlockedContactIsNotToldAndItsMessagesNeverArrive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	conv := nodetest.Befriend(t, alice, bob).ConversationID
	if _, err := alice.Client.Send(ctx, conv, "m0", "before"); err != nil {
		t.Fatal(err)
	}
	var aliceAtBob api.Contact
	wait.For(t, "bob has alice's first message", func() error {
		cs, err := bob.Client.Contacts(ctx)
		if err != nil || len(cs) != 1 {
			return fmt.Errorf("contacts %v %v", cs, err)
		}
		aliceAtBob = cs[0]
		if ms := messages(t, bob.Client, aliceAtBob.ConversationID); len(ms) != 1 {
			return fmt.Errorf("%d messages", len(ms))
		}
		return nil
	})
	blocked := true
	if _, err := bob.Client.UpdateContact(ctx, aliceAtBob.ID, api.ContactPatch{Blocked: &blocked}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := alice.Client.Send(ctx, conv, fmt.Sprintf("m%d", i), fmt.Sprintf("while blocked %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	wait.For(t, "alice's messages are sent, no more", func() error {
		for _, m := range messages(t, alice.Client, conv)[1:] {
			if m.Status != api.StatusSent {
				return fmt.Errorf("%q is %s %s", m.Body, m.Status, m.Error)
			}
		}
		return nil
	})
	blocked = false
	if _, err := bob.Client.UpdateContact(ctx, aliceAtBob.ID, api.ContactPatch{Blocked: &blocked}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Client.Send(ctx, conv, "m4", "after the unblock"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the message after the unblock arrives", func() error {
		ms := messages(t, bob.Client, aliceAtBob.ConversationID)
		if len(ms) == 0 || ms[len(ms)-1].Body != "after the unblock" {
			return fmt.Errorf("bob has %d messages", len(ms))
		}
		return nil
	})
	// A round trip as a barrier: had bob asked alice for the gap of the blocked time (he
	// must not), the request would precede his message in his outbox, and her resends would
	// precede her answer in hers. Once her answer is at bob, nothing from then shows up.
	if _, err := bob.Client.Send(ctx, aliceAtBob.ConversationID, "b1", "barrier"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "bob's barrier arrives", func() error {
		if ms := messages(t, alice.Client, conv); ms[len(ms)-1].Body != "barrier" {
			return fmt.Errorf("alice's last message %q", ms[len(ms)-1].Body)
		}
		return nil
	})
	if _, err := alice.Client.Send(ctx, conv, "m5", "barrier back"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "alice's answer arrives", func() error {
		if ms := messages(t, bob.Client, aliceAtBob.ConversationID); ms[len(ms)-1].Body != "barrier back" {
			return fmt.Errorf("bob's last message %q", ms[len(ms)-1].Body)
		}
		return nil
	})
	for _, m := range messages(t, bob.Client, aliceAtBob.ConversationID) {
		if strings.HasPrefix(m.Body, "while blocked") {
			t.Fatalf("bob received %q, sent while he blocked alice", m.Body)
		}
	}
	for _, m := range messages(t, alice.Client, conv) {
		if strings.HasPrefix(m.Body, "while blocked") && m.Status != api.StatusSent {
			t.Fatalf("%q ended %s %s", m.Body, m.Status, m.Error)
		}
	}
}

// TestRenamingByLinkUpdatesTheConversation: adding a contact's link again with a name renames
// the contact, and the direct conversation (which bears that name) reaches the UIs at once as
// a conversation event, not only with the next message.
func TestRenamingByLinkUpdatesTheConversation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	c := nodetest.Befriend(t, alice, bob)
	inv, err := bob.Client.CreateInvite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := alice.Client.Events(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	name := "Bobby"
	if status, err := alice.Client.DoStatus(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv.Link, Name: &name}, nil); err != nil || status != 200 {
		t.Fatalf("adding bob's link again with a name: %d %v", status, err)
	}
	evs, err := alice.Client.Events(ctx, latest.Next, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs.Events {
		var cv api.Conversation
		if ev.Kind == api.KindConversation && json.Unmarshal(ev.Payload, &cv) == nil && cv.ID == c.ConversationID && cv.Name == name {
			return
		}
	}
	t.Fatalf("no conversation event naming %q among %d events", name, len(evs.Events))
}

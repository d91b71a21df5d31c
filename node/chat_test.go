package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
)

// eventually polls f until it returns nil or the deadline passes.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

// befriend makes a add b's invite link and returns a's contact for b.
func befriend(t *testing.T, a, b *nodetest.Node) api.Contact {
	t.Helper()
	ctx := context.Background()
	inv, err := b.Client.CreateInvite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Link) >= 1024 || !bytes.HasPrefix([]byte(inv.Link), []byte("petrel:")) {
		t.Fatalf("invite link of %d bytes: %.40q", len(inv.Link), inv.Link)
	}
	var c api.Contact
	status, err := a.Client.DoStatus(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv.Link}, &c)
	if err != nil || status != 201 {
		t.Fatalf("add contact: %d %v", status, err)
	}
	var again api.Contact
	status, err = a.Client.DoStatus(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv.Link}, &again)
	if err != nil || status != 200 || again.ID != c.ID {
		t.Fatalf("adding the same link again: %d %v, id %s then %s", status, err, c.ID, again.ID)
	}
	return c
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
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	if _, err := alice.Client.SetName(ctx, "Alice Liddell"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Client.SetName(ctx, "Bob Builder"); err != nil {
		t.Fatal(err)
	}
	bobAtAlice := befriend(t, alice, bob)
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
	eventually(t, "bob gets alice as a contact", func() error {
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
	eventually(t, "bob receives the message", func() error {
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
	eventually(t, "alice sees delivered", func() error {
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
	eventually(t, "alice sees read and gets the reply", func() error {
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
	eventually(t, "edit and reaction reach bob", func() error {
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
	eventually(t, "delete reaches alice", func() error {
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
		noPlaintext(t, n.Dir, "hello bob", "hi alice", "Alice Liddell", "Bob Builder", nodetest.Passphrase)
	}
}

// noPlaintext fails if any file under dir contains any of the needles.
func noPlaintext(t *testing.T, dir string, needles ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				return fmt.Errorf("%s holds %q in plaintext", p, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBurstArrivesOnceInOrder(t *testing.T) {
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	conv := befriend(t, alice, bob).ConversationID
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
	eventually(t, "both sides hold the same history", func() error {
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
	eventually(t, "every message delivered", func() error {
		for _, m := range messages(t, alice.Client, conv) {
			if m.Body[:5] == "alice" && m.Status != api.StatusDelivered {
				return fmt.Errorf("%s is %s", m.ID, m.Status)
			}
		}
		return nil
	})
}

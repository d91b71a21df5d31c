package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// TestDisappearingMessageEventsCarryItWhileItLives: a UI written to API.md §5 reads a
// message from its event. A disappearing message's event carries its content, over REST
// and the socket, to the sender and the receiver, while the message lives (the log on disk
// keeps no copy of it: the disappearing forensic tests scan for that); once it is deleted,
// no event returns its content any more.
func TestDisappearingMessageEventsCarryItWhileItLives(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	conv := nodetest.Befriend(t, alice, bob).ConversationID
	nodetest.Befriend(t, bob, alice)
	if status, _ := setDisappear(t, alice, conv, 3600); status != 200 {
		t.Fatalf("timer: %d", status)
	}
	const secret = "a disappearing secret, shown while it lives"
	sent, err := alice.Client.Send(ctx, conv, "d1", secret)
	if err != nil {
		t.Fatal(err)
	}
	// eventsShow reports whether n's events show the message's content: as a message or
	// message_update, and as a conversation's last message.
	eventsShow := func(n *nodetest.Node) (asMessage, asLast bool) {
		t.Helper()
		page, err := n.Client.Events(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Events {
			switch ev.Kind {
			case api.KindMessage, api.KindMessageUpdate:
				var m api.Message
				if json.Unmarshal(ev.Payload, &m) == nil && m.ID == sent.ID && m.Body == secret {
					asMessage = true
				}
			case api.KindConversation:
				var c api.Conversation
				if json.Unmarshal(ev.Payload, &c) == nil && c.LastMessage != nil && c.LastMessage.ID == sent.ID && c.LastMessage.Body == secret {
					asLast = true
				}
			}
		}
		return asMessage, asLast
	}
	for _, n := range []*nodetest.Node{alice, bob} {
		wait.For(t, n.Name+"'s events carry the message", func() error {
			if m, c := eventsShow(n); !m || !c {
				return fmt.Errorf("as a message %v, as the last message %v", m, c)
			}
			return nil
		})
	}
	// The socket replays the same events.
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, _, err := bob.Client.Dial(sctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(map[string]any{"type": "hello", "since": 0}); err != nil {
		t.Fatal(err)
	}
	for found := false; !found; {
		f, err := s.Read(sctx)
		if err != nil {
			t.Fatalf("bob's socket never carried the message: %v", err)
		}
		found = f.Type == "event" && strings.Contains(string(f.Raw), secret)
	}
	if _, err := alice.Client.Delete(ctx, sent.ID, true); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*nodetest.Node{alice, bob} {
		wait.For(t, n.Name+"'s events no longer carry the deleted message", func() error {
			page, err := n.Client.Events(ctx, 0, 1000)
			if err != nil {
				return err
			}
			for _, ev := range page.Events {
				if strings.Contains(string(ev.Payload), secret) {
					return fmt.Errorf("%s event %d: %s", ev.Kind, ev.Seq, ev.Payload)
				}
			}
			return nil
		})
	}
}

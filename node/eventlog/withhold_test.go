package eventlog

import (
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

// TestDisappearingContentIsNeverLogged: a disappearing message, as an event's message or
// as a conversation's last message, is logged without its content, from memory and from
// the store (a reopened log); a message without a timer, a system line and the caller's
// own value are unchanged.
func TestDisappearingContentIsNeverLogged(t *testing.T) {
	st := storetest.Open(t)
	l, err := Open(st)
	if err != nil {
		t.Fatal(err)
	}
	reply := "m0"
	secret := api.Message{ID: "m1", ConversationID: "d1", Body: "secret body", ReplyTo: &reply, DisappearAfterS: 30,
		Attachments: []api.Attachment{{MediaID: "x", Name: "secret name.png"}}, Reactions: map[string][]string{"secret-emoji": {"u"}}}
	plain := api.Message{ID: "m2", ConversationID: "d1", Body: "plain body", Attachments: []api.Attachment{}, Reactions: map[string][]string{}}
	line := api.Message{ID: "m3", ConversationID: "d1", Body: "Alice set messages to disappear after 30 seconds", DisappearAfterS: 30, System: true}
	conv := api.Conversation{ID: "d1", LastMessage: &secret}
	storetest.Update(t, st, func(tx *store.Tx) error {
		for _, e := range []struct {
			kind string
			v    any
		}{{api.KindMessage, secret}, {api.KindMessageUpdate, &secret}, {api.KindConversation, conv}, {api.KindConversation, &conv},
			{api.KindMessage, plain}, {api.KindMessage, line}} {
			if _, err := l.Append(tx, e.kind, e.v); err != nil {
				return err
			}
		}
		return nil
	})
	if secret.Body != "secret body" || len(secret.Attachments) != 1 || conv.LastMessage.Body != "secret body" {
		t.Fatal("Append changed the caller's value")
	}
	l2, err := Open(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, lg := range []*Log{l, l2} {
		evs, _, err := lg.Since(0, 0)
		if err != nil || len(evs) != 6 {
			t.Fatalf("%d events, %v", len(evs), err)
		}
		for i, ev := range evs {
			p := string(ev.Payload)
			if strings.Contains(p, "secret") {
				t.Errorf("event %d holds the content: %s", i, p)
			}
			if i < 4 && !strings.Contains(p, `"id":"m1"`) {
				t.Errorf("event %d lost the message id: %s", i, p)
			}
		}
		if !strings.Contains(string(evs[4].Payload), "plain body") || !strings.Contains(string(evs[5].Payload), "Alice set messages") {
			t.Errorf("a message without a timer or a system line changed: %s %s", evs[4].Payload, evs[5].Payload)
		}
	}
}

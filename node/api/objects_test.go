package api_test

import (
	"encoding/json"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
)

// TestEventShape: API.md §5 — a message_update carries its Message under "message", like a
// message event; other kinds under their own name. Decoding reads the same shape back.
func TestEventShape(t *testing.T) {
	for _, c := range []struct{ kind, key string }{
		{api.KindMessage, "message"},
		{api.KindMessageUpdate, "message"},
		{api.KindConversation, "conversation"},
		{api.KindContact, "contact"},
	} {
		ev := api.Event{Seq: 7, Kind: c.kind, Payload: json.RawMessage(`{"id":"x"}`)}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if string(m[c.key]) != `{"id":"x"}` || string(m["kind"]) != `"`+c.kind+`"` {
			t.Errorf("%s: %s, want the object under %q", c.kind, b, c.key)
		}
		var back api.Event
		if err := json.Unmarshal(b, &back); err != nil || back.Kind != c.kind || string(back.Payload) != `{"id":"x"}` {
			t.Errorf("%s: decoded %+v %v", c.kind, back, err)
		}
	}
}

package api

import (
	"encoding/json"
	"testing"
)

// TestSocketFramesAreTheDocumentedBytes pins every node → client frame but the event to the
// shape docs/API.md §5 gives it, "type" first: UIs parse these bytes.
func TestSocketFramesAreTheDocumentedBytes(t *testing.T) {
	seen := int64(1700000000123)
	for _, c := range []struct {
		v    any
		want string
	}{
		{NewPresenceFrame("u1", PresenceOnline, nil), `{"type":"presence","user_id":"u1","state":"online","last_seen":null}`},
		{NewPresenceFrame("u1", PresenceOffline, &seen), `{"type":"presence","user_id":"u1","state":"offline","last_seen":1700000000123}`},
		{NewTypingFrame("c1", "u1", TypingStart), `{"type":"typing","conversation_id":"c1","user_id":"u1","state":"start"}`},
		{NewTypingFrame("c1", "u1", TypingStop), `{"type":"typing","conversation_id":"c1","user_id":"u1","state":"stop"}`},
		{NewAckFrame(Message{ID: "m1", ClientMsgID: "k1", Status: "pending"}), `{"type":"ack","client_msg_id":"k1","message_id":"m1","status":"pending"}`},
		{NewErrorFrame("k1", "bad_request", "no"), `{"type":"error","ref":"k1","code":"bad_request","message":"no"}`},
		{NewSyncedFrame(42), `{"type":"synced","seq":42}`},
		{NewPongFrame(), `{"type":"pong"}`},
	} {
		b, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("got  %s\nwant %s", b, c.want)
		}
	}
}

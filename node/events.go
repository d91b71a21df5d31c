package node

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/eventlog"
	"github.com/petrel-chat/petrel/node/localapi"
)

// liveEvents is the event log as the local API serves it (docs/API.md §5, §9). The log
// on disk keeps a disappearing message without its content (node/eventlog's withhold): it
// is replayed for ever, and that content must become unrecoverable at its expiry. What a
// UI reads is the contract's Message all the same: each withheld message in an event (the
// payload of message and message_update, a conversation's last message) gets its content
// back from the message's own sealed record while that record lives. Once the message
// expired or was deleted, the event stays as the log keeps it, without content.
type liveEvents struct {
	log     *eventlog.Log
	message func(ctx context.Context, id string) (api.Message, error)
}

var _ localapi.EventSource = liveEvents{}

func (e liveEvents) Last() uint64                         { return e.log.Last() }
func (e liveEvents) Subscribe() (<-chan struct{}, func()) { return e.log.Subscribe() }

// Since is the log's Since, with withheld content filled in.
func (e liveEvents) Since(since uint64, limit int) ([]api.Event, bool, error) {
	evs, more, err := e.log.Since(since, limit)
	for i := range evs {
		evs[i].Payload = e.reveal(evs[i].Kind, evs[i].Payload)
	}
	return evs, more, err
}

// withheldMark is in the JSON of every withheld message (its content is emptied): a
// quick test that spares decoding the events that hold none.
var withheldMark = []byte(`"body":""`)

// reveal returns payload with the content of the withheld message it holds, if any and
// while that message lives; otherwise payload unchanged.
func (e liveEvents) reveal(kind string, payload json.RawMessage) json.RawMessage {
	if !bytes.Contains(payload, withheldMark) {
		return payload
	}
	switch kind {
	case api.KindMessage, api.KindMessageUpdate:
		var m api.Message
		if json.Unmarshal(payload, &m) != nil || !e.fill(&m) {
			return payload
		}
		if b, err := json.Marshal(&m); err == nil {
			return b
		}
	case api.KindConversation:
		var c api.Conversation
		if json.Unmarshal(payload, &c) != nil || c.LastMessage == nil || !e.fill(c.LastMessage) {
			return payload
		}
		if b, err := json.Marshal(&c); err == nil {
			return b
		}
	}
	return payload
}

// fill puts the content of m's message (body, reply, attachments, reactions) into m, a
// withheld copy from an event, and reports whether it did: the rest of m stays as the
// event had it.
func (e liveEvents) fill(m *api.Message) bool {
	if !eventlog.Withheld(m) || m.Deleted {
		return false
	}
	cur, err := e.message(context.Background(), m.ID)
	if err != nil || cur.Deleted {
		return false
	}
	m.Body, m.ReplyTo, m.Attachments, m.Reactions = cur.Body, cur.ReplyTo, cur.Attachments, cur.Reactions
	return true
}

package eventlog

import "github.com/petrel-chat/petrel/node/api"

// withhold returns the payload v as the log keeps it: a disappearing message (its
// disappear_after_s above zero) without its content, whether it is the event's message or
// a conversation's last message. The content of a disappearing message lives only in its
// sealed record (node/history), which becomes unreadable at its expiry; the log, replayed
// to every UI from any seq (GET /v1/events, hello since), must not hold a copy. A UI reads
// the message by id (docs/API.md §9). Other payloads pass unchanged.
func withhold(v any) any {
	switch p := v.(type) {
	case api.Message:
		return withheldMessage(&p)
	case *api.Message:
		if p != nil {
			return withheldMessage(p)
		}
	case api.Conversation:
		return withheldConversation(&p)
	case *api.Conversation:
		if p != nil {
			return withheldConversation(p)
		}
	}
	return v
}

// Withheld reports whether m, read from an event, is a disappearing message whose
// content the log withholds.
func Withheld(m *api.Message) bool { return m.DisappearAfterS > 0 && !m.System }

func withheldMessage(m *api.Message) any {
	if !Withheld(m) {
		return m
	}
	c := *m
	c.Body, c.ReplyTo, c.Attachments, c.Reactions = "", nil, []api.Attachment{}, map[string][]string{}
	return &c
}

func withheldConversation(cv *api.Conversation) any {
	if cv.LastMessage == nil || !Withheld(cv.LastMessage) {
		return cv
	}
	c := *cv
	c.LastMessage = withheldMessage(cv.LastMessage).(*api.Message)
	return &c
}

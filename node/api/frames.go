package api

// Socket frame types (API.md §5). Every frame is one JSON object with "type" first; the
// event frame is Event (objects.go), the client's frames are read by node/localapi.
const (
	FrameHello    = "hello"
	FrameSend     = "send"
	FrameRead     = "read"
	FrameTyping   = "typing"
	FramePing     = "ping"
	FrameAck      = "ack"
	FrameError    = "error"
	FrameEvent    = "event"
	FramePresence = "presence"
	FrameSynced   = "synced"
	FramePong     = "pong"
)

// Presence states (PresenceFrame.State) and typing states (TypingFrame.State, and the
// client's typing frame).
const (
	PresenceOnline  = "online"
	PresenceOffline = "offline"
	TypingStart     = "start"
	TypingStop      = "stop"
)

// PresenceFrame is {"type":"presence","user_id","state":"online"|"offline","last_seen":MS|null}:
// a contact came online or went offline. Ephemeral: never in the event log.
type PresenceFrame struct {
	Type     string `json:"type"`
	UserID   string `json:"user_id"`
	State    string `json:"state"`
	LastSeen *int64 `json:"last_seen"`
}

// NewPresenceFrame is the presence frame for user uid in state (PresenceOnline or
// PresenceOffline); lastSeen is the Unix time in ms the contact was last seen, nil if never.
func NewPresenceFrame(uid, state string, lastSeen *int64) PresenceFrame {
	return PresenceFrame{Type: FramePresence, UserID: uid, State: state, LastSeen: lastSeen}
}

// TypingFrame is {"type":"typing","conversation_id","user_id","state":"start"|"stop"}: a member
// of the conversation started or stopped typing. Ephemeral: never in the event log.
type TypingFrame struct {
	Type           string `json:"type"`
	ConversationID string `json:"conversation_id"`
	UserID         string `json:"user_id"`
	State          string `json:"state"`
}

// NewTypingFrame is the typing frame for user uid in conversation conv.
func NewTypingFrame(conv, uid, state string) TypingFrame {
	return TypingFrame{Type: FrameTyping, ConversationID: conv, UserID: uid, State: state}
}

// AckFrame is {"type":"ack","client_msg_id","message_id","status"}: the reply to a send frame
// (a repeat gets the original message's).
type AckFrame struct {
	Type        string `json:"type"`
	ClientMsgID string `json:"client_msg_id"`
	MessageID   string `json:"message_id"`
	Status      string `json:"status"`
}

// NewAckFrame is the ack for message m.
func NewAckFrame(m Message) AckFrame {
	return AckFrame{Type: FrameAck, ClientMsgID: m.ClientMsgID, MessageID: m.ID, Status: m.Status}
}

// ErrorFrame is {"type":"error","ref","code","message"}: a client frame was refused; Ref is
// the client_msg_id or request it answers ("" when there is none).
type ErrorFrame struct {
	Type    string `json:"type"`
	Ref     string `json:"ref"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// NewErrorFrame is the error frame answering ref.
func NewErrorFrame(ref, code, msg string) ErrorFrame {
	return ErrorFrame{Type: FrameError, Ref: ref, Code: code, Message: msg}
}

// SyncedFrame is {"type":"synced","seq":N}: the replay after a hello is done, N the last
// event's seq.
type SyncedFrame struct {
	Type string `json:"type"`
	Seq  uint64 `json:"seq"`
}

// NewSyncedFrame is the synced frame at seq.
func NewSyncedFrame(seq uint64) SyncedFrame { return SyncedFrame{Type: FrameSynced, Seq: seq} }

// PongFrame is {"type":"pong"}, the reply to a ping.
type PongFrame struct {
	Type string `json:"type"`
}

// NewPongFrame is the pong frame.
func NewPongFrame() PongFrame { return PongFrame{Type: FramePong} }

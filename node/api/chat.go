package api

// Invite is POST /v1/invites.
type Invite struct {
	Link  string `json:"link"`
	QRSVG string `json:"qr_svg,omitempty"` // empty only in GET /v1/invites
	// Extension (docs/API.md, Invites): the invite's id, when it was made and when it
	// expires (Unix ms).
	ID        string `json:"id,omitempty"`
	CreatedAt int64  `json:"created_at,omitempty"`
	ExpiresAt int64  `json:"expires_at,omitempty"`
}

// ContactAdd is POST /v1/contacts.
type ContactAdd struct {
	Link string  `json:"link"`
	Name *string `json:"name"`
}

// Contact is API.md §3's Contact. Extensions: request (a contact who wrote first and whom
// the user has not accepted yet: "pending"; "accepted" otherwise), identity_changed (the
// contact's identity key changed since it was added or last verified).
type Contact struct {
	ID              string `json:"id"`
	UserID          string `json:"user_id"`
	Name            string `json:"name"`
	Verified        bool   `json:"verified"`
	SafetyNumber    string `json:"safety_number"`
	ConversationID  string `json:"conversation_id"`
	Blocked         bool   `json:"blocked"`
	Request         string `json:"request"`
	IdentityChanged bool   `json:"identity_changed"`
	LastSeen        *int64 `json:"last_seen"`
}

// Contact request states (extension).
const (
	RequestAccepted = "accepted"
	RequestPending  = "pending"
)

// ContactList is GET /v1/contacts.
type ContactList struct {
	Contacts []Contact `json:"contacts"`
}

// ContactPatch is PATCH /v1/contacts/{id}. Extension: accept (true accepts a message request;
// sending a message to the contact accepts it too).
type ContactPatch struct {
	Name     *string `json:"name"`
	Verified *bool   `json:"verified"`
	Blocked  *bool   `json:"blocked"`
	Accept   *bool   `json:"accept"`
}

// Member is a conversation member.
type Member struct {
	UserID string `json:"user_id"`
	Name   string `json:"name"`
	Role   string `json:"role"`
}

// Conversation types and member roles.
const (
	ConversationDirect = "direct"
	ConversationGroup  = "group"
	RoleAdmin          = "admin"
	RoleMember         = "member"
)

// Conversation is API.md §3's Conversation.
type Conversation struct {
	ID          string   `json:"id"`
	Type        string   `json:"type"`
	Name        string   `json:"name"`
	Members     []Member `json:"members"`
	LastMessage *Message `json:"last_message"`
	UnreadCount int      `json:"unread_count"`
	UpdatedAt   int64    `json:"updated_at"`
	// MutedUntil (API.md §7) is when the conversation's mute ends (Unix ms; null: not
	// muted). It is on every Conversation object: list, one, answers and events.
	MutedUntil *int64 `json:"muted_until"`
	// DisappearAfterS (API.md §9) is the disappearing-message timer in seconds that
	// messages sent from now on get; 0: off.
	DisappearAfterS int64 `json:"disappear_after_s"`
}

// ConversationPage is GET /v1/conversations.
type ConversationPage struct {
	Conversations []Conversation `json:"conversations"`
	NextCursor    *string        `json:"next_cursor"`
}

// Message statuses.
const (
	StatusPending   = "pending"
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusFailed    = "failed"
)

// StatusRank orders statuses so they only ever move forward (failed is terminal, outside).
func StatusRank(s string) int {
	switch s {
	case StatusPending:
		return 1
	case StatusSent:
		return 2
	case StatusDelivered:
		return 3
	case StatusRead:
		return 4
	}
	return 0
}

// Receipts is a message's receipt counts.
type Receipts struct {
	Delivered int `json:"delivered"`
	Read      int `json:"read"`
	Total     int `json:"total"`
}

// Attachment is API.md §3's Attachment, extended by §6: width and height when known (images),
// duration_ms when known (audio, video), the state on this node, and while not available the
// plaintext bytes received so far. node/media's Attachment.API is the one mapping to it.
type Attachment struct {
	MediaID          string  `json:"media_id"`
	Name             string  `json:"name"`
	MIME             string  `json:"mime"`
	Size             int64   `json:"size"`
	SHA256           string  `json:"sha256"`
	ThumbnailMediaID *string `json:"thumbnail_media_id"`
	Width            int     `json:"width,omitempty"`
	Height           int     `json:"height,omitempty"`
	DurationMS       int64   `json:"duration_ms,omitempty"`
	// State is "available", "downloading" or "failed" (MediaAvailable…); empty in a send
	// request, which names media by media_id alone.
	State string `json:"state,omitempty"`
	// Received is present while the media is not available: the bytes here so far.
	Received *int64 `json:"received,omitempty"`
	// Error says why a download failed; present only while State is "failed" (extension).
	Error string `json:"error,omitempty"`
}

// Media states of Attachment.State (API.md §6).
const (
	MediaAvailable   = "available"
	MediaDownloading = "downloading"
	MediaFailed      = "failed"
)

// Message is API.md §3's Message.
type Message struct {
	ID             string              `json:"id"`
	ConversationID string              `json:"conversation_id"`
	ClientMsgID    string              `json:"client_msg_id"`
	SenderID       string              `json:"sender_id"`
	Body           string              `json:"body"`
	ReplyTo        *string             `json:"reply_to"`
	Attachments    []Attachment        `json:"attachments"`
	SentAt         int64               `json:"sent_at"`
	ReceivedAt     int64               `json:"received_at"`
	Order          string              `json:"order"`
	Status         string              `json:"status"`
	Error          string              `json:"error,omitempty"`
	Receipts       Receipts            `json:"receipts"`
	EditedAt       *int64              `json:"edited_at"`
	Deleted        bool                `json:"deleted"`
	Reactions      map[string][]string `json:"reactions"`
	// ExpiresAt (API.md §9) is when the message disappears (Unix ms): set for the sender
	// at sending, for a receiver when the message is read on this node; null when it has
	// no timer or its timer has not started.
	ExpiresAt *int64 `json:"expires_at"`
	// Extensions: DisappearAfterS is the timer the message was sent under (0: none), so
	// a UI can mark it before its timer starts; System is true on a system line (a
	// conversation change such as a new timer, body in words, sender the member who
	// made it).
	DisappearAfterS int64 `json:"disappear_after_s,omitempty"`
	System          bool  `json:"system,omitempty"`
}

// MessagePage is GET /v1/conversations/{id}/messages.
type MessagePage struct {
	Messages []Message `json:"messages"`
	HasMore  bool      `json:"has_more"`
}

// SendRequest is POST /v1/conversations/{id}/messages and the socket's send frame.
type SendRequest struct {
	ConversationID string       `json:"conversation_id"`
	ClientMsgID    string       `json:"client_msg_id"`
	Body           string       `json:"body"`
	ReplyTo        *string      `json:"reply_to"`
	Attachments    []Attachment `json:"attachments"`
}

// ReadRequest is POST /v1/conversations/{id}/read.
type ReadRequest struct {
	UpTo string `json:"up_to"`
}

// EditRequest is PATCH /v1/messages/{id}.
type EditRequest struct {
	Body *string `json:"body"`
}

// ReactionRequest is POST /v1/messages/{id}/reactions.
type ReactionRequest struct {
	Emoji  string `json:"emoji"`
	Remove bool   `json:"remove"`
}

// SearchResult is GET /v1/search.
type SearchResult struct {
	Messages []Message `json:"messages"`
}

// Settings is GET/PUT /v1/settings (GET is an extension). PUT changes only the fields given.
type Settings struct {
	Presence     string `json:"presence"`
	ReadReceipts bool   `json:"read_receipts"`
}

// SettingsPatch is PUT /v1/settings.
type SettingsPatch struct {
	Presence     *string `json:"presence"`
	ReadReceipts *bool   `json:"read_receipts"`
}

// Presence settings.
const (
	PresenceContacts = "contacts"
	PresenceNobody   = "nobody"
)

// GroupCreate is POST /v1/conversations.
type GroupCreate struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// MembersChange is POST /v1/conversations/{id}/members. Extension: role with users, to make
// members admins or members again (admins only).
type MembersChange struct {
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
	Role   string   `json:"role"`
	Users  []string `json:"users"`
}

// ConversationPatch is PATCH /v1/conversations/{id} (extension): rename a group.
type ConversationPatch struct {
	Name *string `json:"name"`
	// DisappearAfterS (API.md §9) sets the disappearing-message timer: 0 off, else 5 to
	// 7776000 seconds (90 days).
	DisappearAfterS *int64 `json:"disappear_after_s"`
}

// GroupChange is one change of a group (extension, GET /v1/conversations/{id}/changes):
// kind create|add|remove|leave|rename|role, its author and the users it affected (with the
// names their own cards give), the name (create, rename) or role (role) it set, when (at,
// Unix ms) and order, a key that sorts with the conversation's messages' order.
type GroupChange struct {
	Kind   string   `json:"kind"`
	Author Member   `json:"author"`
	Users  []Member `json:"users"`
	Name   string   `json:"name,omitempty"`
	Role   string   `json:"role,omitempty"`
	At     int64    `json:"at"`
	Order  string   `json:"order"`
}

// GroupChanges is GET /v1/conversations/{id}/changes.
type GroupChanges struct {
	Changes []GroupChange `json:"changes"`
}

// MemberReceipt is how far one member got with one of our messages (extension,
// GET /v1/messages/{id}/receipts): status sent (not yet acknowledged), delivered or read.
type MemberReceipt struct {
	UserID string `json:"user_id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	// DeliveredAt and ReadAt (extension): when this node got the member's delivered and
	// read receipts, Unix ms; null when not yet (or received before times were kept).
	DeliveredAt *int64 `json:"delivered_at"`
	ReadAt      *int64 `json:"read_at"`
}

// MessageReceipts is GET /v1/messages/{id}/receipts.
type MessageReceipts struct {
	Receipts []MemberReceipt `json:"receipts"`
}

// SafetyQR is GET /v1/contacts/{id}/safety_qr (extension): the safety number and its QR code.
type SafetyQR struct {
	SafetyNumber string `json:"safety_number"`
	QRSVG        string `json:"qr_svg"`
}

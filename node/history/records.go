package history

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// Version is the version of the conversation and message records this code writes and
// reads.
const Version = 1

// Conversation is a conversation as stored at KeyConv(ID).
type Conversation struct {
	V         int    `json:"v"`
	ID        string `json:"id"`
	Type      string `json:"type"`
	ContactID string `json:"contact_id"`
	LastMsgID string `json:"last_msg_id"`
	Unread    int    `json:"unread"`
	UpdatedAt int64  `json:"updated_at"`
	ReadUpTo  string `json:"read_up_to"` // order of the last message read
	// Disappear is the disappearing-message timer (seconds, 0 off) of messages sent now.
	Disappear int64 `json:"disappear,omitempty"`
	// DisappearTS is the timestamp of the change that set Disappear (the latest wins).
	DisappearTS string `json:"disappear_ts,omitempty"`
}

// Message is a message as stored at KeyMsg(ID).
type Message struct {
	V              int                 `json:"v"`
	ID             string              `json:"id"`
	ConversationID string              `json:"conversation_id"`
	ClientMsgID    string              `json:"client_msg_id"`
	SenderID       string              `json:"sender_id"`
	Body           string              `json:"body"`
	ReplyTo        *string             `json:"reply_to,omitempty"`
	Attachments    []Attachment        `json:"attachments,omitempty"`
	SentAt         int64               `json:"sent_at"`
	ReceivedAt     int64               `json:"received_at"`
	Order          string              `json:"order"`
	Status         string              `json:"status"`
	Error          string              `json:"error,omitempty"`
	Delivered      int                 `json:"delivered"` // receipts: members it reached
	Read           int                 `json:"read"`      // … who read it
	Total          int                 `json:"total"`     // … it was sent to
	EditedAt       *int64              `json:"edited_at,omitempty"`
	Deleted        bool                `json:"deleted,omitempty"`
	Reactions      map[string][]string `json:"reactions,omitempty"` // emoji → user ids
	ContactID      string              `json:"contact_id"`          // direct: the contact
	Incoming       bool                `json:"incoming"`
	EditTS         string              `json:"edit_ts,omitempty"`    // timestamp of the edit applied
	ReactTS        Reactions           `json:"react_ts,omitempty"`   // user → emoji → last change
	Disappear      int64               `json:"disappear,omitempty"`  // timer it was sent under (s)
	ExpiresAt      *int64              `json:"expires_at,omitempty"` // when it disappears (ms)
	System         bool                `json:"system,omitempty"`     // a system line
	// Sealed: the content is at KeySealed(ID), sealed under a bucket key (sealed.go).
	Sealed bool `json:"sealed,omitempty"`
	// Media: in a sealed record, the media ids its content refers to (MessageMedia).
	Media []string `json:"media,omitempty"`
}

// Attachment is an attachment of a message as stored.
type Attachment struct {
	MediaID   string  `json:"media_id"`
	Name      string  `json:"name"`
	MIME      string  `json:"mime"`
	Size      int64   `json:"size"`
	SHA256    string  `json:"sha256"`
	Thumbnail *string `json:"thumbnail_media_id,omitempty"`
	// Added in version 1 without a bump (absent in older records: zero values).
	Width      int    `json:"width,omitempty"`
	Height     int    `json:"height,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`
	State      string `json:"state,omitempty"`    // available|downloading|failed
	Received   int64  `json:"received,omitempty"` // bytes here while not available
}

// Reactions records, per user and emoji, the timestamp and state of the last change so that
// reaction changes apply in order whatever order they arrive in.
type Reactions map[string]map[string]ReactState

// ReactState is the last change of one user's one reaction.
type ReactState struct {
	TS      string `json:"ts"`
	Present bool   `json:"on"`
}

// ToAPI is r as the local API shows it. It is the one mapping from message records to
// api.Message (FromAPI is its inverse).
func ToAPI(r *Message) api.Message {
	m := api.Message{
		ID: r.ID, ConversationID: r.ConversationID, ClientMsgID: r.ClientMsgID,
		SenderID: r.SenderID, Body: r.Body, ReplyTo: r.ReplyTo,
		SentAt: r.SentAt, ReceivedAt: r.ReceivedAt, Order: r.Order, Status: r.Status,
		Error: r.Error, Receipts: api.Receipts{Delivered: r.Delivered, Read: r.Read, Total: r.Total},
		EditedAt: r.EditedAt, Deleted: r.Deleted, Reactions: r.Reactions,
		Attachments:     make([]api.Attachment, 0, len(r.Attachments)),
		DisappearAfterS: r.Disappear, ExpiresAt: r.ExpiresAt, System: r.System,
	}
	for _, a := range r.Attachments {
		att := api.Attachment{
			MediaID: a.MediaID, Name: a.Name, MIME: a.MIME, Size: a.Size, SHA256: a.SHA256,
			ThumbnailMediaID: a.Thumbnail, Width: a.Width, Height: a.Height, DurationMS: a.DurationMS,
			State: a.State,
		}
		if a.State != "" && a.State != api.MediaAvailable {
			n := a.Received
			att.Received = &n
		}
		m.Attachments = append(m.Attachments, att)
	}
	if m.Reactions == nil {
		m.Reactions = map[string][]string{}
	}
	return m
}

// FromAPI sets r's message fields (all but ContactID, Incoming, EditTS and ReactTS) from m.
func FromAPI(r *Message, m *api.Message) {
	r.ID, r.ConversationID, r.ClientMsgID = m.ID, m.ConversationID, m.ClientMsgID
	r.SenderID, r.Body, r.ReplyTo = m.SenderID, m.Body, m.ReplyTo
	r.SentAt, r.ReceivedAt, r.Order, r.Status, r.Error = m.SentAt, m.ReceivedAt, m.Order, m.Status, m.Error
	r.Delivered, r.Read, r.Total = m.Receipts.Delivered, m.Receipts.Read, m.Receipts.Total
	r.EditedAt, r.Deleted, r.Reactions = m.EditedAt, m.Deleted, m.Reactions
	r.Disappear, r.ExpiresAt, r.System = m.DisappearAfterS, m.ExpiresAt, m.System
	r.Attachments = nil
	for _, a := range m.Attachments {
		var received int64
		if a.Received != nil {
			received = *a.Received
		}
		r.Attachments = append(r.Attachments, Attachment{
			MediaID: a.MediaID, Name: a.Name, MIME: a.MIME, Size: a.Size, SHA256: a.SHA256,
			Thumbnail: a.ThumbnailMediaID, Width: a.Width, Height: a.Height, DurationMS: a.DurationMS,
			State: a.State, Received: received,
		})
	}
}

// Key builders.
func KeyConv(id string) []byte             { return []byte("cv/" + id) }
func KeyMsg(id string) []byte              { return []byte("ms/" + id) }
func KeyOrderPrefix(conv string) []byte    { return []byte("mo/" + conv + "/") }
func KeyOrder(conv, order string) []byte   { return []byte("mo/" + conv + "/" + order) }
func KeyClient(conv, client string) []byte { return []byte("mc/" + conv + "/" + client) }

// Prefixes of every conversation and message record's key.
var (
	ConvPrefix = []byte("cv/")
	MsgPrefix  = []byte("ms/")
)

// GetConversation reads conversation id: an api not_found error when there is none.
func GetConversation(tx *store.Tx, id string) (*Conversation, error) {
	var c Conversation
	if err := get(tx, KeyConv(id), "conversation", id, &c, &c.V); err != nil {
		return nil, err
	}
	return &c, nil
}

// PutConversation writes c (at Version).
func PutConversation(tx *store.Tx, c *Conversation) error {
	c.V = Version
	return store.PutJSON(tx, KeyConv(c.ID), c)
}

// GetMessage reads message id: an api not_found error when there is none. The content of
// a disappearing message is opened with s (sealed.go); content whose key is gone reads as
// deleted.
func GetMessage(tx *store.Tx, s Sealer, id string) (*Message, error) {
	var r Message
	v, err := tx.Get(KeyMsg(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, api.Errorf(api.ErrNotFound, "no message %q", id)
	}
	if err != nil {
		return nil, err
	}
	if err := DecodeMessage(v, &r); err != nil {
		return nil, fmt.Errorf("history: message record %q: %w", id, err)
	}
	if r.V != Version {
		return nil, fmt.Errorf("history: message record %q has version %d, not %d", id, r.V, Version)
	}
	if r.ID != id {
		return nil, fmt.Errorf("history: the record of message %q holds message %q", id, r.ID)
	}
	if r.Sealed {
		return openSealed(tx, s, &r)
	}
	return &r, nil
}

// PutMessage writes r (at Version, in the binary layout: codec.go). It does not touch the
// order and client-id indexes. With s, the content of a disappearing message is sealed
// (sealed.go), and a sealed copy of a message no longer disappearing or deleted is dropped.
func PutMessage(tx *store.Tx, s Sealer, r *Message) error {
	r.V = Version
	rec, err := putSealed(tx, s, r)
	if err != nil {
		return err
	}
	return tx.Set(KeyMsg(r.ID), EncodeMessage(rec))
}

// get reads the record at key into v, whose version field is ver.
func get(tx *store.Tx, key []byte, what, id string, v any, ver *int) error {
	ok, err := store.GetJSON(tx, key, v)
	if err != nil {
		return err
	}
	if !ok {
		return api.Errorf(api.ErrNotFound, "no %s %q", what, id)
	}
	if *ver != Version {
		return fmt.Errorf("history: %s record %q has version %d, not %d", what, id, *ver, Version)
	}
	return nil
}

// Conversations calls fn with every conversation, in id order, until fn returns false.
func Conversations(tx *store.Tx, fn func(c *Conversation) (bool, error)) error {
	return each(tx, ConvPrefix, nil, func(v []byte, c *Conversation) error { return json.Unmarshal(v, c) },
		func(_ []byte, c *Conversation) (bool, error) { return fn(c) })
}

// Messages calls fn with every message from key start on (the first when nil), in key
// order, until fn returns false.
func Messages(tx *store.Tx, start []byte, fn func(k []byte, r *Message) (bool, error)) error {
	return each(tx, MsgPrefix, start, DecodeMessage, fn)
}

type versioned interface{ version() int }

func (c *Conversation) version() int { return c.V }
func (r *Message) version() int      { return r.V }

func each[T any, P interface {
	*T
	versioned
}](tx *store.Tx, prefix, start []byte, decode func(v []byte, r P) error, fn func(k []byte, r P) (bool, error)) error {
	return tx.Iterate(store.IterOptions{Prefix: prefix, Start: start}, func(k, v []byte) (bool, error) {
		var r T
		if err := decode(v, &r); err != nil {
			return false, fmt.Errorf("history: %s record: %w", store.KeyPrefix(k), err)
		}
		p := P(&r)
		if p.version() != Version {
			return false, fmt.Errorf("history: a %s record of version %d, not %d", store.KeyPrefix(k), p.version(), Version)
		}
		return fn(k, p)
	})
}

package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/petrel-chat/petrel/sync/hlc"
)

// Content kinds.
const (
	KindText     = "text"     // a message: Body, ReplyTo
	KindReceipt  = "receipt"  // Status of IDs: "delivered" or "read"
	KindEdit     = "edit"     // new Body for Target (sender's own message)
	KindDelete   = "delete"   // delete Target for everyone (sender's own message)
	KindReaction = "reaction" // Emoji on Target, or its removal
	KindResend   = "resend"   // please resend sequence numbers From..To
	// KindDisappear sets the conversation's disappearing-message timer to Expire seconds
	// (0: off); pairwise in a direct chat, as a group control from an admin in a group.
	KindDisappear = "disappear"
	// KindDevices carries the sender's account's signed device list in Data
	// (SignDeviceList bytes): to every contact and every own device when it changes, and on
	// a session's first contents (docs/PROTOCOL.md, "Linked devices").
	KindDevices = "devices"
	// KindSync is a copy for the sender's own other devices of something it did: Data is
	// the Content it sent (a text, an edit, a delete, a reaction) or the receipt it made (a
	// read), or with Status SyncContact a SyncedContact; With is the user id of the contact
	// of that conversation (or Group the group's id). Only a device of the same account
	// may send one.
	KindSync = "sync"

	// Group kinds (pairwise, about the group named by Group).
	KindGroupOps     = "gops"     // Ops: signed group operations; Head: the sender's state
	KindGroupSync    = "gsync"    // Head: the sender's state; please send your operations
	KindGroupKey     = "gkey"     // Data: the sender's Sender Keys distribution; GSeq: its next group seq
	KindGroupMsg     = "gmsg"     // Data: a group envelope, resent or delivered pairwise
	KindGroupResend  = "gresend"  // please resend your group messages GSeq From..To
	KindGroupReceipt = "greceipt" // Status of group message IDs
)

// Limits of a Content.
const (
	MaxContent   = 512 << 10 // a MaxBody body of characters JSON escapes (6 bytes each) fits
	MaxBody      = 64 << 10
	MaxIDLen     = 64
	MaxEmoji     = 32
	MaxReceiptID = 1024 // ids in one receipt
	MaxName      = 128
	MaxAddrs     = 16
	MaxAddrLen   = 256
	// MaxAttachments bounds a text's attachments, MaxAttachment one encoded manifest (a
	// 100 MiB file's 101 chunk hashes and its thumbnail's fit in 16 KiB).
	MaxAttachments = 10
	MaxAttachment  = 16 << 10

	// MinDisappear and MaxDisappear bound a disappearing-message timer (seconds): 5 s to
	// 90 days, or 0 for off.
	MinDisappear = 5
	MaxDisappear = 90 * 24 * 60 * 60

	// MaxSyncData bounds the content a KindSync carries (its base64 in the outer content
	// stays under MaxContent).
	MaxSyncData = 320 << 10
)

// Receipt statuses.
const (
	ReceiptDelivered = "delivered"
	ReceiptRead      = "read"
)

// Content is what travels inside the Double Ratchet between two nodes. It is JSON, but only
// ever after decryption, so only a contact holding the session can send one; it is still
// parsed strictly.
type Content struct {
	Kind string `json:"k"`
	// ID is the sender's id of this content (a message's id on every node).
	ID string `json:"id"`
	// Seq is the sender's sequence number on this session's conversation: 1, 2, 3… without
	// gaps, so the receiver notices a missing one.
	Seq uint64 `json:"seq"`
	// TS is the sender's hybrid logical clock at sending.
	TS string `json:"ts"`

	Body    string   `json:"body,omitempty"`
	ReplyTo string   `json:"reply_to,omitempty"`
	Target  string   `json:"target,omitempty"`
	Emoji   string   `json:"emoji,omitempty"`
	Remove  bool     `json:"remove,omitempty"`
	Status  string   `json:"status,omitempty"`
	IDs     []string `json:"ids,omitempty"`
	From    uint64   `json:"from,omitempty"`
	To      uint64   `json:"to,omitempty"`
	// Expire is a disappearing-message timer in seconds: on a text, the timer it was sent
	// under (its expiry starts when read; for the sender when sent); on a disappear, the
	// conversation's new timer; on an edit or a reaction, its target's timer (its copies
	// at rest and in relay mailboxes expire with it). 0: none.
	Expire uint32 `json:"exp,omitempty"`

	// Group fields: the group id, its state head, a group sequence number, opaque data
	// (a distribution or an envelope) and signed operations.
	Group string   `json:"group,omitempty"`
	Head  string   `json:"head,omitempty"`
	GSeq  uint64   `json:"gseq,omitempty"`
	Data  []byte   `json:"data,omitempty"`
	Ops   [][]byte `json:"ops,omitempty"`

	// With names the contact a KindSync content is about (its user id).
	With string `json:"with,omitempty"`

	// Card, when present, tells the receiver how to reach the sender: sent on the first
	// contents of a session so a contact who never saw an invite can answer.
	Card *Card `json:"card,omitempty"`

	// Attachments of a text: each a media manifest (node/messenger media.go decodes them;
	// docs/PROTOCOL.md, "Attachments"), at most MaxAttachments of MaxAttachment bytes.
	Attachments []json.RawMessage `json:"att,omitempty"`
}

// Card is the sender's reachability and display name.
type Card struct {
	Name   string   `json:"name"`
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
	Relays []string `json:"relays"`
	// Invite is the hex id of the expiring invite (docs/PROTOCOL.md) through which the
	// sender added the receiver; the receiver refuses a first message under an invite it
	// revoked or that expired. Absent for a version 1 invite or none.
	Invite string `json:"invite,omitempty"`
	// Devices is the sender's account's signed device list (SignDeviceList bytes) when the
	// sender is not its account's primary device: the receiver believes the session's
	// device key to be that account's only if the list verifies under the account key it
	// holds and lists the key (docs/PROTOCOL.md, "Linked devices").
	Devices []byte `json:"devices,omitempty"`
}

// Marshal encodes c.
func (c *Content) Marshal() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > MaxContent {
		return nil, fmt.Errorf("%w: content encodes to %d bytes, over %d", ErrMalformed, len(b), MaxContent)
	}
	return b, nil
}

// ParseContent decodes and checks a Content.
func ParseContent(b []byte) (*Content, error) {
	if len(b) > MaxContent {
		return nil, fmt.Errorf("%w: content of %d bytes", ErrMalformed, len(b))
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: content is not UTF-8", ErrMalformed)
	}
	if err := exactKeys(b); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Content
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: content: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after content", ErrMalformed)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Content) check() error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: content: "+f, append([]any{ErrMalformed}, a...)...)
	}
	if !validID(c.ID) {
		return bad("id")
	}
	if c.Seq == 0 {
		return bad("seq 0")
	}
	if _, err := hlc.Parse(c.TS); err != nil {
		return bad("timestamp: %v", err)
	}
	if len(c.Body) > MaxBody || !utf8.ValidString(c.Body) {
		return bad("body")
	}
	if c.ReplyTo != "" && !validID(c.ReplyTo) {
		return bad("reply_to")
	}
	if c.Group != "" && !validID(c.Group) || len(c.Head) > MaxIDLen || len(c.Data) > MaxEnvelope {
		return bad("group fields")
	}
	if len(c.Attachments) > MaxAttachments || len(c.Attachments) > 0 && c.Kind != KindText {
		return bad("attachments")
	}
	for _, a := range c.Attachments {
		if len(a) > MaxAttachment || len(a) == 0 || a[0] != '{' {
			return bad("attachment")
		}
	}
	if c.Expire != 0 && (c.Expire < MinDisappear || c.Expire > MaxDisappear) {
		return bad("expire %d out of range", c.Expire)
	}
	switch c.Kind {
	case KindText, KindDisappear:
	case KindGroupOps, KindGroupSync, KindGroupKey, KindGroupMsg, KindGroupResend, KindGroupReceipt:
		if c.Group == "" {
			return bad("%s without group", c.Kind)
		}
		if err := c.checkGroup(); err != nil {
			return err
		}
	case KindDevices:
		if len(c.Data) < 2 || len(c.Data) > MaxDeviceList || c.Data[0] != DeviceListVersion {
			return bad("devices")
		}
	case KindSync:
		if len(c.Data) == 0 || len(c.Data) > MaxSyncData || (c.With == "") == (c.Group == "") ||
			c.With != "" && !validID(c.With) || !validSyncStatus(c.Status) {
			return bad("sync")
		}
	case KindEdit, KindDelete:
		if !validID(c.Target) {
			return bad("%s without target", c.Kind)
		}
	case KindReaction:
		if !validID(c.Target) || c.Emoji == "" || len(c.Emoji) > MaxEmoji || !utf8.ValidString(c.Emoji) {
			return bad("reaction")
		}
	case KindReceipt:
		if (c.Status != ReceiptDelivered && c.Status != ReceiptRead) || len(c.IDs) == 0 || len(c.IDs) > MaxReceiptID {
			return bad("receipt")
		}
		for _, id := range c.IDs {
			if !validID(id) {
				return bad("receipt id")
			}
		}
	case KindResend:
		if c.From == 0 || c.To < c.From || c.To-c.From > MaxReceiptID {
			return bad("resend range")
		}
	default:
		return bad("unknown kind %q", c.Kind)
	}
	if c.Card != nil {
		cd := c.Card
		if len(cd.Name) > MaxName || !utf8.ValidString(cd.Name) || cd.PeerID == "" || len(cd.PeerID) > 128 ||
			len(cd.Addrs) > MaxAddrs || len(cd.Relays) > MaxAddrs || len(cd.Invite) > MaxInviteID ||
			len(cd.Devices) > MaxDeviceList {
			return bad("card")
		}
		for _, a := range append(append([]string{}, cd.Addrs...), cd.Relays...) {
			if a == "" || len(a) > MaxAddrLen {
				return bad("card address")
			}
		}
	}
	return nil
}

// MaxInviteID bounds Card.Invite (an invite id in hex is 32 characters).
const MaxInviteID = 64

// Keys a Content and a Card may hold, spelled exactly.
var (
	contentKeys = keySet(Content{})
	cardKeys    = keySet(Card{})
)

func keySet(v any) map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out[name] = true
	}
	return out
}

// exactKeys refuses what encoding/json would forgive: keys in another case and duplicate
// keys, in the content object and its card.
func exactKeys(b []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return fmt.Errorf("%w: content: %v", ErrMalformed, err)
	}
	if err := checkKeys(b, contentKeys); err != nil {
		return err
	}
	if card, ok := top["card"]; ok && string(card) != "null" {
		return checkKeys(card, cardKeys)
	}
	return nil
}

// checkKeys walks one JSON object's top-level keys.
func checkKeys(b []byte, allowed map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("%w: content is not an object", ErrMalformed)
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: content: %v", ErrMalformed, err)
		}
		k, _ := t.(string)
		if !allowed[k] || seen[k] {
			return fmt.Errorf("%w: content key %.40q unknown or repeated", ErrMalformed, k)
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("%w: content: %v", ErrMalformed, err)
		}
	}
	return nil
}

// validID accepts ids made of [0-9a-zA-Z_-], 1..MaxIDLen long.
func validID(s string) bool {
	if s == "" || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidID reports whether s is acceptable as a message or content id.
func ValidID(s string) bool { return validID(s) }

// checkGroup checks the fields of a group kind.
func (c *Content) checkGroup() error {
	bad := func(f string) error { return fmt.Errorf("%w: content: %s", ErrMalformed, f) }
	switch c.Kind {
	case KindGroupOps:
		if len(c.Ops) == 0 || len(c.Ops) > MaxGroupOps {
			return bad("gops count")
		}
		for _, o := range c.Ops {
			if len(o) == 0 || len(o) > MaxGroupOp {
				return bad("gops size")
			}
		}
	case KindGroupKey:
		if len(c.Data) == 0 || len(c.Data) > 256 || c.GSeq == 0 {
			return bad("gkey")
		}
	case KindGroupMsg:
		if len(c.Data) == 0 {
			return bad("gmsg")
		}
	case KindGroupResend:
		if c.From == 0 || c.To < c.From || c.To-c.From > MaxReceiptID {
			return bad("gresend range")
		}
	case KindGroupReceipt:
		if (c.Status != ReceiptDelivered && c.Status != ReceiptRead) || len(c.IDs) == 0 || len(c.IDs) > MaxReceiptID {
			return bad("greceipt")
		}
		for _, id := range c.IDs {
			if !validID(id) {
				return bad("greceipt id")
			}
		}
	}
	return nil
}

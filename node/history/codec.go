package history

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// The message record's binary layout (docs/PROTOCOL.md "Message records"): what
// PutMessage writes at KeyMsg and seals at KeySealed since store format 2. A JSON record
// (format 1) starts with '{'; a binary one with MsgTag, a byte no JSON text starts with,
// so both read (DecodeMessage).
const (
	// MsgTag is the first byte of a binary message record of layout 1 (Version 1).
	MsgTag = 0x01
	// maxCount bounds the attachments, reactions and media ids of a decoded record.
	maxCount = 1 << 16
)

// Flags of a binary message record: which optional fields follow, in this order.
const (
	fReplyTo = 1 << iota
	fError
	fEditedAt
	fDeleted
	fIncoming
	fEditTS
	fDisappear
	fExpiresAt
	fSystem
	fSealed
	fAttachments
	fReactions
	fReactTS
	fMedia
	fAll = fMedia<<1 - 1
)

// Flags of an attachment.
const (
	aThumbnail = 1 << iota
	aAll       = aThumbnail<<1 - 1
)

// ErrMalformedRecord reports a binary message record that does not decode.
var ErrMalformedRecord = errors.New("history: malformed message record")

// EncodeMessage is r in the binary layout (its V is not stored: the tag says Version).
// Maps are written in key order, so equal records encode to equal bytes.
func EncodeMessage(r *Message) []byte {
	var fl uint64
	set := func(bit uint64, on bool) {
		if on {
			fl |= bit
		}
	}
	set(fReplyTo, r.ReplyTo != nil)
	set(fError, r.Error != "")
	set(fEditedAt, r.EditedAt != nil)
	set(fDeleted, r.Deleted)
	set(fIncoming, r.Incoming)
	set(fEditTS, r.EditTS != "")
	set(fDisappear, r.Disappear != 0)
	set(fExpiresAt, r.ExpiresAt != nil)
	set(fSystem, r.System)
	set(fSealed, r.Sealed)
	set(fAttachments, len(r.Attachments) > 0)
	set(fReactions, len(r.Reactions) > 0)
	set(fReactTS, len(r.ReactTS) > 0)
	set(fMedia, len(r.Media) > 0)

	b := make([]byte, 0, 64+len(r.ID)+len(r.ConversationID)+len(r.ClientMsgID)+len(r.SenderID)+
		len(r.Body)+len(r.Order)+len(r.Status)+len(r.ContactID))
	b = append(b, MsgTag)
	b = binary.AppendUvarint(b, fl)
	for _, s := range []string{r.ID, r.ConversationID, r.ClientMsgID, r.SenderID, r.Body, r.Order, r.Status, r.ContactID} {
		b = appendString(b, s)
	}
	for _, n := range []int64{r.SentAt, r.ReceivedAt, int64(r.Delivered), int64(r.Read), int64(r.Total)} {
		b = binary.AppendVarint(b, n)
	}
	if r.ReplyTo != nil {
		b = appendString(b, *r.ReplyTo)
	}
	if r.Error != "" {
		b = appendString(b, r.Error)
	}
	if r.EditedAt != nil {
		b = binary.AppendVarint(b, *r.EditedAt)
	}
	if r.EditTS != "" {
		b = appendString(b, r.EditTS)
	}
	if r.Disappear != 0 {
		b = binary.AppendVarint(b, r.Disappear)
	}
	if r.ExpiresAt != nil {
		b = binary.AppendVarint(b, *r.ExpiresAt)
	}
	if len(r.Attachments) > 0 {
		b = binary.AppendUvarint(b, uint64(len(r.Attachments)))
		for _, a := range r.Attachments {
			var af uint64
			if a.Thumbnail != nil {
				af |= aThumbnail
			}
			b = binary.AppendUvarint(b, af)
			for _, s := range []string{a.MediaID, a.Name, a.MIME, a.SHA256, a.State} {
				b = appendString(b, s)
			}
			for _, n := range []int64{a.Size, int64(a.Width), int64(a.Height), a.DurationMS, a.Received} {
				b = binary.AppendVarint(b, n)
			}
			if a.Thumbnail != nil {
				b = appendString(b, *a.Thumbnail)
			}
		}
	}
	if len(r.Reactions) > 0 {
		b = binary.AppendUvarint(b, uint64(len(r.Reactions)))
		for _, emoji := range slices.Sorted(maps.Keys(r.Reactions)) {
			b = appendString(b, emoji)
			b = appendStrings(b, r.Reactions[emoji])
		}
	}
	if len(r.ReactTS) > 0 {
		b = binary.AppendUvarint(b, uint64(len(r.ReactTS)))
		for _, user := range slices.Sorted(maps.Keys(r.ReactTS)) {
			b = appendString(b, user)
			m := r.ReactTS[user]
			b = binary.AppendUvarint(b, uint64(len(m)))
			for _, emoji := range slices.Sorted(maps.Keys(m)) {
				st := m[emoji]
				b = appendString(b, emoji)
				b = appendString(b, st.TS)
				on := byte(0)
				if st.Present {
					on = 1
				}
				b = append(b, on)
			}
		}
	}
	if len(r.Media) > 0 {
		b = appendStrings(b, r.Media)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// IsBinaryMessage reports whether v is a binary message record (else JSON, or damaged).
func IsBinaryMessage(v []byte) bool { return len(v) > 0 && v[0] == MsgTag }

// DecodeMessage reads a message record of either form: binary (MsgTag) or JSON. A JSON
// record keeps its own "v" (GetMessage checks it); a binary one is Version. A binary record
// must be canonical, as EncodeMessage writes it: a flag set only for a field that is not
// empty, and nothing after the last field.
func DecodeMessage(v []byte, r *Message) error {
	if !IsBinaryMessage(v) {
		*r = Message{}
		return json.Unmarshal(v, r)
	}
	d := decoder{b: v[1:]}
	*r = Message{V: Version}
	fl := d.uvarint()
	if fl&^fAll != 0 {
		*r = Message{}
		return fmt.Errorf("%w: unknown flags %#x", ErrMalformedRecord, fl&^fAll)
	}
	for _, p := range []*string{&r.ID, &r.ConversationID, &r.ClientMsgID, &r.SenderID, &r.Body, &r.Order, &r.Status, &r.ContactID} {
		*p = d.string()
	}
	r.SentAt, r.ReceivedAt = d.varint(), d.varint()
	r.Delivered, r.Read, r.Total = d.int(), d.int(), d.int()
	if fl&fReplyTo != 0 {
		s := d.string()
		r.ReplyTo = &s
	}
	if fl&fError != 0 {
		r.Error = d.nonEmpty()
	}
	if fl&fEditedAt != 0 {
		n := d.varint()
		r.EditedAt = &n
	}
	r.Deleted, r.Incoming = fl&fDeleted != 0, fl&fIncoming != 0
	if fl&fEditTS != 0 {
		r.EditTS = d.nonEmpty()
	}
	if fl&fDisappear != 0 {
		if r.Disappear = d.varint(); r.Disappear == 0 {
			d.fail("disappear flagged but 0")
		}
	}
	if fl&fExpiresAt != 0 {
		n := d.varint()
		r.ExpiresAt = &n
	}
	r.System, r.Sealed = fl&fSystem != 0, fl&fSealed != 0
	if fl&fAttachments != 0 {
		n := d.some()
		r.Attachments = make([]Attachment, 0, n)
		for range n {
			if d.err != nil {
				break
			}
			var a Attachment
			af := d.uvarint()
			if af&^aAll != 0 {
				d.fail("unknown attachment flags")
			}
			for _, p := range []*string{&a.MediaID, &a.Name, &a.MIME, &a.SHA256, &a.State} {
				*p = d.string()
			}
			a.Size, a.Width, a.Height, a.DurationMS, a.Received = d.varint(), d.int(), d.int(), d.varint(), d.varint()
			if af&aThumbnail != 0 {
				s := d.string()
				a.Thumbnail = &s
			}
			r.Attachments = append(r.Attachments, a)
		}
	}
	if fl&fReactions != 0 {
		n := d.some()
		r.Reactions = make(map[string][]string, n)
		for range n {
			if d.err != nil {
				break
			}
			emoji := d.string()
			r.Reactions[emoji] = d.strings()
		}
	}
	if fl&fReactTS != 0 {
		n := d.some()
		r.ReactTS = make(Reactions, n)
		for range n {
			if d.err != nil {
				break
			}
			user := d.string()
			k := d.count()
			m := make(map[string]ReactState, k)
			for range k {
				if d.err != nil {
					break
				}
				emoji, ts := d.string(), d.string()
				on := d.byte()
				if on > 1 {
					d.fail("reaction state not 0 or 1")
				}
				m[emoji] = ReactState{TS: ts, Present: on == 1}
			}
			r.ReactTS[user] = m
		}
	}
	if fl&fMedia != 0 {
		if r.Media = d.strings(); len(r.Media) == 0 {
			d.fail("media flagged but empty")
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		*r = Message{}
		return d.err
	}
	return nil
}

// decoder reads a binary record; its first error sticks and every read after it returns
// zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformedRecord, what)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[k:]
	return n
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	n, k := binary.Varint(d.b)
	if k <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[k:]
	return n
}

// int is a varint that fits an int.
func (d *decoder) int() int {
	n := d.varint()
	if n != int64(int(n)) {
		d.fail("integer out of range")
		return 0
	}
	return int(n)
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// count is a number of elements that follow, each at least one byte.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) || n > maxCount {
		d.fail("count beyond the record")
		return 0
	}
	return int(n)
}

// some is a count of a collection its flag says is not empty.
func (d *decoder) some() int {
	n := d.count()
	if n == 0 {
		d.fail("collection flagged but empty")
	}
	return n
}

// nonEmpty is a string its flag says is not empty.
func (d *decoder) nonEmpty() string {
	s := d.string()
	if s == "" {
		d.fail("string flagged but empty")
	}
	return s
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail("string beyond the record")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strings() []string {
	n := d.count()
	out := make([]string, 0, n)
	for range n {
		if d.err != nil {
			break
		}
		out = append(out, d.string())
	}
	return out
}

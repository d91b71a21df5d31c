package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/petrel-chat/petrel/internal/frame"
)

// Protocol ids.
const (
	MessageProtocol = "/petrel/msg/1.0.0"
	PrekeyProtocol  = "/petrel/prekey/1.0.0"
)

// Limits.
const (
	// MaxFrame bounds one frame on any petrel stream.
	MaxFrame = 1 << 20
	// IDSize is the size of an envelope id.
	IDSize = 16
)

// ErrMalformed reports bytes that are not a valid frame or content.
var ErrMalformed = errors.New("wire: malformed")

// ErrTooLarge reports a frame over MaxFrame.
var ErrTooLarge = errors.New("wire: frame too large")

// Frame types.
const (
	TypeDeliver byte = 0x01
	TypeAck     byte = 0x02
	TypePrekeys byte = 0x03 // prekey request (empty) and response (bundle)
	TypeError   byte = 0x04 // prekey protocol: a UTF-8 reason
)

// AckStatus says what the receiver did with a Deliver.
type AckStatus byte

// Ack statuses.
const (
	// AckStored: the content is durable on the receiving node (now or before).
	AckStored AckStatus = 0
	// AckBlocked: the receiver blocked the sender; the content was dropped.
	AckBlocked AckStatus = 1
	// AckUndecryptable: the receiver could not decrypt it (no session, corrupt).
	AckUndecryptable AckStatus = 2
	// AckRefused: malformed or otherwise refused content.
	AckRefused AckStatus = 3
)

func (s AckStatus) String() string {
	switch s {
	case AckStored:
		return "stored"
	case AckBlocked:
		return "blocked"
	case AckUndecryptable:
		return "undecryptable"
	case AckRefused:
		return "refused"
	}
	return fmt.Sprintf("status %d", byte(s))
}

// ID is an envelope id.
type ID [IDSize]byte

// Deliver carries one encrypted Content.
type Deliver struct {
	ID      ID
	Initial []byte // PQXDH initial message, or nil
	Message []byte // Double Ratchet message
}

// Ack answers a Deliver.
type Ack struct {
	ID     ID
	Status AckStatus
}

// AppendDeliver appends d's frame body.
func AppendDeliver(b []byte, d *Deliver) []byte {
	b = append(b, TypeDeliver)
	b = append(b, d.ID[:]...)
	b = binary.AppendUvarint(b, uint64(len(d.Initial)))
	b = append(b, d.Initial...)
	return append(b, d.Message...)
}

// AppendAck appends a's frame body.
func AppendAck(b []byte, a Ack) []byte {
	b = append(b, TypeAck)
	b = append(b, a.ID[:]...)
	return append(b, byte(a.Status))
}

// ParseDeliver parses a Deliver frame body. The result aliases b.
func ParseDeliver(b []byte) (*Deliver, error) {
	if len(b) < 1+IDSize+1 || b[0] != TypeDeliver {
		return nil, fmt.Errorf("%w: not a deliver frame", ErrMalformed)
	}
	d := &Deliver{}
	copy(d.ID[:], b[1:])
	r := b[1+IDSize:]
	n, k := binary.Uvarint(r)
	if k <= 0 || n > uint64(len(r)-k) {
		return nil, fmt.Errorf("%w: deliver initial length", ErrMalformed)
	}
	r = r[k:]
	if n > 0 {
		d.Initial = r[:n]
	}
	d.Message = r[n:]
	if len(d.Message) == 0 {
		return nil, fmt.Errorf("%w: deliver without message", ErrMalformed)
	}
	return d, nil
}

// ParseAck parses an Ack frame body.
func ParseAck(b []byte) (Ack, error) {
	if len(b) != 1+IDSize+1 || b[0] != TypeAck {
		return Ack{}, fmt.Errorf("%w: not an ack frame", ErrMalformed)
	}
	var a Ack
	copy(a.ID[:], b[1:])
	a.Status = AckStatus(b[1+IDSize])
	if a.Status > AckRefused {
		return Ack{}, fmt.Errorf("%w: ack status %d", ErrMalformed, a.Status)
	}
	return a, nil
}

// codec is the message and prekey protocols' framing (docs/PROTOCOL.md, Framing).
func codec() frame.Codec {
	return frame.Codec{Name: "wire", Max: MaxFrame, Malformed: ErrMalformed, TooLarge: ErrTooLarge}
}

// WriteFrame writes one length-prefixed frame to w (not flushed).
func WriteFrame(w *bufio.Writer, body []byte) error { return codec().Write(w, body) }

// ReadFrame reads one length-prefixed frame of at most MaxFrame bytes; its length must be
// the minimal uvarint. buf is reused when large enough; the result is valid until the next
// call with the same buf.
func ReadFrame(r *bufio.Reader, buf []byte) ([]byte, error) { return codec().Read(r, buf, 0) }

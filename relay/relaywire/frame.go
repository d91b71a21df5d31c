package relaywire

import (
	"bufio"
	"errors"
	"fmt"

	lpframe "github.com/petrel-chat/petrel/internal/frame"

	"github.com/petrel-chat/petrel/crypto/sealed"
)

// Protocol ids.
const (
	MailboxProtocol   = "/petrel/mailbox/1.0.0"
	PrekeyDirProtocol = "/petrel/prekeydir/1.0.0"
)

// Specification constants: changing one changes the bytes on the wire.
const (
	// MailboxIDSize is the size of a mailbox id (MailboxID).
	MailboxIDSize = 16
	// ChallengeSize is the size of a relay's challenge.
	ChallengeSize = 32
	// SignatureSize is the size of an Ed25519 signature.
	SignatureSize = 64
	// MailIDSize is the size of a mail id on the wire (big-endian uint64).
	MailIDSize = 8
	// MaxEnvelopeSize is the largest envelope crypto/sealed can produce (a relay's
	// configuration usually allows far less).
	MaxEnvelopeSize = 3 + sealed.MaxMailboxIDSize + 32 + sealed.MaxPaddedSize + 16
	// MaxFrame bounds one frame on either protocol: a Mail frame of the largest envelope.
	MaxFrame = 1 + MailIDSize + 8 + MaxEnvelopeSize
	// MaxMessage bounds a Result's message and a Proof's invite code.
	MaxMessage = 256
	// MaxAckIDs bounds the ids of one Ack frame.
	MaxAckIDs = 4096
	// MaxFetch bounds the Max of one Fetch.
	MaxFetch = 4096
	// MaxUploadKeys bounds the one-time prekeys of each kind in one Upload.
	MaxUploadKeys = 1000
	// MaxRecipients bounds the mailboxes of one MultiDeposit (a 500-member group's
	// offline members at one relay fit in one).
	MaxRecipients = 500
	// MaxHeaderSize bounds one recipient's header in a MultiDeposit (a crypto/sealed
	// shared-body header for a 16-byte mailbox id is 323 bytes).
	MaxHeaderSize = 1024
	// MaxMultiOverhead is the most a MultiDeposit frame adds to its body: the type, an
	// expiry, the count and MaxRecipients entries of the largest header.
	MaxMultiOverhead = 1 + 8 + 2 + MaxRecipients*(MailboxIDSize+2+MaxHeaderSize)
)

// Frame types. A frame body starts with its type.
const (
	TypeDeposit      byte = 0x01 // client → relay
	TypeResult       byte = 0x02 // relay → client
	TypeAuth         byte = 0x03 // client → relay
	TypeChallenge    byte = 0x04 // relay → client
	TypeProof        byte = 0x05 // client → relay
	TypeFetch        byte = 0x06 // client → relay
	TypeMail         byte = 0x07 // relay → client
	TypeFetchEnd     byte = 0x08 // relay → client
	TypeAck          byte = 0x09 // client → relay
	TypeWatch        byte = 0x0a // client → relay
	TypeNotice       byte = 0x0b // relay → client
	TypeMultiDeposit byte = 0x0c // client → relay
	TypeMultiResult  byte = 0x0d // relay → client
	// TypeDepositUntil and TypeMultiDepositUntil are Deposit and MultiDeposit with an
	// expiry (client → relay).
	TypeDepositUntil      byte = 0x0e
	TypeMultiDepositUntil byte = 0x0f
	TypeUpload            byte = 0x10 // client → relay
	TypeRemaining         byte = 0x11 // relay → client
	TypeGetBundle         byte = 0x12 // client → relay
	TypeBundle            byte = 0x13 // relay → client
	TypeCount             byte = 0x14 // client → relay
)

var (
	// ErrMalformed reports bytes that are not a valid frame or frame body.
	ErrMalformed = errors.New("relaywire: malformed")
	// ErrTooLarge reports a frame over MaxFrame (or a caller's smaller limit).
	ErrTooLarge = errors.New("relaywire: frame too large")
)

// Type returns a frame body's type, or 0 for an empty body.
func Type(body []byte) byte {
	if len(body) == 0 {
		return 0
	}
	return body[0]
}

// codec is the mailbox and prekey directory protocols' framing (docs/PROTOCOL.md).
func codec() lpframe.Codec {
	return lpframe.Codec{Name: "relaywire", Max: MaxFrame, Malformed: ErrMalformed, TooLarge: ErrTooLarge}
}

// WriteFrame writes one length-prefixed frame to w (not flushed).
func WriteFrame(w *bufio.Writer, body []byte) error { return codec().Write(w, body) }

// ReadFrame reads one length-prefixed frame of at most limit bytes (MaxFrame when limit is
// 0 or larger). io.EOF alone means the stream ended cleanly between frames. buf is reused
// when large enough; the result is valid until the next call with the same buf.
func ReadFrame(r *bufio.Reader, buf []byte, limit int) ([]byte, error) {
	return codec().Read(r, buf, limit)
}

// uvarint reads a canonical (minimal) uvarint from b.
func uvarint(b []byte) (uint64, int, error) { return lpframe.Uvarint(b, ErrMalformed) }

func malformed(what string) error { return fmt.Errorf("%w: %s", ErrMalformed, what) }

package relaywire

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// Deposit asks the relay to store a sealed envelope for a mailbox.
type Deposit struct {
	Mailbox  []byte // 1..255 bytes; the envelope's header must name the same mailbox
	Envelope []byte // a crypto/sealed envelope, opaque to the relay beyond its header
	// ExpiresAt, if not 0, is when the mail expires (Unix ms, > 0): the relay never hands
	// it out from then on and purges it. 0 is no expiry beyond the relay's mailbox TTL
	// (and the frame is a plain Deposit, as before expiring deposits existed).
	ExpiresAt int64
}

// AppendDeposit appends d's frame body: type ‖ mailbox length (1) ‖ mailbox ‖ envelope,
// or with an expiry TypeDepositUntil ‖ expires at (8, Unix ms) ‖ mailbox length ‖ mailbox
// ‖ envelope.
func AppendDeposit(b []byte, d Deposit) []byte {
	if d.ExpiresAt != 0 {
		b = append(b, TypeDepositUntil)
		b = binary.BigEndian.AppendUint64(b, uint64(d.ExpiresAt))
	} else {
		b = append(b, TypeDeposit)
	}
	b = append(b, byte(len(d.Mailbox)))
	b = append(b, d.Mailbox...)
	return append(b, d.Envelope...)
}

// ParseDeposit parses a Deposit or DepositUntil body; the result aliases body.
func ParseDeposit(body []byte) (Deposit, error) {
	var d Deposit
	switch Type(body) {
	case TypeDeposit:
		body = body[1:]
	case TypeDepositUntil:
		var err error
		if d.ExpiresAt, body, err = parseExpiry(body[1:]); err != nil {
			return Deposit{}, err
		}
	default:
		return Deposit{}, malformed("not a deposit")
	}
	if len(body) < 1 {
		return Deposit{}, malformed("deposit mailbox or envelope")
	}
	n := int(body[0])
	if n == 0 || len(body) < 1+n+1 {
		return Deposit{}, malformed("deposit mailbox or envelope")
	}
	d.Mailbox, d.Envelope = body[1:1+n], body[1+n:]
	return d, nil
}

// parseExpiry reads an expiry (8, Unix ms, > 0) from the start of b.
func parseExpiry(b []byte) (int64, []byte, error) {
	if len(b) < 8 {
		return 0, nil, malformed("expiry")
	}
	v := binary.BigEndian.Uint64(b)
	if v == 0 || v > 1<<63-1 {
		return 0, nil, malformed("expiry must be a positive Unix millisecond time")
	}
	return int64(v), b[8:], nil
}

// IsDeposit reports whether a frame type is one of the deposit kinds (Deposit,
// DepositUntil, MultiDeposit, MultiDepositUntil).
func IsDeposit(t byte) bool {
	return t == TypeDeposit || t == TypeDepositUntil || t == TypeMultiDeposit || t == TypeMultiDepositUntil
}

// IsMultiDeposit reports whether a frame type is MultiDeposit or MultiDepositUntil.
func IsMultiDeposit(t byte) bool { return t == TypeMultiDeposit || t == TypeMultiDepositUntil }

// Result answers a request: OK or a refusal with a short human message.
type Result struct {
	Code    Code
	Message string // at most MaxMessage bytes of UTF-8; never internal error text
}

// AppendResult appends r's body: type ‖ code (1) ‖ message.
func AppendResult(b []byte, r Result) []byte {
	msg := r.Message
	if len(msg) > MaxMessage {
		msg = msg[:MaxMessage]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
	}
	b = append(b, TypeResult, byte(r.Code))
	return append(b, msg...)
}

// ParseResult parses a Result body.
func ParseResult(body []byte) (Result, error) {
	if len(body) < 2 || body[0] != TypeResult {
		return Result{}, malformed("not a result")
	}
	msg := body[2:]
	if len(msg) > MaxMessage || !utf8.Valid(msg) {
		return Result{}, malformed("result message")
	}
	return Result{Code: Code(body[1]), Message: string(msg)}, nil
}

// AppendAuth appends an Auth body: type ‖ public identity (129).
func AppendAuth(b []byte, p *identity.PublicIdentity) []byte {
	b = append(b, TypeAuth)
	return append(b, p.Bytes()...)
}

// ParseAuth parses an Auth body and verifies the public identity's self-signature.
func ParseAuth(body []byte) (*identity.PublicIdentity, error) {
	if len(body) != 1+identity.PublicSize || body[0] != TypeAuth {
		return nil, malformed("not an auth")
	}
	p, err := identity.ParsePublic(body[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: auth identity: %w", ErrMalformed, err)
	}
	return p, nil
}

// AppendChallenge appends a Challenge body: type ‖ challenge (32).
func AppendChallenge(b []byte, challenge []byte) []byte {
	b = append(b, TypeChallenge)
	return append(b, challenge...)
}

// ParseChallenge parses a Challenge body; the result aliases body.
func ParseChallenge(body []byte) ([]byte, error) {
	if len(body) != 1+ChallengeSize || body[0] != TypeChallenge {
		return nil, malformed("not a challenge")
	}
	return body[1:], nil
}

// Proof answers a Challenge.
type Proof struct {
	// Register asks the relay to create the owner's mailbox (idempotent) under its
	// registration policy.
	Register bool
	// Signature is identity.Sign(DomainMailbox, ChallengeMessage(...)).
	Signature []byte
	// Invite is an invite code, for relays whose policy asks for one (at most MaxMessage
	// bytes of UTF-8).
	Invite string
}

const proofRegister = 0x01

// AppendProof appends p's body: type ‖ flags (1, bit 0 register) ‖ signature (64) ‖ invite.
func AppendProof(b []byte, p Proof) []byte {
	var flags byte
	if p.Register {
		flags |= proofRegister
	}
	b = append(b, TypeProof, flags)
	b = append(b, p.Signature...)
	return append(b, p.Invite...)
}

// ParseProof parses a Proof body; Signature aliases body.
func ParseProof(body []byte) (Proof, error) {
	if len(body) < 2+SignatureSize || body[0] != TypeProof || body[1]&^proofRegister != 0 {
		return Proof{}, malformed("not a proof")
	}
	inv := body[2+SignatureSize:]
	if len(inv) > MaxMessage || !utf8.Valid(inv) {
		return Proof{}, malformed("proof invite code")
	}
	return Proof{Register: body[1]&proofRegister != 0, Signature: body[2 : 2+SignatureSize], Invite: string(inv)}, nil
}

// AppendFetch appends a Fetch body: type ‖ max (uvarint, 1..MaxFetch).
func AppendFetch(b []byte, max int) []byte {
	b = append(b, TypeFetch)
	return binary.AppendUvarint(b, uint64(max))
}

// ParseFetch parses a Fetch body.
func ParseFetch(body []byte) (int, error) {
	if len(body) < 2 || body[0] != TypeFetch {
		return 0, malformed("not a fetch")
	}
	v, k, err := uvarint(body[1:])
	if err != nil || 1+k != len(body) || v == 0 || v > MaxFetch {
		return 0, malformed("fetch max")
	}
	return int(v), nil
}

// Mail is one stored envelope as the relay hands it to the owner.
type Mail struct {
	ID          uint64 // increasing in deposit order within a mailbox
	DepositedAt int64  // Unix milliseconds
	Envelope    []byte
}

// AppendMail appends m's body: type ‖ id (8) ‖ deposited at (8, Unix ms) ‖ envelope.
func AppendMail(b []byte, m Mail) []byte {
	b = append(b, TypeMail)
	b = binary.BigEndian.AppendUint64(b, m.ID)
	b = binary.BigEndian.AppendUint64(b, uint64(m.DepositedAt))
	return append(b, m.Envelope...)
}

// ParseMail parses a Mail body; Envelope aliases body.
func ParseMail(body []byte) (Mail, error) {
	if len(body) < 1+MailIDSize+8+1 || body[0] != TypeMail {
		return Mail{}, malformed("not a mail")
	}
	return Mail{
		ID:          binary.BigEndian.Uint64(body[1:]),
		DepositedAt: int64(binary.BigEndian.Uint64(body[1+MailIDSize:])),
		Envelope:    body[1+MailIDSize+8:],
	}, nil
}

// AppendFetchEnd appends a FetchEnd body: type ‖ more (1: 0 or 1).
func AppendFetchEnd(b []byte, more bool) []byte {
	if more {
		return append(b, TypeFetchEnd, 1)
	}
	return append(b, TypeFetchEnd, 0)
}

// ParseFetchEnd parses a FetchEnd body: whether more mail is waiting.
func ParseFetchEnd(body []byte) (bool, error) {
	if len(body) != 2 || body[0] != TypeFetchEnd || body[1] > 1 {
		return false, malformed("not a fetch end")
	}
	return body[1] == 1, nil
}

// AppendAck appends an Ack body: type ‖ count (uvarint, 1..MaxAckIDs) ‖ ids (8 each).
func AppendAck(b []byte, ids []uint64) []byte {
	b = append(b, TypeAck)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = binary.BigEndian.AppendUint64(b, id)
	}
	return b
}

// ParseAck parses an Ack body.
func ParseAck(body []byte) ([]uint64, error) {
	if len(body) < 2 || body[0] != TypeAck {
		return nil, malformed("not an ack")
	}
	n, k, err := uvarint(body[1:])
	if err != nil || n == 0 || n > MaxAckIDs || uint64(len(body)-1-k) != n*MailIDSize {
		return nil, malformed("ack ids")
	}
	rest := body[1+k:]
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = binary.BigEndian.Uint64(rest[i*MailIDSize:])
	}
	return ids, nil
}

// AppendWatch appends a Watch body (the type alone).
func AppendWatch(b []byte) []byte { return append(b, TypeWatch) }

// ParseWatch checks a Watch body.
func ParseWatch(body []byte) error {
	if len(body) != 1 || body[0] != TypeWatch {
		return malformed("not a watch")
	}
	return nil
}

// AppendNotice appends a Notice body: type ‖ waiting (uvarint): how many messages the
// mailbox holds.
func AppendNotice(b []byte, waiting uint64) []byte {
	b = append(b, TypeNotice)
	return binary.AppendUvarint(b, waiting)
}

// ParseNotice parses a Notice body.
func ParseNotice(body []byte) (uint64, error) {
	if len(body) < 2 || body[0] != TypeNotice {
		return 0, malformed("not a notice")
	}
	v, k, err := uvarint(body[1:])
	if err != nil || 1+k != len(body) {
		return 0, malformed("notice count")
	}
	return v, nil
}

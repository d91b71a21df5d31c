package relaywire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrTooManyRecipients reports a MultiDeposit listing more than MaxRecipients mailboxes.
// It is returned with ErrMalformed.
var ErrTooManyRecipients = errors.New("relaywire: too many recipients")

// Recipient is one mailbox of a MultiDeposit and the header sealed for it.
type Recipient struct {
	Mailbox []byte // MailboxIDSize bytes
	Header  []byte // a crypto/sealed envelope naming Mailbox (1..MaxHeaderSize bytes)
}

// MultiDeposit asks the relay to store one body for several mailboxes, each with its own
// header: the relay keeps the body once and one entry per mailbox, and each owner fetches
// sealed.JoinShared(header, body).
type MultiDeposit struct {
	Recipients []Recipient // 1..MaxRecipients, no mailbox twice
	Body       []byte      // a crypto/sealed shared body, opaque to the relay beyond its version
	// ExpiresAt, if not 0, is when the mail expires for every recipient (Unix ms, > 0);
	// the frame is then a MultiDepositUntil. See Deposit.ExpiresAt.
	ExpiresAt int64
}

// AppendMultiDeposit appends d's frame body:
//
//	type ‖ n (uvarint, 1..MaxRecipients) ‖ n × (mailbox (16) ‖ header length (uvarint) ‖ header) ‖ body
//
// With an expiry the type is TypeMultiDepositUntil and expires at (8, Unix ms) follows it.
func AppendMultiDeposit(b []byte, d MultiDeposit) []byte {
	if d.ExpiresAt != 0 {
		b = append(b, TypeMultiDepositUntil)
		b = binary.BigEndian.AppendUint64(b, uint64(d.ExpiresAt))
	} else {
		b = append(b, TypeMultiDeposit)
	}
	b = binary.AppendUvarint(b, uint64(len(d.Recipients)))
	for _, r := range d.Recipients {
		b = append(b, r.Mailbox...)
		b = binary.AppendUvarint(b, uint64(len(r.Header)))
		b = append(b, r.Header...)
	}
	return append(b, d.Body...)
}

// ParseMultiDeposit parses a MultiDeposit body; the result aliases body. More than
// MaxRecipients recipients is ErrTooManyRecipients (and ErrMalformed).
func ParseMultiDeposit(body []byte) (MultiDeposit, error) {
	var expires int64
	switch Type(body) {
	case TypeMultiDeposit:
		body = body[1:]
	case TypeMultiDepositUntil:
		var err error
		if expires, body, err = parseExpiry(body[1:]); err != nil {
			return MultiDeposit{}, err
		}
	default:
		return MultiDeposit{}, malformed("not a multi deposit")
	}
	if len(body) < 1 {
		return MultiDeposit{}, malformed("multi deposit count")
	}
	n, k, err := uvarint(body)
	if err != nil || n == 0 {
		return MultiDeposit{}, malformed("multi deposit count")
	}
	if n > MaxRecipients {
		return MultiDeposit{}, fmt.Errorf("%w: %w: %d of at most %d", ErrMalformed, ErrTooManyRecipients, n, MaxRecipients)
	}
	rest := body[k:]
	d := MultiDeposit{Recipients: make([]Recipient, 0, n), ExpiresAt: expires}
	seen := make(map[string]bool, n)
	for range n {
		if len(rest) < MailboxIDSize {
			return MultiDeposit{}, malformed("multi deposit mailbox")
		}
		mb := rest[:MailboxIDSize]
		if seen[string(mb)] {
			return MultiDeposit{}, malformed("multi deposit lists a mailbox twice")
		}
		seen[string(mb)] = true
		hl, k, err := uvarint(rest[MailboxIDSize:])
		if err != nil || hl == 0 || hl > MaxHeaderSize || uint64(len(rest)-MailboxIDSize-k) < hl {
			return MultiDeposit{}, malformed("multi deposit header")
		}
		h := rest[MailboxIDSize+k : MailboxIDSize+k+int(hl)]
		d.Recipients = append(d.Recipients, Recipient{Mailbox: mb, Header: h})
		rest = rest[MailboxIDSize+k+int(hl):]
	}
	if len(rest) == 0 {
		return MultiDeposit{}, malformed("multi deposit body")
	}
	d.Body = rest
	return d, nil
}

// AppendMultiResult appends a MultiResult body: type ‖ n (uvarint) ‖ n codes (1 each), one
// per recipient of the deposit it answers, in its order (OK: stored durably).
func AppendMultiResult(b []byte, codes []Code) []byte {
	b = append(b, TypeMultiResult)
	b = binary.AppendUvarint(b, uint64(len(codes)))
	for _, c := range codes {
		b = append(b, byte(c))
	}
	return b
}

// ParseMultiResult parses a MultiResult body.
func ParseMultiResult(body []byte) ([]Code, error) {
	if len(body) < 2 || body[0] != TypeMultiResult {
		return nil, malformed("not a multi result")
	}
	n, k, err := uvarint(body[1:])
	if err != nil || n == 0 || n > MaxRecipients || uint64(len(body)-1-k) != n {
		return nil, malformed("multi result codes")
	}
	codes := make([]Code, n)
	for i, c := range body[1+k:] {
		codes[i] = Code(c)
	}
	return codes, nil
}

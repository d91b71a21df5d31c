package mailboxclient

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// Recipient is one mailbox of a multi deposit and the header sealed for it
// (crypto/sealed SharedBody.HeaderFrom).
type Recipient struct {
	Mailbox, Header []byte
}

// DepositMulti stores one shared body (crypto/sealed SealBody) for up to
// relaywire.MaxRecipients mailboxes at relay, in one frame: the relay keeps the body once.
// errs[i] is nil once recipient i's mailbox holds it durably, or that mailbox's refusal (a
// *RefusedError: a full mailbox refuses only itself). err is set when the whole deposit
// failed and nothing was stored: a *RefusedError (ErrBadRequest from a relay that predates
// multi deposits: deposit one envelope per mailbox there instead; ErrTooLarge,
// ErrRateLimited, ErrUnavailable), or the exchange's own failure (then it may or may not be
// stored: deposit it again; the recipients dedup). WithExpiry makes it expire for every
// recipient.
func DepositMulti(ctx context.Context, h host.Host, relay peer.ID, recipients []Recipient, body []byte, opts ...DepositOption) (errs []error, err error) {
	if len(recipients) == 0 || len(recipients) > relaywire.MaxRecipients {
		return nil, fmt.Errorf("mailboxclient: %d recipients (1..%d)", len(recipients), relaywire.MaxRecipients)
	}
	d := relaywire.MultiDeposit{Recipients: make([]relaywire.Recipient, len(recipients)), Body: body,
		ExpiresAt: expiryMs(depositOpts(opts).expiresAt)}
	for i, r := range recipients {
		if len(r.Mailbox) != relaywire.MailboxIDSize || len(r.Header) == 0 || len(r.Header) > relaywire.MaxHeaderSize {
			return nil, fmt.Errorf("mailboxclient: recipient %d: mailbox of %d bytes, header of %d", i, len(r.Mailbox), len(r.Header))
		}
		d.Recipients[i] = relaywire.Recipient(r)
	}
	frame := relaywire.AppendMultiDeposit(nil, d)
	if len(frame) > relaywire.MaxFrame {
		return nil, fmt.Errorf("mailboxclient: multi deposit of %d bytes: %w", len(frame), relaywire.ErrTooLarge)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	c, err := open(ctx, h, relay, relaywire.MailboxProtocol)
	if err != nil {
		return nil, err
	}
	defer func() { c.close(err) }()
	if err := c.send(frame); err != nil {
		return nil, err
	}
	if err := c.st.CloseWrite(); err != nil {
		return nil, fmt.Errorf("mailboxclient: write: %w", err)
	}
	answer, err := c.read(relaywire.TypeMultiResult)
	if err != nil {
		return nil, err // a Result is a refusal of the whole deposit
	}
	codes, err := relaywire.ParseMultiResult(answer)
	if err != nil || len(codes) != len(recipients) {
		return nil, fmt.Errorf("%w: multi result of %d codes for %d recipients (%v)", ErrProtocol, len(codes), len(recipients), err)
	}
	errs = make([]error, len(codes))
	for i, code := range codes {
		if code != relaywire.OK {
			errs[i] = &RefusedError{Code: code}
		}
	}
	return errs, nil
}

package mailboxclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// MailboxID returns the mailbox id of a user (relaywire.MailboxID).
func MailboxID(p *identity.PublicIdentity) []byte { return relaywire.MailboxID(p) }

// Mail is one envelope waiting in the owner's mailbox.
type Mail struct {
	ID          uint64 // increasing in deposit order; Ack takes it
	Envelope    []byte // a crypto/sealed envelope
	DepositedAt time.Time
}

// A RegisterOption adjusts Register.
type RegisterOption func(*registerOptions)

type registerOptions struct{ invite string }

// WithInvite passes an invite code, for relays whose registration policy asks for one.
func WithInvite(code string) RegisterOption {
	return func(o *registerOptions) { o.invite = code }
}

// Register creates id's mailbox at relay (idempotent: a node registers at every start). A
// relay whose policy refuses it answers ErrRegistrationRefused.
func Register(ctx context.Context, h host.Host, relay peer.ID, id *identity.Identity, opts ...RegisterOption) error {
	var o registerOptions
	for _, f := range opts {
		f(&o)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	c, err := open(ctx, h, relay, relaywire.MailboxProtocol)
	if err != nil {
		return err
	}
	err = c.authenticate(h, relay, id, true, o.invite)
	c.close(err)
	return err
}

// A DepositOption adjusts Deposit and DepositMulti.
type DepositOption func(*depositOptions)

type depositOptions struct{ expiresAt time.Time }

// WithExpiry makes the deposit expire at t (disappearing messages): the relay never hands
// it out from then on (by its clock) and purges it, releasing the mailbox's quota. A zero
// t is no expiry beyond the relay's mailbox TTL. A relay that predates expiring deposits
// refuses them with ErrBadRequest: deposit without the expiry there.
func WithExpiry(t time.Time) DepositOption {
	return func(o *depositOptions) { o.expiresAt = t }
}

func depositOpts(opts []DepositOption) depositOptions {
	var o depositOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// expiryMs is t in Unix ms for the wire (0 for the zero time; at least 1 otherwise, as 0
// means none on the wire).
func expiryMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.UnixMilli(), 1)
}

// Deposit stores a sealed envelope in mailbox at relay and returns once the relay holds it
// durably. A refusal is a *RefusedError (errors.Is with ErrQuotaBytes, ErrRateLimited, ...).
func Deposit(ctx context.Context, h host.Host, relay peer.ID, mailbox, envelope []byte, opts ...DepositOption) error {
	o := depositOpts(opts)
	errs, err := DepositBatch(ctx, h, relay, []Envelope{{Mailbox: mailbox, Envelope: envelope, ExpiresAt: o.expiresAt}})
	if err != nil {
		return err
	}
	return errs[0]
}

// Envelope is one deposit of a batch.
type Envelope struct {
	Mailbox, Envelope []byte
	// ExpiresAt, if not zero, is when the deposit expires at the relay (WithExpiry).
	ExpiresAt time.Time
}

// DepositBatch deposits envelopes pipelined on one stream (one round trip, and shared group
// commits at the relay). errs[i] is nil once envelope i is durable at the relay, or its
// refusal. If the exchange fails part way, err is that failure and errs[i] is err for every
// envelope without an answer (it may or may not be stored: deposit it again).
func DepositBatch(ctx context.Context, h host.Host, relay peer.ID, envelopes []Envelope) (errs []error, err error) {
	for _, e := range envelopes {
		if len(e.Mailbox) == 0 || len(e.Mailbox) > 255 {
			return nil, fmt.Errorf("mailboxclient: mailbox id of %d bytes", len(e.Mailbox))
		}
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	c, err := open(ctx, h, relay, relaywire.MailboxProtocol)
	if err != nil {
		return nil, err
	}
	defer func() { c.close(err) }()
	// The relay answers in order while we write; write from a goroutine so that neither
	// side waits with its buffers full. It ends before we return (close resets the stream).
	writeErr := make(chan error, 1)
	go func() {
		var buf []byte
		for _, e := range envelopes {
			buf = relaywire.AppendDeposit(buf[:0], relaywire.Deposit{Mailbox: e.Mailbox, Envelope: e.Envelope, ExpiresAt: expiryMs(e.ExpiresAt)})
			if err := c.write(buf); err != nil {
				writeErr <- err
				return
			}
		}
		if err := c.flush(); err != nil {
			writeErr <- err
			return
		}
		writeErr <- c.st.CloseWrite()
	}()
	errs = make([]error, len(envelopes))
	for i := range envelopes {
		e := c.result()
		var re *RefusedError
		if e != nil && !errors.As(e, &re) {
			err = e
			for j := i; j < len(errs); j++ {
				errs[j] = e
			}
			break
		}
		errs[i] = e
	}
	if err != nil {
		c.st.Reset()
		<-writeErr
		return errs, err
	}
	<-writeErr // every envelope is answered: a late write error changes nothing
	return errs, nil
}

// Session is an authenticated owner stream for fetching and acknowledging. Not safe for
// concurrent use. Close it when done.
type Session struct {
	c      *conn
	cancel context.CancelFunc
}

// Open authenticates id at relay for fetch and ack. ctx bounds the whole session (with
// DefaultTimeout when it has no deadline).
func Open(ctx context.Context, h host.Host, relay peer.ID, id *identity.Identity) (*Session, error) {
	ctx, cancel := withTimeout(ctx)
	c, err := open(ctx, h, relay, relaywire.MailboxProtocol)
	if err != nil {
		cancel()
		return nil, err
	}
	if err := c.authenticate(h, relay, id, false, ""); err != nil {
		c.close(err)
		cancel()
		return nil, err
	}
	return &Session{c: c, cancel: cancel}, nil
}

// Fetch returns up to max (1..4096) of the oldest messages waiting, in deposit order, and
// whether more wait. Messages stay until acknowledged.
func (s *Session) Fetch(max int) ([]Mail, bool, error) {
	if max < 1 || max > relaywire.MaxFetch {
		return nil, false, fmt.Errorf("mailboxclient: fetch max %d out of 1..%d", max, relaywire.MaxFetch)
	}
	if err := s.c.send(relaywire.AppendFetch(nil, max)); err != nil {
		return nil, false, err
	}
	var out []Mail
	var last uint64
	for {
		body, err := relaywire.ReadFrame(s.c.r, nil, 0)
		if err != nil {
			return nil, false, fmt.Errorf("mailboxclient: fetch: %w", err)
		}
		switch relaywire.Type(body) {
		case relaywire.TypeMail:
			m, err := relaywire.ParseMail(body)
			if err != nil {
				return nil, false, fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			if len(out) >= max || m.ID <= last {
				return nil, false, fmt.Errorf("%w: mail out of order or beyond max", ErrProtocol)
			}
			last = m.ID
			out = append(out, Mail{ID: m.ID, Envelope: m.Envelope, DepositedAt: time.UnixMilli(m.DepositedAt)})
		case relaywire.TypeFetchEnd:
			more, err := relaywire.ParseFetchEnd(body)
			if err != nil {
				return nil, false, fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			return out, more, nil
		case relaywire.TypeResult:
			r, err := relaywire.ParseResult(body)
			if err != nil {
				return nil, false, fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			return nil, false, refusal(r)
		default:
			return nil, false, fmt.Errorf("%w: frame type %#x in a fetch", ErrProtocol, relaywire.Type(body))
		}
	}
}

// Ack deletes the messages ids at the relay (durably, once it returns nil).
func (s *Session) Ack(ids []uint64) error {
	for len(ids) > 0 {
		n := min(len(ids), relaywire.MaxAckIDs)
		if err := s.c.send(relaywire.AppendAck(nil, ids[:n])); err != nil {
			return err
		}
		if err := s.c.result(); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// Close ends the session.
func (s *Session) Close() error {
	s.c.close(nil)
	s.cancel()
	return nil
}

// Fetch opens a session, fetches up to max messages and closes it.
func Fetch(ctx context.Context, h host.Host, relay peer.ID, id *identity.Identity, max int) ([]Mail, error) {
	s, err := Open(ctx, h, relay, id)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	mail, _, err := s.Fetch(max)
	return mail, err
}

// Ack opens a session and acknowledges ids.
func Ack(ctx context.Context, h host.Host, relay peer.ID, id *identity.Identity, ids []uint64) error {
	s, err := Open(ctx, h, relay, id)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Ack(ids)
}

// Drain fetches id's mailbox in rounds of up to batch messages, calls handle with each
// round (in deposit order) and acknowledges a round only after handle returned nil. It stops
// when the mailbox is empty, and returns how many messages were handled. An error of handle
// stops the drain (that round stays at the relay) and is returned.
func Drain(ctx context.Context, h host.Host, relay peer.ID, id *identity.Identity, batch int, handle func([]Mail) error) (int, error) {
	s, err := Open(ctx, h, relay, id)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	total := 0
	for {
		mail, more, err := s.Fetch(batch)
		if err != nil {
			return total, err
		}
		if len(mail) == 0 {
			return total, nil
		}
		if err := handle(mail); err != nil {
			return total, err
		}
		ids := make([]uint64, len(mail))
		for i, m := range mail {
			ids[i] = m.ID
		}
		if err := s.Ack(ids); err != nil {
			return total, err
		}
		total += len(mail)
		if !more {
			return total, nil
		}
	}
}

// Watch asks relay to notify id's node whenever mail waits: the channel receives the number
// of waiting messages at once and after each deposit (coalesced: a slow reader sees the
// latest count). It is closed when ctx ends or the relay ends the stream (then watch again).
// The goroutine behind it ends with the channel.
func Watch(ctx context.Context, h host.Host, relay peer.ID, id *identity.Identity) (<-chan uint64, error) {
	c, err := open(ctx, h, relay, relaywire.MailboxProtocol)
	if err != nil {
		return nil, err
	}
	setup, cancel := withTimeout(ctx)
	c.st.SetDeadline(deadlineOf(setup))
	err = c.authenticate(h, relay, id, false, "")
	if err == nil {
		err = c.send(relaywire.AppendWatch(nil))
	}
	var first uint64
	if err == nil {
		first, err = readNotice(c)
	}
	cancel()
	if err != nil {
		c.close(err)
		return nil, err
	}
	c.st.SetDeadline(time.Time{})
	out := make(chan uint64, 1)
	out <- first
	go func() {
		defer close(out)
		defer c.close(errors.New("watch ended"))
		for {
			n, err := readNotice(c)
			if err != nil {
				return
			}
			select {
			case <-out: // drop an unread count for the newer one
			default:
			}
			select {
			case out <- n:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

func readNotice(c *conn) (uint64, error) {
	body, err := c.read(relaywire.TypeNotice)
	if err != nil {
		return 0, err
	}
	n, err := relaywire.ParseNotice(body)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return n, nil
}

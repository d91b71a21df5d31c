package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/groups"
	"github.com/petrel-chat/petrel/node/homerelays"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
)

// relayLink implements messenger.RelayLink with the relay client over the node's host.
type relayLink struct {
	host func() host.Host // nil until the node runs
}

var errNotRunning = errors.New("node: not running")

func (l relayLink) MailboxID(user *identity.PublicIdentity) []byte {
	return mailboxclient.MailboxID(user)
}

func (l relayLink) Deposit(ctx context.Context, relay string, mailbox []byte, envelopes [][]byte) ([]error, error) {
	return l.deposit(ctx, relay, mailbox, envelopes, nil)
}

// deposit makes one batch deposit into mailbox, envelope i expiring at expires[i] (Unix ms;
// 0 or absent: none).
func (l relayLink) deposit(ctx context.Context, relay string, mailbox []byte, envelopes [][]byte, expires []int64) ([]error, error) {
	h, pid, err := l.connectable(relay)
	if err != nil {
		return nil, err
	}
	batch := make([]mailboxclient.Envelope, len(envelopes))
	for i, e := range envelopes {
		batch[i] = mailboxclient.Envelope{Mailbox: mailbox, Envelope: e}
		if i < len(expires) && expires[i] > 0 {
			batch[i].ExpiresAt = time.UnixMilli(expires[i])
		}
	}
	return mailboxclient.DepositBatch(ctx, h, pid, batch)
}

// DepositExpiring is Deposit with an expiry per envelope (Unix ms, 0 none; outbox's
// ExpiringMailbox, disappearing messages). A relay that predates expiring deposits
// refuses them with bad_request: the batch goes again without expiries there (the
// receiver still drops a message that arrives after its expiry). A batch without any
// expiry is a plain Deposit, so a refusal of it is not sent twice.
func (l relayLink) DepositExpiring(ctx context.Context, relay string, mailbox []byte, envelopes [][]byte, expires []int64) ([]error, error) {
	if !slices.ContainsFunc(expires, func(e int64) bool { return e > 0 }) {
		return l.Deposit(ctx, relay, mailbox, envelopes) // nothing to fall back from
	}
	errs, err := l.deposit(ctx, relay, mailbox, envelopes, expires)
	if errors.Is(err, mailboxclient.ErrBadRequest) || err == nil && slices.ContainsFunc(errs, func(e error) bool { return errors.Is(e, mailboxclient.ErrBadRequest) }) {
		return l.Deposit(ctx, relay, mailbox, envelopes)
	}
	return errs, err
}

// DepositShared makes one multi deposit. A relay that answers bad_request (it predates
// multi deposits), too_large or bad_envelope will not take it: ErrMultiUnsupported.
// Rate-limited and unavailable refusals, whole or per mailbox, are ErrRelayBusy.
func (l relayLink) DepositShared(ctx context.Context, relay string, recipients []groups.SharedRecipient, body []byte) ([]error, error) {
	h, pid, err := l.connectable(relay)
	if err != nil {
		return nil, err
	}
	rs := make([]mailboxclient.Recipient, len(recipients))
	for i, r := range recipients {
		rs[i] = mailboxclient.Recipient(r)
	}
	return l.sharedErrors(mailboxclient.DepositMulti(ctx, h, pid, rs, body))
}

// sharedErrors maps a multi deposit's outcome to DepositShared's errors.
func (relayLink) sharedErrors(errs []error, err error) ([]error, error) {
	switch {
	case errors.Is(err, mailboxclient.ErrBadRequest), errors.Is(err, mailboxclient.ErrTooLarge), errors.Is(err, mailboxclient.ErrBadEnvelope):
		return nil, fmt.Errorf("%w: %w", groups.ErrMultiUnsupported, err)
	case err != nil:
		return nil, err
	}
	for i, e := range errs {
		if errors.Is(e, mailboxclient.ErrRateLimited) || errors.Is(e, mailboxclient.ErrUnavailable) {
			errs[i] = fmt.Errorf("%w: %w", groups.ErrRelayBusy, e)
		}
	}
	return errs, nil
}

// DepositSharedUntil is DepositShared for mail that expires at until (disappearing
// messages; groupmail.ExpiringRelayLink): the relay never hands it out after that. A relay
// that predates expiring deposits answers bad_request: the deposit goes again without the
// expiry (the receivers still drop the message on arrival).
func (l relayLink) DepositSharedUntil(ctx context.Context, relay string, recipients []groups.SharedRecipient, body []byte, until time.Time) ([]error, error) {
	h, pid, err := l.connectable(relay)
	if err != nil {
		return nil, err
	}
	rs := make([]mailboxclient.Recipient, len(recipients))
	for i, r := range recipients {
		rs[i] = mailboxclient.Recipient(r)
	}
	errs, err := mailboxclient.DepositMulti(ctx, h, pid, rs, body, mailboxclient.WithExpiry(until))
	if errors.Is(err, mailboxclient.ErrBadRequest) {
		return l.DepositShared(ctx, relay, recipients, body)
	}
	if err != nil {
		return l.sharedErrors(nil, err)
	}
	return l.sharedErrors(errs, nil)
}

func (l relayLink) Bundle(ctx context.Context, relay string, user *identity.PublicIdentity) ([]byte, error) {
	h, pid, err := l.connectable(relay)
	if err != nil {
		return nil, err
	}
	b, err := mailboxclient.FetchBundle(ctx, h, pid, user)
	if err != nil {
		return nil, err
	}
	return b.Marshal(), nil
}

// connectable parses a relay's full multiaddr and tells the peerstore where it listens.
func (l relayLink) connectable(relay string) (host.Host, peer.ID, error) {
	h := l.host()
	if h == nil {
		return nil, "", errNotRunning
	}
	ai, err := homerelays.ParseRelay(relay)
	if err != nil {
		return nil, "", err
	}
	h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	return h, ai.ID, nil
}

// relayPrekeys is homerelays' Prekeys: the messenger sets the keys aside, the upload
// carries them.
func (n *Node) relayPrekeys(ctx context.Context, want int) (*mailboxclient.Upload, error) {
	pk, err := n.msg.PrekeysForRelay(ctx, want)
	if err != nil {
		return nil, err
	}
	return &mailboxclient.Upload{SignedPrekey: pk.Signed, LastResort: pk.LastResort, OneTime: pk.OneTime, PQOneTime: pk.PQOneTime}, nil
}

package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/messenger"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
)

// Home relay parameters.
const (
	// drainBatch is how many envelopes one fetch round takes (and one store transaction
	// processes).
	drainBatch = 256
	// prekeyLowWater: below this many one-time prekeys of either kind at a relay, the node
	// uploads more.
	prekeyLowWater = 10
	// relayRetryMax caps the delay between attempts to reach a home relay.
	relayRetryMax = 30 * time.Second
	// relayPoll drains even without a watch notice, in case one was missed.
	relayPoll = time.Minute
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
	h, pid, err := l.connectable(relay)
	if err != nil {
		return nil, err
	}
	batch := make([]mailboxclient.Envelope, len(envelopes))
	for i, e := range envelopes {
		batch[i] = mailboxclient.Envelope{Mailbox: mailbox, Envelope: e}
	}
	return mailboxclient.DepositBatch(ctx, h, pid, batch)
}

// DepositShared makes one multi deposit. A relay that answers bad_request (it predates
// multi deposits), too_large or bad_envelope will not take it: ErrMultiUnsupported.
// Rate-limited and unavailable refusals, whole or per mailbox, are ErrRelayBusy.
func (l relayLink) DepositShared(ctx context.Context, relay string, recipients []messenger.SharedRecipient, body []byte) ([]error, error) {
	h, pid, err := l.connectable(relay)
	if err != nil {
		return nil, err
	}
	rs := make([]mailboxclient.Recipient, len(recipients))
	for i, r := range recipients {
		rs[i] = mailboxclient.Recipient(r)
	}
	errs, err := mailboxclient.DepositMulti(ctx, h, pid, rs, body)
	switch {
	case errors.Is(err, mailboxclient.ErrBadRequest), errors.Is(err, mailboxclient.ErrTooLarge), errors.Is(err, mailboxclient.ErrBadEnvelope):
		return nil, fmt.Errorf("%w: %w", messenger.ErrMultiUnsupported, err)
	case err != nil:
		return nil, err
	}
	for i, e := range errs {
		if errors.Is(e, mailboxclient.ErrRateLimited) || errors.Is(e, mailboxclient.ErrUnavailable) {
			errs[i] = fmt.Errorf("%w: %w", messenger.ErrRelayBusy, e)
		}
	}
	return errs, nil
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
	ai, err := parseRelay(relay)
	if err != nil {
		return nil, "", err
	}
	h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	return h, ai.ID, nil
}

// relayInviteMark separates a home relay's address from its registration invite code in
// --relay ADDR#invite=CODE. The code is for registering only: it never goes into invite
// links or cards.
const relayInviteMark = "#invite="

// splitRelayInvites returns the relay addresses without invite codes, and the codes.
func splitRelayInvites(relays []string) ([]string, map[string]string, error) {
	out := make([]string, 0, len(relays))
	codes := map[string]string{}
	for _, r := range relays {
		addr, code, found := strings.Cut(r, relayInviteMark)
		if found && code == "" {
			return nil, nil, fmt.Errorf("relay %q: empty invite code", addr)
		}
		if _, err := parseRelay(addr); err != nil {
			return nil, nil, err
		}
		out = append(out, addr)
		if found {
			codes[addr] = code
		}
	}
	return out, codes, nil
}

func parseRelay(s string) (*peer.AddrInfo, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil, fmt.Errorf("relay address %q: %w", s, err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return nil, fmt.Errorf("relay address %q (needs /p2p/): %w", s, err)
	}
	return ai, nil
}

// homeRelays keeps the node registered at its home relays and drains its mailboxes there:
// on start, whenever a relay says mail waits, and every relayPoll. One goroutine per relay,
// all owned by run.
type homeRelays struct {
	h   host.Host
	id  *identity.Identity
	m   *messenger.Messenger
	log *slog.Logger

	invites map[string]string // relay → registration invite code, where one is needed

	mu    sync.Mutex
	state map[string]bool // relay → registered and reachable
	drain sync.Mutex      // one drain at a time: mail from several relays is merged in order

	poll     time.Duration
	upMu     sync.Mutex
	uploaded map[peer.ID][2]uint32 // relay → ids of the signed and last-resort prekeys it holds
}

func (r *homeRelays) connected(relay string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state[relay]
}

func (r *homeRelays) set(relay string, ok bool) {
	r.mu.Lock()
	r.state[relay] = ok
	r.mu.Unlock()
}

// run serves every relay until ctx ends.
func (r *homeRelays) run(ctx context.Context, relays []string) error {
	var wg sync.WaitGroup
	for _, relay := range relays {
		ai, err := parseRelay(relay)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.serve(ctx, relay, ai)
		}()
	}
	wg.Wait()
	return nil
}

// serve registers at one relay and drains it, reconnecting with backoff.
func (r *homeRelays) serve(ctx context.Context, relay string, ai *peer.AddrInfo) {
	attempt := 0
	for ctx.Err() == nil {
		err := r.session(ctx, relay, ai)
		r.set(relay, false)
		if ctx.Err() != nil {
			return
		}
		d := min(time.Second<<min(attempt, 5), relayRetryMax)
		d = d/2 + time.Duration(mrand.Int64N(int64(d/2)+1))
		attempt++
		r.log.Warn("home relay unavailable, retrying", "relay", relay, "err", err, "in", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// session is one connected spell with a relay: register, top up prekeys, drain, then drain
// again on every notice until the watch ends.
func (r *homeRelays) session(ctx context.Context, relay string, ai *peer.AddrInfo) error {
	r.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	r.h.ConnManager().Protect(ai.ID, "home-relay")
	if err := r.h.Connect(ctx, *ai); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	var opts []mailboxclient.RegisterOption
	if code := r.invites[relay]; code != "" {
		opts = append(opts, mailboxclient.WithInvite(code))
	}
	if err := mailboxclient.Register(ctx, r.h, ai.ID, r.id, opts...); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if err := r.topUpPrekeys(ctx, ai.ID); err != nil {
		return fmt.Errorf("prekeys: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	notices, err := mailboxclient.Watch(wctx, r.h, ai.ID, r.id)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	r.set(relay, true)
	r.log.Info("home relay ready", "relay", relay)
	if err := r.drainOnce(ctx, ai.ID); err != nil {
		return err
	}
	poll := time.NewTicker(r.poll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case n, ok := <-notices:
			if !ok {
				return errors.New("watch ended")
			}
			if n == 0 {
				continue
			}
		case <-poll.C:
			if err := r.topUpPrekeys(ctx, ai.ID); err != nil {
				return fmt.Errorf("prekeys: %w", err)
			}
		}
		if err := r.drainOnce(ctx, ai.ID); err != nil {
			return err
		}
	}
}

// drainOnce takes everything waiting at a relay, in order, acknowledging each round only
// once the messenger made it durable.
func (r *homeRelays) drainOnce(ctx context.Context, relay peer.ID) error {
	r.drain.Lock()
	defer r.drain.Unlock()
	n, err := mailboxclient.Drain(ctx, r.h, relay, r.id, drainBatch, func(mail []mailboxclient.Mail) error {
		envs := make([][]byte, len(mail))
		for i, m := range mail {
			envs[i] = m.Envelope
		}
		return r.m.ReceiveSealed(ctx, envs)
	})
	if n > 0 {
		r.log.Info("drained mailbox", "relay", relay, "messages", n)
	}
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	return nil
}

// topUpPrekeys uploads fresh one-time prekeys when the relay runs low (and the current
// signed and last-resort keys every time, so rotations reach the relay).
func (r *homeRelays) topUpPrekeys(ctx context.Context, relay peer.ID) error {
	rem, err := mailboxclient.PrekeyCount(ctx, r.h, relay, r.id)
	if err != nil && !errors.Is(err, mailboxclient.ErrNoPrekeys) {
		return err
	}
	low := err != nil || rem.OneTime < prekeyLowWater || rem.PQOneTime < prekeyLowWater
	// Even with one-time prekeys to spare, a relay must hear of a rotated signed or
	// last-resort prekey, or a contact would start sessions on a key that the node stops
	// answering for once its grace period ends. (After a restart the node does not know what
	// the relay holds: it uploads the two current keys once.) The check reads; only an
	// upload writes.
	want := 0
	if low {
		want = messenger.RelayPrekeyBatch
	} else {
		ids, rotate, err := r.m.CurrentPrekeyIDs()
		if err != nil {
			return err
		}
		r.upMu.Lock()
		same := r.uploaded[relay] == ids
		r.upMu.Unlock()
		if same && !rotate {
			return nil
		}
	}
	pk, err := r.m.PrekeysForRelay(ctx, want)
	if err != nil {
		return err
	}
	ids := [2]uint32{pk.Signed.ID(), pk.LastResort.ID()}
	_, err = mailboxclient.UploadPrekeys(ctx, r.h, relay, r.id, &mailboxclient.Upload{
		SignedPrekey: pk.Signed, LastResort: pk.LastResort, OneTime: pk.OneTime, PQOneTime: pk.PQOneTime,
	})
	if err != nil {
		return err
	}
	r.upMu.Lock()
	r.uploaded[relay] = ids
	r.upMu.Unlock()
	return nil
}

package groupmail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Group mail through relays: a group message the mesh did not bring to some members is
// deposited once per home relay of theirs, with the list of their mailboxes (a multi
// deposit: one body for all of them, a sealed header each). The decision and the
// deposits to make are persisted together (gd/ records, in the transaction that decides
// them); a depositor goroutine makes them, in order, and retries what failed across
// restarts. Members without a home relay, members a relay refuses, relays that predate
// multi deposits, and deposits that keep failing for MaxGroupDepositAge go to the
// pairwise outbox as before (KindGroupMsg), which retries on its own.

// Errors a RelayLink returns for shared deposits.
var (
	// ErrMultiUnsupported: the relay does not take multi deposits, or refused this one as a
	// whole for good (too large, malformed): deposit per member instead.
	ErrMultiUnsupported = errors.New("groupmail: the relay does not take this multi deposit")
	// ErrRelayBusy: a refusal worth retrying later (rate limited, unavailable).
	ErrRelayBusy = errors.New("groupmail: the relay is busy")
)

// SharedRecipient is one mailbox of a multi deposit and the header sealed for it.
type SharedRecipient struct {
	Mailbox, Header []byte
}

// RelayLink is what group deposits need of the relays (the messenger's RelayLink).
type RelayLink interface {
	// MailboxID is the mailbox id of a user at any relay.
	MailboxID(user *identity.PublicIdentity) []byte
	// DepositShared leaves one shared body for several mailboxes at relay in one multi
	// deposit; see ErrMultiUnsupported and ErrRelayBusy.
	DepositShared(ctx context.Context, relay string, recipients []SharedRecipient, body []byte) (errs []error, err error)
}

// ExpiringRelayLink is a RelayLink that can also make a multi deposit expire at the
// relay (disappearing messages: the relay never hands it out after until, and purges
// it). A link without it deposits expiring mail without the expiry; the receivers still
// drop it on arrival.
type ExpiringRelayLink interface {
	DepositSharedUntil(ctx context.Context, relay string, recipients []SharedRecipient, body []byte, until time.Time) (errs []error, err error)
}

// Expiry is when the mail of message m, the sender's copy, expires (Unix ms; 0 none):
// when m disappears.
func Expiry(m *api.Message) int64 {
	if m.ExpiresAt == nil {
		return 0
	}
	return *m.ExpiresAt
}

// Member is what deposits read of a member's contact record.
type Member struct {
	Identity []byte // identity.PublicIdentity wire form
	Relays   []string
	Blocked  bool
}

// Pairwise is the pairwise side of one transaction, as deposits need it.
type Pairwise interface {
	// Member returns user uid's contact, or nil when they are no contact.
	Member(uid string) (*Member, error)
	// Send queues content for user uid over our pairwise session with them.
	Send(uid string, content *wire.Content) error
}

// Config configures a Depositor.
type Config struct {
	Store    *store.Store
	Identity *identity.Identity // the sender of the sealed headers
	Logger   *slog.Logger
	Now      func() time.Time
	// Link reaches members' relays; nil means pairwise copies only.
	Link RelayLink
	// Pairwise opens the pairwise side of tx for the depositor's own transactions.
	Pairwise func(tx *store.Tx) Pairwise
}

const (
	// MaxSharedRecipients is the most mailboxes of one multi deposit (the relay protocol's
	// bound); larger groups of members behind one relay take several deposits.
	MaxSharedRecipients = 500
	// MaxGroupDepositAge is how long a multi deposit is retried before its members are
	// handed to the pairwise outbox (which has its own, longer, expiry).
	MaxGroupDepositAge = 24 * time.Hour
	// groupDepositBatch bounds the records one pass loads.
	groupDepositBatch    = 64
	groupDepositRetryMin = 500 * time.Millisecond
	groupDepositRetryMax = 30 * time.Second
)

var kGroupDepositNext = []byte("gdn")

func kGroupDeposit(seq uint64) []byte { return fmt.Appendf(nil, "gd/%016x", seq) }

// groupDepositRec is one multi deposit to make: a group envelope for some members at
// one of their relays.
type groupDepositRec struct {
	Relay   string   `json:"relay"`
	Group   string   `json:"group"`
	Env     []byte   `json:"env"`
	Users   []string `json:"users"`
	Created int64    `json:"created"` // Unix ms
	// Expires is when the message disappears (Unix ms; 0 none): its deposits carry it,
	// and a deposit not made by then is dropped.
	Expires int64 `json:"expires,omitempty"`
}

// Deliver is the one place where a group message goes to members that the
// GossipSub mesh did not reach (no delivery receipt within Options.FallbackAfter).
// Members with home relays are grouped by relay and get one multi deposit per relay
// (a member with several relays is in each one's deposit, as for 1:1 mail; receivers
// dedup by the sender's group sequence); the deposits are persisted in tx and made once
// it commits. Members without a relay get the envelope, unchanged, in their pairwise
// outbox.
func (d *Depositor) Deliver(tx *store.Tx, pw Pairwise, gid string, env []byte, uids []string) error {
	return d.DeliverUntil(tx, pw, gid, env, uids, 0)
}

// DeliverUntil is Deliver for a message that disappears at expires (Unix ms; 0 none): the
// relay deposits carry the expiry (ExpiringRelayLink), and those not made by then are
// dropped.
func (d *Depositor) DeliverUntil(tx *store.Tx, pw Pairwise, gid string, env []byte, uids []string, expires int64) error {
	byRelay := map[string][]string{}
	for _, u := range uids {
		c, err := pw.Member(u)
		if err != nil {
			return err
		}
		if c == nil || c.Blocked {
			continue
		}
		if d.cfg.Link == nil || len(c.Relays) == 0 {
			if err := pw.Send(u, &wire.Content{Kind: wire.KindGroupMsg, Group: gid, Data: env}); err != nil {
				return err
			}
			continue
		}
		for _, r := range c.Relays {
			if !slices.Contains(byRelay[r], u) {
				byRelay[r] = append(byRelay[r], u)
			}
		}
	}
	if len(byRelay) == 0 {
		return nil
	}
	next, err := loadCounter(tx, kGroupDepositNext)
	if err != nil {
		return err
	}
	now := d.cfg.Now().UnixMilli()
	for _, r := range sortedKeysOf(byRelay) {
		for users := range slices.Chunk(byRelay[r], MaxSharedRecipients) {
			next++
			rec := groupDepositRec{Relay: r, Group: gid, Env: env, Users: users, Created: now, Expires: expires}
			if err := store.PutJSON(tx, kGroupDeposit(next), &rec); err != nil {
				return err
			}
		}
	}
	if err := putCounter(tx, kGroupDepositNext, next); err != nil {
		return err
	}
	tx.OnCommit(d.kick)
	return nil
}

func loadCounter(tx *store.Tx, key []byte) (uint64, error) {
	var n uint64
	if _, err := store.GetJSON(tx, key, &n); err != nil {
		return 0, err
	}
	return n, nil
}

func putCounter(tx *store.Tx, key []byte, n uint64) error { return store.PutJSON(tx, key, n) }

// Depositor makes the persisted multi deposits, oldest first (Run), and retries them.
type Depositor struct {
	cfg  Config
	wake chan struct{}

	mu       sync.Mutex
	attempts int // consecutive passes that left something to retry
}

// New prepares a Depositor; Run makes the deposits. Store, Identity, Now and Pairwise are
// required.
func New(cfg Config) *Depositor {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Depositor{cfg: cfg, wake: make(chan struct{}, 1)}
}

func (d *Depositor) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run makes the persisted multi deposits whenever some are added, and retries with
// backoff, until ctx ends (one goroutine, the caller's).
func (d *Depositor) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-t.C:
		}
		retry, err := d.pass(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d.cfg.Logger.Error("group deposits", "err", err)
			retry = true
		}
		t.Stop()
		if retry {
			d.mu.Lock()
			wait := min(groupDepositRetryMin<<min(d.attempts, 8), groupDepositRetryMax)
			d.attempts++
			d.mu.Unlock()
			t.Reset(wait)
		} else {
			d.mu.Lock()
			d.attempts = 0
			d.mu.Unlock()
		}
	}
}

type pendingDeposit struct {
	key []byte
	rec groupDepositRec
}

// pass makes every pending deposit once, in order; a relay whose deposit must be retried
// gets no later deposit in this pass (so its members' mail keeps its order). retry says
// whether something is left to retry.
func (d *Depositor) pass(ctx context.Context) (retry bool, err error) {
	blocked := map[string]bool{}
	for {
		var batch []pendingDeposit
		err := d.cfg.Store.View(func(tx *store.Tx) error {
			batch = batch[:0]
			return tx.Iterate(store.IterOptions{Prefix: []byte("gd/")}, func(k, v []byte) (bool, error) {
				var rec groupDepositRec
				if err := json.Unmarshal(v, &rec); err != nil {
					return false, err
				}
				batch = append(batch, pendingDeposit{key: append([]byte(nil), k...), rec: rec})
				return len(batch) < groupDepositBatch, nil
			})
		})
		if err != nil || len(batch) == 0 {
			return retry, err
		}
		progress := false
		for _, p := range batch {
			if ctx.Err() != nil {
				return true, nil
			}
			if blocked[p.rec.Relay] {
				continue
			}
			again, err := d.deposit(ctx, p)
			if err != nil {
				return true, err
			}
			if again {
				blocked[p.rec.Relay] = true
				retry = true
			} else {
				progress = true
			}
		}
		if !progress || len(batch) < groupDepositBatch {
			return retry, nil
		}
	}
}

// deposit makes one multi deposit and records its outcome: members the relay stored are
// done, members it refused go to the pairwise outbox, members to retry stay. again says
// whether the record stays for a retry.
func (d *Depositor) deposit(ctx context.Context, p pendingDeposit) (again bool, err error) {
	link := d.cfg.Link
	type member struct {
		uid string
		pub *identity.PublicIdentity
	}
	var members []member
	err = d.cfg.Store.View(func(tx *store.Tx) error {
		pw := d.cfg.Pairwise(tx)
		for _, u := range p.rec.Users {
			c, err := pw.Member(u)
			if err != nil {
				return err
			}
			if c == nil || c.Blocked {
				continue
			}
			pub, err := identity.ParsePublic(c.Identity)
			if err != nil {
				continue
			}
			members = append(members, member{u, pub})
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	var pairwise, keep []string
	now := d.cfg.Now().UnixMilli()
	expired := now-p.rec.Created > MaxGroupDepositAge.Milliseconds()
	switch {
	case len(members) == 0:
	case p.rec.Expires > 0 && now >= p.rec.Expires:
		d.cfg.Logger.Info("group deposit dropped: the message disappeared before it was made", "relay", p.rec.Relay, "members", len(members))
	case link == nil || expired:
		for _, mb := range members {
			pairwise = append(pairwise, mb.uid)
		}
	default:
		sb, err := sealed.SealBody(wire.AppendGroupMail(nil, p.rec.Group, p.rec.Env))
		if err != nil {
			return false, fmt.Errorf("group deposit: %w", err)
		}
		rs := make([]SharedRecipient, len(members))
		for i, mb := range members {
			box := link.MailboxID(mb.pub)
			h, err := sb.HeaderFrom(box, mb.pub, d.cfg.Identity)
			if err != nil {
				sb.Destroy()
				return false, fmt.Errorf("group deposit header: %w", err)
			}
			rs[i] = SharedRecipient{Mailbox: box, Header: h}
		}
		sb.Destroy()
		var errs []error
		if el, ok := link.(ExpiringRelayLink); ok && p.rec.Expires > 0 {
			errs, err = el.DepositSharedUntil(ctx, p.rec.Relay, rs, sb.Body(), time.UnixMilli(p.rec.Expires))
		} else {
			errs, err = link.DepositShared(ctx, p.rec.Relay, rs, sb.Body())
		}
		switch {
		case errors.Is(err, ErrMultiUnsupported):
			d.cfg.Logger.Info("group deposit: relay takes no multi deposit; per member instead", "relay", p.rec.Relay, "err", err)
			for _, mb := range members {
				pairwise = append(pairwise, mb.uid)
			}
		case err != nil:
			d.cfg.Logger.Info("group deposit failed, will retry", "relay", p.rec.Relay, "members", len(members), "err", err)
			return true, nil
		default:
			for i, e := range errs {
				switch {
				case e == nil:
				case errors.Is(e, ErrRelayBusy):
					keep = append(keep, members[i].uid)
				default:
					d.cfg.Logger.Info("group deposit refused for a member; pairwise instead", "relay", p.rec.Relay, "member", members[i].uid, "err", e)
					pairwise = append(pairwise, members[i].uid)
				}
			}
		}
	}
	err = d.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		pw := d.cfg.Pairwise(tx)
		for _, u := range pairwise {
			if err := pw.Send(u, &wire.Content{Kind: wire.KindGroupMsg, Group: p.rec.Group, Data: p.rec.Env}); err != nil {
				return err
			}
		}
		if len(keep) == 0 {
			return tx.Delete(p.key)
		}
		rec := p.rec
		rec.Users = keep
		return store.PutJSON(tx, p.key, &rec)
	})
	return len(keep) > 0, err
}

// Pending is how many multi deposits wait to be made (for tests and status).
func (d *Depositor) Pending() int {
	n := 0
	_ = d.cfg.Store.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: []byte("gd/"), KeysOnly: true}, func(_, _ []byte) (bool, error) {
			n++
			return true, nil
		})
	})
	return n
}

func sortedKeysOf[V any](mp map[string]V) []string {
	out := make([]string, 0, len(mp))
	for k := range mp {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

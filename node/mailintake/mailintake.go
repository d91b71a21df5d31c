package mailintake

import (
	"context"
	"log/slog"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/groups"
	"github.com/petrel-chat/petrel/node/inbox"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Config is what the intake is given of the node.
type Config struct {
	Store    *store.Store
	Identity *identity.Identity // ours: the envelopes are sealed to it
	Rx       *inbox.Hooks       // the pairwise receive path
	Groups   *groups.Service    // the group receive path
	// GroupBatch starts the group side of one transaction: the contact of user uid (nil when
	// there is none) and the pairwise view groups asks for, over one contact cache.
	GroupBatch func(tx *store.Tx) (byUser func(uid string) (*sessions.Contact, error), pw groups.Pairwise)
	Log        *slog.Logger
}

// Receive processes envelopes drained from the node's own mailbox, in the relay's order.
// It returns once what they carried is durable; the caller then acknowledges them to the
// relay. Envelopes that do not open or carry nothing valid are dropped (logged) rather than
// kept forever.
func Receive(ctx context.Context, cfg Config, envelopes [][]byte) error {
	mail := inbox.Open(cfg.Identity, envelopes, cfg.Log)
	if len(mail) == 0 {
		return nil
	}
	return cfg.Store.Update(ctx, func(tx *store.Tx) error {
		return inbox.Intake(mail, &batch{cfg: &cfg, tx: tx})
	})
}

// batch is the pairwise batch (inbox.Batch, one per sender) and the group batch of one
// transaction of mailbox mail, which inbox.Intake fills and finishes in turn, so each
// loads the contacts the other saved.
type batch struct {
	cfg *Config
	tx  *store.Tx
	b   *inbox.Batch
	gb  *groupBatch
}

// groupBatch is the group receive path of one transaction (groups.Rx, started with the
// first envelope that gets that far) and its contact lookups.
type groupBatch struct {
	rx     *groups.Rx
	byUser func(uid string) (*sessions.Contact, error)
	pw     groups.Pairwise
}

func (r *batch) Pairwise(it *inbox.Mail, first bool) error {
	if first {
		b, err := r.cfg.Rx.SealedBatch(r.tx, it.Sender, it.From)
		if err != nil {
			return err
		}
		r.b = b
	}
	st, err := r.b.Sealed(it)
	if err != nil {
		return err
	}
	if st != wire.AckStored {
		r.cfg.Log.Info("mailbox: message not taken", "status", st)
	}
	return nil
}

func (r *batch) FinishPairwise() error {
	b := r.b
	r.b = nil
	return b.Finish()
}

func (r *batch) Group(it *inbox.Mail) error {
	if r.gb == nil {
		r.gb = &groupBatch{}
		r.gb.byUser, r.gb.pw = r.cfg.GroupBatch(r.tx)
	}
	return r.group(it.Sender, it.From, it.GroupID, it.GroupEnv)
}

func (r *batch) FinishGroup() error {
	gb := r.gb
	r.gb = nil
	if gb.rx == nil {
		return nil
	}
	return gb.rx.Finish()
}

// group feeds one group envelope from a shared envelope into the group receive path.
// The sealed sender must be a contact (both identity keys) and, where the chain is known,
// its owner.
func (r *batch) group(sender string, from *sealed.Opened, gid string, env []byte) error {
	gb, log, gs := r.gb, r.cfg.Log, r.cfg.Groups
	c, err := gb.byUser(sender)
	if err != nil {
		return err
	}
	if c == nil || c.Blocked {
		log.Info("mailbox: group mail from a stranger or a blocked contact dropped")
		return nil
	}
	if known, err := identity.ParsePublic(c.Identity); err != nil || !from.From(known) {
		log.Info("mailbox: group mail whose sender keys do not match the contact dropped")
		return nil
	}
	if skm, err := wire.ParseEnvelope(env); err == nil {
		if sm, err := senderkey.ParseMessage(skm); err == nil {
			if owner, ok := gs.Owner(gid, sm); ok && owner.User != sender {
				log.Info("mailbox: group mail sealed by another member than its author dropped")
				return nil
			}
		}
	}
	if gb.rx == nil {
		gb.rx = gs.NewRx(r.tx, gb.pw)
	}
	out, err := gb.rx.Envelope(gid, env)
	if err != nil {
		return err
	}
	if out == groups.Unknown || out == groups.Unlisted { // its key is on its way
		recheck := out == groups.Unlisted
		r.tx.OnCommit(func() { gs.Hold(gid, env, recheck) })
	}
	return nil
}

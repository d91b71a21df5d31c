package messenger

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

// RelayLink is how the messenger reaches relays it does not own: a contact's home relays,
// where it deposits sealed mail when the contact's node cannot be reached and fetches
// prekey bundles when the contact is offline. The node implements it with the relay client
// (relay/...); relays are full multiaddrs with /p2p/.
type RelayLink interface {
	// MailboxID is the mailbox id of a user at any relay.
	MailboxID(user *identity.PublicIdentity) []byte
	// Deposit leaves sealed envelopes for one mailbox at relay, pipelined. errs[i] is nil
	// once the relay stored envelope i durably; err means the exchange itself failed.
	Deposit(ctx context.Context, relay string, mailbox []byte, envelopes [][]byte) (errs []error, err error)
	// DepositShared leaves one shared body (crypto/sealed SealBody) for several mailboxes
	// at relay in one multi deposit (at most groups.MaxSharedRecipients), each with its header.
	// errs[i] is nil once recipient i's mailbox holds it durably, else its refusal
	// (groups.ErrRelayBusy when worth retrying). err means nothing was stored: groups.ErrMultiUnsupported
	// when the relay will not take it (deposit per member instead), anything else is worth
	// retrying.
	DepositShared(ctx context.Context, relay string, recipients []groups.SharedRecipient, body []byte) (errs []error, err error)
	// Bundle fetches a prekey bundle of user from relay (its prekey directory).
	Bundle(ctx context.Context, relay string, user *identity.PublicIdentity) ([]byte, error)
}

// RelayPrekeyBatch is the most one-time prekeys of each kind one relay is given at a time.
// Every relay gets its own keys, so no key is handed out twice.
const RelayPrekeyBatch = 25

// RelayPrekeys are the public prekeys a home relay's directory serves (sessions.RelayPrekeys).
type RelayPrekeys = sessions.RelayPrekeys

// PrekeysForRelay sets aside up to want one-time prekeys of each kind for a relay's
// directory (marked issued, so the node never hands them out itself) and returns them with
// the current signed and last-resort keys (sessions.ForRelay). It rotates and refills the
// store as needed.
func (m *Messenger) PrekeysForRelay(ctx context.Context, want int) (RelayPrekeys, error) {
	want = min(want, RelayPrekeyBatch)
	var out RelayPrekeys
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		out, err = sessions.ForRelay(tx, m.id, m.now(), want)
		return err
	})
	return out, err
}

// CurrentPrekeyIDs returns, without writing, the ids of the signed and last-resort prekeys a
// relay's directory should hold, and whether they are due to rotate (then PrekeysForRelay
// rotates them). A home relay's periodic check uses it to upload only on a change.
func (m *Messenger) CurrentPrekeyIDs() (ids [2]uint32, rotate bool, err error) {
	err = m.st.View(func(tx *store.Tx) error {
		ids, rotate, err = sessions.CurrentIDs(tx, m.id, m.now())
		return err
	})
	return ids, rotate, err
}

// ReceiveSealed processes mail drained from the node's own mailbox: sealed envelopes, in
// the order the relay kept them. It returns once what they carried is durable; the caller
// then acknowledges them to the relay. Envelopes that do not open or carry nothing valid
// are dropped (logged) rather than kept forever. A shared envelope (a multi deposit)
// carries a group envelope, which takes the group receive path (dedup by the sender's
// group sequence, receipts as from the mesh).
func (m *Messenger) ReceiveSealed(ctx context.Context, envelopes [][]byte) error {
	mail := inbox.Open(m.id, envelopes, m.log)
	if len(mail) == 0 {
		return nil
	}
	return m.st.Update(ctx, func(tx *store.Tx) error {
		return inbox.Intake(mail, &sealedRx{rx: m.rx, tx: tx, log: m.log,
			group: func(gb *groupBatch, it *inbox.Mail) error {
				return m.receiveGroupMail(tx, gb, it.Sender, it.From, it.GroupID, it.GroupEnv)
			}})
	})
}

// sealedRx is the pairwise batch (inbox.Batch, one per sender) and the group batch
// (groupBatch) of one transaction of mailbox mail, which inbox.Intake fills and finishes
// in turn, so each loads the contacts the other saved.
type sealedRx struct {
	rx    *inbox.Hooks
	tx    *store.Tx
	log   *slog.Logger
	group func(gb *groupBatch, it *inbox.Mail) error // receiveGroupMail
	b     *inbox.Batch
	gb    *groupBatch
}

// groupBatch is the group receive path of one transaction (groups.Rx, started with the
// first envelope that gets that far) and the contacts it loaded.
type groupBatch struct {
	rx *groups.Rx
	cc txContacts
}

func (r *sealedRx) Pairwise(it *inbox.Mail, first bool) error {
	if first {
		b, err := r.rx.SealedBatch(r.tx, it.Sender, it.From)
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
		r.log.Info("mailbox: message not taken", "status", st)
	}
	return nil
}

func (r *sealedRx) FinishPairwise() error {
	b := r.b
	r.b = nil
	return b.Finish()
}

func (r *sealedRx) Group(it *inbox.Mail) error {
	if r.gb == nil {
		r.gb = &groupBatch{cc: txContacts{}}
	}
	return r.group(r.gb, it)
}

func (r *sealedRx) FinishGroup() error {
	gb := r.gb
	r.gb = nil
	if gb.rx == nil {
		return nil
	}
	return gb.rx.Finish()
}

// receiveGroupMail feeds one group envelope from a shared envelope into the group receive
// path of transaction tx, gb. The
// sealed sender must be a contact (both identity keys) and, where the chain is known, its
// owner: a member cannot pass its envelope off as another's mail.
func (m *Messenger) receiveGroupMail(tx *store.Tx, gb *groupBatch, sender string, from *sealed.Opened, gid string, env []byte) error {
	c, err := gb.cc.ByUser(tx, sender)
	if err != nil {
		return err
	}
	if c == nil || c.Blocked {
		m.log.Info("mailbox: group mail from a stranger or a blocked contact dropped")
		return nil
	}
	if known, err := identity.ParsePublic(c.Identity); err != nil || !from.From(known) {
		m.log.Info("mailbox: group mail whose sender keys do not match the contact dropped")
		return nil
	}
	if skm, err := wire.ParseEnvelope(env); err == nil {
		if sm, err := senderkey.ParseMessage(skm); err == nil {
			if owner, ok := m.groups.Owner(gid, sm); ok && owner.User != sender {
				m.log.Info("mailbox: group mail sealed by another member than its author dropped")
				return nil
			}
		}
	}
	if gb.rx == nil {
		gb.rx = m.groups.NewRx(tx, m.groupPairwise(tx, gb.cc))
	}
	out, err := gb.rx.Envelope(gid, env)
	if err != nil {
		return err
	}
	if out == groups.Unknown || out == groups.Unlisted { // its key is on its way
		recheck := out == groups.Unlisted
		tx.OnCommit(func() { m.groups.Hold(gid, env, recheck) })
	}
	return nil
}

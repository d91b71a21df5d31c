package outbox

import (
	"fmt"
	"strings"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/node/wire"
)

// depositAll seals everything in contact cid's outbox for its mailbox and deposits it at
// every home relay of the contact; an entry that at least one relay stored is done (its
// message becomes sent). It returns how many entries were deposited.
func (q *Queue) depositAll(cid string) (int, error) {
	link := q.cfg.Mailbox
	c, err := q.contact(cid)
	if err != nil {
		return 0, err
	}
	if link == nil || len(c.Relays) == 0 {
		return 0, ErrNoRelay
	}
	to, err := identity.ParsePublic(c.Identity)
	if err != nil {
		return 0, err
	}
	mailbox := link.MailboxID(to)
	done := 0
	var cursor []byte
	for {
		batch, err := q.load(cid, cursor, window)
		if err != nil || len(batch) == 0 {
			return done, err
		}
		if batch, err = q.Encrypt(q.ctx, cid, batch); err != nil {
			return done, err
		}
		if len(batch) == 0 {
			return done, nil
		}
		envs := make([][]byte, len(batch))
		ids := make([]wire.ID, len(batch))
		expires := make([]int64, len(batch))
		expiring := false
		for i, it := range batch {
			cursor = it.Key
			// Past its expiry it goes without one: the receiver drops it on arrival.
			if it.Entry.Expires > q.cfg.Now().UnixMilli() {
				expires[i], expiring = it.Entry.Expires, true
			}
			copy(ids[i][:], it.Entry.EnvID)
			frame := wire.AppendDeliver(nil, &wire.Deliver{ID: ids[i], Initial: it.Entry.Initial, Message: it.Entry.Cipher})
			if envs[i], err = sealed.SealFrom(mailbox, to, q.cfg.Identity, frame); err != nil {
				return done, fmt.Errorf("seal: %w", err)
			}
		}
		// stored[i]: some relay holds envelope i durably.
		stored := make([]bool, len(batch))
		var lastErr error
		answered := map[string]bool{} // relays (by peer id) that took the batch
		for _, r := range c.Relays {
			// Several addresses of one relay (the processes of a cluster share its peer
			// id): one that answered holds the mail for all, and another deposit there
			// would count each message again against the mailbox's quota.
			pid := relayPeer(r)
			if answered[pid] {
				continue
			}
			var errs []error
			var err error
			if el, ok := link.(ExpiringMailbox); ok && expiring {
				errs, err = el.DepositExpiring(q.ctx, r, mailbox, envs, expires)
			} else {
				errs, err = link.Deposit(q.ctx, r, mailbox, envs)
			}
			if err != nil {
				lastErr = err
				q.cfg.Logger.Info("mailbox deposit failed", "contact", cid, "relay", r, "err", err)
				continue
			}
			answered[pid] = true
			for i, e := range errs {
				if i >= len(stored) {
					break // a relay answering for more than it was given: ignored
				}
				if e == nil {
					stored[i] = true
				} else {
					lastErr = e
				}
			}
		}
		// Entries stored up to the first one no relay took are done; what follows stays
		// in the outbox to keep the order (a copy already at a relay is a duplicate the
		// recipient drops by envelope id).
		var acks []wire.Ack
		inflight := map[wire.ID]Sent{}
		for i, it := range batch {
			if !stored[i] {
				break
			}
			inflight[ids[i]] = Sent{Key: it.Key, MsgID: it.Entry.MsgID}
			acks = append(acks, wire.Ack{ID: ids[i], Status: wire.AckStored})
		}
		n, err := q.Acknowledge(q.ctx, cid, acks, inflight)
		done += n
		if err != nil {
			return done, err
		}
		if len(acks) < len(batch) {
			return done, fmt.Errorf("no relay of the contact took the mail: %w", lastErr)
		}
	}
}

// relayPeer is the peer id part of a relay's multiaddr (after /p2p/), or the whole address
// when it has none.
func relayPeer(addr string) string {
	if i := strings.LastIndex(addr, "/p2p/"); i >= 0 {
		return addr[i+len("/p2p/"):]
	}
	return addr
}

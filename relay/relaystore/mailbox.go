package relaystore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// Quota bounds one mailbox, checked atomically with each deposit.
type Quota struct {
	MaxBytes    int64         // envelope bytes a mailbox may hold
	MaxMessages int64         // messages a mailbox may hold
	TTL         time.Duration // how long a message is kept unfetched
}

// Register creates the mailbox of owner (idempotent). created says whether it is new. A
// mailbox id names one identity; registering it with another fails with ErrIdentity.
func (s *Store) Register(ctx context.Context, owner *identity.PublicIdentity, now time.Time) (created bool, err error) {
	mb := relaywire.MailboxID(owner)
	err = s.update(ctx, func(w *writeTx) error {
		created = false
		v, err := w.get(key(pfxRegistration, mb))
		switch {
		case err == nil:
			if p, perr := parseRegistration(v); perr != nil || !p.Equal(owner) {
				return ErrIdentity
			}
			return nil
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		rec := append([]byte{formatVersion}, binary.BigEndian.AppendUint64(nil, uint64(now.UnixMilli()))...)
		w.set(key(pfxRegistration, mb), append(rec, owner.Bytes()...))
		w.set(key(pfxCounters, mb), counters{next: 1}.marshal())
		created = true
		w.afterCommit(func() { s.mailboxes.Add(1) })
		return nil
	})
	return created, err
}

func parseRegistration(v []byte) (*identity.PublicIdentity, error) {
	if len(v) != 1+8+identity.PublicSize || v[0] != formatVersion {
		return nil, fmt.Errorf("relaystore: registration record of %d bytes", len(v))
	}
	return identity.ParsePublic(v[9:])
}

// Owner returns the identity registered for mailbox, or ErrUnknownMailbox.
func (s *Store) Owner(mailbox []byte) (*identity.PublicIdentity, error) {
	if !validMailbox(mailbox) {
		return nil, ErrUnknownMailbox
	}
	var p *identity.PublicIdentity
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(key(pfxRegistration, mailbox))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrUnknownMailbox
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			p, err = parseRegistration(v)
			return err
		})
	})
	return p, err
}

// Deposit stores envelope in mailbox, durably, under quota. It returns the new mail's id.
// The caller has checked the envelope (size, header); the store checks registration and
// quota atomically with the write.
func (s *Store) Deposit(ctx context.Context, mailbox, envelope []byte, now time.Time, q Quota) (uint64, error) {
	return s.StartDeposit(ctx, mailbox, envelope, now, q)()
}

// StartDeposit queues a Deposit and returns a function that waits until it is durable (or
// refused). Deposits started one after another by one goroutine get increasing ids in that
// order, so a stream's pipelined deposits keep their order while sharing group commits.
func (s *Store) StartDeposit(ctx context.Context, mailbox, envelope []byte, now time.Time, q Quota) (wait func() (uint64, error)) {
	return s.StartDepositUntil(ctx, mailbox, envelope, now, time.Time{}, q)
}

// expiry returns when mail deposited at now expires: the earlier of until (zero: none)
// and the TTL; early says whether until decided it (the mail then needs an expiry index
// entry, as it may expire before older mail).
func expiry(now, until time.Time, q Quota) (expiresAt int64, early bool) {
	expiresAt = now.Add(q.TTL).UnixMilli()
	if !until.IsZero() && until.UnixMilli() < expiresAt {
		return until.UnixMilli(), true
	}
	return expiresAt, false
}

// expiryKey is the index entry of mail that expires before its TTL:
// 'e' ‖ expires at (8, Unix ms) ‖ mailbox (16) ‖ id (8).
func expiryKey(expiresAt int64, mb []byte, id uint64) []byte {
	k := binary.BigEndian.AppendUint64([]byte{pfxExpiry}, uint64(expiresAt))
	k = append(k, mb...)
	return binary.BigEndian.AppendUint64(k, id)
}

// StartDepositUntil is StartDeposit for mail that expires at until (zero: only the TTL):
// it is kept until the earlier of the two, never fetched from then on, and purged.
func (s *Store) StartDepositUntil(ctx context.Context, mailbox, envelope []byte, now, until time.Time, q Quota) (wait func() (uint64, error)) {
	if !validMailbox(mailbox) {
		return func() (uint64, error) { return 0, ErrUnknownMailbox }
	}
	if len(envelope) == 0 || envelope[0] == SharedMark {
		return func() (uint64, error) { return 0, ErrBadEnvelope }
	}
	mb := append([]byte(nil), mailbox...)
	depositedAt := now.UnixMilli()
	expiresAt, early := expiry(now, until, q)
	val := make([]byte, 16, 16+len(envelope))
	binary.BigEndian.PutUint64(val, uint64(depositedAt))
	binary.BigEndian.PutUint64(val[8:], uint64(expiresAt))
	val = append(val, envelope...)
	var id uint64
	done := s.submit(ctx, func(w *writeTx) error {
		c, err := w.counters(mb)
		if err != nil {
			return err
		}
		size := uint64(len(envelope))
		if id, err = c.admit(q, size); err != nil {
			return err
		}
		w.set(key(pfxCounters, mb), c.marshal())
		w.set(mailKey(mb, id), val)
		if early {
			w.set(expiryKey(expiresAt, mb, id), nil)
		}
		waiting := c.count
		w.afterCommit(func() {
			s.messages.Add(1)
			s.bytes.Add(int64(size))
			if s.on != nil {
				s.on(mb, waiting)
			}
		})
		return nil
	})
	return func() (uint64, error) {
		err := done()
		return id, err
	}
}

// Waiting returns how many messages mailbox holds (0 for an unknown mailbox).
func (s *Store) Waiting(mailbox []byte) uint64 {
	var n uint64
	_ = s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(key(pfxCounters, mailbox))
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			c, err := parseCounters(v)
			n = c.count
			return err
		})
	})
	return n
}

// Fetch returns the oldest unexpired messages of mailbox in deposit order: at most max of
// them and, beyond the first, at most maxBytes of envelopes. more says whether others wait.
func (s *Store) Fetch(mailbox []byte, max, maxBytes int, now time.Time) (mail []relaywire.Mail, more bool, err error) {
	if !validMailbox(mailbox) {
		return nil, false, ErrUnknownMailbox
	}
	nowMs := now.UnixMilli()
	err = s.db.View(func(txn *badger.Txn) error {
		opts := badger.IteratorOptions{Prefix: key(pfxMail, mailbox), PrefetchValues: true, PrefetchSize: min(max, 256)}
		it := txn.NewIterator(opts)
		defer it.Close()
		size := 0
		bodies := map[uint64][]byte{}
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if len(mail) >= max {
				more = true
				return nil
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			r, err := ParseMailRecord(v)
			if err != nil {
				return err
			}
			if r.ExpiresAt <= nowMs {
				continue // expired, purge pending
			}
			if len(mail) > 0 && size+r.Charged() > maxBytes {
				more = true
				return nil
			}
			env := r.Envelope
			if r.Shared {
				body, ok := bodies[r.BodyID]
				if !ok {
					bi, err := txn.Get(bodyKey(pfxBody, r.BodyID))
					if errors.Is(err, badger.ErrKeyNotFound) {
						continue // swept with its TTL
					}
					if err != nil {
						return err
					}
					if body, err = bi.ValueCopy(nil); err != nil {
						return err
					}
					bodies[r.BodyID] = body
				}
				env = sealed.JoinShared(r.Envelope, body)
			}
			k := item.Key()
			mail = append(mail, relaywire.Mail{
				ID:          binary.BigEndian.Uint64(k[len(k)-8:]),
				DepositedAt: r.DepositedAt,
				Envelope:    env,
			})
			size += len(env)
		}
		return nil
	})
	return mail, more, err
}

// Ack deletes the messages ids of mailbox, durably. Ids not present (acknowledged before,
// expired, never deposited) are ignored. It returns how many were deleted.
func (s *Store) Ack(ctx context.Context, mailbox []byte, ids []uint64) (int, error) {
	if !validMailbox(mailbox) {
		return 0, ErrUnknownMailbox
	}
	mb := append([]byte(nil), mailbox...)
	ids = append([]uint64(nil), ids...)
	var deleted int
	err := s.update(ctx, func(w *writeTx) error {
		n, err := s.deleteMail(w, mb, ids)
		deleted = n
		return err
	})
	return deleted, err
}

// deleteMail deletes the listed messages of one mailbox and adjusts its counters.
func (s *Store) deleteMail(w *writeTx, mb []byte, ids []uint64) (int, error) {
	c, err := w.counters(mb)
	if err != nil {
		return 0, err
	}
	seen := make(map[uint64]bool, len(ids))
	var n, size uint64
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		item, err := w.txn.Get(mailKey(mb, id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		var envSize int
		var sharedBody uint64
		var shared bool
		var expiresAt int64
		if err := item.Value(func(v []byte) error {
			r, err := ParseMailRecord(v)
			envSize = r.Charged() // exact, for the byte quota
			shared, sharedBody, expiresAt = r.Shared, r.BodyID, r.ExpiresAt
			return err
		}); err != nil {
			return 0, err
		}
		// Mail with an expiry of its own has an index entry (a point lookup: the bloom
		// filters make the common miss cheap).
		ek := expiryKey(expiresAt, mb, id)
		switch _, err := w.txn.Get(ek); {
		case err == nil:
			w.del(ek)
		case !errors.Is(err, badger.ErrKeyNotFound):
			return 0, err
		}
		if shared {
			if err := s.releaseBody(w, sharedBody); err != nil {
				return 0, err
			}
		}
		w.del(mailKey(mb, id))
		n++
		size += uint64(envSize)
	}
	if n == 0 {
		return 0, nil
	}
	c.count -= min(n, c.count)
	c.bytes -= min(size, c.bytes)
	w.set(key(pfxCounters, mb), c.marshal())
	w.afterCommit(func() {
		s.messages.Add(-int64(n))
		s.bytes.Add(-int64(size))
	})
	return int(n), nil
}

// PurgeExpired deletes every message whose TTL or own expiry ended at or before now, in
// rounds of at most 4096, and returns how many it deleted. Each mailbox is walked from its
// oldest message to the first one still alive: with one TTL for all deposits, expiry
// follows deposit order. Mail deposited with an earlier expiry of its own is found through
// the expiry index instead. (After an operator lowers the TTL, newer mail may expire
// before older mail; Fetch hides it at once and the purge deletes it once the mail before
// it has expired too.)
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	total, err := s.purgeIndexed(ctx, now.UnixMilli())
	if err != nil {
		return total, err
	}
	nowMs := now.UnixMilli()
	for ctx.Err() == nil {
		byMailbox := map[string][]uint64{}
		found := 0
		err := s.db.View(func(txn *badger.Txn) error {
			mbs := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxCounters}, PrefetchValues: false})
			defer mbs.Close()
			for mbs.Rewind(); mbs.Valid() && found < 4096; mbs.Next() {
				mb := mbs.Item().KeyCopy(nil)[1:]
				it := txn.NewIterator(badger.IteratorOptions{Prefix: key(pfxMail, mb), PrefetchValues: false})
				for it.Rewind(); it.Valid() && found < 4096; it.Next() {
					var expiresAt int64
					err := it.Item().Value(func(v []byte) error {
						if len(v) < 16 {
							return fmt.Errorf("relaystore: mail record of %d bytes", len(v))
						}
						expiresAt = int64(binary.BigEndian.Uint64(v[8:]))
						return nil
					})
					if err != nil {
						it.Close()
						return err
					}
					if expiresAt > nowMs {
						break
					}
					k := it.Item().Key()
					byMailbox[string(mb)] = append(byMailbox[string(mb)], binary.BigEndian.Uint64(k[len(k)-8:]))
					found++
				}
				it.Close()
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		if found == 0 {
			break
		}
		deleted := 0
		err = s.update(ctx, func(w *writeTx) error {
			deleted = 0
			for mb, ids := range byMailbox {
				n, err := s.deleteMail(w, []byte(mb), ids)
				if err != nil && !errors.Is(err, ErrUnknownMailbox) {
					return err
				}
				deleted += n
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += deleted
		if found < 4096 {
			break
		}
	}
	if ctx.Err() != nil {
		return total, ctx.Err()
	}
	_, err = s.sweepBodies(ctx, nowMs)
	return total, err
}

// purgeIndexed deletes the mail whose own expiry (the expiry index, in expiry order) ended
// at or before nowMs, in rounds of at most 4096.
func (s *Store) purgeIndexed(ctx context.Context, nowMs int64) (int, error) {
	total := 0
	for ctx.Err() == nil {
		byMailbox := map[string][]uint64{}
		var entries [][]byte
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxExpiry}, PrefetchValues: false})
			defer it.Close()
			for it.Rewind(); it.Valid() && len(entries) < 4096; it.Next() {
				k := it.Item().KeyCopy(nil)
				if len(k) != 1+8+relaywire.MailboxIDSize+8 {
					return fmt.Errorf("relaystore: expiry index key of %d bytes", len(k))
				}
				if int64(binary.BigEndian.Uint64(k[1:])) > nowMs {
					break
				}
				mb := string(k[9 : 9+relaywire.MailboxIDSize])
				byMailbox[mb] = append(byMailbox[mb], binary.BigEndian.Uint64(k[9+relaywire.MailboxIDSize:]))
				entries = append(entries, k)
			}
			return nil
		})
		if err != nil || len(entries) == 0 {
			return total, err
		}
		deleted := 0
		err = s.update(ctx, func(w *writeTx) error {
			deleted = 0
			for mb, ids := range byMailbox {
				n, err := s.deleteMail(w, []byte(mb), ids)
				if err != nil && !errors.Is(err, ErrUnknownMailbox) {
					return err
				}
				deleted += n
			}
			for _, k := range entries {
				w.del(k) // also an entry whose mail went another way
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += deleted
		if len(entries) < 4096 {
			break
		}
	}
	return total, ctx.Err()
}

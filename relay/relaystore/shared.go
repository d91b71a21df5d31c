package relaystore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/petrel-chat/petrel/crypto/sealed"
)

// Multi deposits: one body stored once ('b'), its reference count ('n'), and in each
// mailbox an ordinary mail record whose envelope slot points at the body:
//
//	'm' ‖ mailbox ‖ id → deposited at (8) ‖ expires at (8) ‖ 0x00 ‖ body id (8) ‖ body size (4) ‖ header
//	'b' ‖ body id (8)  → body
//	'n' ‖ body id (8)  → references (8) ‖ expires at (8) ‖ body size (8)
//	'g'                → next body id (8)
//
// A plain envelope never starts with 0x00 (StartDeposit refuses one that does), so the
// byte after the two times tells the kinds apart. Fetch hands out
// sealed.JoinShared(header, body); the last acknowledgement or expiry of a pointing record
// deletes the body. Each mailbox is charged the size of what its owner fetches.

// SharedMark starts the envelope slot of a mail record that points at a shared body.
const SharedMark = 0x00

// Recipient is one mailbox of a multi deposit and the header sealed for it.
type Recipient struct {
	Mailbox, Header []byte
}

// bodyRef is a shared body's reference count record.
type bodyRef struct {
	refs, expiresAt, size uint64
}

func (r bodyRef) marshal() []byte { return marshalTriple(r.refs, r.expiresAt, r.size) }

func parseBodyRef(v []byte) (bodyRef, error) {
	a, b, c, err := parseTriple(v, "body reference")
	return bodyRef{a, b, c}, err
}

// bodyRef reads a shared body's reference record in w; ok is false when it is gone.
func (w *writeTx) bodyRef(id uint64) (r bodyRef, ok bool, err error) {
	v, err := w.get(bodyKey(pfxBodyRef, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return bodyRef{}, false, nil
	}
	if err != nil {
		return bodyRef{}, false, err
	}
	r, err = parseBodyRef(v)
	return r, err == nil, err
}

func bodyKey(prefix byte, id uint64) []byte { return binary.BigEndian.AppendUint64([]byte{prefix}, id) }

// MailRecord is a parsed mail value: a plain envelope, or a header and a body reference.
// relay/clusterstore keeps the same values in its mail stream and reads them with
// ParseMailRecord.
type MailRecord struct {
	DepositedAt, ExpiresAt int64  // Unix ms
	Envelope               []byte // plain: the envelope; shared: the header
	Shared                 bool
	BodyID                 uint64
	BodySize               int
}

// ParseMailRecord reads a mail value: deposited at (8) ‖ expires at (8) ‖ envelope, or
// ‖ SharedMark ‖ body id (8) ‖ body size (4) ‖ header.
func ParseMailRecord(v []byte) (MailRecord, error) {
	if len(v) < 17 {
		return MailRecord{}, fmt.Errorf("relaystore: mail record of %d bytes", len(v))
	}
	r := MailRecord{DepositedAt: int64(binary.BigEndian.Uint64(v)), ExpiresAt: int64(binary.BigEndian.Uint64(v[8:]))}
	if v[16] != SharedMark {
		r.Envelope = v[16:]
		return r, nil
	}
	if len(v) < 17+8+4+1 {
		return MailRecord{}, fmt.Errorf("relaystore: shared mail record of %d bytes", len(v))
	}
	r.Shared = true
	r.BodyID = binary.BigEndian.Uint64(v[17:])
	r.BodySize = int(binary.BigEndian.Uint32(v[25:]))
	r.Envelope = v[29:]
	return r, nil
}

// Charged is what the record costs its mailbox: the size of what the owner fetches.
func (r MailRecord) Charged() int {
	if r.Shared {
		return sealed.SharedSize(len(r.Envelope), r.BodySize)
	}
	return len(r.Envelope)
}

// loadBodies reads the next body id and sums the shared bodies (at Open).
func (s *Store) loadBodies(txn *badger.Txn) error {
	it, err := txn.Get([]byte(keyNextBody))
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		s.nextBody = 1
	case err != nil:
		return fmt.Errorf("relaystore: next body id: %w", err)
	default:
		v, err := it.ValueCopy(nil)
		if err != nil || len(v) != 8 {
			return fmt.Errorf("relaystore: next body id of %d bytes: %v", len(v), err)
		}
		s.nextBody = binary.BigEndian.Uint64(v)
	}
	refs := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxBodyRef}, PrefetchValues: true, PrefetchSize: 256})
	defer refs.Close()
	for refs.Rewind(); refs.Valid(); refs.Next() {
		v, err := refs.Item().ValueCopy(nil)
		if err != nil {
			return err
		}
		r, err := parseBodyRef(v)
		if err != nil {
			return err
		}
		s.bodies.Add(1)
		s.bodyBytes.Add(int64(r.size))
	}
	return nil
}

// MultiDeposit stores body once for every recipient the store accepts, durably, each
// under its mailbox's quota (charged the size of header and body as its owner fetches
// them). errs[i] is nil when recipient i's mailbox holds it, else ErrUnknownMailbox,
// ErrQuotaMessages or ErrQuotaBytes (one full mailbox refuses only itself). err is a
// failure of the whole write. The caller has checked headers, body and sizes, and that no
// mailbox is listed twice.
func (s *Store) MultiDeposit(ctx context.Context, recipients []Recipient, body []byte, now time.Time, q Quota) (errs []error, err error) {
	return s.StartMultiDeposit(ctx, recipients, body, now, q)()
}

// StartMultiDeposit queues a MultiDeposit and returns a function that waits for its
// outcome; like StartDeposit, deposits started one after another keep their order.
func (s *Store) StartMultiDeposit(ctx context.Context, recipients []Recipient, body []byte, now time.Time, q Quota) (wait func() ([]error, error)) {
	return s.StartMultiDepositUntil(ctx, recipients, body, now, time.Time{}, q)
}

// StartMultiDepositUntil is StartMultiDeposit for mail that expires at until (zero: only
// the TTL), for every recipient (StartDepositUntil).
func (s *Store) StartMultiDepositUntil(ctx context.Context, recipients []Recipient, body []byte, now, until time.Time, q Quota) (wait func() ([]error, error)) {
	rs := make([]Recipient, len(recipients))
	for i, r := range recipients {
		rs[i] = Recipient{Mailbox: append([]byte(nil), r.Mailbox...), Header: r.Header}
	}
	depositedAt := uint64(now.UnixMilli())
	exp, early := expiry(now, until, q)
	expiresAt := uint64(exp)
	errs := make([]error, len(rs))
	done := s.submit(ctx, func(w *writeTx) error {
		id := s.nextBody
		stored := 0
		var notify []func()
		for i, r := range rs {
			errs[i] = nil
			if !validMailbox(r.Mailbox) {
				errs[i] = ErrUnknownMailbox
				continue
			}
			c, err := w.counters(r.Mailbox)
			if errors.Is(err, ErrUnknownMailbox) {
				errs[i] = err
				continue
			}
			if err != nil {
				return err
			}
			size := uint64(sealed.SharedSize(len(r.Header), len(body)))
			mid, err := c.admit(q, size)
			if err != nil {
				errs[i] = err
				continue
			}
			w.set(key(pfxCounters, r.Mailbox), c.marshal())
			rec := make([]byte, 0, 29+len(r.Header))
			rec = binary.BigEndian.AppendUint64(rec, depositedAt)
			rec = binary.BigEndian.AppendUint64(rec, expiresAt)
			rec = append(rec, SharedMark)
			rec = binary.BigEndian.AppendUint64(rec, id)
			rec = binary.BigEndian.AppendUint32(rec, uint32(len(body)))
			rec = append(rec, r.Header...)
			w.set(mailKey(r.Mailbox, mid), rec)
			if early {
				w.set(expiryKey(exp, r.Mailbox, mid), nil)
			}
			stored++
			mb, waiting := r.Mailbox, c.count
			notify = append(notify, func() {
				s.messages.Add(1)
				s.bytes.Add(int64(size))
				if s.on != nil {
					s.on(mb, waiting)
				}
			})
		}
		if stored == 0 {
			return nil
		}
		s.nextBody++
		w.set([]byte(keyNextBody), binary.BigEndian.AppendUint64(nil, s.nextBody))
		w.set(bodyKey(pfxBody, id), body)
		w.set(bodyKey(pfxBodyRef, id), bodyRef{refs: uint64(stored), expiresAt: expiresAt, size: uint64(len(body))}.marshal())
		w.afterCommit(func() {
			s.bodies.Add(1)
			s.bodyBytes.Add(int64(len(body)))
			for _, f := range notify {
				f()
			}
		})
		return nil
	})
	return func() ([]error, error) {
		if err := done(); err != nil {
			return nil, err
		}
		return errs, nil
	}
}

// releaseBody drops one reference to a shared body, deleting it with its last one. A body
// already gone (swept after expiry) is ignored.
func (s *Store) releaseBody(w *writeTx, id uint64) error {
	r := w.refs[id]
	if r == nil {
		ref, ok, err := w.bodyRef(id)
		if !ok {
			return err // nil when the body is already gone
		}
		if w.refs == nil {
			w.refs = map[uint64]*bodyRef{}
		}
		r = &ref
		w.refs[id] = r
	}
	if r.refs == 0 {
		return nil // deleted earlier in this function
	}
	r.refs--
	if r.refs > 0 {
		w.set(bodyKey(pfxBodyRef, id), r.marshal())
		return nil
	}
	w.del(bodyKey(pfxBody, id))
	w.del(bodyKey(pfxBodyRef, id))
	size := int64(r.size)
	w.afterCommit(func() {
		s.bodies.Add(-1)
		s.bodyBytes.Add(-size)
	})
	return nil
}

// sweepBodies deletes shared bodies whose TTL ended: every record pointing at one expires
// with it (same deposit, same TTL), so none can be fetched any more. The purge deletes
// those records too; this catches bodies whose records went another way.
func (s *Store) sweepBodies(ctx context.Context, nowMs int64) (int, error) {
	var ids []uint64
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxBodyRef}, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Rewind(); it.Valid() && len(ids) < 4096; it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			r, err := parseBodyRef(v)
			if err != nil {
				return err
			}
			if int64(r.expiresAt) <= nowMs {
				k := it.Item().Key()
				ids = append(ids, binary.BigEndian.Uint64(k[1:]))
			}
		}
		return nil
	})
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	n := 0
	err = s.update(ctx, func(w *writeTx) error {
		n = 0
		for _, id := range ids {
			r, ok, err := w.bodyRef(id)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			w.del(bodyKey(pfxBody, id))
			w.del(bodyKey(pfxBodyRef, id))
			size := int64(r.size)
			w.afterCommit(func() {
				s.bodies.Add(-1)
				s.bodyBytes.Add(-size)
			})
			n++
		}
		return nil
	})
	return n, err
}

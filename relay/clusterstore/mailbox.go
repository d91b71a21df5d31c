package clusterstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
	"golang.org/x/sync/errgroup"
)

// Record formats (see doc.go).
const (
	regVersion byte = 1
)

// Register creates the mailbox of owner (idempotent); a mailbox id names one identity.
func (s *Store) Register(ctx context.Context, owner *identity.PublicIdentity, now time.Time) (bool, error) {
	mb := relaywire.MailboxID(owner)
	rec := append([]byte{regVersion}, binary.BigEndian.AppendUint64(nil, uint64(now.UnixMilli()))...)
	rec = append(rec, owner.Bytes()...)
	rctx, cancel := s.req(ctx)
	defer cancel()
	_, err := s.reg.Create(rctx, mailboxKey(mb), rec)
	if err == nil {
		s.cacheOwner(mb, owner)
		return true, nil
	}
	if !isConflict(err) {
		return false, fmt.Errorf("clusterstore: register: %w", err)
	}
	have, err := s.Owner(mb)
	if err != nil {
		return false, err
	}
	if !have.Equal(owner) {
		return false, relaystore.ErrIdentity
	}
	return false, nil
}

func (s *Store) cacheOwner(mb []byte, p *identity.PublicIdentity) {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if len(s.regCache) > 1<<20 {
		clear(s.regCache)
	}
	s.regCache[string(mb)] = p
}

// Owner returns the identity registered for mailbox, or relaystore.ErrUnknownMailbox.
// Registrations never change, so they are cached once read.
func (s *Store) Owner(mailbox []byte) (*identity.PublicIdentity, error) {
	if len(mailbox) != relaywire.MailboxIDSize {
		return nil, relaystore.ErrUnknownMailbox
	}
	s.regMu.Lock()
	p := s.regCache[string(mailbox)]
	s.regMu.Unlock()
	if p != nil {
		return p, nil
	}
	e, err := s.leaderGet(s.ctx, s.reg, mailboxKey(mailbox))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, relaystore.ErrUnknownMailbox
	}
	if err != nil {
		return nil, fmt.Errorf("clusterstore: owner: %w", err)
	}
	v := e.value
	if len(v) != 1+8+identity.PublicSize || v[0] != regVersion {
		return nil, fmt.Errorf("clusterstore: registration record of %d bytes", len(v))
	}
	if p, err = identity.ParsePublic(v[9:]); err != nil {
		return nil, fmt.Errorf("clusterstore: registration: %w", err)
	}
	s.cacheOwner(mailbox, p)
	return p, nil
}

// StartDeposit publishes envelope to mailbox's subject and returns a function that waits
// for JetStream's acknowledgement: the deposit is then stored on a quorum of the stream's
// replicas. Deposits started one after another by one goroutine get increasing ids (the
// stream sequence) in that order.
func (s *Store) StartDeposit(ctx context.Context, mailbox, envelope []byte, now time.Time, q relaystore.Quota) func() (uint64, error) {
	return s.StartDepositUntil(ctx, mailbox, envelope, now, time.Time{}, q)
}

// StartDepositUntil is StartDeposit for mail that expires at until (zero: only the TTL):
// its record carries the earlier of the two, Fetch never hands it out from then on, and an
// entry in the expiry index lets PurgeExpired find it.
func (s *Store) StartDepositUntil(ctx context.Context, mailbox, envelope []byte, now, until time.Time, q relaystore.Quota) func() (uint64, error) {
	fail := func(err error) func() (uint64, error) { return func() (uint64, error) { return 0, err } }
	if len(envelope) == 0 || envelope[0] == relaystore.SharedMark {
		return fail(relaystore.ErrBadEnvelope)
	}
	if _, err := s.Owner(mailbox); err != nil {
		return fail(err)
	}
	size := int64(len(envelope))
	if err := s.usage.reserve(mailbox, size, q); err != nil {
		return fail(err)
	}
	expiresAt, early := expiry(now, until, q)
	rec := make([]byte, 16, 16+len(envelope))
	binary.BigEndian.PutUint64(rec, uint64(now.UnixMilli()))
	binary.BigEndian.PutUint64(rec[8:], uint64(expiresAt))
	rec = append(rec, envelope...)
	mb := append([]byte(nil), mailbox...)
	f, err := s.js.PublishAsync(s.mailSubject(mb), rec, jetstream.WithStallWait(time.Duration(s.cfg.Timeout)))
	if err != nil {
		s.usage.settle(mb, size, false)
		return fail(fmt.Errorf("clusterstore: publish: %w", err))
	}
	return func() (uint64, error) {
		ack, err := s.awaitAck(ctx, f)
		s.usage.settle(mb, size, err == nil)
		if err != nil {
			return 0, err
		}
		if early {
			s.indexExpiry(ctx, expiresAt, ack.Sequence)
		}
		return ack.Sequence, nil
	}
}

// awaitAck waits for a publish's acknowledgement (bounded by the request timeout).
func (s *Store) awaitAck(ctx context.Context, f jetstream.PubAckFuture) (*jetstream.PubAck, error) {
	t := time.NewTimer(time.Duration(s.cfg.Timeout))
	defer t.Stop()
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		if strings.Contains(err.Error(), "maximum messages per subject") {
			return nil, fmt.Errorf("%w: %v", relaystore.ErrQuotaMessages, err)
		}
		return nil, fmt.Errorf("clusterstore: deposit not acknowledged: %w", err)
	case <-t.C:
		// The outcome is unknown: report failure (the depositor retries; a duplicate is
		// harmless, the recipient's node drops repeats).
		return nil, errors.New("clusterstore: deposit not acknowledged in time")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// StartMultiDeposit stores body once (the body stream), then one record per accepted
// recipient pointing at it, each under its mailbox's quota.
func (s *Store) StartMultiDeposit(ctx context.Context, recipients []relaystore.Recipient, body []byte, now time.Time, q relaystore.Quota) func() ([]error, error) {
	return s.StartMultiDepositUntil(ctx, recipients, body, now, time.Time{}, q)
}

// StartMultiDepositUntil is StartMultiDeposit for mail that expires at until (zero: only
// the TTL) for every recipient (StartDepositUntil).
func (s *Store) StartMultiDepositUntil(ctx context.Context, recipients []relaystore.Recipient, body []byte, now, until time.Time, q relaystore.Quota) func() ([]error, error) {
	errs := make([]error, len(recipients))
	type sent struct {
		i    int
		mb   []byte
		size int64
		f    jetstream.PubAckFuture
	}
	var ok []int
	for i, r := range recipients {
		if _, err := s.Owner(r.Mailbox); err != nil {
			errs[i] = err
			continue
		}
		ok = append(ok, i)
	}
	if len(ok) == 0 {
		return func() ([]error, error) { return errs, nil }
	}
	return func() ([]error, error) {
		rctx, cancel := s.req(ctx)
		bodyAck, err := s.js.Publish(rctx, s.subject("body"), body)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("clusterstore: body: %w", err)
		}
		id := bodyAck.Sequence
		// References first, so an early acknowledgement finds them; corrected below for
		// recipients that refuse.
		rctx, cancel = s.req(ctx)
		_, err = s.refs.Create(rctx, refKey(id), binary.BigEndian.AppendUint64(nil, uint64(len(ok))))
		cancel()
		if err != nil {
			return nil, fmt.Errorf("clusterstore: body references: %w", err)
		}
		depositedAt := uint64(now.UnixMilli())
		exp, early := expiry(now, until, q)
		expiresAt := uint64(exp)
		var pubs []sent
		for _, i := range ok {
			r := recipients[i]
			size := int64(sealed.SharedSize(len(r.Header), len(body)))
			if err := s.usage.reserve(r.Mailbox, size, q); err != nil {
				errs[i] = err
				continue
			}
			rec := make([]byte, 0, 29+len(r.Header))
			rec = binary.BigEndian.AppendUint64(rec, depositedAt)
			rec = binary.BigEndian.AppendUint64(rec, expiresAt)
			rec = append(rec, relaystore.SharedMark)
			rec = binary.BigEndian.AppendUint64(rec, id)
			rec = binary.BigEndian.AppendUint32(rec, uint32(len(body)))
			rec = append(rec, r.Header...)
			mb := append([]byte(nil), r.Mailbox...)
			f, err := s.js.PublishAsync(s.mailSubject(mb), rec, jetstream.WithStallWait(time.Duration(s.cfg.Timeout)))
			if err != nil {
				s.usage.settle(mb, size, false)
				errs[i] = err
				continue
			}
			pubs = append(pubs, sent{i, mb, size, f})
		}
		stored := 0
		for _, p := range pubs {
			ack, err := s.awaitAck(ctx, p.f)
			s.usage.settle(p.mb, p.size, err == nil)
			if err != nil {
				errs[p.i] = err
				continue
			}
			if early {
				s.indexExpiry(ctx, exp, ack.Sequence)
			}
			stored++
		}
		for n := len(ok) - stored; n > 0; n-- {
			if err := s.releaseBody(ctx, id); err != nil {
				s.log.Warn("releasing an unused body reference", "err", err)
			}
		}
		return errs, nil
	}
}

func refKey(id uint64) string { return fmt.Sprintf("%016x", id) }

// releaseBody drops one reference to a shared body, deleting it with the last one.
func (s *Store) releaseBody(ctx context.Context, id uint64) error {
	for attempt := 0; attempt < 100; attempt++ {
		e, err := s.leaderGet(ctx, s.refs, refKey(id))
		if isNotFound(err) {
			return nil // expired with its TTL
		}
		if err != nil || len(e.value) != 8 {
			return fmt.Errorf("clusterstore: body reference: %v", err)
		}
		n := beUint64(e.value)
		rctx, cancel := s.req(ctx)
		if n <= 1 {
			err = s.refs.Delete(rctx, refKey(id), jetstream.LastRevision(e.revision))
		} else {
			_, err = s.refs.Update(rctx, refKey(id), binary.BigEndian.AppendUint64(nil, n-1), e.revision)
		}
		cancel()
		if isConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("clusterstore: body reference: %w", err)
		}
		if n <= 1 {
			rctx, cancel = s.req(ctx)
			err = s.body.DeleteMsg(rctx, id)
			cancel()
			if err != nil && !isNotFound(err) {
				return fmt.Errorf("clusterstore: delete body: %w", err)
			}
		}
		return nil
	}
	return errors.New("clusterstore: body reference kept conflicting")
}

// Waiting returns about how many messages mailbox holds (the usage bucket's count plus
// this process's unflushed changes).
func (s *Store) Waiting(mailbox []byte) uint64 { return s.usage.waiting(mailbox) }

// Fetch returns the oldest unexpired messages of mailbox in deposit order: at most max and,
// beyond the first, at most maxBytes of envelopes. It reads them through an ephemeral
// consumer filtered on the mailbox's subject. That consumer may sit on a replica a little
// behind the stream leader, so Fetch first asks the leader for the subject's last message
// and reads again (a new consumer) until the view has reached it.
func (s *Store) Fetch(mailbox []byte, max, maxBytes int, now time.Time) ([]relaywire.Mail, bool, error) {
	if len(mailbox) != relaywire.MailboxIDSize {
		return nil, false, relaystore.ErrUnknownMailbox
	}
	ctx, cancel := s.req(s.ctx)
	defer cancel()
	last, err := s.mail.GetLastMsgForSubject(ctx, s.mailSubject(mailbox))
	if isNotFound(err) {
		return nil, false, nil // nothing waits
	}
	if err != nil {
		return nil, false, fmt.Errorf("clusterstore: fetch: %w", err)
	}
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		mail, more, seen, err := s.fetchOnce(ctx, mailbox, max, maxBytes, now)
		if err != nil || more || seen >= last.Sequence || len(mail) >= max {
			return mail, more, err
		}
		// The consumer's replica has not caught up with the leader: read again.
		select {
		case <-ctx.Done():
			return mail, more, nil
		case <-time.After(wait):
		}
	}
}

// fetchOnce reads mailbox once through a new consumer; seen is the highest stream sequence
// it read (0: none).
func (s *Store) fetchOnce(ctx context.Context, mailbox []byte, max, maxBytes int, now time.Time) ([]relaywire.Mail, bool, uint64, error) {
	var c jetstream.Consumer
	var err error
	for wait := 10 * time.Millisecond; ; wait *= 2 {
		c, err = s.mail.CreateConsumer(ctx, jetstream.ConsumerConfig{
			FilterSubject: s.mailSubject(mailbox), DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true, Replicas: 1,
			InactiveThreshold: time.Minute,
		})
		// Under load the JetStream API may answer "no responders" for a moment: retry
		// within the request's deadline.
		if err == nil || !errors.Is(err, nats.ErrNoResponders) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	if err != nil {
		return nil, false, 0, fmt.Errorf("clusterstore: fetch: consumer: %w", err)
	}
	defer func() {
		// Deleted in the background (a meta-group operation the owner need not wait
		// for); the inactivity threshold removes it if this fails.
		name := c.CachedInfo().Name
		s.wg.Go(func() {
			dctx, dcancel := s.req(s.ctx)
			s.mail.DeleteConsumer(dctx, name)
			dcancel()
		})
	}()
	pending := int(c.CachedInfo().NumPending)
	if pending == 0 {
		return nil, false, 0, nil
	}
	mail, more, seen, err := s.pull(ctx, c, mailbox, min(max, pending), max, maxBytes, now)
	for wait := 10 * time.Millisecond; errors.Is(err, nats.ErrNoResponders) && len(mail) == 0 && ctx.Err() == nil; wait *= 2 {
		// The new consumer's interest has not reached this server through the routes yet.
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		mail, more, seen, err = s.pull(ctx, c, mailbox, min(max, pending), max, maxBytes, now)
	}
	return mail, more, seen, err
}

// pull reads one batch from the fetch consumer c.
func (s *Store) pull(ctx context.Context, c jetstream.Consumer, mailbox []byte, n, max, maxBytes int, now time.Time) ([]relaywire.Mail, bool, uint64, error) {
	batch, err := c.Fetch(n, jetstream.FetchMaxBytes(maxBytes+2*relaywire.MaxFrame),
		jetstream.FetchMaxWait(time.Duration(s.cfg.Timeout)))
	if err != nil {
		return nil, false, 0, fmt.Errorf("clusterstore: fetch: %w", err)
	}
	var seen uint64
	var mail []relaywire.Mail
	var seenAll []prefixEntry // every live message read from the subject's start, up to the last handed out
	more, full := false, false
	size := 0
	bodies := map[uint64][]byte{}
	nowMs := now.UnixMilli()
	for m := range batch.Messages() {
		if full {
			continue // drain the batch
		}
		md, err := m.Metadata()
		if err != nil {
			return nil, false, 0, fmt.Errorf("clusterstore: fetch: %w", err)
		}
		r, err := relaystore.ParseMailRecord(m.Data())
		if err != nil {
			return nil, false, 0, err
		}
		if md.Sequence.Stream > seen {
			seen = md.Sequence.Stream
		}
		more = md.NumPending > 0
		if s.acks.deletedRecently(md.Sequence.Stream) {
			continue // acknowledged here; the consumer's replica has not applied it yet
		}
		if r.ExpiresAt <= nowMs {
			seenAll = append(seenAll, prefixEntry{md.Sequence.Stream, ackInfo{mailbox: string(mailbox), charged: int64(r.Charged()), shared: r.Shared, bodyID: r.BodyID}, false})
			continue
		}
		if len(mail) > 0 && size+r.Charged() > maxBytes || len(mail) >= max {
			more, full = true, true
			continue
		}
		env := r.Envelope
		if r.Shared {
			b, ok := bodies[r.BodyID]
			if !ok {
				bm, err := s.body.GetMsg(ctx, r.BodyID)
				if isNotFound(err) {
					continue // expired
				}
				if err != nil {
					return nil, false, 0, fmt.Errorf("clusterstore: body: %w", err)
				}
				b = bm.Data
				bodies[r.BodyID] = b
			}
			env = sealed.JoinShared(r.Envelope, b)
		}
		seq := md.Sequence.Stream
		ai := ackInfo{mailbox: string(mailbox), charged: int64(r.Charged()), shared: r.Shared, bodyID: r.BodyID}
		s.acks.put(seq, ai)
		seenAll = append(seenAll, prefixEntry{seq, ai, true})
		mail = append(mail, relaywire.Mail{ID: seq, DepositedAt: r.DepositedAt, Envelope: env})
		size += len(env)
	}
	if err := batch.Error(); err != nil && len(mail) == 0 {
		return nil, false, 0, fmt.Errorf("clusterstore: fetch: pull: %w", err)
	}
	// Drop the expired entries read after the last message handed out: the prefix ends there.
	for len(seenAll) > 0 && !seenAll[len(seenAll)-1].handed {
		seenAll = seenAll[:len(seenAll)-1]
	}
	if len(mail) > 0 {
		s.acks.setPrefix(string(mailbox), seenAll)
	}
	return mail, more, seen, nil
}

// Ack deletes the messages ids of mailbox. Ids not present, or of another mailbox, are
// ignored. It returns how many were deleted.
func (s *Store) Ack(ctx context.Context, mailbox []byte, ids []uint64) (int, error) {
	if len(mailbox) != relaywire.MailboxIDSize {
		return 0, relaystore.ErrUnknownMailbox
	}
	if n, ok, err := s.ackPrefix(ctx, mailbox, ids); ok || err != nil {
		return n, err
	}
	seen := make(map[uint64]bool, len(ids))
	var g errgroup.Group
	g.SetLimit(64)
	var deleted, bytes int64
	var mu sync.Mutex
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		g.Go(func() error {
			ok, info, err := s.deleteMail(ctx, id, string(mailbox))
			if err != nil || !ok {
				return err
			}
			mu.Lock()
			deleted++
			bytes += info.charged
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	if deleted > 0 {
		s.usage.remove(mailbox, deleted, bytes)
	}
	return int(deleted), err
}

// deleteMail deletes stream message id if it belongs to mailbox (any mailbox when ""),
// releasing its shared body. ok says whether this call deleted it.
func (s *Store) deleteMail(ctx context.Context, id uint64, mailbox string) (bool, ackInfo, error) {
	info, cached := s.acks.take(id)
	if !cached || (mailbox != "" && info.mailbox != mailbox) {
		rctx, cancel := s.req(ctx)
		m, err := s.mail.GetMsg(rctx, id)
		cancel()
		if isNotFound(err) {
			return false, info, nil
		}
		if err != nil {
			return false, info, fmt.Errorf("clusterstore: ack: %w", err)
		}
		r, err := relaystore.ParseMailRecord(m.Data)
		if err != nil {
			return false, info, err
		}
		mb := keyMailbox(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:])
		info = ackInfo{mailbox: mb, charged: int64(r.Charged()), shared: r.Shared, bodyID: r.BodyID}
	}
	if mailbox != "" && info.mailbox != mailbox {
		return false, info, nil // another owner's mail: not theirs to delete
	}
	rctx, cancel := s.req(ctx)
	err := s.mail.DeleteMsg(rctx, id)
	cancel()
	if isNotFound(err) {
		s.acks.deleted(id)
		return false, info, nil // deleted by someone else first
	}
	if err != nil {
		return false, info, fmt.Errorf("clusterstore: ack: %w", err)
	}
	s.acks.deleted(id)
	if info.shared {
		if err := s.releaseBody(ctx, info.bodyID); err != nil {
			s.log.Warn("releasing a body reference", "err", err)
		}
	}
	return true, info, nil
}

// PurgeExpired deletes every message whose TTL ended at or before now, walking the mail
// stream from its oldest message to the first one alive (with one TTL, expiry follows
// deposit order), after the mail with an earlier expiry of its own that the expiry index
// lists (expiry.go). Every process may run it: a deletion counts only where it succeeded.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	nowMs := now.UnixMilli()
	indexed, err := s.purgeIndexed(ctx, nowMs)
	if err != nil {
		return indexed, err
	}
	rctx, cancel := s.req(ctx)
	info, err := s.mail.Info(rctx)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("clusterstore: purge: %w", err)
	}
	seq := info.State.FirstSeq
	total := indexed
	for ctx.Err() == nil && total < 1<<16 {
		rctx, cancel := s.req(ctx)
		m, err := s.mail.GetMsg(rctx, seq, jetstream.WithGetMsgSubject(s.subject("mail", "*")))
		cancel()
		if isNotFound(err) {
			break
		}
		if err != nil {
			return total, fmt.Errorf("clusterstore: purge: %w", err)
		}
		r, err := relaystore.ParseMailRecord(m.Data)
		if err != nil {
			return total, err
		}
		if r.ExpiresAt > nowMs {
			break
		}
		ok, ai, err := s.deleteMail(ctx, m.Sequence, "")
		if err != nil {
			return total, err
		}
		if ok {
			s.usage.remove([]byte(ai.mailbox), 1, ai.charged)
			total++
		}
		seq = m.Sequence + 1
	}
	return total, ctx.Err()
}

// ackInfo is what an acknowledgement needs to know of a fetched message.
type ackInfo struct {
	mailbox string
	charged int64
	shared  bool
	bodyID  uint64
}

// ackCache remembers the messages this process handed out, so their acknowledgement
// needs no read first (an owner fetches and acknowledges on one stream, so one process),
// and the messages it deleted in the last recentFor: a fetch consumer may sit on a replica
// that has not applied a deletion yet, and must not hand the message out again.
type ackCache struct {
	mu     sync.Mutex
	m      map[uint64]ackInfo
	recent map[uint64]time.Time
	swept  time.Time
	prefix map[string][]prefixEntry // mailbox → its last fetch here, if read from the start
}

// recentFor is how long a deletion is remembered (far above a replica's lag).
const recentFor = 30 * time.Second

func (c *ackCache) deleted(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.recent == nil {
		c.recent = map[uint64]time.Time{}
	}
	c.recent[id] = now
	if now.Sub(c.swept) > recentFor {
		for k, t := range c.recent {
			if now.Sub(t) > recentFor {
				delete(c.recent, k)
			}
		}
		c.swept = now
	}
}

func (c *ackCache) deletedRecently(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.recent[id]
	return ok && time.Since(t) < recentFor
}

func (c *ackCache) put(id uint64, a ackInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= 1<<18 {
		clear(c.m)
	}
	c.m[id] = a
}

func (c *ackCache) take(id uint64) (ackInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[id]
	delete(c.m, id)
	return a, ok
}

// prefixEntry is one message of a fetch that read a mailbox's subject from its start.
type prefixEntry struct {
	seq    uint64
	info   ackInfo
	handed bool // handed out (else expired and skipped)
}

func (c *ackCache) setPrefix(mailbox string, p []prefixEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.prefix == nil || len(c.prefix) > 1<<16 {
		c.prefix = map[string][]prefixEntry{}
	}
	c.prefix[mailbox] = p
}

func (c *ackCache) takePrefix(mailbox string) []prefixEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.prefix[mailbox]
	delete(c.prefix, mailbox)
	return p
}

// ackPrefix is the common acknowledgement made fast: when ids are exactly the messages the
// last fetch of mailbox here handed out, which it read from the subject's start, every
// message of the subject up to the last of them is acknowledged or expired, and one purge
// of the subject below that sequence (one Raft operation) deletes them all. ok is false
// when the ids are something else (the caller deletes them one by one).
func (s *Store) ackPrefix(ctx context.Context, mailbox []byte, ids []uint64) (int, bool, error) {
	p := s.acks.takePrefix(string(mailbox))
	if len(p) == 0 {
		return 0, false, nil
	}
	want := map[uint64]bool{}
	for _, e := range p {
		if e.handed {
			want[e.seq] = true
		}
	}
	got := map[uint64]bool{}
	for _, id := range ids {
		if !want[id] {
			return 0, false, nil
		}
		got[id] = true
	}
	if len(got) != len(want) {
		return 0, false, nil
	}
	last := p[len(p)-1].seq
	req, _ := json.Marshal(map[string]any{"filter": s.mailSubject(mailbox), "seq": last + 1})
	rctx, cancel := s.req(ctx)
	msg, err := s.nc.RequestWithContext(rctx, "$JS.API.STREAM.PURGE."+s.mail.CachedInfo().Config.Name, req)
	cancel()
	if err != nil {
		return 0, true, fmt.Errorf("clusterstore: ack: %w", err)
	}
	var resp struct {
		Error  *jetstream.APIError `json:"error,omitempty"`
		Purged uint64              `json:"purged"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return 0, true, fmt.Errorf("clusterstore: ack: %w", err)
	}
	if resp.Error != nil {
		return 0, true, fmt.Errorf("clusterstore: ack: %w", resp.Error)
	}
	var bytes int64
	for _, e := range p {
		s.acks.take(e.seq)
		s.acks.deleted(e.seq)
		bytes += e.info.charged
		if e.info.shared {
			if err := s.releaseBody(ctx, e.info.bodyID); err != nil {
				s.log.Warn("releasing a body reference", "err", err)
			}
		}
	}
	n := int64(len(p))
	if int64(resp.Purged) < n {
		// Some were deleted elsewhere meanwhile (the owner acknowledging at two processes
		// at once): charge back the average for the ones this purge removed.
		bytes = bytes * int64(resp.Purged) / n
		n = int64(resp.Purged)
	}
	if n > 0 {
		s.usage.remove(mailbox, n, bytes)
	}
	return min(len(want), int(resp.Purged)), true, nil
}

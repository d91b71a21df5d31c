package clusterstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/petrel-chat/petrel/relay/relaystore"
)

// The expiry index: mail deposited with an expiry earlier than its TTL may expire before
// older mail, which the purge's deposit-order walk would not reach. Each such deposit
// adds, once acknowledged, one message to stream PETREL_EXPIRY on subject
// petrel.expiry.MINUTE (the expiry's Unix minute, decimal): expires at (8, Unix ms) ‖ mail
// stream sequence (8). PurgeExpired lists the subjects (one stream info request), and for
// each minute that has wholly passed deletes the mail its entries name (if still there)
// and purges the subject. Mail is hidden from Fetch at its exact expiry; the purge may come
// up to a minute and a purge interval later. Entries are kept at most TTL + 1 h (MaxAge):
// mail whose entry was lost (a crash between the deposit's and the entry's
// acknowledgement) is purged with its TTL and is never handed out after its expiry.

const expiryMinuteMs = 60_000

// expiry returns when mail deposited at now expires: the earlier of until (zero: none)
// and the TTL; early says whether until decided it.
func expiry(now, until time.Time, q relaystore.Quota) (expiresAt int64, early bool) {
	expiresAt = now.Add(q.TTL).UnixMilli()
	if !until.IsZero() && until.UnixMilli() < expiresAt {
		return until.UnixMilli(), true
	}
	return expiresAt, false
}

// indexExpiry records that mail seq expires at expiresAt. A failure is logged, not
// returned: the deposit is stored, and the TTL purges it anyway.
func (s *Store) indexExpiry(ctx context.Context, expiresAt int64, seq uint64) {
	subj := s.subject("expiry", strconv.FormatInt(expiresAt/expiryMinuteMs, 10))
	data := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(expiresAt)), seq)
	rctx, cancel := s.req(ctx)
	defer cancel()
	if _, err := s.js.Publish(rctx, subj, data); err != nil {
		s.log.Warn("indexing an expiring deposit failed; it will be purged with its TTL", "err", err)
	}
}

// purgeIndexed deletes the mail the expiry index lists for every minute wholly before
// nowMs and purges those minutes' subjects.
func (s *Store) purgeIndexed(ctx context.Context, nowMs int64) (int, error) {
	rctx, cancel := s.req(ctx)
	info, err := s.exp.Info(rctx, jetstream.WithSubjectFilter(s.subject("expiry", "*")))
	cancel()
	if err != nil {
		return 0, fmt.Errorf("clusterstore: purge: expiry index: %w", err)
	}
	prefix := s.subject("expiry") + "."
	total := 0
	for subj := range info.State.Subjects {
		minute, err := strconv.ParseInt(strings.TrimPrefix(subj, prefix), 10, 64)
		if err != nil || (minute+1)*expiryMinuteMs > nowMs {
			continue
		}
		for seq := uint64(1); ctx.Err() == nil; {
			rctx, cancel := s.req(ctx)
			m, err := s.exp.GetMsg(rctx, seq, jetstream.WithGetMsgSubject(subj))
			cancel()
			if isNotFound(err) {
				break
			}
			if err != nil {
				return total, fmt.Errorf("clusterstore: purge: expiry index: %w", err)
			}
			seq = m.Sequence + 1
			if len(m.Data) != 16 {
				s.log.Warn("skipping a malformed expiry index entry", "bytes", len(m.Data))
				continue
			}
			ok, ai, err := s.deleteMail(ctx, binary.BigEndian.Uint64(m.Data[8:]), "")
			if err != nil {
				return total, err
			}
			if ok {
				s.usage.remove([]byte(ai.mailbox), 1, ai.charged)
				total++
			}
		}
		if ctx.Err() != nil {
			return total, ctx.Err()
		}
		rctx, cancel := s.req(ctx)
		err = s.exp.Purge(rctx, jetstream.WithPurgeSubject(subj))
		cancel()
		if err != nil {
			return total, fmt.Errorf("clusterstore: purge: expiry index: %w", err)
		}
	}
	return total, nil
}

package clusterstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// Push bucket keys: "r.MAILBOX.ID" → a registration (relaystore.PushRecord's stored value:
// the sealed registration as the owner sent it, sealed to the push bridge's key, plus its
// creation time and dead mark); "d.MAILBOX" → 0x01 ‖ do-not-disturb until (8, Unix ms).
// MAILBOX and ID are hex. Every process of the cluster reads the same registrations, so an
// owner registered at one process is woken by a deposit at any other.
func pushRegKey(mb []byte, id [relaywire.PushRegistrationIDSize]byte) string {
	return "r." + mailboxKey(mb) + "." + hex.EncodeToString(id[:])
}
func pushRegPrefix(mb []byte) string { return "r." + mailboxKey(mb) }
func pushDNDKey(mb []byte) string    { return "d." + mailboxKey(mb) }

const pushDNDVersion = 0x01

// PutPush stores a registration for a registered mailbox (at most max per mailbox). The
// same id with the same sealed bytes changes nothing; with other bytes it replaces the
// old one, active again. The per-mailbox limit is checked against the bucket's keys: two
// processes adding at the same instant may pass it by one each (documented).
func (s *Store) PutPush(ctx context.Context, mb []byte, id [relaywire.PushRegistrationIDSize]byte, sealedReg []byte, now time.Time, max int) error {
	if _, err := s.Owner(mb); err != nil {
		return err
	}
	rctx, cancel := s.req(ctx)
	defer cancel()
	k := pushRegKey(mb, id)
	e, err := s.leaderGet(rctx, s.push, k)
	switch {
	case err == nil:
		if old, perr := relaystore.ParsePushRecord(id, e.value); perr == nil && bytes.Equal(old.Sealed, sealedReg) {
			return nil
		}
	case errors.Is(err, jetstream.ErrKeyNotFound):
		keys, err := s.listBucket(rctx, s.push, pushRegPrefix(mb))
		if err != nil {
			return err
		}
		if len(keys) >= max {
			return relaystore.ErrPushLimit
		}
	default:
		return fmt.Errorf("clusterstore: push: %w", err)
	}
	rec := relaystore.PushRecord{ID: id, Created: now, Sealed: bytes.Clone(sealedReg)}
	if _, err := s.push.Put(rctx, k, rec.Marshal()); err != nil {
		return fmt.Errorf("clusterstore: push: %w", err)
	}
	return nil
}

// DeletePush removes a registration (no error if absent).
func (s *Store) DeletePush(ctx context.Context, mb []byte, id [relaywire.PushRegistrationIDSize]byte) error {
	rctx, cancel := s.req(ctx)
	defer cancel()
	if err := s.push.Delete(rctx, pushRegKey(mb, id)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("clusterstore: push: %w", err)
	}
	return nil
}

// MarkPushDead records that a registration's provider declared it gone. The write is a
// compare-and-set on the revision read, so a registration replaced meanwhile (by the
// owner, at any process) is not marked dead by mistake.
func (s *Store) MarkPushDead(ctx context.Context, mb []byte, id [relaywire.PushRegistrationIDSize]byte, reason string) error {
	rctx, cancel := s.req(ctx)
	defer cancel()
	k := pushRegKey(mb, id)
	e, err := s.leaderGet(rctx, s.push, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("clusterstore: push: %w", err)
	}
	r, err := relaystore.ParsePushRecord(id, e.value)
	if err != nil {
		return err
	}
	r.Dead, r.Reason = true, reason
	if _, err := s.push.Update(rctx, k, r.Marshal(), e.revision); err != nil {
		if isConflict(err) {
			return nil // replaced meanwhile: the new registration is not dead
		}
		return fmt.Errorf("clusterstore: push: %w", err)
	}
	return nil
}

// Pushes returns a mailbox's registrations, ordered by id.
func (s *Store) Pushes(mb []byte) ([]relaystore.PushRecord, error) {
	ctx, cancel := s.req(s.ctx)
	defer cancel()
	keys, err := s.listBucket(ctx, s.push, pushRegPrefix(mb))
	if err != nil {
		return nil, err
	}
	var out []relaystore.PushRecord
	for _, k := range keys {
		raw, err := hex.DecodeString(k[len(pushRegPrefix(mb))+1:])
		if err != nil || len(raw) != relaywire.PushRegistrationIDSize {
			continue
		}
		e, err := s.leaderGet(ctx, s.push, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("clusterstore: push: %w", err)
		}
		var id [relaywire.PushRegistrationIDSize]byte
		copy(id[:], raw)
		r, err := relaystore.ParsePushRecord(id, e.value)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// SetPushDND sets the mailbox owner's do-not-disturb time (zero turns it off).
func (s *Store) SetPushDND(ctx context.Context, mb []byte, until time.Time) error {
	if _, err := s.Owner(mb); err != nil {
		return err
	}
	rctx, cancel := s.req(ctx)
	defer cancel()
	if until.IsZero() {
		if err := s.push.Delete(rctx, pushDNDKey(mb)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("clusterstore: push: %w", err)
		}
		return nil
	}
	v := binary.BigEndian.AppendUint64([]byte{pushDNDVersion}, uint64(until.UnixMilli()))
	if _, err := s.push.Put(rctx, pushDNDKey(mb), v); err != nil {
		return fmt.Errorf("clusterstore: push: %w", err)
	}
	return nil
}

// PushDND returns the owner's do-not-disturb time (zero: none).
func (s *Store) PushDND(mb []byte) (time.Time, error) {
	ctx, cancel := s.req(s.ctx)
	defer cancel()
	e, err := s.leaderGet(ctx, s.push, pushDNDKey(mb))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("clusterstore: push: %w", err)
	}
	if len(e.value) != 9 || e.value[0] != pushDNDVersion {
		return time.Time{}, errors.New("clusterstore: do-not-disturb record malformed")
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(e.value[1:]))), nil
}

// listBucket returns the sorted keys of kv under prefix (prefix + ".*").
func (s *Store) listBucket(ctx context.Context, kv jetstream.KeyValue, prefix string) ([]string, error) {
	l, err := kv.ListKeysFiltered(ctx, prefix+".*")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("clusterstore: list %s: %w", kv.Bucket(), err)
	}
	var keys []string
	for k := range l.Keys() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

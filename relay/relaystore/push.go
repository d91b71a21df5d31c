package relaystore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// Push registration records (doc.go "Push"):
//
//	'p' ‖ mailbox (16) ‖ id (16) → 0x01 ‖ created at (8, Unix ms) ‖ dead (1) ‖ reason length (1) ‖ reason ‖ sealed registration
//	'd' ‖ mailbox (16)           → 0x01 ‖ do-not-disturb until (8, Unix ms)
//
// The sealed registration is stored as the owner sent it: sealed to the push bridge's key,
// so the store holds no endpoint or token in the clear.
const (
	pfxPush    byte = 'p'
	pfxPushDND byte = 'd'
)

// ErrPushLimit reports an owner at its registration limit.
var ErrPushLimit = errors.New("relaystore: too many push registrations")

// PushRecord is one stored push registration.
type PushRecord struct {
	ID      [relaywire.PushRegistrationIDSize]byte
	Created time.Time
	Dead    bool
	Reason  string
	Sealed  []byte
}

// Marshal is the record's stored value (the layout above, after the key). relay/clusterstore
// keeps the same value in its push bucket.
func (r PushRecord) Marshal() []byte {
	b := []byte{formatVersion}
	b = binary.BigEndian.AppendUint64(b, uint64(r.Created.UnixMilli()))
	dead := byte(0)
	if r.Dead {
		dead = 1
	}
	reason := r.Reason
	if len(reason) > relaywire.MaxPushReason {
		reason = reason[:relaywire.MaxPushReason]
	}
	b = append(b, dead, byte(len(reason)))
	b = append(b, reason...)
	return append(b, r.Sealed...)
}

func parsePushRecord(k, v []byte) (PushRecord, error) {
	if len(k) != 1+relaywire.MailboxIDSize+relaywire.PushRegistrationIDSize {
		return PushRecord{}, fmt.Errorf("relaystore: push key of %d bytes", len(k))
	}
	var id [relaywire.PushRegistrationIDSize]byte
	copy(id[:], k[1+relaywire.MailboxIDSize:])
	return ParsePushRecord(id, v)
}

// ParsePushRecord reads a stored value written by Marshal for registration id.
func ParsePushRecord(id [relaywire.PushRegistrationIDSize]byte, v []byte) (PushRecord, error) {
	r := PushRecord{ID: id}
	if len(v) < 11 || v[0] != formatVersion || v[9] > 1 {
		return r, fmt.Errorf("relaystore: push record of %d bytes", len(v))
	}
	r.Created = time.UnixMilli(int64(binary.BigEndian.Uint64(v[1:])))
	r.Dead = v[9] == 1
	n := int(v[10])
	if len(v) < 11+n+1 {
		return r, errors.New("relaystore: push record truncated")
	}
	r.Reason = string(v[11 : 11+n])
	r.Sealed = bytes.Clone(v[11+n:])
	return r, nil
}

func pushKey(mb []byte, id [relaywire.PushRegistrationIDSize]byte) []byte {
	return key(pfxPush, mb, id[:]...)
}

// PutPush stores a registration for a registered mailbox (at most max per mailbox). The
// same id with the same sealed bytes changes nothing (a dead registration stays dead);
// with other bytes it replaces the old one, active again.
func (s *Store) PutPush(ctx context.Context, mb []byte, id [relaywire.PushRegistrationIDSize]byte, sealedReg []byte, now time.Time, max int) error {
	if !validMailbox(mb) {
		return ErrUnknownMailbox
	}
	return s.update(ctx, func(w *writeTx) error {
		if _, err := w.get(key(pfxRegistration, mb)); errors.Is(err, badger.ErrKeyNotFound) {
			return ErrUnknownMailbox
		} else if err != nil {
			return err
		}
		k := pushKey(mb, id)
		v, err := w.get(k)
		switch {
		case err == nil:
			if old, perr := parsePushRecord(k, v); perr == nil && bytes.Equal(old.Sealed, sealedReg) {
				return nil
			}
		case errors.Is(err, badger.ErrKeyNotFound):
			n, err := countPrefix(w.txn, key(pfxPush, mb))
			if err != nil {
				return err
			}
			if n >= max {
				return ErrPushLimit
			}
		default:
			return err
		}
		w.set(k, PushRecord{ID: id, Created: now, Sealed: bytes.Clone(sealedReg)}.Marshal())
		return nil
	})
}

// DeletePush removes a registration (no error if absent).
func (s *Store) DeletePush(ctx context.Context, mb []byte, id [relaywire.PushRegistrationIDSize]byte) error {
	return s.update(ctx, func(w *writeTx) error {
		w.del(pushKey(mb, id))
		return nil
	})
}

// MarkPushDead records that a registration's provider declared it gone.
func (s *Store) MarkPushDead(ctx context.Context, mb []byte, id [relaywire.PushRegistrationIDSize]byte, reason string) error {
	return s.update(ctx, func(w *writeTx) error {
		k := pushKey(mb, id)
		v, err := w.get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		r, err := parsePushRecord(k, v)
		if err != nil {
			return err
		}
		r.Dead, r.Reason = true, reason
		w.set(k, r.Marshal())
		return nil
	})
}

// Pushes returns a mailbox's registrations, ordered by id.
func (s *Store) Pushes(mb []byte) ([]PushRecord, error) {
	var out []PushRecord
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: key(pfxPush, mb), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			r, err := parsePushRecord(it.Item().Key(), v)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// SetPushDND sets the mailbox owner's do-not-disturb time (zero turns it off).
func (s *Store) SetPushDND(ctx context.Context, mb []byte, until time.Time) error {
	if !validMailbox(mb) {
		return ErrUnknownMailbox
	}
	return s.update(ctx, func(w *writeTx) error {
		if until.IsZero() {
			w.del(key(pfxPushDND, mb))
			return nil
		}
		w.set(key(pfxPushDND, mb), binary.BigEndian.AppendUint64([]byte{formatVersion}, uint64(until.UnixMilli())))
		return nil
	})
}

// PushDND returns the owner's do-not-disturb time (zero: none).
func (s *Store) PushDND(mb []byte) (time.Time, error) {
	var t time.Time
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(key(pfxPushDND, mb))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if len(v) != 9 || v[0] != formatVersion {
				return errors.New("relaystore: do-not-disturb record malformed")
			}
			t = time.UnixMilli(int64(binary.BigEndian.Uint64(v[1:])))
			return nil
		})
	})
	return t, err
}

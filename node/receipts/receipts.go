package receipts

import (
	"encoding/binary"
	"errors"

	"github.com/petrel-chat/petrel/node/store"
)

// Receipt is what one member acknowledged of one of our messages, and when each
// acknowledgement arrived here (docs/PROTOCOL.md, "gt/" records).
type Receipt struct {
	// Level: 0 nothing, 1 delivered, 2 read.
	Level int
	// DeliveredAt and ReadAt are Unix milliseconds at this node; 0 when unknown (a record
	// written before times were kept, or not yet).
	DeliveredAt, ReadAt int64
}

// receiptTimedLen is the size of a gt/ value with times: level ‖ delivered_at ‖ read_at
// (8 bytes each, big-endian). Older records are the level byte alone and stay readable.
const receiptTimedLen = 1 + 8 + 8

func decode(b []byte) Receipt {
	switch len(b) {
	case 1:
		return Receipt{Level: int(b[0])}
	case receiptTimedLen:
		return Receipt{
			Level:       int(b[0]),
			DeliveredAt: int64(binary.BigEndian.Uint64(b[1:9])),
			ReadAt:      int64(binary.BigEndian.Uint64(b[9:17])),
		}
	}
	return Receipt{}
}

func (r Receipt) encode() []byte {
	b := make([]byte, 0, receiptTimedLen)
	b = append(b, byte(r.Level))
	b = binary.BigEndian.AppendUint64(b, uint64(r.DeliveredAt))
	return binary.BigEndian.AppendUint64(b, uint64(r.ReadAt))
}

// Of is member uid's receipt for our message id (zero when none).
func Of(tx *store.Tx, id, uid string) (Receipt, error) {
	b, err := tx.Get(Key(id, uid))
	if errors.Is(err, store.ErrNotFound) {
		return Receipt{}, nil
	}
	if err != nil {
		return Receipt{}, err
	}
	return decode(b), nil
}

// Each calls f for every member's receipt kept for our message id, in user id
// order.
func Each(tx *store.Tx, id string, f func(uid string, r Receipt)) error {
	prefix := Key(id, "")
	return tx.Iterate(store.IterOptions{Prefix: prefix}, func(k, v []byte) (bool, error) {
		if r := decode(v); r.Level > 0 {
			f(string(k[len(prefix):]), r)
		}
		return true, nil
	})
}

// Note records that member uid acknowledged our message id at level (1 delivered,
// 2 read) at time at (Unix ms). Levels only move up; a read that arrives first also
// counts as delivered then. It returns the receipt as it was and whether it changed.
// Direct messages keep their contact's receipt times here too.
func Note(tx *store.Tx, id, uid string, level int, at int64) (old Receipt, changed bool, err error) {
	old, err = Of(tx, id, uid)
	if err != nil || old.Level >= level {
		return old, false, err
	}
	r := old
	r.Level = level
	if r.DeliveredAt == 0 {
		r.DeliveredAt = at
	}
	if level >= 2 && r.ReadAt == 0 {
		r.ReadAt = at
	}
	return old, true, tx.Set(Key(id, uid), r.encode())
}

// Key is the store key of member uid's receipt for our message id.
func Key(msgID, uid string) []byte { return []byte("gt/" + msgID + "/" + uid) }

// Decode reads a gt/ value (either layout); a value of another size is no receipt.
func Decode(b []byte) Receipt { return decode(b) }

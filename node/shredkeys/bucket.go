package shredkeys

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/petrel-chat/petrel/node/store"
)

// Kind says what a bucket's window is a window of.
type Kind uint8

const (
	// Expiry buckets hold content that expires within the window: the key is destroyed
	// once the window has ended, whatever is still sealed under it.
	Expiry Kind = 1
	// Pending buckets hold content whose timer has not started (received, unread), by
	// the window it arrived in: the key is destroyed once nothing sealed under it remains
	// (each item was resealed under an Expiry bucket or released) and the window, plus
	// one more window of grace, has ended.
	Pending Kind = 2
)

func (k Kind) String() string {
	switch k {
	case Expiry:
		return "expiry"
	case Pending:
		return "pending"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Bucket names one key: its kind and the start of its window. Comparable with ==.
type Bucket struct {
	kind  Kind
	start int64 // Unix ms
}

// Kind is the bucket's kind.
func (b Bucket) Kind() Kind { return b.kind }

// Start is the start of the bucket's window.
func (b Bucket) Start() time.Time { return time.UnixMilli(b.start) }

func (b Bucket) String() string {
	return fmt.Sprintf("%s@%s", b.kind, time.UnixMilli(b.start).UTC().Format(time.RFC3339))
}

// appendID appends the 9-byte bucket id: kind ‖ window start (8, Unix ms, big-endian).
func (b Bucket) appendID(dst []byte) []byte {
	return binary.BigEndian.AppendUint64(append(dst, byte(b.kind)), uint64(b.start))
}

func parseBucketID(b []byte) (Bucket, error) {
	if len(b) != bucketIDSize || (Kind(b[0]) != Expiry && Kind(b[0]) != Pending) {
		return Bucket{}, fmt.Errorf("%w: bucket id", ErrMalformed)
	}
	return Bucket{kind: Kind(b[0]), start: int64(binary.BigEndian.Uint64(b[1:]))}, nil
}

// Bucket records in the store (doc.go, "Bucket records"): the key file holds the keys,
// the store what they are for and how much is sealed under them.
const recordVersion = 1

var recordPrefix = []byte("shredkeys/")

type record struct {
	slot uint32
	end  int64  // window end, Unix ms
	refs uint64 // items sealed under the key and not released
}

func recordKey(b Bucket) []byte { return b.appendID(append([]byte(nil), recordPrefix...)) }

func (r record) marshal() []byte {
	v := []byte{recordVersion}
	v = binary.BigEndian.AppendUint32(v, r.slot)
	v = binary.BigEndian.AppendUint64(v, uint64(r.end))
	return binary.BigEndian.AppendUint64(v, r.refs)
}

func parseRecord(v []byte) (record, error) {
	if len(v) != 1+4+8+8 || v[0] != recordVersion {
		return record{}, fmt.Errorf("%w: bucket record of %d bytes", ErrMalformed, len(v))
	}
	return record{
		slot: binary.BigEndian.Uint32(v[1:]),
		end:  int64(binary.BigEndian.Uint64(v[5:])),
		refs: binary.BigEndian.Uint64(v[13:]),
	}, nil
}

// getRecord reads b's record in tx; ok is false when b does not exist (never created, or
// destroyed).
func getRecord(tx *store.Tx, b Bucket) (r record, ok bool, err error) {
	v, err := tx.Get(recordKey(b))
	if errors.Is(err, store.ErrNotFound) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, fmt.Errorf("shredkeys: bucket %s: %w", b, err)
	}
	r, err = parseRecord(v)
	if err != nil {
		return record{}, false, fmt.Errorf("shredkeys: bucket %s: %w", b, err)
	}
	return r, true, nil
}

// allRecords reads every bucket record.
func allRecords(tx *store.Tx) (map[Bucket]record, error) {
	out := map[Bucket]record{}
	err := tx.Iterate(store.IterOptions{Prefix: recordPrefix}, func(k, v []byte) (bool, error) {
		b, err := parseBucketID(k[len(recordPrefix):])
		if err != nil {
			return false, fmt.Errorf("shredkeys: record key: %w", err)
		}
		r, err := parseRecord(v)
		if err != nil {
			return false, fmt.Errorf("shredkeys: bucket %s: %w", b, err)
		}
		out[b] = r
		return true, nil
	})
	return out, err
}

// due reports whether a bucket's key is to be destroyed at now (Unix ms), given the
// window length for the pending grace.
func (r record) due(b Bucket, nowMs int64, window time.Duration) bool {
	switch b.kind {
	case Expiry:
		return r.end <= nowMs
	case Pending:
		return r.refs == 0 && r.end+window.Milliseconds() <= nowMs
	}
	return false
}

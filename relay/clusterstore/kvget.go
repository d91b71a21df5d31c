package clusterstore

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// kvEntry is a bucket value read from the stream leader.
type kvEntry struct {
	value    []byte
	revision uint64
}

// leaderGet reads key of bucket kv from its stream's leader. A bucket's own Get may be
// answered by any replica (direct get), which can lag behind a write just made at another
// process; what must see the latest write (a registration, a reference count, a prekey)
// reads here. jetstream.ErrKeyNotFound when absent or deleted.
func (s *Store) leaderGet(ctx context.Context, kv jetstream.KeyValue, key string) (kvEntry, error) {
	bucket := kv.Bucket()
	m, err := s.leaderMsg(ctx, "KV_"+bucket, map[string]any{"last_by_subj": "$KV." + bucket + "." + key})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return kvEntry{}, jetstream.ErrKeyNotFound
	}
	if err != nil {
		return kvEntry{}, err
	}
	if len(m.hdr) > 0 {
		h, err := nats.DecodeHeadersMsg(m.hdr)
		if err == nil {
			if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
				return kvEntry{}, jetstream.ErrKeyNotFound
			}
		}
	}
	return kvEntry{value: m.data, revision: m.seq}, nil
}

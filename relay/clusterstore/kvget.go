package clusterstore

import (
	"context"
	"encoding/json"
	"fmt"

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
	req, _ := json.Marshal(map[string]string{"last_by_subj": "$KV." + bucket + "." + key})
	ctx, cancel := s.req(ctx)
	defer cancel()
	msg, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+bucket, req)
	if err != nil {
		return kvEntry{}, fmt.Errorf("clusterstore: read %s: %w", bucket, err)
	}
	var resp struct {
		Error   *jetstream.APIError `json:"error,omitempty"`
		Message *struct {
			Seq    uint64 `json:"seq"`
			Header []byte `json:"hdrs,omitempty"`
			Data   []byte `json:"data,omitempty"`
		} `json:"message,omitempty"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return kvEntry{}, fmt.Errorf("clusterstore: read %s: %w", bucket, err)
	}
	if resp.Error != nil {
		if resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return kvEntry{}, jetstream.ErrKeyNotFound
		}
		return kvEntry{}, fmt.Errorf("clusterstore: read %s: %w", bucket, resp.Error)
	}
	if resp.Message == nil {
		return kvEntry{}, jetstream.ErrKeyNotFound
	}
	if len(resp.Message.Header) > 0 {
		h, err := nats.DecodeHeadersMsg(resp.Message.Header)
		if err == nil {
			if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
				return kvEntry{}, jetstream.ErrKeyNotFound
			}
		}
	}
	return kvEntry{value: resp.Message.Data, revision: resp.Message.Seq}, nil
}

package groups

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// Bounds shared with the pairwise side (the same values as node/messenger's).
const (
	sentHistory = 1024 // our group envelopes kept for resend requests (gh/)
	maxAhead    = 4096 // sequence numbers remembered beyond a gap
	window      = 256  // envelopes one receiving transaction takes
)

// load reads the record at key, or an api not_found error naming what and id.
func load[T any](tx *store.Tx, key []byte, what, id string) (*T, error) {
	var v T
	ok, err := store.GetJSON(tx, key, &v)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, api.Errorf(api.ErrNotFound, "no %s %q", what, id)
	}
	return &v, nil
}

func getJSON(tx *store.Tx, key []byte, v any) (bool, error) { return store.GetJSON(tx, key, v) }
func putJSON(tx *store.Tx, key []byte, v any) error         { return store.PutJSON(tx, key, v) }
func newID(prefix string) string                            { return api.NewID(prefix) }

func jsonUnmarshal(k, v []byte, x any) error {
	if err := json.Unmarshal(v, x); err != nil {
		return fmt.Errorf("groups: record %s: %w", store.KeyPrefix(k), err)
	}
	return nil
}

func sortedKeysOf[V any](mp map[string]V) []string {
	out := make([]string, 0, len(mp))
	for k := range mp {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

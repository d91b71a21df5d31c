package groups

import (
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

func getJSON(tx *store.Tx, key []byte, v any) (bool, error) { return store.GetJSON(tx, key, v) }
func putJSON(tx *store.Tx, key []byte, v any) error         { return store.PutJSON(tx, key, v) }
func newID(prefix string) string                            { return api.NewID(prefix) }

func sortedKeysOf[V any](mp map[string]V) []string {
	out := make([]string, 0, len(mp))
	for k := range mp {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

package history

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// The search index (docs/PROTOCOL.md "Search index") is a compact copy of what search
// reads of every message: id, order, conversation, deleted flag and lower-cased body,
// packed searchBlock messages to a record, so a search decrypts a few hundred records and
// runs one substring match over each body instead of decoding 100,000 JSON records. It is
// a store record like any other (sealed, under Badger's encryption) and its keys are block
// numbers and message ids, which name no word. It follows the event log: every message
// and message update event since the index's cursor is folded in before a search, and a
// missing or unknown-version index is rebuilt from the messages.
const (
	searchVersion   = 1
	searchBlock     = 256  // messages per block
	searchBatch     = 1024 // messages rebuilt, or stale keys dropped, per store transaction
	searchDirty     = 16   // blocks rewritten per store transaction when folding events in
	searchEventPage = 1000
)

// KeySearchMeta holds the index's version, cursor and block count.
var KeySearchMeta = []byte("sx/meta")

func kSearchBlock(n uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte("sx/b/"), n)
}
func kSearchMsg(id string) []byte { return []byte("sx/m/" + id) }

// SearchIndex serialises the index's catch-up and rebuild (searches themselves only read).
// The zero value is ready.
type SearchIndex struct {
	mu sync.Mutex
}

// Events is what the index follows: the event log (node/eventlog).
type Events interface {
	Last() uint64
	Since(since uint64, limit int) ([]api.Event, bool, error)
}

// searchMeta is the index's state: the last event folded in and the number of blocks.
type searchMeta struct {
	cursor  uint64
	nblocks uint32
}

func (s searchMeta) encode() []byte {
	b := []byte{searchVersion}
	b = binary.BigEndian.AppendUint64(b, s.cursor)
	return binary.BigEndian.AppendUint32(b, s.nblocks)
}

// loadSearchMeta returns the index state; ok is false when there is no index of this
// version.
func loadSearchMeta(tx *store.Tx) (searchMeta, bool, error) {
	b, err := tx.Get(KeySearchMeta)
	if errors.Is(err, store.ErrNotFound) {
		return searchMeta{}, false, nil
	}
	if err != nil {
		return searchMeta{}, false, err
	}
	if len(b) != 13 || b[0] != searchVersion {
		return searchMeta{}, false, nil
	}
	return searchMeta{binary.BigEndian.Uint64(b[1:]), binary.BigEndian.Uint32(b[9:])}, true, nil
}

// searchEntry is one message as the index holds it.
type searchEntry struct {
	id, order, conv string
	deleted         bool
	body            string // lower-cased
}

func entryOf(m *api.Message) searchEntry {
	return searchEntry{m.ID, m.Order, m.ConversationID, m.Deleted, strings.ToLower(m.Body)}
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func encodeBlock(es []searchEntry) []byte {
	var b []byte
	for _, e := range es {
		b = appendStr(b, e.id)
		b = appendStr(b, e.order)
		b = appendStr(b, e.conv)
		if e.deleted {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = appendStr(b, e.body)
	}
	return b
}

var errSearchBlock = errors.New("history: malformed search index block")

// scanBlock calls fn for each entry of an encoded block; the strings alias b.
func scanBlock(b []byte, fn func(e *searchEntry)) error {
	str := func() (string, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return "", false
		}
		s := b[k : k+int(n)]
		b = b[k+int(n):]
		return unsafeString(s), true
	}
	var e searchEntry
	for len(b) > 0 {
		var ok1, ok2, ok3, ok4 bool
		e.id, ok1 = str()
		e.order, ok2 = str()
		e.conv, ok3 = str()
		if !ok1 || !ok2 || !ok3 || len(b) == 0 || b[0] > 1 {
			return errSearchBlock
		}
		e.deleted = b[0] == 1
		b = b[1:]
		if e.body, ok4 = str(); !ok4 {
			return errSearchBlock
		}
		fn(&e)
	}
	return nil
}

// unsafeString is a string view of b, without a copy: blocks are never written to after
// they are read, and scanBlock's callers clone what they keep beyond the block.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func decodeBlock(b []byte) ([]searchEntry, error) {
	var out []searchEntry
	err := scanBlock(b, func(e *searchEntry) { out = append(out, *e) })
	return out, err
}

// Refresh brings the index in st up to ev's last event, rebuilding it first if there is
// none.
func (s *SearchIndex) Refresh(ctx context.Context, st *store.Store, ev Events) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var meta searchMeta
	var ok bool
	if err := st.View(func(tx *store.Tx) error {
		var err error
		meta, ok, err = loadSearchMeta(tx)
		return err
	}); err != nil {
		return err
	}
	if !ok || meta.cursor > ev.Last() {
		var err error
		if meta, err = rebuildSearch(ctx, st, ev); err != nil {
			return fmt.Errorf("history: building the search index: %w", err)
		}
	}
	for {
		evs, more, err := ev.Since(meta.cursor, searchEventPage)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		// Fold the page in, as many store transactions as it takes: each rewrites at most
		// searchDirty blocks (a transaction is bounded by the store's memtable).
		for len(evs) > 0 {
			var used int
			if err := st.Update(ctx, func(tx *store.Tx) error {
				cur, _, err := loadSearchMeta(tx)
				if err != nil {
					return err
				}
				used, err = foldSearch(tx, cur, evs)
				return err
			}); err != nil {
				return err
			}
			meta.cursor = evs[used-1].Seq
			evs = evs[used:]
		}
		if !more {
			return nil
		}
	}
}

// foldSearch writes the messages of evs into the index (replacing their entries), up to
// the event that makes searchDirty blocks dirty, sets the cursor to the last event folded
// in and returns how many were (at least one).
func foldSearch(tx *store.Tx, meta searchMeta, evs []api.Event) (int, error) {
	blocks := map[uint32][]searchEntry{}
	dirty := map[uint32]bool{}
	load := func(n uint32) ([]searchEntry, error) {
		if es, ok := blocks[n]; ok {
			return es, nil
		}
		b, err := tx.Get(kSearchBlock(n))
		if errors.Is(err, store.ErrNotFound) {
			blocks[n] = nil
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		es, err := decodeBlock(b)
		if err != nil {
			return nil, err
		}
		blocks[n] = es
		return es, nil
	}
	used := 0
	for _, ev := range evs {
		if len(dirty) >= searchDirty {
			break
		}
		used++
		if ev.Kind != api.KindMessage && ev.Kind != api.KindMessageUpdate {
			continue
		}
		var msg api.Message
		if err := json.Unmarshal(ev.Payload, &msg); err != nil || msg.ID == "" {
			continue
		}
		e := entryOf(&msg)
		b, err := tx.Get(kSearchMsg(e.id))
		switch {
		case err == nil && len(b) == 4:
			n := binary.BigEndian.Uint32(b)
			es, err := load(n)
			if err != nil {
				return 0, err
			}
			j := slices.IndexFunc(es, func(x searchEntry) bool { return x.id == e.id })
			if j < 0 {
				return 0, errSearchBlock
			}
			if es[j] != e {
				es[j] = e
				dirty[n] = true
			}
			continue
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return 0, err
		}
		if meta.nblocks == 0 {
			meta.nblocks = 1
		}
		last := meta.nblocks - 1
		es, err := load(last)
		if err != nil {
			return 0, err
		}
		if len(es) >= searchBlock {
			last, es = meta.nblocks, nil
			meta.nblocks++
		}
		blocks[last] = append(es, e)
		dirty[last] = true
		if err := tx.Set(kSearchMsg(e.id), binary.BigEndian.AppendUint32(nil, last)); err != nil {
			return 0, err
		}
	}
	for n := range dirty {
		if err := tx.Set(kSearchBlock(n), encodeBlock(blocks[n])); err != nil {
			return 0, err
		}
	}
	meta.cursor = evs[used-1].Seq
	return used, tx.Set(KeySearchMeta, meta.encode())
}

// rebuildSearch builds the index from every message record: a scan in the store's key
// order, written a batch at a time, from an event cursor taken first (so messages written
// meanwhile are folded in by the catch-up that follows).
func rebuildSearch(ctx context.Context, st *store.Store, ev Events) (searchMeta, error) {
	cursor := ev.Last()
	// Drop an index of another version, a batch at a time.
	for {
		var keys [][]byte
		if err := st.View(func(tx *store.Tx) error {
			return tx.Iterate(store.IterOptions{Prefix: []byte("sx/")}, func(k, _ []byte) (bool, error) {
				keys = append(keys, k)
				return len(keys) < searchBatch, nil
			})
		}); err != nil {
			return searchMeta{}, err
		}
		if len(keys) == 0 {
			break
		}
		if err := st.Update(ctx, func(tx *store.Tx) error {
			for _, k := range keys {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return searchMeta{}, err
		}
	}
	var meta searchMeta
	var start []byte
	for {
		var batch []api.Message
		if err := st.View(func(tx *store.Tx) error {
			return Messages(tx, start, func(k []byte, r *Message) (bool, error) {
				if start != nil && bytes.Equal(k, start) {
					return true, nil
				}
				batch = append(batch, ToAPI(r))
				start = k
				return len(batch) < searchBatch, nil
			})
		}); err != nil {
			return searchMeta{}, err
		}
		done := len(batch) < searchBatch
		var next searchMeta
		if err := st.Update(ctx, func(tx *store.Tx) error {
			next = meta
			for i := 0; i < len(batch); i += searchBlock {
				es := make([]searchEntry, 0, searchBlock)
				for j := i; j < min(i+searchBlock, len(batch)); j++ {
					es = append(es, entryOf(&batch[j]))
				}
				n := next.nblocks
				next.nblocks++
				for _, e := range es {
					if err := tx.Set(kSearchMsg(e.id), binary.BigEndian.AppendUint32(nil, n)); err != nil {
						return err
					}
				}
				if err := tx.Set(kSearchBlock(n), encodeBlock(es)); err != nil {
					return err
				}
			}
			if done {
				next.cursor = cursor
				return tx.Set(KeySearchMeta, next.encode())
			}
			return nil
		}); err != nil {
			return searchMeta{}, err
		}
		meta = next
		if done {
			return meta, nil
		}
	}
}

// SearchHit is a message the index says matches.
type SearchHit struct{ Order, ID string }

// SearchIndexed finds, in the index, the messages of conv (all when "") whose body contains
// q (lower-cased), newest first.
func SearchIndexed(tx *store.Tx, q, conv string) ([]SearchHit, error) {
	meta, ok, err := loadSearchMeta(tx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("history: no search index")
	}
	var hits []SearchHit
	for n := range meta.nblocks {
		b, err := tx.Get(kSearchBlock(n))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := scanBlock(b, func(e *searchEntry) {
			if !e.deleted && (conv == "" || e.conv == conv) && strings.Contains(e.body, q) {
				hits = append(hits, SearchHit{strings.Clone(e.order), strings.Clone(e.id)})
			}
		}); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(hits, func(a, b SearchHit) int { return strings.Compare(b.Order, a.Order) })
	return hits, nil
}

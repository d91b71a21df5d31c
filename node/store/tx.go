package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// MaxKeySize is the longest key Set accepts (Badger's limit, less its timestamp suffix).
const MaxKeySize = 65000

var badgerPrefix = []byte("!badger!")

// Tx is a transaction handed to an Update or View function. It is valid only until that
// function returns and must not be used from several goroutines at once.
//
// In Update, the Tx buffers its own writes (sealed at Set time) and reads through them:
// Get and Iterate see the function's own writes, the writes of the functions that ran
// before it and succeeded (in its group, or in the previous group whose commit may still be
// syncing: see layer), and everything committed. The writes reach Badger only if the
// function returns nil.
type Tx struct {
	s        *Store
	txn      *badger.Txn
	lay      *layer     // unlanded writes of earlier functions (Update only)
	cache    *readCache // the writer's read cache (Update only; cache.go)
	writable bool
	done     bool

	ops      []op           // this function's writes, one per key, in first-write order
	index    map[string]int // key → position in ops
	onCommit []func()
}

// op is one buffered write: a Set (plain kept for reads through the buffer) or a Delete.
type op struct {
	key    []byte
	plain  []byte
	sealed []byte
	del    bool
}

// IterOptions select the keys Iterate visits.
type IterOptions struct {
	Prefix   []byte // only keys with this prefix (nil: all keys)
	Start    []byte // if non-empty: first key visited, inclusive; for Reverse the greatest key ≤ Start
	Reverse  bool   // descending order
	KeysOnly bool   // fn gets a nil value; values are neither read nor opened
}

func (tx *Tx) usable() error {
	if tx.done {
		return ErrTxDone
	}
	return nil
}

func checkKey(key []byte) error {
	switch {
	case len(key) == 0:
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeySize:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidKey, len(key), MaxKeySize)
	case bytes.HasPrefix(key, badgerPrefix):
		return fmt.Errorf("%w: reserved prefix %q", ErrInvalidKey, badgerPrefix)
	case reserved(key):
		return fmt.Errorf("%w: reserved prefix %q", ErrInvalidKey, reservedPrefix)
	}
	return nil
}

// Get returns the value of key, or ErrNotFound. The slice is a fresh copy the caller owns.
// A value that fails authentication is ErrTampered.
func (tx *Tx) Get(key []byte) ([]byte, error) {
	if err := tx.usable(); err != nil {
		return nil, err
	}
	if reserved(key) {
		return nil, fmt.Errorf("%w: reserved prefix %q", ErrInvalidKey, reservedPrefix)
	}
	if i, ok := tx.index[string(key)]; ok {
		if tx.ops[i].del {
			return nil, ErrNotFound
		}
		return bytes.Clone(tx.ops[i].plain), nil
	}
	if o, ok := tx.lay.get(key); ok {
		if o.del {
			return nil, ErrNotFound
		}
		return bytes.Clone(o.plain), nil
	}
	if v, ok := tx.cache.get(key); ok {
		return bytes.Clone(v), nil
	}
	item, err := tx.txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get: %w", err)
	}
	pt, err := tx.openItem(item)
	if err == nil && tx.cache != nil {
		tx.cache.put(key, bytes.Clone(pt))
	}
	return pt, err
}

func (tx *Tx) openItem(item *badger.Item) ([]byte, error) {
	var pt []byte
	err := item.Value(func(v []byte) error {
		var err error
		pt, err = tx.s.seal.open(item.Key(), v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: get: %w", err)
	}
	return pt, nil
}

// Set stores value under key. The value is sealed (XChaCha20-Poly1305, bound to key) before
// Badger sees it; key and value are copied, so the caller may reuse them.
func (tx *Tx) Set(key, value []byte) error {
	if err := tx.usable(); err != nil {
		return err
	}
	if !tx.writable {
		return ErrReadOnly
	}
	if err := checkKey(key); err != nil {
		return err
	}
	plain := bytes.Clone(value)
	if plain == nil {
		plain = []byte{}
	}
	tx.put(op{key: key, plain: plain, sealed: tx.s.seal.seal(key, value)})
	return nil
}

// Delete removes key (no error if it is absent).
func (tx *Tx) Delete(key []byte) error {
	if err := tx.usable(); err != nil {
		return err
	}
	if !tx.writable {
		return ErrReadOnly
	}
	if err := checkKey(key); err != nil {
		return err
	}
	tx.put(op{key: key, del: true})
	return nil
}

// DeletePrefix removes every key under prefix (what the transaction sees) and returns how
// many it removed.
func (tx *Tx) DeletePrefix(prefix []byte) (int, error) {
	var dead [][]byte
	err := tx.Iterate(IterOptions{Prefix: prefix, KeysOnly: true}, func(k, _ []byte) (bool, error) {
		dead = append(dead, k)
		return true, nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range dead {
		if err := tx.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(dead), nil
}

func (tx *Tx) put(o op) {
	if i, ok := tx.index[string(o.key)]; ok {
		o.key = tx.ops[i].key
		tx.ops[i] = o
		return
	}
	if tx.index == nil {
		tx.index = make(map[string]int)
	}
	o.key = bytes.Clone(o.key)
	tx.index[string(o.key)] = len(tx.ops)
	tx.ops = append(tx.ops, o)
}

// OnCommit registers f to run after the transaction's writes are durable, only if they
// are, in registration order and in commit order across Updates. f runs on the writer
// goroutine before Update returns: keep it short and never call Update from it. In View,
// f runs when fn returns nil.
func (tx *Tx) OnCommit(f func()) {
	if tx.done || f == nil {
		return
	}
	tx.onCommit = append(tx.onCommit, f)
}

// apply hands the buffered writes to a Badger transaction.
func (tx *Tx) apply(txn *badger.Txn) error {
	for _, o := range tx.ops {
		var err error
		if o.del {
			err = txn.Delete(o.key)
		} else {
			err = txn.Set(o.key, o.sealed)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Iterate calls fn for each key with opt.Prefix in ascending order (descending with
// Reverse), starting at opt.Start if set (inclusive; for Reverse the greatest key ≤ Start).
// fn gets copies it may keep. Returning false stops the iteration; an error stops it and
// is returned as-is. A value that fails authentication stops it with ErrTampered. Writes
// made by fn during the iteration are not visited.
func (tx *Tx) Iterate(opt IterOptions, fn func(key, value []byte) (bool, error)) error {
	if err := tx.usable(); err != nil {
		return err
	}
	// This function's own buffered writes in range, then the unlanded writes of earlier
	// functions it does not shadow, in iteration order (a snapshot).
	var ov []op
	for _, o := range tx.ops {
		if inRange(opt, o.key) {
			ov = append(ov, o)
		}
	}
	ov = tx.lay.collect(opt, tx.index, ov)
	slices.SortFunc(ov, func(a, b op) int {
		if opt.Reverse {
			return bytes.Compare(b.key, a.key)
		}
		return bytes.Compare(a.key, b.key)
	})

	bi := newBadgerIter(tx.txn, opt)
	defer bi.close()
	for {
		bk, bok := bi.key()
		var (
			key, val []byte
			fromOv   bool
		)
		switch {
		case !bok && len(ov) == 0:
			return nil
		case !bok:
			fromOv = true
		case len(ov) > 0:
			c := bytes.Compare(ov[0].key, bk)
			if opt.Reverse {
				c = -c
			}
			if c <= 0 {
				fromOv = true
				if c == 0 {
					bi.next() // shadowed by the buffered write
				}
			}
		}
		if fromOv {
			o := ov[0]
			ov = ov[1:]
			if o.del {
				continue
			}
			key = bytes.Clone(o.key)
			if !opt.KeysOnly {
				val = bytes.Clone(o.plain)
			}
		} else {
			item := bi.it.Item()
			key = item.KeyCopy(nil)
			if !opt.KeysOnly {
				var err error
				if val, err = tx.openItem(item); err != nil {
					return err
				}
			}
			bi.next()
		}
		more, err := fn(key, val)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// layer holds the writes of functions that succeeded but have not landed in Badger's
// snapshot: those of the group being run (also pending in its Badger transaction) and,
// under them while the previous group's commit syncs, that group's. An Update's reads
// consult it between the function's own writes and Badger. Entries are never modified
// once added; at most two layers are stacked.
type layer struct {
	ops   map[string]op
	under *layer
}

// add records a successful function's writes (later writes of a key replace earlier ones).
func (l *layer) add(ops []op) {
	if len(ops) == 0 {
		return
	}
	if l.ops == nil {
		l.ops = make(map[string]op, len(ops))
	}
	for _, o := range ops {
		l.ops[string(o.key)] = o
	}
}

// get returns the newest unlanded write of key, if any. l may be nil.
func (l *layer) get(key []byte) (op, bool) {
	for ; l != nil; l = l.under {
		if o, ok := l.ops[string(key)]; ok {
			return o, true
		}
	}
	return op{}, false
}

// collect appends to out the newest unlanded write of each key in opt's range that is not
// in skip (the function's own writes). l may be nil.
func (l *layer) collect(opt IterOptions, skip map[string]int, out []op) []op {
	for top := l; top != nil; top = top.under {
		for k, o := range top.ops {
			if _, own := skip[k]; own || !inRange(opt, o.key) {
				continue
			}
			if top != l {
				if _, newer := l.ops[k]; newer {
					continue
				}
			}
			out = append(out, o)
		}
	}
	return out
}

// inRange reports whether key is visited by an iteration with opt.
func inRange(opt IterOptions, key []byte) bool {
	if !bytes.HasPrefix(key, opt.Prefix) {
		return false
	}
	if len(opt.Start) == 0 {
		return true
	}
	c := bytes.Compare(key, opt.Start)
	return opt.Reverse && c <= 0 || !opt.Reverse && c >= 0
}

// badgerIter walks Badger's keys in an IterOptions range. Values are fetched lazily
// (PrefetchValues=false is ~5× faster for short scans such as "newest 50").
type badgerIter struct {
	it  *badger.Iterator
	opt IterOptions
}

func newBadgerIter(txn *badger.Txn, opt IterOptions) *badgerIter {
	bo := badger.IteratorOptions{Reverse: opt.Reverse}
	if !opt.Reverse {
		// Badger's Prefix also skips tables without the prefix. It is not used in
		// reverse: a reverse Seek can land on a key just past the prefix range, which a
		// Prefix-limited iterator would take as the end.
		bo.Prefix = opt.Prefix
	}
	bi := &badgerIter{it: txn.NewIterator(bo), opt: opt}
	switch {
	case !opt.Reverse:
		seek := opt.Prefix
		if len(opt.Start) > 0 && bytes.Compare(opt.Start, seek) > 0 {
			seek = opt.Start
		}
		bi.it.Seek(seek) // Seek(nil) is Rewind
	default:
		succ := prefixSuccessor(opt.Prefix)
		switch {
		case len(opt.Start) > 0 && (succ == nil || bytes.Compare(opt.Start, succ) < 0):
			bi.it.Seek(opt.Start)
		case succ != nil:
			bi.it.Seek(succ)
		default:
			bi.it.Rewind()
		}
		// Step over keys above the prefix range (at most the successor itself).
		for bi.it.Valid() {
			k := bi.it.Item().Key()
			if bytes.HasPrefix(k, opt.Prefix) || bytes.Compare(k, opt.Prefix) < 0 {
				break
			}
			bi.it.Next()
		}
	}
	return bi
}

// key returns the current key if it is in range, stepping over the store's own keys.
func (bi *badgerIter) key() ([]byte, bool) {
	for bi.it.Valid() && reserved(bi.it.Item().Key()) {
		bi.it.Next()
	}
	if !bi.it.Valid() {
		return nil, false
	}
	k := bi.it.Item().Key()
	if !bytes.HasPrefix(k, bi.opt.Prefix) {
		return nil, false
	}
	return k, true
}

func (bi *badgerIter) next()  { bi.it.Next() }
func (bi *badgerIter) close() { bi.it.Close() }

// prefixSuccessor returns the smallest key greater than every key with prefix p, or nil if
// there is none (p empty or all 0xFF).
func prefixSuccessor(p []byte) []byte {
	s := bytes.Clone(p)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != 0xFF {
			s[i]++
			return s[:i+1]
		}
	}
	return nil
}

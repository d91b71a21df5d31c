package shredkeys

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/petrel-chat/petrel/node/store"
	"golang.org/x/crypto/chacha20poly1305"
)

// Options configure Open. The zero value is right for a node.
type Options struct {
	// Window is the length of a bucket's window. Default one hour: content expiring
	// within the same hour shares a key, destroyed when the hour ends. Shorter windows
	// destroy sooner and cost more slots (82 bytes each). It is recorded at the first
	// Open of a data directory, and the recorded length is used from then on.
	Window time.Duration
	// SweepInterval is how often Serve destroys due keys. Default one minute.
	SweepInterval time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Window <= 0 {
		o.Window = time.Hour
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Keyring holds the bucket keys of one store. Safe for concurrent use.
type Keyring struct {
	st   *store.Store
	opts Options
	log  *slog.Logger
	path string

	// fileMu serialises changes to the key file and to the set of slots (create,
	// destroy). It is held across store Updates, so it is never taken inside one: Seal,
	// Open, Reseal and Release take only mu.
	fileMu sync.Mutex
	f      *os.File
	aead   cipher.AEAD // the slot key's

	mu      sync.Mutex // guards the fields below
	closed  bool
	keys    map[Bucket]*bucketKey
	used    map[uint32]Bucket // slots that hold a live key, or belong to a damaged bucket
	damaged map[Bucket]uint32 // buckets with a record whose slot does not authenticate
	dying   map[Bucket]bool   // buckets whose destroying transaction has begun
	slots   uint32            // slots the file covers
}

// bucketKey is one bucket's key in memory.
type bucketKey struct {
	slot uint32
	key  [keySize]byte
	aead cipher.AEAD
}

// Open opens (or creates) the key file DIR/shredkeys of st's directory and reconciles it
// with the bucket records in st: a slot holding a key without a record (a crash between
// writing a key and committing its record, or between deleting a record and overwriting
// its slot) is overwritten now; a record whose slot does not authenticate is reported
// (Damaged, ErrKeyDamaged) and no other key is lost. Then every due key is destroyed
// (Sweep), so a destruction interrupted by a crash completes at the next start. A
// malformed header is ErrCorruptFile and nothing is modified.
func Open(ctx context.Context, st *store.Store, opts Options) (*Keyring, error) {
	opts = opts.withDefaults()
	k := &Keyring{
		st: st, opts: opts, log: opts.Logger.With("component", "shredkeys"),
		path:    filepath.Join(st.Dir(), keyFileName),
		keys:    map[Bucket]*bucketKey{},
		used:    map[uint32]Bucket{},
		damaged: map[Bucket]uint32{},
		dying:   map[Bucket]bool{},
	}
	sk, err := st.DeriveKey(infoSlotKey)
	if err != nil {
		return nil, fmt.Errorf("shredkeys: %w", err)
	}
	k.aead, err = chacha20poly1305.NewX(sk)
	clear(sk)
	if err != nil {
		return nil, fmt.Errorf("shredkeys: slot key: %w", err)
	}
	if err := k.fixWindow(ctx); err != nil {
		return nil, err
	}
	if k.f, err = openKeyFile(k.path, st.Dir()); err != nil {
		return nil, err
	}
	if err := k.load(); err != nil {
		k.f.Close()
		return nil, err
	}
	if _, err := k.Sweep(ctx, opts.Now()); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// windowKey holds the window length (8, ms) a data directory's buckets were made with.
var windowKey = []byte("shredkeys:window")

// fixWindow records the window length at the first Open and uses the recorded one after:
// buckets are found by window start, so a changed length would seal content under a
// bucket that ends before it expires.
func (k *Keyring) fixWindow(ctx context.Context) error {
	return k.st.Update(ctx, func(tx *store.Tx) error {
		v, err := tx.Get(windowKey)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return tx.Set(windowKey, binary.BigEndian.AppendUint64(nil, uint64(k.opts.Window.Milliseconds())))
		case err != nil:
			return fmt.Errorf("shredkeys: window: %w", err)
		case len(v) != 8 || binary.BigEndian.Uint64(v) == 0 || binary.BigEndian.Uint64(v) > uint64(365*24*time.Hour/time.Millisecond):
			return fmt.Errorf("shredkeys: window: %w: record of %d bytes", ErrMalformed, len(v))
		}
		if w := time.Duration(binary.BigEndian.Uint64(v)) * time.Millisecond; w != k.opts.Window {
			k.log.Info("keeping the bucket window this data directory was created with", "window", w, "configured", k.opts.Window)
			k.opts.Window = w
		}
		return nil
	})
}

// load reads the file and the records and reconciles them (see Open).
func (k *Keyring) load() error {
	b, err := os.ReadFile(k.path)
	if err != nil {
		return fmt.Errorf("shredkeys: read key file: %w", err)
	}
	p, err := parseKeyFile(b, k.aead)
	clear(b)
	if err != nil {
		return fmt.Errorf("%s: %w", k.path, err)
	}
	var recs map[Bucket]record
	if err := k.st.View(func(tx *store.Tx) error {
		recs, err = allRecords(tx)
		return err
	}); err != nil {
		return err
	}
	k.slots = p.slots
	for b, r := range recs {
		e, ok := p.live[r.slot]
		if !ok || e.bucket != b {
			k.damaged[b] = r.slot
			k.used[r.slot] = b
			reason := "it does not authenticate"
			if r.slot >= p.full {
				reason = "the file ends before it"
			}
			k.log.Error("a bucket key is damaged in the key file; content sealed under it cannot be opened",
				"file", k.path, "bucket", b.String(), "slot", r.slot, "reason", reason)
			continue
		}
		bk, err := newBucketKey(r.slot, &e.key)
		if err != nil {
			return err
		}
		k.keys[b] = bk
		k.used[r.slot] = b
	}
	// Keys without a record: written by a create that never committed, or left by a
	// destroy that committed its record's deletion but crashed before the overwrite.
	for idx, e := range p.live {
		if rb, ok := k.used[idx]; ok && rb == e.bucket {
			continue
		}
		if err := k.wipeSlot(idx); err != nil {
			return err
		}
		k.log.Info("destroyed a key left without a bucket record", "bucket", e.bucket.String(), "slot", idx)
	}
	for _, e := range p.live {
		clear(e.key[:])
	}
	return nil
}

func newBucketKey(slot uint32, key *[keySize]byte) (*bucketKey, error) {
	bk := &bucketKey{slot: slot, key: *key}
	a, err := chacha20poly1305.NewX(bk.key[:])
	if err != nil {
		return nil, fmt.Errorf("shredkeys: bucket key: %w", err)
	}
	bk.aead = a
	return bk, nil
}

// wipeSlot overwrites slot idx with random bytes, in place, and fsyncs.
func (k *Keyring) wipeSlot(idx uint32) error {
	junk := make([]byte, slotSize)
	rand.Read(junk)
	return writeSlot(k.f, idx, junk)
}

// Close zeroes the keys in memory and closes the key file. Later calls fail with
// ErrClosed. It does not close the store.
func (k *Keyring) Close() error {
	k.fileMu.Lock()
	defer k.fileMu.Unlock()
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	for _, bk := range k.keys {
		clear(bk.key[:])
	}
	k.keys = nil
	k.mu.Unlock()
	if err := k.f.Close(); err != nil {
		return fmt.Errorf("shredkeys: close key file: %w", err)
	}
	return nil
}

// window returns the bucket of kind whose window holds t.
func (k *Keyring) window(kind Kind, t time.Time) (Bucket, int64) {
	w := k.opts.Window.Milliseconds()
	ms := t.UnixMilli()
	start := ms - ((ms%w)+w)%w // floor, also before 1970
	return Bucket{kind: kind, start: start}, start + w
}

// ExpiryBucket returns the Expiry bucket for content that expires at expiresAt, creating
// its key (durably: key file and store record) if it has none. A window that has already
// ended is ErrExpired.
func (k *Keyring) ExpiryBucket(ctx context.Context, expiresAt time.Time) (Bucket, error) {
	b, end := k.window(Expiry, expiresAt)
	if end <= k.opts.Now().UnixMilli() {
		return Bucket{}, fmt.Errorf("%w: %s", ErrExpired, expiresAt.UTC().Format(time.RFC3339))
	}
	return b, k.ensure(ctx, b, end)
}

// PendingBucket returns the Pending bucket for content that arrives at now and whose timer
// has not started, creating its key if it has none. It stays valid for at least one
// window after now.
func (k *Keyring) PendingBucket(ctx context.Context, now time.Time) (Bucket, error) {
	b, end := k.window(Pending, now)
	return b, k.ensure(ctx, b, end)
}

// ensure creates b's key unless it exists: a free slot gets the sealed key (fsynced) before
// the record commits, so a record never names an unwritten slot; if the commit fails the
// slot is wiped again (and, after a crash, by the next Open).
func (k *Keyring) ensure(ctx context.Context, b Bucket, end int64) error {
	k.fileMu.Lock()
	defer k.fileMu.Unlock()
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return ErrClosed
	}
	if _, ok := k.keys[b]; ok {
		k.mu.Unlock()
		return nil
	}
	if _, ok := k.damaged[b]; ok {
		k.mu.Unlock()
		return fmt.Errorf("%w: bucket %s (%s)", ErrKeyDamaged, b, k.path)
	}
	slot := k.reserveSlot(b)
	k.mu.Unlock()
	if err := k.newKey(b, slot); err != nil {
		return err
	}
	err := k.st.Update(ctx, func(tx *store.Tx) error {
		if _, ok, err := getRecord(tx, b); err != nil || ok {
			if ok { // cannot happen: load and ensure keep keys and records together
				return fmt.Errorf("shredkeys: bucket %s has a record but no key in memory", b)
			}
			return err
		}
		return tx.Set(recordKey(b), record{slot: slot, end: end}.marshal())
	})
	if err != nil {
		k.forget(b)
		if werr := k.wipeSlot(slot); werr != nil {
			k.log.Error("could not wipe the slot of a bucket that was not created", "slot", slot, "err", werr)
		}
		return fmt.Errorf("shredkeys: create bucket %s: %w", b, err)
	}
	return nil
}

// reserveSlot takes the first free slot for b (k.mu held), so that no other key is
// written to it meanwhile.
func (k *Keyring) reserveSlot(b Bucket) uint32 {
	slot := uint32(0)
	for {
		if _, taken := k.used[slot]; !taken {
			break
		}
		slot++
	}
	k.used[slot] = b
	return slot
}

// newKey makes b's key, writes it sealed to its reserved slot (fsynced) and keeps it in
// memory. On failure the slot is free again.
func (k *Keyring) newKey(b Bucket, slot uint32) error {
	var key [keySize]byte
	defer clear(key[:])
	rand.Read(key[:])
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(nonce)
	err := writeSlot(k.f, slot, sealSlot(k.aead, slot, b, &key, nonce))
	var bk *bucketKey
	if err == nil {
		bk, err = newBucketKey(slot, &key)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		delete(k.used, slot)
		return err
	}
	k.keys[b] = bk
	k.slots = max(k.slots, slot+1)
	return nil
}

// ExpiryBucketIn is ExpiryBucket inside the caller's transaction tx (which Seal then uses):
// a new key is written to its slot (fsynced) at once and its record set in tx, so it
// exists once tx commits. If tx does not commit, the key stays in memory and the next
// ExpiryBucketIn sets its record again; a restart wipes a slot no record names.
func (k *Keyring) ExpiryBucketIn(tx *store.Tx, expiresAt time.Time) (Bucket, error) {
	b, end := k.window(Expiry, expiresAt)
	if end <= k.opts.Now().UnixMilli() {
		return Bucket{}, fmt.Errorf("%w: %s", ErrExpired, expiresAt.UTC().Format(time.RFC3339))
	}
	return b, k.ensureIn(tx, b, end)
}

// PendingBucketIn is PendingBucket inside the caller's transaction tx (ExpiryBucketIn).
func (k *Keyring) PendingBucketIn(tx *store.Tx, now time.Time) (Bucket, error) {
	b, end := k.window(Pending, now)
	return b, k.ensureIn(tx, b, end)
}

// ensureIn makes sure b has a key and, in tx, a record. It never takes fileMu (held by
// ensure and destroy across store Updates, which wait for the transaction running this):
// slots are reserved under mu instead, and a bucket whose destruction has begun
// (dying, set in the destroying transaction) is refused.
func (k *Keyring) ensureIn(tx *store.Tx, b Bucket, end int64) error {
	if _, ok, err := getRecord(tx, b); err != nil {
		return err
	} else if ok {
		_, err := k.key(b)
		return err
	}
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return ErrClosed
	}
	if k.dying[b] {
		k.mu.Unlock()
		return fmt.Errorf("%w: bucket %s is being destroyed", ErrExpired, b)
	}
	if _, ok := k.damaged[b]; ok {
		k.mu.Unlock()
		return fmt.Errorf("%w: bucket %s (%s)", ErrKeyDamaged, b, k.path)
	}
	bk, have := k.keys[b]
	var slot uint32
	if have {
		slot = bk.slot
	} else {
		slot = k.reserveSlot(b)
	}
	k.mu.Unlock()
	if !have {
		if err := k.newKey(b, slot); err != nil {
			return err
		}
	}
	return tx.Set(recordKey(b), record{slot: slot, end: end}.marshal())
}

// forget drops b's key from memory (zeroed) and frees its slot.
func (k *Keyring) forget(b Bucket) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.dying, b)
	if bk, ok := k.keys[b]; ok {
		clear(bk.key[:])
		delete(k.keys, b)
		delete(k.used, bk.slot)
	}
	if slot, ok := k.damaged[b]; ok {
		delete(k.damaged, b)
		delete(k.used, slot)
	}
}

// DueForDestruction lists the buckets whose keys are due at now: Expiry buckets whose
// window has ended; Pending buckets with nothing sealed under them whose window and one
// more have ended. Sweep destroys them.
func (k *Keyring) DueForDestruction(now time.Time) ([]Bucket, error) {
	var out []Bucket
	err := k.st.View(func(tx *store.Tx) error {
		recs, err := allRecords(tx)
		if err != nil {
			return err
		}
		for b, r := range recs {
			if r.due(b, now.UnixMilli(), k.opts.Window) {
				out = append(out, b)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Bucket) int {
		if a.start != b.start {
			return int(min(max(a.start-b.start, -1), 1))
		}
		return int(a.kind) - int(b.kind)
	})
	return out, err
}

// Sweep destroys every key due at now (DueForDestruction), re-checking each one in the
// transaction that deletes its record, and returns those it destroyed.
func (k *Keyring) Sweep(ctx context.Context, now time.Time) ([]Bucket, error) {
	due, err := k.DueForDestruction(now)
	if err != nil {
		return nil, err
	}
	var done []Bucket
	for _, b := range due {
		ok, err := k.destroy(ctx, b, func(r record) bool { return r.due(b, now.UnixMilli(), k.opts.Window) })
		if err != nil {
			return done, err
		}
		if ok {
			done = append(done, b)
		}
	}
	return done, nil
}

// Destroy destroys b's key now, whatever is sealed under it: its record is deleted (a
// durable commit), then its slot is overwritten in place with random bytes and fsynced.
// Content sealed under b then fails with ErrShredded. A crash between the two steps is
// completed by the next Open. Destroying a bucket that does not exist does nothing.
func (k *Keyring) Destroy(ctx context.Context, b Bucket) error {
	_, err := k.destroy(ctx, b, func(record) bool { return true })
	return err
}

// destroy deletes b's record if cond holds in the deleting transaction, then wipes its
// slot. ok says whether it did.
func (k *Keyring) destroy(ctx context.Context, b Bucket, cond func(record) bool) (ok bool, err error) {
	k.fileMu.Lock()
	defer k.fileMu.Unlock()
	k.mu.Lock()
	closed := k.closed
	k.mu.Unlock()
	if closed {
		return false, ErrClosed
	}
	var slot uint32
	err = k.st.Update(ctx, func(tx *store.Tx) error {
		ok = false
		r, exists, err := getRecord(tx, b)
		if err != nil || !exists || !cond(r) {
			return err
		}
		slot, ok = r.slot, true
		k.mu.Lock()
		k.dying[b] = true // ensureIn refuses it from now on
		k.mu.Unlock()
		return tx.Delete(recordKey(b))
	})
	if err != nil && ok {
		k.mu.Lock()
		delete(k.dying, b)
		k.mu.Unlock()
	}
	if err != nil || !ok {
		return false, err
	}
	k.forget(b)
	if err := k.wipeSlot(slot); err != nil {
		return true, err
	}
	k.log.Debug("destroyed a bucket key", "bucket", b.String(), "slot", slot)
	return true, nil
}

// Damaged lists the buckets whose records name a slot that did not authenticate when the
// key file was read: content under them fails with ErrKeyDamaged.
func (k *Keyring) Damaged() []Bucket {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]Bucket, 0, len(k.damaged))
	for b := range k.damaged {
		out = append(out, b)
	}
	return out
}

// Serve destroys due keys every Options.SweepInterval until ctx ends (then it returns
// nil). Errors are logged and retried at the next tick.
func (k *Keyring) Serve(ctx context.Context) error {
	t := time.NewTicker(k.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := k.Sweep(ctx, k.opts.Now()); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
				k.log.Warn("destroying due bucket keys failed", "err", err)
			}
		}
	}
}

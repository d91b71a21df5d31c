package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/petrel-chat/petrel/internal/groupcommit"
)

// Store is an open encrypted store. Its methods are safe for concurrent use.
type Store struct {
	log  *slog.Logger
	dir  string
	opts Options
	db   *badger.DB
	seal *sealer

	w     *groupcommit.Writer[pending, *layer] // the writer goroutine (update.go)
	cache *readCache                           // the writer's read cache (cache.go)
	// writes counts committed Updates that wrote something (see Writes).
	writes atomic.Int64
	stop   chan struct{}  // closed by Close after the last user left
	done   sync.WaitGroup // the GC goroutine

	gcCtx    context.Context // cancelled by Close, to cut a running GC short
	gcCancel context.CancelFunc

	mu     sync.Mutex // guards closed, users
	idle   *sync.Cond // signalled when users drops to 0 after close
	closed bool
	users  int // in-flight Update, View, RunGC, ChangePassphrase

	keyMu   sync.Mutex // serialises ChangePassphrase; guards dataKey
	dataKey []byte     // kept to re-wrap on ChangePassphrase; zeroed by Close
}

// Create initialises a new store in dir (created 0700 if missing): a fresh random data key,
// wrapped under Argon2id(passphrase) in dir/keyfile, and an empty Badger database in dir/db.
// A directory that already holds a key file or a non-empty dir/db is refused with ErrExists.
// Other files in dir (api.json, …) are left alone.
func Create(dir string, passphrase []byte, opts Options) (*Store, error) {
	p, err := opts.kdf()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, storeDirPerm); err != nil {
		return nil, fmt.Errorf("store: create: %w", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, keyFileName)); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, dir)
	}
	if ents, err := os.ReadDir(filepath.Join(dir, dbDirName)); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%w: %s has database files but no key file", ErrExists, dir)
	}
	// A generation file left by a store deleted without it belongs to another data key.
	if err := os.Remove(filepath.Join(dir, generationFileName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("store: create: %w", err)
	}
	dk := make([]byte, dataKeySize)
	rand.Read(dk)
	h, err := newHeader(passphrase, dk, p)
	if err != nil {
		clear(dk)
		return nil, err
	}
	// The key file goes first: a crash before Badger's files exist leaves a store that
	// opens empty, never database files that no key file can open.
	if err := writeHeader(dir, h, true); err != nil {
		clear(dk)
		return nil, err
	}
	return open(dir, dk, opts)
}

// Open opens the store in dir. A missing key file is ErrNotInitialized; a wrong passphrase
// (or an edited key file) is ErrWrongPassphrase, and in that case nothing on disk has been
// touched: Badger is opened only after the data key unwraps. Parameters in the key file
// below the floor are ErrWeakParams. opts.KDF, if set, must itself be above the floor.
func Open(dir string, passphrase []byte, opts Options) (*Store, error) {
	if _, err := opts.kdf(); err != nil {
		return nil, err
	}
	h, err := readHeader(dir)
	if err != nil {
		return nil, err
	}
	dk, err := h.unwrap(passphrase)
	if err != nil {
		return nil, err
	}
	return open(dir, dk, opts)
}

// open starts a Store on an unwrapped data key; it owns dk from here on.
func open(dir string, dk []byte, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	bk, err := deriveSubkey(dk, infoBadgerKey)
	if err != nil {
		clear(dk)
		return nil, err
	}
	seal, err := newSealer(dk)
	if err != nil {
		clear(dk)
		clear(bk)
		return nil, err
	}
	db, err := badger.Open(opts.badgerOptions(filepath.Join(dir, dbDirName), bk))
	clear(bk) // Badger keeps its own copy
	if err != nil {
		clear(dk)
		if strings.Contains(err.Error(), "Cannot acquire directory lock") { // Badger has no typed error for it
			return nil, fmt.Errorf("%w (%s): %v", ErrLocked, dir, err)
		}
		return nil, fmt.Errorf("store: open database: %w", err)
	}
	if err := checkGeneration(dir, db, seal); err != nil {
		db.Close()
		clear(dk)
		return nil, err
	}
	s := &Store{
		log:     opts.Logger.With("component", "store"),
		dir:     dir,
		opts:    opts,
		db:      db,
		seal:    seal,
		stop:    make(chan struct{}),
		dataKey: dk,
	}
	s.idle = sync.NewCond(&s.mu)
	s.gcCtx, s.gcCancel = context.WithCancel(context.Background())
	s.cache = newReadCache(readCacheBytes)
	s.w = s.newWriter()
	if opts.GCInterval > 0 {
		s.done.Add(1)
		go s.gcLoop(opts.GCInterval)
	}
	return s, nil
}

// acquire registers an in-flight call; it fails with ErrClosed once Close has begun.
func (s *Store) acquire() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.users++
	return nil
}

func (s *Store) release() {
	s.mu.Lock()
	s.users--
	if s.users == 0 && s.closed {
		s.idle.Broadcast()
	}
	s.mu.Unlock()
}

// Close waits for in-flight Update, View and RunGC calls, stops the writer and GC
// goroutines, closes Badger and zeroes the data key. Later calls return ErrClosed; a
// second Close returns nil. Close must not be called from inside an Update or View
// function (it would wait for itself).
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.gcCancel()
	for s.users > 0 {
		s.idle.Wait()
	}
	s.mu.Unlock()

	close(s.stop)
	s.w.Close()
	s.cache.drop()
	s.done.Wait()
	err := s.db.Close()
	s.keyMu.Lock()
	clear(s.dataKey)
	s.dataKey = nil
	s.keyMu.Unlock()
	if err != nil {
		return fmt.Errorf("store: close database: %w", err)
	}
	return nil
}

// ChangePassphrase re-wraps the data key under newPass with a fresh salt and replaces the
// key file atomically. The data itself is not re-encrypted (it is under the data key, not
// the passphrase). oldPass is checked against the key file first (ErrWrongPassphrase).
// The parameters are opts.KDF if it was set, else the key file's.
func (s *Store) ChangePassphrase(oldPass, newPass []byte) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	h, err := readHeader(s.dir)
	if err != nil {
		return err
	}
	dk, err := h.unwrap(oldPass)
	if err != nil {
		return err
	}
	defer clear(dk)
	if string(dk) != string(s.dataKey) {
		// The key file on disk does not belong to this open store.
		return fmt.Errorf("%w: key file does not match the open store", ErrWrongPassphrase)
	}
	p := h.params
	if s.opts.KDF != (KDFParams{}) {
		if p, err = s.opts.kdf(); err != nil {
			return err
		}
	}
	nh, err := newHeader(newPass, dk, p)
	if err != nil {
		return err
	}
	return writeHeader(s.dir, nh, false)
}

// RunGC runs Badger's value-log GC until it finds nothing to rewrite or ctx is done. The
// store also does this every Options.GCInterval. A value-log file is only eligible once
// it has rolled over (Options.ValueLogFileSize), so a young store often reclaims nothing.
func (s *Store) RunGC(ctx context.Context) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	for ctx.Err() == nil {
		err := s.db.RunValueLogGC(gcDiscardRatio)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: value-log gc: %w", err)
		}
	}
	return ctx.Err()
}

func (s *Store) gcLoop(every time.Duration) {
	defer s.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			err := s.RunGC(s.gcCtx)
			if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, context.Canceled) {
				s.log.Warn("value-log gc failed", "err", err)
			}
		}
	}
}

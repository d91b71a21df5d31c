package relaystore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"github.com/petrel-chat/petrel/internal/groupcommit"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// Errors callers branch on (wrapped; use errors.Is).
var (
	ErrClosed         = errors.New("relaystore: closed")
	ErrUnknownMailbox = errors.New("relaystore: unknown mailbox")
	ErrQuotaBytes     = errors.New("relaystore: mailbox byte quota reached")
	ErrQuotaMessages  = errors.New("relaystore: mailbox message quota reached")
	ErrNoPrekeys      = errors.New("relaystore: no prekeys uploaded")
	ErrIdentity       = errors.New("relaystore: mailbox registered to another identity")
	ErrBadEnvelope    = errors.New("relaystore: empty envelope, or one starting with the shared-record mark")
)

// Key prefixes (see doc.go for the layout).
const (
	pfxRegistration byte = 'r'
	pfxCounters     byte = 'c'
	pfxMail         byte = 'm'
	pfxPrekeyHead   byte = 'k'
	pfxOneTime      byte = 'o'
	pfxPQOneTime    byte = 'q'
	pfxBody         byte = 'b'
	pfxBodyRef      byte = 'n'
	pfxExpiry       byte = 'e'
	keyNextBody          = "g"
	keyVersion           = "v"
	// formatVersion is the version byte of registration records.
	formatVersion byte = 1
	// storeVersion is the store's format (under keyVersion). 2 added shared bodies and
	// the mail records that point at them; a version-1 store holds none, so it is
	// upgraded by writing the new version. A relay binary that knows only version 1
	// refuses a version-2 store rather than hand out pointers as envelopes.
	storeVersion byte = 2
)

// Options tune the store.
type Options struct {
	Logger *slog.Logger
	// OnDeposit is called (on the writer goroutine, after the deposit is durable) with the
	// mailbox and how many messages it now holds. It must not block.
	OnDeposit func(mailbox []byte, waiting uint64)
	// BlockCacheBytes and IndexCacheBytes size Badger's caches (0: 16 MiB and 8 MiB).
	BlockCacheBytes, IndexCacheBytes int64
	// MemTableBytes sizes each of Badger's memtables (0: 32 MiB). The active one is live
	// Go heap from the start, and Go lets garbage grow with the live heap: at 64 MiB an
	// idle connection cost 1.19× a bare libp2p host's RSS, at 32 MiB 1.05× (16 MiB 1.07×),
	// for 13–27% fewer deposits per second than 64 MiB in alternating runs (more frequent
	// flushes; BENCHMARKS.md, "Relay memory per idle node: the memtable decision").
	MemTableBytes int64
}

// Stats are the store's totals. Bytes is what mailboxes are charged (a shared body counts
// in every mailbox that holds it); SharedBodies and SharedBytes are the bodies stored once
// for multi deposits and their size on disk.
type Stats struct {
	Mailboxes, Messages, Bytes int64
	SharedBodies, SharedBytes  int64
}

// Store is the relay's durable state: registrations, mail and prekeys, in Badger with
// SyncWrites. Writes go through one writer goroutine that group-commits them. Safe for
// concurrent use.
type Store struct {
	db  *badger.DB
	log *slog.Logger
	on  func([]byte, uint64)

	w         *groupcommit.Writer[*writeTx, struct{}] // writer.go
	closeOnce sync.Once

	mailboxes, messages, bytes atomic.Int64
	bodies, bodyBytes          atomic.Int64
	blobTotals                 blobTotals    // blob.go
	verified                   verifiedBlobs // blob.go
	// nextBody is the next shared body id; only write functions (on the writer
	// goroutine) touch it after Open.
	nextBody uint64
}

// Open opens (creating if needed) the store in dir.
func Open(dir string, o Options) (*Store, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bo := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		// One writer goroutine makes every read-write transaction: nothing to detect.
		WithDetectConflicts(false).
		WithLogger(badgerLogger{log}).
		WithNumVersionsToKeep(1).
		WithBlockCacheSize(orDefault(o.BlockCacheBytes, 16<<20)).
		WithIndexCacheSize(orDefault(o.IndexCacheBytes, 8<<20)).
		WithMemTableSize(orDefault(o.MemTableBytes, 32<<20)).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithValueThreshold(4 << 10).
		// Value-log files are preallocated at this size (Badger's default is 1 GiB, so
		// a fresh relay would hold a 2 GiB sparse file).
		WithValueLogFileSize(64 << 20).
		WithCompactL0OnClose(false)
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("relaystore: open %s: %w", dir, err)
	}
	s := &Store{
		db: db, log: log, on: o.OnDeposit,
	}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	s.w = s.newWriter()
	return s, nil
}

func orDefault(v, d int64) int64 {
	if v > 0 {
		return v
	}
	return d
}

// load checks the format version (writing it on a new store) and sums the counters.
func (s *Store) load() error {
	err := s.db.Update(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte(keyVersion))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set([]byte(keyVersion), []byte{storeVersion})
		}
		if err != nil {
			return err
		}
		v, err := it.ValueCopy(nil)
		if err != nil {
			return err
		}
		switch {
		case len(v) == 1 && v[0] == storeVersion:
			return nil
		case len(v) == 1 && v[0] == 1:
			s.log.Info("upgrading the store format", "from", 1, "to", storeVersion)
			return txn.Set([]byte(keyVersion), []byte{storeVersion})
		}
		return fmt.Errorf("relaystore: unknown format version %x", v)
	})
	if err != nil {
		return fmt.Errorf("relaystore: %w", err)
	}
	return s.db.View(func(txn *badger.Txn) error {
		if err := s.loadBodies(txn); err != nil {
			return err
		}
		if err := s.loadBlobs(txn); err != nil {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxCounters}, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			err := it.Item().Value(func(v []byte) error {
				c, err := parseCounters(v)
				if err != nil {
					return err
				}
				s.mailboxes.Add(1)
				s.messages.Add(int64(c.count))
				s.bytes.Add(int64(c.bytes))
				return nil
			})
			if err != nil {
				return fmt.Errorf("relaystore: counters: %w", err)
			}
		}
		return nil
	})
}

// Close stops the writer (refusing writes still queued) and closes Badger.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.w.Close()
		err = s.db.Close()
	})
	return err
}

// CollectGarbage rewrites value-log files at least half garbage (envelopes over 4 KiB live
// there; acknowledged and expired ones leave garbage), at most rounds files per call. Badger
// reclaims nothing until a log file has rolled over, so small relays see no effect.
func (s *Store) CollectGarbage(rounds int) (int, error) {
	n := 0
	for ; n < rounds; n++ {
		err := s.db.RunValueLogGC(0.5)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("relaystore: value log GC: %w", err)
		}
	}
	return n, nil
}

// Stats returns the totals: registered mailboxes, stored messages and envelope bytes
// charged, shared bodies and their bytes.
func (s *Store) Stats() Stats {
	return Stats{Mailboxes: s.mailboxes.Load(), Messages: s.messages.Load(), Bytes: s.bytes.Load(),
		SharedBodies: s.bodies.Load(), SharedBytes: s.bodyBytes.Load()}
}

// counters of one mailbox: the next mail id, and how many messages and bytes it holds.
type counters struct {
	next, count, bytes uint64
}

func (c counters) marshal() []byte { return marshalTriple(c.next, c.count, c.bytes) }

func parseCounters(v []byte) (counters, error) {
	a, b, c, err := parseTriple(v, "counters")
	return counters{a, b, c}, err
}

// admit takes one more message of size bytes into the mailbox these counters describe, or
// refuses it with the quota it would break; it returns the message's id.
func (c *counters) admit(q Quota, size uint64) (uint64, error) {
	if q.MaxMessages > 0 && c.count+1 > uint64(q.MaxMessages) {
		return 0, fmt.Errorf("%w: %d of %d messages", ErrQuotaMessages, c.count, q.MaxMessages)
	}
	if q.MaxBytes > 0 && c.bytes+size > uint64(q.MaxBytes) {
		return 0, fmt.Errorf("%w: %d of %d bytes held, %d more refused", ErrQuotaBytes, c.bytes, q.MaxBytes, size)
	}
	id := c.next
	c.next++
	c.count++
	c.bytes += size
	return id, nil
}

// counters reads a mailbox's counters in w; ErrUnknownMailbox when it is not registered.
func (w *writeTx) counters(mb []byte) (counters, error) {
	v, err := w.get(key(pfxCounters, mb))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return counters{}, ErrUnknownMailbox
	}
	if err != nil {
		return counters{}, err
	}
	return parseCounters(v)
}

// marshalTriple and parseTriple are the format of the store's fixed records of three
// big-endian uint64s (mailbox counters, shared body references).
func marshalTriple(a, b, c uint64) []byte {
	out := make([]byte, 0, 24)
	out = binary.BigEndian.AppendUint64(out, a)
	out = binary.BigEndian.AppendUint64(out, b)
	return binary.BigEndian.AppendUint64(out, c)
}

func parseTriple(v []byte, what string) (a, b, c uint64, err error) {
	if len(v) != 24 {
		return 0, 0, 0, fmt.Errorf("relaystore: %s of %d bytes", what, len(v))
	}
	return binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:]), binary.BigEndian.Uint64(v[16:]), nil
}

func key(prefix byte, mailbox []byte, tail ...byte) []byte {
	k := make([]byte, 0, 1+len(mailbox)+len(tail))
	k = append(k, prefix)
	k = append(k, mailbox...)
	return append(k, tail...)
}

func mailKey(mailbox []byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64(key(pfxMail, mailbox), id)
}

func validMailbox(mailbox []byte) bool { return len(mailbox) == relaywire.MailboxIDSize }

// badgerLogger sends Badger's logs to slog (its info chatter at debug level).
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Debugf(f string, a ...any) {
	b.l.Debug(fmt.Sprintf(f, a...), "component", "badger")
}

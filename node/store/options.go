package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// KDFParams are the Argon2id parameters recorded in the store header.
type KDFParams struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint8  // lanes
}

// DefaultKDFParams returns t=3, m=64 MiB, p=4 (about 130 ms on our 2-core machine). They
// are also the floor: weaker Time or MemoryKiB is refused with ErrWeakParams. Threads is
// not part of the floor's strength (an attacker's cost is Time×MemoryKiB whatever the lane
// count) but must be at least 1.
func DefaultKDFParams() KDFParams {
	return KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}
}

// Ceilings that keep a crafted key file from making Open allocate without bound.
const (
	maxKDFTime      = 64
	maxKDFMemoryKiB = 4 << 20 // 4 GiB
)

// check reports ErrWeakParams below the floor and ErrCorruptHeader above the ceiling.
func (p KDFParams) check() error {
	floor := DefaultKDFParams()
	if p.Time < floor.Time || p.MemoryKiB < floor.MemoryKiB || p.Threads < 1 {
		return fmt.Errorf("%w (t=%d m=%dKiB p=%d; floor t=%d m=%dKiB p=1)", ErrWeakParams,
			p.Time, p.MemoryKiB, p.Threads, floor.Time, floor.MemoryKiB)
	}
	if p.Time > maxKDFTime || p.MemoryKiB > maxKDFMemoryKiB {
		return fmt.Errorf("%w: KDF parameters above the ceiling (t=%d m=%dKiB; ceiling t=%d m=%dKiB)",
			ErrCorruptHeader, p.Time, p.MemoryKiB, maxKDFTime, maxKDFMemoryKiB)
	}
	return nil
}

// Options configure Create and Open. The zero value is right for a personal node.
type Options struct {
	// Logger receives the store's and Badger's messages (Badger's at Warn and above; its
	// Info and Debug lines go to Debug). nil means slog.Default().
	Logger *slog.Logger
	// KDF is used by Create and ChangePassphrase. Zero means DefaultKDFParams() (for
	// ChangePassphrase: keep the key file's parameters); below the floor is ErrWeakParams.
	// Open takes the parameters from the key file.
	KDF KDFParams

	// MemTableSize is the size of one Badger memtable. Default 8 MiB. A transaction holds
	// at most 15% of it; Update splits larger batches over several transactions.
	MemTableSize int64
	// NumMemtables is how many memtables (one mutable, the rest waiting to flush) may be
	// in memory. Default 2.
	NumMemtables int
	// BlockCacheSize is Badger's decrypted-block cache. Default 8 MiB. Must be > 0 with
	// encryption (Badger panics otherwise), so a zero means the default.
	BlockCacheSize int64
	// IndexCacheSize is Badger's table-index and bloom-filter cache. Default 4 MiB.
	IndexCacheSize int64
	// ValueLogFileSize is the size at which a value-log file rolls over. Default 64 MiB,
	// so value-log GC has closed files to rewrite on a small node.
	ValueLogFileSize int64
	// GCInterval is the period of the background value-log GC. Default 10 minutes;
	// negative disables it (call RunGC yourself).
	GCInterval time.Duration
}

// Defaults for a small personal node.
const (
	defaultMemTableSize     = 8 << 20
	defaultNumMemtables     = 2
	defaultBlockCacheSize   = 8 << 20
	defaultIndexCacheSize   = 4 << 20
	defaultValueLogFileSize = 64 << 20
	defaultGCInterval       = 10 * time.Minute

	// valueThreshold: sealed values up to this size live in the LSM tree (one read for
	// "newest 50"); larger ones go to the value log.
	valueThreshold = 4 << 10
	// encryptionKeyRotation: how often Badger starts a new AES data key in its registry.
	encryptionKeyRotation = 7 * 24 * time.Hour
	// gcDiscardRatio: rewrite a value-log file when at least half of it is garbage.
	gcDiscardRatio = 0.5
)

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MemTableSize <= 0 {
		o.MemTableSize = defaultMemTableSize
	}
	if o.NumMemtables <= 0 {
		o.NumMemtables = defaultNumMemtables
	}
	if o.BlockCacheSize <= 0 {
		o.BlockCacheSize = defaultBlockCacheSize
	}
	if o.IndexCacheSize <= 0 {
		o.IndexCacheSize = defaultIndexCacheSize
	}
	if o.ValueLogFileSize <= 0 {
		o.ValueLogFileSize = defaultValueLogFileSize
	}
	if o.GCInterval == 0 {
		o.GCInterval = defaultGCInterval
	}
	return o
}

// kdf returns the configured parameters, DefaultKDFParams() for the zero value, after
// checking the floor.
func (o Options) kdf() (KDFParams, error) {
	p := o.KDF
	if p == (KDFParams{}) {
		p = DefaultKDFParams()
	}
	if err := p.check(); err != nil {
		return KDFParams{}, err
	}
	return p, nil
}

// badgerOptions builds Badger's options: durable writes, Badger's AES encryption under
// badgerKey, small memtables and caches, logging through slog.
func (o Options) badgerOptions(path string, badgerKey []byte) badger.Options {
	return badger.DefaultOptions(path).
		WithSyncWrites(true).
		WithEncryptionKey(badgerKey).
		WithEncryptionKeyRotationDuration(encryptionKeyRotation).
		WithBlockCacheSize(o.BlockCacheSize).
		WithIndexCacheSize(o.IndexCacheSize).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(o.NumMemtables).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithNumCompactors(2).
		WithValueLogFileSize(o.ValueLogFileSize).
		WithValueThreshold(valueThreshold).
		WithCompression(options.None). // sealed values are random bytes; nothing to gain
		WithDetectConflicts(false).    // one writer goroutine: no conflicts to detect
		WithMetricsEnabled(false).
		WithLogger(badgerLogger{o.Logger})
}

// badgerLogger routes Badger's printf-style logging to slog: errors and warnings at their
// level, Info and Debug at Debug (Badger is chatty at Info on every open and compaction).
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.log(slog.LevelError, f, a) }
func (b badgerLogger) Warningf(f string, a ...any) { b.log(slog.LevelWarn, f, a) }
func (b badgerLogger) Infof(f string, a ...any)    { b.log(slog.LevelDebug, f, a) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.log(slog.LevelDebug, f, a) }

func (b badgerLogger) log(level slog.Level, f string, a []any) {
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return
	}
	b.l.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}

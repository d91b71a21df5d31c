package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Each benchmark measures the store and a raw Badger baseline (SyncWrites=true, no
// encryption, default options, same value size and concurrency) in the same run,
// alternating in rounds, and reports ns/op of the store, raw-ns/op, and x-raw = their ratio.

const benchValueSize = 200

func benchValue() []byte { return bytes.Repeat([]byte{0x5a}, benchValueSize) }

func openRawBadger(b *testing.B) *badger.DB {
	b.Helper()
	db, err := badger.Open(badger.DefaultOptions(b.TempDir()).WithSyncWrites(true).WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Create(b.TempDir(), testPass, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// runPair runs n ops of store and raw over `writers` goroutines, alternating in rounds,
// and reports both and the ratio.
func runPair(b *testing.B, writers int, store, raw func(i uint64) error) {
	runPairNamed(b, writers, store, raw, "raw")
}

// runPairNamed is runPair with the baseline's name in its metrics (name-ns/op, x-name).
func runPairNamed(b *testing.B, writers int, store, raw func(i uint64) error, name string) {
	const rounds = 4
	var tStore, tRaw time.Duration
	var next atomic.Uint64
	phase := func(n int, op func(uint64) error) time.Duration {
		var wg sync.WaitGroup
		var left atomic.Int64
		left.Store(int64(n))
		start := time.Now()
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for left.Add(-1) >= 0 {
					if err := op(next.Add(1)); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	b.ResetTimer()
	for r := range rounds {
		n := b.N / rounds
		if r == rounds-1 {
			n = b.N - n*(rounds-1)
		}
		tStore += phase(n, store)
		tRaw += phase(n, raw)
	}
	b.StopTimer()
	ns := float64(tStore.Nanoseconds()) / float64(b.N)
	rawNs := float64(tRaw.Nanoseconds()) / float64(b.N)
	b.ReportMetric(ns, "ns/op")
	b.ReportMetric(rawNs, name+"-ns/op")
	b.ReportMetric(ns/rawNs, "x-"+name)
}

func benchKey(i uint64) []byte { return binary.BigEndian.AppendUint64([]byte("bench/"), i) }

// BenchmarkUpdateDurable: one durable Update of a 200-byte value, from 1 and from 16
// goroutines (group commit), against db.Update on raw Badger with SyncWrites.
func BenchmarkUpdateDurable(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := benchStore(b)
			db := openRawBadger(b)
			val := benchValue()
			ctx := context.Background()
			runPair(b, writers,
				func(i uint64) error {
					return s.Update(ctx, func(tx *Tx) error { return tx.Set(benchKey(i), val) })
				},
				func(i uint64) error {
					return db.Update(func(txn *badger.Txn) error { return txn.Set(benchKey(i), val) })
				})
		})
	}
}

const benchPreload = 10_000

// preload writes benchPreload 200-byte values as conv/<c>/msg/<seq> (10 conversations)
// to both stores.
func preload(b *testing.B, s *Store, db *badger.DB) {
	b.Helper()
	val := benchValue()
	for start := 0; start < benchPreload; start += 1000 {
		err := s.Update(context.Background(), func(tx *Tx) error {
			for i := start; i < start+1000; i++ {
				if err := tx.Set(msgKey(i), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		err = db.Update(func(txn *badger.Txn) error {
			for i := start; i < start+1000; i++ {
				if err := txn.Set(msgKey(i), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func msgKey(i int) []byte { return fmt.Appendf(nil, "conv/%d/msg/%08d", i%10, i/10) }

// BenchmarkGet: View + Get of a random 200-byte value among 10,000.
func BenchmarkGet(b *testing.B) {
	s, db := benchStore(b), openRawBadger(b)
	preload(b, s, db)
	runPair(b, 1,
		func(i uint64) error {
			return s.View(func(tx *Tx) error {
				v, err := tx.Get(msgKey(int(i*7919) % benchPreload))
				if err == nil && len(v) != benchValueSize {
					err = fmt.Errorf("len %d", len(v))
				}
				return err
			})
		},
		func(i uint64) error {
			return db.View(func(txn *badger.Txn) error {
				item, err := txn.Get(msgKey(int(i*7919) % benchPreload))
				if err != nil {
					return err
				}
				_, err = item.ValueCopy(nil)
				return err
			})
		})
}

// BenchmarkNewest50: the 50 newest messages of one conversation (reverse prefix scan with
// values) among 10,000 messages in 10 conversations. The raw baseline does the same
// reverse seek with PrefetchValues=false and copies each value.
func BenchmarkNewest50(b *testing.B) {
	s, db := benchStore(b), openRawBadger(b)
	preload(b, s, db)
	runPair(b, 1,
		func(i uint64) error {
			prefix := fmt.Appendf(nil, "conv/%d/msg/", i%10)
			n := 0
			err := s.View(func(tx *Tx) error {
				return tx.Iterate(IterOptions{Prefix: prefix, Reverse: true}, func(k, v []byte) (bool, error) {
					n++
					return n < 50, nil
				})
			})
			if err == nil && n != 50 {
				err = fmt.Errorf("got %d", n)
			}
			return err
		},
		func(i uint64) error {
			prefix := fmt.Appendf(nil, "conv/%d/msg/", i%10)
			return db.View(func(txn *badger.Txn) error {
				it := txn.NewIterator(badger.IteratorOptions{Reverse: true})
				defer it.Close()
				n := 0
				for it.Seek(prefixSuccessor(prefix)); it.Valid() && n < 50; it.Next() {
					item := it.Item()
					if !bytes.HasPrefix(item.Key(), prefix) {
						if bytes.Compare(item.Key(), prefix) > 0 {
							continue
						}
						break
					}
					item.KeyCopy(nil)
					if _, err := item.ValueCopy(nil); err != nil {
						return err
					}
					n++
				}
				if n != 50 {
					return fmt.Errorf("raw got %d", n)
				}
				return nil
			})
		})
}

// BenchmarkUpdateHotReads is the shape of a message's transaction: each Update reads four
// hot 1 KiB records (a conversation, a session, a counter, a contact) that every Update
// rewrites one of, and writes a new 200-byte record; 16 writers. The store with its read
// cache against the same store with the cache switched off, alternating in rounds in the
// same run: ns/op of each and x-nocache = cached ÷ uncached time.
func BenchmarkUpdateHotReads(b *testing.B) {
	cached, plain := benchStore(b), benchStore(b)
	plain.cache = nil // Tx.Get and Landed skip a nil cache
	hot := bytes.Repeat([]byte{0x33}, 1024)
	ctx := context.Background()
	for _, s := range []*Store{cached, plain} {
		if err := s.Update(ctx, func(tx *Tx) error {
			for k := range 4 {
				if err := tx.Set(fmt.Appendf(nil, "hot/%d", k), hot); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	op := func(s *Store) func(i uint64) error {
		return func(i uint64) error {
			return s.Update(ctx, func(tx *Tx) error {
				for k := range 4 {
					if _, err := tx.Get(fmt.Appendf(nil, "hot/%d", k)); err != nil {
						return err
					}
				}
				if err := tx.Set(fmt.Appendf(nil, "hot/%d", i%4), hot); err != nil {
					return err
				}
				return tx.Set(fmt.Appendf(nil, "new/%d", i), benchValue())
			})
		}
	}
	runPairNamed(b, 16, op(cached), op(plain), "nocache")
}

package relayserver_test

import (
	"encoding/binary"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
)

// Benchmarks print their figure beside a baseline measured in the same run. Run with
//
//	go test -run XXX -bench . -benchtime 1x ./relay/relayserver
//
// (each benchmark sizes its own work; -benchtime 1x keeps the harness from repeating it).

// benchConfig is testConfig without rate limits (a benchmark is a flood by design).
func benchConfig() relayserverConfig {
	cfg := testConfig()
	cfg.Mailbox.PeerRate, cfg.Mailbox.MailboxRate = 0, 0
	cfg.Registration.Rate = 0
	cfg.Mailbox.MaxMessages = 1_000_000
	cfg.Mailbox.MaxBytes = 1 << 30
	return cfg
}

// BenchmarkDeposit: 8 depositor hosts, each pipelining batches of 256 sealed envelopes
// (323 bytes: a short text message) into 64 mailboxes; every deposit acknowledged only once
// durable. Baseline: raw Badger with SyncWrites on the same disk, one fsync per write, and
// with 256 writes per transaction.
func BenchmarkDeposit(b *testing.B) {
	const total, depositors, batch, mailboxes = 100_000, 8, 256, 64
	r := startRelay(b, benchConfig())
	owner := newNode(b, r)
	s := newSender(b)
	users := make([]user, mailboxes)
	envs := make([][]byte, mailboxes)
	for i := range users {
		users[i] = newUser(b)
		register(b, owner, r, users[i])
		envs[i] = s.seal(b, users[i], strings.Repeat("x", 100))
	}
	hosts := make([]hostT, depositors)
	for i := range hosts {
		hosts[i] = newNode(b, r)
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := total / depositors
	for d := range depositors {
		wg.Go(func() {
			for sent := 0; sent < per; sent += batch {
				list := make([]mailboxclient.Envelope, min(batch, per-sent))
				for i := range list {
					k := (d*per + sent + i) % mailboxes
					list[i] = mailboxclient.Envelope{Mailbox: users[k].mb, Envelope: envs[k]}
				}
				errs, err := mailboxclient.DepositBatch(ctx, hosts[d], r.id(), list)
				if err != nil {
					b.Error(err)
					return
				}
				for _, e := range errs {
					if e != nil {
						b.Error(e)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	rate := float64(depositors*per) / elapsed.Seconds()

	single := time.Now()
	const singles = 300
	for i := range singles {
		if err := mailboxclient.Deposit(ctx, hosts[0], r.id(), users[i%mailboxes].mb, envs[i%mailboxes]); err != nil {
			b.Fatal(err)
		}
	}
	singleRate := singles / time.Since(single).Seconds()

	oneSync, batched := rawBadgerRates(b, len(envs[0]))
	b.ReportMetric(rate, "deposits/s")
	b.ReportMetric(singleRate, "sequential-deposits/s")
	b.ReportMetric(oneSync, "badger-1-per-fsync/s")
	b.ReportMetric(batched, "badger-256-per-fsync/s")
	b.Logf("pipelined deposits: %.0f msg/s (target ≥ 20,000); one at a time, new stream each: %.0f msg/s", rate, singleRate)
	b.Logf("baseline raw Badger SyncWrites: %.0f writes/s one per fsync, %.0f/s 256 per fsync; relay = %.2f× the batched baseline",
		oneSync, batched, rate/batched)
}

// rawBadgerRates writes values of size n to a fresh Badger with SyncWrites: one per
// transaction, then 256 per transaction.
func rawBadgerRates(b *testing.B, n int) (oneSync, batched float64) {
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(b.TempDir(), "raw")).WithSyncWrites(true).WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, n)
	key := func(i int) []byte { return binary.BigEndian.AppendUint64([]byte("m"), uint64(i)) }
	const ones = 500
	t := time.Now()
	for i := range ones {
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set(key(i), val) }); err != nil {
			b.Fatal(err)
		}
	}
	oneSync = ones / time.Since(t).Seconds()
	const batches = 100
	t = time.Now()
	for j := range batches {
		if err := db.Update(func(txn *badger.Txn) error {
			for i := range 256 {
				if err := txn.Set(key(ones+j*256+i), val); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	batched = batches * 256 / time.Since(t).Seconds()
	return oneSync, batched
}

// BenchmarkDrain10k: a returning node drains 10,000 waiting messages (fetch 1,000, ack,
// repeat). Baseline: reading the same 10,000 records from Badger and deleting them in one
// durable transaction, in-process.
func BenchmarkDrain10k(b *testing.B) {
	const waiting = 10_000
	r := startRelay(b, benchConfig())
	bob := newUser(b)
	h := newNode(b, r)
	register(b, h, r, bob)
	env := newSender(b).seal(b, bob, strings.Repeat("y", 100))
	list := make([]mailboxclient.Envelope, 1000)
	for i := range list {
		list[i] = mailboxclient.Envelope{Mailbox: bob.mb, Envelope: env}
	}
	for range waiting / len(list) {
		if _, err := mailboxclient.DepositBatch(ctx, h, r.id(), list); err != nil {
			b.Fatal(err)
		}
	}
	returning := newNode(b, r) // a fresh connection, as after a restart
	b.ResetTimer()
	start := time.Now()
	n, err := mailboxclient.Drain(ctx, returning, r.id(), bob.id, 1000, func([]mailboxclient.Mail) error { return nil })
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil || n != waiting {
		b.Fatalf("drained %d: %v", n, err)
	}
	base := rawBadgerDrain(b, waiting, len(env))
	b.ReportMetric(elapsed.Seconds()*1000, "drain-ms")
	b.ReportMetric(base.Seconds()*1000, "badger-read+delete-ms")
	b.Logf("drain of %d messages: %v (target < 2 s); raw Badger read + durable delete of the same: %v (%.1f×)",
		waiting, elapsed.Round(time.Millisecond), base.Round(time.Millisecond), elapsed.Seconds()/base.Seconds())
}

func rawBadgerDrain(b *testing.B, n, size int) time.Duration {
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(b.TempDir(), "raw")).WithSyncWrites(true).WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, size)
	wb := db.NewWriteBatch()
	for i := range n {
		wb.Set(binary.BigEndian.AppendUint64([]byte("m"), uint64(i)), val)
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
	t := time.Now()
	var keys [][]byte
	db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			it.Item().ValueCopy(nil)
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	err = db.Update(func(txn *badger.Txn) error {
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return time.Since(t)
}

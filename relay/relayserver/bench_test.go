package relayserver_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
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

// BenchmarkIdleNodeMemory: PETREL_BENCH_NODES (default 2,000) libp2p hosts in a child
// process connect to the relay and stay idle; the relay's heap, RSS and goroutines are
// measured before and after, in this process only. Baseline: the same figures per
// connection for a plain libp2p host (no relay services) receiving the same connections.
func BenchmarkIdleNodeMemory(b *testing.B) {
	n := 2000
	if v := os.Getenv("PETREL_BENCH_NODES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	cfg := benchConfig()
	cfg.Circuit.Enabled = true // a real relay's protocols, as identify announces them
	r := startRelay(b, cfg)
	perConn := measureIdle(b, r.info.Addrs[0], n)
	plain, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close()
	addr := plain.Addrs()[0].String() + "/p2p/" + plain.ID().String()
	base := measureIdle(b, addr, n)
	b.ReportMetric(perConn.heap, "relay-heap-B/conn")
	b.ReportMetric(perConn.rss, "relay-RSS-B/conn")
	b.ReportMetric(perConn.goroutines, "relay-goroutines/conn")
	b.ReportMetric(base.heap, "plain-heap-B/conn")
	// The baseline runs second in the same process, so its RSS reuses memory the relay's
	// measurement already grew: only its heap and goroutines are comparable.
	b.Logf("%d idle nodes: relay %.1f KB heap, %.1f KB RSS, %.1f goroutines per connection; plain libp2p host %.1f KB heap, %.1f goroutines",
		n, perConn.heap/1024, perConn.rss/1024, perConn.goroutines, base.heap/1024, base.goroutines)
	b.Logf("extrapolated: 20,000 nodes ≈ %.0f MB heap, %.0f MB RSS", perConn.heap*20000/(1<<20), perConn.rss*20000/(1<<20))
}

type perConnCost struct{ heap, rss, goroutines float64 }

func measureIdle(b *testing.B, addr string, n int) perConnCost {
	heap0, rss0, g0 := memNow()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PETREL_BENCH_CHILD="+addr, "PETREL_BENCH_CHILD_N="+strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "connected ") {
		b.Fatalf("child: %q %v", line, err)
	}
	got, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "connected ")))
	time.Sleep(3 * time.Second) // identify and friends settle
	heap1, rss1, g1 := memNow()
	stdin.Close()
	cmd.Wait()
	if got < n*9/10 {
		b.Fatalf("only %d of %d nodes connected", got, n)
	}
	return perConnCost{
		heap:       float64(heap1-heap0) / float64(got),
		rss:        float64(rss1-rss0) / float64(got),
		goroutines: float64(g1-g0) / float64(got),
	}
}

func memNow() (heap, rss uint64, goroutines int) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				rss = kb << 10
			}
		}
	}
	return ms.HeapInuse + ms.StackInuse, rss, runtime.NumGoroutine()
}

// TestMain turns this test binary into the idle-node child of BenchmarkIdleNodeMemory when
// asked, and otherwise runs the tests.
func TestMain(m *testing.M) {
	if dir := os.Getenv(relayChildEnv); dir != "" {
		os.Exit(relayChild(dir)) // blob_kill_test.go
	}
	if addr := os.Getenv("PETREL_BENCH_CHILD"); addr != "" {
		n, _ := strconv.Atoi(os.Getenv("PETREL_BENCH_CHILD_N"))
		os.Exit(idleChild(addr, n))
	}
	os.Exit(m.Run())
}

func idleChild(addr string, n int) int {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var hosts []hostT
	defer func() {
		for _, h := range hosts {
			h.Close()
		}
	}()
	connected := 0
	var mu sync.Mutex
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for range n {
		h, err := newBareHost()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			break
		}
		hosts = append(hosts, h)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if h.Connect(c, *ai) == nil {
				mu.Lock()
				connected++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	fmt.Printf("connected %d\n", connected)
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
	return 0
}

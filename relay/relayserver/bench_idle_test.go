package relayserver_test

import (
	"bufio"
	"context"
	"fmt"
	"github.com/petrel-chat/petrel/internal/barehost"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/petrel-chat/petrel/relay/relayserver"
)

// BenchmarkIdleNodeMemory: PETREL_BENCH_NODES (default 2,000) libp2p hosts in a child
// process connect to a server and stay idle; the server's heap+stack (after GC), RSS and
// goroutines are read before and 3 s after, per connection. The server is, in turn, the
// relay (circuit relay v2 and AutoNAT on, every limit at its default) and the baseline, a
// bare libp2p host (TCP, Noise, Yamux with libp2p's defaults, no resource limits, no
// services, a connection manager that keeps every connection), each in a fresh process of its own so that their RSS compares; the pair is
// measured PETREL_BENCH_ROUNDS times (default 1), alternating, and the ratios are printed.
// PETREL_BENCH_HEAPPROFILE=DIR writes each server's heap profile (after the connections)
// to DIR/relay-heap-K.pprof and DIR/bare-heap-K.pprof (goroutines beside them), and
// PETREL_BENCH_SETTLE_S (default 3) is how long the connections stay idle before the
// reading.
func BenchmarkIdleNodeMemory(b *testing.B) {
	n := envInt("PETREL_BENCH_NODES", 2000)
	rounds := envInt("PETREL_BENCH_ROUNDS", 1)
	for range b.N {
		var relay, bare []perConnCost
		for k := range rounds {
			for _, kind := range []string{"relay", "bare"} {
				c, err := measureServer(kind, n, k)
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("round %d, %s: %d idle nodes, %.1f KB heap, %.1f KB RSS, %.2f goroutines per connection",
					k+1, kind, c.got, c.heap/1024, c.rss/1024, c.goroutines)
				if kind == "relay" {
					relay = append(relay, c)
				} else {
					bare = append(bare, c)
				}
			}
		}
		r, p := mean(relay), mean(bare)
		b.ReportMetric(r.heap, "relay-heap-B/conn")
		b.ReportMetric(r.rss, "relay-RSS-B/conn")
		b.ReportMetric(r.goroutines, "relay-goroutines/conn")
		b.ReportMetric(p.heap, "bare-heap-B/conn")
		b.ReportMetric(p.rss, "bare-RSS-B/conn")
		b.ReportMetric(p.goroutines, "bare-goroutines/conn")
		b.ReportMetric(r.rss/p.rss, "x-bare-RSS")
		b.ReportMetric(r.heap/p.heap, "x-bare-heap")
		b.Logf("relay ÷ bare host: RSS %.2f×, heap %.2f× (goal ≤ 1.1× RSS); extrapolated: 20,000 nodes ≈ %.0f MB RSS",
			r.rss/p.rss, r.heap/p.heap, r.rss*20000/(1<<20))
	}
}

type perConnCost struct {
	heap, rss, goroutines float64
	got                   int
}

func mean(cs []perConnCost) perConnCost {
	var m perConnCost
	for _, c := range cs {
		m.heap += c.heap / float64(len(cs))
		m.rss += c.rss / float64(len(cs))
		m.goroutines += c.goroutines / float64(len(cs))
		m.got += c.got / len(cs)
	}
	return m
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// measureServer runs this test binary as a server child of the given kind and reads its
// "result" line.
func measureServer(kind string, n, round int) (perConnCost, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PETREL_BENCH_SERVER="+kind, "PETREL_BENCH_CHILD_N="+strconv.Itoa(n),
		"PETREL_BENCH_ROUND="+strconv.Itoa(round+1))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return perConnCost{}, fmt.Errorf("%s server: %w", kind, err)
	}
	var c perConnCost
	for _, l := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(l, "result "); ok {
			if _, err := fmt.Sscan(rest, &c.heap, &c.rss, &c.goroutines, &c.got); err != nil {
				return c, fmt.Errorf("%s server: %q: %w", kind, l, err)
			}
			if c.got < n*9/10 {
				return c, fmt.Errorf("%s server: only %d of %d nodes connected", kind, c.got, n)
			}
			return c, nil
		}
	}
	return c, fmt.Errorf("%s server: no result in %q", kind, out)
}

// TestMain turns this test binary into a child when asked (a relay to kill, for
// blob_kill_test.go; the idle nodes of BenchmarkIdleNodeMemory, or a server they connect
// to), and otherwise runs the tests.
func TestMain(m *testing.M) {
	if dir := os.Getenv(relayChildEnv); dir != "" {
		os.Exit(relayChild(dir)) // blob_kill_test.go
	}
	if addr := os.Getenv("PETREL_BENCH_CHILD"); addr != "" {
		os.Exit(idleChild(addr, envInt("PETREL_BENCH_CHILD_N", 1)))
	}
	if kind := os.Getenv("PETREL_BENCH_SERVER"); kind != "" {
		if os.Getenv("PETREL_BENCH_HEAPPROFILE") != "" {
			runtime.MemProfileRate = 512 // fine enough to see a few hundred bytes per connection
		}
		if err := idleServer(kind, envInt("PETREL_BENCH_CHILD_N", 1)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// idleServer starts a server of the given kind, measures what n idle nodes cost it and
// prints "result HEAP RSS GOROUTINES CONNECTED" (per connection, bytes).
func idleServer(kind string, n int) error {
	var addr string
	switch kind {
	case "relay":
		dir, err := os.MkdirTemp("", "idlebench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg := benchConfig()
		cfg.Circuit.Enabled = true // a real relay's protocols, as identify announces them
		opts := relayserver.Options{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		opts.Store.MemTableBytes = int64(envInt("PETREL_BENCH_MEMTABLE_MB", 0)) << 20
		s, err := relayserver.New(cfg, opts)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan relayserver.Info, 1)
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx, func(i relayserver.Info) { ready <- i }) }()
		defer func() { cancel(); <-done }()
		select {
		case info := <-ready:
			addr = info.Addrs[0]
		case err := <-done:
			return fmt.Errorf("relay exited: %w", err)
		}
	case "bare":
		h, err := barehost.New(n)
		if err != nil {
			return err
		}
		defer h.Close()
		addr = barehost.Addr(h)
	default:
		return fmt.Errorf("unknown server kind %q", kind)
	}
	time.Sleep(time.Second) // the server's own start-up settles
	heap0, rss0, g0 := memNow()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PETREL_BENCH_CHILD="+addr, "PETREL_BENCH_CHILD_N="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "connected ") {
		return fmt.Errorf("idle nodes: %q %v", line, err)
	}
	got, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "connected ")))
	// Identify and friends settle; PETREL_BENCH_SETTLE_S=65 also lets the resource
	// manager collect the per-protocol peer scopes it keeps for a minute.
	time.Sleep(time.Duration(envInt("PETREL_BENCH_SETTLE_S", 3)) * time.Second)
	heap1, rss1, g1 := memNow()
	runtime.ReadMemStats(&ms1)
	fmt.Fprintf(os.Stderr, "%s: per conn heapalloc %d heapinuse %d stackinuse %d\n", kind,
		int(ms1.HeapAlloc-ms0.HeapAlloc)/got, int(ms1.HeapInuse-ms0.HeapInuse)/got, int(ms1.StackInuse-ms0.StackInuse)/got)
	if dir := os.Getenv("PETREL_BENCH_HEAPPROFILE"); dir != "" {
		for _, p := range []string{"heap", "goroutine"} {
			f, err := os.Create(fmt.Sprintf("%s/%s-%s-%s.pprof", dir, kind, p, os.Getenv("PETREL_BENCH_ROUND")))
			if err != nil {
				return err
			}
			pprof.Lookup(p).WriteTo(f, 0)
			f.Close()
		}
	}
	if got == 0 {
		return fmt.Errorf("no idle node connected")
	}
	fmt.Printf("result %f %f %f %d\n", float64(heap1-heap0)/float64(got), float64(rss1-rss0)/float64(got),
		float64(g1-g0)/float64(got), got)
	return nil
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

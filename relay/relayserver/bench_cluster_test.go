package relayserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/relay/clusterstore"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relayserver"
)

// startClusterRelays runs n relay servers in this process, each with an embedded JetStream
// cluster node routed to the others (what n `petrel relay` processes with a cluster config
// do), and waits until all serve.
func startClusterRelays(t testing.TB, n int, cfg relayserver.Config) []*testRelay {
	t.Helper()
	routes := make([]string, n)
	for i := range routes {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		routes[i] = l.Addr().String()
		l.Close()
	}
	servers := make([]*relayserver.Server, n)
	dirs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		c := cfg
		var others []string
		for j, a := range routes {
			if j != i {
				others = append(others, a)
			}
		}
		c.Cluster = &clusterstore.Config{Name: "bench", Listen: routes[i], Routes: others, Replicas: min(3, n)}
		dirs[i] = t.TempDir()
		wg.Go(func() {
			servers[i], errs[i] = relayserver.New(c, relayserver.Options{DataDir: dirs[i], ClusterWait: 2 * time.Minute,
				Logger: benchLogger()})
		})
	}
	wg.Wait()
	var out []*testRelay
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan relayserver.Info, 1)
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx, func(info relayserver.Info) { ready <- info }) }()
		r := &testRelay{Server: s, dir: dirs[i], info: <-ready}
		var once sync.Once
		r.stop = func() error {
			once.Do(func() { cancel(); <-done })
			return nil
		}
		t.Cleanup(func() { r.stop() })
		out = append(out, r)
	}
	return out
}

// BenchmarkClusterDeposit: the deposit benchmark's workload (depositor hosts pipelining
// batches of 256 sealed 323-byte envelopes into 64 mailboxes) against a 3-process JetStream
// cluster with 3 replicas, the depositors spread over the processes; every deposit answered
// only after JetStream acknowledged it on a quorum. Baseline in the same run: the same
// workload against one relay on its Badger store.
func BenchmarkClusterDeposit(b *testing.B) {
	const total, depositors, batch, mailboxes = 60_000, 9, 256, 64
	run := func(relays []*testRelay) float64 {
		s := newSender(b)
		users := make([]user, mailboxes)
		envs := make([][]byte, mailboxes)
		for i := range users {
			users[i] = newUser(b)
			register(b, newNode(b, relays[i%len(relays)]), relays[i%len(relays)], users[i])
			envs[i] = s.seal(b, users[i], strings.Repeat("x", 100))
		}
		hosts := make([]hostT, depositors)
		for i := range hosts {
			hosts[i] = newNode(b, relays[i%len(relays)])
		}
		start := time.Now()
		var wg sync.WaitGroup
		per := total / depositors
		for d := range depositors {
			r := relays[d%len(relays)]
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
		return float64(depositors*per) / time.Since(start).Seconds()
	}
	cluster := startClusterRelays(b, 3, benchConfig())
	b.ResetTimer()
	clusterRate := run(cluster)
	b.StopTimer()
	for _, r := range cluster {
		r.stop()
	}
	badgerRate := run([]*testRelay{startRelay(b, benchConfig())})
	b.ReportMetric(clusterRate, "cluster-deposits/s")
	b.ReportMetric(badgerRate, "badger-relay-deposits/s")
	b.Logf("3-process cluster, 3 replicas: %.0f deposits/s (goal ≥ 10,000); one Badger relay, same workload: %.0f/s (%.2f×)",
		clusterRate, badgerRate, clusterRate/badgerRate)
}

// BenchmarkClusterDrain10k: 10,000 messages deposited at one process of a 3-process
// cluster are drained by their owner at another (fresh connection, Drain in rounds of
// 1,000: fetch, ack). Baseline: the same drain from one Badger relay.
func BenchmarkClusterDrain10k(b *testing.B) {
	const n = 10_000
	drain := func(in, out *testRelay) time.Duration {
		bob := newUser(b)
		register(b, newNode(b, in), in, bob)
		s := newSender(b)
		depositor := newNode(b, in)
		env := s.seal(b, bob, strings.Repeat("x", 100))
		for sent := 0; sent < n; sent += 500 {
			list := make([]mailboxclient.Envelope, 500)
			for i := range list {
				list[i] = mailboxclient.Envelope{Mailbox: bob.mb, Envelope: env}
			}
			if _, err := mailboxclient.DepositBatch(ctx, depositor, in.id(), list); err != nil {
				b.Fatal(err)
			}
		}
		owner := newNode(b, out)
		start := time.Now()
		got, err := mailboxclient.Drain(ctx, owner, out.id(), bob.id, 1000, func([]mailboxclient.Mail) error { return nil })
		elapsed := time.Since(start)
		if err != nil || got != n {
			b.Fatalf("drained %d of %d: %v", got, n, err)
		}
		return elapsed
	}
	cluster := startClusterRelays(b, 3, benchConfig())
	b.ResetTimer()
	clusterTime := drain(cluster[0], cluster[1])
	b.StopTimer()
	for _, r := range cluster {
		r.stop()
	}
	one := startRelay(b, benchConfig())
	badgerTime := drain(one, one)
	b.ReportMetric(clusterTime.Seconds()*1000, "cluster-drain-ms")
	b.ReportMetric(badgerTime.Seconds()*1000, "badger-relay-drain-ms")
	b.Logf("%s", fmt.Sprintf("10,000 messages drained through the cluster in %v (goal < 2 s); from one Badger relay %v", clusterTime, badgerTime))
}

// benchLogger discards logs unless PETREL_BENCH_LOG is set (then errors go to stderr).
func benchLogger() *slog.Logger {
	if os.Getenv("PETREL_BENCH_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

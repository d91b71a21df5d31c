package node_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
)

// End-to-end delivery between two real nodes on loopback (PRODUCT.md, Targets): alice's UI
// sends over the local HTTP API, alice's node persists, encrypts and ships the message over
// libp2p, bob's node decrypts and persists it and sends an encrypted delivery receipt back,
// and bob's UI sees the "message" event on its WebSocket. Each benchmark measures a baseline
// in the same run, with the timer stopped, and reports both.

const (
	// benchBody is the size of every benchmark message, node or baseline.
	benchBody = 100
	// benchSenders is how many UI requests alice has in flight in the throughput benchmark
	// (it also runs with four times as many).
	benchSenders = 16
)

// benchText is message i's 100-byte body; its first 8 bytes are i in decimal.
func benchText(i int) string {
	s := fmt.Sprintf("%08d ", i)
	return s + strings.Repeat("x", benchBody-len(s))
}

// benchIndex recovers i from a body made by benchText, or -1.
func benchIndex(body string) int {
	if len(body) != benchBody {
		return -1
	}
	i, err := strconv.Atoi(body[:8])
	if err != nil {
		return -1
	}
	return i
}

// benchNodes starts alice and bob, makes them contacts and delivers one message both ways
// (alice's message, bob's receipt), so the session is established and confirmed and no
// benchmark message carries the PQXDH initial message. It returns alice's conversation id.
func benchNodes(b *testing.B) (alice, bob *nodetest.Node, conv string) {
	b.Helper()
	ctx := context.Background()
	alice = nodetest.Start(b, "alice")
	bob = nodetest.Start(b, "bob")
	inv, err := bob.Client.CreateInvite(ctx)
	if err != nil {
		b.Fatal(err)
	}
	c, err := alice.Client.AddContact(ctx, inv.Link)
	if err != nil {
		b.Fatal(err)
	}
	conv = c.ConversationID
	m, err := alice.Client.Send(ctx, conv, "warm-up", "warm-up")
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := alice.Client.Messages(ctx, conv, "", "", 10)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Messages) == 1 && p.Messages[0].ID == m.ID && p.Messages[0].Status == api.StatusDelivered {
			return alice, bob, conv
		}
		if time.Now().After(deadline) {
			b.Fatalf("warm-up message not delivered within 30 s: %+v", p.Messages)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// poster sends messages over a node's local HTTP API with a keep-alive connection per
// request in flight, as a long-lived UI would. localclient's http.Client uses
// http.DefaultTransport, which keeps only 2 idle connections per host: with 16 or 64 requests
// in flight most requests would dial a new loopback connection (about 1,000 sockets left in
// TIME_WAIT per run), a cost of the client and not of the node.
type poster struct {
	base, token string
	hc          *http.Client
}

func newPoster(b *testing.B, n *nodetest.Node) *poster {
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	b.Cleanup(tr.CloseIdleConnections)
	return &poster{base: n.Info.URL, token: n.Info.Token, hc: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// send is POST /v1/conversations/{conv}/messages, as localclient.Client.Send.
func (p *poster) send(ctx context.Context, conv, clientMsgID, body string) error {
	rb, err := json.Marshal(api.SendRequest{ClientMsgID: clientMsgID, Body: body})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", p.base+"/v1/conversations/"+url.PathEscape(conv)+"/messages", bytes.NewReader(rb))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("send %s: %d %s", clientMsgID, resp.StatusCode, out)
	}
	var m api.Message
	return json.Unmarshal(out, &m)
}

// arrivals follows bob's WebSocket from its current end and records when the "message"
// event of each benchmark message i < n arrives.
type arrivals struct {
	at   []time.Time // at[i]: arrival of message i; read only after done
	done chan struct{}
	// count is how many distinct messages have arrived (for failure reports).
	count atomic.Int64
}

func followArrivals(b *testing.B, bob *nodetest.Node, n int) *arrivals {
	b.Helper()
	ctx := context.Background()
	var since uint64
	for {
		p, err := bob.Client.Events(ctx, since, 0)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Events) == 0 {
			break
		}
		since = p.Next
	}
	sock, _, err := bob.Client.Dial(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sock.Close() })
	if err := sock.Send(map[string]any{"type": "hello", "since": since}); err != nil {
		b.Fatal(err)
	}
	// Wait for the end of the replay, so only live events follow.
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		f, err := sock.Read(rctx)
		cancel()
		if err != nil {
			b.Fatalf("bob's socket before synced: %v", err)
		}
		if f.Type == "synced" {
			break
		}
	}
	a := &arrivals{at: make([]time.Time, n), done: make(chan struct{})}
	go func() {
		got := 0
		for {
			f, err := sock.Read(ctx) // ends when the cleanup closes the socket
			if err != nil {
				return
			}
			now := time.Now()
			if f.Type != "event" || f.Kind != api.KindMessage {
				continue
			}
			var m struct {
				Body string `json:"body"`
			}
			if json.Unmarshal(f.Message, &m) != nil {
				continue
			}
			i := benchIndex(m.Body)
			if i < 0 || i >= n || !a.at[i].IsZero() {
				continue
			}
			a.at[i] = now
			got++
			a.count.Store(int64(got))
			if got == n {
				close(a.done)
			}
		}
	}()
	return a
}

// wait waits until every message has arrived, failing after limit.
func (a *arrivals) wait(b *testing.B, limit time.Duration) {
	b.Helper()
	select {
	case <-a.done:
	case <-time.After(limit):
		b.Fatalf("bob has %d of %d messages after %v", a.count.Load(), len(a.at), limit)
	}
}

// BenchmarkDeliveryThroughput: alice's UI sends b.N messages with 16 (and 64) requests in
// flight, and the clock stops when bob's UI has seen every one arrive. It reports msgs/s (sent
// to arrived), accepted/s (the rate alice's API answered the sends), the baseline pipe-msgs/s
// of durablePipe at the same concurrency, x-pipe = pipe-msgs/s ÷ msgs/s, fsync-µs, the
// median fsync of a small append on the same disk in the same run, and cpu-µs/msg, the
// process's CPU time per message (see cpuTime).
func BenchmarkDeliveryThroughput(b *testing.B) {
	for _, senders := range []int{benchSenders, 4 * benchSenders} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			alice, bob, conv := benchNodes(b)
			p := newPoster(b, alice)
			arr := followArrivals(b, bob, b.N)
			ctx := context.Background()
			var next atomic.Int64
			errc := make(chan error, senders)

			b.ResetTimer()
			stopProfile := timedProfile(b)
			cpu0 := cpuTime(b)
			start := time.Now()
			for range senders {
				go func() {
					for {
						i := int(next.Add(1) - 1)
						if i >= b.N {
							errc <- nil
							return
						}
						if err := p.send(ctx, conv, "t"+strconv.Itoa(i), benchText(i)); err != nil {
							errc <- err
							return
						}
					}
				}()
			}
			for range senders {
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
			}
			accepted := time.Since(start)
			arr.wait(b, 5*time.Minute)
			elapsed := time.Since(start)
			cpu := cpuTime(b) - cpu0
			stopProfile()
			b.StopTimer()

			base := durablePipe(b, b.N, senders)
			rate := float64(b.N) / elapsed.Seconds()
			baseRate := float64(b.N) / base.Seconds()
			b.ReportMetric(rate, "msgs/s")
			b.ReportMetric(float64(b.N)/accepted.Seconds(), "accepted/s")
			b.ReportMetric(baseRate, "pipe-msgs/s")
			b.ReportMetric(baseRate/rate, "x-pipe")
			b.ReportMetric(cpu.Seconds()*1e6/float64(b.N), "cpu-µs/msg")
			b.ReportMetric(fsyncMedian(b, 64).Seconds()*1e6, "fsync-µs")
		})
	}
}

// durablePipe is the throughput baseline: persist-first delivery of n 100-byte messages with
// nothing but what it cannot avoid. senders goroutines each submit one message at a time and
// wait until it is durable on the sending side, as a UI waits for the API's answer; one
// writer takes every waiting submission (group commit), appends them to a file, fsyncs, and
// hands them to one loopback TCP connection, length-prefixed; the receiver appends every
// frame it has buffered (up to 256, the node's window) to its own file, fsyncs, and answers
// with an acknowledgement. It returns the time until the receiver has all n durably. Compared
// with the node it has the same concurrency, the same two durable writes per message and the
// same transport shape, and none of HTTP, JSON, encryption, Badger, receipts or events.
func durablePipe(b *testing.B, n, senders int) time.Duration {
	b.Helper()
	dir := b.TempDir()
	sf, err := os.Create(filepath.Join(dir, "sent"))
	if err != nil {
		b.Fatal(err)
	}
	defer sf.Close()
	rf, err := os.Create(filepath.Join(dir, "received"))
	if err != nil {
		b.Fatal(err)
	}
	defer rf.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()

	received := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- err
			return
		}
		defer c.Close()
		r := bufio.NewReaderSize(c, 64<<10)
		var hdr [4]byte
		var batch []byte
		for got := 0; got < n; {
			batch = batch[:0]
			k := 0
			for k == 0 || k < 256 && r.Buffered() >= 4 {
				if _, err := io.ReadFull(r, hdr[:]); err != nil {
					received <- err
					return
				}
				l := int(binary.BigEndian.Uint32(hdr[:]))
				batch = append(batch, hdr[:]...)
				batch = slices.Grow(batch, l)
				if _, err := io.ReadFull(r, batch[len(batch):len(batch)+l]); err != nil {
					received <- err
					return
				}
				batch = batch[:len(batch)+l]
				k++
			}
			if _, err := rf.Write(batch); err != nil {
				received <- err
				return
			}
			if err := rf.Sync(); err != nil {
				received <- err
				return
			}
			got += k
			binary.BigEndian.PutUint32(hdr[:], uint32(k))
			if _, err := c.Write(hdr[:]); err != nil {
				received <- err
				return
			}
		}
		received <- nil
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	go io.Copy(io.Discard, conn) // acknowledgements

	type submission struct {
		msg  []byte
		done chan error
	}
	subs := make(chan submission)
	wire := make(chan []byte, 64)
	go func() { // group commit on the sending side
		defer close(wire)
		for s := range subs {
			group := []submission{s}
		more:
			for len(group) < 256 {
				select {
				case s, ok := <-subs:
					if !ok {
						break more
					}
					group = append(group, s)
				default:
					break more
				}
			}
			var buf []byte
			for _, s := range group {
				buf = binary.BigEndian.AppendUint32(buf, uint32(len(s.msg)))
				buf = append(buf, s.msg...)
			}
			_, err := sf.Write(buf)
			if err == nil {
				err = sf.Sync()
			}
			if err == nil {
				wire <- buf
			}
			for _, s := range group {
				s.done <- err
			}
		}
	}()
	go func() { // the connection's writer; after a failure it drains, and the receiver reports
		var err error
		for buf := range wire {
			if err == nil {
				_, err = conn.Write(buf)
			}
		}
	}()

	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, senders)
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan error, 1)
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				subs <- submission{msg: []byte(benchText(i)), done: done}
				if err := <-done; err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(subs)
	select {
	case err := <-errc:
		b.Fatal(err)
	default:
	}
	if err := <-received; err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// cpuTime is the CPU time (user and system) this process has used so far: both nodes and
// the UI clients, so that cpu-µs/msg, unlike a rate, does not depend on how much of the
// machine other work leaves to the benchmark.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timedProfile starts a CPU profile of the timed part of a delivery benchmark alone (without
// the nodes' setup: Argon2id unlock, prekeys) when PETREL_BENCH_CPUPROFILE names a
// directory, written there as <benchmark name>.prof (slashes as underscores); it returns the
// function that stops it. Without the variable it does nothing. go test's own -cpuprofile
// covers the setup too, which outweighs a run of a few thousand messages.
func timedProfile(b *testing.B) func() {
	b.Helper()
	dir := os.Getenv("PETREL_BENCH_CPUPROFILE")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, strings.ReplaceAll(b.Name(), "/", "_")+".prof"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatalf("PETREL_BENCH_CPUPROFILE with go test -cpuprofile? %v", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

// fsyncMedian is the median time of k appends of 256 bytes to a file, each fsynced: the
// disk's price of one durable commit in this run.
func fsyncMedian(b *testing.B, k int) time.Duration {
	b.Helper()
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 256)
	ds := make([]time.Duration, k)
	for i := range ds {
		t := time.Now()
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		ds[i] = time.Since(t)
	}
	return percentile(ds, 0.5)
}

// percentile returns the q-quantile of ds (nearest rank); it sorts ds.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(q*float64(len(ds))+0.999999) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

// BenchmarkDeliveryLatency: alice's UI sends b.N messages at a fixed rate (each send in its
// own goroutine, so a slow answer does not delay the next send: an open loop), and each
// message's latency runs from the start of its send call to the arrival of its "message"
// event on bob's socket. It reports p50-µs and p99-µs, sent/s (the pace kept) and recv/s
// (messages over the time from the first send to the last arrival: below sent/s, the nodes did
// not keep up), cpu-µs/msg (see cpuTime), and the baseline tcp-p50-µs and tcp-p99-µs: round
// trips of 100-byte messages at the same rate over one loopback TCP connection to an echo
// server.
func BenchmarkDeliveryLatency(b *testing.B) {
	for _, rate := range []int{200, 1000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			alice, bob, conv := benchNodes(b)
			p := newPoster(b, alice)
			arr := followArrivals(b, bob, b.N)
			ctx := context.Background()
			interval := time.Second / time.Duration(rate)
			sentAt := make([]time.Time, b.N)
			errc := make(chan error, 1)
			var wg sync.WaitGroup

			b.ResetTimer()
			stopProfile := timedProfile(b)
			cpu0 := cpuTime(b)
			start := time.Now()
			for i := range b.N {
				time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
				wg.Add(1)
				go func() {
					defer wg.Done()
					sentAt[i] = time.Now()
					if err := p.send(ctx, conv, "l"+strconv.Itoa(i), benchText(i)); err != nil {
						select {
						case errc <- err:
						default:
						}
					}
				}()
			}
			pace := time.Since(start)
			wg.Wait()
			select {
			case err := <-errc:
				b.Fatal(err)
			default:
			}
			arr.wait(b, 5*time.Minute)
			cpu := cpuTime(b) - cpu0
			stopProfile()
			b.StopTimer()
			last := start
			for _, t := range arr.at {
				if t.After(last) {
					last = t
				}
			}

			lat := make([]time.Duration, b.N)
			for i := range lat {
				lat[i] = arr.at[i].Sub(sentAt[i])
			}
			base := tcpEcho(b, b.N, rate)
			b.ReportMetric(float64(percentile(lat, 0.5).Microseconds()), "p50-µs")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "p99-µs")
			b.ReportMetric(float64(percentile(base, 0.5).Microseconds()), "tcp-p50-µs")
			b.ReportMetric(float64(percentile(base, 0.99).Microseconds()), "tcp-p99-µs")
			b.ReportMetric(cpu.Seconds()*1e6/float64(b.N), "cpu-µs/msg")
			if b.N > 1 {
				b.ReportMetric(float64(b.N-1)/pace.Seconds(), "sent/s")
				b.ReportMetric(float64(b.N)/last.Sub(start).Seconds(), "recv/s")
			}
			b.ReportMetric(fsyncMedian(b, 64).Seconds()*1e6, "fsync-µs")
		})
	}
}

// tcpEcho sends n 100-byte messages at rate per second over one loopback TCP connection to
// an echo server and returns each one's round-trip time.
func tcpEcho(b *testing.B, n, rate int) []time.Duration {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	sentAt := make([]time.Time, n)
	recvAt := make([]time.Time, n)
	readDone := make(chan error, 1)
	go func() {
		buf := make([]byte, benchBody)
		for i := range n {
			if _, err := io.ReadFull(conn, buf); err != nil {
				readDone <- err
				return
			}
			recvAt[i] = time.Now()
		}
		readDone <- nil
	}()
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		sentAt[i] = time.Now()
		if _, err := conn.Write([]byte(benchText(i))); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-readDone; err != nil {
		b.Fatal(err)
	}
	rtt := make([]time.Duration, n)
	for i := range rtt {
		rtt[i] = recvAt[i].Sub(sentAt[i])
	}
	return rtt
}

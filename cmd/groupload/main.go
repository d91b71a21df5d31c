package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"github.com/petrel-chat/petrel/node/groups"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/wire"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "groupload:", err)
		os.Exit(1)
	}
}

type config struct {
	members, hosts, messages int
	gap, wait, settle        time.Duration
	cpuprofile               string
	flood                    bool
}

func run(args []string) error {
	fs := flag.NewFlagSet("groupload", flag.ContinueOnError)
	var c config
	fs.IntVar(&c.members, "members", 1000, "group members (2..10000)")
	fs.IntVar(&c.hosts, "hosts", 120, "real libp2p hosts (2..members); the rest of the members are simulated on them")
	fs.IntVar(&c.messages, "messages", 20, "group messages to send (1..1000)")
	fs.DurationVar(&c.gap, "gap", 250*time.Millisecond, "time between two messages")
	fs.DurationVar(&c.wait, "wait", 30*time.Second, "how long after the last message to wait for every delivery")
	fs.DurationVar(&c.settle, "settle", 5*time.Second, "time for the meshes to form before the first message")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the timed part to this file")
	fs.BoolVar(&c.flood, "floodpublish", false, "flood publishing (libp2p's default; a node has it off and sends to its mesh only): true to see what the publisher's fan-out to every connected member costs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.members < 2 || c.members > 10000 || c.hosts < 2 || c.hosts > c.members || c.messages < 1 || c.messages > 1000 {
		return errors.New("need 2 ≤ hosts ≤ members ≤ 10000 and 1 ≤ messages ≤ 1000")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := measure(ctx, c)
	if err != nil {
		return err
	}
	r.print(os.Stdout, c)
	return nil
}

type arrival struct {
	msg    int
	at     time.Time
	host   bool // the host's GossipSub arrival, before its members decrypt
	direct bool // (host arrivals) first copy straight from the publisher
}

type result struct {
	member, hostLat          []time.Duration
	direct, hostArrivals     int
	expected                 int
	publish                  []time.Duration // time spent in Publish
	cpu, wall                time.Duration
	cryptoFloor, rttFloor    time.Duration
	load0, load1             string
	realHosts, receivingHost int
}

func measure(ctx context.Context, c config) (*result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := &result{load0: loadavg(), realHosts: c.hosts}
	hs := make([]host.Host, c.hosts)
	defer func() {
		for _, h := range hs {
			if h != nil {
				h.Close()
			}
		}
	}()
	for i := range hs {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
		if err != nil {
			return nil, err
		}
		hs[i] = h
	}
	// Each host to a dozen others (six dials each, stride 7); the publisher to all.
	for i, h := range hs {
		for j := 1; j <= 6; j++ {
			o := hs[(i+j*7)%c.hosts]
			if o.ID() == h.ID() {
				continue
			}
			if err := h.Connect(ctx, peer.AddrInfo{ID: o.ID(), Addrs: o.Addrs()}); err != nil {
				return nil, fmt.Errorf("connect: %w", err)
			}
		}
	}
	for _, o := range hs[1:] {
		if err := hs[0].Connect(ctx, peer.AddrInfo{ID: o.ID(), Addrs: o.Addrs()}); err != nil {
			return nil, fmt.Errorf("connect: %w", err)
		}
	}

	sender, err := senderkey.NewSender()
	if err != nil {
		return nil, err
	}
	dist := sender.Distribution()
	secret := make([]byte, wire.GroupSecretSize)
	name := wire.GroupTopic(secret)
	perHost := func(i int) int { // members-1 receivers spread over hosts-1 hosts
		n := (c.members - 1) / (c.hosts - 1)
		if i-1 < (c.members-1)%(c.hosts-1) {
			n++
		}
		return n
	}

	arrivals := make(chan arrival, 1<<20)
	topics := make([]*pubsub.Topic, c.hosts)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	d, err := senderkey.ParseDistribution(dist)
	if err != nil {
		return nil, err
	}
	pub := d.SigningKey()
	publisher := hs[0].ID()
	for i, h := range hs {
		ps, err := pubsub.NewGossipSub(ctx, h, groups.RouterOptions(pubsub.WithFloodPublish(c.flood))...)
		if err != nil {
			return nil, err
		}
		err = ps.RegisterTopicValidator(name, func(_ context.Context, _ peer.ID, m *pubsub.Message) pubsub.ValidationResult {
			skm, err := wire.ParseEnvelope(m.Data)
			if err != nil {
				return pubsub.ValidationReject
			}
			sm, err := senderkey.ParseMessage(skm)
			if err != nil || !sm.Verify(pub) {
				return pubsub.ValidationReject
			}
			return pubsub.ValidationAccept
		})
		if err != nil {
			return nil, err
		}
		t, err := ps.Join(name)
		if err != nil {
			return nil, err
		}
		if err := t.SetScoreParams(groups.TopicScore()); err != nil {
			return nil, err
		}
		topics[i] = t
		sub, err := t.Subscribe(pubsub.WithBufferSize(groups.TopicBuffer))
		if err != nil {
			return nil, err
		}
		if i == 0 {
			continue
		}
		rs := make([]*senderkey.ReceiverState, perHost(i))
		for k := range rs {
			dd, err := senderkey.ParseDistribution(dist)
			if err != nil {
				return nil, err
			}
			rs[k] = senderkey.NewReceiver(dd)
		}
		res.expected += len(rs)
		wg.Go(func() {
			for {
				m, err := sub.Next(ctx)
				if err != nil {
					return
				}
				at := time.Now()
				skm, err := wire.ParseEnvelope(m.Data)
				if err != nil {
					fmt.Fprintln(os.Stderr, "groupload: envelope:", err)
					continue
				}
				for k, r := range rs {
					pt, err := r.Decrypt(skm)
					if err != nil {
						fmt.Fprintln(os.Stderr, "groupload: decrypt:", err)
						break
					}
					idx := int(binary.BigEndian.Uint32(pt))
					if k == 0 {
						arrivals <- arrival{msg: idx, at: at, host: true, direct: m.ReceivedFrom == publisher}
					}
					arrivals <- arrival{msg: idx, at: time.Now()}
				}
			}
		})
	}
	res.receivingHost = c.hosts - 1
	res.expected *= c.messages
	select { // let the meshes form
	case <-time.After(c.settle):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res.cryptoFloor, err = cryptoFloor()
	if err != nil {
		return nil, err
	}
	res.rttFloor, err = streamRTT(ctx, hs[0], hs[1])
	if err != nil {
		return nil, err
	}

	if c.cpuprofile != "" {
		f, err := os.Create(c.cpuprofile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0 := cpuTime()
	start := time.Now()
	sent := make([]time.Time, c.messages)
	for i := range c.messages {
		pt := make([]byte, 100)
		binary.BigEndian.PutUint32(pt, uint32(i))
		skm, err := sender.Encrypt(pt)
		if err != nil {
			return nil, err
		}
		sent[i] = time.Now()
		if err := topics[0].Publish(ctx, wire.AppendEnvelope(nil, skm)); err != nil {
			return nil, err
		}
		res.publish = append(res.publish, time.Since(sent[i]))
		select { // one message at a time: a message's latency, not a queue's
		case <-time.After(c.gap):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	deadline := time.After(c.wait)
	for len(res.member) < res.expected {
		select {
		case a := <-arrivals:
			lat := a.at.Sub(sent[a.msg])
			if a.host {
				res.hostLat = append(res.hostLat, lat)
				res.hostArrivals++
				if a.direct {
					res.direct++
				}
			} else {
				res.member = append(res.member, lat)
			}
		case <-deadline:
			goto done
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
done:
	res.wall = time.Since(start)
	res.cpu = cpuTime() - cpu0
	res.load1 = loadavg()
	return res, nil
}

func (r *result) print(w io.Writer, c config) {
	q := func(ds []time.Duration, p float64) string {
		if len(ds) == 0 {
			return "-"
		}
		s := slices.Clone(ds)
		slices.Sort(s)
		return fmt.Sprintf("%.1f ms", float64(s[int(p*float64(len(s)-1))].Microseconds())/1000)
	}
	lost := r.expected - len(r.member)
	fmt.Fprintf(w, "group of %d members, %d real hosts (%d receiving, %.1f members each), %d messages every %v, flood publishing %v\n",
		c.members, r.realHosts, r.receivingHost, float64(c.members-1)/float64(r.receivingHost), c.messages, c.gap, c.flood)
	fmt.Fprintf(w, "to every member (publish → decrypted): p50 %s, p99 %s, max %s; %d of %d delivered, %d lost\n",
		q(r.member, 0.5), q(r.member, 0.99), q(r.member, 1), len(r.member), r.expected, lost)
	fmt.Fprintf(w, "GossipSub arrival at each host (before its members decrypt): p50 %s, p99 %s, max %s; first copy from the publisher %d of %d\n",
		q(r.hostLat, 0.5), q(r.hostLat, 0.99), q(r.hostLat, 1), r.direct, r.hostArrivals)
	fmt.Fprintf(w, "Publish call: p50 %s, max %s\n", q(r.publish, 0.5), q(r.publish, 1))
	perMsg := time.Duration(0)
	if len(r.member) > 0 {
		perMsg = r.cpu / time.Duration(len(r.member))
	}
	fmt.Fprintf(w, "CPU: %v over %v (%.2f of 2 cores); %.1f µs per delivered message\n",
		r.cpu.Round(time.Millisecond), r.wall.Round(time.Millisecond), r.cpu.Seconds()/r.wall.Seconds(), float64(perMsg.Nanoseconds())/1000)
	fmt.Fprintf(w, "floors, same run: Sender Keys encrypt+decrypt %.1f µs, libp2p stream round trip %.1f µs\n",
		float64(r.cryptoFloor.Nanoseconds())/1000, float64(r.rttFloor.Nanoseconds())/1000)
	fmt.Fprintf(w, "load average: %s at the start, %s at the end\n", r.load0, r.load1)
}

// cryptoFloor is the median of one Sender Keys encrypt + decrypt of 100 bytes.
func cryptoFloor() (time.Duration, error) {
	s, err := senderkey.NewSender()
	if err != nil {
		return 0, err
	}
	d, err := senderkey.ParseDistribution(s.Distribution())
	if err != nil {
		return 0, err
	}
	r := senderkey.NewReceiver(d)
	pt := make([]byte, 100)
	var ds []time.Duration
	for range 1000 {
		t := time.Now()
		m, err := s.Encrypt(pt)
		if err != nil {
			return 0, err
		}
		if _, err := r.Decrypt(m); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

// streamRTT is the median round trip of 100 bytes on one reused libp2p stream.
func streamRTT(ctx context.Context, a, b host.Host) (time.Duration, error) {
	const proto = "/petrel/groupload-echo/1"
	b.SetStreamHandler(proto, func(s network.Stream) {
		defer s.Close()
		buf := make([]byte, 100)
		for {
			if _, err := io.ReadFull(s, buf); err != nil {
				return
			}
			if _, err := s.Write(buf); err != nil {
				return
			}
		}
	})
	defer b.RemoveStreamHandler(proto)
	s, err := a.NewStream(ctx, b.ID(), proto)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	br := bufio.NewReader(s)
	buf := make([]byte, 100)
	var ds []time.Duration
	for range 1000 {
		t := time.Now()
		if _, err := s.Write(buf); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(br, buf); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " / ")
}

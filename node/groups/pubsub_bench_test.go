package groups

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/wire"
)

// BenchmarkGroupFanout500 sends group messages to a 500-member group and reports the
// delivery latency to every member (p50, p99, max), beside two baselines measured in the
// same run: one Sender Keys encrypt + decrypt of the same message (the crypto floor) and
// one round trip on a reused plain libp2p stream between two of the same hosts (the
// network floor).
//
// What is real and what is simulated: benchGroupHosts real libp2p hosts (TCP, Noise,
// Yamux on loopback) run GossipSub exactly as a node configures it (gossipParams,
// scoreParams, envelope ids, no author, a validator that verifies the Sender Keys
// signature before forwarding). The other members are simulated: each real host stands
// for 500/benchGroupHosts members and, for each of them, verifies and decrypts the message
// with that member's own ReceiverState, so the receiving crypto work of 500 members is
// done, on the same two cores. Not simulated: the copies to the 440 members that are not
// real hosts (the publisher sends to its mesh, the mesh forwards), and a node's store (the durable write and receipt of each
// message, measured by the node benchmarks).
func BenchmarkGroupFanout500(b *testing.B) {
	const members = 500
	hosts := benchGroupHosts
	// Receivers per non-publishing host: members-1 spread as evenly as possible.
	perHost := func(i int) int {
		n := (members - 1) / (hosts - 1)
		if i-1 < (members-1)%(hosts-1) {
			n++
		}
		return n
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	hs := make([]host.Host, hosts)
	for i := range hs {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		hs[i] = h
	}
	// Members know each other (group state carries their addresses): connect each host
	// to a dozen others, as the mesh needs no more.
	for i, h := range hs {
		for j := 1; j <= 6; j++ {
			o := hs[(i+j*7)%hosts]
			if o.ID() == h.ID() {
				continue
			}
			if err := h.Connect(ctx, peer.AddrInfo{ID: o.ID(), Addrs: o.Addrs()}); err != nil {
				b.Fatal(err)
			}
		}
	}
	// The publisher is connected to every host, as a member's node is to its fellow
	// members after the key exchange.
	for _, o := range hs[1:] {
		_ = hs[0].Connect(ctx, peer.AddrInfo{ID: o.ID(), Addrs: o.Addrs()})
	}

	sender, err := senderkey.NewSender()
	if err != nil {
		b.Fatal(err)
	}
	dist := sender.Distribution()
	d, _ := senderkey.ParseDistribution(dist)
	secret := make([]byte, wire.GroupSecretSize)
	name := wire.GroupTopic(secret)

	type arrival struct {
		msg int
		at  time.Time
	}
	arrivals := make(chan arrival, 1<<16)
	topics := make([]*pubsub.Topic, hosts)
	var wg sync.WaitGroup
	for i, h := range hs {
		ps, err := pubsub.NewGossipSub(ctx, h, RouterOptions()...)
		if err != nil {
			b.Fatal(err)
		}
		pub := d.SigningKey()
		err = ps.RegisterTopicValidator(name, oneChainValidator(pub))
		if err != nil {
			b.Fatal(err)
		}
		t, err := ps.Join(name)
		if err != nil {
			b.Fatal(err)
		}
		_ = t.SetScoreParams(topicScore())
		topics[i] = t
		sub, err := t.Subscribe(pubsub.WithBufferSize(gossipQueue))
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			continue
		}
		rs := make([]*senderkey.ReceiverState, perHost(i))
		for k := range rs {
			dd, _ := senderkey.ParseDistribution(dist)
			rs[k] = senderkey.NewReceiver(dd)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := sub.Next(ctx)
				if err != nil {
					return
				}
				skm, _ := wire.ParseEnvelope(m.Data)
				for _, r := range rs {
					pt, err := r.Decrypt(skm)
					if err != nil {
						b.Error(err)
						return
					}
					arrivals <- arrival{int(binary.BigEndian.Uint32(pt)), time.Now()}
				}
			}
		}()
	}
	// Let the meshes form.
	time.Sleep(3 * time.Second)

	// Baselines, same run.
	cryptoFloor := benchCryptoFloor(b)
	rttFloor := benchStreamRTT(b, hs[0], hs[1])

	receivers := members - 1
	var lat []time.Duration
	sent := map[int]time.Time{}
	b.ResetTimer()
	for i := range b.N {
		pt := make([]byte, 100)
		binary.BigEndian.PutUint32(pt, uint32(i))
		skm, err := sender.Encrypt(pt)
		if err != nil {
			b.Fatal(err)
		}
		sent[i] = time.Now()
		if err := topics[0].Publish(ctx, wire.AppendEnvelope(nil, skm)); err != nil {
			b.Fatal(err)
		}
		// One message at a time: this measures a message's latency, not a queue's.
		time.Sleep(benchGroupGap)
	}
	deadline := time.After(30 * time.Second)
	for len(lat) < b.N*receivers {
		select {
		case a := <-arrivals:
			lat = append(lat, a.at.Sub(sent[a.msg]))
		case <-deadline:
			b.Fatalf("%d of %d deliveries within 30 s", len(lat), b.N*receivers)
		}
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	b.ReportMetric(float64(q(0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(cryptoFloor.Nanoseconds())/1000, "skcrypto-µs")
	b.ReportMetric(float64(rttFloor.Nanoseconds())/1000, "streamrtt-µs")
	b.ReportMetric(float64(receivers+1), "members")
	b.ReportMetric(float64(hosts), "real-hosts")
}

// benchGroupHosts is how many real libp2p hosts the fan-out benchmark runs (the rest of
// the 500 members are simulated on them).
const benchGroupHosts = 60

// benchGroupGap spaces the benchmark's messages (4 group messages/s).
const benchGroupGap = 250 * time.Millisecond

// benchCryptoFloor is the median of one Sender Keys encrypt + decrypt of 100 bytes.
func benchCryptoFloor(b *testing.B) time.Duration {
	s, err := senderkey.NewSender()
	if err != nil {
		b.Fatal(err)
	}
	d, _ := senderkey.ParseDistribution(s.Distribution())
	r := senderkey.NewReceiver(d)
	pt := make([]byte, 100)
	var ds []time.Duration
	for range 1000 {
		t := time.Now()
		m, _ := s.Encrypt(pt)
		if _, err := r.Decrypt(m); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// benchStreamRTT is the median round trip of 100 bytes on one reused libp2p stream.
func benchStreamRTT(b *testing.B, a, c host.Host) time.Duration {
	const proto = "/petrel/bench-echo/1"
	c.SetStreamHandler(proto, func(s network.Stream) {
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
	s, err := a.NewStream(context.Background(), c.ID(), proto)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := bufio.NewReader(s)
	buf := make([]byte, 100)
	var ds []time.Duration
	for range 1000 {
		t := time.Now()
		if _, err := s.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			b.Fatal(fmt.Errorf("echo: %w", err))
		}
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

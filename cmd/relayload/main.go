package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	manet "github.com/multiformats/go-multiaddr/net"
	mss "github.com/multiformats/go-multistream"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "relayload:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("relayload", flag.ContinueOnError)
	relay := fs.String("relay", "", "the relay's full TCP multiaddr (/ip4/.../tcp/.../p2p/...)")
	n := fs.Int("n", 1000, "connections to open (bounded: at most 60000)")
	conc := fs.Int("concurrency", 64, "handshakes in flight at once")
	sources := fs.Int("sources", 250, "source addresses used: 127.1.1.1, 127.1.1.2, … (1..60000)")
	hold := fs.Duration("hold", 30*time.Second, "how long to hold the connections open")
	metrics := fs.String("metrics", "", "the relay's metrics URL (http://HOST:PORT), read while held")
	bare := fs.Bool("serve-bare", false, "run a bare libp2p host (the memory baseline) instead: print its address, serve until stdin closes")
	compare := fs.String("rss-compare", "", "measure RSS per idle node: this petrel binary's relay, then a bare host, each a fresh process")
	rounds := fs.Int("rounds", 1, "with -rss-compare: relay and bare host measured this many times, alternating")
	settle := fs.Duration("settle", 10*time.Second, "with -rss-compare: how long the connections stay idle before the reading")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bare {
		return serveBare(*n)
	}
	if *n < 1 || *n > 60000 || *sources < 1 || *sources > 60000 || *conc < 1 {
		return errors.New("-n and -sources must be 1..60000, -concurrency ≥ 1")
	}
	if *compare != "" {
		return rssCompare(*compare, *n, *conc, *sources, *rounds, *settle)
	}
	ai, err := peer.AddrInfoFromString(*relay)
	if err != nil {
		return fmt.Errorf("-relay: %w", err)
	}
	target, err := manet.ToNetAddr(ai.Addrs[0])
	if err != nil {
		return fmt.Errorf("-relay: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conns := openConns(ctx, target, ai.ID, *n, *conc, *sources)
	select {
	case <-ctx.Done():
	case <-time.After(min(*hold, 5*time.Second)):
	}
	if *metrics != "" {
		if v, err := connectedPeers(*metrics); err == nil {
			fmt.Printf("relay reports petrel_relay_connected_peers %s\n", v)
		} else {
			fmt.Printf("relay metrics: %v\n", err)
		}
	}
	alive := 0
	for _, c := range conns {
		if !c.IsClosed() {
			alive++
		}
	}
	fmt.Printf("still open after %v: %d\n", min(*hold, 5*time.Second), alive)
	select {
	case <-ctx.Done():
	case <-time.After(max(0, *hold-5*time.Second)):
	}
	alive = 0
	for _, c := range conns {
		if !c.IsClosed() {
			alive++
		}
		c.Close()
	}
	fmt.Printf("still open at the end of the hold (%v): %d\n", *hold, alive)
	return nil
}

// openConns opens n idle nodes' connections to target (peer relay), conc at a time, from
// sources spread over 127.1.0.0/16, and prints how many connected and why the others failed.
func openConns(ctx context.Context, target net.Addr, relay peer.ID, n, conc, sources int) []network.MuxedConn {
	var (
		mu     sync.Mutex
		conns  []network.MuxedConn
		failed atomic.Int64
		errMu  sync.Mutex
		errs   = map[string]int{}
	)
	start := time.Now()
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			k := i % sources
			src := &net.TCPAddr{IP: net.IPv4(127, 1, byte(1+k/250), byte(1+k%250))}
			c, err := dial(ctx, src, target, relay)
			if err != nil {
				failed.Add(1)
				msg := err.Error()
				if k := strings.LastIndex(msg, ": "); k > 0 {
					msg = msg[k+2:]
				}
				errMu.Lock()
				errs[msg]++
				errMu.Unlock()
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		})
	}
	wg.Wait()
	fmt.Printf("connected %d of %d in %v (%d failed)\n", len(conns), n, time.Since(start).Round(time.Millisecond), failed.Load())
	for e, k := range errs {
		fmt.Printf("  failure ×%d: %s\n", k, e)
	}
	return conns
}

// dial opens one idle node's connection: TCP from src, multistream-select /noise, a Noise
// handshake under a fresh identity (verifying the relay's peer id), then /yamux/1.0.0.
func dial(ctx context.Context, src, target net.Addr, relay peer.ID) (network.MuxedConn, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	d := net.Dialer{LocalAddr: src}
	raw, err := d.DialContext(ctx, "tcp", target.String())
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			raw.Close()
		}
	}()
	if dl, has := ctx.Deadline(); has {
		raw.SetDeadline(dl)
	}
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := mss.SelectProtoOrFail(noise.ID, raw); err != nil {
		return nil, fmt.Errorf("select noise: %w", err)
	}
	tpt, err := noise.New(noise.ID, key, nil)
	if err != nil {
		return nil, err
	}
	sc, err := tpt.SecureOutbound(ctx, raw, relay)
	if err != nil {
		return nil, fmt.Errorf("noise: %w", err)
	}
	if err := mss.SelectProtoOrFail(yamux.ID, io.ReadWriteCloser(sc)); err != nil {
		return nil, fmt.Errorf("select yamux: %w", err)
	}
	raw.SetDeadline(time.Time{})
	mc, err := yamux.DefaultTransport.NewConn(sc, false, &network.NullScope{})
	if err != nil {
		return nil, fmt.Errorf("yamux: %w", err)
	}
	ok = true
	return mc, nil
}

func connectedPeers(url string) (string, error) {
	resp, err := http.Get(strings.TrimSuffix(url, "/") + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "petrel_relay_connected_peers "); ok {
			return v, nil
		}
	}
	return "", errors.New("no petrel_relay_connected_peers series")
}

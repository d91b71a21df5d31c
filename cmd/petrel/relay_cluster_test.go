package main

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// relayCluster is n real `petrel relay` processes forming one relay: one libp2p key
// (relay.key copied into every data directory, so nodes see one relay peer with several
// addresses) and an embedded JetStream cluster routed between them.
type relayCluster struct {
	t     *testing.T
	procs []*relayProc
	id    peer.ID
}

func startRelayCluster(t *testing.T, bin string, n int, extra string) *relayCluster {
	t.Helper()
	return startRelayClusterRouted(t, bin, n, extra, func(from, to int, addr string) string { return addr }, nil)
}

// startRelayClusterRouted is startRelayCluster with process from's route to process to
// at route(from, to, to's listen address) (a test proxy, to cut it) and, if advertise is
// not nil, process i advertising advertise(i, its listen address) to route gossip.
func startRelayClusterRouted(t *testing.T, bin string, n int, extra string, route func(from, to int, addr string) string, advertise func(i int, addr string) string) *relayCluster {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	routes := make([]string, n)
	for i := range routes {
		routes[i] = "127.0.0.1:" + strconv.Itoa(freePort(t))
	}
	c := &relayCluster{t: t, id: id}
	for i := range n {
		r := newRelayProc(t, bin)
		if err := os.WriteFile(filepath.Join(r.dir, "relay.key"), kb, 0o600); err != nil {
			t.Fatal(err)
		}
		var others []string
		for j, a := range routes {
			if j != i {
				others = append(others, strconv.Quote(route(i, j, a)))
			}
		}
		adv := ""
		if advertise != nil {
			adv = fmt.Sprintf(`, "advertise": %q`, advertise(i, routes[i]))
		}
		r.config = fmt.Sprintf(`{"mailbox": {"peer_rate": 0, "mailbox_rate": 0}, "metrics_addr": "127.0.0.1:0",
			"cluster": {"name": "test", "listen": %q, "routes": [%s], "secret": "s3cret"%s%s}}`,
			routes[i], strings.Join(others, ","), adv, extra)
		c.procs = append(c.procs, r)
	}
	for _, r := range c.procs {
		r.launch()
	}
	for _, r := range c.procs {
		r.waitReady()
	}
	return c
}

// addrs are every process's listen address (what an invite carries for this relay).
func (c *relayCluster) addrs() []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, r := range c.procs {
		out = append(out, ma.StringCast(r.listen))
	}
	return out
}

// hostAt is a node connected to process i only, that knows every address of the relay
// (so it fails over to another process when its connection ends).
func (c *relayCluster) hostAt(i int) host.Host {
	c.t.Helper()
	h := newClientHost(c.t)
	if err := h.Connect(context.Background(), peer.AddrInfo{ID: c.id, Addrs: []ma.Multiaddr{ma.StringCast(c.procs[i].listen)}}); err != nil {
		c.t.Fatal(err)
	}
	h.Peerstore().AddAddrs(c.id, c.addrs(), peerstore.PermanentAddrTTL)
	return h
}

func healthz(r *relayProc) (int, string, error) {
	resp, err := http.Get(r.info.Metrics + "/healthz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestRelayClusterSIGKILLLosesNoAcknowledgedDeposit runs a cluster of three real relay
// processes. A mailbox registered at the first takes mail at the second; four depositors
// connected to the second pipeline deposits, and the second is SIGKILLed in the middle of
// the burst with mail waiting. The depositors carry on through the other two (one relay
// peer, several addresses); the owner drains at the third and finds every acknowledged
// deposit exactly once; the killed process restarts, catches up (its replica is current
// again) and serves the owner too. No plaintext is in any data directory.
func TestRelayClusterSIGKILLLosesNoAcknowledgedDeposit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills three real petrel relay processes")
	}
	bin, err := exec.LookPath("petrel")
	if err != nil {
		t.Fatalf("petrel not on PATH (testscript.Main sets it up): %v", err)
	}
	c := startRelayCluster(t, bin, 3, "")
	ctx := context.Background()
	bob, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := mailboxclient.Register(ctx, c.hostAt(0), c.id, bob); err != nil {
		t.Fatal(err)
	}
	mb := relaywire.MailboxID(bob.Public())
	bobDH, _ := ecdh.X25519().GenerateKey(rand.Reader)
	_, signer, _ := ed25519.GenerateKey(rand.Reader)
	senderDH, _ := ecdh.X25519().GenerateKey(rand.Reader)
	seal := func(p string) []byte {
		env, err := sealed.Seal(mb, bobDH.PublicKey(), signer, senderDH.PublicKey(), []byte(p))
		if err != nil {
			t.Fatal(err)
		}
		return env
	}

	// Mail waiting at the process about to die.
	var mu sync.Mutex
	acked := map[string]bool{}
	waitingHost := c.hostAt(1)
	for i := range 50 {
		p := fmt.Sprintf("cluster-relay-body waiting #%03d", i)
		if err := mailboxclient.Deposit(ctx, waitingHost, c.id, mb, seal(p)); err != nil {
			t.Fatal(err)
		}
		acked[p] = true
	}

	const depositors, batch = 4, 25
	var total, afterKill atomic.Int64
	var killed, stop atomic.Bool
	var wg sync.WaitGroup
	for d := range depositors {
		h := c.hostAt(1)
		wg.Go(func() {
			for round := 0; !stop.Load(); round++ {
				envs := make([]mailboxclient.Envelope, batch)
				payloads := make([]string, batch)
				for i := range envs {
					payloads[i] = fmt.Sprintf("cluster-relay-body d%d #%06d", d, round*batch+i)
					envs[i] = mailboxclient.Envelope{Mailbox: mb, Envelope: seal(payloads[i])}
				}
				// A failed batch (the process died under it, or the cluster is electing a
				// new leader) is not retried: its payloads are simply not acknowledged.
				errs, _ := mailboxclient.DepositBatch(ctx, h, c.id, envs)
				mu.Lock()
				for i, e := range errs {
					if e == nil {
						acked[payloads[i]] = true
						total.Add(1)
						if killed.Load() {
							afterKill.Add(1)
						}
					}
				}
				mu.Unlock()
			}
		})
	}
	wait.For(t, "the cluster acknowledges 1,000 burst deposits", func() error {
		if n := total.Load(); n < 1000 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})
	killed.Store(true)
	c.procs[1].kill()
	t.Logf("SIGKILL of process 2 after %d acknowledged burst deposits", total.Load())
	wait.For(t, "the depositors carry on through the other two processes (500 more acknowledged)", func() error {
		if n := afterKill.Load(); n < 500 {
			return fmt.Errorf("%d acknowledged since the kill", n)
		}
		return nil
	})
	stop.Store(true)
	wg.Wait()
	mu.Lock()
	want := len(acked)
	mu.Unlock()
	t.Logf("%d deposits acknowledged in all, %d after the kill", want, afterKill.Load())

	// The killed process restarts on its data directory and catches up.
	c.procs[1].start()
	wait.For(t, "the restarted process is healthy with every mail replica current", func() error {
		code, body, err := healthz(c.procs[1])
		if err != nil {
			return err
		}
		if code != 200 || strings.Contains(body, "current=false") || strings.Count(body, "replica=") != 2 {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})

	// The owner drains at the third process: every acknowledged deposit exactly once. It
	// reads half at the third and the rest at the restarted one.
	byID := map[uint64]string{} // a message handed out again (its round's ack failed) keeps its id
	drain := func(i int, limit int) {
		owner := c.hostAt(i)
		got := 0
		// A read that meets an election is refused as unavailable: the owner reads again.
		wait.For(t, fmt.Sprintf("the owner drains at process %d", i+1), func() error {
			s, err := mailboxclient.Open(ctx, owner, c.id, bob)
			if err != nil {
				return err
			}
			defer s.Close()
			for got < limit {
				mail, more, err := s.Fetch(500)
				if err != nil {
					return err
				}
				var ids []uint64
				for _, m := range mail {
					o, err := sealed.Open(m.Envelope, bobDH)
					if err != nil {
						return wait.Final(err)
					}
					byID[m.ID] = string(o.Payload)
					ids = append(ids, m.ID)
				}
				if err := s.Ack(ids); err != nil {
					return err
				}
				got += len(mail)
				if !more {
					return nil
				}
			}
			return nil
		})
	}
	drain(2, want/2)
	drain(1, 1<<30)
	seen := map[string]int{} // payload → messages stored with it
	for _, p := range byID {
		seen[p]++
	}
	for p := range acked {
		if seen[p] != 1 {
			t.Errorf("acknowledged %q seen %d times", p, seen[p])
		}
	}
	extra := 0
	for p, n := range seen {
		if n != 1 {
			t.Errorf("%q seen %d times", p, n)
		}
		if !acked[p] {
			extra++
		}
	}
	t.Logf("drained %d messages: %d acknowledged + %d in flight at the kill", len(seen), len(acked), extra)
	for _, r := range c.procs {
		r.cmd.Process.Signal(syscall.SIGTERM)
		<-r.done
		if code := r.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("relay exited %d after SIGTERM", code)
		}
		nodetest.NoPlaintext(t, r.dir, "cluster-relay-body")
	}
}

// routeProxy forwards TCP to one address until cut: then it closes what it carries and
// refuses (closes at once) new connections, until healed.
type routeProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	cut     bool
	refused int // connections closed at once because cut
	conns   map[net.Conn]bool
	wg      sync.WaitGroup
}

func newRouteProxy(t *testing.T, target string) *routeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &routeProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
		p.wg.Wait()
	})
	return p
}

func (p *routeProxy) addr() string { return p.ln.Addr().String() }

func (p *routeProxy) refusedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

func (p *routeProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.refused++
			p.mu.Unlock()
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			in.Close()
			continue
		}
		p.conns[in], p.conns[out] = true, true
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			io.Copy(dst, src)
			dst.Close()
			src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		p.wg.Go(func() { pipe(out, in) })
		p.wg.Go(func() { pipe(in, out) })
	}
}

func (p *routeProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
	}
}

// TestRelayClusterPartition cuts every route of one process of three (a partition: the
// process and its clients are up, it cannot reach its peers). As docs/OPERATIONS.md says:
// the cut-off process acknowledges no deposit (refused as unavailable) and its /healthz
// answers 503, while the two others keep a quorum and take deposits; once the routes are
// back the process catches up, and every deposit acknowledged anywhere is there exactly once.
func TestRelayClusterPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three real petrel relay processes")
	}
	bin, err := exec.LookPath("petrel")
	if err != nil {
		t.Fatalf("petrel not on PATH (testscript.Main sets it up): %v", err)
	}
	const cut = 2
	var proxies []*routeProxy
	// NATS route gossip: a server tells its peers of each new route's advertised address,
	// and a peer not yet routed to that server dials it there (once), past the proxies, so
	// that the cut would leave a route up. Every process advertises a sink that refuses
	// every connection: the routes are exactly the configured ones, through the proxies.
	var sinks []*routeProxy
	c := startRelayClusterRouted(t, bin, 3, `, "timeout": "2s"`, func(from, to int, addr string) string {
		if from != cut && to != cut {
			return addr
		}
		p := newRouteProxy(t, addr)
		proxies = append(proxies, p)
		return p.addr()
	}, func(i int, addr string) string {
		p := newRouteProxy(t, addr)
		p.setCut(true)
		sinks = append(sinks, p)
		return p.addr()
	})
	defer func() {
		gossip := 0
		for _, p := range sinks {
			gossip += p.refusedCount()
		}
		t.Logf("%d route dials from gossip refused at the advertised sinks", gossip)
	}()
	ctx := context.Background()
	bob, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := mailboxclient.Register(ctx, c.hostAt(0), c.id, bob); err != nil {
		t.Fatal(err)
	}
	mb := relaywire.MailboxID(bob.Public())
	bobDH, _ := ecdh.X25519().GenerateKey(rand.Reader)
	_, signer, _ := ed25519.GenerateKey(rand.Reader)
	senderDH, _ := ecdh.X25519().GenerateKey(rand.Reader)
	acked := map[string]bool{}
	unconfirmed := map[string]bool{} // refused as unavailable: not confirmed, may be stored
	n := 0
	deposit := func(h host.Host) error {
		n++
		p := fmt.Sprintf("cluster-relay-body partition #%04d", n)
		env, err := sealed.Seal(mb, bobDH.PublicKey(), signer, senderDH.PublicKey(), []byte(p))
		if err != nil {
			t.Fatal(err)
		}
		err = mailboxclient.Deposit(ctx, h, c.id, mb, env)
		if err == nil {
			acked[p] = true
		} else {
			unconfirmed[p] = true
		}
		return err
	}
	atCut := c.hostAt(cut)
	// Before the cut the process takes deposits like the others.
	if err := deposit(atCut); err != nil {
		t.Fatal(err)
	}
	for _, p := range proxies {
		p.setCut(true)
	}
	wait.For(t, "the cut-off process refuses deposits as unavailable and its /healthz says so", func() error {
		err := deposit(atCut)
		if !errors.Is(err, mailboxclient.ErrUnavailable) {
			return fmt.Errorf("deposit at the cut-off process: %v", err)
		}
		if code, body, err := healthz(c.procs[cut]); err != nil || code != http.StatusServiceUnavailable {
			return fmt.Errorf("healthz %d %q %v", code, body, err)
		}
		return nil
	})
	majority := c.hostAt(0)
	wait.For(t, "the two others keep taking deposits", func() error { return deposit(majority) })
	// The majority may still be electing a leader for a stream or bucket the cut-off
	// process led: a deposit refused as unavailable meanwhile is sent again, as a node does.
	second := c.hostAt(1)
	for range 20 {
		wait.For(t, "a deposit at the majority", func() error { return deposit(second) })
	}
	for range 3 {
		if err := deposit(atCut); !errors.Is(err, mailboxclient.ErrUnavailable) {
			t.Fatalf("deposit at the cut-off process during the partition: %v", err)
		}
	}
	for _, p := range proxies {
		p.setCut(false)
	}
	wait.For(t, "the healed process is healthy with every mail replica current", func() error {
		code, body, err := healthz(c.procs[cut])
		if err != nil {
			return err
		}
		if code != 200 || strings.Contains(body, "current=false") || strings.Count(body, "replica=") != 2 {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	// The rejoining process's Raft terms moved on while it was cut off, so its return may
	// start an election for a stream or bucket: a deposit refused as unavailable meanwhile
	// is sent again, as a node does; anything but unavailable is a failure.
	wait.For(t, "a deposit at the healed process", func() error {
		err := deposit(atCut)
		if err != nil && !errors.Is(err, mailboxclient.ErrUnavailable) {
			return wait.Final(err)
		}
		return err
	})
	byID := map[uint64]string{} // a message handed out again (its round's ack failed) keeps its id
	healed := c.hostAt(cut)
	// Right after the heal a read may still meet an election (refused as unavailable): the
	// owner drains again, as a node does.
	wait.For(t, "the owner drains at the healed process", func() error {
		_, err := mailboxclient.Drain(ctx, healed, c.id, bob, 500, func(mail []mailboxclient.Mail) error {
			for _, m := range mail {
				o, err := sealed.Open(m.Envelope, bobDH)
				if err != nil {
					return wait.Final(err)
				}
				byID[m.ID] = string(o.Payload)
			}
			return nil
		})
		return err
	})
	seen := map[string]int{} // payload → messages stored with it
	for _, p := range byID {
		seen[p]++
	}
	for p := range acked {
		if seen[p] != 1 {
			t.Errorf("acknowledged %q seen %d times", p, seen[p])
		}
	}
	late := 0
	for p, k := range seen {
		if k != 1 || !acked[p] && !unconfirmed[p] {
			t.Errorf("%q seen %d times, acknowledged %v", p, k, acked[p])
		}
		if unconfirmed[p] {
			late++ // its acknowledgement was lost at the cut: stored, not confirmed
		}
	}
	t.Logf("%d deposits acknowledged, all drained once at the healed process (%d refused as unavailable, %d of them stored after all)",
		len(acked), len(unconfirmed), late)
}

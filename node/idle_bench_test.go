//go:build idlebench

package node_test

// The idle traffic load command (issue 19): one node with N contacts online, all on
// loopback, and nothing happening but presence. It counts the bytes the one node's TCP
// sockets carry, as the kernel counts them (ss -tinO: tcp_info bytes_sent, bytes_received,
// segs_out, segs_in), so Noise, yamux, identify and libp2p's keep-alives are all in it,
// and prints KB/h beside a baseline measured in the same window: bare libp2p hosts built
// by p2phost with the same connections and nothing else (libp2p's own floor).
//
//	go test -tags idlebench -run TestIdleTraffic -v -timeout 60m ./node/
//	IDLE_CONTACTS=50 IDLE_MINUTES=5 (defaults)

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/p2phost"
)

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// tcpCount is what the kernel counted on one socket.
type tcpCount struct{ sent, rcvd, segsOut, segsIn int64 }

// sockKey is a socket's local and remote address.
type sockKey struct{ local, remote string }

// ssSnapshot reads every established TCP socket's counters.
func ssSnapshot(t *testing.T) map[sockKey]tcpCount {
	out, err := exec.Command("ss", "-tinHO", "state", "established").Output()
	if err != nil {
		t.Fatalf("ss (iproute2) is needed to count bytes on the wire: %v", err)
	}
	m := map[sockKey]tcpCount{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		var c tcpCount
		for _, kv := range f[4:] {
			k, v, ok := strings.Cut(kv, ":")
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				continue
			}
			switch k {
			case "bytes_sent":
				c.sent = n
			case "bytes_received":
				c.rcvd = n
			case "segs_out":
				c.segsOut = n
			case "segs_in":
				c.segsIn = n
			}
		}
		m[sockKey{f[2], f[3]}] = c
	}
	return m
}

func portOf(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	return addr[i+1:]
}

// meter sums the counters of one host's sockets over a window: center is its listen
// port, others the listen ports of the hosts it talks to, all the listen ports of the run.
type meter struct {
	name          string
	center        string
	others, all   map[string]bool
	first, latest map[sockKey]tcpCount
}

// mine reports whether socket k is the center's end of a connection to one of the
// others: its remote port is theirs (libp2p dials from its listen port, so inbound
// connections come from it too), and its local port is the center's or, for an
// outbound connection without port reuse, nobody's listen port. Sockets of other
// processes on the machine never match.
func (m *meter) mine(k sockKey) bool {
	lp, rp := portOf(k.local), portOf(k.remote)
	return m.others[rp] && (lp == m.center || !m.all[lp])
}

func (m *meter) sample(snap map[sockKey]tcpCount) {
	for k, c := range snap {
		if !m.mine(k) {
			continue
		}
		if _, ok := m.first[k]; !ok {
			m.first[k] = tcpCount{} // opened inside the window: all of it counts
		}
		m.latest[k] = c
	}
}

func (m *meter) begin(snap map[sockKey]tcpCount) {
	m.first, m.latest = map[sockKey]tcpCount{}, map[sockKey]tcpCount{}
	for k, c := range snap {
		if m.mine(k) {
			m.first[k], m.latest[k] = c, c
		}
	}
}

// total is the window's counts and the number of sockets seen.
func (m *meter) total() (tcpCount, int) {
	var s tcpCount
	for k, c := range m.latest {
		f := m.first[k]
		s.sent += c.sent - f.sent
		s.rcvd += c.rcvd - f.rcvd
		s.segsOut += c.segsOut - f.segsOut
		s.segsIn += c.segsIn - f.segsIn
	}
	return s, len(m.latest)
}

func tcpPort(t *testing.T, addrs []ma.Multiaddr) string {
	for _, a := range addrs {
		if p, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			return p
		}
	}
	t.Fatalf("no TCP address in %v", addrs)
	return ""
}

func idleBareHost(t *testing.T) host.Host {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2phost.New(p2phost.Config{Key: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, UserAgent: "petrel/test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestIdleTraffic(t *testing.T) {
	contacts := envInt(t, "IDLE_CONTACTS", 50)
	window := time.Duration(envInt(t, "IDLE_MINUTES", 5)) * time.Minute
	ctx := context.Background()

	// The baseline: bare hosts, the center connected to each.
	bc := idleBareHost(t)
	bares := make([]host.Host, contacts)
	for i := range bares {
		bares[i] = idleBareHost(t)
		if err := bc.Connect(ctx, peer.AddrInfo{ID: bares[i].ID(), Addrs: bares[i].Addrs()}); err != nil {
			t.Fatal(err)
		}
	}

	// The node and its contacts, default presence timers.
	nodes := startNodes(t, contacts+1, nil)
	center, rest := nodes[0], nodes[1:]
	s := socket(t, center)
	var mu sync.Mutex
	online := map[string]bool{}
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	go func() {
		for {
			f, err := s.Read(readCtx)
			if err != nil {
				return
			}
			var lf liveFrame
			if json.Unmarshal(f.Raw, &lf) == nil && lf.Type == "presence" {
				mu.Lock()
				online[lf.UserID] = lf.State == "online"
				mu.Unlock()
			}
		}
	}()
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, n := range rest {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			befriend(t, center, n)
			befriend(t, n, center)
		})
	}
	wg.Wait()
	uids := make([]string, len(rest))
	for i, n := range rest {
		uids[i] = userID(t, n)
	}
	countOnline := func() int {
		mu.Lock()
		defer mu.Unlock()
		k := 0
		for _, u := range uids {
			if online[u] {
				k++
			}
		}
		return k
	}
	eventually(t, "every contact online at the center", func() error {
		if k := countOnline(); k != len(uids) {
			return fmt.Errorf("%d of %d online", k, len(uids))
		}
		return nil
	})
	// Let the meeting's traffic (invites, contact requests, identify) settle.
	time.Sleep(30 * time.Second)

	listenPort := func(n *nodetest.Node) string {
		a, err := ma.NewMultiaddr(n.Info.Addrs[0])
		if err != nil {
			t.Fatal(err)
		}
		return tcpPort(t, []ma.Multiaddr{a})
	}
	pm := &meter{name: "petrel node", center: listenPort(center), others: map[string]bool{}, all: map[string]bool{}}
	for _, n := range rest {
		pm.others[listenPort(n)] = true
	}
	bm := &meter{name: "bare libp2p host", center: tcpPort(t, bc.Addrs()), others: map[string]bool{}, all: map[string]bool{}}
	for _, h := range bares {
		bm.others[tcpPort(t, h.Addrs())] = true
	}
	for _, m := range []*meter{pm, bm} {
		m.all[m.center] = true
		for p := range m.others {
			m.all[p] = true
		}
	}
	snap := ssSnapshot(t)
	pm.begin(snap)
	bm.begin(snap)
	start := time.Now()
	minOnline := len(uids)
	for time.Since(start) < window {
		time.Sleep(5 * time.Second)
		snap := ssSnapshot(t)
		pm.sample(snap)
		bm.sample(snap)
		minOnline = min(minOnline, countOnline())
	}
	elapsed := time.Since(start)
	if k := countOnline(); k != len(uids) || minOnline != len(uids) {
		t.Errorf("presence did not hold: %d of %d online at the end, %d at the least", k, len(uids), minOnline)
	}
	perHour := func(n int64) float64 { return float64(n) / elapsed.Hours() / 1000 }
	const hdr = 52 // IPv4 + TCP with timestamps, per segment
	t.Logf("idle traffic over %v, %d contacts online, bytes of TCP payload (Noise, yamux, identify, keep-alives) per hour:", elapsed.Round(time.Second), contacts)
	var ps, bs tcpCount
	for _, m := range []*meter{pm, bm} {
		c, socks := m.total()
		if m == pm {
			ps = c
		} else {
			bs = c
		}
		t.Logf("  %-17s %3d sockets  sent %8.1f KB/h  received %8.1f KB/h  sent+headers %8.1f KB/h  (%d segments out, %d in)",
			m.name, socks, perHour(c.sent), perHour(c.rcvd), perHour(c.sent+hdr*c.segsOut), c.segsOut, c.segsIn)
	}
	if bs.sent > 0 {
		t.Logf("  node / bare: sent %.2f×, per contact %.1f KB/h sent (bare %.1f)",
			float64(ps.sent)/float64(bs.sent), perHour(ps.sent)/float64(contacts), perHour(bs.sent)/float64(contacts))
	}
	if perHour(ps.sent) >= 1000 {
		t.Errorf("the node sends %.0f KB/h idle with %d contacts; goal < 1,000", perHour(ps.sent), contacts)
	}
}

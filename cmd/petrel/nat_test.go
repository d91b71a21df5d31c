//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"golang.org/x/sys/unix"
)

// natEnv makes the NAT traversal test mandatory (.ci/run sets it): without root, ip or
// iptables it fails instead of skipping.
const natEnv = "PETREL_NAT_TESTS"

// The rig's addresses. The "internet" is 11.0.0.0/24: any range works inside an isolated
// namespace, but libp2p must take these for public addresses (manet.IsPublicAddr), so no
// RFC 1918, CGNAT or TEST-NET range. Each home network is a 192.168.x.0/24 behind its router.
const (
	natRelayIP = "11.0.0.1"
	natPort    = "4001" // every node and the relay listen on this port, TCP and QUIC
)

// natHome is one home network: a router doing NAT between the internet and a LAN with one
// petrel node on it.
type natHome struct {
	name   string // alice, bob, carol
	public string // the router's internet address: what the world sees of the node
	lan    string // the LAN's /24 prefix, e.g. "192.168.1"
	// hard makes the router a symmetric ("hard") NAT: every new flow gets a random public
	// port (MASQUERADE --random-fully), so the port a peer observed is useless to another
	// peer and hole punching cannot work. An easy NAT keeps the node's source port, as
	// Linux MASQUERADE and most home routers do.
	hard bool
}

// TestReachabilityBehindNAT runs real petrel processes in Linux network namespaces, behind
// real kernel NAT (iptables MASQUERADE, conntrack, a stateful firewall that drops every
// unsolicited inbound packet):
//
//	         internet 11.0.0.0/24 (bridge, namespace "wan")
//	relay 11.0.0.1 ──┬────────────────┬────────────────┐
//	          router 11.0.0.2   router 11.0.0.3   router 11.0.0.4
//	           easy NAT          easy NAT          hard (symmetric) NAT
//	          alice 192.168.1.2 bob 192.168.2.2   carol 192.168.3.2
//
// Nobody can dial a node: each is reachable only through its home relay. The test shows
// that alice and bob, behind NATs that keep ports, are upgraded by DCUtR hole punching from
// the relayed connection to a direct TCP connection through both NATs, and that their mail
// then travels over it (the relay takes no deposit); and that carol, whose NAT defeats hole
// punching, still chats with alice both ways and is seen online by her: live signals ride
// the relay's circuit and mail goes through her mailbox at the relay.
func TestReachabilityBehindNAT(t *testing.T) {
	natGate(t)
	bin, err := exec.LookPath("petrel")
	if err != nil {
		t.Fatalf("petrel not on PATH (testscript.Main sets it up): %v", err)
	}
	start := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), what) }
	ctx := context.Background()

	rig := newNATRig(t)
	wan := rig.internet()
	homes := []natHome{
		{name: "alice", public: "11.0.0.2", lan: "192.168.1"},
		{name: "bob", public: "11.0.0.3", lan: "192.168.2"},
		{name: "carol", public: "11.0.0.4", lan: "192.168.3", hard: true},
	}
	lans := map[string]string{}
	for _, h := range homes {
		lans[h.name] = rig.home(wan, h)
	}
	phase("namespaces, routers and NAT rules are up")

	relay := newRelayProc(t, bin)
	relay.netns = wan
	relay.listen = "/ip4/" + natRelayIP + "/tcp/" + natPort
	relay.args = []string{"--listen", "/ip4/" + natRelayIP + "/udp/" + natPort + "/quic-v1"}
	relay.config = `{"mailbox": {"peer_rate": 0, "mailbox_rate": 0}, "metrics_addr": "127.0.0.1:9464"}`
	relay.start()
	relayAddr := relay.listen + "/p2p/" + relay.info.PeerID
	deposits := func() float64 { return natRelayMetric(t, wan, "petrel_relay_deposits_total") }

	logDir := t.TempDir()
	nodes := map[string]*petrelProc{}
	procs := newPetrelProcs(t, bin, logDir, "alice", "bob", "carol")
	for i, h := range homes {
		p := procs[i]
		p.netns, p.dial = lans[h.name], netnsDial(lans[h.name])
		p.listen = "/ip4/0.0.0.0/tcp/" + natPort
		p.args = []string{"--listen", "/ip4/0.0.0.0/udp/" + natPort + "/quic-v1", "--relay", relayAddr}
		// The hole punching service's debug lines are the test's evidence of an attempt.
		p.env = []string{"GOLOG_LOG_LEVEL=error,p2p-holepunch=debug"}
		nodes[h.name] = p
	}
	for _, p := range nodes {
		p.launch()
	}
	for _, p := range nodes {
		p.waitReady()
	}
	alice, bob, carol := nodes["alice"], nodes["bob"], nodes["carol"]
	phase("relay and nodes started")

	// AutoNAT: the relay dials each node back at the address it observed, the router drops
	// the dial, so the node is private; it reserves a slot at its relay and announces a
	// circuit address through it. Invites made before then would carry no way in.
	for _, p := range nodes {
		wait.For(t, p.name+" announces a circuit address through the relay", func() error {
			me, err := p.cl.Me(ctx)
			if err != nil {
				return err
			}
			for _, a := range me.Addrs {
				if strings.HasPrefix(a, relayAddr+"/p2p-circuit/") {
					return nil
				}
			}
			return fmt.Errorf("addresses %v", me.Addrs)
		})
	}
	phase("every node is private and announces a circuit address")
	// The relay sees each node as its router's address, never a LAN address: the NAT is real.
	wait.For(t, "the relay sees the nodes at their routers' addresses", func() error {
		peers, err := establishedTCP(relay.cmd.Process.Pid)
		if err != nil {
			return wait.Final(err)
		}
		for _, h := range homes {
			if !containsIP(peers, h.public) {
				return fmt.Errorf("no connection from %s (%s) among %v", h.public, h.name, peers)
			}
			// An easy NAT keeps the node's port (libp2p dials from its listening port).
			if keep := netip.MustParseAddrPort(h.public + ":" + natPort); !h.hard && !slices.Contains(peers, keep) {
				return wait.Final(fmt.Errorf("%s's router did not keep port %s: the relay sees %v", h.name, natPort, peers))
			}
		}
		for _, a := range peers {
			if strings.HasPrefix(a.Addr().String(), "192.168.") {
				return wait.Final(fmt.Errorf("the relay sees a LAN address %v: the NAT does not translate", a))
			}
		}
		return nil
	})

	// Alice and bob: both behind easy NATs.
	befriended := time.Now()
	aliceToBob, bobToAlice := befriendBoth(t, alice, bob)
	phase("alice and bob are each other's contacts")
	wait.For(t, "alice and bob hole-punch a direct connection through both NATs", func() error {
		if err := directTCP(alice, "11.0.0.3"); err != nil {
			return err
		}
		return directTCP(bob, "11.0.0.2")
	})
	phase(fmt.Sprintf("alice and bob are directly connected, %.2fs after alice first reached bob", time.Since(befriended).Seconds()))
	if line := logLine(t, alice, "hole punching with successful") + logLine(t, bob, "hole punching with successful"); line != "" {
		t.Logf("evidence: %s", line)
	} else if !logHas(t, alice, "hole punch successful") && !logHas(t, bob, "hole punch successful") {
		t.Errorf("alice and bob are directly connected, but neither log says a hole punch succeeded")
	}
	before := deposits()
	chatBothWays(t, alice, bob, aliceToBob, bobToAlice)
	phase("alice and bob chatted both ways")
	if after := deposits(); after != before {
		t.Errorf("the relay took %v deposits while alice and bob were directly connected: their mail did not ride the direct connection", after-before)
	}

	// Alice and carol: carol's NAT defeats hole punching; the relay carries everything.
	before = deposits()
	aliceToCarol, carolToAlice := befriendBoth(t, alice, carol)
	phase("alice and carol are each other's contacts")
	chatBothWays(t, alice, carol, aliceToCarol, carolToAlice)
	phase("alice and carol chatted both ways")
	if after := deposits(); after < before+2 {
		t.Errorf("the relay took %v deposits for alice's and carol's messages, want at least 2 (mail to a node reachable only through a circuit goes to its mailbox)", after-before)
	}
	wait.For(t, "carol's and alice's hole punch fails at carol's hard NAT", func() error {
		for _, p := range []*petrelProc{alice, carol} {
			if logHas(t, p, "hole punch attempt with peer failed") {
				return nil
			}
		}
		return errors.New("no failed attempt in the logs yet")
	})
	if err := directTCP(alice, "11.0.0.4"); err == nil {
		t.Errorf("alice has a direct TCP connection to carol's router: carol's NAT is not hard")
	}
	wait.For(t, "alice sees bob and carol online (carol's heartbeats ride the circuit)", func() error {
		return online(alice, aliceToBob.UserID, aliceToCarol.UserID)
	})
	phase("alice sees bob and carol online")

	for _, p := range nodes {
		p.stop()
	}
	phase("nodes stopped")
}

// natGate skips the test, loudly, when it cannot run here, or fails it when natEnv makes it
// mandatory.
func natGate(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds network namespaces and starts real petrel processes")
	}
	// A missing tool fails the test, naming it; only the missing privilege (root) or an
	// explicit natEnv=0 skips it, loudly.
	var missing []string
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			pkg := map[string]string{"ip": "iproute2", "iptables": "iptables"}[tool]
			missing = append(missing, fmt.Sprintf("%s (apt-get install %s)", tool, pkg))
		}
	}
	optOut := os.Getenv(natEnv) == "0"
	if len(missing) > 0 && !optOut {
		t.Fatalf("the NAT traversal test needs %s, not found (opt out explicitly with %s=0)", strings.Join(missing, ", "), natEnv)
	}
	if os.Geteuid() != 0 {
		if os.Getenv(natEnv) == "1" {
			t.Fatalf("%s=1 but the NAT traversal test needs root (to create network namespaces and NAT rules)", natEnv)
		}
		missing = append(missing, "root (to create network namespaces and NAT rules)")
	}
	if len(missing) == 0 && !optOut {
		return
	}
	t.Skipf("!!! SKIPPING the NAT traversal test: %s; set %s=1 to make it mandatory (CI does).", strings.Join(append(missing, "or "+natEnv+"=0"), ", "), natEnv)
}

// natRig makes network namespaces named after the test process, and deletes them when the
// test ends, pass or fail.
type natRig struct {
	t      *testing.T
	prefix string
	made   []string
}

// natNSName matches the names of the rig's namespaces: "pnat", the test process's pid, "x"
// and a random tag, then the role; so concurrent runs never collide, and a run killed before
// its cleanup leaves names that a later run recognises and removes.
var natNSName = regexp.MustCompile(`^pnat(\d+)x[0-9a-f]+-`)

func newNATRig(t *testing.T) *natRig {
	tag := make([]byte, 2)
	rand.Read(tag)
	r := &natRig{t: t, prefix: fmt.Sprintf("pnat%dx%s-", os.Getpid(), hex.EncodeToString(tag))}
	r.removeStale()
	t.Cleanup(func() {
		for i := len(r.made) - 1; i >= 0; i-- {
			if out, err := exec.Command("ip", "netns", "delete", r.made[i]).CombinedOutput(); err != nil {
				t.Errorf("delete namespace %s: %v %s", r.made[i], err, out)
			}
		}
	})
	return r
}

// removeStale deletes namespaces left by runs whose process is gone.
func (r *natRig) removeStale() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		r.t.Fatalf("ip netns list: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(line, " ")
		m := natNSName.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			r.t.Logf("removing namespace %s left by an earlier run", name)
			exec.Command("ip", "netns", "delete", name).Run()
		}
	}
}

// run runs a command and fails the test with its output if it fails.
func (r *natRig) run(args ...string) {
	r.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		r.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// in runs a command inside namespace ns.
func (r *natRig) in(ns string, args ...string) {
	r.t.Helper()
	r.run(append([]string{"ip", "netns", "exec", ns}, args...)...)
}

func (r *natRig) namespace(role string) string {
	r.t.Helper()
	ns := r.prefix + role
	r.run("ip", "netns", "add", ns)
	r.made = append(r.made, ns)
	r.run("ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

// internet makes the namespace standing for the internet: a bridge every router plugs into,
// with the relay's address on it.
func (r *natRig) internet() string {
	r.t.Helper()
	wan := r.namespace("wan")
	r.run("ip", "-n", wan, "link", "add", "br0", "type", "bridge")
	r.run("ip", "-n", wan, "addr", "add", natRelayIP+"/24", "dev", "br0")
	r.run("ip", "-n", wan, "link", "set", "br0", "up")
	return wan
}

// home makes h's router and LAN namespaces and returns the LAN's, where h's node runs.
func (r *natRig) home(wan string, h natHome) string {
	r.t.Helper()
	router, lan := r.namespace("nat-"+h.name), r.namespace("lan-"+h.name)
	// The router's uplink: "wan" in the router, its peer plugged into the internet's bridge.
	r.run("ip", "link", "add", "wan", "netns", router, "type", "veth", "peer", "name", h.name, "netns", wan)
	r.run("ip", "-n", wan, "link", "set", h.name, "master", "br0")
	r.run("ip", "-n", wan, "link", "set", h.name, "up")
	r.run("ip", "-n", router, "addr", "add", h.public+"/24", "dev", "wan")
	r.run("ip", "-n", router, "link", "set", "wan", "up")
	// The LAN: "lan" in the router, "eth0" in the node's namespace, default route via the router.
	r.run("ip", "link", "add", "lan", "netns", router, "type", "veth", "peer", "name", "eth0", "netns", lan)
	r.run("ip", "-n", router, "addr", "add", h.lan+".1/24", "dev", "lan")
	r.run("ip", "-n", router, "link", "set", "lan", "up")
	r.run("ip", "-n", lan, "addr", "add", h.lan+".2/24", "dev", "eth0")
	r.run("ip", "-n", lan, "link", "set", "eth0", "up")
	r.run("ip", "-n", lan, "route", "add", "default", "via", h.lan+".1")
	// NAT, and a firewall like a home router's: out from the LAN and replies back in;
	// nothing unsolicited from the internet reaches the router or the LAN.
	r.in(router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	masq := []string{"iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"}
	if h.hard {
		masq = append(masq, "--random-fully")
	}
	r.in(router, masq...)
	r.in(router, "iptables", "-P", "FORWARD", "DROP")
	r.in(router, "iptables", "-A", "FORWARD", "-i", "lan", "-o", "wan", "-j", "ACCEPT")
	r.in(router, "iptables", "-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
	r.in(router, "iptables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
	r.in(router, "iptables", "-A", "INPUT", "-i", "wan", "-j", "DROP")
	return lan
}

// netnsDial dials from inside network namespace ns: the nodes' APIs listen on the loopback
// of their own namespaces.
func netnsDial(ns string) localclient.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			// The thread enters ns and is never unlocked: Go ends a locked thread with its
			// goroutine, so nothing else ever runs in the namespace. The socket keeps the
			// namespace it was made in.
			runtime.LockOSThread()
			f, err := os.Open(filepath.Join("/var/run/netns", ns))
			if err != nil {
				ch <- result{nil, err}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, fmt.Errorf("setns %s: %w", ns, err)}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

// natRelayMetric reads one counter from the relay's metrics, inside namespace ns.
func natRelayMetric(t *testing.T, ns, name string) float64 {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: netnsDial(ns)}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://127.0.0.1:9464/metrics")
	if err != nil {
		t.Fatalf("relay metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("relay metrics have no %s", name)
	return 0
}

// establishedTCP returns the remote ends of the established IPv4 TCP connections in the
// network namespace of process pid (from /proc/PID/net/tcp).
func establishedTCP(pid int) ([]netip.AddrPort, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return nil, err
	}
	var out []netip.AddrPort
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[3] != "01" { // 01: ESTABLISHED
			continue
		}
		ipHex, portHex, ok := strings.Cut(f[2], ":")
		if !ok {
			return nil, fmt.Errorf("/proc/%d/net/tcp: bad address %q", pid, f[2])
		}
		ip, err1 := strconv.ParseUint(ipHex, 16, 32)
		port, err2 := strconv.ParseUint(portHex, 16, 16)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("/proc/%d/net/tcp: bad address %q", pid, f[2])
		}
		// The kernel prints the address as a number in host byte order.
		var a4 [4]byte
		binary.NativeEndian.PutUint32(a4[:], uint32(ip))
		out = append(out, netip.AddrPortFrom(netip.AddrFrom4(a4), uint16(port)))
	}
	return out, sc.Err()
}

func containsIP(conns []netip.AddrPort, ip string) bool {
	for _, c := range conns {
		if c.Addr().String() == ip {
			return true
		}
	}
	return false
}

// directTCP reports whether p has an established TCP connection to public (another home's
// router), which can only be a punched hole: the routers drop unsolicited packets.
func directTCP(p *petrelProc, public string) error {
	conns, err := establishedTCP(p.cmd.Process.Pid)
	if err != nil {
		return wait.Final(err)
	}
	if !containsIP(conns, public) {
		return fmt.Errorf("%s has no TCP connection to %s (has %v)", p.name, public, conns)
	}
	return nil
}

// logHas reports whether p's current run has logged s.
func logHas(t *testing.T, p *petrelProc, s string) bool {
	t.Helper()
	b, err := os.ReadFile(p.logPath(p.runs))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, []byte(s))
}

// logLine returns the first line of p's current log that contains s, or "".
func logLine(t *testing.T, p *petrelProc, s string) string {
	t.Helper()
	b, err := os.ReadFile(p.logPath(p.runs))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, s) {
			return p.name + ": " + line
		}
	}
	return ""
}

// befriendBoth makes a and b contacts of each other from each one's invite (201 both
// ways). The two adds run at once: adding a contact reachable only through a circuit waits
// for a direct session that cannot come (see docs/OPERATIONS.md, Reachability).
func befriendBoth(t *testing.T, a, b *petrelProc) (aToB, bToA api.Contact) {
	t.Helper()
	ctx := context.Background()
	invite := func(p *petrelProc) string {
		inv, err := p.cl.CreateInvite(ctx)
		if err != nil {
			t.Fatalf("%s creates an invite: %v", p.name, err)
		}
		return inv.Link
	}
	toA, toB := invite(a), invite(b)
	var errs [2]error
	add := func(from *petrelProc, to, link string, c *api.Contact, err *error) {
		if status, e := from.cl.DoStatus(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: link}, c); e != nil || status != 201 {
			*err = fmt.Errorf("%s adds %s: %d %v", from.name, to, status, e)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { add(a, b.name, toB, &aToB, &errs[0]) })
	wg.Go(func() { add(b, a.name, toA, &bToA, &errs[1]) })
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}
	return aToB, bToA
}

// chatBothWays sends one message each way and waits until each has arrived and its sender
// sees it delivered.
func chatBothWays(t *testing.T, a, b *petrelProc, aToB, bToA api.Contact) {
	t.Helper()
	ctx := context.Background()
	send := func(from, to *petrelProc, c api.Contact) string {
		body := fmt.Sprintf("%s from %s to %s behind NAT", crashMarker, from.name, to.name)
		if _, err := from.cl.Send(ctx, c.ConversationID, from.name+"-"+to.name, body); err != nil {
			t.Fatalf("%s sends to %s: %v", from.name, to.name, err)
		}
		return body
	}
	wait := func(from, to *petrelProc, c api.Contact, body string) {
		wait.For(t, from.name+"'s message reaches "+to.name+" and is delivered", func() error {
			got, err := history(to.cl, c.ConversationID)
			if err != nil {
				return err
			}
			if !slicesContainsBody(got, body) {
				return fmt.Errorf("%s has %d messages, not this one yet", to.name, len(got))
			}
			sent, err := history(from.cl, c.ConversationID)
			if err != nil {
				return err
			}
			for _, m := range sent {
				if m.Body == body && m.Status != api.StatusDelivered && m.Status != api.StatusRead {
					return fmt.Errorf("%s sees it %s", from.name, m.Status)
				}
			}
			return nil
		})
	}
	ab, ba := send(a, b, aToB), send(b, a, bToA)
	wait(a, b, aToB, ab)
	wait(b, a, bToA, ba)
}

func slicesContainsBody(ms []api.Message, body string) bool {
	for _, m := range ms {
		if m.Body == body {
			return true
		}
	}
	return false
}

// online opens p's socket and reports an error unless every user in users is online in
// the presence snapshot that follows "synced".
func online(p *petrelProc, users ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, _, err := p.cl.Dial(ctx, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Send(map[string]any{"type": "hello", "since": 1 << 62}); err != nil {
		return err
	}
	seen := map[string]bool{}
	synced := false
	for {
		f, err := s.Read(ctx)
		if err != nil {
			break // the snapshot follows synced at once; the deadline ends the read
		}
		switch f.Type {
		case "synced":
			synced = true
		case "presence":
			var pr struct {
				UserID string `json:"user_id"`
				State  string `json:"state"`
			}
			if err := json.Unmarshal(f.Raw, &pr); err == nil && pr.State == "online" {
				seen[pr.UserID] = true
			}
		}
		if synced && len(seen) >= len(users) {
			break
		}
	}
	for _, u := range users {
		if !seen[u] {
			return fmt.Errorf("%s does not see %s online (synced %v, online %v)", p.name, u, synced, seen)
		}
	}
	return nil
}

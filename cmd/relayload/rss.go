package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/petrel-chat/petrel/internal/barehost"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	manet "github.com/multiformats/go-multiaddr/net"
)

// serveBare runs the memory baseline: a bare libp2p host (TCP, Noise, Yamux with libp2p's
// defaults, no resource limits, no services of its own, a connection manager whose
// watermarks are above n so it keeps every connection). It prints "listening ADDR" and
// serves until its stdin closes.
func serveBare(n int) error {
	h, err := barehost.New(n)
	if err != nil {
		return err
	}
	defer h.Close()
	fmt.Printf("listening %s\n", barehost.Addr(h))
	_, err = io.Copy(io.Discard, os.Stdin)
	return err
}

// server is one fresh server process of an RSS comparison.
type server struct {
	cmd  *exec.Cmd
	addr string
	stop func() error
}

// startRelay runs `petrel relay` with its default configuration on a fresh data directory.
func startRelay(petrel, dir string) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logf, err := os.Create(filepath.Join(dir, "relay.log"))
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(petrel, "relay", "--data", data, "--listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logf.Close() }()
	s := &server{cmd: cmd, stop: func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		return <-done
	}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var info struct {
			PeerID string `json:"peer_id"`
		}
		if b, err := os.ReadFile(filepath.Join(data, "relay.json")); err == nil && json.Unmarshal(b, &info) == nil && info.PeerID != "" {
			s.addr = fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, info.PeerID)
			return s, nil
		}
		select {
		case err := <-done:
			return nil, fmt.Errorf("petrel relay exited (log in %s): %v", logf.Name(), err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("petrel relay wrote no relay.json within 60 s")
		}
	}
}

// startBare runs this binary's -serve-bare.
func startBare(n int) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-serve-bare", "-n", strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, stop: func() error { stdin.Close(); return cmd.Wait() }}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		s.stop()
		return nil, fmt.Errorf("bare host said %q: %v", line, err)
	}
	s.addr = addr
	return s, nil
}

// vmRSS reads a process's resident set size in bytes.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// rssCompare measures what n idle nodes cost in RSS: a fresh `petrel relay` (default
// configuration) and a fresh bare libp2p host, in turn, rounds times; the RSS of each is
// read before the connections and after they have been idle for settle, per connection
// still open, and the relay's ratio to the bare host is printed.
func rssCompare(petrel string, n, conc, sources, rounds int, settle time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum := map[string]float64{}
	for round := 1; round <= rounds; round++ {
		for _, kind := range []string{"relay", "bare"} {
			per, err := measureOne(ctx, kind, petrel, n, conc, sources, settle)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round, kind, err)
			}
			fmt.Printf("round %d, %s: %.1f KB RSS per idle node\n", round, kind, per/1024)
			sum[kind] += per
		}
	}
	r, b := sum["relay"]/float64(rounds), sum["bare"]/float64(rounds)
	fmt.Printf("result: %d idle nodes, relay %.1f KB, bare host %.1f KB RSS per node: %.3f× (goal ≤ 1.1×)\n", n, r/1024, b/1024, r/b)
	return nil
}

func measureOne(ctx context.Context, kind, petrel string, n, conc, sources int, settle time.Duration) (float64, error) {
	var s *server
	var err error
	if kind == "relay" {
		dir, derr := os.MkdirTemp("", "relayload-rss")
		if derr != nil {
			return 0, derr
		}
		defer os.RemoveAll(dir)
		s, err = startRelay(petrel, dir)
	} else {
		s, err = startBare(n)
	}
	if err != nil {
		return 0, err
	}
	defer s.stop()
	ai, err := peer.AddrInfoFromString(s.addr)
	if err != nil {
		return 0, err
	}
	target, err := manet.ToNetAddr(ai.Addrs[0])
	if err != nil {
		return 0, err
	}
	time.Sleep(2 * time.Second) // the server's own start-up settles
	rss0, err := vmRSS(s.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	conns := openConns(ctx, target, ai.ID, n, conc, sources)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(settle):
	}
	rss1, err := vmRSS(s.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	alive := 0
	for _, c := range conns {
		if !c.IsClosed() {
			alive++
		}
	}
	if alive < n*9/10 {
		return 0, fmt.Errorf("only %d of %d connections open after %v", alive, n, settle)
	}
	fmt.Printf("%s: RSS %d → %d MB with %d idle nodes\n", kind, rss0>>20, rss1>>20, alive)
	return float64(rss1-rss0) / float64(alive), nil
}

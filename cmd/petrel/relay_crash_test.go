package main

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// relayProc is a real `petrel relay` process on a fixed loopback port.
type relayProc struct {
	t        *testing.T
	bin, dir string
	logDir   string
	listen   string
	runs     int
	netns    string   // if set, the network namespace the relay runs in (nat_test.go)
	args     []string // extra flags for relay (e.g. more --listen)
	config   string   // the config file's JSON; empty: rates off
	cmd      *exec.Cmd
	done     chan struct{}
	info     struct {
		PeerID  string `json:"peer_id"`
		Addrs   []string
		Metrics string `json:"metrics"`
	}
}

func newRelayProc(t *testing.T, bin string) *relayProc {
	r := &relayProc{t: t, bin: bin, dir: t.TempDir(), logDir: t.TempDir(),
		listen: "/ip4/127.0.0.1/tcp/" + strconv.Itoa(freePort(t))}
	t.Cleanup(func() {
		if r.running() {
			r.cmd.Process.Kill()
			<-r.done
		}
		for run := 1; run <= r.runs; run++ {
			b, _ := os.ReadFile(filepath.Join(r.logDir, fmt.Sprintf("relay-%d.log", run)))
			if t.Failed() {
				t.Logf("=== relay run %d ===\n%s", run, b)
			}
		}
	})
	return r
}

func (r *relayProc) running() bool {
	if r.cmd == nil {
		return false
	}
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

func (r *relayProc) start() {
	r.t.Helper()
	r.launch()
	r.waitReady()
}

// launch starts the process without waiting for it to be ready (the processes of a new
// cluster wait for each other).
func (r *relayProc) launch() {
	r.t.Helper()
	infoPath := filepath.Join(r.dir, "relay.json")
	if err := os.Remove(infoPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.t.Fatal(err)
	}
	r.runs++
	logf, err := os.Create(filepath.Join(r.logDir, fmt.Sprintf("relay-%d.log", r.runs)))
	if err != nil {
		r.t.Fatal(err)
	}
	// Rates off: this test is about durability, and a refused deposit would end a depositor.
	cfgPath := filepath.Join(r.logDir, "relay-config.json")
	cfg := r.config
	if cfg == "" {
		cfg = `{"mailbox": {"peer_rate": 0, "mailbox_rate": 0}}`
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		r.t.Fatal(err)
	}
	args := append([]string{"relay", "--data", r.dir, "--listen", r.listen, "--config", cfgPath}, r.args...)
	cmd := exec.Command(r.bin, args...)
	if r.netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", r.netns, r.bin}, args...)...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	r.cmd, r.done = cmd, done
}

// waitReady waits for relay.json.
func (r *relayProc) waitReady() {
	r.t.Helper()
	infoPath := filepath.Join(r.dir, "relay.json")
	cmd := r.cmd
	wait.For(r.t, "relay writes relay.json", func() error {
		if !r.running() {
			return wait.Final(fmt.Errorf("relay exited: %v", cmd.ProcessState))
		}
		b, err := os.ReadFile(infoPath)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &r.info)
	})
}

func (r *relayProc) kill() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		r.t.Fatal(err)
	}
	<-r.done
}

func (r *relayProc) addrInfo() peer.AddrInfo {
	r.t.Helper()
	ai, err := peer.AddrInfoFromString(r.info.Addrs[0])
	if err != nil {
		r.t.Fatal(err)
	}
	return *ai
}

func newClientHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New), libp2p.Muxer(yamux.ID, yamux.DefaultTransport), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestRelaySIGKILLLosesNoAcknowledgedDeposit runs `petrel relay` as a real process, has
// four depositors pipeline sealed envelopes into one mailbox, and SIGKILLs the relay in the
// middle of the burst. After a restart on the same data directory every deposit the relay
// acknowledged is there exactly once, each depositor's in the order it sent them; and no
// plaintext is in the relay's data directory.
func TestRelaySIGKILLLosesNoAcknowledgedDeposit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a real petrel relay")
	}
	bin, err := exec.LookPath("petrel")
	if err != nil {
		t.Fatalf("petrel not on PATH (testscript.Main sets it up): %v", err)
	}
	r := newRelayProc(t, bin)
	r.start()
	ctx := context.Background()
	owner := newClientHost(t)
	if err := owner.Connect(ctx, r.addrInfo()); err != nil {
		t.Fatal(err)
	}
	bob, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	relayID := r.addrInfo().ID
	if err := mailboxclient.Register(ctx, owner, relayID, bob); err != nil {
		t.Fatal(err)
	}
	mb := relaywire.MailboxID(bob.Public())
	bobDH, _ := ecdh.X25519().GenerateKey(rand.Reader)
	_, signer, _ := ed25519.GenerateKey(rand.Reader)
	senderDH, _ := ecdh.X25519().GenerateKey(rand.Reader)

	const depositors, batch = 4, 25
	var mu sync.Mutex
	acked := map[string]bool{} // payloads the relay acknowledged
	total := 0
	var wg sync.WaitGroup
	for d := range depositors {
		h := newClientHost(t)
		if err := h.Connect(ctx, r.addrInfo()); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for round := 0; ; round++ {
				envs := make([]mailboxclient.Envelope, batch)
				payloads := make([]string, batch)
				for i := range envs {
					payloads[i] = fmt.Sprintf("crash-relay-body d%d #%06d", d, round*batch+i)
					env, err := sealed.Seal(mb, bobDH.PublicKey(), signer, senderDH.PublicKey(), []byte(payloads[i]))
					if err != nil {
						t.Error(err)
						return
					}
					envs[i] = mailboxclient.Envelope{Mailbox: mb, Envelope: env}
				}
				errs, _ := mailboxclient.DepositBatch(ctx, h, relayID, envs)
				mu.Lock()
				stop := false
				for i, e := range errs {
					if e == nil {
						acked[payloads[i]] = true
						total++
					} else {
						stop = true
					}
				}
				mu.Unlock()
				if stop || errs == nil {
					return
				}
			}
		})
	}
	wait.For(t, "the relay acknowledges 1,000 deposits", func() error {
		mu.Lock()
		defer mu.Unlock()
		if total < 1000 {
			return fmt.Errorf("%d acknowledged", total)
		}
		return nil
	})
	r.kill()
	wg.Wait()
	t.Logf("SIGKILL after %d acknowledged deposits", len(acked))

	r.start()
	owner2 := newClientHost(t)
	if err := owner2.Connect(ctx, r.addrInfo()); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	last := map[string]string{} // depositor → last payload seen
	var got int
	_, err = mailboxclient.Drain(ctx, owner2, relayID, bob, 500, func(mail []mailboxclient.Mail) error {
		for _, m := range mail {
			o, err := sealed.Open(m.Envelope, bobDH)
			if err != nil {
				return err
			}
			p := string(o.Payload)
			seen[p]++
			got++
			d := p[:len("crash-relay-body d0")]
			if p <= last[d] {
				t.Errorf("%q after %q: a depositor's order was lost", p, last[d])
			}
			last[d] = p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range acked {
		if seen[p] != 1 {
			t.Errorf("acknowledged %q seen %d times after the restart", p, seen[p])
		}
	}
	for p, n := range seen {
		if n != 1 {
			t.Errorf("%q seen %d times", p, n)
		}
	}
	t.Logf("after restart the mailbox held %d messages: %d acknowledged + %d in flight at the kill", got, len(acked), got-len(acked))
	r.cmd.Process.Signal(syscall.SIGTERM)
	<-r.done
	if code := r.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("relay exited %d after SIGTERM", code)
	}
	nodetest.NoPlaintext(t, r.dir, "crash-relay-body")
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

const (
	// crashPassphrase unlocks both nodes; it must never appear in their data directories.
	crashPassphrase = "sigkill test passphrase, long and unmistakable 7f3a"
	// crashMarker is in every message body, so one scan for it finds any plaintext body.
	crashMarker = "crash-body-9d41e0"
	// eventuallyWithin bounds a wait for a process to exit: generous, and never asserted
	// as a time (conditions are polled with node/nodetest/wait).
	eventuallyWithin = 60 * time.Second
)

// TestSIGKILLMidBurstDeliversEveryAckedMessageOnce runs alice and bob as real petrel
// processes on fixed loopback ports and SIGKILLs each of them in the middle of a burst of
// sends. Persist first, deliver second (node/messenger) promises that every send the API
// acknowledged survives the kill and reaches the other side exactly once, in the same order
// on both nodes, and that a repeated client_msg_id still returns the original message.
func TestSIGKILLMidBurstDeliversEveryAckedMessageOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills real petrel processes")
	}
	// TestMain (testscript.Main) put this test binary on PATH as "petrel": the same binary
	// the txtar scripts run, built with this test's flags (-race included).
	bin, err := exec.LookPath("petrel")
	if err != nil {
		t.Fatalf("petrel not on PATH (testscript.Main sets it up): %v", err)
	}
	logDir := t.TempDir()
	alice := newPetrelProc(t, bin, "alice", logDir)
	bob := newPetrelProc(t, bin, "bob", logDir)
	alice.start()
	bob.start()
	ctx := context.Background()

	inv, err := bob.cl.CreateInvite(ctx)
	if err != nil {
		t.Fatalf("bob creates an invite: %v", err)
	}
	var bobAtAlice api.Contact
	if status, err := alice.cl.DoStatus(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv.Link}, &bobAtAlice); err != nil || status != 201 {
		t.Fatalf("alice adds bob: %d %v", status, err)
	}
	conv := bobAtAlice.ConversationID
	if conv == "" {
		t.Fatalf("contact without a conversation: %+v", bobAtAlice)
	}

	// Scenario A: the sender dies. Alice sends one message after another; once 100 are
	// acknowledged she is SIGKILLed, with a send most likely in flight.
	burstA := startBurst(alice.cl, conv, "a", 1_000_000)
	wait.For(t, "alice acknowledges 100 sends", func() error {
		if n := burstA.ackedCount(); n < 100 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})
	alice.kill()
	<-burstA.done
	ackedA, errA := burstA.result()
	var apiErr *localclient.APIError
	if errA == nil || errors.As(errA, &apiErr) {
		t.Fatalf("the burst to alice ended with %v, want a connection error from the kill", errA)
	}
	t.Logf("scenario A: %d sends acknowledged before SIGKILL; the next one failed with: %v", len(ackedA), errA)
	alice.start()

	// Every acknowledged send survived, once, in send order; the one in flight at the kill
	// may or may not have been stored, but nothing else.
	aliceHist, err := history(alice.cl, conv)
	if err != nil {
		t.Fatalf("alice's history after restart: %v", err)
	}
	checkSenderHistory(t, "alice after SIGKILL", aliceHist, ackedA, len(ackedA)+1)
	t.Logf("scenario A: alice's history after restart holds %d messages (the send in flight was %s)",
		len(aliceHist), map[bool]string{true: "stored", false: "not stored"}[len(aliceHist) > len(ackedA)])

	// A repeat of an acknowledged client_msg_id returns the original message with 200.
	for _, i := range []int{0, len(ackedA) / 2, len(ackedA) - 1} {
		want := ackedA[i]
		var got api.Message
		status, err := alice.cl.DoStatus(ctx, "POST", "/v1/conversations/"+conv+"/messages",
			api.SendRequest{ClientMsgID: want.ClientMsgID, Body: want.Body}, &got)
		if err != nil || status != 200 || got.ID != want.ID || got.Body != want.Body {
			t.Errorf("re-send of %s after restart: status %d, err %v, id %s (want 200 and %s)",
				want.ClientMsgID, status, err, got.ID, want.ID)
		}
	}
	waitSameHistory(t, "scenario A", alice, bob, conv, false)

	// Scenario B: the receiver dies. Alice sends a burst; once bob has taken part of it he
	// is SIGKILLed; alice goes on sending into her outbox while he is down, then he restarts.
	const burstBLen = 300
	burstB := startBurst(alice.cl, conv, "b", burstBLen)
	wait.For(t, "bob receives the start of burst B", func() error {
		p, err := bob.cl.Messages(ctx, conv, "", "", 1)
		if err != nil {
			return err
		}
		if len(p.Messages) == 0 || !strings.HasPrefix(p.Messages[0].Body, crashMarker+" b") {
			return errors.New("no message of burst B yet")
		}
		if n := burstB.ackedCount(); n < 50 {
			return fmt.Errorf("alice acknowledged %d", n)
		}
		return nil
	})
	atKill := burstB.ackedCount()
	bob.kill()
	atBob := 0
	if h, err := history(alice.cl, conv); err == nil {
		for _, m := range h {
			if strings.HasPrefix(m.ClientMsgID, "b") && (m.Status == api.StatusDelivered || m.Status == api.StatusRead) {
				atBob++
			}
		}
	}
	if atKill >= burstBLen {
		t.Logf("scenario B: the burst was complete when bob was killed; delivery may have been too")
	}
	wait.For(t, "alice queues sends while bob is down", func() error {
		select {
		case <-burstB.done:
			return nil
		default:
		}
		if n := burstB.ackedCount(); n < atKill+50 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})
	bob.start()
	<-burstB.done
	ackedB, errB := burstB.result()
	if errB != nil || len(ackedB) != burstBLen {
		t.Fatalf("burst B: %d of %d acknowledged, error %v", len(ackedB), burstBLen, errB)
	}
	t.Logf("scenario B: bob SIGKILLed after %d of %d sends were acknowledged (about %d already delivered)", atKill, burstBLen, atBob)

	aliceHist, err = history(alice.cl, conv)
	if err != nil {
		t.Fatal(err)
	}
	checkSenderHistory(t, "alice after burst B", aliceHist, append(append([]api.Message{}, ackedA...), ackedB...), len(ackedA)+1+burstBLen)
	waitSameHistory(t, "scenario B", alice, bob, conv, true)

	// Both stop cleanly; nothing they wrote holds a message body or the passphrase.
	alice.stop()
	bob.stop()
	for _, p := range []*petrelProc{alice, bob} {
		nodetest.NoPlaintext(t, p.dir, crashMarker, crashPassphrase)
	}
}

// petrelProc is one node's data directory and the `petrel run` process serving it, on a
// libp2p port fixed for the test so its contact finds it again after a restart.
type petrelProc struct {
	t      *testing.T
	bin    string
	name   string
	dir    string
	logDir string
	listen string
	args   []string // extra flags for run (e.g. --relay)
	runs   int
	// netns, if set, is the network namespace the node runs in (`ip netns exec`), and dial
	// reaches its API's loopback there (nat_test.go).
	netns string
	dial  localclient.DialFunc
	env   []string // extra environment for run

	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has exited
	cl   *localclient.Client
}

// newPetrelProc runs `petrel init` for name and returns the node, not yet running. The test's
// end kills whatever process is left, and a failed test shows the logs.
func newPetrelProc(t *testing.T, bin, name, logDir string) *petrelProc {
	t.Helper()
	return newPetrelProcs(t, bin, logDir, name)[0]
}

// newPetrelProcs is newPetrelProc for several nodes at once: their inits run in parallel
// (Argon2id is slow under the race detector).
func newPetrelProcs(t *testing.T, bin, logDir string, names ...string) []*petrelProc {
	t.Helper()
	ps := make([]*petrelProc, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		p := &petrelProc{
			t: t, bin: bin, name: name, dir: t.TempDir(), logDir: logDir,
			listen: "/ip4/127.0.0.1/tcp/" + strconv.Itoa(freePort(t)),
		}
		ps[i] = p
		wg.Go(func() {
			if out, err := p.command("init", "--data", p.dir, "--name", name).CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("petrel init %s: %v\n%s", name, err, out)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		t.Cleanup(func() {
			if p.running() {
				p.cmd.Process.Kill()
				<-p.done
			}
			p.checkLogs()
		})
	}
	return ps
}

func (p *petrelProc) command(args ...string) *exec.Cmd {
	cmd := exec.Command(p.bin, args...)
	if p.netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", p.netns, p.bin}, args...)...)
	}
	cmd.Env = append(os.Environ(), "PETREL_PASSPHRASE="+crashPassphrase)
	return cmd
}

// start runs the node and waits for its api.json. A SIGKILLed run leaves a stale api.json
// behind (naming a dead port), so it is removed first.
func (p *petrelProc) start() {
	p.t.Helper()
	p.launch()
	p.waitReady()
}

// launch starts the node's process without waiting for it to be ready.
func (p *petrelProc) launch() {
	p.t.Helper()
	apiPath := filepath.Join(p.dir, "api.json")
	if err := os.Remove(apiPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		p.t.Fatal(err)
	}
	p.runs++
	logf, err := os.Create(p.logPath(p.runs))
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := p.command(append([]string{"run", "--data", p.dir, "--api", "127.0.0.1:0", "--listen", p.listen}, p.args...)...)
	cmd.Env = append(cmd.Env, p.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
}

// waitReady waits for the launched node's api.json and makes its client.
func (p *petrelProc) waitReady() {
	p.t.Helper()
	apiPath := filepath.Join(p.dir, "api.json")
	wait.For(p.t, p.name+" writes api.json", func() error {
		if !p.running() {
			return wait.Final(fmt.Errorf("%s exited: %v", p.name, p.cmd.ProcessState))
		}
		info, err := localclient.ReadInfo(apiPath)
		if err != nil {
			return err
		}
		p.cl = localclient.New(info.URL, info.Token)
		if p.dial != nil {
			p.cl = localclient.NewWithDial(info.URL, info.Token, p.dial)
		}
		return nil
	})
}

// kill SIGKILLs the node and waits for the process to be gone.
func (p *petrelProc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("SIGKILL %s: %v", p.name, err)
	}
	p.wait("SIGKILL")
}

// stop shuts the node down with SIGTERM and expects a clean exit.
func (p *petrelProc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	p.wait("SIGTERM")
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Errorf("%s exited with %d after SIGTERM", p.name, code)
	}
}

func (p *petrelProc) wait(after string) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(eventuallyWithin):
		p.t.Fatalf("%s still running %v after %s", p.name, eventuallyWithin, after)
	}
}

func (p *petrelProc) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *petrelProc) logPath(run int) string {
	return filepath.Join(p.logDir, fmt.Sprintf("%s-%d.log", p.name, run))
}

// checkLogs fails the test on a data race reported by a (race-enabled) node, and shows the
// logs of a failed test.
func (p *petrelProc) checkLogs() {
	for run := 1; run <= p.runs; run++ {
		b, err := os.ReadFile(p.logPath(run))
		if err != nil {
			p.t.Errorf("%s run %d: %v", p.name, run, err)
			continue
		}
		if bytes.Contains(b, []byte("WARNING: DATA RACE")) {
			p.t.Errorf("%s run %d reported a data race", p.name, run)
		}
		if p.t.Failed() {
			const keep = 16 << 10
			if len(b) > keep {
				b = append([]byte("...\n"), b[len(b)-keep:]...)
			}
			p.t.Logf("=== %s run %d log (%s) ===\n%s", p.name, run, p.logPath(run), b)
		}
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// burst sends messages one after another from a goroutine and records exactly which sends
// were acknowledged (201), in send order.
type burst struct {
	done chan struct{}

	mu    sync.Mutex
	acked []api.Message
	err   error // what ended the burst early, if anything
}

// startBurst sends up to n messages with client_msg_id prefix+i and stops at the first
// answer that is not 201.
func startBurst(cl *localclient.Client, conv, prefix string, n int) *burst {
	b := &burst{done: make(chan struct{})}
	go func() {
		defer close(b.done)
		for i := 0; i < n; i++ {
			id := prefix + strconv.Itoa(i)
			req := api.SendRequest{ClientMsgID: id, Body: crashBody(id)}
			var m api.Message
			status, err := cl.DoStatus(context.Background(), "POST", "/v1/conversations/"+conv+"/messages", req, &m)
			if err == nil && status != 201 {
				err = fmt.Errorf("send %s: status %d, want 201", id, status)
			}
			if err == nil && (m.ClientMsgID != id || m.Body != req.Body || m.ID == "") {
				err = fmt.Errorf("send %s: answer %+v", id, m)
			}
			b.mu.Lock()
			if err != nil {
				b.err = err
				b.mu.Unlock()
				return
			}
			b.acked = append(b.acked, m)
			b.mu.Unlock()
		}
	}()
	return b
}

func crashBody(clientMsgID string) string {
	return crashMarker + " " + clientMsgID + " from alice, sent in a burst"
}

func (b *burst) ackedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.acked)
}

func (b *burst) result() ([]api.Message, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]api.Message(nil), b.acked...), b.err
}

// checkSenderHistory checks the sender's own history: every acknowledged message exactly
// once with its id and body, no client_msg_id twice, and nothing but the messages of the
// bursts, in send order. At most maxLen messages: the acknowledged ones plus any send in
// flight at a kill.
func checkSenderHistory(t *testing.T, what string, hist, acked []api.Message, maxLen int) {
	t.Helper()
	if err := duplicates(hist); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(hist) > maxLen {
		t.Errorf("%s: %d messages, want at most %d", what, len(hist), maxLen)
	}
	byClient := map[string]api.Message{}
	for _, m := range hist {
		byClient[m.ClientMsgID] = m
		if m.Body != crashBody(m.ClientMsgID) {
			t.Errorf("%s: message %s (%s) has body %q", what, m.ID, m.ClientMsgID, m.Body)
		}
	}
	for _, a := range acked {
		m, ok := byClient[a.ClientMsgID]
		if !ok {
			t.Errorf("%s: acknowledged %s (%s) is missing", what, a.ClientMsgID, a.ID)
			continue
		}
		if m.ID != a.ID || m.Body != a.Body {
			t.Errorf("%s: %s is %s %q, was acknowledged as %s %q", what, a.ClientMsgID, m.ID, m.Body, a.ID, a.Body)
		}
	}
	// Sends one after another from one node: history order is send order.
	for i := 1; i < len(hist); i++ {
		if sendRank(hist[i-1].ClientMsgID) >= sendRank(hist[i].ClientMsgID) {
			t.Errorf("%s: %s is ordered before %s", what, hist[i-1].ClientMsgID, hist[i].ClientMsgID)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// sendRank orders the bursts' client_msg_ids as they were sent: a0, a1, …, then b0, b1, ….
func sendRank(clientMsgID string) int {
	i, _ := strconv.Atoi(clientMsgID[1:])
	if strings.HasPrefix(clientMsgID, "b") {
		i += 1 << 30
	}
	return i
}

// waitSameHistory waits until bob's history is alice's, message for message (id, body,
// order), with no duplicate ever; with delivered, also until alice sees every message
// delivered.
func waitSameHistory(t *testing.T, what string, alice, bob *petrelProc, conv string, delivered bool) {
	t.Helper()
	wait.For(t, what+": bob has alice's history", func() error {
		a, err := history(alice.cl, conv)
		if err != nil {
			return err
		}
		b, err := history(bob.cl, conv)
		if err != nil {
			return err
		}
		if err := duplicates(b); err != nil {
			return wait.Final(fmt.Errorf("bob: %w", err))
		}
		if err := sameHistory(a, b); err != nil {
			return err
		}
		if delivered {
			for _, m := range a {
				if m.Status != api.StatusDelivered && m.Status != api.StatusRead {
					return fmt.Errorf("alice's %s is %s", m.ClientMsgID, m.Status)
				}
			}
		}
		return nil
	})
}

// sameHistory reports how b differs from a.
func sameHistory(a, b []api.Message) error {
	inB := map[string]bool{}
	for _, m := range b {
		inB[m.ID] = true
	}
	var missing []string
	for _, m := range a {
		if !inB[m.ID] {
			missing = append(missing, m.ClientMsgID)
		}
	}
	if len(missing) > 0 {
		if len(missing) > 10 {
			missing = append(missing[:10], "…")
		}
		return fmt.Errorf("bob has %d of alice's %d messages; missing %s", len(b), len(a), strings.Join(missing, " "))
	}
	if len(a) != len(b) {
		return wait.Final(fmt.Errorf("bob has %d messages, alice %d", len(b), len(a)))
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Body != b[i].Body || a[i].Order != b[i].Order {
			return wait.Final(fmt.Errorf("message %d: alice has %s %q order %s, bob %s %q order %s",
				i, a[i].ID, a[i].Body, a[i].Order, b[i].ID, b[i].Body, b[i].Order))
		}
	}
	return nil
}

// duplicates reports a message id or body that occurs twice.
func duplicates(hist []api.Message) error {
	ids, bodies := map[string]bool{}, map[string]bool{}
	for _, m := range hist {
		if ids[m.ID] || bodies[m.Body] {
			return fmt.Errorf("%s %q (%s) is in the history twice", m.ID, m.Body, m.ClientMsgID)
		}
		ids[m.ID], bodies[m.Body] = true, true
	}
	return nil
}

// history pages a conversation backwards from its newest page and returns it in order.
func history(cl *localclient.Client, conv string) ([]api.Message, error) {
	var all []api.Message
	before := ""
	for {
		p, err := cl.Messages(context.Background(), conv, before, "", 200)
		if err != nil {
			return nil, err
		}
		all = append(p.Messages, all...)
		if !p.HasMore || len(p.Messages) == 0 {
			return all, nil
		}
		before = p.Messages[0].ID
	}
}

package relayserver_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/pushbridge/bridge"
	"github.com/petrel-chat/petrel/pushbridge/pushtest"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relayserver"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// BenchmarkDepositToPush: the time from a deposit leaving the depositor to its push reaching
// a local UnifiedPush receiver, p50 and p99 over sequential deposits (each for another owner,
// so none coalesces), through a real relay on loopback; beside the deposit's own round trip
// (until the relay's durable answer) and a bare HTTP POST of a push-sized body to the same
// receiver.
func BenchmarkDepositToPush(b *testing.B) {
	const owners = 200
	arrived := make(chan struct{}, 1)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			io.WriteString(w, `{"unifiedpush":{"version":1}}`)
			return
		}
		io.Copy(io.Discard, r.Body)
		if !strings.HasSuffix(r.URL.Path, "/bare") {
			arrived <- struct{}{}
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer recv.Close()
	cfg := testConfig()
	cfg.Mailbox.PeerRate, cfg.Mailbox.MailboxRate = 0, 0
	cfg.Registration.Rate = 0
	// A short window: each owner's next deposit (one round later) is past it, so every
	// deposit pushes at once (coalescing is measured in the tests, not here).
	cfg.Push = &relayserver.PushConfig{AllowPrivateEndpoints: true, MinInterval: relayserver.Duration(time.Millisecond)}
	r := startRelay(b, cfg)
	h := newNode(b, r)
	keys, _ := pushtest.NewSubscription()
	var users []user
	for i := range owners {
		u := newUser(b)
		register(b, h, r, u)
		reg := mailboxclient.PushRegistration{ID: [16]byte{1}, Reg: relaywire.PushRegistration{
			Kind: relaywire.PushKindUnifiedPush, Address: recv.URL + "/up/" + strconv.Itoa(i),
			P256dh: keys.P256dh(), Auth: keys.Auth}}
		if _, err := mailboxclient.SyncPush(context.Background(), h, r.id(), u.id, mailboxclient.PushSync{Register: []mailboxclient.PushRegistration{reg}}); err != nil {
			b.Fatal(err)
		}
		users = append(users, u)
	}
	alice := newUser(b)
	client := bridge.GuardedClient(true, 10*time.Second)
	body := bytes.Repeat([]byte{1}, bridge.RecordSize)
	var push, dep, bare []time.Duration
	for b.Loop() {
		push, dep, bare = push[:0], dep[:0], bare[:0]
		for _, u := range users {
			env, err := sealed.SealFrom(u.mb, u.id.Public(), alice.id, []byte("hello"))
			if err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			if err := mailboxclient.Deposit(context.Background(), h, r.id(), u.mb, env); err != nil {
				b.Fatal(err)
			}
			dep = append(dep, time.Since(t0))
			select {
			case <-arrived:
			case <-time.After(time.Minute):
				b.Fatal("no push within a minute")
			}
			push = append(push, time.Since(t0))

			t0 = time.Now()
			resp, err := client.Post(recv.URL+"/bare", "application/octet-stream", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			bare = append(bare, time.Since(t0))
		}
	}
	pct := func(d []time.Duration, p int) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[(len(s)-1)*p/100].Microseconds()) / 1000
	}
	b.ReportMetric(pct(push, 50), "deposit-to-push-p50-ms")
	b.ReportMetric(pct(push, 99), "deposit-to-push-p99-ms")
	b.ReportMetric(pct(dep, 50), "deposit-ack-p50-ms")
	b.ReportMetric(pct(dep, 99), "deposit-ack-p99-ms")
	b.ReportMetric(pct(bare, 50), "bare-post-p50-ms")
	b.ReportMetric(pct(bare, 99), "bare-post-p99-ms")
}

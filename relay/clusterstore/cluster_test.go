package clusterstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

var ctx = context.Background()

var quota = relaystore.Quota{MaxMessages: 100, MaxBytes: 1 << 20, TTL: time.Hour}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// member is one process of a test cluster: its config, data directory and the notices
// its store delivered.
type member struct {
	cfg   Config
	dir   string
	store *Store

	mu      sync.Mutex
	notices map[string]uint64
	noticed chan struct{}
}

// open opens m's store. It runs on its own goroutine beside the cluster's other members,
// so it returns its error for the test's goroutine to fail on (t.Fatal here would end only
// this goroutine and leave m.store nil).
func (m *member) open(quota relaystore.Quota) error {
	// An upper bound, not a timing claim: a loaded CI machine creating the cluster's
	// streams and buckets on three servers at once has taken over 60 s.
	octx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var log *slog.Logger
	if os.Getenv("CLUSTERSTORE_DEBUG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("server", m.cfg.Listen)
	}
	s, err := Open(octx, m.cfg, Options{DataDir: m.dir, Quota: quota, Logger: log, OnDeposit: func(mb []byte, n uint64) {
		m.mu.Lock()
		m.notices[string(mb)] = n
		m.mu.Unlock()
		select {
		case m.noticed <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		return fmt.Errorf("member %s: %w", m.cfg.Listen, err)
	}
	m.store = s
	return nil
}

// startCluster runs n embedded JetStream servers on loopback, routed to each other, each
// behind a Store, as n relay processes would.
func startCluster(t testing.TB, n int) []*member {
	t.Helper()
	return startClusterQuota(t, n, quota)
}

// startClusterQuota is startCluster with the mail stream made for quota q.
func startClusterQuota(t testing.TB, n int, q relaystore.Quota) []*member {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = freeAddr(t)
	}
	ms := make([]*member, n)
	for i := range ms {
		var routes []string
		for j, a := range addrs {
			if j != i {
				routes = append(routes, a)
			}
		}
		ms[i] = &member{cfg: Config{Name: "test", Listen: addrs[i], Routes: routes, Replicas: min(3, n)},
			dir: t.TempDir(), notices: map[string]uint64{}, noticed: make(chan struct{}, 1)}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ms))
	for i, m := range ms {
		wg.Go(func() { errs[i] = m.open(q) })
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, m := range ms {
			if m.store != nil {
				m.store.Close()
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return ms
}

// waitFor polls cond until it holds (a bound of 30 s against a hang, not a timing claim).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newOwner(t testing.TB, s *Store) (*identity.Identity, []byte) {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if created, err := s.Register(ctx, id.Public(), time.Now()); err != nil || !created {
		t.Fatalf("register: %v %v", created, err)
	}
	return id, relaywire.MailboxID(id.Public())
}

func deposit(t testing.TB, s *Store, mb []byte, env string) uint64 {
	t.Helper()
	id, err := s.StartDeposit(ctx, mb, []byte(env), time.Now(), quota)()
	if err != nil {
		t.Fatalf("deposit %q: %v", env, err)
	}
	return id
}

// TestRegisterDepositDrainAcrossProcesses: a mailbox registered at one process takes
// deposits at a second, which its owner fetches in order and acknowledges at a third; a
// second registration of its id with another identity is refused everywhere.
func TestRegisterDepositDrainAcrossProcesses(t *testing.T) {
	ms := startCluster(t, 3)
	a, b, c := ms[0].store, ms[1].store, ms[2].store
	owner, mb := newOwner(t, a)
	if created, err := b.Register(ctx, owner.Public(), time.Now()); err != nil || created {
		t.Fatalf("second registration at another process: created=%v %v", created, err)
	}
	for i := range 10 {
		deposit(t, b, mb, fmt.Sprintf("env-%02d", i))
	}
	mail, more, err := c.Fetch(mb, 4, 1<<20, time.Now())
	if err != nil || len(mail) != 4 || !more {
		t.Fatalf("fetch: %d more=%v %v", len(mail), more, err)
	}
	for i, m := range mail {
		if string(m.Envelope) != fmt.Sprintf("env-%02d", i) {
			t.Errorf("mail %d: %q", i, m.Envelope)
		}
		if i > 0 && m.ID <= mail[i-1].ID {
			t.Errorf("ids not increasing: %d after %d", m.ID, mail[i-1].ID)
		}
	}
	if n, err := c.Ack(ctx, mb, []uint64{mail[0].ID, mail[1].ID, mail[1].ID}); err != nil || n != 2 {
		t.Fatalf("ack: %d %v", n, err)
	}
	rest, more, err := a.Fetch(mb, 100, 1<<20, time.Now())
	if err != nil || len(rest) != 8 || more || string(rest[0].Envelope) != "env-02" {
		t.Fatalf("fetch at a third process after the ack: %d more=%v %v", len(rest), more, err)
	}
	// Another owner cannot acknowledge (delete) this mailbox's mail by its ids.
	_, other := newOwner(t, a)
	if n, err := a.Ack(ctx, other, []uint64{rest[0].ID}); err != nil || n != 0 {
		t.Fatalf("ack of foreign ids: %d %v", n, err)
	}
	if again, _, _ := b.Fetch(mb, 100, 1<<20, time.Now()); len(again) != 8 {
		t.Fatalf("a foreign ack deleted mail: %d left", len(again))
	}
	if _, err := a.StartDeposit(ctx, make([]byte, 16), []byte("x"), time.Now(), quota)(); !errors.Is(err, relaystore.ErrUnknownMailbox) {
		t.Fatalf("deposit to an unregistered mailbox: %v", err)
	}
}

// TestMailWaitingNoticeReachesEveryProcess: a deposit at one process is announced to the
// watchers of every other.
func TestMailWaitingNoticeReachesEveryProcess(t *testing.T) {
	ms := startCluster(t, 3)
	_, mb := newOwner(t, ms[0].store)
	deposit(t, ms[0].store, mb, "hello")
	for _, m := range ms[1:] {
		for {
			m.mu.Lock()
			n := m.notices[string(mb)]
			m.mu.Unlock()
			if n >= 1 {
				break
			}
			select {
			case <-m.noticed:
			case <-time.After(10 * time.Second):
				t.Fatalf("process %s heard no notice", m.cfg.Listen)
			}
		}
	}
}

// TestMessageQuotaIsClusterWide: deposits spread over three processes stop at the
// mailbox's message quota exactly.
func TestMessageQuotaIsClusterWide(t *testing.T) {
	ms := startCluster(t, 3)
	_, mb := newOwner(t, ms[0].store)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, full := 0, 0
	for i := range 3 * int(quota.MaxMessages) {
		s := ms[i%3].store
		wg.Go(func() {
			_, err := s.StartDeposit(ctx, mb, []byte(fmt.Sprintf("m%d", i)), time.Now(), quota)()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, relaystore.ErrQuotaMessages):
				full++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != int(quota.MaxMessages) || full != 2*int(quota.MaxMessages) {
		t.Fatalf("%d stored, %d refused as full; want %d and %d", ok, full, quota.MaxMessages, 2*quota.MaxMessages)
	}
}

// TestByteQuotaAcrossProcesses: once a mailbox's bytes are charged (and the usage
// written), every process refuses more.
func TestByteQuotaAcrossProcesses(t *testing.T) {
	ms := startCluster(t, 3)
	_, mb := newOwner(t, ms[0].store)
	q := quota
	q.MaxBytes = 1000
	big := make([]byte, 600)
	big[0] = 1
	if _, err := ms[0].store.StartDeposit(ctx, mb, big, time.Now(), q)(); err != nil {
		t.Fatal(err)
	}
	// The usage reaches the other processes through the bucket: wait until it has.
	waitFor(t, "the usage reaches process 3", func() bool { return ms[2].store.Waiting(mb) == 1 })
	if _, err := ms[2].store.StartDeposit(ctx, mb, big, time.Now(), q)(); !errors.Is(err, relaystore.ErrQuotaBytes) {
		t.Fatalf("second 600 bytes into 1000 at another process: %v", err)
	}
	mail, _, _ := ms[1].store.Fetch(mb, 10, 1<<20, time.Now())
	if n, err := ms[1].store.Ack(ctx, mb, []uint64{mail[0].ID}); n != 1 || err != nil {
		t.Fatalf("ack: %d %v", n, err)
	}
	// The ack frees the bytes for every process once written.
	waitFor(t, "the ack's usage reaches process 3", func() bool { return ms[2].store.Waiting(mb) == 0 })
	if _, err := ms[2].store.StartDeposit(ctx, mb, big, time.Now(), q)(); err != nil {
		t.Fatalf("after the ack: %v", err)
	}
}

// TestMultiDepositBodyOnceAcrossProcesses: a multi deposit at one process is fetched by
// each recipient at another with its own header and the shared body; the body is deleted
// with the last acknowledgement.
func TestMultiDepositBodyOnceAcrossProcesses(t *testing.T) {
	ms := startCluster(t, 3)
	var rs []relaystore.Recipient
	for i := range 3 {
		_, mb := newOwner(t, ms[i].store)
		rs = append(rs, relaystore.Recipient{Mailbox: mb, Header: []byte(fmt.Sprintf("header-%d", i))})
	}
	rs = append(rs, relaystore.Recipient{Mailbox: make([]byte, 16), Header: []byte("nobody")})
	body := []byte("the shared body")
	errs, err := ms[0].store.StartMultiDeposit(ctx, rs, body, time.Now(), quota)()
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs[:3] {
		if e != nil {
			t.Fatalf("recipient %d: %v", i, e)
		}
	}
	if !errors.Is(errs[3], relaystore.ErrUnknownMailbox) {
		t.Fatalf("unregistered recipient: %v", errs[3])
	}
	for i, r := range rs[:3] {
		s := ms[(i+1)%3].store
		mail, _, err := s.Fetch(r.Mailbox, 10, 1<<20, time.Now())
		if err != nil || len(mail) != 1 {
			t.Fatalf("recipient %d fetch: %d %v", i, len(mail), err)
		}
		if want := sealed.JoinShared(r.Header, body); string(mail[0].Envelope) != string(want) {
			t.Fatalf("recipient %d got %q, want %q", i, mail[0].Envelope, want)
		}
		if n, err := s.Ack(ctx, r.Mailbox, []uint64{mail[0].ID}); n != 1 || err != nil {
			t.Fatalf("ack: %d %v", n, err)
		}
	}
	info, err := ms[0].store.body.Info(ctx)
	if err != nil || info.State.Msgs != 0 {
		t.Fatalf("after the last ack the body stream holds %d: %v", info.State.Msgs, err)
	}
}

// TestPurgeExpiredClusterWide: expired mail is deleted and charged back once.
func TestPurgeExpiredClusterWide(t *testing.T) {
	ms := startCluster(t, 3)
	_, mb := newOwner(t, ms[0].store)
	old := time.Now().Add(-2 * time.Hour)
	for i := range 3 {
		if _, err := ms[1].store.StartDeposit(ctx, mb, []byte(fmt.Sprintf("old-%d", i)), old, quota)(); err != nil {
			t.Fatal(err)
		}
	}
	deposit(t, ms[1].store, mb, "fresh")
	var total int
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, m := range ms {
		wg.Go(func() {
			n, err := m.store.PurgeExpired(ctx, time.Now())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != 3 {
		t.Fatalf("three processes purging at once deleted %d, want 3", total)
	}
	mail, _, _ := ms[2].store.Fetch(mb, 10, 1<<20, time.Now())
	if len(mail) != 1 || string(mail[0].Envelope) != "fresh" {
		t.Fatalf("after the purge: %d messages", len(mail))
	}
}

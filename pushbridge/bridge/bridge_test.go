package bridge

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// registry is an in-memory Registry.
type registry struct {
	mu      sync.Mutex
	targets []Target
	dnd     time.Time
	dead    map[string]string
}

func (r *registry) Targets(owner []byte) ([]Target, time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Target
	for _, t := range r.targets {
		if t.Owner == string(owner) && r.dead[t.ID] == "" {
			out = append(out, t)
		}
	}
	return out, r.dnd, nil
}

func (r *registry) MarkDead(owner, id, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead == nil {
		r.dead = map[string]string{}
	}
	r.dead[id] = reason
}

type sent struct {
	at      time.Time
	id      string
	payload []byte
}

// sender records pushes and answers with errs in turn (nil once they run out).
type sender struct {
	mu   sync.Mutex
	got  []sent
	errs []error
}

func (s *sender) Send(ctx context.Context, t Target, payload []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, sent{time.Now(), t.ID, bytes.Clone(payload)})
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		return err
	}
	return nil
}

func (s *sender) sends() []sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sent(nil), s.got...)
}

// run starts a bridge with one webpush registration for owner "bob" and returns it.
func run(t *testing.T, reg *registry, snd *sender) *Bridge {
	t.Helper()
	if reg.targets == nil {
		reg.targets = []Target{{Owner: "bob", ID: "r1", Kind: KindWebPush, Endpoint: "https://push.example/x"}}
	}
	b, err := New(Config{Senders: map[string]Sender{KindWebPush: snd, KindAPNs: snd}, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return b
}

func env(i byte) []byte { return bytes.Repeat([]byte{i}, 300) }

// A burst of 20 deposits in 2 s costs a registration two pushes: the first at once with the
// first envelope, one when the window ends with the newest; then nothing more.
func TestBurstCoalescesToTwoPushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		snd := &sender{}
		b := run(t, &registry{}, snd)
		start := time.Now()
		for i := range 20 {
			b.Notify([]byte("bob"), env(byte(i+1)))
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		got := snd.sends()
		if len(got) != 2 {
			t.Fatalf("%d pushes, want 2", len(got))
		}
		if !bytes.Equal(got[0].payload, Payload(env(1))) || got[0].at.Sub(start) > time.Millisecond {
			t.Errorf("first push at +%v with %x…, want at once with envelope 1", got[0].at.Sub(start), got[0].payload[:3])
		}
		if !bytes.Equal(got[1].payload, Payload(env(20))) || got[1].at.Sub(start) != DefaultMinInterval {
			t.Errorf("second push at +%v, want +%v with envelope 20", got[1].at.Sub(start), DefaultMinInterval)
		}
	})
}

// Deposits spaced wider than the window each get their own push.
func TestSpacedDepositsEachPush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		snd := &sender{}
		b := run(t, &registry{}, snd)
		for i := range 3 {
			b.Notify([]byte("bob"), env(byte(i)))
			time.Sleep(11 * time.Second)
		}
		synctest.Wait()
		if n := len(snd.sends()); n != 3 {
			t.Fatalf("%d pushes, want 3", n)
		}
	})
}

// The owner coming online drops the push that was waiting for its window.
func TestOnlineDropsPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		snd := &sender{}
		b := run(t, &registry{}, snd)
		b.Notify([]byte("bob"), env(1))
		time.Sleep(time.Second)
		b.Notify([]byte("bob"), env(2))
		b.Online([]byte("bob"))
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(snd.sends()); n != 1 {
			t.Fatalf("%d pushes, want 1", n)
		}
	})
}

// A registration its provider calls gone is marked dead and never used again.
func TestDeadRegistrationNotUsedAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		snd := &sender{errs: []error{Classify("webpush", http.StatusGone, http.Header{}, "")}}
		reg := &registry{}
		b := run(t, reg, snd)
		b.Notify([]byte("bob"), env(1))
		synctest.Wait()
		for range 3 {
			time.Sleep(time.Minute)
			b.Notify([]byte("bob"), env(2))
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(snd.sends()); n != 1 {
			t.Fatalf("%d pushes, want 1", n)
		}
		if reg.dead["r1"] != "410 Gone" {
			t.Fatalf("dead reason %q, want 410 Gone", reg.dead["r1"])
		}
	})
}

// 429 with Retry-After is retried after exactly that long; 5xx without it after backoff.
func TestRetryHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := http.Header{"Retry-After": {"7"}}
		snd := &sender{errs: []error{
			Classify("webpush", http.StatusTooManyRequests, h, ""),
			Classify("webpush", http.StatusServiceUnavailable, http.Header{}, ""),
		}}
		b := run(t, &registry{}, snd)
		start := time.Now()
		b.Notify([]byte("bob"), env(1))
		time.Sleep(time.Minute)
		synctest.Wait()
		got := snd.sends()
		if len(got) != 3 {
			t.Fatalf("%d attempts, want 3", len(got))
		}
		if d := got[1].at.Sub(start); d != 7*time.Second {
			t.Errorf("retry after 429 at +%v, want +7s", d)
		}
		if d := got[2].at.Sub(got[1].at); d != 2*time.Second {
			t.Errorf("retry after 503 %v later, want 2s (backoff)", d)
		}
		for _, s := range got {
			if !bytes.Equal(s.payload, Payload(env(1))) {
				t.Errorf("a retry carried another payload")
			}
		}
	})
}

// Retries stop after MaxRetries.
func TestRetriesBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var errs []error
		for range 10 {
			errs = append(errs, Classify("webpush", http.StatusInternalServerError, http.Header{}, ""))
		}
		snd := &sender{errs: errs}
		b := run(t, &registry{}, snd)
		b.Notify([]byte("bob"), env(1))
		time.Sleep(time.Hour)
		synctest.Wait()
		if n := len(snd.sends()); n != 1+DefaultMaxRetries {
			t.Fatalf("%d attempts, want %d", n, 1+DefaultMaxRetries)
		}
	})
}

// A 413 for an envelope is followed at once by a content-free wake-up.
func TestTooLargeFallsBackToWake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		snd := &sender{errs: []error{Classify("webpush", http.StatusRequestEntityTooLarge, http.Header{}, "")}}
		b := run(t, &registry{}, snd)
		b.Notify([]byte("bob"), env(1))
		synctest.Wait()
		got := snd.sends()
		if len(got) != 2 || !IsEnvelope(got[0].payload) || IsEnvelope(got[1].payload) {
			t.Fatalf("pushes %v, want an envelope then a wake-up", len(got))
		}
		if e, ok := ParsePayload(got[1].payload); !ok || e != nil {
			t.Fatalf("second push is not a wake-up")
		}
	})
}

// Until the do-not-disturb time nothing is sent; after it, pushes resume.
func TestDoNotDisturb(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		snd := &sender{}
		reg := &registry{dnd: time.Now().Add(time.Hour)}
		b := run(t, reg, snd)
		b.Notify([]byte("bob"), env(1))
		synctest.Wait()
		if n := len(snd.sends()); n != 0 {
			t.Fatalf("%d pushes during do-not-disturb", n)
		}
		time.Sleep(time.Hour)
		b.Notify([]byte("bob"), env(2))
		synctest.Wait()
		if n := len(snd.sends()); n != 1 {
			t.Fatalf("%d pushes after do-not-disturb, want 1", n)
		}
	})
}

// APNs and FCM pushes carry nothing; an envelope too large for a record becomes a wake-up.
func TestPayloadContent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		snd := &sender{}
		reg := &registry{targets: []Target{
			{Owner: "bob", ID: "a", Kind: KindAPNs, Token: "00"},
			{Owner: "bob", ID: "w", Kind: KindWebPush, Endpoint: "https://x/"},
		}}
		b := run(t, reg, snd)
		b.Notify([]byte("bob"), bytes.Repeat([]byte{7}, MaxEnvelope+1))
		synctest.Wait()
		for _, s := range snd.sends() {
			switch s.id {
			case "a":
				if s.payload != nil {
					t.Errorf("APNs payload %x, want none", s.payload)
				}
			case "w":
				if e, ok := ParsePayload(s.payload); !ok || e != nil {
					t.Errorf("oversized envelope not replaced by a wake-up")
				}
			}
		}
		if n := len(snd.sends()); n != 2 {
			t.Fatalf("%d pushes, want 2", n)
		}
	})
}

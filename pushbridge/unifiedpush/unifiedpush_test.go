package unifiedpush_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/pushbridge/bridge"
	"github.com/petrel-chat/petrel/pushbridge/pushtest"
	"github.com/petrel-chat/petrel/pushbridge/unifiedpush"
	"github.com/petrel-chat/petrel/pushbridge/webpush"
)

func newSender(t *testing.T) *unifiedpush.Sender {
	v, err := webpush.GenerateVAPID()
	if err != nil {
		t.Fatal(err)
	}
	return unifiedpush.New(webpush.Sender{VAPID: v, Subject: "mailto:ops@relay.example",
		Client: bridge.GuardedClient(true, 10*time.Second), AllowPrivate: true})
}

// Discovery runs once before the first push; the app decrypts what arrives with the keys
// it registered.
func TestUnifiedPushDiscoveryThenEncryptedPost(t *testing.T) {
	srv := pushtest.NewPushServer(true)
	defer srv.Close()
	keys, _ := pushtest.NewSubscription()
	ep := srv.NewEndpoint(keys)
	s := newSender(t)
	tg := bridge.Target{Kind: bridge.KindUnifiedPush, Endpoint: ep, P256dh: keys.P256dh(), Auth: keys.Auth}
	payload := bridge.Payload(bytes.Repeat([]byte{1}, 1000))
	for range 2 {
		if err := s.Send(context.Background(), tg, payload); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Probes(); n != 1 {
		t.Errorf("%d discoveries, want 1", n)
	}
	got := srv.Pushes()
	if len(got) != 2 || got[0].Status != 201 || !bytes.Equal(got[0].Plaintext, payload) {
		t.Fatalf("pushes: %d; first decrypts to the payload: %v", len(got), len(got) > 0 && bytes.Equal(got[0].Plaintext, payload))
	}
}

// An endpoint that is not a UnifiedPush server is never posted to; 404 at discovery is dead.
func TestUnifiedPushDiscoveryRefusals(t *testing.T) {
	notUP := pushtest.NewPushServer(false) // GET → 405
	defer notUP.Close()
	keys, _ := pushtest.NewSubscription()
	ep := notUP.NewEndpoint(keys)
	s := newSender(t)
	var pe *bridge.ProviderError
	if err := s.Send(context.Background(), bridge.Target{Endpoint: ep, P256dh: keys.P256dh(), Auth: keys.Auth}, nil); !errors.As(err, &pe) || pe.Dead {
		t.Errorf("non-UnifiedPush endpoint: %v", err)
	}
	if n := len(notUP.Pushes()); n != 0 {
		t.Errorf("%d pushes to an endpoint that failed discovery", n)
	}
	up := pushtest.NewPushServer(true)
	defer up.Close()
	if err := s.Send(context.Background(), bridge.Target{Endpoint: up.URL + "/push/gone", P256dh: keys.P256dh(), Auth: keys.Auth}, nil); !errors.As(err, &pe) || !pe.Dead {
		t.Errorf("unknown endpoint at discovery: %v", err)
	}
}

// 413 → too large; 429 → slow down with Retry-After; 410 → dead.
func TestUnifiedPushAnswers(t *testing.T) {
	srv := pushtest.NewPushServer(true)
	defer srv.Close()
	keys, _ := pushtest.NewSubscription()
	ep := srv.NewEndpoint(keys)
	srv.Script(ep, pushtest.Answer{Status: 413}, pushtest.Answer{Status: 429, RetryAfter: "3"}, pushtest.Answer{Status: 410})
	s := newSender(t)
	tg := bridge.Target{Endpoint: ep, P256dh: keys.P256dh(), Auth: keys.Auth}
	var pe *bridge.ProviderError
	if err := s.Send(context.Background(), tg, nil); !errors.As(err, &pe) || !pe.TooLarge {
		t.Errorf("413: %v", err)
	}
	if err := s.Send(context.Background(), tg, nil); !errors.As(err, &pe) || !pe.Retry || pe.RetryAfter != 3*time.Second {
		t.Errorf("429: %v", err)
	}
	if err := s.Send(context.Background(), tg, nil); !errors.As(err, &pe) || !pe.Dead {
		t.Errorf("410: %v", err)
	}
}

// Through the bridge: a burst to an offline owner reaches the UnifiedPush server as one
// push carrying the envelope, decryptable by the app; a dead endpoint stops being used.
func TestBridgeToUnifiedPush(t *testing.T) {
	srv := pushtest.NewPushServer(true)
	defer srv.Close()
	keys, _ := pushtest.NewSubscription()
	ep := srv.NewEndpoint(keys)
	reg := &oneReg{t: bridge.Target{Owner: "bob", ID: "r", Kind: bridge.KindUnifiedPush, Endpoint: ep, P256dh: keys.P256dh(), Auth: keys.Auth}}
	b, err := bridge.New(bridge.Config{Senders: map[string]bridge.Sender{bridge.KindUnifiedPush: newSender(t)}, Registry: reg, MinInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	env := bytes.Repeat([]byte{0xee}, 700)
	b.Notify([]byte("bob"), env)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	got, err := srv.WaitPushes(wctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := bridge.ParsePayload(got[0].Plaintext); !ok || !bytes.Equal(e, env) {
		t.Fatalf("push does not carry the envelope")
	}
}

type oneReg struct{ t bridge.Target }

func (r *oneReg) Targets([]byte) ([]bridge.Target, time.Time, error) {
	return []bridge.Target{r.t}, time.Time{}, nil
}
func (r *oneReg) MarkDead(string, string, string) {}

package webpush_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/pushbridge/bridge"
	"github.com/petrel-chat/petrel/pushbridge/pushtest"
	"github.com/petrel-chat/petrel/pushbridge/webpush"
)

func sender(t *testing.T) *webpush.Sender {
	t.Helper()
	v, err := webpush.LoadOrCreateVAPID(filepath.Join(t.TempDir(), "vapid.json"))
	if err != nil {
		t.Fatal(err)
	}
	return &webpush.Sender{VAPID: v, Subject: "mailto:ops@relay.example", Client: bridge.GuardedClient(true, 10*time.Second), AllowPrivate: true}
}

// A browser-style subscription receives exactly the payload, decrypted with its own keys,
// under a VAPID JWT that verifies with the relay's key; every body is RecordSize long.
func TestWebPushReachesBrowserSubscription(t *testing.T) {
	srv := pushtest.NewPushServer(false)
	defer srv.Close()
	sub, _ := pushtest.NewSubscription()
	ep := srv.NewEndpoint(sub)
	s := sender(t)
	target := bridge.Target{Kind: bridge.KindWebPush, Endpoint: ep, P256dh: sub.P256dh(), Auth: sub.Auth}
	for _, p := range [][]byte{bridge.Payload(bytes.Repeat([]byte{9}, 500)), bridge.Payload(nil)} {
		if err := s.Send(context.Background(), target, p); err != nil {
			t.Fatal(err)
		}
	}
	got := srv.Pushes()
	if len(got) != 2 {
		t.Fatalf("%d pushes", len(got))
	}
	vk, _ := base64.RawURLEncoding.DecodeString(s.VAPID.PublicKey)
	for i, p := range got {
		if p.Status != http.StatusCreated || !bytes.Equal(p.VAPIDKey, vk) {
			t.Errorf("push %d: status %d, vapid key matches %v", i, p.Status, bytes.Equal(p.VAPIDKey, vk))
		}
		if len(p.Body) != bridge.RecordSize {
			t.Errorf("push %d: body of %d bytes, want %d (padded)", i, len(p.Body), bridge.RecordSize)
		}
	}
	if !bytes.Equal(got[0].Plaintext, bridge.Payload(bytes.Repeat([]byte{9}, 500))) {
		t.Error("first push does not decrypt to the payload")
	}
	if e, ok := bridge.ParsePayload(got[1].Plaintext); !ok || e != nil {
		t.Error("second push is not a wake-up")
	}
	// Another subscription's keys open nothing.
	other, _ := pushtest.NewSubscription()
	if _, err := other.Decrypt(got[0].Body); err == nil {
		t.Error("a push decrypts with another subscription's keys")
	}
}

// The provider's answers classify as the bridge needs them.
func TestWebPushAnswers(t *testing.T) {
	srv := pushtest.NewPushServer(false)
	defer srv.Close()
	sub, _ := pushtest.NewSubscription()
	ep := srv.NewEndpoint(sub)
	srv.Script(ep, pushtest.Answer{Status: 404}, pushtest.Answer{Status: 410}, pushtest.Answer{Status: 413},
		pushtest.Answer{Status: 429, RetryAfter: "5"}, pushtest.Answer{Status: 503})
	s := sender(t)
	target := bridge.Target{Endpoint: ep, P256dh: sub.P256dh(), Auth: sub.Auth}
	check := func(what string, ok func(*bridge.ProviderError) bool) {
		t.Helper()
		var pe *bridge.ProviderError
		err := s.Send(context.Background(), target, bridge.Payload(nil))
		if !errors.As(err, &pe) || !ok(pe) {
			t.Errorf("%s: got %v", what, err)
		}
	}
	check("404", func(p *bridge.ProviderError) bool { return p.Dead })
	check("410", func(p *bridge.ProviderError) bool { return p.Dead })
	check("413", func(p *bridge.ProviderError) bool { return p.TooLarge && !p.Dead })
	check("429", func(p *bridge.ProviderError) bool { return p.Retry && p.RetryAfter == 5*time.Second })
	check("503", func(p *bridge.ProviderError) bool { return p.Retry })
	if err := s.Send(context.Background(), target, bridge.Payload(nil)); err != nil {
		t.Errorf("after the script: %v", err)
	}
	// An unknown subscription is 404: dead.
	var pe *bridge.ProviderError
	if err := s.Send(context.Background(), bridge.Target{Endpoint: srv.URL + "/push/nope", P256dh: sub.P256dh(), Auth: sub.Auth}, nil); !errors.As(err, &pe) || !pe.Dead {
		t.Errorf("unknown subscription: %v", err)
	}
}

// Without allow_private_endpoints a loopback endpoint is never contacted.
func TestWebPushRefusesPrivateEndpoint(t *testing.T) {
	srv := pushtest.NewPushServer(false)
	defer srv.Close()
	sub, _ := pushtest.NewSubscription()
	ep := srv.NewEndpoint(sub)
	s := sender(t)
	s.AllowPrivate, s.Client = false, bridge.GuardedClient(false, 5*time.Second)
	var pe *bridge.ProviderError
	if err := s.Send(context.Background(), bridge.Target{Endpoint: ep, P256dh: sub.P256dh(), Auth: sub.Auth}, nil); !errors.As(err, &pe) || !pe.Dead {
		t.Fatalf("loopback endpoint: %v", err)
	}
	if n := len(srv.Pushes()); n != 0 {
		t.Fatalf("%d pushes reached a loopback endpoint", n)
	}
}

// A forged VAPID token (signed by another key than the one it names, or for another
// origin) does not verify.
func TestVAPIDForgeryRefused(t *testing.T) {
	srv := pushtest.NewPushServer(false)
	defer srv.Close()
	sub, _ := pushtest.NewSubscription()
	ep := srv.NewEndpoint(sub)
	s := sender(t)
	other, _ := webpush.GenerateVAPID()
	s.VAPID.PublicKey = other.PublicKey // k names a key that did not sign t
	var pe *bridge.ProviderError
	if err := s.Send(context.Background(), bridge.Target{Endpoint: ep, P256dh: sub.P256dh(), Auth: sub.Auth}, nil); !errors.As(err, &pe) || pe.Status != 401 {
		t.Fatalf("forged VAPID: %v", err)
	}
	if _, err := pushtest.VerifyVAPID("vapid t=a.b.c, k=AAAA", srv.URL, time.Now()); err == nil {
		t.Fatal("garbage VAPID header verified")
	}
}

func TestLoadOrCreateVAPIDKeepsKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "push", "vapid.json")
	a, err := webpush.LoadOrCreateVAPID(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := webpush.LoadOrCreateVAPID(p)
	if err != nil || a != b {
		t.Fatalf("second load: %v, same key %v", err, a == b)
	}
}

package fcm_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/petrel-chat/petrel/pushbridge/bridge"
	"github.com/petrel-chat/petrel/pushbridge/fcm"
	"github.com/petrel-chat/petrel/pushbridge/pushtest"
)

// A push gets an access token from the service account's token endpoint, carries it as the
// bearer, and is data-only, content-free and high priority; 404 UNREGISTERED is dead.
func TestFCMDataOnlyPush(t *testing.T) {
	fake, err := pushtest.NewFCM("petrel-test")
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	fake.MarkGone("gone-token")
	s, err := fcm.New(fcm.Config{ServiceAccountJSON: fake.ServiceAccountJSON(), Endpoint: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if err := s.Send(ctx, bridge.Target{Kind: bridge.KindFCM, Token: "device-token"}, []byte("ignored")); err != nil {
			t.Fatal(err)
		}
	}
	var pe *bridge.ProviderError
	if err := s.Send(ctx, bridge.Target{Token: "gone-token"}, nil); !errors.As(err, &pe) || !pe.Dead || pe.Reason != "UNREGISTERED" {
		t.Fatalf("gone token: %v", err)
	}
	if g := fake.Grants(); g != 1 {
		t.Errorf("%d access tokens fetched, want 1 (reused)", g)
	}
	got := fake.Pushes()
	var m struct {
		Message map[string]json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(got[0].Body, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Message["notification"]; ok {
		t.Error("message has a notification block (visible content)")
	}
	if string(m.Message["data"]) != `{"petrel":"1"}` || string(m.Message["android"]) != `{"priority":"high"}` {
		t.Errorf("message %s", got[0].Body)
	}
}

// Another service account's key gets no token: the push fails and is not dead.
func TestFCMForeignServiceAccount(t *testing.T) {
	fake, _ := pushtest.NewFCM("petrel-test")
	defer fake.Close()
	other, _ := pushtest.NewFCM("petrel-test")
	defer other.Close()
	var sa map[string]string
	json.Unmarshal(other.ServiceAccountJSON(), &sa)
	sa["token_uri"] = fake.URL + "/token" // the right token endpoint, the wrong key
	b, _ := json.Marshal(sa)
	s, err := fcm.New(fcm.Config{ServiceAccountJSON: b, Endpoint: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	var pe *bridge.ProviderError
	err = s.Send(context.Background(), bridge.Target{Token: "device-token"}, nil)
	if err == nil || errors.As(err, &pe) {
		t.Fatalf("foreign key: %v", err)
	}
	if n := len(fake.Pushes()); n != 0 {
		t.Errorf("%d sends without a token", n)
	}
}

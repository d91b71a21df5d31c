package apns_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/pushbridge/apns"
	"github.com/petrel-chat/petrel/pushbridge/bridge"
	"github.com/petrel-chat/petrel/pushbridge/pushtest"
)

var (
	good = strings.Repeat("ab", 32)
	bad  = strings.Repeat("cd", 32)
	gone = strings.Repeat("ef", 32)
)

func setup(t *testing.T, key *pushtest.APNsKey) (*pushtest.APNs, *apns.Sender) {
	t.Helper()
	k, err := pushtest.NewAPNsKey("KEY123", "TEAM456")
	if err != nil {
		t.Fatal(err)
	}
	fake := pushtest.NewAPNs(k, "chat.petrel.app")
	t.Cleanup(fake.Close)
	if key == nil {
		key = k
	}
	s, err := apns.New(apns.Config{KeyP8: key.P8, KeyID: key.KeyID, TeamID: key.TeamID, Host: fake.URL, RootCAs: fake.Certs})
	if err != nil {
		t.Fatal(err)
	}
	return fake, s
}

// A push reaches APNs over HTTP/2 with a provider token the fake verifies, as a
// content-free background push at priority 5; 400 BadDeviceToken and 410 Unregistered make
// the registration dead.
func TestAPNsBackgroundPush(t *testing.T) {
	fake, s := setup(t, nil)
	fake.MarkBad(bad)
	fake.MarkGone(gone)
	ctx := context.Background()
	if err := s.Send(ctx, bridge.Target{Kind: bridge.KindAPNs, Token: good, Topic: "chat.petrel.app"}, []byte("ignored")); err != nil {
		t.Fatalf("good token: %v", err)
	}
	for _, tok := range []string{bad, gone} {
		var pe *bridge.ProviderError
		if err := s.Send(ctx, bridge.Target{Token: tok, Topic: "chat.petrel.app"}, nil); !errors.As(err, &pe) || !pe.Dead {
			t.Errorf("token %s…: %v, want dead", tok[:4], err)
		}
	}
	got := fake.Pushes()
	if len(got) != 3 || got[0].Status != 200 || got[0].PushType != "background" || got[0].Priority != "5" {
		t.Fatalf("pushes %+v", got)
	}
	if string(got[0].Payload) != `{"aps":{"content-available":1}}` {
		t.Errorf("payload %s carries more than a wake-up", got[0].Payload)
	}
	if got[1].Reason != "BadDeviceToken" || got[2].Reason != "Unregistered" {
		t.Errorf("reasons %q %q", got[1].Reason, got[2].Reason)
	}
}

// A provider token signed with another key is refused (403), not dead.
func TestAPNsWrongKeyRefused(t *testing.T) {
	other, _ := pushtest.NewAPNsKey("KEY123", "TEAM456")
	_, s := setup(t, other)
	var pe *bridge.ProviderError
	if err := s.Send(context.Background(), bridge.Target{Token: good, Topic: "chat.petrel.app"}, nil); !errors.As(err, &pe) || pe.Status != 403 || pe.Dead {
		t.Fatalf("wrong key: %v", err)
	}
}

// The wrong topic is refused by APNs; a malformed token never leaves the relay.
func TestAPNsTopicAndToken(t *testing.T) {
	fake, s := setup(t, nil)
	var pe *bridge.ProviderError
	if err := s.Send(context.Background(), bridge.Target{Token: good, Topic: "other.app"}, nil); !errors.As(err, &pe) || pe.Reason != "TopicDisallowed" {
		t.Errorf("wrong topic: %v", err)
	}
	if err := s.Send(context.Background(), bridge.Target{Token: "../../etc", Topic: "chat.petrel.app"}, nil); !errors.As(err, &pe) || !pe.Dead {
		t.Errorf("malformed token: %v", err)
	}
	if n := len(fake.Pushes()); n != 1 {
		t.Errorf("%d requests, want 1 (the malformed token is not sent)", n)
	}
}

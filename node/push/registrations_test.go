package push

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
)

// A request that does not fit its kind is refused with bad_request; UnifiedPush gets fresh
// keys of its own, never supplied ones.
func TestNewRecordValidation(t *testing.T) {
	good := "https://push.example/up/1"
	p256 := base64.RawURLEncoding.EncodeToString(append([]byte{4}, make([]byte, 64)...)) // not on the curve
	for _, req := range []api.PushRegistrationRequest{
		{Kind: ""}, {Kind: "webpush", Endpoint: good},
		{Kind: "webpush", Endpoint: good, Keys: &api.PushKeys{P256dh: p256, Auth: "AAAAAAAAAAAAAAAAAAAAAA"}},
		{Kind: "unifiedpush", Endpoint: good, Keys: &api.PushKeys{}},
		{Kind: "unifiedpush", Endpoint: "javascript:alert(1)"}, {Kind: "unifiedpush", Endpoint: "https://" + strings.Repeat("a", 3000)},
		{Kind: "unifiedpush", Endpoint: good, Token: "t"},
		{Kind: "apns", Token: strings.Repeat("ab", 32)}, {Kind: "apns", Token: "zz", Topic: "a"},
		{Kind: "fcm", Token: strings.Repeat("x", 3000)}, {Kind: "fcm", Token: "t", Endpoint: good},
	} {
		if _, err := newRecord(req); !errors.Is(err, api.ErrBadRequest) {
			t.Errorf("%+v: %v, want bad_request", req, err)
		}
	}
	a, err := newRecord(api.PushRegistrationRequest{Kind: "unifiedpush", Endpoint: good})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newRecord(api.PushRegistrationRequest{Kind: "unifiedpush", Endpoint: good})
	if len(a.P256dh) != 65 || len(a.Auth) != 16 || len(a.Priv) != 32 || string(a.Priv) == string(b.Priv) || a.ID == b.ID {
		t.Fatal("UnifiedPush keys are not fresh per registration")
	}
	if r := a.toAPI(nil); r.Keys != nil {
		t.Fatal("a UnifiedPush registration shows keys")
	}
}

// The overall state follows the relays: active if any holds it, else dead with a reason.
func TestRegistrationState(t *testing.T) {
	r := &record{Relays: map[string]*relayState{
		"r1": {State: StateDead, Error: "410 Gone"}, "r2": {State: StateNoBridge},
	}}
	relays := []string{"r1", "r2"}
	if a := r.toAPI(relays); a.State != "dead" || a.Error != "410 Gone" || a.Relays[1].State != "no_bridge" {
		t.Errorf("dead + no_bridge: %+v", a)
	}
	r.Relays["r2"] = &relayState{State: StateActive}
	if a := r.toAPI(relays); a.State != "active" || a.Error != "" {
		t.Errorf("dead + active: %+v", a)
	}
	r.Relays = map[string]*relayState{"r1": {State: StateNoBridge}, "r2": {State: StateNoBridge}}
	if a := r.toAPI(relays); a.State != "dead" || a.Error != "no home relay runs a push bridge" {
		t.Errorf("no bridges: %+v", a)
	}
	r.Relays = map[string]*relayState{}
	if a := r.toAPI(relays); a.State != "active" || a.Relays[0].State != "pending" {
		t.Errorf("pending: %+v", a)
	}
}

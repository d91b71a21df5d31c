package relaywire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
)

// pushDecoders parse a push frame and re-encode what they parsed.
var pushDecoders = map[string]func([]byte) ([]byte, error){
	"bridge_key": func(b []byte) ([]byte, error) { return AppendBridgeKey(nil), ParseBridgeKey(b) },
	"bridge_key_is": func(b []byte) ([]byte, error) {
		p, err := ParseBridgeKeyIs(b)
		if err != nil {
			return nil, err
		}
		return AppendBridgeKeyIs(nil, p), nil
	},
	"push_register": func(b []byte) ([]byte, error) {
		r, err := ParsePushRegister(b)
		return AppendPushRegister(nil, r), err
	},
	"push_unregister": func(b []byte) ([]byte, error) {
		id, err := ParsePushUnregister(b)
		return AppendPushUnregister(nil, id), err
	},
	"push_list": func(b []byte) ([]byte, error) { return AppendPushList(nil), ParsePushList(b) },
	"push_states": func(b []byte) ([]byte, error) {
		s, err := ParsePushStates(b)
		return AppendPushStates(nil, s), err
	},
	"push_dnd": func(b []byte) ([]byte, error) {
		v, err := ParsePushDND(b)
		return AppendPushDND(nil, v), err
	},
	"push_registration": func(b []byte) ([]byte, error) {
		r, err := ParsePushRegistration(b)
		return AppendPushRegistration(nil, r), err
	},
}

func pushSeeds(t testing.TB) map[string][][]byte {
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	var rid [16]byte
	rid[0] = 7
	p256 := append([]byte{4}, bytes.Repeat([]byte{1}, 64)...)
	return map[string][][]byte{
		"bridge_key":      {AppendBridgeKey(nil)},
		"bridge_key_is":   {AppendBridgeKeyIs(nil, id.Public())},
		"push_register":   {AppendPushRegister(nil, PushRegister{ID: rid, Sealed: []byte{1, 2, 3}})},
		"push_unregister": {AppendPushUnregister(nil, rid)},
		"push_list":       {AppendPushList(nil)},
		"push_states": {AppendPushStates(nil, nil), AppendPushStates(nil, []PushState{
			{ID: rid}, {ID: rid, Dead: true, Reason: "410 Gone"}})},
		"push_dnd": {AppendPushDND(nil, 0), AppendPushDND(nil, 1_800_000_000_000)},
		"push_registration": {
			AppendPushRegistration(nil, PushRegistration{Kind: PushKindWebPush, Address: "https://push.example/x", P256dh: p256, Auth: make([]byte, 16)}),
			AppendPushRegistration(nil, PushRegistration{Kind: PushKindAPNs, Address: "abcd", Topic: "chat.petrel"}),
			AppendPushRegistration(nil, PushRegistration{Kind: PushKindFCM, Address: "tok"}),
		},
	}
}

// Every push frame round-trips, and every decoder refuses each truncation of its seeds.
func TestPushFramesRoundTrip(t *testing.T) {
	for name, seeds := range pushSeeds(t) {
		dec := pushDecoders[name]
		for _, s := range seeds {
			again, err := dec(s)
			if err != nil || !bytes.Equal(again, s) {
				t.Errorf("%s: %x → %x, %v", name, s, again, err)
			}
			for i := range len(s) {
				if _, err := dec(s[:i]); err == nil && name != "push_states" && (name != "push_register" || i < 18) {
					t.Errorf("%s: truncation to %d bytes parsed", name, i)
				} else if err != nil && !errors.Is(err, ErrMalformed) {
					t.Errorf("%s: truncation error %v is not ErrMalformed", name, err)
				}
			}
		}
	}
}

// A registration whose shape does not fit its kind is refused: keys of the wrong size, an
// APNs token without topic, an unknown kind.
func TestPushRegistrationShape(t *testing.T) {
	for _, r := range []PushRegistration{
		{Kind: PushKindWebPush, Address: "https://x/", P256dh: make([]byte, 64), Auth: make([]byte, 16)},
		{Kind: PushKindUnifiedPush, Address: "https://x/", P256dh: make([]byte, 65)},
		{Kind: PushKindAPNs, Address: "abcd"},
		{Kind: PushKindFCM, Address: "t", Topic: "x"},
		{Kind: 9, Address: "t"},
		{Kind: PushKindFCM},
	} {
		if _, err := ParsePushRegistration(AppendPushRegistration(nil, r)); err == nil {
			t.Errorf("%+v accepted", r)
		}
	}
}

func fuzzPush(f *testing.F, name string) {
	for _, s := range pushSeeds(f)[name] {
		f.Add(s)
	}
	dec := pushDecoders[name]
	f.Fuzz(func(t *testing.T, in []byte) {
		again, err := dec(in)
		if err == nil && !bytes.Equal(again, in) {
			t.Fatalf("%s: parsed input re-encodes differently:\n in %x\nout %x", name, in, again)
		}
	})
}

func FuzzParseBridgeKeyIs(f *testing.F)      { fuzzPush(f, "bridge_key_is") }
func FuzzParsePushRegister(f *testing.F)     { fuzzPush(f, "push_register") }
func FuzzParsePushUnregister(f *testing.F)   { fuzzPush(f, "push_unregister") }
func FuzzParsePushStates(f *testing.F)       { fuzzPush(f, "push_states") }
func FuzzParsePushDND(f *testing.F)          { fuzzPush(f, "push_dnd") }
func FuzzParsePushRegistration(f *testing.F) { fuzzPush(f, "push_registration") }
func FuzzParseBridgeKey(f *testing.F)        { fuzzPush(f, "bridge_key") }
func FuzzParsePushList(f *testing.F)         { fuzzPush(f, "push_list") }

// Known answers, written from the layouts in doc.go: a change to the push bytes on the wire
// fails here, not only in a peer.
func TestPushKnownAnswers(t *testing.T) {
	var id [16]byte
	for i := range id {
		id[i] = byte(i)
	}
	const ids = "000102030405060708090a0b0c0d0e0f"
	for _, c := range []struct {
		name string
		got  []byte
		want string
	}{
		{"PushStates", AppendPushStates(nil, []PushState{{ID: id}, {ID: id, Dead: true, Reason: "410 Gone"}}),
			"25" + "02" + ids + "00" + "00" + ids + "01" + "08" + "34313020476f6e65"},
		{"PushDND", AppendPushDND(nil, 1_800_000_000_000), "26" + "000001a3185c5000"},
		{"PushRegistration", AppendPushRegistration(nil, PushRegistration{Kind: PushKindAPNs, Address: "abcd", Topic: "chat.petrel"}),
			"01" + "03" + "0004" + "61626364" + "0b" + "636861742e70657472656c" + "00" + "00"},
		{"PushRegister", AppendPushRegister(nil, PushRegister{ID: id, Sealed: []byte{0xaa, 0xbb}}), "22" + ids + "aabb"},
		{"PushUnregister", AppendPushUnregister(nil, id), "23" + ids},
		{"PushList", AppendPushList(nil), "24"},
		{"BridgeKey", AppendBridgeKey(nil), "20"},
	} {
		if got := hex.EncodeToString(c.got); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

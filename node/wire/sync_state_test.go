package wire

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/petrel-chat/petrel/sync/hlc"
)

// TestSyncedStateStrict: what our own devices sync (a device's reachability, settings, a
// mute, a receipt) is taken only in its exact form: an unknown key, a bad value or
// trailing bytes is malformed, and a good one reads back as sent.
func TestSyncedStateStrict(t *testing.T) {
	ts := hlc.Timestamp{Wall: 1_700_000_000_000, Logical: 1}.String()
	good := map[string]func([]byte) error{
		`{"addrs":["/ip4/127.0.0.1/tcp/1"],"relays":[]}`:               func(b []byte) error { _, err := ParseSyncedDevice(b); return err },
		`{"ts":"` + ts + `","presence":"nobody","read_receipts":true}`: func(b []byte) error { _, err := ParseSyncedSettings(b); return err },
		`{"ts":"` + ts + `","conv":"d1","muted_until":5}`:              func(b []byte) error { _, err := ParseSyncedMute(b); return err },
		`{"status":"delivered","ids":["m1"],"at":7}`:                   func(b []byte) error { _, err := ParseSyncedReceipt(b); return err },
	}
	for in, parse := range good {
		if err := parse([]byte(in)); err != nil {
			t.Errorf("%s: %v", in, err)
		}
		for _, bad := range []string{in[:len(in)-1] + `,"x":1}`, in + `{}`, `[]`} {
			if err := parse([]byte(bad)); !errors.Is(err, ErrMalformed) {
				t.Errorf("%s accepted: %v", bad, err)
			}
		}
	}
	for _, bad := range []string{
		`{"ts":"` + ts + `","presence":"everyone","read_receipts":true}`,
		`{"ts":"yesterday","presence":"nobody","read_receipts":true}`,
	} {
		if _, err := ParseSyncedSettings([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s accepted: %v", bad, err)
		}
	}
	if _, err := ParseSyncedReceipt([]byte(`{"status":"sent","ids":["m1"],"at":7}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("a receipt of status sent accepted: %v", err)
	}
	if _, err := ParseSyncedMute([]byte(`{"ts":"` + ts + `","conv":"a/b"}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("a mute of a bad conversation id accepted: %v", err)
	}
}

// fuzzSynced: a decoder of synced state never panics, and what it accepts encodes to JSON
// that it accepts again.
func fuzzSynced[T any](f *testing.F, parse func([]byte) (*T, error), seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parse(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parse(again); err != nil {
			t.Fatalf("accepted %q but not its encoding %q: %v", b, again, err)
		}
	})
}

func FuzzParseSyncedDevice(f *testing.F) {
	fuzzSynced(f, ParseSyncedDevice, `{"addrs":["/ip4/127.0.0.1/tcp/1"],"relays":[]}`, `{}`)
}

func FuzzParseSyncedSettings(f *testing.F) {
	fuzzSynced(f, ParseSyncedSettings, `{"ts":"018bcfe5680000000001","presence":"nobody","read_receipts":true,"dnd_until":3}`)
}

func FuzzParseSyncedMute(f *testing.F) {
	fuzzSynced(f, ParseSyncedMute, `{"ts":"018bcfe5680000000001","conv":"d1","muted_until":5}`)
}

func FuzzParseSyncedReceipt(f *testing.F) {
	fuzzSynced(f, ParseSyncedReceipt, `{"status":"read","ids":["m1","m2"],"at":7}`)
}

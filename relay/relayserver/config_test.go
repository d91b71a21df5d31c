package relayserver

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDefaultConfigValidAndPartialFilesKeepDefaults: the defaults validate, a file changes
// only what it names, and durations read as Go duration strings.
func TestDefaultConfigValidAndPartialFilesKeepDefaults(t *testing.T) {
	d := DefaultConfig()
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	path := filepath.Join(t.TempDir(), "relay.json")
	os.WriteFile(path, []byte(`{"mailbox": {"ttl": "48h", "max_messages": 7}}`), 0o600)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(cfg.Mailbox.TTL) != 48*time.Hour || cfg.Mailbox.MaxMessages != 7 {
		t.Errorf("file values not applied: %+v", cfg.Mailbox)
	}
	if cfg.Mailbox.MaxBytes != d.Mailbox.MaxBytes || cfg.Circuit != d.Circuit || cfg.Registration.Policy != PolicyOpen {
		t.Error("defaults lost for fields the file does not name")
	}
	b, _ := json.Marshal(cfg.Mailbox.TTL)
	if string(b) != `"48h0m0s"` {
		t.Errorf("duration marshals as %s", b)
	}
	for name, body := range map[string]string{
		"bad duration":        `{"mailbox": {"ttl": "soon"}}`,
		"allowlist bad peer":  `{"registration": {"policy": "allowlist", "allow_peers": ["nope"]}}`,
		"bad listen":          `{"listen": ["tcp/4001"]}`,
		"low high water":      `{"resources": {"conn_low_water": 10, "conn_high_water": 5}}`,
		"envelope over frame": `{"mailbox": {"max_envelope_bytes": 99999999}}`,
	} {
		os.WriteFile(path, []byte(body), 0o600)
		if _, err := LoadConfig(path); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestInfoFileRoundTrip: relay.json is written 0600 and read back.
func TestInfoFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.json")
	in := Info{PeerID: "12D3KooWtest", Addrs: []string{"/ip4/127.0.0.1/tcp/1/p2p/12D3KooWtest"}}
	if err := WriteInfoFile(path, in); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}
	out, err := ReadInfoFile(path)
	if err != nil || out.PeerID != in.PeerID || len(out.Addrs) != 1 {
		t.Fatalf("read back %+v %v", out, err)
	}
	os.WriteFile(path, []byte(`{"peer_id":""}`), 0o600)
	if _, err := ReadInfoFile(path); err == nil {
		t.Error("empty relay.json accepted")
	}
}

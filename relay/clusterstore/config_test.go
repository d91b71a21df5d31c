package clusterstore

import (
	"strings"
	"testing"
)

// TestValidateAdvertise: a malformed advertise address is refused with a message naming
// it, and advertise goes only with an embedded server.
func TestValidateAdvertise(t *testing.T) {
	base := Config{Name: "c", Listen: "127.0.0.1:6222", Routes: []string{"127.0.0.1:6223"}}
	ok := base
	ok.Advertise = "10.0.0.1:6222"
	if err := ok.Validate(); err != nil {
		t.Fatalf("a HOST:PORT advertise address: %v", err)
	}
	bad := base
	bad.Advertise = "10.0.0.1"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "advertise") {
		t.Fatalf("advertise without a port: %v", err)
	}
	ext := Config{NATSURL: "nats://n1:4222", Advertise: "10.0.0.1:6222"}
	if err := ext.Validate(); err == nil {
		t.Fatal("advertise with nats_url accepted")
	}
}

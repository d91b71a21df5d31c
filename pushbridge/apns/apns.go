package apns

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"

	"github.com/petrel-chat/petrel/pushbridge/bridge"
)

// Hosts of the APNs provider API.
const (
	HostProduction = apns2.HostProduction
	HostSandbox    = apns2.HostDevelopment
)

// Config is what an APNs sender needs.
type Config struct {
	KeyP8  []byte // the .p8 key (PEM, PKCS #8 EC key)
	KeyID  string
	TeamID string
	// Host is the provider API (HostProduction unless set).
	Host string
	// RootCAs, if set, replaces the system roots (tests).
	RootCAs *x509.CertPool
}

// Sender sends content-free pushes through APNs.
type Sender struct {
	client *apns2.Client
}

// New loads the key and returns a sender; it connects on the first push.
func New(c Config) (*Sender, error) {
	key, err := token.AuthKeyFromBytes(c.KeyP8)
	if err != nil {
		return nil, fmt.Errorf("apns: key: %w", err)
	}
	if c.KeyID == "" || c.TeamID == "" {
		return nil, errors.New("apns: key_id and team_id are required")
	}
	host := c.Host
	if host == "" {
		host = HostProduction
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     10 * time.Minute,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	cl := &apns2.Client{
		Host:       host,
		Token:      &token.Token{AuthKey: key, KeyID: c.KeyID, TeamID: c.TeamID},
		HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second},
	}
	return &Sender{client: cl}, nil
}

// ValidToken reports whether s looks like an APNs device token (hex, 32..100 bytes).
func ValidToken(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) >= 32 && len(b) <= 100
}

// backgroundPayload wakes the app without showing anything.
var backgroundPayload = []byte(`{"aps":{"content-available":1}}`)

// Send pushes a content-free background notification to t.Token for t.Topic; the payload
// the bridge offers is ignored (APNs pushes never carry content).
func (s *Sender) Send(ctx context.Context, t bridge.Target, _ []byte) error {
	if !ValidToken(t.Token) {
		return &bridge.ProviderError{Provider: bridge.KindAPNs, Status: 400, Reason: apns2.ReasonBadDeviceToken, Dead: true}
	}
	n := &apns2.Notification{
		DeviceToken: t.Token,
		Topic:       t.Topic,
		Priority:    apns2.PriorityLow,
		PushType:    apns2.PushTypeBackground,
		Payload:     backgroundPayload,
		Expiration:  time.Now().Add(24 * time.Hour),
	}
	resp, err := s.client.PushWithContext(ctx, n)
	if err != nil {
		return fmt.Errorf("apns: %w", err)
	}
	if resp.StatusCode == apns2.StatusSent {
		return nil
	}
	e := &bridge.ProviderError{Provider: bridge.KindAPNs, Status: resp.StatusCode, Reason: resp.Reason}
	switch {
	case resp.StatusCode == http.StatusGone || resp.Reason == apns2.ReasonUnregistered,
		resp.StatusCode == http.StatusBadRequest && resp.Reason == apns2.ReasonBadDeviceToken:
		e.Dead = true
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		e.Retry = true
	}
	return e
}

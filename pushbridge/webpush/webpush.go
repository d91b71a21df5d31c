package webpush

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	wp "github.com/SherClockHolmes/webpush-go"

	"github.com/petrel-chat/petrel/pushbridge/bridge"
)

// DefaultTTL is how long a push service keeps a push for an offline device.
const DefaultTTL = 24 * time.Hour

// VAPID is an application server key pair (base64url, unpadded).
type VAPID struct {
	PublicKey  string `json:"public_key"`
	PrivateKey string `json:"private_key"`
}

// GenerateVAPID makes a fresh key pair.
func GenerateVAPID() (VAPID, error) {
	priv, pub, err := wp.GenerateVAPIDKeys()
	if err != nil {
		return VAPID{}, fmt.Errorf("webpush: vapid keys: %w", err)
	}
	return VAPID{PublicKey: pub, PrivateKey: priv}, nil
}

// LoadOrCreateVAPID reads the key pair in path, creating it (0600) when absent.
func LoadOrCreateVAPID(path string) (VAPID, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		v, err := GenerateVAPID()
		if err != nil {
			return v, err
		}
		b, _ := json.Marshal(v)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return v, fmt.Errorf("webpush: %w", err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return v, fmt.Errorf("webpush: vapid key: %w", err)
		}
		return v, nil
	}
	if err != nil {
		return VAPID{}, fmt.Errorf("webpush: vapid key: %w", err)
	}
	var v VAPID
	if err := json.Unmarshal(b, &v); err != nil {
		return VAPID{}, fmt.Errorf("webpush: vapid key %s: %w", path, err)
	}
	return v, v.check()
}

func (v VAPID) check() error {
	pub, err1 := base64.RawURLEncoding.DecodeString(v.PublicKey)
	priv, err2 := base64.RawURLEncoding.DecodeString(v.PrivateKey)
	if err1 != nil || err2 != nil || len(pub) != 65 || len(priv) != 32 {
		return errors.New("webpush: vapid key pair malformed (want base64url P-256 public point and scalar)")
	}
	return nil
}

// Sender sends Web Push messages. Provider names it in errors and metrics ("webpush";
// pushbridge/unifiedpush reuses it as "unifiedpush").
type Sender struct {
	Provider string
	VAPID    VAPID
	// Subject is the VAPID contact (mailto: or https: URL).
	Subject string
	// Client is the HTTP client (bridge.GuardedClient); AllowPrivate must match it.
	Client       *http.Client
	AllowPrivate bool
	TTL          time.Duration
}

// Send encrypts payload to t's keys and posts it to t's endpoint.
func (s *Sender) Send(ctx context.Context, t bridge.Target, payload []byte) error {
	if _, err := bridge.CheckEndpoint(t.Endpoint, s.AllowPrivate); err != nil {
		return &bridge.ProviderError{Provider: s.name(), Reason: err.Error(), Dead: true}
	}
	if len(payload) > bridge.MaxPlaintext {
		return fmt.Errorf("webpush: payload of %d bytes over %d", len(payload), bridge.MaxPlaintext)
	}
	if payload == nil {
		payload = bridge.Payload(nil)
	}
	ttl := s.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	sub := &wp.Subscription{Endpoint: t.Endpoint, Keys: wp.Keys{
		P256dh: base64.RawURLEncoding.EncodeToString(t.P256dh),
		Auth:   base64.RawURLEncoding.EncodeToString(t.Auth),
	}}
	resp, err := wp.SendNotificationWithContext(ctx, payload, sub, &wp.Options{
		HTTPClient:      s.Client,
		RecordSize:      bridge.RecordSize,
		Subscriber:      s.Subject,
		TTL:             int(ttl / time.Second),
		Urgency:         wp.UrgencyHigh,
		VAPIDPublicKey:  s.VAPID.PublicKey,
		VAPIDPrivateKey: s.VAPID.PrivateKey,
	})
	if errors.Is(err, bridge.ErrEndpoint) {
		return &bridge.ProviderError{Provider: s.name(), Reason: err.Error(), Dead: true}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", s.name(), err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return bridge.Classify(s.name(), resp.StatusCode, resp.Header, "")
}

func (s *Sender) name() string {
	if s.Provider == "" {
		return bridge.KindWebPush
	}
	return s.Provider
}

package unifiedpush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/petrel-chat/petrel/pushbridge/bridge"
	"github.com/petrel-chat/petrel/pushbridge/webpush"
)

// Provider is the name in errors and metrics.
const Provider = bridge.KindUnifiedPush

const (
	// discoveryTTL is how long a successful discovery is trusted.
	discoveryTTL = 24 * time.Hour
	// maxDiscovered bounds the discovery cache.
	maxDiscovered = 100_000
)

// Sender sends UnifiedPush messages.
type Sender struct {
	push *webpush.Sender
	now  func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time // endpoint → when discovery succeeded
}

// New returns a sender posting through w (its Provider is set to "unifiedpush").
func New(w webpush.Sender) *Sender {
	w.Provider = Provider
	return &Sender{push: &w, now: time.Now, seen: map[string]time.Time{}}
}

// Send discovers t's endpoint if needed, then pushes payload to it.
func (s *Sender) Send(ctx context.Context, t bridge.Target, payload []byte) error {
	if err := s.discover(ctx, t.Endpoint); err != nil {
		return err
	}
	return s.push.Send(ctx, t, payload)
}

func (s *Sender) discover(ctx context.Context, endpoint string) error {
	s.mu.Lock()
	at, ok := s.seen[endpoint]
	s.mu.Unlock()
	if ok && s.now().Sub(at) < discoveryTTL {
		return nil
	}
	if _, err := bridge.CheckEndpoint(endpoint, s.push.AllowPrivate); err != nil {
		return &bridge.ProviderError{Provider: Provider, Reason: err.Error(), Dead: true}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return fmt.Errorf("unifiedpush: discovery: %w", err)
	}
	resp, err := s.push.Client.Do(req)
	if errors.Is(err, bridge.ErrEndpoint) {
		return &bridge.ProviderError{Provider: Provider, Reason: err.Error(), Dead: true}
	}
	if err != nil {
		return fmt.Errorf("unifiedpush: discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := bridge.Classify(Provider, resp.StatusCode, resp.Header, "discovery")
		if pe, ok := err.(*bridge.ProviderError); ok && !pe.Dead {
			pe.Retry = true // a distributor that is down now may answer later
		}
		return err
	}
	var d struct {
		UnifiedPush struct {
			Version int `json:"version"`
		} `json:"unifiedpush"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&d); err != nil || d.UnifiedPush.Version != 1 {
		return &bridge.ProviderError{Provider: Provider, Status: resp.StatusCode, Reason: "not a UnifiedPush endpoint", Dead: true}
	}
	s.mu.Lock()
	if len(s.seen) >= maxDiscovered {
		clear(s.seen)
	}
	s.seen[endpoint] = s.now()
	s.mu.Unlock()
	return nil
}

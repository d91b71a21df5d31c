package bridge

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ProviderError is a push provider's refusal, classified.
type ProviderError struct {
	Provider string
	Status   int    // HTTP status
	Reason   string // the provider's reason ("Unregistered", "UNREGISTERED", "gone"), for metrics and the registration's error
	// Dead: the registration is gone and must not be used again.
	Dead bool
	// Retry: try again later, after RetryAfter when the provider said (else backoff).
	Retry      bool
	RetryAfter time.Duration
	// TooLarge: the payload was refused for its size; a content-free push may pass.
	TooLarge bool
}

func (e *ProviderError) Error() string {
	return fmt.Sprintf("push: %s answered %d %s", e.Provider, e.Status, e.Reason)
}

// ErrEndpoint reports an endpoint the bridge refuses to contact (scheme, address).
var ErrEndpoint = errors.New("push: endpoint refused")

// Classify turns an HTTP status of a Web Push style provider into a *ProviderError (nil for
// 2xx). reason names the refusal when the provider gave one.
func Classify(provider string, status int, header http.Header, reason string) error {
	if status >= 200 && status < 300 {
		return nil
	}
	e := &ProviderError{Provider: provider, Status: status, Reason: reason}
	if e.Reason == "" {
		e.Reason = http.StatusText(status)
	}
	switch {
	case status == http.StatusNotFound || status == http.StatusGone:
		e.Dead = true
	case status == http.StatusRequestEntityTooLarge:
		e.TooLarge = true
	case status == http.StatusTooManyRequests || status >= 500:
		e.Retry = true
		e.RetryAfter = RetryAfter(header, time.Now())
	}
	return e
}

// RetryAfter reads a Retry-After header (seconds or an HTTP date); 0 when absent or bad.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

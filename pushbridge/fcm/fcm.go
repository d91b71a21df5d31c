package fcm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/petrel-chat/petrel/pushbridge/bridge"
)

// Scope is the OAuth scope of the FCM HTTP v1 API.
const Scope = "https://www.googleapis.com/auth/firebase.messaging"

// DefaultEndpoint is Google's FCM API.
const DefaultEndpoint = "https://fcm.googleapis.com"

// Config is what an FCM sender needs.
type Config struct {
	// ServiceAccountJSON is the service account key file's content.
	ServiceAccountJSON []byte
	// Endpoint is the API base (DefaultEndpoint unless set).
	Endpoint string
	// Client makes the requests, to the API and the token endpoint (nil: a default client).
	Client *http.Client
}

// Sender sends data-only FCM messages.
type Sender struct {
	url    string
	client *http.Client
	tokens oauth2.TokenSource
}

// New reads the service account and returns a sender.
func New(c Config) (*Sender, error) {
	var sa struct {
		ProjectID string `json:"project_id"`
	}
	if err := json.Unmarshal(c.ServiceAccountJSON, &sa); err != nil || sa.ProjectID == "" {
		return nil, errors.New("fcm: service account JSON without project_id")
	}
	jc, err := google.JWTConfigFromJSON(c.ServiceAccountJSON, Scope)
	if err != nil {
		return nil, fmt.Errorf("fcm: service account: %w", err)
	}
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	ep := c.Endpoint
	if ep == "" {
		ep = DefaultEndpoint
	}
	// The token source keeps the background context only for its HTTP client.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, client)
	return &Sender{
		url:    ep + "/v1/projects/" + sa.ProjectID + "/messages:send",
		client: client,
		tokens: oauth2.ReuseTokenSource(nil, jc.TokenSource(ctx)),
	}, nil
}

type message struct {
	Message struct {
		Token   string            `json:"token"`
		Data    map[string]string `json:"data"`
		Android struct {
			Priority string `json:"priority"`
		} `json:"android"`
	} `json:"message"`
}

// Send pushes a content-free data message to t.Token; the payload is ignored.
func (s *Sender) Send(ctx context.Context, t bridge.Target, _ []byte) error {
	if t.Token == "" || len(t.Token) > 4096 {
		return &bridge.ProviderError{Provider: bridge.KindFCM, Status: 400, Reason: "INVALID_ARGUMENT", Dead: true}
	}
	tok, err := s.tokens.Token()
	if err != nil {
		return fmt.Errorf("fcm: access token: %w", err)
	}
	var m message
	m.Message.Token = t.Token
	m.Message.Data = map[string]string{"petrel": "1"}
	m.Message.Android.Priority = "high"
	body, _ := json.Marshal(m)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("fcm: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("fcm: %w", err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	code := errorCode(rb)
	e := &bridge.ProviderError{Provider: bridge.KindFCM, Status: resp.StatusCode, Reason: code}
	switch {
	case resp.StatusCode == http.StatusNotFound || code == "UNREGISTERED":
		e.Dead = true
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		e.Retry = true
		e.RetryAfter = bridge.RetryAfter(resp.Header, time.Now())
	}
	if e.Reason == "" {
		e.Reason = http.StatusText(resp.StatusCode)
	}
	return e
}

// errorCode reads the FcmError code of an error answer (details[].errorCode), else its
// status.
func errorCode(b []byte) string {
	var r struct {
		Error struct {
			Status  string `json:"status"`
			Details []struct {
				ErrorCode string `json:"errorCode"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &r) != nil {
		return ""
	}
	for _, d := range r.Error.Details {
		if d.ErrorCode != "" {
			return d.ErrorCode
		}
	}
	return r.Error.Status
}

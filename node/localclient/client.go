package localclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/petrel-chat/petrel/node/api"
)

// APIError is an error answer of the API.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("api: %d %s: %s", e.Status, e.Code, e.Message)
}

// Client talks to one node's local API.
type Client struct {
	base  string
	token string
	hc    *http.Client
	dial  DialFunc // nil: the default dialer
}

// DialFunc opens a connection to the API's address.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// New returns a client for the API at baseURL (http://127.0.0.1:PORT) with token.
func New(baseURL, token string) *Client {
	return &Client{base: baseURL, token: token, hc: &http.Client{Timeout: 30 * time.Second}}
}

// NewWithDial is New with the client's connections (REST and WebSocket) opened by dial: for
// a caller that reaches the node's loopback from elsewhere, such as a test that runs the
// node in a network namespace of its own. The Host header stays baseURL's.
func NewWithDial(baseURL, token string, dial DialFunc) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dial
	tr.Proxy = nil
	return &Client{base: baseURL, token: token, dial: dial, hc: &http.Client{Timeout: 30 * time.Second, Transport: tr}}
}

// Info is DIR/api.json.
type Info struct {
	URL    string   `json:"url"`
	Token  string   `json:"token"`
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
}

// ReadInfo reads an api.json file.
func ReadInfo(path string) (Info, error) {
	var in Info
	b, err := os.ReadFile(path)
	if err != nil {
		return in, err
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return in, fmt.Errorf("localclient: %s: %w", path, err)
	}
	return in, nil
}

// FromInfo returns a client for the node described by an api.json file.
func FromInfo(path string) (*Client, error) {
	in, err := ReadInfo(path)
	if err != nil {
		return nil, err
	}
	return New(in.URL, in.Token), nil
}

// URL returns the API's base URL.
func (c *Client) URL() string { return c.base }

// Do sends a request with an optional JSON body and decodes a JSON answer into out (if not
// nil). A non-2xx answer returns *APIError.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	return c.DoRaw(ctx, method, path, "application/json", rd, out)
}

// DoRaw is Do with a raw body of the given content type.
func (c *Client) DoRaw(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	_, err := c.doRaw(ctx, method, path, contentType, body, out)
	return err
}

// DoStatus is Do that also returns the HTTP status (e.g. 201 Created or 200 for a repeat).
func (c *Client) DoStatus(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	return c.doRaw(ctx, method, path, "application/json", rd, out)
}

func (c *Client) doRaw(ctx context.Context, method, path, contentType string, body io.Reader, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		json.Unmarshal(b, &eb)
		return resp.StatusCode, &APIError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("localclient: decode %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// Me is GET /v1/me.
func (c *Client) Me(ctx context.Context) (api.Me, error) {
	var me api.Me
	return me, c.Do(ctx, http.MethodGet, "/v1/me", nil, &me)
}

// SetName is PATCH /v1/me.
func (c *Client) SetName(ctx context.Context, name string) (api.Me, error) {
	var me api.Me
	return me, c.Do(ctx, http.MethodPatch, "/v1/me", api.MePatch{Name: &name}, &me)
}

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var st api.Status
	return st, c.Do(ctx, http.MethodGet, "/v1/status", nil, &st)
}

// Events is GET /v1/events.
func (c *Client) Events(ctx context.Context, since uint64, limit int) (api.EventPage, error) {
	var p api.EventPage
	q := url.Values{"since": {strconv.FormatUint(since, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return p, c.Do(ctx, http.MethodGet, "/v1/events?"+q.Encode(), nil, &p)
}

// RotateToken is POST /v1/token/rotate: the node replaces its token (and rewrites api.json),
// refuses the old one and ends every web UI session. It returns the new token; c keeps the
// old one, so talk to the node with New(c.URL(), token) from then on.
func (c *Client) RotateToken(ctx context.Context) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	if err := c.Do(ctx, http.MethodPost, "/v1/token/rotate", nil, &out); err != nil {
		return "", err
	}
	return out.Token, nil
}

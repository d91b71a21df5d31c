package localclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/gorilla/websocket"
	"github.com/petrel-chat/petrel/node/api"
)

// Frame is one node → client frame. Raw holds the whole frame; the common fields are decoded.
type Frame struct {
	Type    string          `json:"type"`
	Seq     uint64          `json:"seq"`
	Kind    string          `json:"kind"`
	Ref     string          `json:"ref"`
	Code    string          `json:"code"`
	Message json.RawMessage `json:"message"`
	Raw     json.RawMessage `json:"-"`
}

// Event returns the frame as an event (valid when Type is "event").
func (f Frame) Event() (api.Event, error) {
	var ev api.Event
	err := json.Unmarshal(f.Raw, &ev)
	return ev, err
}

// Socket is an open /v1/ws connection.
type Socket struct {
	conn *websocket.Conn
	wmu  sync.Mutex
}

// Dial opens the socket with the bearer token in a header (header is nil or extra headers,
// e.g. an Origin to test the check).
func (c *Client) Dial(ctx context.Context, header http.Header) (*Socket, *http.Response, error) {
	u := "ws" + strings.TrimPrefix(c.base, "http") + "/v1/ws"
	h := http.Header{}
	for k, v := range header {
		h[k] = v
	}
	if h.Get("Authorization") == "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
	d := websocket.DefaultDialer
	if c.dial != nil {
		d = &websocket.Dialer{NetDialContext: c.dial, HandshakeTimeout: websocket.DefaultDialer.HandshakeTimeout}
	}
	conn, resp, err := d.DialContext(ctx, u, h)
	if err != nil {
		return nil, resp, fmt.Errorf("localclient: dial: %w", err)
	}
	return &Socket{conn: conn}, resp, nil
}

// Send writes one JSON frame.
func (s *Socket) Send(v any) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.conn.WriteJSON(v)
}

// SendRaw writes raw bytes as one text frame.
func (s *Socket) SendRaw(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.conn.WriteMessage(websocket.TextMessage, b)
}

// Read returns the next frame; ctx's deadline bounds the wait.
func (s *Socket) Read(ctx context.Context) (Frame, error) {
	if d, ok := ctx.Deadline(); ok {
		s.conn.SetReadDeadline(d)
	}
	_, b, err := s.conn.ReadMessage()
	if err != nil {
		return Frame{}, err
	}
	var f Frame
	if err := json.Unmarshal(b, &f); err != nil {
		return Frame{}, fmt.Errorf("localclient: bad frame: %w", err)
	}
	f.Raw = b
	return f, nil
}

// Close closes the socket.
func (s *Socket) Close() error { return s.conn.Close() }

package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/petrel-chat/petrel/node/api"
)

const (
	wsPingEvery   = 30 * time.Second
	wsReadTimeout = 75 * time.Second // > 2 pings: a live client always answers in time
	wsWriteWait   = 10 * time.Second
	wsReplayPage  = 200
	wsOutQueue    = 256
)

// serveWS upgrades to the socket. The Origin check happens here: a browser page of another
// origin may not open it (403), a non-browser client sends no Origin.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && !s.ownOrigin(o) {
		writeErrorCode(w, http.StatusForbidden, codeForbidden, "foreign origin")
		return
	}
	up := websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		CheckOrigin:     func(*http.Request) bool { return true }, // checked above, with the port
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	if !s.socketOpened() {
		conn.Close() // the server is stopping
		return
	}
	defer s.conns.Done()
	c := &wsConn{s: s, conn: conn, out: make(chan []byte, wsOutQueue), hello: make(chan uint64, 1)}
	cred, _ := r.Context().Value(credKey{}).(string)
	s.mu.Lock()
	live := s.credLiveLocked(cred) // else a logout or rotation came between auth and here
	if live {
		s.sockets[c] = cred
	}
	s.mu.Unlock()
	if !live {
		conn.Close()
		return
	}
	defer func() {
		s.mu.Lock()
		delete(s.sockets, c)
		s.mu.Unlock()
	}()
	c.run(r.Context())
}

// ownOrigin reports whether origin is this API's own (http://HOST:PORT of an allowed host).
func (s *Server) ownOrigin(origin string) bool {
	host, ok := strings.CutPrefix(strings.ToLower(origin), "http://")
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.knownHost(host)
}

// wsConn is one socket: a reader (this goroutine) and a writer that owns the event cursor.
type wsConn struct {
	s     *Server
	conn  *websocket.Conn
	out   chan []byte // frames other than events, in order
	hello chan uint64 // a new cursor from a hello frame
}

func (c *wsConn) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.writeLoop(ctx)
		cancel()
		c.conn.Close() // unblocks the reader
	}()
	c.readLoop(ctx)
	cancel()
	<-done
}

// readLoop reads frames until the socket fails or ctx ends.
func (c *wsConn) readLoop(ctx context.Context) {
	c.conn.SetReadDeadline(time.Now().Add(wsReadTimeout))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(wsReadTimeout))
	})
	buf := make([]byte, MaxFrameBytes+1)
	for ctx.Err() == nil {
		typ, r, err := c.conn.NextReader()
		if err != nil {
			return
		}
		c.conn.SetReadDeadline(time.Now().Add(wsReadTimeout))
		n, err := io.ReadFull(r, buf)
		switch {
		case err == nil: // filled the buffer: the frame is over the limit
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
			c.sendError(ctx, "", codeTooLarge, "frame larger than 64 KiB")
			continue
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		default:
			return
		}
		if typ != websocket.TextMessage {
			c.sendError(ctx, "", codeBadRequest, "frames must be JSON text")
			continue
		}
		c.handle(ctx, buf[:n])
	}
}

// clientFrame is every field a client frame may carry (API.md §5).
type clientFrame struct {
	Type           string          `json:"type"`
	Since          *uint64         `json:"since"`
	ConversationID string          `json:"conversation_id"`
	ClientMsgID    string          `json:"client_msg_id"`
	Body           *string         `json:"body"`
	ReplyTo        *string         `json:"reply_to"`
	Attachments    json.RawMessage `json:"attachments"`
	UpTo           string          `json:"up_to"`
	State          string          `json:"state"`
	Ref            string          `json:"ref"`
}

// parseClientFrame decodes one client frame.
func parseClientFrame(b []byte) (clientFrame, error) {
	var f clientFrame
	if err := decodeJSON(b, &f); err != nil {
		return clientFrame{}, err
	}
	if f.Type == "" {
		return f, api.Errorf(api.ErrBadRequest, "frame has no type")
	}
	return f, nil
}

func (c *wsConn) handle(ctx context.Context, b []byte) {
	f, err := parseClientFrame(b)
	if err != nil {
		c.sendErr(ctx, "", err)
		return
	}
	switch f.Type {
	case api.FrameHello:
		var since uint64
		if f.Since != nil {
			since = *f.Since
		}
		select { // the newest hello wins
		case <-c.hello:
		default:
		}
		c.hello <- since
	case api.FramePing:
		c.sendFrame(ctx, api.NewPongFrame())
	case api.FrameSend:
		c.send(ctx, f)
	case api.FrameRead:
		ref := f.Ref
		if ref == "" {
			ref = f.ConversationID
		}
		if f.UpTo == "" {
			c.sendError(ctx, ref, codeBadRequest, "up_to is required")
			return
		}
		if err := c.s.cfg.Backend.MarkRead(ctx, f.ConversationID, f.UpTo); err != nil {
			c.sendErr(ctx, ref, err)
		}
	case api.FrameTyping:
		if err := c.s.cfg.Backend.Typing(ctx, f.ConversationID, f.State); err != nil {
			ref := f.Ref
			if ref == "" {
				ref = f.ConversationID
			}
			c.sendErr(ctx, ref, err)
		}
	default:
		ref := f.ClientMsgID
		if ref == "" {
			ref = f.Ref
		}
		c.sendError(ctx, ref, codeBadRequest, "unknown frame type "+quoteShort(f.Type))
	}
}

// send handles a send frame: the reply is an ack (the original message for a repeated
// client_msg_id) or an error frame whose ref is the client_msg_id.
func (c *wsConn) send(ctx context.Context, f clientFrame) {
	req := api.SendRequest{ConversationID: f.ConversationID, ClientMsgID: f.ClientMsgID, ReplyTo: f.ReplyTo}
	if f.Body != nil {
		req.Body = *f.Body
	}
	if len(f.Attachments) > 0 && string(f.Attachments) != "null" {
		if err := decodeJSON(f.Attachments, &req.Attachments); err != nil {
			c.sendErr(ctx, f.ClientMsgID, err)
			return
		}
	}
	m, _, err := c.s.cfg.Backend.Send(ctx, req)
	if err != nil {
		c.sendErr(ctx, f.ClientMsgID, err)
		return
	}
	c.sendFrame(ctx, api.NewAckFrame(m))
}

func quoteShort(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func (c *wsConn) sendErr(ctx context.Context, ref string, err error) {
	code, _, msg := classify(err)
	if code == codeInternal {
		c.s.log.Error("socket request failed", "err", err)
	}
	c.sendError(ctx, ref, code, msg)
}

func (c *wsConn) sendError(ctx context.Context, ref, code, msg string) {
	c.sendFrame(ctx, api.NewErrorFrame(ref, code, msg))
}

// sendFrame queues a frame for the writer; a client that stops reading for wsWriteWait while
// its queue is full is disconnected rather than allowed to hold memory.
func (c *wsConn) sendFrame(ctx context.Context, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.s.log.Error("socket frame encode", "err", err)
		return
	}
	t := time.NewTimer(wsWriteWait)
	defer t.Stop()
	select {
	case c.out <- b:
	case <-ctx.Done():
	case <-t.C:
		c.conn.Close()
	}
}

// writeLoop is the only writer of the socket. It owns the event cursor: after a hello it
// replays from the cursor, sends synced, and then follows the log live.
func (c *wsConn) writeLoop(ctx context.Context) {
	events := c.s.cfg.Backend.Events()
	notify, unsubscribe := events.Subscribe()
	defer unsubscribe()
	// Ephemeral frames (presence, typing) flow once the socket is synced; subscribing only
	// then lets the backend open with a snapshot (who is online now) that reaches this UI.
	var ephemeral <-chan []byte
	unsubscribeEph := func() {}
	defer func() { unsubscribeEph() }()
	ping := time.NewTicker(wsPingEvery)
	defer ping.Stop()

	var cursor uint64
	following, replaying := false, false
	for {
		if following {
			var err error
			var caughtUp bool
			cursor, caughtUp, err = c.pump(cursor)
			if err != nil {
				c.s.log.Debug("socket write", "err", err)
				return
			}
			if caughtUp && replaying {
				replaying = false
				if c.write(mustJSON(api.NewSyncedFrame(cursor))) != nil {
					return
				}
				if ephemeral == nil {
					ephemeral, unsubscribeEph = c.s.cfg.Backend.Subscribe()
				}
			}
			if !caughtUp { // more to send: but first serve other frames, then continue
				select {
				case b := <-c.out:
					if c.write(b) != nil {
						return
					}
				default:
				}
				continue
			}
		}
		select {
		case <-ctx.Done():
			c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "node shutting down"), time.Now().Add(time.Second))
			return
		case since := <-c.hello:
			// A cursor beyond the log (a UI that knew a node since re-initialised, say)
			// starts over from the log's end, and synced tells the UI the real last seq.
			cursor, following, replaying = min(since, events.Last()), true, true
		case <-notify:
		case b := <-ephemeral:
			if following && !replaying && c.write(b) != nil {
				return
			}
		case b := <-c.out:
			if c.write(b) != nil {
				return
			}
		case <-ping.C:
			if c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteWait)) != nil {
				return
			}
		}
	}
}

// pump writes one page of events after cursor and reports the new cursor and whether it has
// caught up with the log.
func (c *wsConn) pump(cursor uint64) (uint64, bool, error) {
	evs, more, err := c.s.cfg.Backend.Events().Since(cursor, wsReplayPage)
	if err != nil {
		return cursor, false, err
	}
	for _, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			return cursor, false, err
		}
		if err := c.write(b); err != nil {
			return cursor, false, err
		}
		cursor = ev.Seq
	}
	return cursor, !more, nil
}

func (c *wsConn) write(b []byte) error {
	c.conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
	return c.conn.WriteMessage(websocket.TextMessage, b)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with fixed shapes
	}
	return b
}

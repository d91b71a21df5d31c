package relayserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// streamIO is one stream's framed reader and writer, with the deadline discipline of the
// relay's protocols.
type streamIO struct {
	st      network.Stream
	r       *bufio.Reader
	w       *bufio.Writer
	limit   int
	timeout time.Duration
}

// read reads one frame into a fresh buffer (handlers may keep it).
func (c *streamIO) read() ([]byte, error) { return relaywire.ReadFrame(c.r, nil, c.limit) }

// send writes one frame and flushes.
func (c *streamIO) send(body []byte) error {
	if err := relaywire.WriteFrame(c.w, body); err != nil {
		return err
	}
	return c.w.Flush()
}

// extend restarts the stream's deadline for the next request.
func (c *streamIO) extend() { c.st.SetDeadline(time.Now().Add(c.timeout)) }

// finish sends a final Result (when code is not OK) and closes the stream.
func (c *streamIO) finish(code relaywire.Code, msg string) {
	if code != relaywire.OK {
		if err := c.send(relaywire.AppendResult(nil, relaywire.Result{Code: code, Message: msg})); err != nil {
			c.st.Reset()
			return
		}
	}
	c.st.Close()
}

// readFailed answers a failed read: a clean end closes; an oversized or malformed frame is
// refused with a reason; anything else (reset, deadline) resets.
func (s *Server) readFailed(c *streamIO, err error) {
	switch {
	case errors.Is(err, io.EOF):
		c.st.Close()
	case errors.Is(err, relaywire.ErrTooLarge):
		s.m.refused(relaywire.CodeTooLarge)
		c.finish(relaywire.CodeTooLarge, fmt.Sprintf("frame over %d bytes", c.limit))
	case errors.Is(err, relaywire.ErrMalformed):
		s.m.refused(relaywire.CodeBadRequest)
		c.finish(relaywire.CodeBadRequest, "malformed frame")
	default:
		c.st.Reset()
	}
}

// refuse counts a refusal and ends the stream with it.
func (s *Server) refuse(c *streamIO, code relaywire.Code, msg string) {
	s.m.refused(code)
	c.finish(code, msg)
}

// serveStream wraps a protocol handler: it registers the handler with the server (so
// shutdown waits for it), joins the protocol's resource-manager service, reserves the
// stream's buffer memory, sets the first deadline and turns a panic into a reset stream.
func (s *Server) serveStream(service string, limit int, fn func(*streamIO)) network.StreamHandler {
	return func(st network.Stream) {
		if !s.enter() {
			st.Reset()
			return
		}
		defer s.handlers.Done()
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("stream handler panicked (a bug)", "protocol", st.Protocol(), "panic", v, "stack", string(debug.Stack()))
				st.Reset()
			}
		}()
		if err := st.Scope().SetService(service); err != nil {
			st.Reset()
			return
		}
		if err := st.Scope().ReserveMemory(streamMemory, network.ReservationPriorityAlways); err != nil {
			st.Reset()
			return
		}
		defer st.Scope().ReleaseMemory(streamMemory)
		c := &streamIO{
			st: st, r: bufio.NewReaderSize(st, 4<<10), w: bufio.NewWriterSize(st, 4<<10),
			limit: limit, timeout: time.Duration(s.cfg.Mailbox.StreamTimeout),
		}
		c.extend()
		fn(c)
	}
}

// enter registers a handler unless the server is shutting down.
func (s *Server) enter() bool {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closing {
		return false
	}
	s.handlers.Add(1)
	return true
}

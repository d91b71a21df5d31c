package localapi

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrel-chat/petrel/node/localapi/mediaapi"
)

// Defaults of [Limits] (documented in docs/API.md).
const (
	DefaultHeaderTimeout = 10 * time.Second
	DefaultBodyTimeout   = 20 * time.Second
	DefaultIdleTimeout   = 120 * time.Second
	DefaultMaxConns      = 256
	// DefaultMediaBodyTimeout bounds the whole body of a media upload (POST /v1/media, a tus
	// PATCH); within it, BodyTimeout without a byte ends the request.
	DefaultMediaBodyTimeout = time.Hour
)

// Limits bound what a connection may hold of the API. Zero fields are the defaults.
type Limits struct {
	// HeaderTimeout is how long a new connection (or a kept-alive one, once its next
	// request has begun) has to send its request headers.
	HeaderTimeout time.Duration
	// BodyTimeout is how long a request has to send its whole body, from the end of its
	// headers. It does not bound the answer: a long GET or an open socket is not cut.
	BodyTimeout time.Duration
	// MediaBodyTimeout is how long a media upload's body (POST /v1/media, a tus PATCH) may
	// take in all; such a body must also keep moving: BodyTimeout without a byte ends it.
	MediaBodyTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends no next request.
	IdleTimeout time.Duration
	// MaxConns caps the API's open connections, sockets included. At the cap a new
	// connection displaces the oldest one that has not authenticated yet; when every one
	// has authenticated, the new one is closed.
	MaxConns int
}

func (l Limits) withDefaults() Limits {
	if l.HeaderTimeout <= 0 {
		l.HeaderTimeout = DefaultHeaderTimeout
	}
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = DefaultBodyTimeout
	}
	if l.MediaBodyTimeout <= 0 {
		l.MediaBodyTimeout = DefaultMediaBodyTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	return l
}

// connLimiter is a listener that holds at most max connections open. An unauthenticated
// connection costs its sender nothing to keep open, so at the cap the oldest of those makes
// room: the node's own UIs, which authenticate in their first request, are always served.
type connLimiter struct {
	net.Listener
	max int

	mu       sync.Mutex
	seq      uint64
	open     map[*limitedConn]struct{}
	stopping bool // shutdown has begun: a connection accepted now is closed at once
}

func newConnLimiter(ln net.Listener, max int) *connLimiter {
	return &connLimiter{Listener: ln, max: max, open: make(map[*limitedConn]struct{})}
}

// Accept returns the next connection, closing the oldest unauthenticated one (or, when all
// have authenticated, the new one) to stay within the cap.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.stopping {
			l.mu.Unlock()
			c.Close()
			continue
		}
		var victim *limitedConn
		if len(l.open) >= l.max {
			for o := range l.open {
				if !o.trusted.Load() && (victim == nil || o.seq < victim.seq) {
					victim = o
				}
			}
			if victim == nil {
				l.mu.Unlock()
				c.Close() // every slot holds an authenticated UI
				continue
			}
			delete(l.open, victim)
		}
		l.seq++
		lc := &limitedConn{Conn: c, l: l, seq: l.seq}
		l.open[lc] = struct{}{}
		l.mu.Unlock()
		if victim != nil {
			victim.Close()
		}
		return lc, nil
	}
}

// cutWaiting begins the shutdown: from now on a new connection is closed at once, and so is
// every open one that is waiting for a request rather than handling one — accepted but
// silent, or partway through a request's headers. (net/http's graceful shutdown closes
// only idle connections at once; it waits 5 s for a silent one and until the header
// deadline for a half-sent request, though neither has a handler to finish.) It returns how
// many it closed.
func (l *connLimiter) cutWaiting() int {
	l.mu.Lock()
	l.stopping = true
	open := make([]*limitedConn, 0, len(l.open))
	for c := range l.open {
		open = append(open, c)
	}
	l.mu.Unlock()
	n := 0
	for _, c := range open {
		if c.cutIfWaiting() {
			n++
		}
	}
	return n
}

// limitedConn is one connection of a connLimiter.
type limitedConn struct {
	net.Conn
	l       *connLimiter
	seq     uint64 // accept order
	trusted atomic.Bool
	once    sync.Once

	mu       sync.Mutex
	state    http.ConnState // as net/http last reported it (StateNew is the zero value)
	handling bool           // a handler has begun on the current request (and not gone idle since)
	cut      bool           // closed by cutWaiting: no handler may begin
}

// setState records what net/http reports of the connection (http.Server.ConnState).
func (c *limitedConn) setState(st http.ConnState) {
	c.mu.Lock()
	c.state = st
	if st == http.StateIdle {
		c.handling = false
	}
	c.mu.Unlock()
}

// begin marks a request as being handled; false when shutdown has cut the connection, so
// a request read just as it was cut is not acted on (its answer could not be sent).
func (c *limitedConn) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return false
	}
	c.handling = true
	return true
}

// cutIfWaiting closes the connection if it is waiting for a request (new, or reading one
// with no handler begun) and reports whether it did. Idle ones are net/http's to close;
// handled and hijacked ones are left to finish.
func (c *limitedConn) cutIfWaiting() bool {
	c.mu.Lock()
	waiting := !c.handling && (c.state == http.StateNew || c.state == http.StateActive)
	if waiting {
		c.cut = true
	}
	c.mu.Unlock()
	if waiting {
		c.Close()
	}
	return waiting
}

// connState is the http.Server's ConnState hook for connections of a connLimiter.
func connState(c net.Conn, st http.ConnState) {
	if lc, ok := c.(*limitedConn); ok {
		lc.setState(st)
	}
}

// tracked wraps the handler of a connLimiter's server: each request marks its connection as
// handling one, and a request on a connection shutdown has cut is dropped unanswered.
func tracked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(connKey{}).(*limitedConn); ok && !c.begin() {
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.open, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

type connKey struct{}

// connContext remembers a request's connection, so that authentication can mark it.
func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// trustConn marks r's connection as the node's own UI's: it is never displaced.
func trustConn(r *http.Request) {
	if c, ok := r.Context().Value(connKey{}).(*limitedConn); ok {
		c.trusted.Store(true)
	}
}

// bodyDeadline gives a request that has a body BodyTimeout to send it. net/http lifts the
// deadline once the body has been read to its end (it then starts its own background read
// of the connection, without a deadline), so the answer may take as long as it takes; a
// handler that never reads the body leaves it, so the server's own draining of that body
// after the answer cannot wait forever either.
//
// A media upload's body (mediaapi.IsMediaBody) may be large: its deadline moves with the bytes, each
// read allowing BodyTimeout more, up to MediaBodyTimeout from the end of the headers.
func (s *Server) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			// (A ResponseWriter without deadlines, in a test calling Handler directly, has
			// none to set.)
			rc := http.NewResponseController(w)
			now := time.Now()
			_ = rc.SetReadDeadline(now.Add(s.limits.BodyTimeout))
			if mediaapi.IsMediaBody(r) {
				r.Body = &movingDeadline{ReadCloser: r.Body, rc: rc, step: s.limits.BodyTimeout,
					end: now.Add(s.limits.MediaBodyTimeout), last: now}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// movingDeadline is a request body whose read deadline moves forward as it is read: each
// read gets step more (set at most once a second), never past end.
type movingDeadline struct {
	io.ReadCloser
	rc   *http.ResponseController
	step time.Duration
	end  time.Time
	last time.Time // when the deadline was last moved
}

func (b *movingDeadline) Read(p []byte) (int, error) {
	// The deadline is moved before the read, never after: the read that reaches the end
	// of the body is where net/http lifts the deadline for its own background read, which
	// a deadline set after it would cut (and cancel the request with it).
	if now := time.Now(); now.Sub(b.last) >= min(time.Second, b.step/4) {
		d := now.Add(b.step)
		if d.After(b.end) {
			d = b.end
		}
		_ = b.rc.SetReadDeadline(d)
		b.last = now
	}
	return b.ReadCloser.Read(p)
}

// refuse answers before the body is read and closes the connection after the answer, so the
// server does not wait for (or drain) a body it will never use.
func refuse(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	writeErrorCode(w, status, code, msg)
}

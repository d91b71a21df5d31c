package localapi

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [Limits] (documented in docs/API.md).
const (
	DefaultHeaderTimeout = 10 * time.Second
	DefaultBodyTimeout   = 20 * time.Second
	DefaultIdleTimeout   = 120 * time.Second
	DefaultMaxConns      = 256
)

// Limits bound what a connection may hold of the API. Zero fields are the defaults.
type Limits struct {
	// HeaderTimeout is how long a new connection (or a kept-alive one, once its next
	// request has begun) has to send its request headers.
	HeaderTimeout time.Duration
	// BodyTimeout is how long a request has to send its whole body, from the end of its
	// headers. It does not bound the answer: a long GET or an open socket is not cut.
	BodyTimeout time.Duration
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

	mu   sync.Mutex
	seq  uint64
	open map[*limitedConn]struct{}
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

// limitedConn is one connection of a connLimiter.
type limitedConn struct {
	net.Conn
	l       *connLimiter
	seq     uint64 // accept order
	trusted atomic.Bool
	once    sync.Once
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
func (s *Server) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			// (A ResponseWriter without deadlines, in a test calling Handler directly, has
			// none to set.)
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.limits.BodyTimeout))
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers before the body is read and closes the connection after the answer, so the
// server does not wait for (or drain) a body it will never use.
func refuse(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	writeErrorCode(w, status, code, msg)
}

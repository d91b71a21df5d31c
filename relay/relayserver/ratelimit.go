package relayserver

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiters is a set of token buckets keyed by a string (a peer id, a mailbox id). Buckets
// idle long enough to have refilled are dropped by sweep, so the set stays as small as the
// set of recently active keys.
type limiters struct {
	limit rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	l    *rate.Limiter
	last time.Time
}

// newLimiters returns buckets of r tokens per second and burst b; r == 0 means unlimited.
func newLimiters(r float64, b int) *limiters {
	if b < 1 {
		b = 1
	}
	return &limiters{limit: rate.Limit(r), burst: b, m: map[string]*bucket{}}
}

// allow takes one token from key's bucket.
func (l *limiters) allow(key string, now time.Time) bool { return l.allowN(key, now, 1) }

// allowN takes n tokens from key's bucket, all or none (at most the burst: a request
// larger than the burst costs the whole bucket).
func (l *limiters) allowN(key string, now time.Time, n int) bool {
	if l.limit == 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		b = &bucket{l: rate.NewLimiter(l.limit, l.burst)}
		l.m[key] = b
	}
	b.last = now
	return b.l.AllowN(now, min(max(n, 1), l.burst))
}

// sweep drops buckets unused for longer than it takes them to refill completely.
func (l *limiters) sweep(now time.Time) {
	if l.limit == 0 {
		return
	}
	full := time.Duration(float64(l.burst)/float64(l.limit)*float64(time.Second)) + time.Second
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.m {
		if now.Sub(b.last) > full {
			delete(l.m, k)
		}
	}
}

func (l *limiters) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

package hlc

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Clock is a hybrid logical clock. It is safe for concurrent use. The zero
// Clock is usable and reads time.Now.
type Clock struct {
	now func() time.Time // nil means time.Now; never changed after New

	mu   sync.Mutex
	last Timestamp // the greatest timestamp returned, observed or restored
}

// New returns a clock that reads the wall clock from now; now nil => time.Now.
func New(now func() time.Time) *Clock {
	return &Clock{now: now}
}

// physical returns the wall clock in Unix milliseconds, clamped to [0, MaxWall].
func (c *Clock) physical() int64 {
	var t time.Time
	if c.now != nil {
		t = c.now()
	} else {
		t = time.Now()
	}
	return min(max(t.UnixMilli(), 0), MaxWall)
}

// Now returns a timestamp strictly greater than every timestamp this clock
// returned or observed (the local and send events of HLC).
//
// Now panics if the clock is exhausted (Wall = MaxWall and Logical = 2^32-1),
// which only a restored or observed timestamp in the year 10889 can cause.
func (c *Clock) Now() Timestamp {
	pt := c.physical()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = advance(c.last, pt)
	return c.last
}

// Observe merges a timestamp received from another node (the receive event of
// HLC) and returns the new local time, which is strictly greater than remote and
// than every timestamp this clock returned or observed before.
//
// A remote timestamp whose Wall is more than MaxDrift ahead of the local wall
// clock is refused with ErrDrift, and one that is not Valid with ErrMalformed;
// either way the clock is left unchanged.
func (c *Clock) Observe(remote Timestamp) (Timestamp, error) {
	if !remote.Valid() {
		return Timestamp{}, fmt.Errorf("%w: wall %d out of range", ErrMalformed, remote.Wall)
	}
	pt := c.physical()
	if remote.Wall-pt > MaxDrift.Milliseconds() {
		return Timestamp{}, fmt.Errorf("%w: %v ahead", ErrDrift, time.Duration(remote.Wall-pt)*time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// max(l, l_m) as whole timestamps: when the walls are equal this keeps
	// the greater counter, which is the paper's max(c, c_m).
	base := c.last
	if remote.Compare(base) > 0 {
		base = remote
	}
	c.last = advance(base, pt)
	return c.last, nil
}

// Restore raises the clock to at least last (used after a restart with the
// greatest timestamp persisted), so that Now returns timestamps after it. A
// last that is not Valid (only corrupt storage can hold one) is ignored.
func (c *Clock) Restore(last Timestamp) {
	if !last.Valid() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if last.Compare(c.last) > 0 {
		c.last = last
	}
}

// Last returns the greatest timestamp this clock returned, observed or was
// restored to, or the zero Timestamp for a fresh clock.
func (c *Clock) Last() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// advance returns the next timestamp after base at wall-clock time pt: (pt, 0)
// if the wall clock has moved past base, else base with its counter
// incremented. When the counter is full, Wall moves one millisecond ahead of
// the wall clock instead; the order stays strict.
func advance(base Timestamp, pt int64) Timestamp {
	switch {
	case pt > base.Wall:
		return Timestamp{Wall: pt}
	case base.Logical < math.MaxUint32:
		return Timestamp{Wall: base.Wall, Logical: base.Logical + 1}
	case base.Wall < MaxWall:
		return Timestamp{Wall: base.Wall + 1}
	}
	panic("hlc: clock exhausted at the greatest representable timestamp")
}

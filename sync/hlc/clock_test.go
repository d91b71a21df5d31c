package hlc

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"
)

// wallClock is a settable wall clock for tests.
type wallClock struct {
	mu sync.Mutex
	ms int64
}

func (w *wallClock) set(ms int64) {
	w.mu.Lock()
	w.ms = ms
	w.mu.Unlock()
}

func (w *wallClock) now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return time.UnixMilli(w.ms)
}

func newTestClock(ms int64) (*Clock, *wallClock) {
	w := &wallClock{ms: ms}
	return New(w.now), w
}

// TestMonotonicWhenWallClockGoesBackwards: every Now is strictly greater than
// the one before, whatever the wall clock does, and follows the wall clock
// when it moves forward again.
func TestMonotonicWhenWallClockGoesBackwards(t *testing.T) {
	c, w := newTestClock(10_000)
	walls := []int64{10_000, 10_000, 9_000, 5_000, 5_000, 10_000, 10_001, 3, -50, 0, 20_000, 19_999}
	var prev Timestamp
	for i, ms := range walls {
		w.set(ms)
		ts := c.Now()
		if ts.Compare(prev) <= 0 {
			t.Fatalf("step %d (wall %d): Now = %v, not after %v", i, ms, ts, prev)
		}
		if ts.Wall < ms {
			t.Fatalf("step %d: Now = %v is behind the wall clock %d", i, ts, ms)
		}
		prev = ts
	}
	if want := (Timestamp{Wall: 20_000, Logical: 1}); prev != want {
		t.Fatalf("after the wall clock stepped back 1 ms: %v, want %v", prev, want)
	}
	if c.Last() != prev {
		t.Fatalf("Last = %v, want %v", c.Last(), prev)
	}
}

// TestNowFollowsWallClock: with a wall clock that moves, timestamps carry it
// and a zero counter.
func TestNowFollowsWallClock(t *testing.T) {
	c, w := newTestClock(1_000)
	if got := c.Now(); got != (Timestamp{Wall: 1_000}) {
		t.Fatalf("first Now = %v", got)
	}
	if got := c.Now(); got != (Timestamp{Wall: 1_000, Logical: 1}) {
		t.Fatalf("second Now in the same ms = %v", got)
	}
	w.set(1_001)
	if got := c.Now(); got != (Timestamp{Wall: 1_001}) {
		t.Fatalf("Now after the wall clock moved = %v", got)
	}
}

// TestObserveRemoteAhead: after observing a remote timestamp ahead of the
// local clock (within MaxDrift), the receive time and every later Now are
// after it.
func TestObserveRemoteAhead(t *testing.T) {
	c, _ := newTestClock(1_000_000)
	c.Now()
	remote := Timestamp{Wall: 1_000_000 + 30_000, Logical: 7}
	got, err := c.Observe(remote)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Timestamp{Wall: remote.Wall, Logical: 8}); got != want {
		t.Fatalf("Observe = %v, want %v", got, want)
	}
	next := c.Now()
	if next.Compare(remote) <= 0 || next.Compare(got) <= 0 {
		t.Fatalf("Now = %v after observing %v (receive time %v)", next, remote, got)
	}
}

// TestObserveCases checks each branch of the HLC receive rule.
func TestObserveCases(t *testing.T) {
	for _, tc := range []struct {
		name         string
		wall         int64
		last, remote Timestamp
		want         Timestamp
	}{
		{"all equal walls: max counter + 1", 100, Timestamp{100, 5}, Timestamp{100, 9}, Timestamp{100, 10}},
		{"all equal walls, local counter greater", 100, Timestamp{100, 9}, Timestamp{100, 5}, Timestamp{100, 10}},
		{"local ahead", 100, Timestamp{150, 3}, Timestamp{120, 9}, Timestamp{150, 4}},
		{"remote ahead", 100, Timestamp{120, 9}, Timestamp{150, 3}, Timestamp{150, 4}},
		{"wall clock ahead of both", 200, Timestamp{120, 9}, Timestamp{150, 3}, Timestamp{200, 0}},
		{"remote zero", 100, Timestamp{}, Timestamp{}, Timestamp{100, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestClock(tc.wall)
			c.Restore(tc.last)
			got, err := c.Observe(tc.remote)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || c.Last() != tc.want {
				t.Fatalf("Observe = %v (Last %v), want %v", got, c.Last(), tc.want)
			}
		})
	}
}

// TestObserveDriftRefused: a remote more than MaxDrift ahead of the wall
// clock is refused with ErrDrift and changes nothing; exactly MaxDrift ahead
// is adopted.
func TestObserveDriftRefused(t *testing.T) {
	const wall = 5_000_000
	c, _ := newTestClock(wall)
	before := c.Now()
	far := Timestamp{Wall: wall + MaxDrift.Milliseconds() + 1}
	if _, err := c.Observe(far); !errors.Is(err, ErrDrift) {
		t.Fatalf("Observe(%v) err = %v, want ErrDrift", far, err)
	}
	if c.Last() != before {
		t.Fatalf("clock changed by a refused timestamp: %v, was %v", c.Last(), before)
	}
	if next := c.Now(); next.Wall != wall {
		t.Fatalf("Now after a refused timestamp = %v, want wall %d", next, wall)
	}
	edge := Timestamp{Wall: wall + MaxDrift.Milliseconds()}
	got, err := c.Observe(edge)
	if err != nil {
		t.Fatalf("Observe(exactly MaxDrift ahead): %v", err)
	}
	if got.Compare(edge) <= 0 {
		t.Fatalf("Observe = %v, not after %v", got, edge)
	}
}

// TestObserveInvalidRefused: a timestamp the text form cannot hold is refused.
func TestObserveInvalidRefused(t *testing.T) {
	c, _ := newTestClock(1_000)
	for _, ts := range []Timestamp{{Wall: -1}, {Wall: math.MinInt64}, {Wall: MaxWall + 1}} {
		if _, err := c.Observe(ts); !errors.Is(err, ErrMalformed) {
			t.Errorf("Observe(%d) err = %v, want ErrMalformed", ts.Wall, err)
		}
	}
	if !c.Last().IsZero() {
		t.Fatalf("clock changed: %v", c.Last())
	}
}

// TestConcurrentNowDistinct: timestamps handed out to many goroutines at once
// are all distinct, and each goroutine sees them strictly increasing; run with
// -race. The wall clock is frozen for half the goroutines' lifetime so the
// counter does the work.
func TestConcurrentNowDistinct(t *testing.T) {
	for _, name := range []string{"frozen", "system"} {
		t.Run(name, func(t *testing.T) {
			c := New(nil)
			if name == "frozen" {
				c, _ = newTestClock(42)
			}
			const goroutines, each = 16, 2000
			got := make([][]Timestamp, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					ts := make([]Timestamp, each)
					for i := range ts {
						if i%100 == 0 {
							// Observing our own last value
							// interleaves the receive path.
							if _, err := c.Observe(c.Last()); err != nil {
								t.Error(err)
								return
							}
						}
						ts[i] = c.Now()
					}
					got[g] = ts
				})
			}
			wg.Wait()
			seen := make(map[Timestamp]bool, goroutines*each)
			for g, ts := range got {
				for i, x := range ts {
					if seen[x] {
						t.Fatalf("timestamp %v handed out twice", x)
					}
					seen[x] = true
					if i > 0 && x.Compare(ts[i-1]) <= 0 {
						t.Fatalf("goroutine %d: %v after %v", g, x, ts[i-1])
					}
				}
			}
		})
	}
}

// TestRestore: after Restore the clock continues after the restored value;
// restoring an older value changes nothing.
func TestRestore(t *testing.T) {
	c, _ := newTestClock(1_000)
	persisted := Timestamp{Wall: 90_000, Logical: 3} // written before a restart, wall clock since set back
	c.Restore(persisted)
	if c.Last() != persisted {
		t.Fatalf("Last = %v, want %v", c.Last(), persisted)
	}
	if got := c.Now(); got != (Timestamp{Wall: 90_000, Logical: 4}) {
		t.Fatalf("Now after Restore = %v", got)
	}
	c.Restore(Timestamp{Wall: 50_000})
	if got := c.Last(); got != (Timestamp{Wall: 90_000, Logical: 4}) {
		t.Fatalf("Restore of an older timestamp moved the clock to %v", got)
	}
	c.Restore(Timestamp{Wall: MaxWall + 1})
	if got := c.Last(); got != (Timestamp{Wall: 90_000, Logical: 4}) {
		t.Fatalf("Restore of an invalid timestamp moved the clock to %v", got)
	}
}

// TestCounterOverflow: a full counter moves Wall one millisecond ahead
// instead of wrapping, and a clock at the greatest timestamp panics rather
// than repeat itself.
func TestCounterOverflow(t *testing.T) {
	c, _ := newTestClock(1_000)
	c.Restore(Timestamp{Wall: 1_000, Logical: math.MaxUint32})
	if got := c.Now(); got != (Timestamp{Wall: 1_001}) {
		t.Fatalf("Now after a full counter = %v", got)
	}
	got, err := c.Observe(Timestamp{Wall: 1_001, Logical: math.MaxUint32})
	if err != nil || got != (Timestamp{Wall: 1_002}) {
		t.Fatalf("Observe of a full counter = %v, %v", got, err)
	}

	end, _ := newTestClock(MaxWall + 5) // clamped to MaxWall
	end.Restore(Timestamp{Wall: MaxWall, Logical: math.MaxUint32 - 1})
	if got := end.Now(); got != (Timestamp{Wall: MaxWall, Logical: math.MaxUint32}) {
		t.Fatalf("Now = %v", got)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Now of an exhausted clock did not panic")
		}
		if got := end.Last(); got != (Timestamp{Wall: MaxWall, Logical: math.MaxUint32}) {
			t.Fatalf("exhausted clock changed to %v", got)
		}
	}()
	end.Now()
}

// TestZeroClockUsable: the zero Clock reads the system clock.
func TestZeroClockUsable(t *testing.T) {
	var c Clock
	before := time.Now().UnixMilli()
	ts := c.Now()
	after := time.Now().UnixMilli()
	if ts.Wall < before || ts.Wall > after {
		t.Fatalf("zero Clock Now = %v, want wall in [%d, %d]", ts, before, after)
	}
}

// TestCausalOrderAcrossNodes: three nodes with skewed wall clocks exchange
// messages; every order key is distinct, and a message sent after its sender
// received another sorts after it, however far behind the sender's wall clock
// is.
func TestCausalOrderAcrossNodes(t *testing.T) {
	type message struct {
		key    string
		causes []string // keys the sender had observed before sending
	}
	clocks := make([]*Clock, 3)
	walls := make([]*wallClock, 3)
	skew := []int64{0, -40_000, 25_000} // node 1 is 40 s slow, node 2 25 s fast
	for i := range clocks {
		clocks[i], walls[i] = newTestClock(1_000_000 + skew[i])
	}
	seen := make([][]string, 3)
	var all []message
	send := func(from int, id string) {
		ts := clocks[from].Now()
		m := message{key: OrderKey(ts, "user"+string(rune('a'+from))+"-"+id), causes: append([]string(nil), seen[from]...)}
		all = append(all, m)
		for to := range clocks {
			if to == from {
				continue
			}
			if _, err := clocks[to].Observe(ts); err != nil {
				t.Fatalf("node %d observing %v: %v", to, ts, err)
			}
			seen[to] = append(seen[to], m.key)
		}
		seen[from] = append(seen[from], m.key)
	}
	for step := range 60 {
		for i := range walls {
			walls[i].set(1_000_000 + skew[i] + int64(step/3)) // clocks crawl, often not at all
		}
		send(step%3, string(rune('A'+step%26))+string(rune('0'+step/26)))
		if step%7 == 0 {
			send((step+1)%3, "burst"+string(rune('0'+step%10)))
		}
	}
	keys := make(map[string]bool)
	for _, m := range all {
		if keys[m.key] {
			t.Fatalf("duplicate order key %q", m.key)
		}
		keys[m.key] = true
		for _, c := range m.causes {
			if c >= m.key {
				t.Fatalf("message %q sorts before %q, which its sender had already received", m.key, c)
			}
		}
	}
}

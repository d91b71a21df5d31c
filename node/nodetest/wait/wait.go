package wait

import (
	"errors"
	"time"
)

// Default bounds For. It is a liveness bound, not a performance claim: generous, because a
// loaded 2-core CI machine running twenty nodes under the race detector is many times slower
// than a laptop.
const Default = 90 * time.Second

// every is how often a condition is checked.
const every = 25 * time.Millisecond

// TB is the part of testing.TB that For uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// finalErr marks an error after which the condition can no longer come true.
type finalErr struct{ error }

func (e finalErr) Unwrap() error { return e.error }

// Final wraps err so that For fails at once instead of polling on: the condition can no
// longer come true (a process exited, a history diverged).
func Final(err error) error { return finalErr{err} }

// For polls f until it returns nil, failing t with what and f's last error after Default
// or as soon as f returns an error made by Final.
func For(t TB, what string, f func() error) {
	t.Helper()
	Within(t, Default, what, f)
}

// Within is For with the bound d.
func Within(t TB, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		var fin finalErr
		if errors.As(err, &fin) {
			t.Fatalf("%s: %v", what, err)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
			return
		}
		time.Sleep(every)
	}
}

package wait

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// recorder is a TB that records a failure instead of ending the test.
type recorder struct{ failed string }

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestForReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	var r recorder
	For(&r, "third call", func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if r.failed != "" || n != 3 {
		t.Fatalf("failed %q after %d calls", r.failed, n)
	}
}

func TestFinalFailsAtOnce(t *testing.T) {
	n := 0
	var r recorder
	For(&r, "hopeless", func() error {
		n++
		return Final(errors.New("the process exited"))
	})
	if n != 1 || r.failed != "hopeless: the process exited" {
		t.Fatalf("%d calls, failed %q", n, r.failed)
	}
}

func TestWithinFailsWithTheLastError(t *testing.T) {
	var r recorder
	Within(&r, time.Nanosecond, "never", func() error { return errors.New("still no") })
	if r.failed != "never: not within 1ns: still no" {
		t.Fatalf("failed %q", r.failed)
	}
}

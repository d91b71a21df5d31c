package store

import (
	"context"
	"errors"
	"testing"
)

// TestUpgradeRunsStepsOnceInOrder: a store at version 0 runs every step in order and ends
// at the last version; opened again, it runs none.
func TestUpgradeRunsStepsOnceInOrder(t *testing.T) {
	s, dir := newTestStore(t)
	var ran []string
	step := func(name string) Step {
		return Step{Name: name, Run: func(ctx context.Context, st *Store) error {
			ran = append(ran, name)
			return st.Update(ctx, func(tx *Tx) error { return tx.Set([]byte("step/"+name), []byte("done")) })
		}}
	}
	steps := []Step{step("one"), step("two")}
	from, err := Upgrade(context.Background(), s, steps)
	if err != nil || from != 0 || len(ran) != 2 || ran[0] != "one" || ran[1] != "two" {
		t.Fatalf("from %d, ran %v, %v", from, ran, err)
	}
	s = reopen(t, s, dir)
	ran = nil
	from, err = Upgrade(context.Background(), s, steps)
	if err != nil || from != 2 || len(ran) != 0 {
		t.Fatalf("second upgrade: from %d, ran %v, %v", from, ran, err)
	}
	if got, err := get(t, s, "step/two"); err != nil || got != "done" {
		t.Fatalf("step two's write: %q", got)
	}
}

// TestUpgradeStopsAtAFailedStep: a step that fails leaves the version before it, so the
// next start runs it again; the steps before it are not run again.
func TestUpgradeStopsAtAFailedStep(t *testing.T) {
	s, _ := newTestStore(t)
	fail := true
	var ran []int
	steps := []Step{
		{Name: "ok", Run: func(context.Context, *Store) error { ran = append(ran, 1); return nil }},
		{Name: "flaky", Run: func(context.Context, *Store) error {
			ran = append(ran, 2)
			if fail {
				return errors.New("disk full")
			}
			return nil
		}},
	}
	if _, err := Upgrade(context.Background(), s, steps); err == nil {
		t.Fatal("a failed step did not fail the upgrade")
	}
	var v int
	_ = s.View(func(tx *Tx) error { v, _ = FormatVersion(tx); return nil })
	if v != 1 {
		t.Fatalf("version after a failed step 2: %d", v)
	}
	fail = false
	ran = nil
	if from, err := Upgrade(context.Background(), s, steps); err != nil || from != 1 || len(ran) != 1 || ran[0] != 2 {
		t.Fatalf("retry: from %d, ran %v, %v", from, ran, err)
	}
}

// TestUpgradeRefusesANewerStore: a store of a newer version than the steps know is refused
// with ErrNewerFormat, runs nothing and keeps its version.
func TestUpgradeRefusesANewerStore(t *testing.T) {
	s, _ := newTestStore(t)
	if err := s.Update(context.Background(), func(tx *Tx) error { return SetFormatVersion(tx, 5) }); err != nil {
		t.Fatal(err)
	}
	ran := false
	_, err := Upgrade(context.Background(), s, []Step{{Name: "x", Run: func(context.Context, *Store) error { ran = true; return nil }}})
	if !errors.Is(err, ErrNewerFormat) || ran {
		t.Fatalf("newer store: %v, ran %v", err, ran)
	}
	var v int
	_ = s.View(func(tx *Tx) error { v, _ = FormatVersion(tx); return nil })
	if v != 5 {
		t.Fatalf("version now %d", v)
	}
}

package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// model is the expected content: key → value.
type model map[string]string

// expect lists what Iterate must visit, by brute force over the model.
func (m model) expect(opt IterOptions) []string {
	var keys []string
	for k := range m {
		if inRangeModel(opt, []byte(k)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if opt.Reverse {
		slices.Reverse(keys)
	}
	return keys
}

// inRangeModel restates the contract independently of the implementation's inRange.
func inRangeModel(opt IterOptions, k []byte) bool {
	if len(k) < len(opt.Prefix) || string(k[:len(opt.Prefix)]) != string(opt.Prefix) {
		return false
	}
	switch {
	case len(opt.Start) == 0:
		return true
	case opt.Reverse:
		return string(k) <= string(opt.Start)
	default:
		return string(k) >= string(opt.Start)
	}
}

var iterKeys = []string{
	"a", "a/", "a/1", "a/2", "a/3", "a/30", "a0", "ab", "b", "b/x",
	"\x01\xff", "\x01\xff\x00", "\x01\xff\xff", "\x02", "\xff", "\xff\xff", "\xff\xff\x01",
	"conv/1/msg/0001", "conv/1/msg/0002", "conv/1/msg/0010", "conv/2/msg/0001",
}

var iterPrefixes = [][]byte{nil, []byte("a"), []byte("a/"), []byte("a/3"), []byte("\x01\xff"),
	[]byte("\xff"), []byte("\xff\xff"), []byte("conv/1/"), []byte("zzz"), []byte("b/x/deeper")}

var iterStarts = [][]byte{nil, []byte(""), []byte("a/2"), []byte("a/25"), []byte("a0"), []byte("\x01\xff\x00"),
	[]byte("\x00"), []byte("\xff\xff\xff"), []byte("conv/1/msg/0005"), []byte("conv/1/msg/9999"), []byte("b")}

// checkIterate runs every prefix × start × direction × keysOnly combination against m,
// plus early stop.
func checkIterate(t *testing.T, tx *Tx, m model, label string) {
	t.Helper()
	for _, p := range iterPrefixes {
		for _, st := range iterStarts {
			for _, rev := range []bool{false, true} {
				for _, ko := range []bool{false, true} {
					opt := IterOptions{Prefix: p, Start: st, Reverse: rev, KeysOnly: ko}
					want := m.expect(opt)
					var got []string
					err := tx.Iterate(opt, func(k, v []byte) (bool, error) {
						got = append(got, string(k))
						if ko && v != nil {
							return false, fmt.Errorf("KeysOnly gave value %q", v)
						}
						if !ko && string(v) != m[string(k)] {
							return false, fmt.Errorf("%q = %q, want %q", k, v, m[string(k)])
						}
						return true, nil
					})
					if err != nil || !slices.Equal(got, want) {
						t.Fatalf("%s: Iterate(prefix %q start %q reverse %v keysOnly %v):\n got  %q (%v)\n want %q",
							label, p, st, rev, ko, got, err, want)
					}
					if len(want) > 1 { // stop after the first
						n := 0
						tx.Iterate(opt, func(k, v []byte) (bool, error) { n++; return false, nil })
						if n != 1 {
							t.Fatalf("%s: returning false visited %d keys", label, n)
						}
					}
				}
			}
		}
	}
}

// Iterate honours prefix, start, reverse and keysOnly over committed data, and inside an
// Update over the function's own buffered writes merged with the committed data.
func TestIterateSemantics(t *testing.T) {
	s, _ := newTestStore(t)
	m := model{}
	err := s.Update(context.Background(), func(tx *Tx) error {
		for _, k := range iterKeys {
			m[k] = "v:" + k
			if err := tx.Set([]byte(k), []byte(m[k])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error { checkIterate(t, tx, m, "committed"); return nil })

	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 3 {
		err := s.Update(context.Background(), func(tx *Tx) error {
			mm := maps(m)
			for range 12 {
				k := iterKeys[rng.IntN(len(iterKeys))]
				if rng.IntN(2) == 0 {
					k += "+" // a key only in the buffer
				}
				if rng.IntN(3) == 0 {
					tx.Delete([]byte(k))
					delete(mm, k)
				} else {
					v := fmt.Sprintf("r%d:%s", round, k)
					tx.Set([]byte(k), []byte(v))
					mm[k] = v
				}
			}
			checkIterate(t, tx, mm, fmt.Sprintf("buffered round %d", round))
			m = mm
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		s.View(func(tx *Tx) error { checkIterate(t, tx, m, fmt.Sprintf("committed round %d", round)); return nil })
	}
}

func maps(m model) model {
	c := model{}
	for k, v := range m {
		c[k] = v
	}
	return c
}

// "Newest 50" of a conversation: reverse from the end of its prefix.
func TestIterateNewest(t *testing.T) {
	s, _ := newTestStore(t)
	s.Update(context.Background(), func(tx *Tx) error {
		for c := 1; c <= 3; c++ {
			for i := range 120 {
				tx.Set(fmt.Appendf(nil, "conv/%d/msg/%08d", c, i), fmt.Appendf(nil, "m%d", i))
			}
		}
		return nil
	})
	var got []string
	s.View(func(tx *Tx) error {
		return tx.Iterate(IterOptions{Prefix: []byte("conv/2/msg/"), Reverse: true}, func(k, v []byte) (bool, error) {
			got = append(got, string(v))
			return len(got) < 50, nil
		})
	})
	if len(got) != 50 || got[0] != "m119" || got[49] != "m70" {
		t.Fatalf("newest 50: %d, first %q, last %q", len(got), got[0], got[len(got)-1])
	}
}

// An error from fn stops the iteration and comes back unchanged; the slices fn gets are
// its own.
func TestIterateErrorAndOwnership(t *testing.T) {
	s, _ := newTestStore(t)
	set(t, s, "x/1", "one")
	set(t, s, "x/2", "two")
	stop := errors.New("stop")
	var kept [][]byte
	err := s.View(func(tx *Tx) error {
		return tx.Iterate(IterOptions{Prefix: []byte("x/")}, func(k, v []byte) (bool, error) {
			kept = append(kept, k, v)
			return true, nil
		})
	})
	if err != nil || len(kept) != 4 || !bytes.Equal(kept[0], []byte("x/1")) || string(kept[3]) != "two" {
		t.Fatalf("kept %q, %v", kept, err)
	}
	err = s.View(func(tx *Tx) error {
		return tx.Iterate(IterOptions{}, func(k, v []byte) (bool, error) { return true, stop })
	})
	if err != stop {
		t.Fatalf("err = %v, want the callback's error as-is", err)
	}
}

// TestDeletePrefix removes the keys under a prefix, the ones written earlier in the same
// transaction included, and nothing beside them.
func TestDeletePrefix(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *Tx) error {
		for _, k := range []string{"ob/a/1", "ob/a/2", "ob/ab/1", "ob/b/1"} {
			if err := tx.Set([]byte(k), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Set([]byte("ob/a/3"), []byte("v")); err != nil {
			return err
		}
		n, err := tx.DeletePrefix([]byte("ob/a/"))
		if err != nil || n != 3 {
			t.Errorf("DeletePrefix removed %d, %v; want 3", n, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var left []string
	if err := s.View(func(tx *Tx) error {
		return tx.Iterate(IterOptions{Prefix: []byte("ob/"), KeysOnly: true}, func(k, _ []byte) (bool, error) {
			left = append(left, string(k))
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(left, " ") != "ob/ab/1 ob/b/1" {
		t.Fatalf("left %v, want ob/ab/1 and ob/b/1", left)
	}
}

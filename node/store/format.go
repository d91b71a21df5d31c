package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// kFormat holds the store's format version: the version of the records the packages above
// keep in it, as decimal ASCII. A store without it is at version 0 (written before the key
// existed).
var kFormat = []byte("format")

// ErrNewerFormat says the store was written by a newer petrel than this one: its records
// may be of versions this binary does not know, so it refuses to touch them.
var ErrNewerFormat = errors.New("store: the store's format is newer than this petrel's")

// FormatVersion returns the store's format version (0 when it has none).
func FormatVersion(tx *Tx) (int, error) {
	s, err := GetString(tx, kFormat)
	if err != nil || s == "" {
		return 0, err
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("store: malformed format version %q", s)
	}
	return v, nil
}

// SetFormatVersion sets the store's format version in tx.
func SetFormatVersion(tx *Tx, v int) error { return tx.Set(kFormat, []byte(strconv.Itoa(v))) }

// Step is one in-place upgrade of the store's format, from version i to i+1 (i its index
// in the list given to Upgrade). Run may take as many transactions as it needs, but it
// must be re-runnable: a crash before the version is bumped runs it again from the start
// over what it already rewrote.
type Step struct {
	Name string
	Run  func(ctx context.Context, st *Store) error
}

// Upgrade brings st to format version len(steps), running in order each step from the
// store's version on and bumping the version after each (in its own transaction: steps are
// re-runnable). It returns the version found. A store of a newer version than len(steps)
// is refused with ErrNewerFormat and left as it is.
func Upgrade(ctx context.Context, st *Store, steps []Step) (from int, err error) {
	if err := st.View(func(tx *Tx) error {
		from, err = FormatVersion(tx)
		return err
	}); err != nil {
		return 0, err
	}
	if from > len(steps) {
		return from, fmt.Errorf("%w: version %d, this petrel knows up to %d: run a newer petrel", ErrNewerFormat, from, len(steps))
	}
	for v := from; v < len(steps); v++ {
		if err := steps[v].Run(ctx, st); err != nil {
			return from, fmt.Errorf("store: upgrade to format %d (%s): %w", v+1, steps[v].Name, err)
		}
		if err := st.Update(ctx, func(tx *Tx) error { return SetFormatVersion(tx, v+1) }); err != nil {
			return from, err
		}
	}
	return from, nil
}

package storetest

import (
	"context"
	"testing"

	"github.com/petrel-chat/petrel/node/store"
)

// Open creates a store in a fresh temp dir, closed when the test ends.
func Open(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Create(t.TempDir(), []byte("storetest passphrase"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Update runs f in one store transaction and fails the test if it returns an error.
func Update(t testing.TB, st *store.Store, f func(tx *store.Tx) error) {
	t.Helper()
	if err := st.Update(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}

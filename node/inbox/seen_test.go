package inbox

import (
	"errors"
	"fmt"
	"testing"

	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// deliver takes one envelope the way the façade does (node/messenger, rxBatch.take):
// a seen envelope is acknowledged and dropped; a new one is marked seen in the transaction
// that applies what it carries.
func deliver(tx *store.Tx, tab *Table[*store.Tx], cid string, env wire.ID, ct *wire.Content) error {
	if seen, err := Seen(tx, cid, env); err != nil || seen {
		return err
	}
	if err := MarkSeen(tx, cid, env); err != nil {
		return err
	}
	_, err := tab.Dispatch(tx, ct, hlc.Timestamp{})
	return err
}

// TestDuplicateEnvelopeIsAppliedOnce: a copy of an envelope (a resend after a lost
// acknowledgement), in the same batch or a later one, after the store was closed and
// opened again, is seen once; the same envelope id from another contact is its own.
func TestDuplicateEnvelopeIsAppliedOnce(t *testing.T) {
	t.Parallel()
	st, dir := openStore(t)
	applied := map[string]int{}
	tab := NewTable[*store.Tx](nil)
	if err := tab.Register(wire.KindText, func(tx *store.Tx, ct *wire.Content, _ hlc.Timestamp) error {
		applied[ct.ID]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e1, e2 := wire.ID{1}, wire.ID{2}
	update(t, st, func(tx *store.Tx) error {
		for _, e := range []wire.ID{e1, e1, e2} {
			if err := deliver(tx, tab, "ct_a", e, &wire.Content{Kind: wire.KindText, ID: fmt.Sprintf("a%d", e[0])}); err != nil {
				return err
			}
		}
		return nil
	})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dir, []byte("inbox test passphrase"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	update(t, st, func(tx *store.Tx) error {
		if err := deliver(tx, tab, "ct_a", e1, &wire.Content{Kind: wire.KindText, ID: "a1"}); err != nil {
			return err
		}
		return deliver(tx, tab, "ct_b", e1, &wire.Content{Kind: wire.KindText, ID: "b1"})
	})
	for id, want := range map[string]int{"a1": 1, "a2": 1, "b1": 1} {
		if applied[id] != want {
			t.Errorf("%s applied %d times, want %d (all: %v)", id, applied[id], want, applied)
		}
	}
}

// TestSeenIsUndoneWithItsTransaction: an envelope whose transaction failed is not seen, so
// its retry is applied (nothing is lost to a failed write).
func TestSeenIsUndoneWithItsTransaction(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	env := wire.ID{7}
	fail := errors.New("abort")
	if err := st.Update(t.Context(), func(tx *store.Tx) error {
		if err := MarkSeen(tx, "ct_a", env); err != nil {
			return err
		}
		if seen, err := Seen(tx, "ct_a", env); err != nil || !seen {
			t.Fatalf("not seen within its own transaction: %v %v", seen, err)
		}
		return fail
	}); !errors.Is(err, fail) {
		t.Fatal(err)
	}
	_ = st.View(func(tx *store.Tx) error {
		if seen, err := Seen(tx, "ct_a", env); err != nil || seen {
			t.Errorf("seen after its transaction failed: %v %v", seen, err)
		}
		return nil
	})
}

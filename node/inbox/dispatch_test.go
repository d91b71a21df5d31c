package inbox

import (
	"errors"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// storeHandler writes what it applied under "test/<kind>/<id>", so the test reads from the
// store which handler took which content.
func storeHandler(tx *store.Tx, ct *wire.Content, _ hlc.Timestamp) error {
	return tx.Set([]byte("test/"+ct.Kind+"/"+ct.ID), []byte(ct.Body))
}

func TestTableRegisteredKindsReachTheirHandler(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	tab := NewTable[*store.Tx](nil)
	if err := tab.Register(wire.KindText, storeHandler); err != nil {
		t.Fatal(err)
	}
	edits := 0
	if err := tab.Register(wire.KindEdit, func(tx *store.Tx, ct *wire.Content, ts hlc.Timestamp) error {
		edits++
		return storeHandler(tx, ct, ts)
	}); err != nil {
		t.Fatal(err)
	}
	update(t, st, func(tx *store.Tx) error {
		for _, ct := range []*wire.Content{
			{Kind: wire.KindText, ID: "m1", Body: "hello"},
			{Kind: wire.KindEdit, ID: "m2", Body: "hello again"},
		} {
			handled, err := tab.Dispatch(tx, ct, hlc.Timestamp{})
			if err != nil || !handled {
				t.Fatalf("%s: handled %v, err %v", ct.Kind, handled, err)
			}
		}
		return nil
	})
	if edits != 1 {
		t.Fatalf("the edit handler ran %d times, want 1", edits)
	}
	_ = st.View(func(tx *store.Tx) error {
		for k, want := range map[string]string{"test/text/m1": "hello", "test/edit/m2": "hello again"} {
			v, err := tx.Get([]byte(k))
			if err != nil || string(v) != want {
				t.Errorf("%s = %q, %v; want %q", k, v, err, want)
			}
		}
		for _, k := range []string{"test/edit/m1", "test/text/m2"} {
			if _, err := tx.Get([]byte(k)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: a content reached another kind's handler (%v)", k, err)
			}
		}
		return nil
	})
}

// TestTableUnknownKindIsLoggedAndIgnored: a kind wire knows but nobody registered changes
// nothing, is no error (the envelope is acknowledged, the sender does not retry forever),
// and the log names it.
func TestTableUnknownKindIsLoggedAndIgnored(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	log, buf := logBuffer()
	tab := NewTable[*store.Tx](log)
	if err := tab.Register(wire.KindText, storeHandler); err != nil {
		t.Fatal(err)
	}
	update(t, st, func(tx *store.Tx) error {
		handled, err := tab.Dispatch(tx, &wire.Content{Kind: wire.KindReaction, ID: "r1", Emoji: "👍"}, hlc.Timestamp{})
		if err != nil || handled {
			t.Fatalf("unregistered kind: handled %v, err %v; want ignored, no error", handled, err)
		}
		return nil
	})
	if !strings.Contains(buf.String(), "kind=reaction") || !strings.Contains(buf.String(), "ignored") {
		t.Fatalf("the log does not name the ignored kind: %q", buf.String())
	}
	_ = st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: []byte("test/")}, func(k, _ []byte) (bool, error) {
			t.Errorf("an unregistered kind wrote %s", k)
			return true, nil
		})
	})
	if tab.Handles(wire.KindReaction) || !tab.Handles(wire.KindText) {
		t.Fatal("Handles disagrees with the registrations")
	}
}

// TestTableHandlerErrorAbortsTheTransaction: a handler's error is Dispatch's, and the
// transaction it aborts stores nothing of the content.
func TestTableHandlerErrorAbortsTheTransaction(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	tab := NewTable[*store.Tx](nil)
	boom := errors.New("disk full")
	if err := tab.Register(wire.KindText, func(tx *store.Tx, ct *wire.Content, ts hlc.Timestamp) error {
		if err := storeHandler(tx, ct, ts); err != nil {
			return err
		}
		return boom
	}); err != nil {
		t.Fatal(err)
	}
	err := st.Update(t.Context(), func(tx *store.Tx) error {
		_, err := tab.Dispatch(tx, &wire.Content{Kind: wire.KindText, ID: "m1"}, hlc.Timestamp{})
		return err
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update: %v, want the handler's error", err)
	}
	_ = st.View(func(tx *store.Tx) error {
		if _, err := tx.Get([]byte("test/text/m1")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an aborted content was stored (%v)", err)
		}
		return nil
	})
}

func TestTableRefusesBadRegistrations(t *testing.T) {
	t.Parallel()
	tab := NewTable[*store.Tx](nil)
	if err := tab.Register(wire.KindText, storeHandler); err != nil {
		t.Fatal(err)
	}
	for name, reg := range map[string]func() error{
		"twice":      func() error { return tab.Register(wire.KindText, storeHandler) },
		"nil":        func() error { return tab.Register(wire.KindEdit, nil) },
		"empty kind": func() error { return tab.Register("", storeHandler) },
	} {
		if err := reg(); !errors.Is(err, ErrRegistered) {
			t.Errorf("%s: %v, want ErrRegistered", name, err)
		}
	}
	if tab.Handles(wire.KindEdit) {
		t.Fatal("a refused registration took effect")
	}
}

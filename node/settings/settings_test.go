package settings

import (
	"errors"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

// TestDefaultsPatchAndRefusal: a new store has the defaults; a patch changes only what it
// names and is saved; an unknown presence value is a bad request and changes nothing.
func TestDefaultsPatchAndRefusal(t *testing.T) {
	st := storetest.Open(t)
	get := func() api.Settings {
		var s api.Settings
		if err := st.View(func(tx *store.Tx) error {
			var err error
			s, err = Get(tx)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := get(); s.Presence != api.PresenceContacts || !s.ReadReceipts {
		t.Errorf("defaults: %+v", s)
	}
	no, nobody, bad := false, api.PresenceNobody, "everyone"
	storetest.Update(t, st, func(tx *store.Tx) error {
		_, err := Apply(tx, api.SettingsPatch{ReadReceipts: &no})
		return err
	})
	if s := get(); s.Presence != api.PresenceContacts || s.ReadReceipts {
		t.Errorf("after read_receipts false: %+v", s)
	}
	storetest.Update(t, st, func(tx *store.Tx) error {
		_, err := Apply(tx, api.SettingsPatch{Presence: &nobody})
		return err
	})
	err := st.Update(t.Context(), func(tx *store.Tx) error {
		_, err := Apply(tx, api.SettingsPatch{Presence: &bad, ReadReceipts: &no})
		return err
	})
	if !errors.Is(err, api.ErrBadRequest) {
		t.Errorf("presence %q: %v", bad, err)
	}
	if s := get(); s.Presence != api.PresenceNobody || s.ReadReceipts {
		t.Errorf("after the refusal: %+v", s)
	}
}

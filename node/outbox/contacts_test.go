package outbox

import (
	"errors"
	"slices"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

// TestStoredContactsReadTheAddressBook: the outbox reads a contact's counters, pending
// initial message, identity, relays and block from the store, and forgetting the initial
// message is saved; an unknown contact is not_found.
func TestStoredContactsReadTheAddressBook(t *testing.T) {
	st := storetest.Open(t)
	c := &sessions.Contact{Record: contacts.Record{ID: "c1", UserID: "u1", Identity: []byte("idk"), Relays: []string{"/r"}, Blocked: true},
		Channel: sessions.Channel{SendSeq: 4, OutSeq: 9, Initial: []byte("init")}}
	storetest.Update(t, st, func(tx *store.Tx) error {
		if err := contacts.Create(tx, &c.Record); err != nil {
			return err
		}
		return sessions.SaveChannel(tx, c.ID, &c.Channel)
	})
	var got Contact
	storetest.Update(t, st, func(tx *store.Tx) error {
		var err error
		if got, err = (StoredContacts{}).Contact(tx, "c1"); err != nil {
			return err
		}
		return StoredContacts{}.ForgetInitial(tx, "c1")
	})
	if got.ID != "c1" || got.SendSeq != 4 || got.OutSeq != 9 || string(got.Initial) != "init" ||
		string(got.Identity) != "idk" || !slices.Equal(got.Relays, []string{"/r"}) || !got.Blocked {
		t.Errorf("Contact = %+v", got)
	}
	_ = st.View(func(tx *store.Tx) error {
		again, err := StoredContacts{}.Contact(tx, "c1")
		if err != nil || again.Initial != nil || again.SendSeq != 4 {
			t.Errorf("after ForgetInitial: %+v, %v", again, err)
		}
		if _, err := (StoredContacts{}).Contact(tx, "nobody"); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("unknown contact: %v", err)
		}
		return nil
	})
}

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
	"github.com/petrel-chat/petrel/node/wire"
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
	if n := Count(st); n != 0 {
		t.Errorf("Count of an empty outbox: %d", n)
	}
	var got Contact
	storetest.Update(t, st, func(tx *store.Tx) error {
		var err error
		if got, err = (StoredContacts{}).Contact(tx, "c1"); err != nil {
			return err
		}
		if err := (StoredContacts{}).ForgetInitial(tx, "c1"); err != nil {
			return err
		}
		oc := ContactOf(c)
		_, err = Enqueue(tx, &oc, &wire.Content{Kind: wire.KindText, ID: "m1", TS: "018bcfe5680000000001", Body: "hi"}, "m1", 1, nil)
		return err
	})
	if n := Count(st); n != 1 {
		t.Errorf("Count after one content: %d", n)
	}
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

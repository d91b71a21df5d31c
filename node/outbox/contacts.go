package outbox

import (
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
)

// StoredContacts is the address book as the outbox reads it (Contacts): node/sessions'
// contacts, their address-book record and delivery channel, in the store.
type StoredContacts struct{}

// Contact implements Contacts.
func (StoredContacts) Contact(tx *store.Tx, cid string) (Contact, error) {
	c, err := sessions.LoadContact(tx, cid)
	if err != nil {
		return Contact{}, err
	}
	return ContactOf(c), nil
}

// ForgetInitial implements Contacts.
func (StoredContacts) ForgetInitial(tx *store.Tx, cid string) error {
	c, err := sessions.LoadContact(tx, cid)
	if err != nil {
		return err
	}
	c.Initial = nil
	return sessions.SaveContact(tx, c)
}

// ContactOf is contact c as the outbox reads it (its channel's id and counters).
func ContactOf(c *sessions.Contact) Contact {
	return Contact{
		ID: c.Ch(), SendSeq: c.SendSeq, OutSeq: c.OutSeq, Initial: c.Initial,
		Identity: c.Identity, Relays: c.Relays, Blocked: c.Blocked,
	}
}

// Count is how many contents wait in the outbox for delivery (GET /v1/status); 0 when the
// store cannot be read.
func Count(st *store.Store) int {
	n := 0
	_ = st.View(func(tx *store.Tx) error {
		var err error
		n, err = Len(tx)
		return err
	})
	return n
}

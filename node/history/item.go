package history

import (
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
)

// Item is a message as the façade changes it within one transaction: the API object and
// the delivery and ordering state beside it. On disk it is a Message (LoadItem and PutItem
// map between them, through ToAPI and FromAPI).
type Item struct {
	M         api.Message
	ContactID string
	Incoming  bool
	EditTS    string    // timestamp of the edit applied
	ReactTS   Reactions // user → emoji → timestamp of last change
}

// LoadItem reads message id: an api not_found error when there is none. A disappearing
// message's content is opened with s (sealed.go; GetMessage).
func LoadItem(tx *store.Tx, s Sealer, id string) (*Item, error) {
	r, err := GetMessage(tx, s, id)
	if err != nil {
		return nil, err
	}
	return ItemOf(r), nil
}

// ItemOf is the working form of message record r.
func ItemOf(r *Message) *Item {
	return &Item{M: ToAPI(r), ContactID: r.ContactID, Incoming: r.Incoming, EditTS: r.EditTS, ReactTS: r.ReactTS}
}

// Record is the on-disk form of it.
func (it *Item) Record() *Message {
	r := &Message{ContactID: it.ContactID, Incoming: it.Incoming, EditTS: it.EditTS, ReactTS: it.ReactTS}
	FromAPI(r, &it.M)
	return r
}

// PutItem writes it at KeyMsg(it.M.ID) (at Version), a disappearing message's content
// sealed with s (PutMessage).
func PutItem(tx *store.Tx, s Sealer, it *Item) error { return PutMessage(tx, s, it.Record()) }

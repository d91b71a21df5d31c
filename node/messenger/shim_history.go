package messenger

import (
	"fmt"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/store"
)

// convRec is a conversation as stored (node/history).
type convRec = history.Conversation

// msgRec is a message as the messenger's code handles it in memory: the API object and
// the delivery and ordering state beside it. On disk it is a history.Message (loadMsg,
// putJSON at kMsg map between them).
type msgRec struct {
	M         api.Message
	ContactID string
	Incoming  bool
	EditTS    string    // timestamp of the edit applied
	ReactTS   reactions // user → emoji → timestamp of last change
}

type (
	reactions  = history.Reactions
	reactState = history.ReactState
)

func kConv(id string) []byte             { return history.KeyConv(id) }
func kMsg(id string) []byte              { return history.KeyMsg(id) }
func kOrderPrefix(conv string) []byte    { return history.KeyOrderPrefix(conv) }
func kOrder(conv, order string) []byte   { return history.KeyOrder(conv, order) }
func kClient(conv, client string) []byte { return history.KeyClient(conv, client) }

func loadConv(tx *store.Tx, id string) (*convRec, error) { return history.GetConversation(tx, id) }

func (m *Messenger) loadMsg(tx *store.Tx, id string) (*msgRec, error) {
	r, err := history.GetMessage(tx, m.sealer(), id)
	if err != nil {
		return nil, err
	}
	return msgOf(r), nil
}

// saveMsg writes r's record, its content sealed if it disappears (putMsg).
func (m *Messenger) saveMsg(tx *store.Tx, r *msgRec) error {
	return history.PutMessage(tx, m.sealer(), r.record())
}

// msgOf is the in-memory form of message record r.
func msgOf(r *history.Message) *msgRec {
	return &msgRec{M: history.ToAPI(r), ContactID: r.ContactID, Incoming: r.Incoming, EditTS: r.EditTS, ReactTS: r.ReactTS}
}

// record is r's on-disk form.
func (r *msgRec) record() *history.Message {
	h := &history.Message{ContactID: r.ContactID, Incoming: r.Incoming, EditTS: r.EditTS, ReactTS: r.ReactTS}
	history.FromAPI(h, &r.M)
	return h
}

// putRecord is putJSON: a contact, conversation or message goes to its package's record
// (and a contact's counters to its sessions.Channel), anything else as JSON at key.
func putRecord(tx *store.Tx, key []byte, v any) error {
	check := func(want []byte) error {
		if string(key) != string(want) {
			return fmt.Errorf("messenger: a %T is saved at %q, not %q", v, want, key)
		}
		return nil
	}
	switch r := v.(type) {
	case *contactRec:
		if err := check(kContact(r.ID)); err != nil {
			return err
		}
		return saveContact(tx, r)
	case *convRec:
		if err := check(kConv(r.ID)); err != nil {
			return err
		}
		return history.PutConversation(tx, r)
	case convRec:
		if err := check(kConv(r.ID)); err != nil {
			return err
		}
		return history.PutConversation(tx, &r)
	case *msgRec:
		return fmt.Errorf("messenger: message %q saved without putMsg (which seals a disappearing one)", r.M.ID)
	}
	return store.PutJSON(tx, key, v)
}

package history

import (
	"errors"
	"reflect"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

// fullMessage sets every field of an api.Message.
func fullMessage() api.Message {
	reply, thumb, edited := "m0", "t1", int64(7)
	return api.Message{
		ID: "m1", ConversationID: "d1", ClientMsgID: "k1", SenderID: "u1", Body: "hello",
		ReplyTo: &reply, SentAt: 1, ReceivedAt: 2, Order: "0001", Status: api.StatusRead,
		Error: "none", Receipts: api.Receipts{Delivered: 1, Read: 1, Total: 2}, EditedAt: &edited,
		Deleted: true, Reactions: map[string][]string{"👍": {"u2"}},
		Attachments: []api.Attachment{{MediaID: "x", Name: "a.png", MIME: "image/png", Size: 9, SHA256: "ab", ThumbnailMediaID: &thumb}},
	}
}

// TestMessageRoundTrip: a message saved and loaded shows exactly the api.Message it was
// saved from, with its delivery and ordering state beside it.
func TestMessageRoundTrip(t *testing.T) {
	st := storetest.Open(t)
	want := fullMessage()
	storetest.Update(t, st, func(tx *store.Tx) error {
		r := &Message{ContactID: "c1", Incoming: true, EditTS: "ts1", ReactTS: Reactions{"u2": {"👍": {TS: "ts2", Present: true}}}}
		FromAPI(r, &want)
		return PutMessage(tx, nil, r)
	})
	_ = st.View(func(tx *store.Tx) error {
		r, err := GetMessage(tx, nil, "m1")
		if err != nil {
			t.Fatal(err)
		}
		if got := ToAPI(r); !reflect.DeepEqual(got, want) {
			t.Errorf("got  %+v\nwant %+v", got, want)
		}
		if r.V != Version || r.ContactID != "c1" || !r.Incoming || r.EditTS != "ts1" || !r.ReactTS["u2"]["👍"].Present {
			t.Errorf("record %+v", r)
		}
		return nil
	})
}

// TestToAPIOfBareMessage: a message without attachments or reactions shows them empty, not
// null, as every message the API has ever shown.
func TestToAPIOfBareMessage(t *testing.T) {
	m := ToAPI(&Message{ID: "m"})
	if m.Attachments == nil || len(m.Attachments) != 0 || m.Reactions == nil || len(m.Reactions) != 0 {
		t.Fatalf("%+v", m)
	}
}

// TestConversationsAndMessagesListed: every saved conversation and message is listed,
// conversations in id order and messages from a start key; a missing one is not_found.
func TestConversationsAndMessagesListed(t *testing.T) {
	st := storetest.Open(t)
	storetest.Update(t, st, func(tx *store.Tx) error {
		for _, id := range []string{"d2", "d1", "g1"} {
			if err := PutConversation(tx, &Conversation{ID: id, Type: api.ConversationDirect, Unread: 3, ReadUpTo: "0009"}); err != nil {
				return err
			}
		}
		for _, id := range []string{"m1", "m2", "m3"} {
			m := api.Message{ID: id, ConversationID: "d1", Body: "body " + id}
			r := &Message{}
			FromAPI(r, &m)
			if err := PutMessage(tx, nil, r); err != nil {
				return err
			}
		}
		return nil
	})
	_ = st.View(func(tx *store.Tx) error {
		var convs, msgs []string
		if err := Conversations(tx, func(c *Conversation) (bool, error) {
			convs = append(convs, c.ID)
			return true, nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := Messages(tx, KeyMsg("m2"), func(_ []byte, r *Message) (bool, error) {
			msgs = append(msgs, r.Body)
			return true, nil
		}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(convs, []string{"d1", "d2", "g1"}) || !reflect.DeepEqual(msgs, []string{"body m2", "body m3"}) {
			t.Errorf("conversations %v, messages %v", convs, msgs)
		}
		c, err := GetConversation(tx, "d2")
		if err != nil || c.Unread != 3 || c.ReadUpTo != "0009" || c.V != Version {
			t.Errorf("conversation %+v %v", c, err)
		}
		if _, err := GetMessage(tx, nil, "nope"); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("missing message: %v", err)
		}
		return nil
	})
}

// TestUnversionedRecordsRefused: a record of the release before versions (a message with
// its api.Message under "m") is an error, never read as an empty message.
func TestUnversionedRecordsRefused(t *testing.T) {
	st := storetest.Open(t)
	storetest.Update(t, st, func(tx *store.Tx) error {
		if err := store.PutJSON(tx, KeyMsg("old"), map[string]any{"m": map[string]any{"id": "old", "body": "x"}}); err != nil {
			return err
		}
		return store.PutJSON(tx, KeyConv("oldc"), map[string]any{"id": "oldc"})
	})
	_ = st.View(func(tx *store.Tx) error {
		if r, err := GetMessage(tx, nil, "old"); err == nil {
			t.Errorf("read %+v", r)
		}
		if c, err := GetConversation(tx, "oldc"); err == nil {
			t.Errorf("read %+v", c)
		}
		if err := Messages(tx, nil, func([]byte, *Message) (bool, error) { return true, nil }); err == nil {
			t.Error("Messages read a version 0 record")
		}
		return nil
	})
}

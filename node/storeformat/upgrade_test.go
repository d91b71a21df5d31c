package storeformat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/push"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
)

// TestUpgradeRecordsIsRerunnable: format step 1 over release records (more messages than
// one batch) gives versioned records with the same content, and running it again, as after
// a crash before the version was bumped, changes nothing.
func TestUpgradeRecordsIsRerunnable(t *testing.T) {
	st, err := store.Create(t.TempDir(), []byte("upgrade test passphrase"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	const n = upgradeBatch + 10
	if err := st.Update(ctx, func(tx *store.Tx) error {
		old := map[string]any{"id": "c1", "user_id": "u1", "name": "Ann", "verified": true, "conversation_id": "d1",
			"send_seq": 7, "out_seq": 9, "recv_seq": 5, "ahead": []uint64{7}, "answered": true, "seen_init": []byte{1, 2}}
		if err := store.PutJSON(tx, contacts.Key("c1"), old); err != nil {
			return err
		}
		if err := store.PutJSON(tx, history.KeyConv("d1"), map[string]any{"id": "d1", "type": "direct", "contact_id": "c1", "unread": 2, "read_up_to": "0003"}); err != nil {
			return err
		}
		for i := range n {
			id := fmt.Sprintf("m%04d", i)
			m := api.Message{ID: id, ConversationID: "d1", Body: "body " + id, Order: id, Status: api.StatusRead,
				Receipts: api.Receipts{Delivered: 1, Read: 1, Total: 1}, Reactions: map[string][]string{"👍": {"u1"}}, Attachments: []api.Attachment{}}
			old := map[string]any{"m": m, "contact_id": "c1", "incoming": i%2 == 0, "edit_ts": "e" + id,
				"react_ts": history.Reactions{"u1": {"👍": {TS: "r" + id, Present: true}}}}
			if err := store.PutJSON(tx, history.KeyMsg(id), old); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		if err := upgradeRecords(ctx, st); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if err := st.View(func(tx *store.Tx) error {
			c, err := sessions.LoadContact(tx, "c1")
			if err != nil {
				return err
			}
			if c.Name != "Ann" || !c.Verified || c.ConvID != "d1" || c.SendSeq != 7 || c.OutSeq != 9 || c.RecvSeq != 5 ||
				len(c.Ahead) != 1 || !c.Answered || len(c.Seen) != 2 {
				return fmt.Errorf("contact %+v", c)
			}
			if ch, err := sessions.LoadChannel(tx, "c1"); err != nil || ch.SendSeq != 7 {
				return fmt.Errorf("channel %+v %v", ch, err)
			}
			cv, err := history.GetConversation(tx, "d1")
			if err != nil || cv.Unread != 2 || cv.ReadUpTo != "0003" {
				return fmt.Errorf("conversation %+v %v", cv, err)
			}
			count := 0
			err = history.Messages(tx, nil, func(_ []byte, r *history.Message) (bool, error) {
				id := fmt.Sprintf("m%04d", count)
				m := history.ToAPI(r)
				if m.ID != id || m.Body != "body "+id || m.Receipts.Read != 1 || len(m.Reactions["👍"]) != 1 ||
					r.EditTS != "e"+id || r.ReactTS["u1"]["👍"].TS != "r"+id || r.Incoming != (count%2 == 0) || r.ContactID != "c1" {
					b, _ := json.Marshal(r)
					return false, fmt.Errorf("message %d: %s", count, b)
				}
				count++
				return true, nil
			})
			if err == nil && count != n {
				err = fmt.Errorf("%d messages, want %d", count, n)
			}
			return err
		}); err != nil {
			t.Fatalf("after run %d: %v", run, err)
		}
	}
}

// TestBinaryMessagesIsRerunnable: format step 2 rewrites format 1's JSON message records,
// a disappearing message's record without its content among them, in the binary layout
// with the same content (the sealed content left where it is), and running it again
// changes nothing.
func TestBinaryMessagesIsRerunnable(t *testing.T) {
	st, err := store.Create(t.TempDir(), []byte("upgrade test passphrase"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	exp := int64(99)
	want := map[string]*history.Message{
		"m1": {V: 1, ID: "m1", ConversationID: "d1", Body: "hello", Status: api.StatusRead, Delivered: 1, Read: 1, Total: 1,
			Reactions: map[string][]string{"👍": {"u1"}}, ContactID: "c1", Incoming: true},
		"m2": {V: 1, ID: "m2", ConversationID: "d1", Status: api.StatusSent, Total: 1, Disappear: 60, ExpiresAt: &exp,
			Sealed: true, Media: []string{"f1"}, ContactID: "c1"},
	}
	sealed := []byte("sealed content, opaque to the step")
	if err := st.Update(ctx, func(tx *store.Tx) error {
		for id, r := range want {
			if err := store.PutJSON(tx, history.KeyMsg(id), r); err != nil {
				return err
			}
		}
		return tx.Set(history.KeySealed("m2"), sealed)
	}); err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		if err := binaryMessages(ctx, st); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if err := st.View(func(tx *store.Tx) error {
			for id, w := range want {
				v, err := tx.Get(history.KeyMsg(id))
				if err != nil {
					return err
				}
				var r history.Message
				if !history.IsBinaryMessage(v) || history.DecodeMessage(v, &r) != nil {
					return fmt.Errorf("%s is not a binary record: %q", id, v)
				}
				if !reflect.DeepEqual(&r, w) {
					return fmt.Errorf("%s:\n got %+v\nwant %+v", id, r, *w)
				}
			}
			if v, err := tx.Get(history.KeySealed("m2")); err != nil || !bytes.Equal(v, sealed) {
				return fmt.Errorf("sealed content now %q (%v)", v, err)
			}
			return nil
		}); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
}

// TestPushRecordsMoveOffLastSeen: format step 3 moves push registrations (JSON objects)
// from pr/ to their own prefix and leaves node/presence's last seen times (decimal
// numbers) at pr/; running it again changes nothing.
func TestPushRecordsMoveOffLastSeen(t *testing.T) {
	st, err := store.Create(t.TempDir(), []byte("upgrade test passphrase"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	reg := []byte(`{"v":1,"id":"0a1b","kind":"fcm","token":"t","created":5,"relays":{}}`)
	seen := map[string]string{"pr/c1": "1764700000000", "pr/c2": "1764700000001"}
	if err := st.Update(ctx, func(tx *store.Tx) error {
		for k, v := range seen {
			if err := tx.Set([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return tx.Set([]byte("pr/0a1b"), reg)
	}); err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		if err := pushRecords(ctx, st); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if err := st.View(func(tx *store.Tx) error {
			if v, err := tx.Get([]byte(push.RecordPrefix + "0a1b")); err != nil || !bytes.Equal(v, reg) {
				return fmt.Errorf("the registration at its prefix: %q %v", v, err)
			}
			if _, err := tx.Get([]byte("pr/0a1b")); err != store.ErrNotFound {
				return fmt.Errorf("the registration is still at pr/: %v", err)
			}
			for k, want := range seen {
				if v, err := tx.Get([]byte(k)); err != nil || string(v) != want {
					return fmt.Errorf("%s is now %q (%v), want %s", k, v, err, want)
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
}

package history

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

// TestAdvanceStatusOnlyForward: a status only moves forward, with its receipts; a failure
// does not undo a message that was sent, and failed is final.
func TestAdvanceStatusOnlyForward(t *testing.T) {
	r := &Item{M: api.Message{Status: api.StatusPending}}
	if !AdvanceStatus(r, api.StatusDelivered, "") || r.M.Receipts.Delivered != 1 {
		t.Fatalf("delivered: %+v", r.M)
	}
	if AdvanceStatus(r, api.StatusSent, "") || r.M.Status != api.StatusDelivered {
		t.Errorf("went back to sent: %s", r.M.Status)
	}
	if AdvanceStatus(r, api.StatusFailed, "late failure") || r.M.Status != api.StatusDelivered || r.M.Error != "" {
		t.Errorf("a failure undid a delivered message: %+v", r.M)
	}
	if !AdvanceStatus(r, api.StatusRead, "") || r.M.Receipts.Read != 1 {
		t.Errorf("read: %+v", r.M)
	}
	f := &Item{M: api.Message{Status: api.StatusPending}}
	if !AdvanceStatus(f, api.StatusFailed, "identity changed") || f.M.Error != "identity changed" {
		t.Fatalf("failed: %+v", f.M)
	}
	if AdvanceStatus(f, api.StatusRead, "") || f.M.Status != api.StatusFailed {
		t.Errorf("failed is not final: %s", f.M.Status)
	}
}

// TestApplyReactionLastChangeWins: per user and emoji the latest change wins whatever the
// order of arrival; the reactions list each emoji's users, sorted.
func TestApplyReactionLastChangeWins(t *testing.T) {
	r := &Item{}
	if !ApplyReaction(r, "u2", "👍", true, "0002") || !ApplyReaction(r, "u1", "👍", true, "0001") {
		t.Fatal("a first reaction changed nothing")
	}
	if got := r.M.Reactions["👍"]; !slices.Equal(got, []string{"u1", "u2"}) {
		t.Errorf("👍 by %v", got)
	}
	if ApplyReaction(r, "u2", "👍", false, "0001") {
		t.Error("an older removal was applied")
	}
	if !ApplyReaction(r, "u2", "👍", false, "0003") || !slices.Equal(r.M.Reactions["👍"], []string{"u1"}) {
		t.Errorf("a later removal: %v", r.M.Reactions)
	}
}

// TestFixLastPointsAtTheNewestLeft: removing the last message points the conversation at
// the newest one left (none when it was the only one); removing another changes nothing.
func TestFixLastPointsAtTheNewestLeft(t *testing.T) {
	st := storetest.Open(t)
	storetest.Update(t, st, func(tx *store.Tx) error {
		if err := PutConversation(tx, &Conversation{ID: "d1", Type: api.ConversationDirect, LastMsgID: "m2"}); err != nil {
			return err
		}
		return tx.Set(KeyOrder("d1", "0001"), []byte("m1"))
	})
	var changed bool
	storetest.Update(t, st, func(tx *store.Tx) error {
		var err error
		if changed, err = FixLast(tx, "d1", "m1"); err != nil || changed {
			t.Errorf("removing a message that is not the last: changed %v, %v", changed, err)
		}
		changed, err = FixLast(tx, "d1", "m2")
		return err
	})
	_ = st.View(func(tx *store.Tx) error {
		cv, err := GetConversation(tx, "d1")
		if err != nil || !changed || cv.LastMsgID != "m1" {
			t.Errorf("after removing the last: %+v, changed %v, %v", cv, changed, err)
		}
		return nil
	})
}

// TestReadUpToMarksIncomingOnly: reading up to a message marks the incoming messages up to
// it read (not our own), counts the incoming ones after it as unread, and moves the read
// mark forward only; a message of another conversation is not_found.
func TestReadUpToMarksIncomingOnly(t *testing.T) {
	st := storetest.Open(t)
	storetest.Update(t, st, func(tx *store.Tx) error {
		if err := PutConversation(tx, &Conversation{ID: "d1", Type: api.ConversationDirect, Unread: 3}); err != nil {
			return err
		}
		if err := PutConversation(tx, &Conversation{ID: "d2", Type: api.ConversationDirect}); err != nil {
			return err
		}
		for i, m := range []struct {
			id, conv string
			in       bool
		}{{"m1", "d1", true}, {"m2", "d1", false}, {"m3", "d1", true}, {"m4", "d1", true}, {"x1", "d2", true}} {
			it := &Item{M: api.Message{ID: m.id, ConversationID: m.conv, Order: fmt.Sprintf("%04d", i+1), Status: api.StatusDelivered,
				Receipts: api.Receipts{Delivered: 1}}, Incoming: m.in}
			if err := PutItem(tx, nil, it); err != nil {
				return err
			}
			if err := tx.Set(KeyOrder(m.conv, it.M.Order), []byte(m.id)); err != nil {
				return err
			}
		}
		return nil
	})
	_ = st.View(func(tx *store.Tx) error {
		conv, newly, changed, err := ReadUpTo(tx, nil, "d1", "m3")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range newly {
			ids = append(ids, r.M.ID)
			if r.M.Status != api.StatusRead || r.M.Receipts.Read != 1 {
				t.Errorf("%s: %s, read receipts %d", r.M.ID, r.M.Status, r.M.Receipts.Read)
			}
		}
		if !slices.Equal(ids, []string{"m1", "m3"}) || conv.Unread != 1 || conv.ReadUpTo != "0003" || !changed {
			t.Errorf("newly %v, unread %d, read up to %q, changed %v", ids, conv.Unread, conv.ReadUpTo, changed)
		}
		if _, _, _, err := ReadUpTo(tx, nil, "d1", "x1"); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("a message of another conversation: %v", err)
		}
		return nil
	})
}

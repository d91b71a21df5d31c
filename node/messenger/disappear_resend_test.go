package messenger

import (
	"context"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/groups"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/shredkeys"
	"github.com/petrel-chat/petrel/node/store"
)

// TestDisappearingGroupResendCopySealed: the copy of a disappearing group message kept for
// resends (gh/) is sealed under the message's bucket, not left under the data key, where
// an older version of our sending chain in Badger's value log would open it; it opens to
// an envelope a member takes, and to nothing once the bucket's key is destroyed. A content
// without a timer (the timer change itself) is kept as before.
func TestDisappearingGroupResendCopySealed(t *testing.T) {
	ctx := context.Background()
	a, b, _, gid := trio(t)
	kr, err := shredkeys.Open(ctx, a.st, shredkeys.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer kr.Close()
	a.cfg.Shred = kr
	if _, err := a.SetDisappear(ctx, gid, 60); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Send(ctx, api.SendRequest{ConversationID: gid, ClientMsgID: "d1", Body: "gone in a minute"}); err != nil {
		t.Fatal(err)
	}
	var keys, vals [][]byte
	err = a.st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: []byte("gh/" + gid + "/")}, func(k, v []byte) (bool, error) {
			keys, vals = append(keys, k), append(vals, v)
			return true, nil
		})
	})
	if err != nil || len(vals) < 2 {
		t.Fatalf("%d resend copies: %v", len(vals), err)
	}
	last, lastKey := vals[len(vals)-1], keys[len(keys)-1]
	if vals[len(vals)-2][0] != 0x01 {
		t.Error("the timer change (no timer of its own) is not kept as a plain envelope")
	}
	if last[0] != 0 {
		t.Fatal("the disappearing message's resend copy is kept under the data key only")
	}
	env, ok := outq.OpenCopy(a.outSealer(), lastKey, last)
	if !ok || env[0] != 0x01 {
		t.Fatalf("the sealed copy does not open to an envelope: %v", ok)
	}
	if out := deliverEnvelope(t, b, gid, env); out != groups.Stored && out != groups.Duplicate {
		t.Fatalf("a member does not take the opened copy: %v", out)
	}
	bk, err := shredkeys.BucketOf(last[1:])
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.Destroy(ctx, bk); err != nil {
		t.Fatal(err)
	}
	if _, ok := outq.OpenCopy(a.outSealer(), lastKey, last); ok {
		t.Fatal("the copy still opens after its bucket key is destroyed")
	}
}

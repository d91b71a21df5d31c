package messenger

import (
	"context"
	"testing"

	"github.com/petrel-chat/petrel/node/groups"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// deliverEnvelope hands group envelope env of gid to m's group receive path.
func deliverEnvelope(t *testing.T, m *Messenger, gid string, env []byte) groups.Outcome {
	t.Helper()
	var out groups.Outcome
	err := m.st.Update(context.Background(), func(tx *store.Tx) error {
		rx := m.groups.NewRx(tx, m.groupPairwise(tx, txContacts{}))
		var err error
		if out, err = rx.Envelope(gid, env); err != nil {
			return err
		}
		return rx.Finish()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// timerOf is conversation gid's timer at m and how many system lines it shows.
func timerOf(t *testing.T, m *Messenger, gid string) (int64, int) {
	t.Helper()
	c, err := m.Conversation(context.Background(), gid)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Messages(context.Background(), gid, "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, msg := range p.Messages {
		if msg.System {
			n++
		}
	}
	return c.DisappearAfterS, n
}

// TestGroupTimerFromANonAdminIsIgnored: c, a member but not an admin, bypasses its own
// node's API check and (1) signs a timer operation itself and sends it to b with the
// group's log, (2) sends a timer as a group control (validly sealed under its sender
// key), as nodes before the signed operation did. b ignores both. The admin's change, a
// signed operation in the log, applies on b with one system line; the old-style control
// that goes with it (for older nodes) changes nothing more.
func TestGroupTimerFromANonAdminIsIgnored(t *testing.T) {
	ctx := context.Background()
	a, b, c, gid := trio(t)
	err := c.st.Update(ctx, func(tx *store.Tx) error {
		g, err := groups.Load(tx, gid)
		if err != nil {
			return err
		}
		op := &wire.GroupOp{Group: gid, ID: "forged", TS: c.clock.Now().String(), Author: c.uid, Kind: wire.OpDisappear, Disappear: 5}
		raw, err := wire.SignGroupOp(c.id, op)
		if err != nil {
			return err
		}
		return c.groupPairwise(tx, txContacts{}).Send(b.uid, &wire.Content{Kind: wire.KindGroupOps, Group: gid, Head: g.Head, Ops: [][]byte{raw}})
	})
	if err != nil {
		t.Fatal(err)
	}
	shuttle(t, a, b, c)
	if secs, lines := timerOf(t, b, gid); secs != 0 || lines != 0 {
		t.Fatalf("after a non-admin's signed timer b has timer %d and %d system lines", secs, lines)
	}
	err = c.st.Update(ctx, func(tx *store.Tx) error {
		return c.sendGroupControl(tx, gid, &wire.Content{Kind: wire.KindDisappear, Expire: 5})
	})
	if err != nil {
		t.Fatal(err)
	}
	if out := deliverEnvelope(t, b, gid, lastEnvelope(t, c, gid)); out != groups.Stored {
		t.Fatalf("c's control: outcome %d, want it read (and ignored)", out)
	}
	if secs, lines := timerOf(t, b, gid); secs != 0 || lines != 0 {
		t.Fatalf("after a non-admin's control b has timer %d and %d system lines", secs, lines)
	}
	if _, err := c.SetDisappear(ctx, gid, 5); err == nil {
		t.Fatal("c's own API let a non-admin set the timer")
	}

	if _, err := a.SetDisappear(ctx, gid, 3600); err != nil {
		t.Fatal(err)
	}
	if secs, lines := timerOf(t, a, gid); secs != 3600 || lines != 1 {
		t.Fatalf("the admin's own node has timer %d and %d system lines", secs, lines)
	}
	shuttle(t, a, b, c)
	if out := deliverEnvelope(t, b, gid, lastEnvelope(t, a, gid)); out != groups.Stored {
		t.Fatalf("a's control: outcome %d", out)
	}
	for _, m := range []*Messenger{b, c} {
		if secs, lines := timerOf(t, m, gid); secs != 3600 || lines != 1 {
			t.Fatalf("after the admin's signed timer a member has timer %d and %d system lines", secs, lines)
		}
	}
}

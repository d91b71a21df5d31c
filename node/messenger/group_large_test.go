package messenger

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/eventlog"
	"github.com/petrel-chat/petrel/node/groups"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// queued returns the group contents waiting in m's outbox for user uid, oldest first.
func queued(t *testing.T, m *Messenger, uid string) []*wire.Content {
	t.Helper()
	var out []*wire.Content
	err := m.st.View(func(tx *store.Tx) error {
		cid, err := store.GetString(tx, contacts.KeyByUser(uid))
		if err != nil || cid == "" {
			return errors.New("no contact")
		}
		return tx.Iterate(store.IterOptions{Prefix: outq.KeyPrefix(cid)}, func(_, v []byte) (bool, error) {
			var o outq.Entry
			if err := json.Unmarshal(v, &o); err != nil {
				return false, err
			}
			ct, err := wire.ParseContent(o.Content)
			if err != nil {
				return false, err
			}
			out = append(out, ct)
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// owedCount is how many members of gid m owes something (node/groups fanout.go).
func owedCount(t *testing.T, m *Messenger, gid string) int {
	t.Helper()
	n := 0
	err := m.st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: []byte("gf/" + gid + "/")}, func(_, _ []byte) (bool, error) {
			n++
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func memberIDs(cv api.Conversation) map[string]string {
	out := map[string]string{}
	for _, mb := range cv.Members {
		out[mb.UserID] = mb.Role
	}
	return out
}

// Every admin operation works on a group at the default cap of 1,000 members, and each
// costs what it changes: the group's members are contacts known by identity only, whose
// nodes are not running.
func TestEveryAdminOperationAtTheCap(t *testing.T) {
	ctx := context.Background()
	n := groups.DefaultMaxSize
	m, uids := largeMessenger(t, t.TempDir(), n) // n contacts: one more than fits
	cv, err := m.CreateGroup(ctx, "at the cap", uids[:n-2])
	if err != nil {
		t.Fatal(err)
	}
	gid := cv.ID
	if len(cv.Members) != n-1 {
		t.Fatalf("created with %d members, want %d", len(cv.Members), n-1)
	}
	// Durable with the change: what each member is owed (the log, our key), nothing yet
	// in their outboxes.
	if got := owedCount(t, m, gid); got != n-2 {
		t.Fatalf("%d members owed, want %d", got, n-2)
	}
	if q := queued(t, m, uids[5]); len(q) != 0 {
		t.Fatalf("%d contents queued in the change's own transaction", len(q))
	}
	m.settleFanout(t)

	// Add up to the cap; one more is refused.
	if cv, err = m.ChangeMembers(ctx, gid, uids[n-2:n-1], nil); err != nil || len(cv.Members) != n {
		t.Fatalf("add to the cap: %v, %d members", err, len(cv.Members))
	}
	if _, err := m.ChangeMembers(ctx, gid, uids[n-1:], nil); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("add past the cap: %v", err)
	}
	m.settleFanout(t)
	// A newcomer is sent our key and a gsync, and the log once it took them.
	kinds := func(uid string) []string {
		var ks []string
		for _, ct := range queued(t, m, uid) {
			ks = append(ks, ct.Kind)
		}
		return ks
	}
	if ks := kinds(uids[n-2]); !slices.Equal(ks, []string{wire.KindGroupKey, wire.KindGroupSync}) &&
		!slices.Equal(ks, []string{wire.KindGroupSync}) { // (its key owed: giveKey)
		t.Fatalf("newcomer's contents: %v", ks)
	}
	ackAll(t, m, uids[n-2])
	m.settleFanout(t)
	if ks := kinds(uids[n-2]); len(ks) == 0 || ks[len(ks)-1] != wire.KindGroupOps {
		t.Fatalf("newcomer's contents once it took the first: %v", ks)
	}

	// Rename, promote, demote.
	if cv, err = m.RenameGroup(ctx, gid, "renamed"); err != nil || cv.Name != "renamed" {
		t.Fatalf("rename: %v %q", err, cv.Name)
	}
	if cv, err = m.SetRole(ctx, gid, uids[:2], api.RoleAdmin); err != nil || memberIDs(cv)[uids[1]] != api.RoleAdmin {
		t.Fatalf("promote: %v", err)
	}
	if cv, err = m.SetRole(ctx, gid, uids[1:2], api.RoleMember); err != nil || memberIDs(cv)[uids[1]] != api.RoleMember {
		t.Fatalf("demote: %v", err)
	}
	m.settleFanout(t)

	// Remove: the sender key rotates; the new chain is owed to the rest, never to the
	// removed member, who is sent its removal only.
	removed := uids[2]
	before := len(queued(t, m, removed))
	if cv, err = m.ChangeMembers(ctx, gid, nil, []string{removed}); err != nil || len(cv.Members) != n-1 {
		t.Fatalf("remove: %v, %d members", err, len(cv.Members))
	}
	m.settleFanout(t)
	var ss *senderkey.SenderState
	_ = m.st.View(func(tx *store.Tx) error { ss, err = loadSender(tx, gid); return err })
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range queued(t, m, removed)[before:] {
		if ct.Kind != wire.KindGroupOps {
			t.Fatalf("the removed member is sent a %s", ct.Kind)
		}
	}
	gotKey := func(uid string) bool {
		for _, ct := range queued(t, m, uid) {
			if ct.Kind == wire.KindGroupKey && len(ct.Data) == 151 {
				if d, err := senderkey.ParseDistribution(ct.Data[1:87]); err == nil && d.ID() == ss.ID() {
					return true
				}
			}
		}
		return false
	}
	owedKey := func(uid string) bool { // or owed, until they start the session (giveKey)
		var rx memberRx
		_ = m.st.View(func(tx *store.Tx) error { _, err := store.GetJSON(tx, kGroupRx(gid, uid), &rx); return err })
		if rx.Owed == nil {
			return false
		}
		d, err := senderkey.ParseDistribution(rx.Owed.Data[1:87])
		return err == nil && d.ID() == ss.ID()
	}
	for _, u := range []string{uids[0], uids[3], uids[n-3], uids[n-2]} {
		if !gotKey(u) && !owedKey(u) {
			t.Fatalf("remaining member %s not given the new key", u)
		}
	}
	if gotKey(removed) || owedKey(removed) {
		t.Fatal("the removed member was given the new key")
	}

	// Leave.
	if cv, err = m.LeaveGroup(ctx, gid); err != nil || len(cv.Members) != 0 {
		t.Fatalf("leave: %v, %d members", err, len(cv.Members))
	}
	m.settleFanout(t)
	if _, _, err := m.Send(ctx, api.SendRequest{ConversationID: gid, ClientMsgID: "x", Body: "x"}); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("sending after leaving: %v", err)
	}
	// A member who has taken what it was sent (its outbox acknowledged) is sent the log,
	// the leave in it.
	ackAll(t, m, uids[0])
	m.settleFanout(t)
	q := queued(t, m, uids[0])
	if len(q) == 0 || q[len(q)-1].Kind != wire.KindGroupOps {
		t.Fatalf("the members are not told: %d contents", len(q))
	}
	left := false
	for _, ct := range q {
		for _, raw := range ct.Ops {
			if s, err := wire.ParseGroupOp(raw); err == nil && s.Op.Kind == wire.OpLeave && s.Op.Author == m.uid {
				left = true
			}
		}
	}
	if !left {
		t.Fatal("the log sent holds no leave")
	}
}

// ackAll empties m's outbox for uid, as that member's acknowledgements would.
func ackAll(t *testing.T, m *Messenger, uid string) {
	t.Helper()
	err := m.st.Update(context.Background(), func(tx *store.Tx) error {
		cid, err := store.GetString(tx, contacts.KeyByUser(uid))
		if err != nil {
			return err
		}
		var keys [][]byte
		if err := tx.Iterate(store.IterOptions{Prefix: outq.KeyPrefix(cid)}, func(k, _ []byte) (bool, error) {
			keys = append(keys, append([]byte(nil), k...))
			return true, nil
		}); err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A group stored by the first release (its state with every member in gr/, its whole log
// in gl/) reads the same and takes changes, after which it is in the current layout.
func TestGroupInTheFirstLayoutStillWorks(t *testing.T) {
	ctx := context.Background()
	m, uids := largeMessenger(t, t.TempDir(), 30)
	cv, err := m.CreateGroup(ctx, "old", uids[:20])
	if err != nil {
		t.Fatal(err)
	}
	gid := cv.ID
	m.settleFanout(t)
	err = m.st.Update(ctx, func(tx *store.Tx) error {
		g, err := groups.LoadWithOps(tx, gid)
		if err != nil {
			return err
		}
		// The first release's records, field for field.
		old := map[string]any{"id": g.ID, "name": g.Name, "members": g.Members, "secret": g.Secret, "max": g.Max,
			"head": g.Head, "me": g.Me, "created": g.Created}
		if err := store.PutJSON(tx, kGroup(gid), old); err != nil {
			return err
		}
		if err := store.PutJSON(tx, kGroupLog(gid), g.Ops); err != nil {
			return err
		}
		for _, p := range [][]byte{kGroupBucketPrefix(gid), kGroupOpPrefix(gid)} {
			var keys [][]byte
			if err := tx.Iterate(store.IterOptions{Prefix: p}, func(k, _ []byte) (bool, error) {
				keys = append(keys, append([]byte(nil), k...))
				return true, nil
			}); err != nil {
				return err
			}
			for _, k := range keys {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Conversation(ctx, gid)
	if err != nil || len(got.Members) != 21 || got.Name != "old" {
		t.Fatalf("read back: %v, %d members %q", err, len(got.Members), got.Name)
	}
	if cv, err = m.ChangeMembers(ctx, gid, uids[20:25], uids[:2]); err != nil || len(cv.Members) != 24 {
		t.Fatalf("change: %v, %d members", err, len(cv.Members))
	}
	if cv, err = m.RenameGroup(ctx, gid, "new"); err != nil || cv.Name != "new" || len(cv.Members) != 24 {
		t.Fatalf("rename: %v", err)
	}
	_ = m.st.View(func(tx *store.Tx) error {
		g, err := groups.Load(tx, gid)
		if err != nil {
			t.Fatal(err)
		}
		if g.Layout != groupLayout || len(g.Members) != 24 {
			t.Fatalf("layout %d, %d members", g.Layout, len(g.Members))
		}
		if _, err := tx.Get(kGroupLog(gid)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the old log record is still there: %v", err)
		}
		withLog, err := groups.LoadWithOps(tx, gid)
		if err != nil {
			t.Fatalf("log: %v", err)
		}
		if len(withLog.Ops) != 4 {
			t.Fatalf("log: %d operations", len(withLog.Ops))
		}
		return nil
	})
}

// A group at the cap reaches its members: two of them run here (the other 997 are
// contacts known by identity only), each sees the whole group and reads the others; after
// one is removed, the chains it held open nothing sent later.
func TestGroupAtTheCapReachesItsMembersAndRemovalLocksOut(t *testing.T) {
	ctx := context.Background()
	n := groups.DefaultMaxSize
	a, fakes := largeMessenger(t, t.TempDir(), n-3)
	b, c := testMessenger(t, "b"), testMessenger(t, "c")
	for b.uid < a.uid { // a's key reaches b before a's removal does: b must still give a its new key
		b = testMessenger(t, "b")
	}
	peers := map[*Messenger]string{a: "12D3KooWa", b: "12D3KooWb", c: "12D3KooWc"}
	for _, x := range []*Messenger{a, b, c} {
		for _, y := range []*Messenger{a, b, c} {
			if x != y {
				introduce(t, x, y, peers[y])
			}
		}
	}
	cv, err := a.CreateGroup(ctx, "big", append([]string{b.uid, c.uid}, fakes...))
	if err != nil {
		t.Fatal(err)
	}
	gid := cv.ID
	shuttle(t, a, b, c)
	for _, x := range []*Messenger{b, c} {
		got, err := x.Conversation(ctx, gid)
		if err != nil || len(got.Members) != n || got.Name != "big" {
			t.Fatalf("%s sees %d members (%v)", x.cfg.Profile(), len(got.Members), err)
		}
	}
	fromA, fromB := send(t, a, gid, "a1", "hello all"), send(t, b, gid, "b1", "hello too")
	cHeldA, cHeldB := receiverOf(t, c, gid, a.uid), receiverOf(t, c, gid, b.uid)
	if cHeldA == nil || cHeldB == nil || !opens(t, cHeldA, fromA) || !opens(t, cHeldB, fromB) || !opens(t, receiverOf(t, b, gid, a.uid), fromA) {
		t.Fatal("members cannot read each other")
	}

	if _, err := a.ChangeMembers(ctx, gid, nil, []string{c.uid}); err != nil {
		t.Fatal(err)
	}
	shuttle(t, a, b, c)
	if got, _ := c.Conversation(ctx, gid); len(got.Members) != 0 {
		t.Fatalf("the removed member still sees %d members", len(got.Members))
	}
	afterA, afterB := send(t, a, gid, "a2", "after"), send(t, b, gid, "b2", "after too")
	if opens(t, cHeldA, afterA) || opens(t, cHeldB, afterB) {
		t.Fatal("the removed member's chains open a message sent after its removal")
	}
	if !opens(t, receiverOf(t, b, gid, a.uid), afterA) || !opens(t, receiverOf(t, a, gid, b.uid), afterB) {
		t.Fatal("the remaining members cannot read each other after the rotation")
	}
}

// What a large change owes members is durable with it: a node stopped before serving any
// of it serves it all after it opens its store again.
func TestOwedFanoutSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m, uids := largeMessenger(t, dir, 40)
	cv, err := m.CreateGroup(ctx, "restart", uids)
	if err != nil {
		t.Fatal(err)
	}
	id := m.id
	if err := m.st.Close(); err != nil { // stopped before the fan-out ran
		t.Fatal(err)
	}
	st, err := store.Open(dir, []byte("test passphrase"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ev, err := eventlog.Open(st)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := New(ctx, Config{Store: st, Events: ev, Identity: id, Profile: func() string { return "me" }})
	if err != nil {
		t.Fatal(err)
	}
	m2.host = m.host
	if !m2.groups.FanoutDue() {
		t.Fatal("a started node does not look for what it owes")
	}
	if got := owedCount(t, m2, cv.ID); got != len(uids) {
		t.Fatalf("%d members owed after the restart, want %d", got, len(uids))
	}
	m2.settleFanout(t)
	for _, u := range uids {
		ks := map[string]bool{}
		for _, ct := range queued(t, m2, u) {
			ks[ct.Kind] = true
		}
		var rx memberRx
		_ = m2.st.View(func(tx *store.Tx) error { _, err := store.GetJSON(tx, kGroupRx(cv.ID, u), &rx); return err })
		if !ks[wire.KindGroupSync] || (!ks[wire.KindGroupKey] && rx.Owed == nil) {
			t.Fatalf("member %s was sent %v after the restart", u, ks)
		}
	}
}

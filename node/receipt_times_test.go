package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

func receiptsOf(t *testing.T, n *nodetest.Node, msgID string) map[string]api.MemberReceipt {
	t.Helper()
	var rs api.MessageReceipts
	if err := n.Client.Do(context.Background(), "GET", "/v1/messages/"+msgID+"/receipts", nil, &rs); err != nil {
		t.Fatal(err)
	}
	out := map[string]api.MemberReceipt{}
	for _, r := range rs.Receipts {
		out[r.UserID] = r
	}
	return out
}

// inWindow checks that a receipt time is set and falls between from and to.
func inWindow(what string, at *int64, from, to time.Time) error {
	if at == nil {
		return fmt.Errorf("%s: no time", what)
	}
	if *at < from.UnixMilli() || *at > to.UnixMilli() {
		return fmt.Errorf("%s at %d, outside [%d, %d]", what, *at, from.UnixMilli(), to.UnixMilli())
	}
	return nil
}

// Message info lists each member with when their delivered and read receipts arrived, in
// a group and in a direct chat.
func TestReceiptTimesPerMember(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nodes := startNodes(t, 3, fast(time.Second))
	a, b := nodes[0], nodes[1]
	gid, uids := makeGroup(t, nodes, "times")
	start := time.Now()
	m, err := a.Client.Send(ctx, gid, "t1", "when did you read this?")
	if err != nil {
		t.Fatal(err)
	}
	waitMessages(t, b, gid, 1)
	waitMessages(t, nodes[2], gid, 1)
	if err := b.Client.MarkRead(ctx, gid, m.ID); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "per-member receipt times at the sender", func() error {
		rs := receiptsOf(t, a, m.ID)
		rb, rc := rs[uids[1]], rs[uids[2]]
		if rb.Status != api.StatusRead || rc.Status != api.StatusDelivered {
			return fmt.Errorf("receipts %+v", rs)
		}
		now := time.Now()
		if err := inWindow("b delivered", rb.DeliveredAt, start, now); err != nil {
			return err
		}
		if err := inWindow("b read", rb.ReadAt, start, now); err != nil {
			return err
		}
		if *rb.ReadAt < *rb.DeliveredAt {
			return fmt.Errorf("b read at %d before delivered at %d", *rb.ReadAt, *rb.DeliveredAt)
		}
		if err := inWindow("c delivered", rc.DeliveredAt, start, now); err != nil {
			return err
		}
		if rc.ReadAt != nil {
			return fmt.Errorf("c has a read time %d without reading", *rc.ReadAt)
		}
		return nil
	})

	// Direct: the contact's delivered and read times.
	var ab api.Contact // makeGroup made b a's contact
	cs, err := a.Client.Contacts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.UserID == uids[1] {
			ab = c
		}
	}
	if ab.ID == "" {
		t.Fatalf("b is not a's contact: %+v", cs)
	}
	dm, err := a.Client.Send(ctx, ab.ConversationID, "d1", "and this one?")
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, "b has the direct message", func() error {
		if n := len(messages(t, b.Client, ab.ConversationID)); n != 1 {
			return fmt.Errorf("%d messages", n)
		}
		return nil
	})
	wait.For(t, "a sees it delivered, with a time", func() error {
		r := receiptsOf(t, a, dm.ID)[uids[1]]
		if r.Status != api.StatusDelivered {
			return fmt.Errorf("status %s", r.Status)
		}
		if r.ReadAt != nil {
			return fmt.Errorf("a read time before reading")
		}
		return inWindow("delivered", r.DeliveredAt, start, time.Now())
	})
	// b accepts the request (by replying), then reads: read receipts flow.
	if _, err := b.Client.Send(ctx, ab.ConversationID, "d2", "yes"); err != nil {
		t.Fatal(err)
	}
	if err := b.Client.MarkRead(ctx, ab.ConversationID, dm.ID); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "a sees it read, with a time", func() error {
		r := receiptsOf(t, a, dm.ID)[uids[1]]
		if r.Status != api.StatusRead {
			return fmt.Errorf("status %s", r.Status)
		}
		if err := inWindow("read", r.ReadAt, start, time.Now()); err != nil {
			return err
		}
		return inWindow("delivered", r.DeliveredAt, start, time.UnixMilli(*r.ReadAt))
	})
}

package node_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

func groupChanges(t *testing.T, n *nodetest.Node, gid string) []api.GroupChange {
	t.Helper()
	var out api.GroupChanges
	if err := n.Client.Do(context.Background(), "GET", "/v1/conversations/"+gid+"/changes", nil, &out); err != nil {
		t.Fatal(err)
	}
	return out.Changes
}

func changeKinds(cs []api.GroupChange) []string {
	var out []string
	for _, c := range cs {
		s := c.Kind + " by " + c.Author.UserID[:6]
		for _, u := range c.Users {
			s += " " + u.UserID[:6]
		}
		if c.Name != "" {
			s += " name=" + c.Name
		}
		if c.Role != "" {
			s += " role=" + c.Role
		}
		out = append(out, s)
	}
	return out
}

// TestGroupChangesAndReceiptsForTheUI checks the two read-only extensions the web UI draws
// its system lines ("Alice added Carol", "You were removed") and its message info from: every
// member's node lists the same applied changes with their author, including the member
// who was removed; and the sender sees per member who has read a message.
func TestGroupChangesAndReceiptsForTheUI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nodes := startNodes(t, 3, fast(time.Second))
	a, b, c := nodes[0], nodes[1], nodes[2]
	gid, uids := makeGroup(t, nodes[:2], "changes")
	nodetest.Befriend(t, a, c)
	uc := nodetest.UserID(t, c)
	if _, err := a.Client.ChangeMembers(ctx, gid, []string{uc}, nil); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, nodes, gid, []string{uids[0], uids[1], uc})
	if _, err := a.Client.RenameGroup(ctx, gid, "renamed"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Client.SetRole(ctx, gid, []string{uids[1]}, api.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	m, err := a.Client.Send(ctx, gid, "r1", "who reads this?")
	if err != nil {
		t.Fatal(err)
	}
	waitMessages(t, b, gid, 1)
	if err := b.Client.MarkRead(ctx, gid, m.ID); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "b's read and c's delivered receipt at a", func() error {
		var rs api.MessageReceipts
		if err := a.Client.Do(ctx, "GET", "/v1/messages/"+m.ID+"/receipts", nil, &rs); err != nil {
			return err
		}
		got := map[string]string{}
		for _, r := range rs.Receipts {
			got[r.UserID] = r.Status
		}
		if len(rs.Receipts) != 2 || got[uids[1]] != api.StatusRead || got[uc] != api.StatusDelivered {
			return fmt.Errorf("receipts %+v", rs.Receipts)
		}
		return nil
	})
	if err := b.Client.Do(ctx, "GET", "/v1/messages/"+m.ID+"/receipts", nil, nil); err == nil {
		t.Fatal("b read the receipts of a's message")
	}
	if _, err := a.Client.ChangeMembers(ctx, gid, nil, []string{uc}); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, nodes[:2], gid, uids)

	ua, ub, ucs := uids[0][:6], uids[1][:6], uc[:6]
	want := []string{
		"create by " + ua + " " + ub + " name=changes",
		"add by " + ua + " " + ucs,
		"rename by " + ua + " name=renamed",
		"role by " + ua + " " + ub + " role=admin",
		"remove by " + ua + " " + ucs,
	}
	for _, n := range nodes {
		wait.For(t, n.Name+" lists the group's changes", func() error {
			got := changeKinds(groupChanges(t, n, gid))
			if !slices.Equal(got, want) {
				return fmt.Errorf("changes\n%q\nwant\n%q", got, want)
			}
			return nil
		})
	}
	cs := groupChanges(t, b, gid)
	for i, ch := range cs {
		if ch.At == 0 || (i > 0 && ch.Order <= cs[i-1].Order) || ch.Author.Name == "" {
			t.Fatalf("change %d: %+v", i, ch)
		}
	}
	// Unknown ids are 404s, not empty answers.
	for _, path := range []string{"/v1/conversations/nosuch/changes", "/v1/messages/nosuch/receipts", "/v1/contacts/nosuch/safety_qr"} {
		var apiErr *localclient.APIError
		if err := a.Client.Do(ctx, "GET", path, nil, nil); !errors.As(err, &apiErr) || apiErr.Status != 404 {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	direct := nodetest.Befriend(t, b, c).ConversationID
	var none api.GroupChanges
	if err := b.Client.Do(ctx, "GET", "/v1/conversations/"+direct+"/changes", nil, &none); err != nil || len(none.Changes) != 0 {
		t.Fatalf("a direct conversation's changes: %+v %v", none, err)
	}
}

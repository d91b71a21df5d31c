//go:build petrelgen

package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// TestGenerateReleaseStore writes testdata/store-v0.tar.gz and testdata/store-v0.json: the
// data directory of a node run by this (the release's) code, with contacts, a direct
// conversation with sent, received, edited, reacted, deleted and read messages, a group and
// changed settings, and what the local API shows of it. TestUpgradeFromRelease opens it with
// newer code. Run it only on the release whose store format it records:
//
//	go test -tags petrelgen -run TestGenerateReleaseStore ./node/
func TestGenerateReleaseStore(t *testing.T) {
	ctx := context.Background()
	nodes := startNodes(t, 3, fast(time.Second))
	a, b, c := nodes[0], nodes[1], nodes[2]
	ab, _ := nodetest.BefriendBoth(t, a, b)
	nodetest.Befriend(t, a, c)
	if _, err := a.Client.UpdateContact(ctx, ab.ID, api.ContactPatch{Name: ptr("Bea"), Verified: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	conv := ab.ConversationID
	var sent []api.Message
	for i, body := range []string{"hello Bea", "the ferry leaves at nine", "bring the blue map"} {
		m, err := a.Client.Send(ctx, conv, fmt.Sprintf("a%d", i), body)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}
	wait.For(t, "b has a's messages", func() error {
		if n := len(messages(t, b.Client, conv)); n != 3 {
			return fmt.Errorf("%d messages", n)
		}
		return nil
	})
	var got []api.Message
	for i, body := range []string{"hi, see you at the ferry", "map packed"} {
		m, err := b.Client.Send(ctx, conv, fmt.Sprintf("b%d", i), body)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	wait.For(t, "a has b's messages", func() error {
		if n := len(messages(t, a.Client, conv)); n != 5 {
			return fmt.Errorf("%d messages", n)
		}
		return nil
	})
	if _, err := a.Client.Edit(ctx, sent[1].ID, "the ferry leaves at ten"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Client.React(ctx, sent[2].ID, "👍", false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Client.React(ctx, got[0].ID, "🎉", false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Client.Delete(ctx, sent[0].ID, true); err != nil {
		t.Fatal(err)
	}
	if err := b.Client.MarkRead(ctx, conv, sent[2].ID); err != nil {
		t.Fatal(err)
	}
	if err := a.Client.MarkRead(ctx, conv, got[0].ID); err != nil { // got[1] stays unread
		t.Fatal(err)
	}
	wait.For(t, "a sees b's reaction and read receipt, and its edit", func() error {
		ms := messages(t, a.Client, conv)
		last := ms[2]
		if last.ID != sent[2].ID || len(last.Reactions["👍"]) != 1 || last.Status != api.StatusRead {
			return fmt.Errorf("%+v", last)
		}
		return nil
	})
	wait.For(t, "b sees the edit and the delete", func() error {
		ms := messages(t, b.Client, conv)
		if ms[0].Body != "" || !ms[0].Deleted || ms[1].Body != "the ferry leaves at ten" || len(ms[3].Reactions["🎉"]) != 1 {
			return fmt.Errorf("%+v", ms)
		}
		return nil
	})
	uids := []string{nodetest.UserID(t, b), nodetest.UserID(t, c)}
	g, err := a.Client.CreateGroup(ctx, "ferry crew", uids)
	if err != nil {
		t.Fatal(err)
	}
	waitMembers(t, nodes, g.ID, append([]string{nodetest.UserID(t, a)}, uids...))
	gm, err := a.Client.Send(ctx, g.ID, "g0", "crew: ten o'clock")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[1:] {
		waitMessages(t, n, g.ID, 1)
	}
	if _, err := c.Client.Send(ctx, g.ID, "g1", "aye"); err != nil {
		t.Fatal(err)
	}
	waitMessages(t, a, g.ID, 2)
	if _, err := b.Client.React(ctx, gm.ID, "⛴", false); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "a sees the group reaction", func() error {
		if r := messages(t, a.Client, g.ID)[0].Reactions["⛴"]; len(r) != 1 {
			return fmt.Errorf("reactions %v", r)
		}
		return nil
	})
	if _, err := a.Client.UpdateSettings(ctx, api.SettingsPatch{Presence: ptr(api.PresenceNobody), ReadReceipts: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	view := viewOf(t, a.Client, fixtureQueries...)
	a.Stop()
	b.Stop()
	c.Stop()
	js, err := json.MarshalIndent(view, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", "store-v0.json"), append(js, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := filepath.Abs(filepath.Join("testdata", "store-v0.tar.gz"))
	tar := exec.Command("tar", "-czf", out, "--exclude=api.json", ".")
	tar.Dir = a.Dir
	if b, err := tar.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, b)
	}
}

func ptr[T any](v T) *T { return &v }

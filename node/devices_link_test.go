package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/node/store"
)

// history returns every conversation of c with its messages' ids, bodies and orders, in
// the order the API gives them.
func history(t *testing.T, c *localclient.Client) []string {
	t.Helper()
	ctx := context.Background()
	page, err := c.Conversations(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, cv := range page.Conversations {
		msgs, err := c.Messages(ctx, cv.ID, "", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, "conversation "+cv.ID+" "+cv.Name)
		for _, m := range msgs.Messages {
			out = append(out, fmt.Sprintf("  %s %s %q from %s", m.Order, m.ID, m.Body, m.SenderID))
		}
	}
	return out
}

// TestLinkDeviceReceivesHistory: alice links a laptop with POST /v1/devices/link and
// node.InitLinked; the laptop shows alice's conversations with the same messages in the
// same order, both devices list the two, and the link does not work twice.
func TestLinkDeviceReceivesHistory(t *testing.T) {
	ctx := context.Background()
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	toBob, _ := nodetest.BefriendBoth(t, alice, bob)
	for i := range 5 {
		if _, err := alice.Client.Send(ctx, toBob.ConversationID, fmt.Sprintf("c%d", i), fmt.Sprintf("hello %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	wait.For(t, "bob has alice's five messages", func() error {
		for _, cv := range must(bob.Client.Conversations(ctx, "", 10)).Conversations {
			if m := must(bob.Client.Messages(ctx, cv.ID, "", "", 10)).Messages; len(m) == 5 {
				return nil
			}
		}
		return errors.New("not yet")
	})
	file := testFile(t, 2_500_000) // three chunks
	att, err := alice.Client.UploadMedia(ctx, bytes.NewReader(file), int64(len(file)), "walk.bin", "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := sendAttachments(t, alice.Client, toBob.ConversationID, "att", "the file", att.MediaID); code != http.StatusCreated {
		t.Fatalf("send with an attachment: %d", code)
	}
	// A chat with disappearing messages: their content is sealed under the primary's bucket
	// keys, which stay there; the laptop seals it again under its own.
	carol := nodetest.Start(t, "carol")
	toCarol, _ := nodetest.BefriendBoth(t, alice, carol)
	if err := alice.Client.Do(ctx, "PATCH", "/v1/conversations/"+toCarol.ConversationID, map[string]any{"disappear_after_s": 3600}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Client.Send(ctx, toCarol.ConversationID, "d0", "this one disappears in an hour"); err != nil {
		t.Fatal(err)
	}
	group, err := alice.Client.CreateGroup(ctx, "walkers", []string{nodetest.UserID(t, bob)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Client.Send(ctx, group.ID, "g0", "hello walkers"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Client.UpdateSettings(ctx, api.SettingsPatch{ReadReceipts: new(false)}); err != nil {
		t.Fatal(err)
	}
	want := history(t, alice.Client)
	if len(want) != 12 || !strings.Contains(strings.Join(want, "\n"), "this one disappears in an hour") {
		t.Fatalf("alice's history: %q", want)
	}

	dl, err := alice.Client.LinkDevice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dl.Link, "petrel-device:") || !strings.HasPrefix(dl.QRSVG, "<svg") {
		t.Fatalf("device link %.40q, qr %.20q", dl.Link, dl.QRSVG)
	}
	if left := time.Until(time.UnixMilli(dl.ExpiresAt)); left > 10*time.Minute || left < 9*time.Minute {
		t.Fatalf("link expires in %v, want 10 minutes", left)
	}
	laptop, recs := nodetest.StartLinked(t, "laptop", dl.Link)
	if recs == 0 {
		t.Fatal("no history records transferred")
	}
	if got := history(t, laptop.Client); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("laptop's history:\n%s\nwant alice's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The attachment opens on the laptop: its chunks came with the history.
	resp, err := laptop.Client.GetMedia(ctx, att.MediaID, "")
	if err != nil {
		t.Fatalf("the attachment on the laptop: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(body, file) {
		t.Fatalf("the laptop's copy of the attachment: %d bytes, %v; differs from alice's", len(body), err)
	}
	if st := must(laptop.Client.Settings(ctx)); st.ReadReceipts {
		t.Error("the laptop did not receive alice's settings (read receipts off)")
	}
	if a, l := must(alice.Client.Me(ctx)), must(laptop.Client.Me(ctx)); a.Name != l.Name {
		t.Errorf("the laptop's profile name is %q, alice's %q: one person, one name", l.Name, a.Name)
	}
	if a, l := must(alice.Client.Me(ctx)), must(laptop.Client.Me(ctx)); a.UserID != l.UserID || a.SafetyFingerprint != l.SafetyFingerprint {
		t.Errorf("the laptop is user %s (fingerprint %s), alice %s (%s): one person is one user id", l.UserID, l.SafetyFingerprint, a.UserID, a.SafetyFingerprint)
	}
	for _, n := range []*nodetest.Node{alice, laptop} {
		ds, err := n.Client.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 2 {
			t.Fatalf("%s lists %d devices: %+v", n.Name, len(ds), ds)
		}
		for _, d := range ds {
			if d.Current != (d.Primary == (n == alice)) || d.LinkedAt <= 0 {
				t.Fatalf("%s lists %+v", n.Name, d)
			}
		}
	}

	// The same link again (a thief's replay after the real device): refused, nothing left.
	dir := t.TempDir()
	_, err = node.InitLinked(ctx, dir, []byte(nodetest.Passphrase), "thief", dl.Link, store.Options{}, node.LinkOptions{})
	if !errors.Is(err, node.ErrLinkRefused) {
		t.Fatalf("link used twice: %v, want ErrLinkRefused", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a refused link left %d entries in the data directory", len(ents))
	}
	if ds := must(alice.Client.Devices(ctx)); len(ds) != 2 {
		t.Fatalf("after the replay alice lists %d devices", len(ds))
	}
}

// TestDeviceAPIRefusals: the device routes' errors as docs/API.md §8 gives them.
func TestDeviceAPIRefusals(t *testing.T) {
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	ds := must(alice.Client.Devices(ctx))
	if len(ds) != 1 || !ds[0].Current || !ds[0].Primary {
		t.Fatalf("a single device lists %+v", ds)
	}
	status := func(c *localclient.Client, method, path string) int {
		st, _ := c.DoStatus(ctx, method, path, nil, nil)
		return st
	}
	if got := status(alice.Client, "DELETE", "/v1/devices/"+ds[0].ID); got != 400 {
		t.Errorf("revoking the current device: %d, want 400", got)
	}
	if got := status(alice.Client, "DELETE", "/v1/devices/d00000000000000000000000000000000"); got != 404 {
		t.Errorf("revoking an unknown device: %d, want 404", got)
	}
	laptop, _ := nodetest.StartLinked(t, "laptop", must(alice.Client.LinkDevice(ctx)).Link)
	if got := status(laptop.Client, "POST", "/v1/devices/link"); got != 403 {
		t.Errorf("linking on a linked device: %d, want 403", got)
	}
	if got := status(laptop.Client, "DELETE", "/v1/devices/"+ds[0].ID); got != 403 {
		t.Errorf("a linked device revoking the primary: %d, want 403", got)
	}
	var lap api.Device
	for _, d := range must(alice.Client.Devices(ctx)) {
		if !d.Current {
			lap = d
		}
	}
	if err := alice.Client.RevokeDevice(ctx, lap.ID); err != nil {
		t.Fatal(err)
	}
	if ds := must(alice.Client.Devices(ctx)); len(ds) != 1 {
		t.Fatalf("after the revocation alice lists %+v", ds)
	}
	if got := status(alice.Client, "DELETE", "/v1/devices/"+lap.ID); got != 404 {
		t.Errorf("revoking a revoked device: %d, want 404", got)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

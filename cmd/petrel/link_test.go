package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// TestLinkDeviceWithInitLink: alice's running node issues a device link; `petrel init
// --link` on a fresh directory joins her account and a `petrel run` of it shows her
// conversation with every message in the same order, as hers; then bob's next message
// reaches the laptop, and what alice writes on it reaches bob and her primary; the link used again (a
// thief after the real device) and a malformed link are refused with a non-zero exit and
// an empty directory; alice revokes the laptop through the API.
func TestLinkDeviceWithInitLink(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real petrel processes")
	}
	bin, err := exec.LookPath("petrel")
	if err != nil {
		t.Fatalf("petrel not on PATH (testscript.Main sets it up): %v", err)
	}
	logDir := t.TempDir()
	ps := newPetrelProcs(t, bin, logDir, "alice", "bob")
	alice, bob := ps[0], ps[1]
	alice.start()
	bob.start()
	ctx := context.Background()
	inv, err := bob.cl.CreateInvite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	toBob, err := alice.cl.AddContact(ctx, inv.Link)
	if err != nil {
		t.Fatal(err)
	}
	conv := toBob.ConversationID
	for i := range 4 {
		if _, err := alice.cl.Send(ctx, conv, fmt.Sprintf("m%d", i), fmt.Sprintf("%s %d from alice", crashMarker, i)); err != nil {
			t.Fatal(err)
		}
	}
	wait.For(t, "bob has alice's messages", func() error {
		page, err := bob.cl.Conversations(ctx, "", 10)
		if err != nil || len(page.Conversations) != 1 {
			return fmt.Errorf("%v %v", page, err)
		}
		h, err := history(bob.cl, page.Conversations[0].ID)
		if err != nil || len(h) != 4 {
			return fmt.Errorf("%d messages, %v", len(h), err)
		}
		return nil
	})
	want, err := history(alice.cl, conv)
	if err != nil || len(want) != 4 {
		t.Fatalf("alice's history: %d, %v", len(want), err)
	}

	dl, err := alice.cl.LinkDevice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	laptop := &petrelProc{t: t, bin: bin, name: "laptop", dir: t.TempDir(), logDir: logDir,
		listen: "/ip4/127.0.0.1/tcp/" + strconv.Itoa(freePort(t))}
	t.Cleanup(func() {
		if laptop.running() {
			laptop.cmd.Process.Kill()
			<-laptop.done
		}
		laptop.checkLogs()
	})
	out, err := laptop.command("init", "--data", laptop.dir, "--name", "laptop", "--link", dl.Link).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Linked") {
		t.Fatalf("petrel init --link: %v\n%s", err, out)
	}
	laptop.start()
	got, err := history(laptop.cl, conv)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameOrder(got, want); err != nil {
		t.Fatalf("the laptop's history: %v", err)
	}
	if a, l := me(t, alice.cl), me(t, laptop.cl); a.UserID != l.UserID {
		t.Fatalf("laptop is user %s, alice %s", l.UserID, a.UserID)
	}

	// From now on the laptop is one of alice's devices: bob's next message reaches it, and
	// what alice writes on it reaches bob and shows on her primary as hers.
	bobConv := ""
	if page, err := bob.cl.Conversations(ctx, "", 10); err == nil && len(page.Conversations) == 1 {
		bobConv = page.Conversations[0].ID
	}
	if _, err := bob.cl.Send(ctx, bobConv, "b1", crashMarker+" bob after the link"); err != nil {
		t.Fatal(err)
	}
	if _, err := laptop.cl.Send(ctx, conv, "l1", crashMarker+" alice on her laptop"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p          *petrelProc
		conv, body string
	}{
		{laptop, conv, crashMarker + " bob after the link"},
		{bob, bobConv, crashMarker + " alice on her laptop"},
		{alice, conv, crashMarker + " alice on her laptop"},
	} {
		wait.For(t, c.p.name+" has "+c.body, func() error {
			h, err := history(c.p.cl, c.conv)
			if err != nil {
				return err
			}
			for _, m := range h {
				if m.Body == c.body {
					return nil
				}
			}
			return fmt.Errorf("%d messages, not that one", len(h))
		})
	}

	// The link again, and a link that is not one: non-zero, a clear message, nothing left.
	for _, c := range []struct{ link, says string }{
		{dl.Link, "refused"},
		{"petrel-device:AAAA", "not a device link"},
	} {
		dir := t.TempDir()
		out, err := laptop.command("init", "--data", dir, "--name", "thief", "--link", c.link).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.says) {
			t.Errorf("init --link %.30s: %v, want a non-zero exit saying %q:\n%s", c.link, err, c.says, out)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("init --link %.30s left %d entries in its directory", c.link, len(ents))
		}
	}

	ds, err := alice.cl.Devices(ctx)
	if err != nil || len(ds) != 2 {
		t.Fatalf("alice's devices: %+v %v", ds, err)
	}
	var lap api.Device
	for _, d := range ds {
		if !d.Current {
			lap = d
		}
	}
	if lap.Name != "laptop" {
		t.Fatalf("alice lists %+v", ds)
	}
	if err := alice.cl.RevokeDevice(ctx, lap.ID); err != nil {
		t.Fatal(err)
	}
	if ds, err := alice.cl.Devices(ctx); err != nil || len(ds) != 1 || !ds[0].Current {
		t.Fatalf("after revoking the laptop alice lists %+v %v", ds, err)
	}
	alice.stop()
	bob.stop()
	laptop.stop()
	nodetest.NoPlaintext(t, laptop.dir, crashMarker, crashPassphrase)
}

func sameOrder(got, want []api.Message) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d messages, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Order != w.Order || g.Body != w.Body || g.SenderID != w.SenderID {
			return fmt.Errorf("message %d: %s %s %q from %s, want %s %s %q from %s", i, g.ID, g.Order, g.Body, g.SenderID, w.ID, w.Order, w.Body, w.SenderID)
		}
	}
	return nil
}

func me(t *testing.T, cl *localclient.Client) api.Me {
	t.Helper()
	m, err := cl.Me(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

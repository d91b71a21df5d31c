package webui_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/relay/relaytest"
)

// TestWebUIMuteDoNotDisturbAndPush drives mute, do-not-disturb and Settings → Push against
// real nodes and a real relay without a push bridge, with two browsers logged in to alice's
// node: a mute made in one is the node's (GET /v1/conversations shows muted_until) and the
// other browser shows it at once and silences its notifications for that chat; do-not-
// disturb set in Settings is the node's push.dnd_until; a registration made through the API
// is listed with its state at the relay, survives a cancelled removal and goes with a
// confirmed one. axe-core checks the push screen and its confirmation, light and dark.
func TestWebUIMuteDoNotDisturbAndPush(t *testing.T) {
	t.Parallel()
	src := axeSource(t)
	browser := startBrowser(t)
	art := artifactDir(t)
	ctx := context.Background()
	relay := relaytest.Start(t, nil) // no push bridge
	alice, bob := startPair(t, "alice", "bob", fastLive)
	alice.Stop()
	alice.Relays = []string{relay.Info.Addrs[0]}
	alice.Run()
	for n, name := range map[*nodetest.Node]string{alice: "Alice", bob: "Bob"} {
		if _, err := n.Client.SetName(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	_, toA := nodetest.BefriendBoth(t, alice, bob)
	conv := toA.ConversationID
	one := newPage(t, browser, "alice's first browser")
	two := newPage(t, browser, "alice's second browser")
	recordNotifications(two, alice.Info.URL)
	login(t, one, alice)
	login(t, two, alice)
	li := `.conv-list li[data-id="` + conv + `"]`
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("MuteIsTheNodesAndShowsInEveryUI", func(t *testing.T) {
		a, b := one.in(t), two.in(t)
		goTo(b, "#/settings")
		b.click("#set-notify")
		b.wait("notifications on in the second browser", "document.querySelector('.settings .form-status.ok')?.textContent === 'Desktop notifications are on.'")
		goTo(b, "#/")
		b.wait("bob's chat, not muted", "document.querySelector('"+li+"') && !document.querySelector('"+li+" .muted-icon')")

		goTo(a, "#/c/"+conv)
		before := time.Now()
		a.click("#chat-mute-btn")
		a.wait("muted in the first browser", "document.querySelector('#chat-mute-btn').getAttribute('aria-pressed') === 'true' && document.querySelector('"+li+" .muted-icon')")
		var page api.ConversationPage
		if err := alice.Client.Do(ctx, "GET", "/v1/conversations", nil, &page); err != nil {
			t.Fatal(err)
		}
		var until int64
		for _, c := range page.Conversations {
			if c.ID == conv && c.MutedUntil != nil {
				until = *c.MutedUntil
			}
		}
		if until < before.Add(364*24*time.Hour).UnixMilli() {
			t.Fatalf("the node's conversation list says muted_until %d, want about a year from now", until)
		}
		// The other browser shows it without a reload (the conversation event), and its
		// list row says so to a screen reader.
		b.wait("the muted mark in the second browser", "document.querySelector('"+li+" .muted-icon')")
		if txt := b.str("document.querySelector('" + li + " a').textContent"); !strings.Contains(txt, "muted") {
			t.Fatalf("the muted row reads %q: no word for the mark", txt)
		}
		b.shot(art, "muted-in-another-ui")
		// A message to the muted chat notifies nothing in the second browser, which never
		// muted anything itself.
		notes := b.str("String(window.__notes.length)")
		send(t, bob.Client, conv, "m1", "ping to a muted chat")
		b.wait("the message in the second browser's list", "document.querySelector('"+li+" .conv-last')?.textContent === 'ping to a muted chat'")
		b.wait("the title without the muted chat's unread", "document.title === 'petrel — Alice'")
		if after := b.str("String(window.__notes.length)"); after != notes {
			t.Fatalf("the second browser notified for a chat muted in the first: %s → %s", notes, after)
		}
		// After a reload it is still muted there: the node holds it, not the tab.
		b.navigate(alice.Info.URL + "/#/c/" + conv)
		b.wait("still muted after a reload", "document.querySelector('#chat-mute-btn')?.getAttribute('aria-pressed') === 'true' && document.querySelector('"+li+" .muted-icon')")
		// Unmuted in the second browser: the first sees it, and a message notifies again.
		b.click("#chat-mute-btn")
		b.wait("unmuted", "document.querySelector('#chat-mute-btn').getAttribute('aria-pressed') === 'false'")
		a.wait("unmuted in the first browser", "document.querySelector('#chat-mute-btn').getAttribute('aria-pressed') === 'false' && !document.querySelector('"+li+" .muted-icon')")
		c, err := alice.Client.Conversation(ctx, conv)
		if err != nil || c.MutedUntil != nil {
			t.Fatalf("the node after unmuting: %+v %v", c.MutedUntil, err)
		}
		goTo(b, "#/settings")
		send(t, bob.Client, conv, "m2", "ping after unmuting")
		b.wait("a notification again", "window.__notes.some(n => n.title === 'Bob' && n.body === 'ping after unmuting')")
	})

	step("DoNotDisturbReachesTheNode", func(t *testing.T) {
		a, b := one.in(t), two.in(t)
		goTo(a, "#/settings")
		before := time.Now()
		a.eval("(() => { const s = document.querySelector('#set-dnd'); s.value = '3600000'; s.dispatchEvent(new Event('change')); return true })()", nil)
		a.wait("do not disturb on", "document.querySelector('#set-dnd-note').textContent.startsWith('Do not disturb until')")
		var st struct {
			Push *api.PushSettings `json:"push"`
		}
		if err := alice.Client.Do(ctx, "GET", "/v1/settings", nil, &st); err != nil {
			t.Fatal(err)
		}
		if st.Push == nil || st.Push.DNDUntil == nil || *st.Push.DNDUntil < before.Add(time.Hour).UnixMilli() || *st.Push.DNDUntil > time.Now().Add(time.Hour).UnixMilli() {
			t.Fatalf("GET /v1/settings push after setting do-not-disturb for an hour: %+v", st.Push)
		}
		// The second browser reads it when it opens Settings (settings make no event) and
		// silences itself by the node's value.
		goTo(b, "#/")
		goTo(b, "#/settings")
		b.wait("do not disturb in the second browser", "document.querySelector('#set-dnd-note')?.textContent.startsWith('Do not disturb until')")
		notes := b.str("String(window.__notes.length)")
		send(t, bob.Client, conv, "d1", "ping during do not disturb")
		b.wait("the message in the list", "document.querySelector('"+li+" .conv-last')?.textContent === 'ping during do not disturb'")
		if after := b.str("String(window.__notes.length)"); after != notes {
			t.Fatalf("do-not-disturb set in another browser notified: %s → %s", notes, after)
		}
		a.eval("(() => { const s = document.querySelector('#set-dnd'); s.value = '0'; s.dispatchEvent(new Event('change')); return true })()", nil)
		a.wait("do not disturb off", "document.querySelector('#set-dnd-note').textContent.startsWith('Do not disturb silences')")
		wait.For(t, "push.dnd_until null", func() error {
			if err := alice.Client.Do(ctx, "GET", "/v1/settings", nil, &st); err != nil {
				return err
			}
			if st.Push == nil || st.Push.DNDUntil != nil {
				return fmt.Errorf("push %+v", st.Push)
			}
			return nil
		})
	})

	step("PushRegistrationsListedAndRemoved", func(t *testing.T) {
		a := one.in(t)
		endpoint := "http://127.0.0.1:9/up/0123456789abcdefghij"
		reg, err := alice.Client.CreatePushRegistration(ctx, api.PushRegistrationRequest{Kind: "unifiedpush", Endpoint: endpoint})
		if err != nil {
			t.Fatal(err)
		}
		wait.For(t, "the relay's answer (no bridge)", func() error {
			regs, err := alice.Client.PushRegistrations(ctx)
			if err != nil {
				return err
			}
			if len(regs) != 1 || len(regs[0].Relays) != 1 || regs[0].Relays[0].State != "no_bridge" {
				return fmt.Errorf("registrations %+v", regs)
			}
			return nil
		})
		goTo(a, "#/")
		goTo(a, "#/settings")
		row := `.push-reg[data-id="` + reg.ID + `"]`
		a.wait("the registration in Settings → Push", "document.querySelector('"+row+" .push-relay-state')")
		var got struct{ Kind, Target, Title, Relay, Error, Note string }
		a.eval(`(() => { const r = document.querySelector('`+row+`');
			return { Kind: r.querySelector('.push-kind').textContent, Target: r.querySelector('.push-target').textContent,
				Title: r.querySelector('.push-target').title, Relay: r.querySelector('.push-relays li').textContent,
				Error: r.querySelector('.push-error')?.textContent || '', Note: document.querySelector('#push-status').textContent } })()`, &got)
		if got.Kind != "UnifiedPush" || got.Target != "127.0.0.1:9/up/01…efghij" || got.Title != endpoint ||
			!strings.Contains(got.Relay, "no push bridge") || !strings.Contains(got.Relay, "/p2p/") || got.Error == "" || !strings.HasSuffix(got.Error, ".") ||
			got.Note != "1 device is woken by push when your node is away." {
			t.Fatalf("the registration reads %+v", got)
		}
		a.eval("document.querySelector('#push-card').scrollIntoView()", nil)
		a.shot(art, "settings-push")
		a.viewport(390, 844)
		a.eval("document.querySelector('#push-card').scrollIntoView()", nil)
		a.shot(art, "settings-push-phone")
		a.viewport(1200, 800)
		for _, scheme := range []string{"light", "dark"} {
			a.scheme(scheme)
			axeCheck(t, a, src, "settings → push ("+scheme+")")
		}
		// Remove asks first; cancelling keeps it.
		a.click(row + " button[data-id]")
		a.wait("the confirmation", "document.querySelector('dialog[open]')?.textContent.includes('Remove this push registration?')")
		for _, scheme := range []string{"dark", "light"} {
			a.scheme(scheme)
			axeCheck(t, a, src, "remove push registration ("+scheme+")")
		}
		a.shot(art, "settings-push-remove")
		a.click("dialog[open] button[data-value=false]")
		a.wait("the confirmation closed", "!document.querySelector('dialog[open]')")
		if regs, err := alice.Client.PushRegistrations(ctx); err != nil || len(regs) != 1 {
			t.Fatalf("after cancelling: %+v %v", regs, err)
		}
		a.click(row + " button[data-id]")
		a.click("dialog[open] button[data-value=true]")
		a.wait("the registration gone from the screen", "!document.querySelector('"+row+"') && document.querySelector('#push-status').textContent === 'No device is registered for push wake-ups.' && document.querySelector('#push-card .form-status.ok')?.textContent === 'Removed.'")
		if regs, err := alice.Client.PushRegistrations(ctx); err != nil || len(regs) != 0 {
			t.Fatalf("the node after removing: %+v %v", regs, err)
		}

		// What an app put in a registration is shown as text, never as markup.
		token := `<img src=x onerror="window.__xss=1">` + strings.Repeat("f", 40)
		evil, err := alice.Client.CreatePushRegistration(ctx, api.PushRegistrationRequest{Kind: "fcm", Token: token})
		if err != nil {
			t.Fatal(err)
		}
		goTo(a, "#/")
		goTo(a, "#/settings")
		evilRow := `.push-reg[data-id="` + evil.ID + `"]`
		a.wait("the fcm registration", "document.querySelector('"+evilRow+"')")
		var shown struct {
			Kind, Title string
			Imgs        int
			XSS         bool
		}
		a.eval(`(() => { const r = document.querySelector('`+evilRow+`');
			return { Kind: r.querySelector('.push-kind').textContent, Title: r.querySelector('.push-target').title,
				Imgs: document.querySelectorAll('#push-card img').length, XSS: !!window.__xss } })()`, &shown)
		if shown.Kind != "Firebase push (FCM)" || shown.Title != token || shown.Imgs != 0 || shown.XSS {
			t.Fatalf("a token with markup is shown as %+v", shown)
		}
		if err := alice.Client.DeletePushRegistration(ctx, evil.ID); err != nil {
			t.Fatal(err)
		}
	})
}

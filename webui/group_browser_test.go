package webui_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/browser"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// startThree starts three nodes at once, with fast presence timers.
func startThree(t *testing.T) (a, b, c *nodetest.Node) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() { a = nodetest.StartWith(t, "alice", fastLive) })
	wg.Go(func() { b = nodetest.StartWith(t, "bob", fastLive) })
	wg.Go(func() { c = nodetest.StartWith(t, "carol", fastLive) })
	wg.Wait()
	if a == nil || b == nil || c == nil {
		t.FailNow()
	}
	ctx := context.Background()
	for n, name := range map[*nodetest.Node]string{a: "Alice", b: "Bob", c: "Carol"} {
		if _, err := n.Client.SetName(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	return a, b, c
}

// recordNotifications makes the tab's Notification constructor note what it shows (the
// browser's own notification centre is outside the page) and grants the permission.
func recordNotifications(p *page, origin string) {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		params := browser.SetPermissionParams{Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted, Origin: origin}
		if c := chromedp.FromContext(ctx); c != nil {
			params.BrowserContextID = c.BrowserContextID
		}
		if _, err := chromedp.Call(ctx, browser.SetPermission, params); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: `(() => {
			window.__notes = [];
			const N = window.Notification;
			if (!N) return;
			window.Notification = class extends N {
				constructor(title, opts) { super(title, opts); window.__notes.push({ title, body: opts && opts.body }); }
			};
		})()`})
		return err
	}))
}

// sysLine is a JavaScript condition: the chat shows a system line with exactly text.
func sysLine(text string) string {
	return "[...document.querySelectorAll('.messages .sys')].some(e => e.textContent === " + jsString(text) + ")"
}

// pickContact ticks the contact named name in a picker list.
func pickContact(p *page, name string) {
	p.t.Helper()
	p.wait("the contact "+name+" in the picker", "[...document.querySelectorAll('label.pick')].some(l => l.querySelector('.pick-name').textContent === "+jsString(name)+")")
	p.eval("[...document.querySelectorAll('label.pick')].find(l => l.querySelector('.pick-name').textContent === "+jsString(name)+").querySelector('input').click()", nil)
}

// TestWebUIGroups drives the group screens against three real nodes: alice creates a group
// with bob in her browser, adds carol, makes bob an admin, renames it, sees who read her
// message, removes carol (whose own browser then says so) — and bob leaves.
func TestWebUIGroups(t *testing.T) {
	t.Parallel()
	browser := startBrowser(t)
	art := artifactDir(t)
	ctx := context.Background()
	alice, bob, carol := startThree(t)
	ap := newPage(t, browser, "alice's browser")
	bp := newPage(t, browser, "bob's browser")
	login(t, ap, alice)
	login(t, bp, bob)
	nodetest.BefriendBoth(t, alice, bob)
	nodetest.BefriendBoth(t, alice, carol)
	var gid string
	var sentID string
	// Each step builds on the one before: stop at the first that fails.
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("CreateGroupFromTheSidebar", func(t *testing.T) {
		a := ap.in(t)
		a.wait("the tab title names alice", "document.title === 'petrel — Alice'")
		a.wait("her name in the sidebar", "document.querySelector('.me-name')?.textContent === 'Alice'")
		a.click(".side-actions a[href='#/new-group']")
		a.wait("the new-group form", "document.querySelector('#ng-name')")
		// No name, no members: sentences, not API errors.
		a.click("#ng-create")
		a.wait("asked for a name", "document.querySelector('.new-group .form-status.error')?.textContent === 'Give the group a name first.'")
		a.typeInto("#ng-name", "Lunch club")
		pickContact(a, "Bob")
		a.shot(art, "group-new")
		a.viewport(390, 844)
		a.shot(art, "group-new-phone")
		a.viewport(1200, 800)
		a.click("#ng-create")
		a.wait("the new group's chat", "document.querySelector('.chat-title')?.textContent === 'Lunch club'")
		gid = strings.TrimPrefix(a.str("location.hash"), "#/c/")
		a.wait("the created line", sysLine("You created the group “Lunch club” with Bob"))
		a.wait("the members under the title", "document.querySelector('.chat-sub')?.textContent === 'Bob, You'")
	})

	step("MemberSeesGroupAndSenderNames", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		li := `.conv-list li[data-id="` + gid + `"]`
		b.wait("the group in bob's list", "document.querySelector('"+li+"')?.textContent.includes('Lunch club')")
		b.click(li + " a")
		b.wait("the created line at bob's", sysLine("Alice created the group “Lunch club” with you"))
		b.typeInto(".compose-input", "hi all, bob here\r")
		b.wait("focus stays in the composer", "document.activeElement === document.querySelector('.compose-input')")
		a.wait("bob's name on his bubble at alice's", "[...document.querySelectorAll('.msg.theirs')].some(e => e.querySelector('.sender')?.textContent === 'Bob' && e.querySelector('.body').textContent === 'hi all, bob here')")
		a.wait("the sender in alice's list preview", "document.querySelector('"+li+" .conv-last')?.textContent === 'Bob: hi all, bob here'")
		// The sender's colour keeps 4.5:1 against the bubble, light and dark.
		for _, scheme := range []string{"light", "dark"} {
			a.scheme(scheme)
			var ratio float64
			a.eval(contrastOf(".msg.theirs .sender", ".msg.theirs .bubble"), &ratio)
			if ratio < 4.5 {
				t.Fatalf("%s: the sender name has contrast %.2f:1 on its bubble", scheme, ratio)
			}
		}
		a.scheme("light")
		a.shot(art, "group-chat")
		a.viewport(390, 844)
		a.shot(art, "group-chat-phone")
		a.viewport(1200, 800)
	})

	step("InfoPanelAddPromoteRename", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		a.click(".chat .pane-head a[aria-label='Group info']")
		a.wait("the group info", "document.querySelectorAll('.member-list .member').length === 2")
		pickContact(a, "Carol")
		a.click("#gi-add")
		a.wait("carol among the members", "document.querySelectorAll('.member-list .member').length === 3")
		b.wait("the added line at bob's", sysLine("Alice added Carol"))
		a.click(".member-list .member[data-user='" + nodetest.UserID(t, bob) + "'] [data-action=promote]")
		a.wait("bob an admin", "document.querySelector(\".member-list .member[data-user='"+nodetest.UserID(t, bob)+"'] .tag.admin\")")
		b.wait("the promotion at bob's", sysLine("Alice made you an admin"))
		a.eval("(() => { const i = document.querySelector('#gi-name'); i.value = ''; return true })()", nil)
		a.typeInto("#gi-name", "Lunch club 2")
		a.click("#gi-rename")
		b.wait("the new name at bob's", "document.querySelector('.chat-title')?.textContent === 'Lunch club 2' && "+sysLine("Alice renamed the group to “Lunch club 2”"))
		a.shot(art, "group-info")
		a.viewport(390, 844)
		a.shot(art, "group-info-phone")
		a.viewport(1200, 800)
	})

	step("ReadByAndMessageInfo", func(t *testing.T) {
		a := ap.in(t)
		a.navigate(alice.Info.URL + "/#/c/" + gid)
		a.wait("the group chat", "document.querySelector('.chat-title')?.textContent === 'Lunch club 2'")
		a.typeInto(".compose-input", "who is coming on friday?\r")
		a.wait("sent", "[...document.querySelectorAll('.msg.own:not(.local) .body')].some(e => e.textContent === 'who is coming on friday?')")
		sentID = a.str("[...document.querySelectorAll('.msg.own')].find(e => e.querySelector('.body').textContent === 'who is coming on friday?').dataset.id")
		// Bob's page has the chat open: he reads it at once; carol's node only delivers.
		a.wait("read by 1 of 2", "document.querySelector('"+msgSel(sentID)+" .read-by')?.textContent === 'Read by 1 of 2'")
		a.click(msgSel(sentID) + " .msg-more")
		a.click(".menu [data-action=info]")
		rb := "document.querySelector(\"dialog .receipt[data-user='" + nodetest.UserID(t, bob) + "']\")"
		rc := "document.querySelector(\"dialog .receipt[data-user='" + nodetest.UserID(t, carol) + "']\")"
		a.wait("the receipts per member", rb+"?.querySelector('.receipt-name').textContent === 'Bob' && "+rb+".querySelector('.receipt-status').textContent === 'Read' && "+
			rc+"?.querySelector('.receipt-name').textContent === 'Carol' && "+rc+".querySelector('.receipt-status').textContent === 'Delivered'")
		// With the times each receipt arrived: bob delivered and read, carol delivered only.
		a.wait("the receipt times", rb+".querySelector('.receipt-times time.delivered-at')?.textContent.startsWith('Delivered ') && "+rb+".querySelector('time.read-at')?.textContent.startsWith('Read ') && "+
			rc+".querySelector('time.delivered-at') && !"+rc+".querySelector('time.read-at')")
		a.shot(art, "message-info")
		a.viewport(390, 844)
		a.shot(art, "message-info-phone")
		a.viewport(1200, 800)
		a.typeInto("dialog .dialog-actions button", kb.Escape)
		a.wait("the dialog closed", "!document.querySelector('dialog')")
	})

	step("DirectMessageInfoTimes", func(t *testing.T) {
		a := ap.in(t)
		var conv string
		cs, err := alice.Client.Contacts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.UserID == nodetest.UserID(t, bob) {
				conv = c.ConversationID
			}
		}
		m := send(t, alice.Client, conv, "dm-info", "see you at lunch")
		wait.For(t, "bob has it", func() error {
			p, err := bob.Client.Messages(ctx, conv, "", "", 50)
			if err != nil || len(p.Messages) == 0 || p.Messages[len(p.Messages)-1].ID != m.ID {
				return fmt.Errorf("not yet (%v)", err)
			}
			return nil
		})
		if err := bob.Client.MarkRead(ctx, conv, m.ID); err != nil {
			t.Fatal(err)
		}
		a.navigate(alice.Info.URL + "/#/c/" + conv)
		a.wait("read", "document.querySelector('"+msgSel(m.ID)+" .tick.status-read')")
		a.click(msgSel(m.ID) + " .msg-more")
		a.click(".menu [data-action=info]")
		rb := "document.querySelector(\"dialog .receipt[data-user='" + nodetest.UserID(t, bob) + "']\")"
		a.wait("bob's delivered and read times", rb+"?.querySelector('time.delivered-at')?.textContent.startsWith('Delivered ') && "+rb+".querySelector('time.read-at')?.textContent.startsWith('Read ')")
		a.shot(art, "message-info-direct")
		a.viewport(390, 844)
		a.shot(art, "message-info-direct-phone")
		a.viewport(1200, 800)
		a.typeInto("dialog .dialog-actions button", kb.Escape)
		a.wait("the dialog closed", "!document.querySelector('dialog')")
	})

	step("RemovedMemberIsTold", func(t *testing.T) {
		a := ap.in(t)
		a.navigate(alice.Info.URL + "/#/group/" + gid)
		a.click(".member-list .member[data-user='" + nodetest.UserID(t, carol) + "'] [data-action=remove]")
		a.wait("the confirmation", "document.querySelector('dialog[open]')?.textContent.includes('Remove Carol?')")
		a.click("dialog[open] button.danger-solid")
		a.wait("carol gone", "document.querySelectorAll('.member-list .member').length === 2")
		wait.For(t, "carol's node knows she was removed", func() error {
			c, err := carol.Client.Conversation(ctx, gid)
			if err != nil || len(c.Members) != 0 {
				return fmt.Errorf("%+v %v", c.Members, err)
			}
			return nil
		})
		cp := newPage(t, browser, "carol's browser").in(t)
		login(t, cp, carol)
		cp.navigate(carol.Info.URL + "/#/c/" + gid)
		cp.wait("the removal at carol's", sysLine("You were removed by Alice"))
		cp.wait("no composer for a former member", "!document.querySelector('.not-member').hidden && getComputedStyle(document.querySelector('.compose-row')).display === 'none'")
		cp.shot(art, "group-removed")
	})

	step("LeaveWithConfirmation", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		b.click(".chat .pane-head a[aria-label='Group info']")
		b.click("#gi-leave")
		b.wait("the confirmation", "document.querySelector('dialog[open]')?.textContent.includes('Leave “Lunch club 2”?')")
		b.click("dialog[open] button.danger-solid")
		b.wait("no longer a member", "document.querySelector('.group-info .profile .muted')?.textContent === 'You are no longer a member of this group.'")
		a.navigate(alice.Info.URL + "/#/c/" + gid)
		a.wait("bob's leaving at alice's", sysLine("Bob left"))
		wait.For(t, "alice's node", func() error {
			c, err := alice.Client.Conversation(ctx, gid)
			if err != nil || len(c.Members) != 1 || c.Members[0].Role != api.RoleAdmin {
				return fmt.Errorf("%+v %v", c.Members, err)
			}
			return nil
		})
	})
}

// contrastOf is a JavaScript expression: the WCAG contrast ratio of the text colour of fg
// against the background colour of bg (both opaque).
func contrastOf(fg, bg string) string {
	return `(() => {
		const rgb = (s) => s.match(/[\d.]+/g).slice(0, 3).map(Number);
		const lum = ([r, g, b]) => { const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
		const a = lum(rgb(getComputedStyle(document.querySelector(` + jsString(fg) + `)).color));
		const b = lum(rgb(getComputedStyle(document.querySelector(` + jsString(bg) + `)).backgroundColor));
		return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
	})()`
}

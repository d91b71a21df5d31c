package webui_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp/kb"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// uiLink is the link `petrel run` prints.
func uiLink(n *nodetest.Node) string { return n.Info.URL + "/#token=" + n.Info.Token }

func send(t *testing.T, cl *localclient.Client, conv, cmid, body string) api.Message {
	t.Helper()
	var m api.Message
	if err := cl.Do(context.Background(), "POST", "/v1/conversations/"+conv+"/messages", api.SendRequest{ClientMsgID: cmid, Body: body}, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// msgSel is the CSS selector of a message's element.
func msgSel(id string) string { return `.msg[data-id="` + id + `"]` }

// login opens the link printed by petrel run and checks that the token is gone from the
// address bar, from history and from every storage a script could read.
func login(t *testing.T, p *page, n *nodetest.Node) {
	t.Helper()
	p.navigate(uiLink(n))
	p.wait("the app after login", "document.querySelector('.layout')")
	if u := p.str("location.href"); strings.Contains(u, n.Info.Token) || strings.Contains(u, "token") {
		t.Fatalf("%s: the token stayed in the address bar: %s", p.name, u)
	}
	var leaks []string
	p.eval(`(() => {
		const tok = `+jsString(n.Info.Token)+`;
		const out = [];
		for (const [name, st] of [['localStorage', localStorage], ['sessionStorage', sessionStorage]])
			for (let i = 0; i < st.length; i++) { const k = st.key(i); if ((k + st.getItem(k)).includes(tok)) out.push(name + ':' + k); }
		if (localStorage.length) out.push('localStorage is used: ' + localStorage.key(0));
		if (document.cookie.includes(tok) || document.cookie.includes('petrel_session')) out.push('document.cookie: ' + document.cookie);
		if (document.body.innerHTML.includes(tok)) out.push('DOM');
		return out;
	})()`, &leaks)
	if len(leaks) > 0 {
		t.Fatalf("%s: the token (or session) is readable by scripts: %v", p.name, leaks)
	}
	p.wait("the socket online", "document.body.dataset.conn === 'online'")
}

// TestWebUI drives the embedded UI in chromium against two real nodes, alice and bob, each
// in its own browser context. The steps build on each other (one pair of nodes keeps the
// suite fast); each is a subtest named for what a user would notice when it breaks.
func TestWebUI(t *testing.T) {
	t.Parallel()
	browser := startBrowser(t)
	art := artifactDir(t)
	ctx := context.Background()
	alice := nodetest.Start(t, "alice")
	bob := nodetest.Start(t, "bob")
	if _, err := alice.Client.SetName(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Client.SetName(ctx, "Bob"); err != nil {
		t.Fatal(err)
	}
	ap := newPage(t, browser, "alice's browser")
	bp := newPage(t, browser, "bob's browser")
	var conv string

	t.Run("LoggedOutShowsHowToLogIn", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		_ = b
		a.navigate(alice.Info.URL + "/")
		a.wait("the logged-out screen", "document.querySelector('#logged-out')")
		if txt := a.str("document.body.innerText"); !strings.Contains(txt, "Open the link printed by petrel run") {
			t.Fatalf("logged-out screen says %q", txt)
		}
		a.shot(art, "logged-out")
	})

	t.Run("LoginLinkAndFirstRun", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		_ = b
		login(t, a, alice)
		a.wait("the first-run screen with a QR code", "document.querySelector('.welcome .qr img') && document.querySelector('#wel-link').value.startsWith('petrel:')")
		a.shot(art, "first-run")
	})

	t.Run("ContactAppearsLive", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		_ = b
		_, toA := nodetest.BefriendBoth(t, alice, bob)
		conv = toA.ConversationID
		a.wait("Bob in alice's conversation list", `document.querySelector('.conv-list li[data-id="`+conv+`"]')?.textContent.includes('Bob')`)
		login(t, b, bob)
	})

	t.Run("SendShowsLiveAndReadTicks", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		_ = b
		a.click(`.conv-list li[data-id="` + conv + `"] a`)
		a.wait("the chat with Bob", "document.querySelector('.chat-title')?.textContent === 'Bob'")
		a.typeInto(".compose-input", "hello bob, it's alice\r")
		a.wait("alice's own message", "[...document.querySelectorAll('.msg.own .body')].some(e => e.textContent === \"hello bob, it's alice\")")
		// Bob's page shows it live: unread in the list, then in the chat.
		b.wait("the unread badge in bob's list", `document.querySelector('.conv-list li[data-id="`+conv+`"] .badge')?.textContent === '1'`)
		b.wait("the preview in bob's list", `document.querySelector('.conv-list li[data-id="`+conv+`"] .conv-last')?.textContent.includes("hello bob")`)
		b.shot(art, "conversation-list")
		// Alice's tick is at least sent; when bob opens the chat it turns read.
		a.wait("a delivered tick", "['delivered','read'].includes(document.querySelector('.msg.own:last-of-type')?.dataset.status)")
		b.click(`.conv-list li[data-id="` + conv + `"] a`)
		b.wait("the message in bob's chat", "[...document.querySelectorAll('.msg.theirs .body')].some(e => e.textContent === \"hello bob, it's alice\")")
		a.wait("the read tick on alice's message", "document.querySelector('.msg.own:last-of-type')?.dataset.status === 'read' && document.querySelector('.msg.own:last-of-type .tick.status-read')")
		b.wait("no unread left", `!document.querySelector('.conv-list li[data-id="`+conv+`"] .badge')`)
	})

	t.Run("PeerHTMLRendersAsText", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		_ = b
		evil := `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script><b>bold</b> & <a href="javascript:window.__xss=3">click</a>`
		m := send(t, bob.Client, conv, "xss1", evil)
		a.wait("the hostile message", "document.querySelector('"+msgSel(m.ID)+" .body')")
		if got := a.str("document.querySelector('" + msgSel(m.ID) + " .body').textContent"); got != evil {
			t.Fatalf("body rendered as %q, want the text %q", got, evil)
		}
		var n int
		a.eval("document.querySelectorAll('.messages img, .messages script, .messages b, .messages a[href^=javascript]').length", &n)
		var xss any
		a.eval("window.__xss", &xss)
		if n != 0 || xss != nil {
			t.Fatalf("a peer's markup became DOM: %d elements, window.__xss=%v", n, xss)
		}
		// The list preview too.
		if got := a.str(`document.querySelector('.conv-list li[data-id="` + conv + `"] .conv-last').textContent`); !strings.Contains(got, "<script>") {
			t.Fatalf("list preview %q", got)
		}
	})

	t.Run("ReplyReactEditDelete", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		_ = b
		m := send(t, bob.Client, conv, "q1", "what's for lunch?")
		sel := msgSel(m.ID)
		a.wait("bob's question", "document.querySelector('"+sel+"')")
		// React through the message menu; bob's page sees it.
		a.click(sel + " .msg-more")
		a.click(".menu .menu-emoji")
		b.wait("the reaction at bob's", "document.querySelector('"+sel+" .reaction')?.textContent.includes('👍')")
		// Reply.
		a.click(sel + " .msg-more")
		a.click(".menu [data-action=reply]")
		a.wait("the reply bar", "!document.querySelector('.compose-bar').hidden")
		a.typeInto(".compose-input", "soup\r")
		b.wait("the reply with its quote at bob's", "[...document.querySelectorAll('.msg.theirs')].some(e => e.querySelector('.quote-body')?.textContent === \"what's for lunch?\" && e.querySelector('.body').textContent === 'soup')")
		// Edit the last own message with ArrowUp, then Enter.
		a.wait("soup acknowledged", "[...document.querySelectorAll('.msg.own:not(.local) .body')].some(e => e.textContent === 'soup')")
		a.typeInto(".compose-input", kb.ArrowUp)
		a.wait("editing mode", "document.querySelector('.msg.editing')")
		a.eval("(() => { const i = document.querySelector('.compose-input'); i.value = ''; return true })()", nil)
		a.typeInto(".compose-input", "soup and bread\r")
		b.wait("the edit at bob's", "[...document.querySelectorAll('.msg.theirs')].some(e => e.querySelector('.body').textContent === 'soup and bread' && e.querySelector('.edited'))")
		// Delete for everyone.
		id := a.str("[...document.querySelectorAll('.msg.own')].find(e => e.querySelector('.body').textContent === 'soup and bread').dataset.id")
		a.click(msgSel(id) + " .msg-more")
		a.click(".menu [data-action=delete-everyone]")
		// It asks first; cancelling deletes nothing.
		a.wait("the confirmation", "document.querySelector('dialog[open]')?.textContent.includes('Delete for everyone?')")
		a.shot(art, "delete-confirm")
		a.click("dialog[open] .dialog-actions button:not(.danger-solid)")
		a.wait("the dialog gone", "!document.querySelector('dialog')")
		if a.str("document.querySelector('"+msgSel(id)+" .body').className") != "body" {
			t.Fatal("cancelling the confirmation deleted the message")
		}
		a.click(msgSel(id) + " .msg-more")
		a.click(".menu [data-action=delete-everyone]")
		a.click("dialog[open] .dialog-actions button.danger-solid")
		b.wait("the deletion at bob's", "document.querySelector('"+msgSel(id)+" .body.deleted')")
	})

	t.Run("KeyboardMenuAndEscape", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		_ = b
		id := a.str("[...document.querySelectorAll('.msg.theirs')].pop().dataset.id")
		a.click(msgSel(id) + " .msg-more")
		a.wait("the menu with focus inside", "!document.querySelector('.menu').hidden && document.querySelector('.menu').contains(document.activeElement)")
		a.typeInto(".menu button", kb.Escape)
		a.wait("the menu closed and focus back on its button", "document.querySelector('.menu').hidden && document.activeElement.matches('"+msgSel(id)+" .msg-more')")
	})

	t.Run("ScreensContactSearchSettings", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		_ = b
		a.shot(art, "chat-light")
		a.scheme("dark")
		a.wait("dark colours", "getComputedStyle(document.body).backgroundColor !== 'rgb(238, 241, 245)'")
		a.shot(art, "chat-dark")
		a.scheme("light")
		a.viewport(390, 844)
		a.shot(art, "chat-phone")
		a.viewport(1200, 800)

		a.click(".chat .pane-head a[aria-label^='Contact details']")
		a.wait("the safety number", "document.querySelectorAll('.safety span').length >= 10")
		a.click("#ct-verified")
		wait.For(t, "verified saved on the node", func() error {
			cs, err := alice.Client.Contacts(ctx)
			if err != nil || len(cs) != 1 || !cs[0].Verified {
				return fmt.Errorf("contacts %+v %v", cs, err)
			}
			return nil
		})
		a.shot(art, "contact-details")

		a.navigate(alice.Info.URL + "/#/search")
		a.wait("the search box", "document.querySelector('#search-q')")
		a.typeInto("#search-q", "lunch")
		a.wait("a search result", "document.querySelector('.results .result mark')?.textContent === 'lunch'")
		a.shot(art, "search")

		a.viewport(390, 844)
		a.navigate(alice.Info.URL + "/#/")
		a.wait("the list on a phone", "document.querySelector('.conv-list li') && getComputedStyle(document.querySelector('.pane')).display === 'none'")
		a.shot(art, "list-phone")
		a.viewport(1200, 800)

		a.navigate(alice.Info.URL + "/#/settings")
		a.wait("settings", "document.querySelector('#set-receipts') && document.querySelector('.about dd')")
		a.shot(art, "settings")
		a.click("#set-receipts")
		wait.For(t, "read receipts off on the node", func() error {
			var st api.Settings
			if err := alice.Client.Do(ctx, "GET", "/v1/settings", nil, &st); err != nil || st.ReadReceipts {
				return fmt.Errorf("settings %+v %v", st, err)
			}
			return nil
		})
		a.click("#set-receipts")
		a.wait("read receipts back on", "document.querySelector('#set-receipts').checked && document.querySelector('.form-status.ok')")
		a.eval("(() => { const i = document.querySelector('#set-name'); i.value = ''; return true })()", nil)
		a.typeInto("#set-name", "Alice A.\r")
		wait.For(t, "the name saved", func() error {
			me, err := alice.Client.Me(ctx)
			if err != nil || me.Name != "Alice A." {
				return fmt.Errorf("name %q %v", me.Name, err)
			}
			return nil
		})
	})

	t.Run("ReloadKeepsHistoryAndScrollsBack", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		_ = b
		for i := range 55 {
			send(t, bob.Client, conv, fmt.Sprintf("bulk%d", i), fmt.Sprintf("bulk message %d", i))
		}
		a.navigate(alice.Info.URL + "/#/c/" + conv)
		a.wait("the newest page after reload", "[...document.querySelectorAll('.msg .body')].some(e => e.textContent === 'bulk message 54')")
		if a.str("location.href") != alice.Info.URL+"/#/c/"+conv {
			t.Fatalf("url %s", a.str("location.href"))
		}
		// Scroll back to the start: older pages load until the first message shows.
		a.wait("the first message after scrolling back", "(document.querySelector('.scroller').scrollTop = 0, [...document.querySelectorAll('.msg .body')].some(e => e.textContent === \"hello bob, it's alice\"))")
		a.wait("the beginning of the conversation", "document.querySelector('.history-top .start')")
		assertNoDuplicates(t, a, alice, conv)
	})

	t.Run("MessageRequestAcceptAndBlock", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		_ = b
		// Carol has alice's link; alice never added her: her message is a request.
		carol := nodetest.Start(t, "carol")
		// Her name is hostile markup: a peer chooses it, so it must render as text everywhere.
		const carolName = `Carol <img src=x onerror="window.__xss=4">`
		if _, err := carol.Client.SetName(ctx, carolName); err != nil {
			t.Fatal(err)
		}
		inv, err := alice.Client.CreateInvite(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var c api.Contact
		if err := carol.Client.Do(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv.Link}, &c); err != nil {
			t.Fatal(err)
		}
		send(t, carol.Client, c.ConversationID, "hi1", "hi alice, we met at the conference")
		a.wait("carol's request in the list", `document.querySelector('.conv-list li[data-id="`+c.ConversationID+`"] .tag')?.textContent === 'request'`)
		a.click(`.conv-list li[data-id="` + c.ConversationID + `"] a`)
		a.wait("the request banner", "document.querySelector('.banner.request strong')?.textContent === "+jsString(carolName))
		a.shot(art, "message-request")
		var imgs int
		a.eval("document.querySelectorAll('.conv-list img, .banners img, .chat-title img').length", &imgs)
		var xss any
		a.eval("window.__xss", &xss)
		if imgs != 0 || xss != nil {
			t.Fatalf("a peer's name became DOM: %d img elements, window.__xss=%v", imgs, xss)
		}
		a.click(".banner.request button.primary")
		a.wait("the banner gone after accepting", "!document.querySelector('.banner.request')")
		wait.For(t, "carol accepted on alice's node", func() error {
			cs, err := alice.Client.Contacts(ctx)
			if err != nil {
				return err
			}
			for _, x := range cs {
				if x.Name == carolName && x.Request == api.RequestAccepted {
					return nil
				}
			}
			return fmt.Errorf("contacts %+v", cs)
		})
		// Block her from the contact screen: the chat says so and the node refuses her.
		a.click(".chat .pane-head a[aria-label^='Contact details']")
		a.wait("carol's contact screen", "document.querySelector('.profile-name')?.textContent === "+jsString(carolName))
		a.click(".contact button.danger")
		a.wait("the blocked tag", "document.querySelector('.profile .tag.warn')?.textContent === 'blocked'")
		a.click(".contact a.button.primary")
		a.wait("the blocked banner with the composer off", "document.querySelector('.banner')?.textContent.includes('You blocked') && document.querySelector('.compose-input').disabled")
		wait.For(t, "carol blocked on alice's node", func() error {
			cs, err := alice.Client.Contacts(ctx)
			if err != nil {
				return err
			}
			for _, x := range cs {
				if x.Name == carolName && x.Blocked {
					return nil
				}
			}
			return fmt.Errorf("contacts %+v", cs)
		})
		a.navigate(alice.Info.URL + "/#/c/" + conv) // back to bob for the next step
		a.wait("the chat with Bob", "document.querySelector('.chat-title')?.textContent === 'Bob'")
	})

	t.Run("NodeRestartRecovers", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		_ = b
		alice.APIAddr = strings.TrimPrefix(alice.Info.URL, "http://")
		alice.Stop()
		a.wait("the offline bar", "document.body.dataset.conn === 'offline' && !document.querySelector('.conn').hidden")
		a.shot(art, "offline")
		// While alice's node is down: she writes (it waits in the page), and bob writes
		// (it waits in bob's outbox).
		a.typeInto(".compose-input", "sent while my node was down\r")
		a.wait("the pending message", "document.querySelector('.msg.own.local')")
		send(t, bob.Client, conv, "down1", "bob wrote while alice was down")
		alice.Run()
		if alice.Info.URL != "http://"+alice.APIAddr {
			t.Fatalf("restarted on %s, want %s", alice.Info.URL, alice.APIAddr)
		}
		a.wait("back online", "document.body.dataset.conn === 'online'")
		a.wait("bob's message from the downtime", "[...document.querySelectorAll('.msg .body')].some(e => e.textContent === 'bob wrote while alice was down')")
		a.wait("alice's message sent after reconnecting", "!document.querySelector('.msg.own.local') && [...document.querySelectorAll('.msg.own .body')].some(e => e.textContent === 'sent while my node was down')")
		b.wait("alice's message at bob's", "[...document.querySelectorAll('.msg.theirs .body')].some(e => e.textContent === 'sent while my node was down')")
		assertNoDuplicates(t, a, alice, conv)
	})

	t.Run("LogoutForgetsTheSession", func(t *testing.T) {
		a := ap.in(t)
		a.navigate(alice.Info.URL + "/#/settings")
		a.click(".settings button.danger")
		a.wait("the logged-out screen", "document.querySelector('#logged-out')")
		a.navigate(alice.Info.URL + "/")
		a.wait("still logged out after a reload", "document.querySelector('#logged-out')")
	})
}

// (LogoutForgetsTheSession runs last: it ends alice's session.)

// assertNoDuplicates checks that the page shows each message of the node exactly once.
func assertNoDuplicates(t *testing.T, p *page, n *nodetest.Node, conv string) {
	t.Helper()
	var ids []string
	p.eval("[...document.querySelectorAll('.messages .msg')].map(e => e.dataset.id)", &ids)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("%s shows message %s twice", p.name, id)
		}
		seen[id] = true
	}
	var all []api.Message
	before := ""
	for {
		pg, err := n.Client.Messages(context.Background(), conv, before, "", 200)
		if err != nil {
			t.Fatal(err)
		}
		all = append(pg.Messages, all...)
		if !pg.HasMore || len(pg.Messages) == 0 {
			break
		}
		before = pg.Messages[0].ID
	}
	if len(all) != len(ids) {
		t.Fatalf("%s shows %d messages, the node has %d", p.name, len(ids), len(all))
	}
	for _, m := range all {
		if !seen[m.ID] {
			t.Fatalf("%s misses message %s (%q)", p.name, m.ID, m.Body)
		}
	}
}

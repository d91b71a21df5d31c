package webui_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp/kb"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
)

// TestWebUIMessagesFindingNotifications drives the rest of what a WhatsApp or Signal user
// expects, against two real nodes with fast presence timers: whose node this is, starting a
// chat from the contacts, formatted messages and links, the emoji picker, copy, forward,
// jumping to a quoted message, filtering and searching, the keyboard, reciprocal read
// receipts, notifications with mute and do-not-disturb, presence that is never stale, the
// offline bar, errors as sentences, and the contact's safety number with its QR code.
func TestWebUIMessagesFindingNotifications(t *testing.T) {
	t.Parallel()
	browser := startBrowser(t)
	art := artifactDir(t)
	ctx := context.Background()
	alice, bob := startPair(t, "alice", "bob", fastLive)
	if _, err := alice.Client.SetName(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Client.SetName(ctx, "Bob"); err != nil {
		t.Fatal(err)
	}
	ap := newPage(t, browser, "alice's browser")
	bp := newPage(t, browser, "bob's browser")
	recordNotifications(ap, alice.Info.URL)
	login(t, ap, alice)
	_, toA := nodetest.BefriendBoth(t, alice, bob)
	conv := toA.ConversationID
	login(t, bp, bob)
	li := `.conv-list li[data-id="` + conv + `"]`
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("WhoseNodeThisIs", func(t *testing.T) {
		a := ap.in(t)
		a.wait("alice's name in the title and the sidebar", "document.title === 'petrel — Alice' && document.querySelector('.me-name').textContent === 'Alice'")
		a.click(".me")
		a.wait("settings", "document.querySelector('#set-name')")
		a.eval("(() => { const i = document.querySelector('#set-name'); i.value = ''; return true })()", nil)
		a.typeInto("#set-name", "Alice Liddell\r")
		a.wait("the new name everywhere", "document.title === 'petrel — Alice Liddell' && document.querySelector('.me-name').textContent === 'Alice Liddell'")
		a.shot(art, "own-name")
	})

	step("StartChatFromContacts", func(t *testing.T) {
		a := ap.in(t)
		a.click(".side-actions a[href='#/new']")
		a.wait("the contact list", "document.querySelector('.new-chat a.pick')")
		a.shot(art, "new-chat")
		a.viewport(390, 844)
		a.shot(art, "new-chat-phone")
		a.viewport(1200, 800)
		a.typeInto("#new-filter", "bo")
		a.click(".new-chat a.pick")
		a.wait("the chat with Bob", "document.querySelector('.chat-title')?.textContent === 'Bob' && location.hash === '#/c/"+conv+"'")
	})

	step("LinksAndFormattingRenderSafely", func(t *testing.T) {
		a := ap.in(t)
		body := "see *this* and _that_ with `x<y` at https://example.com/a?b=1. or javascript:alert(1) or <b>x</b> snake_case_name 2*3*4"
		m := send(t, bob.Client, conv, "rich1", body)
		sel := msgSel(m.ID) + " .body"
		a.wait("the formatted message", "document.querySelector('"+sel+" strong')")
		var got struct {
			Strong, Em, Code, Href, Rel, Target, Text string
			Links, Bad                                int
		}
		a.eval(`(() => { const b = document.querySelector('`+sel+`'); const a = b.querySelector('a');
			return { Strong: b.querySelector('strong')?.textContent, Em: b.querySelector('em')?.textContent, Code: b.querySelector('code')?.textContent,
				Href: a?.getAttribute('href'), Rel: a?.rel, Target: a?.target, Text: b.textContent,
				Links: b.querySelectorAll('a').length, Bad: b.querySelectorAll('b, script, img, a[href^=javascript]').length } })()`, &got)
		want := strings.NewReplacer("*this*", "this", "_that_", "that", "`x<y`", "x<y").Replace(body)
		if got.Strong != "this" || got.Em != "that" || got.Code != "x<y" || got.Href != "https://example.com/a?b=1" || got.Rel != "noopener noreferrer" || got.Target != "_blank" || got.Links != 1 || got.Bad != 0 || got.Text != want {
			t.Fatalf("rendered %+v\nwant text %q", got, want)
		}
		a.shot(art, "rich-text")
	})

	step("EmojiPickerForComposerAndReactions", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		b.click(li + " a")
		b.wait("bob's chat with alice", "document.querySelector('.chat-title')?.textContent.startsWith('Alice')")
		a.click(".emoji-btn")
		a.wait("the picker with focus in it", "document.querySelector('.emoji-picker')?.contains(document.activeElement)")
		a.shot(art, "emoji-picker")
		a.viewport(390, 844)
		a.shot(art, "emoji-picker-phone")
		a.viewport(1200, 800)
		// The keyboard moves through the grid; Escape closes it and focus goes back.
		a.typeInto(".emoji-picker button", kb.ArrowRight)
		a.wait("the second emoji focused", "document.activeElement === document.querySelectorAll('.emoji-picker button')[1]")
		a.typeInto(".emoji-picker button", kb.Escape)
		a.wait("the picker closed, focus on its button", "!document.querySelector('.emoji-picker') && document.activeElement.matches('.emoji-btn')")
		a.click(".emoji-btn")
		a.click(".emoji-picker button[aria-label='🎉']")
		a.wait("the emoji in the composer with focus", "document.querySelector('.compose-input').value === '🎉' && document.activeElement.matches('.compose-input')")
		a.typeInto(".compose-input", " party\r")
		b.wait("the emoji message at bob's", "[...document.querySelectorAll('.msg .body')].some(e => e.textContent === '🎉 party')")
		// (trim: chromedp's Enter also dispatches a separate "char" event, which a real key
		// press would not, after the page has prevented the keydown)
		a.wait("focus stays in the composer after sending", "document.activeElement.matches('.compose-input') && document.querySelector('.compose-input').value.trim() === ''")
		// Any emoji as a reaction, through the menu's "+".
		id := a.str("[...document.querySelectorAll('.msg.theirs')].pop().dataset.id")
		a.click(msgSel(id) + " .msg-more")
		a.click(".menu [data-action=more-reactions]")
		a.click(".emoji-picker button[aria-label='🔥']")
		b.wait("the reaction at bob's", "document.querySelector('"+msgSel(id)+" .reaction')?.textContent.includes('🔥')")
	})

	step("CopyForwardAndJumpToQuote", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		first := send(t, bob.Client, conv, "orig1", "the original question")
		for i := range 4 {
			send(t, bob.Client, conv, fmt.Sprintf("fill%d", i), fmt.Sprintf("filler %d", i))
		}
		a.wait("the filler", "[...document.querySelectorAll('.msg .body')].some(e => e.textContent === 'filler 3')")
		a.click(msgSel(first.ID) + " .msg-more")
		a.click(".menu [data-action=copy]")
		a.wait("copied", "[...document.querySelectorAll('.banner.ok')].some(e => e.textContent.includes('Copied the message text.'))")
		// Forward: a copy goes out as alice's own message.
		a.click(msgSel(first.ID) + " .msg-more")
		a.click(".menu [data-action=forward]")
		a.wait("the forward dialog", "document.querySelector('dialog[open] .fwd-list button')")
		a.shot(art, "forward")
		a.click("dialog[open] .fwd-list button[data-conv='" + conv + "']")
		b.wait("the forwarded copy at bob's", "[...document.querySelectorAll('.msg.theirs .body')].some(e => e.textContent === 'the original question')")
		// Reply to the original, then jump back to it from the quote.
		a.click(msgSel(first.ID) + " .msg-more")
		a.click(".menu [data-action=reply]")
		a.typeInto(".compose-input", "answering that\r")
		a.wait("the reply", "[...document.querySelectorAll('.msg.own:not(.local)')].some(e => e.querySelector('.body').textContent === 'answering that' && e.querySelector('.quote'))")
		a.eval("[...document.querySelectorAll('.msg.own')].find(e => e.querySelector('.body').textContent === 'answering that').querySelector('.quote').click()", nil)
		a.wait("the original focused and flashing", "document.activeElement === document.querySelector('"+msgSel(first.ID)+"') && document.activeElement.classList.contains('flash')")
	})

	step("FilterSearchAndKeyboard", func(t *testing.T) {
		a := ap.in(t)
		a.typeInto("#chat-filter", "zz")
		a.wait("no chat matches", "document.querySelectorAll('.conv-list li').length === 0 && document.querySelector('.list-empty').textContent === 'No chat is called “zz”.'")
		a.eval("(() => { const i = document.querySelector('#chat-filter'); i.value = ''; i.dispatchEvent(new Event('input')); return true })()", nil)
		a.typeInto("#chat-filter", "BO")
		a.wait("bob's chat alone", "document.querySelectorAll('.conv-list li').length === 1")
		a.typeInto("#chat-filter", kb.ArrowDown)
		a.wait("the first row focused", "document.activeElement === document.querySelector('"+li+" a')")
		// In-chat search.
		a.click("#chat-search-btn")
		a.typeInto("#chat-search", "party")
		a.wait("one match", "document.querySelectorAll('.chat-results .result').length === 1")
		a.shot(art, "chat-search")
		a.click(".chat-results .result")
		a.wait("the match focused", "document.activeElement.matches('.msg') && document.activeElement.textContent.includes('🎉 party')")
		a.click(".chat-search button[aria-label='Close search']")
		// The keyboard through the messages and the menu.
		a.eval("document.querySelector('.messages').focus()", nil)
		a.typeInto(".messages", kb.ArrowUp)
		a.wait("the newest message focused", "document.activeElement === [...document.querySelectorAll('.messages .msg')].pop()")
		a.typeInto(".messages .msg:last-child", kb.ArrowUp)
		a.wait("the one before focused", "document.activeElement === [...document.querySelectorAll('.messages .msg')].at(-2)")
		a.eval("document.activeElement.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }))", nil)
		a.wait("the menu with focus", "!document.querySelector('.menu').hidden && document.querySelector('.menu').contains(document.activeElement)")
		a.eval("document.activeElement.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowDown', bubbles: true }))", nil)
		a.wait("arrow keys move in the menu", "document.activeElement.dataset.action === 'reply'")
		a.eval("document.activeElement.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }))", nil)
		a.wait("the menu closed", "document.querySelector('.menu').hidden")
	})

	step("ReadReceiptsAreReciprocal", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		b.click(li + " a")
		a.typeInto(".compose-input", "did you read this?\r")
		sel := "[...document.querySelectorAll('.msg.own')].find(e => e.querySelector('.body').textContent === 'did you read this?')"
		a.wait("read by bob", sel+"?.dataset.status === 'read'")
		a.navigate(alice.Info.URL + "/#/settings")
		a.click("#set-receipts")
		a.wait("saved", "document.querySelector('.settings .form-status.ok')")
		a.navigate(alice.Info.URL + "/#/c/" + conv)
		a.wait("only delivered ticks while hers are off", sel+"?.dataset.status === 'delivered' && !document.querySelector('.tick.status-read')")
		a.navigate(alice.Info.URL + "/#/settings")
		a.click("#set-receipts")
		a.wait("saved", "document.querySelector('#set-receipts').checked && document.querySelector('.settings .form-status.ok')")
		a.navigate(alice.Info.URL + "/#/c/" + conv)
		a.wait("read again", sel+"?.dataset.status === 'read'")
		b.navigate(bob.Info.URL + "/#/")
	})

	step("NotificationsMuteAndDoNotDisturb", func(t *testing.T) {
		a := ap.in(t)
		goTo(a, "#/settings")
		a.click("#set-notify")
		a.wait("notifications on", "document.querySelector('.settings .form-status.ok')?.textContent === 'Desktop notifications are on.'")
		a.click("#set-sound")
		a.shot(art, "settings-notifications")
		send(t, bob.Client, conv, "n1", "ping for alice")
		a.wait("a notification", "window.__notes.some(n => n.title === 'Bob' && n.body === 'ping for alice')")
		a.wait("the unread count in the title and the favicon", "document.title === '(1) petrel — Alice Liddell' && document.querySelector('link[rel=icon]').dataset.unread === '1' && document.querySelector('link[rel=icon]').href.startsWith('data:image/svg+xml')")
		// Mute the chat: no notification, and it leaves the title's count.
		goTo(a, "#/c/"+conv)
		a.click("#chat-mute-btn")
		a.wait("muted", "document.querySelector('#chat-mute-btn').getAttribute('aria-pressed') === 'true'")
		goTo(a, "#/settings")
		before := a.str("String(window.__notes.length)")
		send(t, bob.Client, conv, "n2", "ping while muted")
		a.wait("the muted message in the list", "document.querySelector('"+li+" .conv-last')?.textContent === 'ping while muted' && document.querySelector('"+li+" .muted-icon')")
		a.wait("the title without the muted chat", "document.title === 'petrel — Alice Liddell'")
		if after := a.str("String(window.__notes.length)"); after != before {
			t.Fatalf("a muted chat notified: %s → %s", before, after)
		}
		goTo(a, "#/c/"+conv)
		a.click("#chat-mute-btn")
		a.wait("unmuted", "document.querySelector('#chat-mute-btn').getAttribute('aria-pressed') === 'false'")
		// Do not disturb silences everything.
		goTo(a, "#/settings")
		a.eval("(() => { const s = document.querySelector('#set-dnd'); s.value = '3600000'; s.dispatchEvent(new Event('change')); return true })()", nil)
		a.wait("do not disturb on", "document.querySelector('#set-dnd-note').textContent.startsWith('Do not disturb until')")
		before = a.str("String(window.__notes.length)")
		send(t, bob.Client, conv, "n3", "ping during dnd")
		a.wait("the unread count", "document.title === '(1) petrel — Alice Liddell'")
		if after := a.str("String(window.__notes.length)"); after != before {
			t.Fatalf("do not disturb notified: %s → %s", before, after)
		}
		a.eval("(() => { const s = document.querySelector('#set-dnd'); s.value = '0'; s.dispatchEvent(new Event('change')); return true })()", nil)
		a.wait("do not disturb off", "document.querySelector('#set-dnd-note').textContent.startsWith('Do not disturb silences')")
	})

	step("PresenceIsNeverStale", func(t *testing.T) {
		a := ap.in(t)
		a.navigate(alice.Info.URL + "/#/settings")
		a.wait("bob online", "document.querySelector('"+li+" .dot.online')")
		a.eval("(() => { document.querySelector('#set-priv-status').textContent = ''; const s = document.querySelector('#set-presence'); s.value = 'nobody'; s.dispatchEvent(new Event('change')); return true })()", nil)
		// At once: right after the save, before any presence frame could come.
		a.wait("saved", "document.querySelector('#set-priv-status').textContent === 'Saved'")
		var dots int
		a.eval("document.querySelectorAll('.conv-list .dot').length", &dots)
		if dots != 0 {
			t.Fatalf("%d presence dots right after choosing nobody", dots)
		}
		a.eval("(() => { const s = document.querySelector('#set-presence'); s.value = 'contacts'; s.dispatchEvent(new Event('change')); return true })()", nil)
		a.wait("bob online again", "document.querySelector('"+li+" .dot.online')")
		a.navigate(alice.Info.URL + "/#/c/" + conv)
		a.wait("online in the header", "document.querySelector('.chat-sub')?.textContent === 'online'")
		// Alice's node goes away: the page no longer knows anyone's presence.
		alice.APIAddr = strings.TrimPrefix(alice.Info.URL, "http://")
		alice.Stop()
		a.wait("the offline bar", "document.body.dataset.conn === 'offline'")
		a.wait("no presence while the node is gone", "!document.querySelector('.conv-list .dot') && document.querySelector('.chat-sub').textContent === ''")
		// The bar sits above the chat, not on it.
		var overlap bool
		a.eval("(() => { const b = document.querySelector('.conn').getBoundingClientRect(), h = document.querySelector('.pane').getBoundingClientRect(); return b.bottom > h.top + 1 })()", &overlap)
		if overlap {
			t.Fatal("the offline bar covers the chat")
		}
		a.shot(art, "offline-no-presence")
		a.viewport(390, 844)
		a.shot(art, "offline-no-presence-phone")
		a.viewport(1200, 800)
		alice.Run()
		a.wait("back online with bob's presence", "document.body.dataset.conn === 'online' && document.querySelector('.chat-sub')?.textContent === 'online'")
	})

	step("ErrorsAreSentences", func(t *testing.T) {
		a := ap.in(t)
		a.navigate(alice.Info.URL + "/#/add")
		a.typeInto("#wel-paste", "petrel:not-a-real-invite")
		a.click(".welcome form:last-of-type button.primary")
		a.wait("an error", "document.querySelector('.welcome form:last-of-type .form-status.error')?.textContent.length > 0")
		msg := a.str("document.querySelector('.welcome form:last-of-type .form-status.error').textContent")
		if !strings.HasSuffix(msg, ".") || msg[0] < 'A' || msg[0] > 'Z' || strings.Contains(msg, "bad_request") || strings.Contains(msg, "400") || strings.Contains(msg, "invite:") || strings.Contains(msg, "base64") {
			t.Fatalf("the error reads %q, not a sentence", msg)
		}
		t.Logf("a bad link says: %s", msg)
	})

	step("ContactSafetyNumberQRAndVerifiedState", func(t *testing.T) {
		a := ap.in(t)
		a.navigate(alice.Info.URL + "/#/c/" + conv)
		a.click(".chat .pane-head a[aria-label^='Contact details']")
		a.wait("the safety number, its QR and 'Not verified'", "document.querySelector('.safety-qr img')?.complete && document.querySelector('.safety-qr img').naturalWidth > 0 && document.querySelector('.verify-state.no')?.textContent.startsWith('Not verified.')")
		a.click("#ct-verified")
		a.wait("verified", "document.querySelector('.verify-state.yes')?.textContent.startsWith('Verified.')")
		cs, err := alice.Client.Contacts(ctx)
		if err != nil || len(cs) != 1 || !cs[0].Verified {
			t.Fatalf("contacts %+v %v", cs, err)
		}
		var qr api.SafetyQR
		if err := alice.Client.Do(ctx, "GET", "/v1/contacts/"+cs[0].ID+"/safety_qr", nil, &qr); err != nil || qr.SafetyNumber != cs[0].SafetyNumber || !strings.HasPrefix(qr.QRSVG, "<svg") {
			t.Fatalf("safety QR %v %.40q", err, qr.QRSVG)
		}
		a.shot(art, "contact-verified")
		a.viewport(390, 844)
		a.shot(art, "contact-verified-phone")
		a.viewport(1200, 800)
	})
}

// goTo moves the page to a route of the UI without reloading it (as clicking a link does).
func goTo(p *page, hash string) {
	p.t.Helper()
	p.eval("(location.hash = "+jsString(hash)+", true)", nil)
	p.wait("the route "+hash, "location.hash === "+jsString(hash))
}

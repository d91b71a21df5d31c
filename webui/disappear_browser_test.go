package webui_test

import (
	"context"
	"testing"

	"github.com/petrel-chat/petrel/node/nodetest"
)

// TestWebUIDisappearingMessages: alice turns on a timer from the chat header's menu; both
// browsers show the system line and the timer; a message sent under it carries the timer
// mark and, once read, disappears from both browsers at its expiry.
func TestWebUIDisappearingMessages(t *testing.T) {
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
	login(t, ap, alice)
	login(t, bp, bob)
	toB, toA := nodetest.BefriendBoth(t, alice, bob)
	ap.navigate(alice.Info.URL + "/#/c/" + toB.ConversationID)
	bp.navigate(bob.Info.URL + "/#/c/" + toA.ConversationID)
	ap.wait("the timer menu", "document.querySelector('#chat-timer') && !document.querySelector('#chat-timer').disabled")
	ap.eval(`(() => { const s = document.querySelector('#chat-timer'); s.value = '30'; s.dispatchEvent(new Event('change')); return true })()`, nil)
	line := "Alice set messages to disappear after 30 seconds"
	for _, p := range []*page{ap, bp} {
		p.wait("the system line", "[...document.querySelectorAll('.sys[data-kind=disappear]')].some((e) => e.textContent === "+jsString(line)+")")
		p.wait("the timer shown", "document.querySelector('#chat-timer').value === '30'")
	}
	ap.shot(art, "disappear-timer-set")

	// A short timer (set through the API: the menu's shortest is 30 s) for the expiry.
	if err := alice.Client.Do(ctx, "PATCH", "/v1/conversations/"+toB.ConversationID, map[string]any{"disappear_after_s": 5}, nil); err != nil {
		t.Fatal(err)
	}
	bp.wait("bob's menu shows 5 seconds", "document.querySelector('#chat-timer').value === '5'")
	m := send(t, alice.Client, toB.ConversationID, "dis1", "this will vanish")
	for _, p := range []*page{ap, bp} {
		p.wait("the message with its timer mark", "document.querySelector('"+msgSel(m.ID)+" .timer-mark')")
	}
	// Bob's open chat reads it, which starts his timer: the mark says when.
	bp.wait("bob's timer running", "document.querySelector('"+msgSel(m.ID)+" .timer-mark')?.title.startsWith('Disappears ') && !document.querySelector('"+msgSel(m.ID)+" .timer-mark').title.includes('after it is read')")
	bp.shot(art, "disappear-mark")
	for _, p := range []*page{ap, bp} {
		p.wait("the message gone at its expiry", "!document.querySelector('"+msgSel(m.ID)+"') && ![...document.querySelectorAll('.msg .body')].some((e) => e.textContent.includes('this will vanish'))")
	}
}

package webui_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"

	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
)

// Short presence timers for the live-signal test (the defaults are 10 s heartbeats, 30 s
// offline timeout, 6 s typing expiry).
const (
	liveHeartbeat = 150 * time.Millisecond
	liveTimeout   = 2 * time.Second
	typingTimeout = 4 * time.Second
	// uiTypingTTL is the page's own expiry of an indicator (state.js TYPING_TTL): ending
	// sooner shows that the node's "stop" frame ended it.
	uiTypingTTL = 8 * time.Second
)

func fastLive(c *node.Config) {
	c.Presence.Heartbeat = liveHeartbeat
	c.Presence.Timeout = liveTimeout
	c.Presence.TypingTimeout = typingTimeout
}

// startPair starts two nodes at once (each start derives its store key, which is slow).
func startPair(t *testing.T, a, b string, configure func(*node.Config)) (*nodetest.Node, *nodetest.Node) {
	t.Helper()
	var na, nb *nodetest.Node
	var wg sync.WaitGroup
	wg.Go(func() { na = nodetest.StartWith(t, a, configure) })
	wg.Go(func() { nb = nodetest.StartWith(t, b, configure) })
	wg.Wait()
	if na == nil || nb == nil {
		t.FailNow()
	}
	return na, nb
}

// TestWebUILiveSignals drives the UI against real nodes with short presence timers: bob's
// presence dot and "online" while his node runs, his typing indicator (ended by his "stop",
// and by expiry when his node vanishes mid-word), offline with last seen after his node
// stops, and the changed-safety-number warnings when someone else comes back behind his
// network key (as in node's TestIdentityChangeWarnsAndFailsPending).
func TestWebUILiveSignals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	browser := startBrowser(t)
	art := artifactDir(t)
	alice, bob := startPair(t, "alice", "bob", fastLive)
	if _, err := alice.Client.SetName(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Client.SetName(ctx, "Bob"); err != nil {
		t.Fatal(err)
	}
	ap := newPage(t, browser, "alice's browser")
	bp := newPage(t, browser, "bob's browser")
	// Alice's page connects first: presence frames are not replayed to a later socket.
	login(t, ap, alice)
	_, toA := nodetest.BefriendBoth(t, alice, bob)
	conv := toA.ConversationID
	li := `.conv-list li[data-id="` + conv + `"]`
	var bobContact api.Contact

	t.Run("ContactOnlineWhileHisNodeRuns", func(t *testing.T) {
		a := ap.in(t)
		a.wait("bob's online dot in alice's list", `document.querySelector('`+li+` .dot.online')`)
		a.wait("online in the list row's name", `document.querySelector('`+li+` a .visually-hidden')?.textContent === ', online'`)
		a.click(li + " a")
		a.wait("online in the chat header", "document.querySelector('.chat-title')?.textContent === 'Bob' && document.querySelector('.chat-sub')?.textContent === 'online'")
		cs, err := alice.Client.Contacts(ctx)
		if err != nil || len(cs) != 1 {
			t.Fatalf("alice's contacts: %+v %v", cs, err)
		}
		bobContact = cs[0]
		verified := true
		if _, err := alice.Client.UpdateContact(ctx, bobContact.ID, api.ContactPatch{Verified: &verified}); err != nil {
			t.Fatal(err)
		}
		a.click(".chat .pane-head a[aria-label^='Contact details']")
		a.wait("online and verified on the contact screen", "document.querySelector('.profile .muted')?.textContent === 'online' && document.querySelector('#ct-verified')?.checked && !document.querySelector('.contact .banner.warn')")
		a.shot(art, "live-contact-online")
		a.navigate(alice.Info.URL + "/#/c/" + conv)
		a.wait("the chat with Bob again", "document.querySelector('.chat-title')?.textContent === 'Bob' && document.querySelector('.chat-sub')?.textContent === 'online'")
	})

	t.Run("TypingShowsAndStops", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		login(t, b, bob)
		b.click(li + " a")
		b.wait("bob's chat with Alice", "document.querySelector('.chat-title')?.textContent === 'Alice'")
		start := time.Now()
		b.typeInto(".compose-input", "h")
		a.wait("typing in alice's list", `document.querySelector('`+li+` .conv-last.typing')?.textContent === 'typing…'`)
		a.wait("typing in alice's chat header", "document.querySelector('.chat-sub.typing')?.textContent === 'typing…'")
		a.shot(art, "live-typing")
		// Bob erases what he typed: his page sends "stop", which ends the indicator before
		// alice's node would expire it.
		b.typeInto(".compose-input", kb.Backspace)
		a.wait("typing gone from alice's list", `document.querySelector('`+li+` .conv-last') && !document.querySelector('`+li+` .conv-last.typing')`)
		a.wait("online back in alice's chat header", "document.querySelector('.chat-sub')?.textContent === 'online'")
		took := time.Since(start)
		t.Logf("the indicator ended %v after bob started typing (his stop)", took)
		if took >= typingTimeout {
			t.Fatalf("the indicator ended %v after bob started, not before the %v expiry: his stop did not end it", took, typingTimeout)
		}
	})

	t.Run("StoppedNodeGoesOfflineAndTypingExpires", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		start := time.Now()
		b.typeInto(".compose-input", "x")
		a.wait("typing in alice's chat header", "document.querySelector('.chat-sub.typing')")
		// Bob's node goes away mid-word: no "stop" can come; alice's node ends the indicator
		// after its typing timeout, and bob after his presence timeout.
		bob.Stop()
		a.wait("typing gone from alice's list", `document.querySelector('`+li+` .conv-last') && !document.querySelector('`+li+` .conv-last.typing')`)
		took := time.Since(start)
		t.Logf("the indicator ended %v after bob started typing (expiry)", took)
		if took >= uiTypingTTL {
			t.Fatalf("the indicator ended %v after bob started: only the page's own %v expiry ended it, alice's node sent no stop", took, uiTypingTTL)
		}
		a.wait("bob's offline dot in alice's list", `document.querySelector('`+li+` .dot.offline') && !document.querySelector('`+li+` .dot.online')`)
		a.wait("last seen in the chat header", "document.querySelector('.chat-sub')?.textContent.startsWith('last seen today at ')")
		a.shot(art, "live-contact-offline")
		cs, err := alice.Client.Contacts(ctx)
		if err != nil || len(cs) != 1 || cs[0].LastSeen == nil {
			t.Fatalf("alice's contacts after bob went offline: %+v %v", cs, err)
		}
	})

	t.Run("IdentityChangeWarns", func(t *testing.T) {
		a := ap.in(t)
		// Mallory runs a fresh identity behind bob's network key and writes to alice. (Alice's
		// node then shows the contact under the name the new identity gives: not checked.)
		mallory := nodetest.StartImpostor(t, bob, "mallory")
		inv, err := alice.Client.CreateInvite(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var mc api.Contact
		if err := mallory.Client.Do(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv.Link}, &mc); err != nil {
			t.Fatal(err)
		}
		send(t, mallory.Client, mc.ConversationID, "m1", "it is me, bob, new phone")
		a.wait("the changed-identity tag in alice's list", `document.querySelector('`+li+` .tag.warn')`)
		a.wait("the safety-number warning in the chat", "location.hash === '#/c/"+conv+"' && document.querySelector('.banner.warn')?.textContent.includes(document.querySelector('.chat-title').textContent + '’s safety number has changed')")
		a.shot(art, "live-identity-changed")
		a.click(".banner.warn a[href^='#/contact/']")
		a.wait("the warning on the contact screen", "document.querySelector('.contact .banner.warn')?.textContent.includes('The safety number changed')")
		a.wait("the new safety number in 12 groups", "document.querySelectorAll('.safety span').length === 12")
		a.wait("verified cleared", "document.querySelector('#ct-verified') && !document.querySelector('#ct-verified').checked")
		a.shot(art, "live-identity-changed-contact")
		c, err := alice.Client.Contacts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range c {
			if x.ID == bobContact.ID {
				if !x.IdentityChanged || x.Verified || x.SafetyNumber == bobContact.SafetyNumber {
					t.Fatalf("alice's contact for bob after the change: %+v (before: %s)", x, bobContact.SafetyNumber)
				}
				shown := a.str("[...document.querySelectorAll('.safety span')].map(e => e.textContent).join(' ')")
				if shown != x.SafetyNumber {
					t.Fatalf("the contact screen shows %q, the node says %q", shown, x.SafetyNumber)
				}
				return
			}
		}
		t.Fatalf("bob's contact %s gone from alice's list", bobContact.ID)
	})
}

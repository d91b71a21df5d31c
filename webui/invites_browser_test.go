package webui_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// TestWebUIInvitesExpireAndRevoke: the invite card says when its link expires, lists the
// live links, and revokes one after a confirmation; a request under the revoked link is
// refused by alice's node and bob's browser says why.
func TestWebUIInvitesExpireAndRevoke(t *testing.T) {
	t.Parallel()
	browser := startBrowser(t)
	art := artifactDir(t)
	ctx := context.Background()
	alice := nodetest.StartWith(t, "alice", fastLive)
	bob := nodetest.StartWith(t, "bob", fastLive)
	for n, name := range map[*nodetest.Node]string{alice: "Alice", bob: "Bob"} {
		if _, err := n.Client.SetName(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	a := newPage(t, browser, "alice's browser")
	login(t, a, alice)
	a.navigate(alice.Info.URL + "/#/add")
	a.wait("the invite with its expiry", "document.querySelector('#wel-link')?.value.startsWith('petrel:') && document.querySelector('.invite-expiry')?.textContent.startsWith('This link expires ')")
	first := a.str("document.querySelector('#wel-link').value")

	// (The first-run screen after login made one too: each visit shows a fresh link.)
	var before api.InviteList
	if err := alice.Client.Do(ctx, "GET", "/v1/invites", nil, &before); err != nil || len(before.Invites) < 1 || before.Invites[0].Link != first {
		t.Fatalf("live invites: %+v %v", before, err)
	}
	n := len(before.Invites)

	// A second link that lasts a day; both are live.
	a.eval("(() => { const s = document.querySelector('#inv-ttl'); s.value = '86400'; return true })()", nil)
	a.eval("(() => { [...document.querySelectorAll('.invite-link button')].find(b => b.textContent === 'New link').click(); return true })()", nil)
	a.wait("a new link", "document.querySelector('#wel-link').value !== "+jsString(first))
	second := a.str("document.querySelector('#wel-link').value")
	var live api.InviteList
	if err := alice.Client.Do(ctx, "GET", "/v1/invites", nil, &live); err != nil || len(live.Invites) != n+1 {
		t.Fatalf("live invites: %+v %v", live, err)
	}
	if live.Invites[0].Link != second || live.Invites[0].ExpiresAt-live.Invites[0].CreatedAt != 86400_000 {
		t.Fatalf("the day's link: %+v", live.Invites[0])
	}
	firstID := live.Invites[1].ID
	a.click(".invites summary")
	a.wait("two live links listed, the shown one marked", fmt.Sprintf("document.querySelectorAll('.invite-list .invite-row').length === %d", n+1)+" && document.querySelector('.invite-row[data-invite=\""+live.Invites[0].ID+"\"]').textContent.includes('shown above')")
	a.shot(art, "invites")
	a.viewport(390, 844)
	a.shot(art, "invites-phone")
	a.viewport(1200, 800)

	// Revoke the first link: asked first; cancel keeps it.
	revoke := ".invite-row[data-invite=\"" + firstID + "\"] button"
	a.click(revoke)
	a.wait("the confirmation", "document.querySelector('dialog[open]')?.textContent.includes('Revoke this invite link?')")
	a.shot(art, "invite-revoke-confirm")
	a.click("dialog[open] .dialog-actions button:first-child")
	a.wait("cancelled", fmt.Sprintf("!document.querySelector('dialog[open]') && document.querySelectorAll('.invite-list .invite-row').length === %d", n+1))
	a.click(revoke)
	a.wait("the confirmation again", "document.querySelector('dialog[open]')")
	a.click("dialog[open] button.danger-solid")
	a.wait("one live link fewer", fmt.Sprintf("document.querySelectorAll('.invite-list .invite-row').length === %d", n)+" && !document.querySelector('"+strings.ReplaceAll(revoke, "'", "\\'")+"')")
	if err := alice.Client.Do(ctx, "GET", "/v1/invites", nil, &live); err != nil || len(live.Invites) != n || slices.ContainsFunc(live.Invites, func(i api.Invite) bool { return i.ID == firstID }) {
		t.Fatalf("after revoking in the UI: %+v %v", live, err)
	}

	// Bob uses the revoked link: his node adds it, alice's refuses his request, his
	// browser shows the message failed with a sentence.
	var c api.Contact
	if err := bob.Client.Do(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: first}, &c); err != nil {
		t.Fatal(err)
	}
	b := newPage(t, browser, "bob's browser")
	login(t, b, bob)
	b.navigate(bob.Info.URL + "/#/c/" + c.ConversationID)
	b.wait("the chat with alice", "document.querySelector('.compose-input')")
	b.typeInto(".compose-input", "hello alice\r")
	b.wait("the message failed, saying why", "[...document.querySelectorAll('.msg.own')].some(e => e.querySelector('.body')?.textContent === 'hello alice' && e.querySelector('.failed-line')?.textContent.includes('invite link you used was revoked'))")
	b.shot(art, "invite-revoked-request")
	wait.For(t, "bob's message failed at his node", func() error {
		p, err := bob.Client.Messages(ctx, c.ConversationID, "", "", 10)
		if err != nil {
			return err
		}
		if len(p.Messages) != 1 || p.Messages[0].Status != api.StatusFailed || !strings.Contains(p.Messages[0].Error, "revoked") {
			return fmt.Errorf("%+v", p.Messages)
		}
		return nil
	})
	if cs, err := alice.Client.Contacts(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("alice got a contact from a revoked link: %+v %v", cs, err)
	}
}

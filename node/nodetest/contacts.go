package nodetest

import (
	"context"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
)

// Befriend makes a add b's invite link and returns a's contact for b. It checks what a user
// relies on when adding a contact: the link is short and a petrel: link, the first add
// creates the contact (201) and the same link again finds it (200, same id).
func Befriend(t testing.TB, a, b *Node) api.Contact {
	t.Helper()
	ctx := context.Background()
	inv, err := b.Client.CreateInvite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Link) >= 1024 || !strings.HasPrefix(inv.Link, "petrel:") {
		t.Fatalf("invite link of %d bytes: %.40q", len(inv.Link), inv.Link)
	}
	var c api.Contact
	status, err := a.Client.DoStatus(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv.Link}, &c)
	if err != nil || status != 201 {
		t.Fatalf("add contact: %d %v", status, err)
	}
	var again api.Contact
	status, err = a.Client.DoStatus(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv.Link}, &again)
	if err != nil || status != 200 || again.ID != c.ID {
		t.Fatalf("adding the same link again: %d %v, id %s then %s", status, err, c.ID, again.ID)
	}
	return c
}

// BefriendBoth makes a and b contacts of each other from each one's invite, one after the
// other (as `petrel demo` does), and returns a's contact for b and b's for a.
func BefriendBoth(t testing.TB, a, b *Node) (aToB, bToA api.Contact) {
	t.Helper()
	ctx := context.Background()
	for _, p := range []struct {
		from, to *Node
		c        *api.Contact
	}{{a, b, &aToB}, {b, a, &bToA}} {
		inv, err := p.to.Client.CreateInvite(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.from.Client.Do(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv.Link}, p.c); err != nil {
			t.Fatalf("%s adds %s: %v", p.from.Name, p.to.Name, err)
		}
	}
	return aToB, bToA
}

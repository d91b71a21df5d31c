package node_test

import (
	"context"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
)

// fixtureQueries are the searches the release store's view records.
var fixtureQueries = []string{"ferry", "map", "aye"}

// storeView is everything a user sees of a node's store through the local API: what an
// upgrade of the store format must keep intact.
type storeView struct {
	Me            api.Me                   `json:"me"`
	Settings      api.Settings             `json:"settings"`
	Contacts      []api.Contact            `json:"contacts"`
	Conversations []api.Conversation       `json:"conversations"`
	Messages      map[string][]api.Message `json:"messages"` // by conversation id
	Search        map[string][]api.Message `json:"search"`   // by query
}

// viewOf reads cl's storeView. Last-seen times and listen addresses are left out: they follow the network.
func viewOf(t *testing.T, cl *localclient.Client, queries ...string) storeView {
	t.Helper()
	ctx := context.Background()
	var v storeView
	var err error
	if v.Me, err = cl.Me(ctx); err != nil {
		t.Fatal(err)
	}
	v.Me.Addrs = nil // the listen ports of the run
	if v.Settings, err = cl.Settings(ctx); err != nil {
		t.Fatal(err)
	}
	if v.Contacts, err = cl.Contacts(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range v.Contacts {
		v.Contacts[i].LastSeen = nil
	}
	cursor := ""
	for {
		p, err := cl.Conversations(ctx, cursor, 200)
		if err != nil {
			t.Fatal(err)
		}
		v.Conversations = append(v.Conversations, p.Conversations...)
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	v.Messages = map[string][]api.Message{}
	for _, c := range v.Conversations {
		v.Messages[c.ID] = messages(t, cl, c.ID)
	}
	v.Search = map[string][]api.Message{}
	for _, q := range queries {
		if v.Search[q], err = cl.Search(ctx, q, "", 200); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

package relaytest_test

import (
	"context"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relaytest"
)

// TestStartServesMailbox: a started relay registers a mailbox and restarts on its store.
func TestStartServesMailbox(t *testing.T) {
	r := relaytest.Start(t, nil)
	h, err := libp2p.New(libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	if err := h.Connect(ctx, r.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	id, _ := identity.Generate()
	if err := mailboxclient.Register(ctx, h, r.ID(), id); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	r2 := relaytest.StartIn(t, nil, r.Dir)
	if r2.ID() != r.ID() || r2.Stats().Mailboxes != 1 {
		t.Errorf("restart: id %s (was %s), %d mailboxes", r2.ID(), r.ID(), r2.Stats().Mailboxes)
	}
}

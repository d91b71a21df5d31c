package homerelays

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relaytest"
)

func TestSplitInvites(t *testing.T) {
	const a = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWBoQv9TvrzHChakjKzG7tgS6EZXh3YpZmRvmXn1ppmyrL"
	addrs, codes, err := SplitInvites([]string{a + InviteMark + "s3cret", a})
	if err != nil || len(addrs) != 2 || addrs[0] != a || addrs[1] != a || codes[a] != "s3cret" {
		t.Fatalf("got %q %q %v", addrs, codes, err)
	}
	for _, bad := range []string{a + InviteMark, "/ip4/127.0.0.1/tcp/4001", "not a multiaddr"} {
		if _, _, err := SplitInvites([]string{bad}); err == nil {
			t.Errorf("SplitInvites(%q) took it", bad)
		}
	}
}

// TestDrainsMailInOrderAndStocksPrekeys runs the home relays against a real relay: the node
// registers, uploads its prekeys, and mail deposited for it reaches Receive, in order; a
// batch Receive refuses stays at the relay and comes again.
func TestDrainsMailInOrderAndStocksPrekeys(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	relay := relaytest.Start(t, nil)
	addr := relay.Info.Addrs[0]
	id, _ := identity.Generate()
	ps, err := prekey.NewStore(id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	var mu sync.Mutex
	var got [][]byte
	refuse := true // the first batch is refused: it must be offered again
	uploads := 0
	r := New(Config{
		Host: h, Identity: id, Poll: 50 * time.Millisecond, Batch: 20,
		Receive: func(_ context.Context, envs [][]byte) error {
			mu.Lock()
			defer mu.Unlock()
			if refuse {
				refuse = false
				return errors.New("not durable")
			}
			got = append(got, envs...)
			return nil
		},
		PrekeyIDs: func() ([2]uint32, bool, error) {
			return [2]uint32{ps.SignedPrekey().ID(), ps.LastResortPrekey().ID()}, false, nil
		},
		Prekeys: func(_ context.Context, want int) (*mailboxclient.Upload, error) {
			mu.Lock()
			uploads++
			mu.Unlock()
			return &mailboxclient.Upload{SignedPrekey: ps.SignedPrekey(), LastResort: ps.LastResortPrekey(),
				OneTime: ps.OneTimePrekeys()[:want], PQOneTime: ps.PQOneTimePrekeys()[:want]}, nil
		},
	})
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, []string{addr}) }()
	wait.For(t, "registered at the relay", func() error {
		if !r.Connected(addr) {
			return errors.New("not connected")
		}
		return nil
	})
	rem, err := mailboxclient.PrekeyCount(ctx, h, relay.ID(), id)
	if err != nil || rem.OneTime != 20 || rem.PQOneTime != 20 {
		t.Fatalf("the relay holds %+v prekeys (%v), want 20 of each", rem, err)
	}

	sender, _ := identity.Generate()
	other, err := libp2p.New(libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Connect(ctx, relay.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	mbox := mailboxclient.MailboxID(id.Public())
	var sent [][]byte
	for i := range 3 {
		env, err := sealed.SealFrom(mbox, id.Public(), sender, fmt.Appendf(nil, "mail %d", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := mailboxclient.Deposit(ctx, other, relay.ID(), mbox, env); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, env)
	}
	wait.For(t, "the mail drained", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < len(sent) {
			return fmt.Errorf("%d of %d", len(got), len(sent))
		}
		return nil
	})
	mu.Lock()
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Errorf("envelope %d is not the %dth deposited", i, i)
		}
	}
	if len(got) != len(sent) {
		t.Errorf("received %d envelopes, %d deposited", len(got), len(sent))
	}
	if uploads != 1 {
		t.Errorf("%d uploads: unchanged prekey ids with a stocked relay must not upload again", uploads)
	}
	mu.Unlock()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

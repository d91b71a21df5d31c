package node_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/node/p2phost"
	"github.com/petrel-chat/petrel/relay/relaytest"
)

// TestLinkDeviceThroughRelay: alice's node listens on nothing and is reachable only through
// her home relay, whose circuits carry at most 128 KiB each (the relay's default). A new
// device links with her link through that circuit (the relay carries Noise ciphertext
// only) and receives a history several times larger than one circuit carries, complete and
// in order: the transfer resumes on fresh circuits where each one stopped. An attachment
// of three 1 MiB chunks, each larger than a circuit carries, comes in pieces and opens on
// the new device, byte for byte.
func TestLinkDeviceThroughRelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t, nil)
	bob := nodetest.Start(t, "bob")
	alice := nodetest.StartWith(t, "alice", func(c *node.Config) {
		c.ListenAddrs = []string{p2phost.ListenNone}
		c.Relays = []string{r.Info.Addrs[0]}
	})
	wait.For(t, "alice's circuit address at her relay", func() error {
		me, err := alice.Client.Me(ctx)
		if err != nil || len(me.Addrs) == 0 || !strings.Contains(me.Addrs[0], "/p2p-circuit") {
			return fmt.Errorf("addrs %v %v", me.Addrs, err)
		}
		return nil
	})
	toBob := nodetest.Befriend(t, alice, bob)
	body := strings.Repeat("a long letter. ", 4000) // 60 KB
	for i := range 8 {
		if _, err := alice.Client.Send(ctx, toBob.ConversationID, fmt.Sprintf("l%d", i), fmt.Sprintf("%d %s", i, body)); err != nil {
			t.Fatal(err)
		}
	}
	file := testFile(t, 2_500_000) // three chunks
	att, err := alice.Client.UploadMedia(ctx, bytes.NewReader(file), int64(len(file)), "walk.bin", "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := sendAttachments(t, alice.Client, toBob.ConversationID, "att", "the file", att.MediaID); code != http.StatusCreated {
		t.Fatalf("send with an attachment: %d", code)
	}
	want := history(t, alice.Client)
	dl, err := alice.Client.LinkDevice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	laptop, recs := nodetest.StartLinked(t, "laptop", dl.Link)
	if got := history(t, laptop.Client); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after %d records the laptop's history has %d lines, alice's %d", recs, len(got), len(want))
	}
	resp, err := laptop.Client.GetMedia(ctx, att.MediaID, "")
	if err != nil {
		t.Fatalf("the attachment on the laptop: %v", err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, file) {
		t.Fatalf("the laptop's copy of the attachment: %d bytes, %v; differs from alice's", len(got), err)
	}
}

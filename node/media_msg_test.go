package node_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/media"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/relay/relaytest"
)

// mediaPattern is a known 4 KiB block put into test files, looked for on every disk.
var mediaPattern = func() []byte {
	b := make([]byte, 4096)
	for i := range b {
		b[i] = "PETREL-MEDIA-PATTERN-"[i%21]
	}
	return b
}()

// testFile is n random bytes with mediaPattern at its start and every MiB.
func testFile(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for off := 0; off+len(mediaPattern) <= n; off += 1 << 20 {
		copy(b[off:], mediaPattern)
	}
	return b
}

// sendAttachments posts a message with attachments (API.md §6) and returns the status and
// the message.
func sendAttachments(t testing.TB, cl *localclient.Client, conv, client, body string, ids ...string) (int, api.Message) {
	t.Helper()
	req := api.SendRequest{ClientMsgID: client, Body: body}
	for _, id := range ids {
		req.Attachments = append(req.Attachments, api.Attachment{MediaID: id})
	}
	var out api.Message
	code, err := cl.DoStatus(context.Background(), "POST", "/v1/conversations/"+conv+"/messages", req, &out)
	if err != nil && code < 400 {
		t.Fatal(err)
	}
	return code, out
}

// attachmentState waits until n's message body in conv has one attachment in state and
// returns it.
func waitAttachment(t *testing.T, n *nodetest.Node, conv, body string, state media.State) api.Attachment {
	t.Helper()
	var got api.Attachment
	wait.For(t, fmt.Sprintf("%s: attachment of %q %s", n.Name, body, state), func() error {
		p, err := n.Client.Messages(context.Background(), conv, "", "", 200)
		if err != nil {
			return err
		}
		for _, m := range p.Messages {
			if m.Body != body {
				continue
			}
			if len(m.Attachments) != 1 {
				return fmt.Errorf("%d attachments", len(m.Attachments))
			}
			got = m.Attachments[0]
			if got.State != string(state) {
				return fmt.Errorf("state %q (%d received)", got.State, got.Received)
			}
			return nil
		}
		return errors.New("no such message yet")
	})
	return got
}

func readMedia(t testing.TB, n *nodetest.Node, id string) []byte {
	t.Helper()
	r, err := n.Node.Media().Open(id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMediaToOfflineContactComesFromTheRelay: alice sends a 20 MB file to bob while he is
// offline; her node leaves the ciphertext at her home relay; she stops; bob comes back and
// gets the file byte-identical from the relay. Neither node's data directory nor the
// relay's holds the file's plaintext.
func TestMediaToOfflineContactComesFromTheRelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t, nil)
	addr := r.Info.Addrs[0]
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	for _, n := range []*nodetest.Node{alice, bob} {
		n.Stop()
		n.Relays = []string{addr}
		n.Run()
	}
	toBob := nodetest.Befriend(t, alice, bob)
	bob.Stop()
	file := testFile(t, 20_000_000)
	a, err := alice.Node.Media().Put(ctx, bytes.NewReader(file), "big.bin", "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	code, msg := sendAttachments(t, alice.Client, toBob.ConversationID, "m1", "the file", a.MediaID)
	if code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("send: %d", code)
	}
	if len(msg.Attachments) != 1 || msg.Attachments[0].MediaID != a.MediaID || msg.Attachments[0].Size != int64(len(file)) {
		t.Fatalf("sent attachments %+v", msg.Attachments)
	}
	chunks := (len(file) + media.ChunkSize - 1) / media.ChunkSize
	wait.For(t, "the relay holds every chunk", func() error {
		if got := relayMetric(t, r, "petrel_relay_blob_blobs"); int(got) != chunks {
			return fmt.Errorf("%v blobs, want %d", got, chunks)
		}
		return nil
	})
	wait.For(t, "the message waits at the relay", allStatus(t, alice.Client, toBob.ConversationID, api.StatusSent))
	alice.Stop()
	bob.Run()
	// Over 16 MiB: it waits for a UI to ask (API.md §6), its size and name shown.
	got := waitAttachment(t, bob, toBob.ConversationID, "the file", media.Downloading)
	if got.Size != int64(len(file)) || got.Name != "big.bin" {
		t.Fatalf("bob's attachment before the download %+v", got)
	}
	if err := bob.Node.FetchMedia(ctx, got.MediaID); err != nil {
		t.Fatal(err)
	}
	got = waitAttachment(t, bob, toBob.ConversationID, "the file", media.Available)
	if got.Size != int64(len(file)) || got.SHA256 != a.SHA256 || got.Name != "big.bin" {
		t.Fatalf("bob's attachment %+v, sent %+v", got, a)
	}
	if !bytes.Equal(readMedia(t, bob, got.MediaID), file) {
		t.Fatal("bob's file differs from alice's")
	}
	bob.Stop()
	for _, dir := range []string{alice.Dir, bob.Dir, r.Dir} {
		nodetest.NoPlaintext(t, dir, string(mediaPattern))
	}
}

// TestMediaDirectFromSenderAndAttachmentLimits: with both online the file comes from the
// sender's node (no relay at all); more than ten attachments, or an unknown media id, are
// refused with 400 and nothing is sent.
func TestMediaDirectFromSenderAndAttachmentLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	toBob := nodetest.Befriend(t, alice, bob)
	file := testFile(t, 3<<20+17)
	a, err := alice.Node.Media().Put(ctx, bytes.NewReader(file), "notes.txt", "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 11)
	for i := range ids {
		ids[i] = a.MediaID
	}
	if code, _ := sendAttachments(t, alice.Client, toBob.ConversationID, "over", "eleven", ids...); code != http.StatusBadRequest {
		t.Fatalf("11 attachments: %d, want 400", code)
	}
	if code, _ := sendAttachments(t, alice.Client, toBob.ConversationID, "unknown", "who", "mnosuchmedia"); code != http.StatusBadRequest {
		t.Fatalf("unknown media id: %d, want 400", code)
	}
	if code, _ := sendAttachments(t, alice.Client, toBob.ConversationID, "ok", "", a.MediaID); code >= 300 {
		t.Fatalf("a message with only an attachment: %d", code)
	}
	got := waitAttachment(t, bob, toBob.ConversationID, "", media.Available)
	if !bytes.Equal(readMedia(t, bob, got.MediaID), file) {
		t.Fatal("bob's file differs")
	}
	if ms := messages(t, bob.Client, toBob.ConversationID); len(ms) != 1 {
		t.Fatalf("bob has %d messages, want only the valid one", len(ms))
	}
}

// TestMediaUnauthorizedPeerCannotFetch: a peer that is no contact, and a contact who is not
// in the conversation, ask alice's node for a chunk of the file she sent bob: both are
// forbidden, exactly like a file that does not exist.
func TestMediaUnauthorizedPeerCannotFetch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob, carol := nodetest.Start(t, "alice"), nodetest.Start(t, "bob"), nodetest.Start(t, "carol")
	toBob := nodetest.Befriend(t, alice, bob)
	nodetest.Befriend(t, alice, carol)
	a, err := alice.Node.Media().Put(ctx, bytes.NewReader(testFile(t, 100_000)), "secret.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := sendAttachments(t, alice.Client, toBob.ConversationID, "m", "for bob", a.MediaID); code >= 300 {
		t.Fatalf("send: %d", code)
	}
	waitAttachment(t, bob, toBob.ConversationID, "for bob", media.Available)
	mf, err := alice.Node.MediaManifest(a.MediaID)
	if err != nil {
		t.Fatal(err)
	}
	// bob, in the conversation, may fetch: the check below can fail.
	if st := fetchChunk(t, bob.Node.Host(), alice, mf.File); st != wire.ChunkOK {
		t.Fatalf("bob asked for the file he was sent: %v", st)
	}
	for who, h := range map[string]host.Host{"a stranger": bareHost(t), "carol (a contact, not in the conversation)": carol.Node.Host()} {
		if st := fetchChunk(t, h, alice, mf.File); st != wire.ChunkForbidden {
			t.Errorf("%s asked alice for bob's file: %v, want forbidden", who, st)
		}
	}
}

// fetchChunk asks n's node for chunk 0 of file f over the media protocol from h.
func fetchChunk(t *testing.T, h host.Host, n *nodetest.Node, f media.FileID) wire.ChunkStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	target := n.Node.Host()
	h.Peerstore().AddAddrs(target.ID(), target.Addrs(), time.Hour)
	s, err := h.NewStream(ctx, target.ID(), protocol.ID(wire.MediaProtocol))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rw := bufio.NewReadWriter(bufio.NewReader(s), bufio.NewWriter(s))
	if err := wire.WriteMediaFrame(rw.Writer, wire.AppendChunkRequest(nil, wire.ChunkRequest{File: f, Index: 0})); err != nil {
		t.Fatal(err)
	}
	if err := rw.Flush(); err != nil {
		t.Fatal(err)
	}
	b, err := wire.ReadMediaFrame(rw.Reader, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := wire.ParseChunkResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status
}

// TestMediaGroupOfFiveRelayHoldsItOnce: one member of a group of five sends a file; the
// other four each get it byte-identical, and the sender's relay holds its chunks once,
// not once per member.
func TestMediaGroupOfFiveRelayHoldsItOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t, nil)
	nodes := startNodes(t, 5, nil)
	nodes[0].Stop()
	nodes[0].Relays = []string{r.Info.Addrs[0]}
	nodes[0].Run()
	gid, _ := makeGroup(t, nodes, "five")
	file := testFile(t, 2<<20+99)
	a, err := nodes[0].Node.Media().Put(ctx, bytes.NewReader(file), "g.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := sendAttachments(t, nodes[0].Client, gid, "g1", "for all", a.MediaID); code >= 300 {
		t.Fatalf("send: %d", code)
	}
	for _, n := range nodes[1:] {
		got := waitAttachment(t, n, gid, "for all", media.Available)
		if !bytes.Equal(readMedia(t, n, got.MediaID), file) {
			t.Fatalf("%s: the file differs", n.Name)
		}
	}
	chunks := (len(file) + media.ChunkSize - 1) / media.ChunkSize
	wait.For(t, "the relay holds the file once", func() error {
		if got := relayMetric(t, r, "petrel_relay_blob_blobs"); int(got) != chunks {
			return fmt.Errorf("%v blobs, want %d", got, chunks)
		}
		return nil
	})
	if got := relayMetric(t, r, "petrel_relay_blob_puts_total"); int(got) != chunks {
		t.Fatalf("%v blob uploads for %d chunks: the group's file was not uploaded once", got, chunks)
	}
	// Padded: two full chunks of 1 MiB and the last padded to its 4 KiB..4 MiB bucket.
	if got, max := relayMetric(t, r, "petrel_relay_blob_bytes"), float64(chunks)*float64(media.SealedChunkSize); got > max {
		t.Fatalf("the relay holds %v bytes, more than one copy (%v)", got, max)
	}
	for _, n := range nodes {
		n.Stop()
		nodetest.NoPlaintext(t, n.Dir, string(mediaPattern))
	}
	nodetest.NoPlaintext(t, r.Dir, string(mediaPattern))
}

// TestMediaDownloadResumesAfterRestart: bob's node stops in the middle of a download from
// alice's relay; when it runs again the download goes on by itself from the chunks it had
// (none fetched twice is not claimed; none lost is), and the file is byte-identical.
func TestMediaDownloadResumesAfterRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t, nil)
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	for _, n := range []*nodetest.Node{alice, bob} {
		n.Stop()
		n.Relays = []string{r.Info.Addrs[0]}
		n.Run()
	}
	toBob := nodetest.Befriend(t, alice, bob)
	file := testFile(t, 64<<20)
	a, err := alice.Node.Media().Put(ctx, bytes.NewReader(file), "resume.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := sendAttachments(t, alice.Client, toBob.ConversationID, "r1", "resume", a.MediaID); code >= 300 {
		t.Fatalf("send: %d", code)
	}
	chunks := (len(file) + media.ChunkSize - 1) / media.ChunkSize
	wait.For(t, "the relay holds every chunk", func() error {
		if got := relayMetric(t, r, "petrel_relay_blob_blobs"); int(got) != chunks {
			return fmt.Errorf("%v blobs, want %d", got, chunks)
		}
		return nil
	})
	alice.Stop() // from the relay only
	got := waitAttachment(t, bob, toBob.ConversationID, "resume", media.Downloading)
	if err := bob.Node.FetchMedia(ctx, got.MediaID); err != nil {
		t.Fatal(err)
	}
	var before int64
	wait.For(t, "bob has part of the file", func() error {
		info, err := bob.Node.Media().Info(got.MediaID)
		if err != nil {
			return err
		}
		if info.State == media.Available {
			t.Fatal("the download ended before the test could stop it; make the file larger")
		}
		if info.Received == 0 {
			return errors.New("nothing yet")
		}
		before = info.Received
		return nil
	})
	bob.Stop()
	bob.Run()
	info, err := bob.Node.Media().Info(got.MediaID)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != media.Available && info.Received < before {
		t.Fatalf("after the restart bob has %d bytes, had %d", info.Received, before)
	}
	// No FetchMedia again: the pending download restarts with the node.
	done := waitAttachment(t, bob, toBob.ConversationID, "resume", media.Available)
	if !bytes.Equal(readMedia(t, bob, done.MediaID), file) {
		t.Fatal("the resumed file differs")
	}
}

package webui_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// TestWebUIDownloadRetry drives a received file's "failed" state in bob's page and its
// "Try again" button, with two real nodes and no relay, so the file's only source is
// alice's node.
//
// How the download fails, deterministically: blocking bob on alice's side also refuses
// her own sends to him, so she sends first. The file is just over 16 MiB, the size up to
// which a receiving node downloads by itself (node/attachments.AutoDownloadMax), so bob's
// node holds the message and does not touch the file until his page asks (its Download
// button). Alice blocks bob in between; her media server then answers his node's chunk
// requests "forbidden" (node/attachments.Service.Authorize), a definitive answer, and his
// download ends failed with that reason (node/media.Store.Download). Stopping alice's node
// instead would not do: a source that cannot be reached leaves the file downloading.
// Alice unblocks bob, bob presses "Try again", and the file arrives byte for byte.
func TestWebUIDownloadRetry(t *testing.T) {
	t.Parallel()
	br := startBrowser(t)
	art := artifactDir(t)
	ctx := context.Background()
	alice, bob := startPair(t, "alice", "bob", fastLive)
	if _, err := alice.Client.SetName(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	bp := newPage(t, br, "bob's browser")
	login(t, bp, bob)
	aToB, bToA := nodetest.BefriendBoth(t, alice, bob)
	goTo(bp, "#/c/"+bToA.ConversationID)
	bp.wait("bob's chat with alice", "document.querySelector('.chat-title')?.textContent === 'Alice'")

	const name = "survey-data.bin"
	const size = 16<<20 + 4099 // over the 16 MiB a node downloads by itself
	path, sum := writeRandom(t, t.TempDir(), name, size, 8)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	up, err := alice.Client.TusUpload(ctx, f, size, name, "application/octet-stream", 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	var sent api.Message
	if err := alice.Client.Do(ctx, "POST", "/v1/conversations/"+aToB.ConversationID+"/messages", api.SendRequest{ClientMsgID: "retry1", Body: "the survey", Attachments: []api.Attachment{{MediaID: up.MediaID}}}, &sent); err != nil {
		t.Fatal(err)
	}

	card := `[...document.querySelectorAll('.msg.theirs .att-file')].find(e => e.querySelector('.att-name')?.textContent === ` + jsString(name) + `)`
	bp.wait("the file waiting for a click at bob's", card+"?.querySelector('button.att-fetch') && "+card+".textContent.includes('Not downloaded yet')")
	bid := bp.str(card + ".dataset.media")
	t.Cleanup(func() {
		if t.Failed() {
			a, err := bob.Client.MediaInfo(context.Background(), bid)
			t.Logf("(on failure) bob's node on the file: %+v %v", a, err)
		}
	})

	blocked, unblocked := true, false
	if _, err := alice.Client.UpdateContact(ctx, aToB.ID, api.ContactPatch{Blocked: &blocked}); err != nil {
		t.Fatal(err)
	}
	bp.click(`.msg.theirs .att-file[data-media="` + bid + `"] button.att-fetch`)

	// Bob's node gives up on the file (it does not retry a refusal by itself) and says why.
	var failed api.Attachment
	wait.For(t, "bob's download refused by alice's node", func() error {
		a, err := bob.Client.MediaInfo(ctx, bid)
		if err != nil {
			return err
		}
		if a.State != api.MediaFailed {
			return fmt.Errorf("state %s, %v bytes", a.State, a.Received)
		}
		failed = a
		return nil
	})
	if !strings.Contains(failed.Error, "forbidden") {
		t.Fatalf("bob's failed download says %q: want alice's refusal (forbidden)", failed.Error)
	}
	if failed.Received == nil || *failed.Received != 0 {
		t.Fatalf("bob's node has %v bytes of a file alice refused", failed.Received)
	}

	// The page shows it as an alert, with the reason and a "Try again" button.
	alert := card + `?.querySelector('.att-state.failed[role="alert"]')`
	want := "This could not be downloaded: " + strings.TrimSuffix(failed.Error, ".") + ". "
	bp.wait("the failed alert with its reason at bob's", alert+"?.querySelector('span')?.textContent === "+jsString(want))
	retry := `.msg.theirs .att-file[data-media="` + bid + `"] .att-state.failed button.att-fetch`
	if got := bp.str("document.querySelector(" + jsString(retry) + ")?.textContent ?? ''"); got != "Try again" {
		t.Fatalf("the failed alert's button says %q, want \"Try again\"", got)
	}
	if got := bp.str("document.querySelector(" + jsString(retry) + ").getAttribute('aria-label')"); got != "Try again: "+name {
		t.Fatalf("the Try again button is labelled %q", got)
	}
	var hasLink bool
	bp.eval(card+".querySelector('a.att-dl') !== null", &hasLink)
	if hasLink {
		t.Fatal("a failed file offers a Download link")
	}
	bp.shot(art, "media-download-failed")

	// The cause goes away; "Try again" fetches the file.
	if _, err := alice.Client.UpdateContact(ctx, aToB.ID, api.ContactPatch{Blocked: &unblocked}); err != nil {
		t.Fatal(err)
	}
	bp.click(retry)
	bp.wait("the file available at bob's after trying again", card+"?.querySelector('a.att-dl[download]') && !"+card+".querySelector('.att-state')")
	href := bp.str(card + ".querySelector('a.att-dl').getAttribute('href')")
	if got := bp.pageSHA256(href); got != sum {
		t.Fatalf("GET %s in bob's page: sha256 %s, want %s", href, got, sum)
	}
	a, err := bob.Client.MediaInfo(ctx, bid)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != api.MediaAvailable || a.Error != "" || a.SHA256 != sum {
		t.Fatalf("bob's node on the file after trying again: %+v", a)
	}
}

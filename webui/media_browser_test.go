package webui_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// writePNG writes a w×h PNG with a gradient (so a thumbnail differs from the full image)
// and returns its path.
func writePNG(t *testing.T, dir, name string, w, h int, tint uint8) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), tint, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeRandom writes n pseudo-random bytes and returns the path and their sha256 (hex).
func writeRandom(t *testing.T, dir, name string, n int, seed uint64) (string, string) {
	t.Helper()
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return p, hex.EncodeToString(sum[:])
}

// pick puts files into the composer's file input, as the file picker would.
func (p *page) pick(files ...string) {
	p.t.Helper()
	p.wait("the attach input", "document.querySelector('#att-input')")
	p.do(chromedp.SetUploadFiles(chromedp.CSS("#att-input"), files))
}

// pageSHA256 fetches url in the page (with the page's own session) and returns the hex
// sha256 of the bytes it got.
func (p *page) pageSHA256(url string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(`+jsString(url)+`, {credentials: 'same-origin'}).then(async r => {
		if (!r.ok) return 'HTTP ' + r.status;
		const d = new Uint8Array(await crypto.subtle.digest('SHA-256', await r.arrayBuffer()));
		return [...d].map(x => x.toString(16).padStart(2, '0')).join('');
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: fetching %s: %v", p.name, url, err)
	}
	return s
}

// key sends one key to the focused element.
func (p *page) key(k string) {
	p.t.Helper()
	p.do(chromedp.KeyEvent(k))
}

// lastAttachment returns the newest message of conv on n with attachments.
func lastAttachment(t *testing.T, n *nodetest.Node, conv string) (api.Message, api.Attachment) {
	t.Helper()
	var m api.Message
	wait.For(t, "a message with an attachment on "+n.Name, func() error {
		page, err := n.Client.Messages(context.Background(), conv, "", "", 50)
		if err != nil {
			return err
		}
		for i := len(page.Messages) - 1; i >= 0; i-- {
			if len(page.Messages[i].Attachments) > 0 {
				m = page.Messages[i]
				return nil
			}
		}
		return os.ErrNotExist
	})
	return m, m.Attachments[len(m.Attachments)-1]
}

// interceptUploads pauses the page's requests to /v1/media/uploads at stage and lets decide
// (called in order, on one goroutine) answer each by its method: "continue", "fail" (a
// connection reset) or "hold" (left paused). It returns the methods seen and a stop that
// ends the interception; the test's end stops it too.
func interceptUploads(t *testing.T, p *page, stage fetch.RequestStage, decide func(method, url string) string) (seen func() []string, stop func()) {
	t.Helper()
	var mu sync.Mutex
	var methods []string
	paused := make(chan *fetch.EventRequestPaused, 64)
	lctx, cancel := context.WithCancel(p.ctx)
	if err := chromedp.Listen(lctx, func(ev any) {
		if e, ok := ev.(*fetch.EventRequestPaused); ok {
			select {
			case paused <- e:
			default:
			}
		}
	}); err != nil {
		cancel()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-lctx.Done():
				return
			case e := <-paused:
				mu.Lock()
				methods = append(methods, e.Request.Method)
				mu.Unlock()
				switch decide(e.Request.Method, e.Request.URL) {
				case "fail":
					_, _ = chromedp.Call(lctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: e.RequestID, ErrorReason: network.ErrorReasonConnectionReset})
				case "hold":
				default:
					_, _ = chromedp.Call(lctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: e.RequestID})
				}
			}
		}
	})
	if _, err := chromedp.Call(p.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/v1/media/uploads*", RequestStage: stage}}}); err != nil {
		cancel()
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, c := context.WithTimeout(p.ctx, waitFor)
			defer c()
			if _, err := chromedp.Call(ctx, fetch.Disable, cdp.Empty{}); err != nil {
				t.Errorf("ending the interception: %v", err)
			}
			cancel()
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), methods...)
	}, stop
}

// TestWebUIMedia drives attachments through the UI of two real nodes: images inline on
// both sides and in the lightbox (keyboard, focus, Escape), a file downloaded byte-identical
// on the other side, a voice note recorded with the microphone (chromium's fake device)
// and played, a large file through tus that resumes after a lost PATCH, and axe-core on
// the attachment tray and the lightbox. Screenshots at desktop and phone width.
func TestWebUIMedia(t *testing.T) {
	t.Parallel()
	axe := axeSource(t)
	br := startBrowser(t)
	art := artifactDir(t)
	files := t.TempDir()
	ctx := context.Background()
	alice, bob := startPair(t, "alice", "bob", fastLive)
	if _, err := alice.Client.SetName(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Client.SetName(ctx, "Bob"); err != nil {
		t.Fatal(err)
	}
	ap := newPage(t, br, "alice's browser")
	bp := newPage(t, br, "bob's browser")
	login(t, ap, alice)
	_, toA := nodetest.BefriendBoth(t, alice, bob)
	conv := toA.ConversationID
	login(t, bp, bob)
	goTo(ap, "#/c/"+conv)
	goTo(bp, "#/c/"+conv)
	ap.wait("alice's chat", "document.querySelector('.chat-title')?.textContent === 'Bob'")
	bp.wait("bob's chat", "document.querySelector('.chat-title')?.textContent === 'Alice'")
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("ImagesInlineOnBothSidesAndInTheLightbox", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		p1 := writePNG(t, files, "harbour.png", 800, 600, 40)
		p2 := writePNG(t, files, "lighthouse.png", 600, 900, 200)
		a.pick(p1, p2)
		a.wait("two images ready in the tray", "document.querySelectorAll('.att-tray .tray-item.done').length === 2 && [...document.querySelectorAll('.tray-thumb')].every(i => i.naturalWidth > 0)")
		a.shot(art, "media-tray")
		for _, scheme := range []string{"light", "dark"} {
			a.scheme(scheme)
			axeCheck(t, a, axe, "attachment tray ("+scheme+")")
		}
		a.scheme("light")
		a.typeInto(".compose-input", "the harbour at dawn\r")
		a.wait("the tray emptied", "document.querySelector('.att-tray').hidden")
		own := `[...document.querySelectorAll('.msg.own:not(.local)')].find(e => e.querySelector('.body')?.textContent === 'the harbour at dawn')`
		a.wait("both images inline on alice's side", own+"?.querySelectorAll('.att-image img[src^=\"blob:\"]').length === 2 && [..."+own+".querySelectorAll('.att-image img')].every(i => i.naturalWidth > 0)")
		t.Cleanup(func() {
			if t.Failed() {
				pg, _ := bob.Client.Messages(context.Background(), conv, "", "", 50)
				for _, m := range pg.Messages {
					t.Logf("(on failure) bob's message %s: %+v", m.ID, m.Attachments)
				}
				var dbg any
				b.eval("[...document.querySelectorAll('.att')].map(e => e.className + ' ' + (e.querySelector('img')||{}).src)", &dbg)
				t.Logf("(on failure) the attachment elements at bob's: %v", dbg)
			}
		})
		theirs := `[...document.querySelectorAll('.msg.theirs')].find(e => e.querySelector('.body')?.textContent === 'the harbour at dawn')`
		b.wait("both images inline on bob's side", theirs+"?.querySelectorAll('.att-image img[src^=\"blob:\"]').length === 2 && [..."+theirs+".querySelectorAll('.att-image img')].every(i => i.naturalWidth > 0)")
		var w int
		b.eval(theirs+".querySelector('.att-image img').naturalWidth", &w)
		if w > 320 {
			t.Fatalf("bob's inline image is %d px wide: the thumbnail (≤ 320 px) should show, not the full image", w)
		}
		b.shot(art, "media-images")
		b.viewport(390, 844)
		b.shot(art, "media-images-phone")
		b.viewport(1200, 800)

		// The lightbox: the full image, focus inside, arrows between the images, Escape.
		first := b.str(theirs + ".querySelector('.att-image').dataset.media")
		b.click(`.msg.theirs .att-image[data-media="` + first + `"]`)
		b.wait("the lightbox with the full image", "document.querySelector('dialog.lightbox[open]') && document.querySelector('.lb-img').naturalWidth === 800 && document.querySelector('.lb-count').textContent === 'Image 1 of 2'")
		b.wait("focus in the lightbox", "document.querySelector('dialog.lightbox').contains(document.activeElement)")
		b.shot(art, "media-lightbox")
		for _, scheme := range []string{"light", "dark"} {
			b.scheme(scheme)
			axeCheck(t, b, axe, "lightbox ("+scheme+")")
		}
		b.scheme("light")
		full := b.str("document.querySelector('.lb-img').src")
		b.key(kb.ArrowRight)
		b.wait("the second image", "document.querySelector('.lb-count').textContent === 'Image 2 of 2' && document.querySelector('.lb-img').alt === 'lighthouse.png' && document.querySelector('.lb-img').naturalWidth === 600")
		b.key(kb.ArrowLeft)
		b.wait("back to the first", "document.querySelector('.lb-count').textContent === 'Image 1 of 2' && document.querySelector('.lb-img').naturalWidth === 800")
		for range 6 {
			b.key(kb.Tab)
			var in bool
			b.eval("document.querySelector('dialog.lightbox').contains(document.activeElement)", &in)
			if !in {
				t.Fatalf("Tab moved focus out of the lightbox to %s", b.str("document.activeElement.outerHTML.slice(0, 120)"))
			}
		}
		b.viewport(390, 844)
		b.shot(art, "media-lightbox-phone")
		b.viewport(1200, 800)
		b.key(kb.Escape)
		b.wait("the lightbox closed, focus back on the image", "!document.querySelector('dialog.lightbox') && document.activeElement.dataset.media === "+jsString(first))
		// The full image's object URL is revoked once nothing shows it.
		var alive string
		ctx, cancel := context.WithTimeout(b.ctx, waitFor)
		defer cancel()
		alive, err := chromedp.Run(ctx, chromedp.Evaluate[string]("new Promise(r => { const i = new Image(); i.onload = () => r('alive'); i.onerror = () => r('revoked'); i.src = "+jsString(full)+" })", chromedp.EvalAwaitPromise))
		if err != nil || alive != "revoked" {
			t.Fatalf("the lightbox's object URL after closing: %q %v, want revoked", alive, err)
		}
	})

	step("DropPasteAndAtMostTen", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		// Files dropped onto the conversation and an image pasted into the composer land in
		// the tray; past ten the tray says why it took no more; removing one frees a place.
		a.eval(`(() => {
			const dt = new DataTransfer();
			for (let i = 0; i < 9; i++) dt.items.add(new File(['dropped ' + i], 'dropped-' + i + '.txt', { type: 'text/plain' }));
			const chat = document.querySelector('.chat');
			chat.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true }));
			window.__dropShown = !document.querySelector('.drop-zone').hidden;
			chat.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
			return true
		})()`, nil)
		var shown bool
		a.eval("window.__dropShown && document.querySelector('.drop-zone').hidden", &shown)
		if !shown {
			t.Fatal("the drop zone did not show while dragging, or stayed after the drop")
		}
		a.wait("nine dropped files uploaded", "document.querySelectorAll('.att-tray .tray-item.done').length === 9")
		a.eval(`(() => {
			const dt = new DataTransfer();
			dt.items.add(new File([Uint8Array.from(atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='), c => c.charCodeAt(0))], 'image.png', { type: 'image/png' }));
			dt.items.add(new File(['one too many'], 'eleventh.txt', { type: 'text/plain' }));
			document.querySelector('.compose-input').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
			return true
		})()`, nil)
		a.wait("the pasted image in the tray and a note about the limit", "document.querySelectorAll('.att-tray .tray-item').length === 10 && [...document.querySelectorAll('.tray-item')].some(e => /^pasted-.*\\.png$/.test(e.dataset.name)) && document.querySelector('.att-note').textContent.includes('up to 10')")
		a.shot(art, "media-tray-full")
		a.viewport(390, 844)
		a.shot(art, "media-tray-phone")
		a.viewport(1200, 800)
		a.click(".tray-item .tray-remove")
		a.wait("nine left", "document.querySelectorAll('.att-tray .tray-item').length === 9")
		a.wait("all uploaded", "document.querySelectorAll('.att-tray .tray-item.done').length === 9")
		a.click(".send-btn")
		b.wait("a message with nine attachments at bob's", "[...document.querySelectorAll('.msg.theirs .attachments.media')].some(e => e.querySelectorAll('.att').length === 9)")
	})

	step("FileDownloadsByteIdenticalOnTheOtherSide", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		path, sum := writeRandom(t, files, "minutes 2026 ü.bin", 700*1024+13, 1)
		a.pick(path)
		a.wait("the file ready in the tray", "document.querySelector('.att-tray .tray-item.done')")
		a.click(".send-btn")
		card := `[...document.querySelectorAll('.msg.theirs .att-file')].find(e => e.querySelector('.att-name').textContent === 'minutes 2026 ü.bin')`
		b.wait("the file card at bob's with its size and a download link", card+"?.querySelector('a.att-dl[download]') && "+card+".textContent.includes('700.0 KiB')")
		b.shot(art, "media-file")
		href := b.str(card + ".querySelector('a.att-dl').getAttribute('href')")
		if got := b.str(card + ".querySelector('a.att-dl').getAttribute('download')"); got != "minutes 2026 ü.bin" {
			t.Fatalf("the download is named %q", got)
		}
		// A real download through the link, into a directory, compared byte for byte.
		dl := t.TempDir()
		bctx := chromedp.FromContext(b.ctx).BrowserContextID
		if _, err := chromedp.CallBrowser(b.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, BrowserContextID: bctx, DownloadPath: dl,
		}); err != nil {
			t.Fatal(err)
		}
		b.eval(card+".querySelector('a.att-dl').click()", nil)
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		wait.For(t, "the downloaded file in "+dl, func() error {
			got, err := os.ReadFile(filepath.Join(dl, "minutes 2026 ü.bin"))
			if err != nil {
				return err
			}
			if !bytes.Equal(got, want) {
				return os.ErrInvalid
			}
			return nil
		})
		if got := b.pageSHA256(href); got != sum {
			t.Fatalf("GET %s in bob's page: sha256 %s, want %s", href, got, sum)
		}
	})

	step("VoiceNoteRecordedAndPlayed", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		a.click(".mic-btn")
		a.wait("the recording bar", "!document.querySelector('.rec-bar').hidden && document.querySelector('.compose-row').hidden")
		a.wait("a second of recording", "document.querySelector('.rec-time')?.textContent === '0:01'")
		a.shot(art, "media-recording")
		a.click(".rec-send")
		a.wait("the composer back", "document.querySelector('.rec-bar').hidden && !document.querySelector('.compose-row').hidden")
		a.wait("the voice note on alice's side", "document.querySelector('.msg.own:not(.local) .att-audio.voice audio')")
		_, att := lastAttachment(t, alice, conv)
		if !strings.HasPrefix(att.Name, "voice-note-") || (att.MIME != "audio/webm" && att.MIME != "audio/ogg") || att.Size < 1000 {
			t.Fatalf("the voice note's attachment: %+v", att)
		}
		var batt api.Attachment
		wait.For(t, "the voice note on bob's node", func() error {
			if _, batt = lastAttachment(t, bob, conv); batt.SHA256 != att.SHA256 {
				return os.ErrNotExist
			}
			return nil
		})
		sel := `.msg.theirs .att-audio.voice[data-media="` + batt.MediaID + `"] audio`
		b.wait("the voice note at bob's", "document.querySelector('"+sel+"')")
		b.eval("(document.querySelector('"+sel+"').play(), true)", nil)
		b.wait("the voice note playing at bob's", "document.querySelector('"+sel+"').currentTime > 0.3 && !document.querySelector('"+sel+"').error")
		b.shot(art, "media-voice")
		b.viewport(390, 844)
		b.shot(art, "media-voice-phone")
		b.viewport(1200, 800)
	})

	step("LargeFileThroughTusResumesAfterALostPatch", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		path, sum := writeRandom(t, files, "archive.tar", 12<<20+777, 2)
		// Intercept alice's tus requests: the answer to the second PATCH is lost on the
		// way back (the node has stored the chunk; the page sees a network error).
		patches := 0
		seen, stop := interceptUploads(t, a, fetch.RequestStageResponse, func(method, _ string) string {
			if method == "PATCH" {
				if patches++; patches == 2 {
					return "fail"
				}
			}
			return "continue"
		})
		a.pick(path)
		a.wait("the upload progress in the tray", "document.querySelector('.att-tray .tray-item progress') || document.querySelector('.att-tray .tray-item.done')")
		a.shot(art, "media-upload-progress")
		a.wait("the large file uploaded", "document.querySelector('.att-tray .tray-item.done')")
		stop()
		got := strings.Join(seen(), " ")
		if !strings.HasPrefix(got, "POST PATCH PATCH HEAD PATCH") {
			t.Fatalf("the tus requests were %q: want create, a PATCH, the lost PATCH, a HEAD to resume, then PATCHes from the node's offset", got)
		}
		a.typeInto(".compose-input", "the archive\r")
		card := `[...document.querySelectorAll('.msg.theirs .att-file')].find(e => e.querySelector('.att-name').textContent === 'archive.tar')`
		b.wait("the large file available at bob's", card+"?.querySelector('a.att-dl[download]')")
		if got := b.pageSHA256(b.str(card + ".querySelector('a.att-dl').getAttribute('href')")); got != sum {
			t.Fatalf("the large file at bob's: sha256 %s, want %s", got, sum)
		}
		_, att := lastAttachment(t, bob, conv)
		if att.Name != "archive.tar" || att.Size != 12<<20+777 || att.SHA256 != sum {
			t.Fatalf("bob's attachment %+v", att)
		}
	})

	step("UploadCancelled", func(t *testing.T) {
		a, b := ap.in(t), bp.in(t)
		path, _ := writeRandom(t, files, "second thoughts.tar", 10<<20, 4)
		// The first PATCH is held in the browser, so the upload is in flight when cancelled.
		var mu sync.Mutex
		var upload string
		seen, stop := interceptUploads(t, a, fetch.RequestStageRequest, func(method, url string) string {
			if method == "PATCH" {
				mu.Lock()
				upload = url
				mu.Unlock()
				return "hold"
			}
			return "continue"
		})
		a.pick(path)
		a.wait("the upload in progress with its cancel button", "document.querySelector('.att-tray .tray-item.uploading .tray-remove')?.getAttribute('aria-label') === 'Cancel uploading second thoughts.tar'")
		wait.For(t, "the first PATCH held in the browser", func() error {
			if !slices.Contains(seen(), "PATCH") {
				return fmt.Errorf("requests %v", seen())
			}
			return nil
		})
		a.click(".tray-item.uploading .tray-remove")
		a.wait("the tray empty", "document.querySelector('.att-tray').hidden && !document.querySelector('.tray-item')")
		// The upload is terminated at the node, not left to its clean-up.
		wait.For(t, "the cancelled upload terminated at alice's node", func() error {
			if !slices.Contains(seen(), "DELETE") {
				return fmt.Errorf("requests %v: no tus termination", seen())
			}
			mu.Lock()
			u, err := neturl.Parse(upload)
			mu.Unlock()
			if err != nil {
				return wait.Final(err)
			}
			_, _, err = alice.Client.ResumeUpload(u.Path, 10<<20).Offset(ctx)
			if ae := (*localclient.APIError)(nil); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
				return fmt.Errorf("the upload at the node after the DELETE: %v, want 404", err)
			}
			return nil
		})
		stop()
		a.typeInto(".compose-input", "never mind\r")
		msg := `[...document.querySelectorAll('.msg.theirs')].find(e => e.querySelector('.body')?.textContent === 'never mind')`
		b.wait("the text alone at bob's", msg)
		var n int
		b.eval(msg+".querySelectorAll('.att').length", &n)
		if n != 0 {
			t.Fatalf("the cancelled upload was sent along: %d attachments", n)
		}
	})

	step("FileOver16MiBDownloadsWhenAsked", func(t *testing.T) {
		b := bp.in(t)
		path, sum := writeRandom(t, files, "film.mkv.bin", 20<<20+5, 3)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		att, err := alice.Client.TusUpload(ctx, f, 20<<20+5, "film.mkv.bin", "application/octet-stream", 4<<20)
		if err != nil {
			t.Fatal(err)
		}
		var m api.Message
		if err := alice.Client.Do(ctx, "POST", "/v1/conversations/"+conv+"/messages", api.SendRequest{ClientMsgID: "big1", Body: "the film", Attachments: []api.Attachment{{MediaID: att.MediaID}}}, &m); err != nil {
			t.Fatal(err)
		}
		card := `[...document.querySelectorAll('.msg.theirs .att-file')].find(e => e.querySelector('.att-name').textContent === 'film.mkv.bin')`
		b.wait("the large file waiting for a click at bob's", card+"?.querySelector('button.att-fetch') && "+card+".textContent.includes('Not downloaded yet')")
		b.shot(art, "media-large-waiting")
		// Record whether the card ever shows the download's progress (message_update events).
		b.eval(`(() => { window.__progress = []; new MutationObserver(() => {
			const p = `+card+`?.querySelector('progress');
			if (p && !window.__progress.includes(p.value)) window.__progress.push(p.value);
		}).observe(document.body, { subtree: true, childList: true }); return true })()`, nil)
		b.eval(card+".querySelector('button.att-fetch').click()", nil)
		bid := b.str(card + ".dataset.media")
		wait.For(t, "the 20 MiB file on bob's node", func() error {
			a, err := bob.Client.MediaInfo(ctx, bid)
			if err != nil {
				return err
			}
			if a.State != api.MediaAvailable {
				return fmt.Errorf("%s, %d of %d bytes", a.State, a.Received, a.Size)
			}
			return nil
		})
		b.wait("the large file downloaded at bob's (after its progress)", card+"?.querySelector('a.att-dl[download]')")
		if got := b.pageSHA256(b.str(card + ".querySelector('a.att-dl').getAttribute('href')")); got != sum {
			t.Fatalf("the 20 MiB file at bob's: sha256 %s, want %s", got, sum)
		}
		var progress []float64
		b.eval("window.__progress", &progress)
		t.Logf("progress values shown while downloading: %v", progress)
		if len(progress) == 0 {
			t.Fatal("the card never showed the download's progress")
		}
	})
}

package webui_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// browserEnv makes the browser tests mandatory (.ci/run sets it): without chromium they fail.
const browserEnv = "PETREL_BROWSER_TESTS"

// waitFor bounds every wait for a condition in the page.
const waitFor = 20 * time.Second

// findChromium returns the browser to drive, or fails/skips the test as browserEnv says.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(browserEnv) == "0" {
		t.Skipf("!!! SKIPPING the web UI browser tests: no chromium found, and %s=0 opts out of them", browserEnv)
	}
	t.Fatalf("the web UI browser tests need chromium, which was not found: install it with `apt-get install chromium fonts-noto-color-emoji` (Debian/Ubuntu), or opt out explicitly with %s=0", browserEnv)
	return ""
}

// browser is the one headless chromium the package's tests share (each test's pages get
// their own browser contexts, so nothing is shared between tests but the process): one
// browser, not one per test, keeps the suite light on a 2-core CI machine. TestMain stops it.
var sharedBrowser struct {
	once    sync.Once
	ctx     context.Context
	cancel  func()
	dataDir string
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedBrowser.cancel != nil {
		sharedBrowser.cancel()
	}
	if sharedBrowser.dataDir != "" {
		os.RemoveAll(sharedBrowser.dataDir)
	}
	os.Exit(code)
}

// startBrowser returns the shared headless chromium, starting it on first use.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := findChromium(t)
	sharedBrowser.once.Do(func() {
		dir, err := os.MkdirTemp("", "petrel-webui-chromium-")
		if err != nil {
			sharedBrowser.err = err
			return
		}
		sharedBrowser.dataDir = dir
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			chromedp.UserDataDir(dir),
			chromedp.NoSandbox, // CI runs as root
			chromedp.WindowSize(1200, 800),
			chromedp.Flag("hide-scrollbars", true),
			// A microphone for the voice-note test: chromium's fake device, granted without a
			// prompt, and media that may play without a click.
			chromedp.Flag("use-fake-ui-for-media-stream", true),
			chromedp.Flag("use-fake-device-for-media-stream", true),
			chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		)
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(allocCtx)
		sharedBrowser.ctx = ctx
		sharedBrowser.cancel = func() {
			cancel()
			cancelAlloc()
		}
		sharedBrowser.err = chromedp.Do(ctx)
	})
	if sharedBrowser.err != nil {
		t.Fatalf("starting %s: %v", path, sharedBrowser.err)
	}
	return sharedBrowser.ctx
}

// page is one tab in its own browser context (separate cookies and storage: a separate
// "browser" as far as the UI can tell).
type page struct {
	t    *testing.T
	name string
	ctx  context.Context
}

func newPage(t *testing.T, browser context.Context, name string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: new tab: %v", name, err)
	}
	p := &page{t: t, name: name, ctx: ctx}
	p.viewport(1200, 800)
	// Record CSP violations and uncaught errors of every document this tab loads, in
	// sessionStorage so they survive reloads; problems() reads them.
	p.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: watchProblems})
		return err
	}))
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		if probs := p.problems(); len(probs) > 0 {
			t.Errorf("%s: the page had problems: %q", name, probs)
		}
	})
	return p
}

// in returns the page bound to t (a subtest must fail itself, not its parent).
func (p *page) in(t *testing.T) *page { return &page{t: t, name: p.name, ctx: p.ctx} }

const watchProblems = `(() => {
	const note = (s) => {
		try {
			const k = '__petrel_test_problems';
			const a = JSON.parse(sessionStorage.getItem(k) || '[]');
			a.push(String(s).slice(0, 300));
			sessionStorage.setItem(k, JSON.stringify(a));
		} catch (e) {}
	};
	document.addEventListener('securitypolicyviolation', (e) => note('CSP ' + e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber));
	window.addEventListener('error', (e) => note('error ' + e.message + ' ' + e.filename + ':' + e.lineno));
	window.addEventListener('unhandledrejection', (e) => note('unhandled rejection ' + (e.reason && e.reason.stack || e.reason)));
})()`

// problems returns the CSP violations and uncaught errors the tab has seen.
func (p *page) problems() []string {
	var out []string
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string]("sessionStorage.getItem('__petrel_test_problems') || '[]'"))
	if err != nil {
		return []string{"cannot read: " + err.Error()}
	}
	_ = json.Unmarshal([]byte(s), &out)
	return out
}

// do runs actions with a deadline.
func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// eval evaluates a JavaScript expression and decodes its JSON value into out.
func (p *page) eval(expr string, out any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage]("JSON.stringify((() => { return "+expr+" })() ?? null)"))
	if err != nil {
		p.t.Fatalf("%s: eval %s: %v", p.name, expr, err)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		p.t.Fatalf("%s: eval %s: %v (%s)", p.name, expr, err, v)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(s), out); err != nil {
			p.t.Fatalf("%s: eval %s: %v (%s)", p.name, expr, err, s)
		}
	}
}

func (p *page) str(expr string) string {
	p.t.Helper()
	var s string
	p.eval(expr, &s)
	return s
}

// wait polls a JavaScript condition until it is truthy; on timeout it fails with what and
// the page's visible text, to show what the user would have seen.
func (p *page) wait(what, cond string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	var err error
	for {
		_, err = chromedp.Run(ctx, chromedp.Poll[bool]("!!("+cond+")", chromedp.WithPollingInterval(40*time.Millisecond), chromedp.WithPollingTimeout(waitFor)))
		if err == nil || ctx.Err() != nil {
			break
		}
		// The page navigated or reloaded under the poll (its JavaScript context went away):
		// poll again in the new document.
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		var text string
		tctx, tcancel := context.WithTimeout(p.ctx, 5*time.Second)
		defer tcancel()
		text, _ = chromedp.Run(tctx, chromedp.Evaluate[string]("document.body.innerText.slice(0, 2000)"))
		p.t.Fatalf("%s: waiting for %s (%s): %v\npage text:\n%s", p.name, what, cond, err, text)
	}
}

func (p *page) navigate(url string) {
	p.t.Helper()
	p.do(chromedp.Navigate(url))
}

// click clicks the first element matching a CSS selector (through the DOM, like a user
// pressing it: it need not be under the mouse).
func (p *page) click(sel string) {
	p.t.Helper()
	p.wait("element "+sel, "document.querySelector("+jsString(sel)+")")
	p.eval("document.querySelector("+jsString(sel)+").click()", nil)
}

// typeInto focuses an element and types text with real key events ("\r" is Enter).
func (p *page) typeInto(sel, text string) {
	p.t.Helper()
	p.do(chromedp.SendKeys(chromedp.CSS(sel), text))
}

// scheme switches prefers-color-scheme.
func (p *page) scheme(s string) {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: s}},
		})
		return err
	}))
}

// viewport sets the page's size (a phone is 390×844).
func (p *page) viewport(w, h int64) {
	p.t.Helper()
	p.do(chromedp.EmulateViewport(w, h))
}

// shot saves a PNG of the viewport into the artifact directory.
func (p *page) shot(dir, name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	// Let fonts and layout settle: wait two animation frames.
	_, _ = chromedp.Run(ctx, chromedp.Evaluate[bool]("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))", chromedp.EvalAwaitPromise))
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("%s: screenshot %s: %v", p.name, name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// artifactDir is where screenshots go: $PETREL_ARTIFACTS/webui when set (CI keeps it),
// else a temporary directory that is logged and removed after the test.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if root := os.Getenv("PETREL_ARTIFACTS"); root != "" {
		dir = filepath.Join(root, "webui")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots of the web UI: %s", dir)
	return dir
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

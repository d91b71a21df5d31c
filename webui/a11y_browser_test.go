package webui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// axeVersion is the axe-core release the accessibility test runs (.ci/run installs it with
// npm into a cache directory; PETREL_AXE names its axe.min.js).
const axeVersion = "4.14.1"

// axeSource returns axe.min.js: from $PETREL_AXE, else from the cache directory .ci/run
// installs into. Without it the test fails, naming it (PETREL_BROWSER_TESTS=0 opts out).
func axeSource(t *testing.T) string {
	t.Helper()
	var tried []string
	paths := []string{os.Getenv("PETREL_AXE")}
	if home, err := os.UserCacheDir(); err == nil {
		paths = append(paths, filepath.Join(home, "petrel-axe", "node_modules", "axe-core", "axe.min.js"))
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		tried = append(tried, p)
		if b, err := os.ReadFile(p); err == nil {
			return string(b)
		}
	}
	msg := fmt.Sprintf("axe-core %s (axe.min.js) not found (tried %v): install it with `npm install --prefix ~/.cache/petrel-axe axe-core@%s`, or set PETREL_AXE to its axe.min.js", axeVersion, tried, axeVersion)
	if os.Getenv(browserEnv) == "0" {
		t.Skip("!!! SKIPPING the accessibility test (" + browserEnv + "=0 opts out): " + msg)
	}
	t.Fatal(msg)
	return ""
}

type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
	Summary string   `json:"summary"`
}

// axeCheck runs axe-core on the page as it is and fails on any serious or critical
// violation, listing each with where it is.
func axeCheck(t *testing.T, p *page, src, screen string) {
	t.Helper()
	var have bool
	p.eval("typeof window.axe === 'object'", &have)
	if !have {
		ctx, cancel := context.WithTimeout(p.ctx, waitFor)
		defer cancel()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](src+";true")); err != nil {
			t.Fatalf("%s: injecting axe-core: %v", screen, err)
		}
		if v := p.str("axe.version"); v != axeVersion {
			t.Fatalf("axe-core is %s, want %s", v, axeVersion)
		}
	}
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, { resultTypes: ['violations'] }).then(r => JSON.stringify(r.violations
		.filter(v => v.impact === 'serious' || v.impact === 'critical')
		.map(v => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map(n => n.target.join(' ')), summary: (v.nodes[0] || {}).failureSummary || '' }))))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: running axe-core: %v", screen, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("%s: axe %s (%s): %s at %v\n%s", screen, v.ID, v.Impact, v.Help, v.Targets, v.Summary)
	}
}

// TestWebUIAccessibility runs axe-core on every main screen, in light and dark, at desktop
// width (and the chat on a phone): no serious or critical violation.
func TestWebUIAccessibility(t *testing.T) {
	t.Parallel()
	src := axeSource(t)
	browser := startBrowser(t)
	ctx := context.Background()
	alice, bob := startPair(t, "alice", "bob", fastLive)
	if _, err := alice.Client.SetName(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Client.SetName(ctx, "Bob"); err != nil {
		t.Fatal(err)
	}
	ap := newPage(t, browser, "alice's browser")
	login(t, ap, alice)
	a := ap
	a.wait("the first-run screen", "document.querySelector('.welcome .qr img')")
	screens := []struct{ name, hash, ready string }{{"first-run", "", ""}}
	runAll := func(list []struct{ name, hash, ready string }) {
		for _, scheme := range []string{"light", "dark"} {
			a.scheme(scheme)
			for _, s := range list {
				if s.hash != "" {
					goTo(a, s.hash)
				}
				if s.ready != "" {
					a.wait(s.name, s.ready)
				}
				axeCheck(t, a, src, s.name+" ("+scheme+")")
			}
		}
		a.scheme("light")
	}
	runAll(screens)

	_, toA := nodetest.BefriendBoth(t, alice, bob)
	conv := toA.ConversationID
	me := nodetest.UserID(t, bob)
	grp, err := alice.Client.CreateGroup(ctx, "Book club", []string{me})
	if err != nil {
		t.Fatal(err)
	}
	m := send(t, bob.Client, conv, "a1", "hi *alice*, see https://example.com")
	send(t, alice.Client, conv, "a2", "hello _bob_ 👋")
	wait.For(t, "alice reacts to bob's message", func() error {
		_, err := alice.Client.React(ctx, m.ID, "👍", false)
		return err
	})
	wait.For(t, "the group at bob's", func() error {
		_, err := bob.Client.Conversation(ctx, grp.ID)
		return err
	})
	send(t, bob.Client, grp.ID, "g1", "group hello from bob")
	send(t, alice.Client, grp.ID, "g2", "and from alice")
	c, err := alice.Client.Contacts(ctx)
	if err != nil || len(c) != 1 {
		t.Fatalf("contacts %v %v", c, err)
	}
	goTo(a, "#/")
	screens = []struct{ name, hash, ready string }{
		{"home", "#/", "document.querySelectorAll('.conv-list li').length === 2"},
		{"chat", "#/c/" + conv, "document.querySelectorAll('.msg').length === 2 && document.querySelector('.msg.theirs .reaction')"},
		{"message menu", "", "(document.querySelector('.msg.theirs .msg-more').click(), !document.querySelector('.menu').hidden)"},
		{"chat search", "", "(document.querySelector('#chat-search-btn').click(), !document.querySelector('.chat-search').hidden)"},
		{"group chat", "#/c/" + grp.ID, "document.querySelectorAll('.msg').length === 2 && document.querySelector('.sys') && document.querySelector('.msg .sender')"},
		{"delete confirmation", "", "(document.querySelector('.msg.own .msg-more').click(), document.querySelector('.menu [data-action=delete-everyone]').click(), document.querySelector('dialog[open]'))"},
		{"group info", "#/group/" + grp.ID, "(document.querySelector('dialog[open] button')?.click(), document.querySelector('.member-list .member'))"},
		{"new group", "#/new-group", "document.querySelector('#ng-name')"},
		{"new chat", "#/new", "document.querySelector('.new-chat a.pick')"},
		{"add contact", "#/add", "document.querySelector('.welcome .qr img')"},
		{"contact", "#/contact/" + c[0].ID, "document.querySelector('.safety-qr img')"},
		{"settings", "#/settings", "document.querySelector('.about dd')"},
		{"search", "#/search", "document.querySelector('#search-q')"},
	}
	runAll(screens)
	a.viewport(390, 844)
	runAll([]struct{ name, hash, ready string }{
		{"phone list", "#/", "document.querySelector('.conv-list li')"},
		{"phone chat", "#/c/" + conv, "document.querySelectorAll('.msg').length === 2"},
	})
	a.viewport(1200, 800)
	// The offline bar too.
	goTo(a, "#/c/"+conv)
	alice.APIAddr = strings.TrimPrefix(alice.Info.URL, "http://")
	alice.Stop()
	a.wait("the offline bar", "document.body.dataset.conn === 'offline'")
	runAll([]struct{ name, hash, ready string }{{"offline", "", ""}})
	alice.Run()
}

package webui_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/petrel-chat/petrel/webui"
)

// storeChecks runs in the page against the UI's own modules (state.js, dom.js) and returns
// the list of failed checks. They cover what no two-node scenario can produce on demand:
// replays overlapping what is already applied, updates racing messages, ephemeral frames.
const storeChecks = `(async () => {
  const { Store } = await import('/js/state.js');
  const { h, highlight, initials } = await import('/js/dom.js');
  const fails = [];
  const check = (ok, what) => { if (!ok) fails.push(what); };
  const me = 'u-me', them = 'u-them', conv = 'c1';
  const msg = (id, o) => Object.assign({ id, conversation_id: conv, client_msg_id: 'cm-' + id, sender_id: them, body: 'b' + id,
    reply_to: null, attachments: [], sent_at: 1000, received_at: 1000, order: 'o' + id.slice(1), status: 'delivered',
    receipts: { delivered: 0, read: 0, total: 1 }, edited_at: null, deleted: false, reactions: {} }, o || {});
  const ev = (seq, kind, m) => ({ type: 'event', seq, kind, message: m });

  const s = new Store();
  s.me = { user_id: me };
  s.seq = 10;
  s.setConversations([{ id: conv, type: 'direct', name: 'Them', members: [], last_message: null, unread_count: 0, updated_at: 0 }]);

  // Events at or below the loaded seq were part of the REST load: ignored.
  check(!s.applyFrame(ev(10, 'message', msg('m0'))), 'an event at the loaded seq was applied');
  check(s.messages(conv).length === 0, 'a replayed old event added a message');

  // A new incoming message counts as unread once, even when its event comes twice.
  check(s.applyFrame(ev(11, 'message', msg('m1'))), 'a new event was ignored');
  check(!s.applyFrame(ev(11, 'message', msg('m1'))), 'the same seq was applied twice');
  check(s.messages(conv).length === 1 && s.convs.get(conv).unread_count === 1, 'unread after one message: ' + s.convs.get(conv).unread_count);
  s.applyFrame(ev(12, 'message_update', msg('m1', { body: 'edited', edited_at: 2000 })));
  check(s.messages(conv)[0].body === 'edited' && s.messages(conv).length === 1, 'an update did not replace the message by id');
  check(s.convs.get(conv).unread_count === 1, 'an update counted as unread');

  // Our own send: the placeholder is replaced by the node's message with the same client_msg_id.
  s.addLocal({ type: 'send', conversation_id: conv, client_msg_id: 'mine1', body: 'hi' });
  check(s.messages(conv).some((m) => m.local), 'no local placeholder');
  check(s.pending.has('mine1'), 'the send is not pending');
  s.applyFrame(ev(13, 'message', msg('m2', { sender_id: me, client_msg_id: 'mine1', body: 'hi', status: 'pending', order: 'o9' })));
  check(!s.messages(conv).some((m) => m.local) && s.messages(conv).length === 2, 'the placeholder stayed: ' + JSON.stringify(s.messages(conv).map((m) => m.id)));
  check(!s.pending.has('mine1'), 'still pending after the message event');
  check(s.convs.get(conv).unread_count === 1, 'our own message counted as unread');

  // Statuses only move forward.
  s.applyFrame(ev(14, 'message_update', msg('m2', { sender_id: me, client_msg_id: 'mine1', status: 'read', order: 'o9' })));
  s.applyFrame(ev(15, 'message_update', msg('m2', { sender_id: me, client_msg_id: 'mine1', status: 'delivered', order: 'o9' })));
  check(s.message(conv, 'm2').status === 'read', 'a status moved back to ' + s.message(conv, 'm2').status);

  // Ordering is by order, whatever the arrival.
  s.applyFrame(ev(16, 'message', msg('m3', { order: 'o0' })));
  check(s.messages(conv)[0].id === 'm3', 'messages not sorted by order');
  check(s.convs.get(conv).last_message.id === 'm2', 'an older message became the last one');

  // The conversation on screen does not collect unread messages.
  s.openConv = conv;
  s.applyFrame(ev(17, 'message', msg('m4', { order: 'oz' })));
  check(s.convs.get(conv).unread_count === 1, 'the open chat counted unread');

  // Typing and presence are ephemeral frames.
  s.applyFrame({ type: 'typing', conversation_id: conv, user_id: them, state: 'start' });
  check(s.typers(conv).includes(them), 'typing start not shown');
  s.applyFrame({ type: 'typing', conversation_id: conv, user_id: them, state: 'stop' });
  check(s.typers(conv).length === 0, 'typing stop not applied');
  s.applyFrame({ type: 'presence', user_id: them, state: 'online', last_seen: null });
  check(s.presence.get(them).state === 'online', 'presence not kept');
  check(s.seq === 17, 'seq is ' + s.seq);

  // The synced frame moves the cursor forward only.
  s.applyFrame({ type: 'synced', seq: 5 });
  check(s.seq === 17, 'synced moved the cursor back');

  // dom.js: text stays text.
  const evil = '<img src=x onerror="window.__xss=9">';
  const el = h('div', evil, h('span.x#y', { 'data-a': evil }, evil));
  check(el.querySelector('img') === null && el.textContent === evil + evil, 'h() parsed markup');
  check(el.querySelector('span').getAttribute('data-a') === evil, 'attribute changed');
  const hl = h('p', highlight('a <b>lunch</b> LUNCH', 'lunch'));
  check(hl.querySelectorAll('mark').length === 2 && hl.querySelector('b') === null, 'highlight: ' + hl.innerHTML);
  check(initials('Carol <img src=x>') === 'CI' && initials('bob') === 'BO' && initials('') === '?', 'initials: ' + initials('Carol <img src=x>'));

  // rich(): formatting never loses or adds a character, links are http(s) only, and no
  // element but a, strong, em and code is ever made — for fixed cases and random strings.
  const { rich } = await import('/js/dom.js');
  const back = (nodes) => nodes.map((n) => typeof n === 'string' ? n
    : n.tagName === 'STRONG' ? '*' + n.textContent + '*' : n.tagName === 'EM' ? '_' + n.textContent + '_'
    : n.tagName === 'CODE' ? '\x60' + n.textContent + '\x60' : n.textContent).join('');
  const richOK = (text) => {
    const nodes = rich(text);
    const box = h('div', nodes);
    for (const e of box.querySelectorAll('*')) {
      if (!['A', 'STRONG', 'EM', 'CODE'].includes(e.tagName) || e.children.length) return 'element ' + e.outerHTML;
      if (e.tagName === 'A' && (!/^https?:\/\//.test(e.getAttribute('href')) || e.rel !== 'noopener noreferrer' || e.target !== '_blank')) return 'link ' + e.outerHTML;
    }
    if (back(nodes) !== text) return 'text changed to ' + JSON.stringify(back(nodes));
    return '';
  };
  const cases = ['*bold*', '_it_', '\x60c\x60', 'a*b*c', '2*3*4', 'snake_case_name', '**', '* x *', 'https://x.y/a.', '(see https://x.y/p)',
    'javascript:alert(1)', 'http:/x', 'https://a.b/<img src=x>', 'data:text/html,<b>x</b>', '*_\x60mixed\x60_*', 'HTTPS://EXAMPLE.COM', 'x https://e.com/?q=*a*'];
  for (const c of cases) { const r = richOK(c); check(!r, 'rich(' + JSON.stringify(c) + '): ' + r); }
  check(rich('*b*')[0].tagName === 'STRONG' && rich('_i_')[0].tagName === 'EM' && rich('\x60c\x60')[0].tagName === 'CODE', 'rich: markers not applied');
  check(rich('javascript:alert(1)').every((n) => typeof n === 'string'), 'rich: a javascript: link');
  const alphabet = ['*', '_', '\x60', ' ', 'a', 'b', '1', '\n', 'http://', 'https://', 'x.y/', '<', '>', '"', '.', ')', 'é', '😀', 'javascript:'];
  let seed = 12345;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  for (let i = 0; i < 3000; i++) {
    let t = '';
    for (let j = rnd(24); j >= 0; j--) t += alphabet[rnd(alphabet.length)];
    const r = richOK(t);
    if (r) { check(false, 'rich(' + JSON.stringify(t) + '): ' + r); break; }
  }

  // api.js: errors are sentences.
  const { sentence } = await import('/js/api.js');
  check(sentence(400, 'bad_request', 'not a valid petrel invite link (invite: malformed link: illegal base64 data)') === 'Not a valid petrel invite link.', 'sentence: ' + sentence(400, 'bad_request', 'not a valid petrel invite link (invite: malformed link: illegal base64 data)'));
  check(sentence(403, 'forbidden', '') === 'You are not allowed to do that here.', 'sentence for a bare 403');
  check(sentence(500, 'internal', 'Internal Server Error') === 'Something went wrong inside your node. Its log says more.', 'sentence for a 500');
  check(sentence(0, 'offline', '').startsWith('Your node cannot be reached.'), 'sentence offline');

  // group.js: system lines from the user's point of view.
  const { changeText } = await import('/js/views/group.js');
  const gs = new Store();
  gs.me = { user_id: 'u-me' };
  gs.setContacts([{ id: 'k1', user_id: 'u-bob', name: 'Bob', conversation_id: 'd1' }]);
  gs.setConversations([{ id: 'g1', type: 'group', name: 'G', members: [{ user_id: 'u-me', role: 'member' }, { user_id: 'u-bob', role: 'admin' }, { user_id: 'u-eve', name: 'Eve <b>', role: 'member' }] }]);
  const M = (u, n) => ({ user_id: u, name: n || '' });
  const lines = [
    [{ kind: 'create', author: M('u-bob'), users: [M('u-me'), M('u-eve')], name: 'G' }, 'Bob created the group “G” with you and Eve <b>'],
    [{ kind: 'add', author: M('u-me'), users: [M('u-zed', 'Zed')] }, 'You added Zed'],
    [{ kind: 'remove', author: M('u-bob'), users: [M('u-me')] }, 'You were removed by Bob'],
    [{ kind: 'remove', author: M('u-bob'), users: [M('u-eve')] }, 'Bob removed Eve <b>'],
    [{ kind: 'leave', author: M('u-eve'), users: [] }, 'Eve <b> left'],
    [{ kind: 'rename', author: M('u-bob'), users: [], name: 'H' }, 'Bob renamed the group to “H”'],
    [{ kind: 'role', author: M('u-bob'), users: [M('u-me')], role: 'admin' }, 'Bob made you an admin'],
    [{ kind: 'role', author: M('u-me'), users: [M('u-bob')], role: 'member' }, 'You dismissed Bob as admin'],
  ];
  for (const [ch, want] of lines) { const got = changeText(gs, 'g1', ch); check(got === want, 'changeText ' + ch.kind + ': ' + got); }

  // Colours: a sender's name keeps 4.5:1 on its bubble, and white initials 4.5:1 on an
  // avatar, for every hue, light and dark (app.css: --name-l, --avatar-l).
  const hsl = (hh, ss, ll) => { ss /= 100; ll /= 100; const k = (n) => (n + hh / 30) % 12; const a = ss * Math.min(ll, 1 - ll);
    return [0, 8, 4].map((n) => 255 * (ll - a * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1)))); };
  const lum = (c) => { const f = (x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  let worst = [99, ''];
  for (let hh = 0; hh < 360; hh++) {
    for (const [what, r] of [['name light', ratio(hsl(hh, 75, 26), [255, 255, 255])], ['name dark', ratio(hsl(hh, 75, 78), [0x22, 0x2a, 0x35])], ['avatar', ratio(hsl(hh, 60, 30), [255, 255, 255])]]) {
      if (r < worst[0]) worst = [r, what + ' hue ' + hh];
    }
  }
  check(worst[0] >= 4.5, 'contrast ' + worst[0].toFixed(2) + ':1 for ' + worst[1]);
  return fails;
})()`

// TestStoreInBrowser runs the UI's state and DOM helpers in chromium against edge cases.
func TestStoreInBrowser(t *testing.T) {
	t.Parallel()
	browser := startBrowser(t)
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServerFS(webui.Assets()))
	mux.HandleFunc("/blank", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<!doctype html><title>store checks</title>"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p := newPage(t, browser, "checks")
	p.navigate(srv.URL + "/blank")
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](storeChecks, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	var fails []string
	if err := json.Unmarshal(raw, &fails); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	for _, f := range fails {
		t.Error(f)
	}
}

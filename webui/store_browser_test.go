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

// views/chat.js: one conversation — history with day separators and infinite scroll back,
// status ticks, replies, edits, deletes, reactions, typing, and the banners for message
// requests and changed safety numbers. Every piece of user text goes in as text nodes.
import { h, setChildren, reconcile, dayKey, fmtDay, fmtTime, fmtLastSeen, rich, hue, dialog, confirmAction, arrowNav, highlight } from '../dom.js';
import { icon } from '../icons.js';
import { q } from '../api.js';
import { changeText } from './group.js';
import { openPicker } from '../emoji.js';
import { timerControl, timerMark, systemLine, visible } from './disappear.js';
import { receiptTimes } from './receipts.js';
import { attachKit } from '../attach.js';

const REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏'];
const PAGE = 50;
const TICKS = {
  pending: ['◷', 'pending: not sent yet'],
  sent: ['✓', 'sent'],
  delivered: ['✓✓', 'delivered'],
  read: ['✓✓', 'read'],
  failed: ['!', 'failed'],
};

const cap = (t) => t.charAt(0).toUpperCase() + t.slice(1);

export function chatView(app, convId, focusId) {
  const s = app.store;
  const me = () => s.me.user_id;
  const v = { backTo: '#/' };
  let loading = false;
  let replyTo = null; // message being replied to
  let editing = null; // own message being edited
  let menuFor = null; // message whose action menu is open
  let lastReadSent = '';
  let typingSentAt = 0;
  let typingStop = 0;
  let pendingFocus = focusId || '';
  const els = new Map(); // message id → element
  const days = new Map(); // day key → separator element
  const sysEls = new Map(); // change order → system line element
  let closePicker = null;
  let changesFor = ''; // the conversation state (JSON of members and name) the changes were fetched for

  const title = h('h2.chat-title', '');
  const sub = h('div.chat-sub', { 'aria-live': 'polite' });
  const avatarSlot = h('span.avatar-slot');
  const detailsLink = h('a.icon-btn', { 'aria-label': 'Contact details and safety number', title: 'Contact details' }, icon('shield'));
  const searchBtn = h('button.icon-btn#chat-search-btn', { type: 'button', 'aria-label': 'Search in this chat', title: 'Search in this chat', 'aria-expanded': 'false', onclick: () => toggleSearch() }, icon('search'));
  const muteBtn = h('button.icon-btn#chat-mute-btn', { type: 'button', onclick: () => toggleMute() });
  const searchIn = h('input#chat-search.search-input', { type: 'search', placeholder: 'Search in this chat', 'aria-label': 'Search in this chat', autocomplete: 'off' });
  const searchInfo = h('span.muted.small', { role: 'status' });
  const searchResults = h('ol.chat-results', { 'aria-label': 'Matches in this chat' });
  const searchBar = h('div.chat-search', { hidden: true }, h('div.search-box', icon('search'), searchIn,
    h('button.icon-btn', { type: 'button', 'aria-label': 'Close search', onclick: () => toggleSearch(false) }, icon('close'))), searchInfo, searchResults);
  const banners = h('div.banners');
  const top = h('div.history-top', { role: 'status' });
  const list = h('div.messages', { role: 'log', 'aria-label': 'Messages', tabindex: '0' });
  const scroller = h('div.scroller', top, list);
  const replyBar = h('div.compose-bar', { hidden: true });
  const input = h('textarea.compose-input', { rows: '1', 'aria-label': 'Message', placeholder: 'Write a message', maxlength: '20000' });
  const sendBtn = h('button.send-btn', { type: 'submit', 'aria-label': 'Send', title: 'Send (Enter)' }, icon('send'));
  const emojiBtn = h('button.icon-btn.emoji-btn', { type: 'button', 'aria-label': 'Insert an emoji', title: 'Emoji', 'aria-haspopup': 'dialog', onclick: () => pickForComposer() }, icon('smile'));
  const notMember = h('div.not-member', { hidden: true, role: 'status' }, 'You can’t send messages to this group because you are no longer a member.');
  const composeRow = h('div.compose-row', emojiBtn, input, sendBtn);
  const form = h('form.composer', { onsubmit: (e) => { e.preventDefault(); submit(); } }, replyBar, notMember, composeRow);
  const menu = h('div.menu', { role: 'menu', hidden: true });
  const timer = timerControl(app, convId, (m, ok) => flash(m, ok)); // disappear.js

  v.el = h('section.chat', { 'aria-labelledby': 'chat-title' },
    h('header.pane-head',
      h('a.icon-btn.back', { href: '#/', 'aria-label': 'Back to conversations' }, icon('back')),
      avatarSlot,
      h('div.chat-heading', title, sub),
      searchBtn,
      muteBtn,
      timer.el,
      detailsLink,
    ),
    searchBar, banners, scroller, form, menu,
  );
  title.id = 'chat-title';
  const media = attachKit(app, convId, {
    el: v.el, form, row: composeRow, input, flash: (t) => flash(t),
    messages: () => s.messages(convId), submit: () => submit(),
    send: (body, atts) => { app.sendMessage(convId, body, null, atts); toBottom(); },
  });

  // --- header and banners ---

  function contact() { return s.contactForConv(convId); }

  function drawHeader() {
    const conv = s.convs.get(convId);
    const c = contact();
    const name = s.convName(conv) || (c && c.name) || 'Conversation';
    title.textContent = name;
    setChildren(avatarSlot, app.avatar(name, convId, c && c.user_id));
    const group = conv && conv.type === 'group';
    if (c) detailsLink.href = '#/contact/' + q(c.id);
    if (group) detailsLink.href = '#/group/' + q(convId);
    detailsLink.setAttribute('aria-label', group ? 'Group info' : 'Contact details and safety number');
    detailsLink.title = group ? 'Group info' : 'Contact details';
    setChildren(detailsLink, icon(group ? 'info' : 'shield'));
    detailsLink.hidden = !c && !group;
    const muted = s.isMuted(conv);
    muteBtn.setAttribute('aria-pressed', muted ? 'true' : 'false');
    muteBtn.setAttribute('aria-label', muted ? 'Unmute notifications' : 'Mute notifications');
    muteBtn.title = muted ? 'Muted: press to unmute' : 'Mute notifications';
    setChildren(muteBtn, icon(muted ? 'bell-off' : 'bell'));
    timer.update(conv);
    const member = !group || s.amMember(convId);
    notMember.hidden = member;
    input.disabled = sendBtn.disabled = emojiBtn.disabled = !member || !!(c && c.blocked);
    media.disable(input.disabled);
    const typers = s.typers(convId);
    if (typers.length) {
      sub.textContent = (conv && conv.type === 'group' ? typers.map((u) => s.nameOf(u)).join(', ') + ' ' : '') + 'typing…';
      sub.className = 'chat-sub typing';
      return;
    }
    sub.className = 'chat-sub';
    if (group) {
      const ms = (conv.members || []).map((m) => s.nameOf(m.user_id, convId));
      sub.textContent = member ? ms.filter((n) => n !== 'You').concat(['You']).join(', ') : 'not a member';
      return;
    }
    const p = c && app.presenceOf(c.user_id);
    if (p && p.state === 'online') sub.textContent = 'online';
    else if (p && p.last_seen) sub.textContent = fmtLastSeen(p.last_seen);
    else sub.textContent = c && c.verified ? 'verified' : '';
  }

  function drawBanners() {
    const c = contact();
    const out = [];
    if (c && c.identity_changed) {
      out.push(h('div.banner.warn', { role: 'alert' },
        icon('warn'),
        h('div',
          h('strong', (c.name || 'This contact') + '’s safety number has changed.'),
          ' This happens when they reinstall petrel or move to a new device — or when someone is intercepting. Messages still waiting for the old key were not sent. ',
          h('a', { href: '#/contact/' + q(c.id) }, 'Compare safety numbers'),
        ),
      ));
    }
    if (c && c.blocked) {
      out.push(h('div.banner', { role: 'status' },
        h('div', 'You blocked ', h('strong', c.name || 'this contact'), '. Their messages are refused.'),
        h('button', { onclick: () => patchContact({ blocked: false }) }, 'Unblock'),
      ));
    } else if (c && c.request === 'pending') {
      out.push(h('div.banner.request', { role: 'status' },
        h('div', h('strong', c.name || 'Someone'), ' is not in your contacts and sent you a message. Accept to reply and send read receipts, or block them.'),
        h('div.banner-actions',
          h('button.primary', { onclick: () => patchContact({ accept: true }) }, 'Accept'),
          h('button.danger', { onclick: () => patchContact({ blocked: true }) }, 'Block'),
        ),
      ));
    }
    setChildren(banners, out);
  }

  async function patchContact(p) {
    const c = contact();
    if (!c) return;
    try {
      const nc = await app.api.patch('/v1/contacts/' + q(c.id), p);
      s.contacts.set(nc.id, nc);
      s.changed('contacts');
    } catch (e) {
      flash(e.message);
    }
  }

  function flash(msg, ok) {
    const b = h('div.banner' + (ok ? '.ok' : '.error'), { role: ok ? 'status' : 'alert' }, h('div', msg), h('button.icon-btn', { 'aria-label': 'Dismiss', onclick: () => b.remove() }, icon('close')));
    banners.appendChild(b);
    if (ok) setTimeout(() => b.remove(), 2500);
  }

  // --- messages ---

  // shownStatus is the status the UI shows: read receipts are reciprocal, so with the
  // user's own read receipts off, others' "read" shows as delivered (docs/API.md, Web UI).
  function shownStatus(m) {
    if (m.status === 'read' && s.settings && s.settings.read_receipts === false) return 'delivered';
    return m.status;
  }

  function tick(m) {
    const st = shownStatus(m);
    const [glyph, label] = TICKS[st] || ['', st];
    return h('span.tick.status-' + st, { role: 'img', 'aria-label': 'Status: ' + label, title: m.status === 'failed' && m.error ? 'Failed: ' + m.error : label }, glyph);
  }

  // readBy is "Read by 3 of 5" under one's own group message.
  function readBy(m) {
    const r = m.receipts;
    if (!s.isGroup(convId) || !r || !r.total || m.local) return null;
    const receipts = !(s.settings && s.settings.read_receipts === false);
    const text = receipts && r.read > 0 ? 'Read by ' + r.read + ' of ' + r.total : 'Delivered to ' + r.delivered + ' of ' + r.total;
    return h('span.read-by', text);
  }

  function quote(m) {
    if (!m.reply_to) return null;
    const r = s.message(convId, m.reply_to);
    return h('a.quote', { href: '#/c/' + q(convId) + '/m/' + q(m.reply_to), 'aria-label': 'Reply to' },
      h('span.quote-who', r ? s.nameOf(r.sender_id, convId) : 'Reply'),
      h('span.quote-body', r ? (r.deleted ? 'Message deleted' : r.body) : 'Original message not loaded'),
    );
  }

  // attachments are links to the node's decrypted bytes (GET /v1/media/ID, same origin, so the
  // session cookie applies); names are text.
  function attachments(m) {
    return media.render(m);
  }

  function reactions(m) {
    const entries = Object.entries(m.reactions || {}).filter(([, us]) => us && us.length);
    if (!entries.length) return null;
    return h('div.reactions', entries.map(([emoji, users]) => {
      const mine = users.includes(me());
      return h('button.reaction' + (mine ? '.mine' : ''), {
        'aria-label': emoji + ' ' + users.length + (mine ? ', including you; press to remove' : ''),
        'aria-pressed': mine ? 'true' : 'false',
        onclick: () => react(m, emoji, mine),
      }, emoji, users.length > 1 ? h('span.count', String(users.length)) : null);
    }));
  }

  function msgEl(m) {
    if (m.system) { // disappear.js
      if (!els.has(m.id)) els.set(m.id, systemLine(m));
      return els.get(m.id);
    }
    const own = m.sender_id === me();
    const r = m.reply_to ? s.message(convId, m.reply_to) : null;
    const group = s.isGroup(convId);
    const sender = group && !own ? s.nameOf(m.sender_id, convId) : '';
    const sig = JSON.stringify([m.expires_at, m.body, m.status, m.deleted, m.edited_at, m.reactions, m.error, r && [r.body, r.deleted], menuFor === m.id, editing && editing.id === m.id, sender, m.receipts, s.settings && s.settings.read_receipts, m.attachments]);
    const old = els.get(m.id);
    if (old && old.dataset.sig === sig) return old;
    const body = m.deleted
      ? h('div.body.deleted', own ? 'You deleted this message' : 'This message was deleted')
      : h('div.body', rich(m.body));
    const label = (own ? 'You' : sender || s.nameOf(m.sender_id, convId)) + ', ' + fmtTime(m.sent_at);
    const el = h('div.msg.' + (own ? 'own' : 'theirs') + (m.local ? '.local' : '') + (editing && editing.id === m.id ? '.editing' : ''), {
      dataset: { id: m.id, sig, status: shownStatus(m) },
      role: 'article',
      tabindex: '-1',
      'aria-label': label,
    },
    h('div.bubble',
      sender ? h('div.sender', { style: { '--h': hue(m.sender_id) } }, sender) : null,
      quote(m),
      body,
      attachments(m),
      h('div.meta',
        m.edited_at && !m.deleted ? h('span.edited', 'edited') : null,
        m.deleted ? null : timerMark(m),
        own && !m.deleted ? readBy(m) : null,
        h('time', { datetime: new Date(m.sent_at).toISOString() }, fmtTime(m.sent_at)),
        own && !m.deleted ? tick(m) : null,
      ),
      m.status === 'failed' && own ? h('div.failed-line', 'Not sent' + (m.error ? ': ' + m.error : '') + '. ',
        m.local ? h('button.link', { onclick: () => app.retryMessage(m) }, 'Retry') : null) : null,
    ),
    m.deleted || m.local ? null : h('button.msg-more', {
      'aria-label': 'Message actions',
      'aria-haspopup': 'menu',
      'aria-expanded': menuFor === m.id ? 'true' : 'false',
      onclick: (e) => openMenu(m, e.currentTarget),
    }, icon('more')),
    reactions(m),
    );
    els.set(m.id, el);
    return el;
  }

  function sysEl(ch) {
    const text = changeText(s, convId, ch);
    let el = sysEls.get(ch.order);
    if (!el || el.textContent !== text) {
      el = h('div.sys', { dataset: { kind: ch.kind, order: ch.order } }, h('span', text));
      sysEls.set(ch.order, el);
    }
    return el;
  }

  // timeline is the messages with the group's system lines between them, by order. (Only
  // changes after the oldest message loaded are shown, unless the history is complete.)
  function timeline() {
    const ms = visible(s.messages(convId));
    const changes = s.groupChanges.get(convId) || [];
    if (!changes.length) return ms;
    const complete = s.loaded.has(convId) && !s.hasMore.get(convId);
    const oldest = ms.find((m) => !m.local);
    const out = [];
    let i = 0;
    for (const ch of changes) {
      if (!complete && (!oldest || ch.order < oldest.order)) continue;
      while (i < ms.length && ms[i].order < ch.order) out.push(ms[i++]);
      out.push({ sys: ch, sent_at: ch.at, order: ch.order });
    }
    while (i < ms.length) out.push(ms[i++]);
    return out;
  }

  // loadChanges fetches the group's changes when its members or name changed.
  async function loadChanges() {
    const conv = s.convs.get(convId);
    if (!conv || conv.type !== 'group') return;
    const key = JSON.stringify([conv.name, conv.members]);
    if (key === changesFor) return;
    changesFor = key;
    try {
      const r = await app.api.get('/v1/conversations/' + q(convId) + '/changes');
      s.groupChanges.set(convId, r.changes || []);
      drawMessages();
    } catch {
      changesFor = ''; // try again with the next change
    }
  }

  function drawMessages() {
    const ms = timeline();
    const nodes = [];
    let lastDay = '';
    for (const m of ms) {
      const k = dayKey(m.sent_at);
      if (k !== lastDay) {
        lastDay = k;
        let d = days.get(k);
        if (!d) {
          d = h('div.day', { role: 'separator' }, h('span', fmtDay(m.sent_at)));
          days.set(k, d);
        }
        nodes.push(d);
      }
      nodes.push(m.sys ? sysEl(m.sys) : msgEl(m));
    }
    const wasAtBottom = atBottom();
    const lastBefore = list.lastElementChild;
    reconcile(list, nodes);
    const lastNow = list.lastElementChild;
    const grewOwn = lastNow !== lastBefore && lastNow && (lastNow.classList.contains('own') || lastNow.classList.contains('sys'));
    if (wasAtBottom || grewOwn) toBottom();
    drawTop();
    for (const id of els.keys()) if (!s.message(convId, id)) els.delete(id);
    if (pendingFocus) focusMessage(pendingFocus);
    media.sweep(list);
  }

  function drawTop() {
    if (!s.loaded.has(convId)) setChildren(top, h('span.muted', 'Loading…'));
    else if (loading) setChildren(top, h('span.muted', 'Loading older messages…'));
    else if (s.hasMore.get(convId)) setChildren(top, h('button.link', { onclick: loadOlder }, 'Load older messages'));
    else setChildren(top, h('span.muted.start', 'This is the beginning of the conversation. Messages are end-to-end encrypted.'));
  }

  function atBottom() { return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80; }
  function toBottom() { scroller.scrollTop = scroller.scrollHeight; }

  async function loadNewest() {
    if (!s.convs.has(convId)) await app.fetchConversation(convId);
    if (s.loaded.has(convId)) {
      drawMessages();
      toBottom();
      maybeMarkRead(); // what came while the chat was closed is read now
      return;
    }
    try {
      const page = await app.api.get('/v1/conversations/' + q(convId) + '/messages?limit=' + PAGE);
      s.addPage(convId, page);
      drawMessages();
      toBottom();
      maybeMarkRead();
    } catch (e) {
      setChildren(top, h('span.error', 'Could not load the messages. ' + e.message));
    }
  }

  async function loadOlder() {
    if (loading || !s.hasMore.get(convId)) return;
    const oldest = s.messages(convId).find((m) => !m.local);
    if (!oldest) return;
    loading = true;
    drawTop();
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    try {
      const page = await app.api.get('/v1/conversations/' + q(convId) + '/messages?limit=' + PAGE + '&before=' + q(oldest.id));
      s.addPage(convId, page);
      drawMessages();
      scroller.scrollTop = scroller.scrollHeight - fromBottom;
    } catch (e) {
      flash('Could not load older messages. ' + e.message);
    } finally {
      loading = false;
      drawTop();
    }
  }

  scroller.addEventListener('scroll', () => {
    if (scroller.scrollTop < 300) loadOlder();
    if (atBottom()) maybeMarkRead();
  }, { passive: true });

  // focusMessage scrolls to a message (from search or a quote), loading older pages as needed.
  async function focusMessage(id) {
    pendingFocus = id;
    for (let i = 0; i < 40 && !s.message(convId, id) && s.loaded.has(convId) && s.hasMore.get(convId); i++) {
      await loadOlder();
    }
    const el = els.get(id);
    if (!el || !el.isConnected) return;
    pendingFocus = '';
    el.scrollIntoView({ block: 'center' });
    el.focus({ preventScroll: true });
    el.classList.add('flash');
    setTimeout(() => el.classList.remove('flash'), 1600);
  }
  v.focusMessage = focusMessage;

  // maybeMarkRead sends one read for the newest incoming message while the chat is visible.
  function maybeMarkRead() {
    if (document.visibilityState !== 'visible' || !s.loaded.has(convId)) return;
    const ms = s.messages(convId);
    let last = null;
    for (let i = ms.length - 1; i >= 0; i--) {
      if (ms[i].sender_id !== me() && !ms[i].local) {
        last = ms[i];
        break;
      }
    }
    if (!last) return;
    const conv = s.convs.get(convId);
    if (last.status === 'read' && !(conv && conv.unread_count)) return;
    if (lastReadSent === last.id) return;
    lastReadSent = last.id;
    app.markRead(convId, last.id);
  }

  // --- actions ---

  function openMenu(m, anchor) {
    closeMenu();
    menuFor = m.id;
    const own = m.sender_id === me();
    const mine = (e) => ((m.reactions || {})[e] || []).includes(me());
    const item = (action, ic, label, fn, cls) => h('button' + (cls ? '.' + cls : ''), { role: 'menuitem', type: 'button', dataset: { action }, onclick: () => { closeMenu(); fn(); } }, ic ? icon(ic) : null, label);
    const items = [
      h('div.menu-reactions', { role: 'group', 'aria-label': 'React' }, REACTIONS.map((e) =>
        h('button.menu-emoji', { role: 'menuitem', type: 'button', 'aria-label': 'React ' + e, onclick: () => { closeMenu(); react(m, e, mine(e)); } }, e)),
      h('button.menu-emoji.more', { role: 'menuitem', type: 'button', dataset: { action: 'more-reactions' }, 'aria-label': 'More reactions', 'aria-haspopup': 'dialog',
        onclick: () => { const b = els.get(m.id) && els.get(m.id).querySelector('.msg-more'); closeMenu(); if (b) closePicker = openPicker(v.el, b, (e) => react(m, e, mine(e)), 'React with an emoji'); } }, '+')),
      item('reply', 'reply', 'Reply', () => startReply(m)),
      item('copy', 'copy', 'Copy text', () => copyText(m)),
      item('forward', 'forward', 'Forward…', () => forward(m)),
      own ? item('info', 'info', 'Message info', () => messageInfo(m)) : null,
      own ? item('edit', 'edit', 'Edit', () => startEdit(m)) : null,
      item('delete-me', 'trash', 'Delete for me', () => del(m, 'me')),
      own ? item('delete-everyone', 'trash', 'Delete for everyone', () => del(m, 'everyone'), 'danger') : null,
    ];
    setChildren(menu, items);
    menu.hidden = false;
    const r = anchor.getBoundingClientRect();
    const pr = v.el.getBoundingClientRect();
    const mw = 260;
    let left = r.right - pr.left - mw;
    if (left < 8) left = 8;
    menu.style.left = left + 'px';
    const mh = menu.offsetHeight || 320;
    const below = r.bottom - pr.top + 4;
    menu.style.top = (below + mh > pr.height ? Math.max(8, r.top - pr.top - mh - 4) : below) + 'px';
    menu.dataset.anchor = m.id;
    menu.querySelector('button').focus();
    drawMessages();
  }

  // Arrow keys move through the menu's items (the reactions row is one row of them).
  menu.addEventListener('keydown', (e) => {
    const items = menu.querySelectorAll('[role=menuitem]');
    if (e.key === 'Tab') {
      e.preventDefault();
      closeMenu(true);
      return;
    }
    const emojis = [...menu.querySelectorAll('.menu-emoji')];
    const rows = [...items].filter((x) => !x.classList.contains('menu-emoji'));
    const cur = document.activeElement;
    const go = (el) => { e.preventDefault(); el.focus(); };
    if (emojis.includes(cur)) {
      if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') arrowNav(e, emojis, false);
      else if (e.key === 'ArrowDown') go(rows[0]);
      else if (e.key === 'ArrowUp') go(rows[rows.length - 1]);
      return;
    }
    if (e.key === 'ArrowUp' && cur === rows[0]) go(emojis[0]);
    else if (e.key === 'ArrowDown' && cur === rows[rows.length - 1]) go(emojis[0]);
    else arrowNav(e, rows);
  });

  async function copyText(m) {
    let ok = false;
    try {
      await navigator.clipboard.writeText(m.body);
      ok = true;
    } catch {
      const t = h('textarea.offscreen', { readonly: true }, m.body);
      document.body.appendChild(t);
      t.select();
      try { ok = document.execCommand('copy'); } catch { ok = false; }
      t.remove();
    }
    flash(ok ? 'Copied the message text.' : 'Your browser did not allow copying. Select the text and press Ctrl+C.', ok);
    input.focus();
  }

  // forward sends a copy of m's text to another conversation the user picks.
  async function forward(m) {
    const filter = h('input#fwd-filter', { type: 'search', placeholder: 'Find a chat', 'aria-label': 'Find a chat', autofocus: true, autocomplete: 'off' });
    const list = h('ul.pick-list.fwd-list');
    let chosen = null;
    const all = s.sortedConvs().filter((c) => c.type !== 'group' || s.amMember(c.id));
    const draw = () => {
      const f = filter.value.trim().toLowerCase();
      setChildren(list, all.filter((c) => !f || s.convName(c).toLowerCase().includes(f)).map((c) =>
        h('li', h('button.pick', { type: 'button', dataset: { conv: c.id }, onclick: () => { chosen = c; dlg.done && dlg.done('send'); } },
          app.avatar(s.convName(c), c.id, c.type === 'direct' ? (s.contactForConv(c.id) || {}).user_id : null), h('span', s.convName(c))))));
    };
    filter.addEventListener('input', draw);
    draw();
    const content = h('div', h('p.muted.small', 'Forward a copy of: ', h('span.fwd-preview', m.body.slice(0, 120))), filter, list);
    const p = dialog('Forward to…', content, [{ label: 'Cancel', value: null }]);
    const dlg = document.querySelector('dialog.dialog:last-of-type');
    const v2 = await p;
    if (v2 !== 'send' || !chosen) return;
    app.sendMessage(chosen.id, m.body);
    app.go('#/c/' + q(chosen.id));
  }

  // messageInfo shows who received and read one of the user's messages.
  async function messageInfo(m) {
    const rows = h('ul.receipt-list', { 'aria-label': 'Receipts' }, h('li.muted', 'Loading…'));
    const content = h('div',
      h('dl.about',
        h('dt', 'Sent'), h('dd', new Date(m.sent_at).toLocaleString()),
        m.edited_at ? [h('dt', 'Edited'), h('dd', new Date(m.edited_at).toLocaleString())] : null,
        h('dt', 'Status'), h('dd', cap((TICKS[shownStatus(m)] || ['', shownStatus(m)])[1])),
      ),
      h('h3.info-h', 'Recipients'),
      rows,
      s.settings && s.settings.read_receipts === false ? h('p.muted.small', 'You turned read receipts off, so you don’t see who read your messages either.') : null,
    );
    const p = dialog('Message info', content, [{ label: 'Close', value: null }]);
    try {
      const r = await app.api.get('/v1/messages/' + q(m.id) + '/receipts');
      const hideRead = s.settings && s.settings.read_receipts === false;
      const word = { read: hideRead ? 'Delivered' : 'Read', delivered: 'Delivered', sent: 'Not delivered yet', pending: 'Not sent yet', failed: 'Failed' };
      setChildren(rows, r.receipts.length ? r.receipts.map((x) => h('li.receipt', { dataset: { user: x.user_id, status: x.status } },
        h('span.receipt-who', h('span.receipt-name', s.nameOf(x.user_id, convId) !== 'Someone' ? s.nameOf(x.user_id, convId) : x.name || 'A former member'), receiptTimes(x, hideRead)),
        h('span.receipt-status.status-' + x.status, word[x.status] || x.status))) : h('li.muted', 'Nobody else is in this conversation.'));
    } catch (e) {
      setChildren(rows, h('li.error', 'Could not load the receipts. ' + e.message));
    }
    await p;
  }

  function pickForComposer() {
    closePicker = openPicker(v.el, emojiBtn, (e) => {
      const a = input.selectionStart ?? input.value.length, b = input.selectionEnd ?? input.value.length;
      input.value = input.value.slice(0, a) + e + input.value.slice(b);
      input.focus();
      input.selectionStart = input.selectionEnd = a + e.length;
      autosize();
    }, 'Insert an emoji');
  }

  async function toggleMute() {
    const conv = s.convs.get(convId);
    if (!conv) return;
    const until = s.isMuted(conv) ? null : Date.now() + 365 * 86400000;
    try {
      // The node keeps the mute (every UI of it gets a conversation event with it).
      const c = await app.api.patch('/v1/conversations/' + q(convId), { muted_until: until });
      conv.muted_until = c.muted_until;
    } catch (e) {
      flash(e.message, false);
      return;
    }
    s.changed('convs');
    flash(until ? 'Muted: no notifications from this chat.' : 'Notifications for this chat are on again.', true);
  }

  // --- search in this chat ---

  let searchTimer = 0;
  let searchSeq = 0;
  function toggleSearch(on) {
    const show = on === undefined ? searchBar.hidden : on;
    searchBar.hidden = !show;
    searchBtn.setAttribute('aria-expanded', show ? 'true' : 'false');
    if (show) searchIn.focus();
    else {
      searchIn.value = '';
      setChildren(searchResults);
      searchInfo.textContent = '';
      searchBtn.focus();
    }
  }
  async function runSearch() {
    const text = searchIn.value.trim();
    const mine = ++searchSeq;
    if (!text) {
      setChildren(searchResults);
      searchInfo.textContent = '';
      return;
    }
    try {
      const r = await app.api.get('/v1/search?limit=50&conversation_id=' + q(convId) + '&q=' + q(text));
      if (mine !== searchSeq) return;
      searchInfo.textContent = r.messages.length ? r.messages.length + (r.messages.length === 1 ? ' match' : ' matches') : 'Nothing in this chat matches “' + text + '”.';
      setChildren(searchResults, r.messages.map((m) => h('li', h('a.result', { href: '#/c/' + q(convId) + '/m/' + q(m.id) },
        h('span.result-top', h('span.result-who', s.nameOf(m.sender_id, convId)), h('time', fmtTime(m.sent_at))),
        h('span.result-body', highlight(m.body, text))))));
    } catch (e) {
      if (mine === searchSeq) searchInfo.textContent = 'Search failed. ' + e.message;
    }
  }
  searchIn.addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 200); });
  searchIn.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); toggleSearch(false); }
    else if (e.key === 'Enter') { clearTimeout(searchTimer); runSearch(); }
  });

  // --- keyboard through the messages ---

  list.addEventListener('keydown', (e) => {
    const msgs = list.querySelectorAll('.msg');
    if (e.target === list && (e.key === 'ArrowUp' || e.key === 'ArrowDown' || e.key === 'End' || e.key === 'Home')) {
      e.preventDefault();
      const all = [...msgs];
      if (all.length) (e.key === 'Home' ? all[0] : all[all.length - 1]).focus();
      return;
    }
    const cur = e.target.closest && e.target.closest('.msg');
    if (!cur || e.target !== cur) return;
    if (arrowNav(e, msgs)) return;
    if (e.key === 'Enter' || e.key === 'ContextMenu' || (e.shiftKey && e.key === 'F10')) {
      const b = cur.querySelector('.msg-more');
      if (b) {
        e.preventDefault();
        b.click();
      }
    }
  });

  function closeMenu(restoreFocus) {
    if (menu.hidden) return false;
    menu.hidden = true;
    const id = menuFor;
    menuFor = null;
    drawMessages();
    if (restoreFocus) {
      const el = els.get(id);
      const b = el && el.querySelector('.msg-more');
      if (b) b.focus();
    }
    return true;
  }

  document.addEventListener('pointerdown', onOutside, true);
  function onOutside(e) {
    if (!menu.hidden && !menu.contains(e.target) && !e.target.closest('.msg-more')) closeMenu();
  }

  async function react(m, emoji, remove) {
    try {
      const nm = await app.api.post('/v1/messages/' + q(m.id) + '/reactions', { emoji, remove });
      s.putMessage(nm, false);
    } catch (e) {
      flash('Could not react. ' + e.message);
    }
  }

  async function del(m, forWhom) {
    if (forWhom === 'everyone' && !(await confirmAction('Delete for everyone?', 'The message will be replaced by “This message was deleted” for everyone in this chat. This cannot be undone.', 'Delete for everyone', true))) return;
    try {
      const nm = await app.api.del('/v1/messages/' + q(m.id) + '?for=' + forWhom);
      if (forWhom === 'me') s.hide(m.id, convId);
      else s.putMessage(nm, false);
    } catch (e) {
      flash('Could not delete the message. ' + e.message);
    }
  }

  function startReply(m) {
    editing = null;
    replyTo = m;
    drawComposerBar();
    input.focus();
  }

  function startEdit(m) {
    replyTo = null;
    editing = m;
    input.value = m.body;
    drawComposerBar();
    drawMessages();
    input.focus();
    autosize();
  }

  function cancelCompose() {
    if (!replyTo && !editing) return false;
    if (editing) input.value = '';
    replyTo = editing = null;
    drawComposerBar();
    drawMessages();
    autosize();
    return true;
  }

  function drawComposerBar() {
    const m = replyTo || editing;
    replyBar.hidden = !m;
    if (!m) return;
    setChildren(replyBar,
      h('div.compose-bar-text',
        h('strong', editing ? 'Editing your message' : 'Replying to ' + s.nameOf(m.sender_id)),
        h('span.compose-bar-body', m.body),
      ),
      h('button.icon-btn', { type: 'button', 'aria-label': editing ? 'Cancel editing' : 'Cancel reply', onclick: () => { cancelCompose(); input.focus(); } }, icon('close')),
    );
  }

  async function submit() {
    const body = input.value.trim();
    if (!body && (editing || !media.tray.items.length)) return;
    stopTyping();
    if (editing) {
      const m = editing;
      try {
        const nm = await app.api.patch('/v1/messages/' + q(m.id), { body });
        s.putMessage(nm, false);
        input.value = '';
        cancelCompose();
      } catch (e) {
        flash('Could not edit the message. ' + e.message);
      }
      return;
    }
    const atts = media.take();
    if (!atts) return; // uploads still running (it sends when they finish) or failed
    app.sendMessage(convId, body, replyTo && replyTo.id, atts);
    media.sent();
    app.drafts.delete(convId);
    input.value = '';
    replyTo = null;
    drawComposerBar();
    autosize();
    toBottom();
    input.focus(); // keep typing: focus stays in the composer (also after pressing Send)
  }

  function autosize() {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight, 160) + 'px';
  }

  function stopTyping() {
    clearTimeout(typingStop);
    if (typingSentAt) app.send({ type: 'typing', conversation_id: convId, state: 'stop' });
    typingSentAt = 0;
  }

  input.addEventListener('input', () => {
    autosize();
    if (!input.value) {
      stopTyping();
      return;
    }
    const now = Date.now();
    if (now - typingSentAt > 3000 && app.send({ type: 'typing', conversation_id: convId, state: 'start' })) typingSentAt = now;
    clearTimeout(typingStop);
    typingStop = setTimeout(stopTyping, 5000);
  });

  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.key === 'ArrowUp' && !input.value.trim()) {
      const mine = s.messages(convId).filter((m) => m.sender_id === me() && !m.deleted && !m.local);
      if (mine.length) {
        e.preventDefault();
        startEdit(mine[mine.length - 1]);
      }
    }
  });

  // --- view protocol ---

  v.onKey = (e) => {
    if (e.key !== 'Escape') return false;
    if (document.querySelector('dialog[open]') || document.querySelector('.emoji-picker')) return true;
    if (closeMenu(true) || cancelCompose()) {
      e.preventDefault();
      return true;
    }
    return false;
  };

  v.update = (changes) => {
    if (changes.has('convs') || changes.has('contacts') || changes.has('presence') || changes.has('typing') || changes.has('me')) {
      drawHeader();
      drawBanners();
    }
    if (changes.has('convs')) loadChanges();
    if (changes.has('msgs:' + convId) || changes.has('contacts')) {
      drawMessages();
      maybeMarkRead();
    }
    if (changes.has('visible')) maybeMarkRead();
  };

  v.focus = () => input.focus();
  s.openConv = convId;
  input.value = app.drafts.get(convId) || '';
  v.destroy = () => {
    if (input.value.trim() && !editing) app.drafts.set(convId, input.value);
    else app.drafts.delete(convId);
    if (s.openConv === convId) s.openConv = '';
    stopTyping();
    clearTimeout(searchTimer);
    if (closePicker && document.querySelector('.emoji-picker')) closePicker();
    document.removeEventListener('pointerdown', onOutside, true);
    media.destroy();
  };

  drawHeader();
  drawBanners();
  drawTop();
  drawMessages();
  loadNewest();
  loadChanges();
  return v;
}

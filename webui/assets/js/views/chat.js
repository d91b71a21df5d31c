// views/chat.js: one conversation — history with day separators and infinite scroll back,
// status ticks, replies, edits, deletes, reactions, typing, and the banners for message
// requests and changed safety numbers. Every piece of user text goes in as text nodes.
import { h, setChildren, reconcile, dayKey, fmtDay, fmtTime, fmtLastSeen } from '../dom.js';
import { icon } from '../icons.js';
import { q } from '../api.js';

const REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏'];
const PAGE = 50;
const TICKS = {
  pending: ['◷', 'pending: not sent yet'],
  sent: ['✓', 'sent'],
  delivered: ['✓✓', 'delivered'],
  read: ['✓✓', 'read'],
  failed: ['!', 'failed'],
};

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

  const title = h('h2.chat-title', '');
  const sub = h('div.chat-sub', { 'aria-live': 'polite' });
  const avatarSlot = h('span.avatar-slot');
  const detailsLink = h('a.icon-btn', { 'aria-label': 'Contact details and safety number', title: 'Contact details' }, icon('shield'));
  const banners = h('div.banners');
  const top = h('div.history-top', { role: 'status' });
  const list = h('div.messages', { role: 'log', 'aria-label': 'Messages', tabindex: '0' });
  const scroller = h('div.scroller', top, list);
  const replyBar = h('div.compose-bar', { hidden: true });
  const input = h('textarea.compose-input', { rows: '1', 'aria-label': 'Message', placeholder: 'Write a message', maxlength: '20000' });
  const sendBtn = h('button.send-btn', { type: 'submit', 'aria-label': 'Send', title: 'Send (Enter)' }, icon('send'));
  const form = h('form.composer', { onsubmit: (e) => { e.preventDefault(); submit(); } }, replyBar, h('div.compose-row', input, sendBtn));
  const menu = h('div.menu', { role: 'menu', hidden: true });

  v.el = h('section.chat', { 'aria-labelledby': 'chat-title' },
    h('header.pane-head',
      h('a.icon-btn.back', { href: '#/', 'aria-label': 'Back to conversations' }, icon('back')),
      avatarSlot,
      h('div.chat-heading', title, sub),
      detailsLink,
    ),
    banners, scroller, form, menu,
  );
  title.id = 'chat-title';

  // --- header and banners ---

  function contact() { return s.contactForConv(convId); }

  function drawHeader() {
    const conv = s.convs.get(convId);
    const c = contact();
    const name = s.convName(conv) || (c && c.name) || 'Conversation';
    title.textContent = name;
    setChildren(avatarSlot, app.avatar(name, convId, c && c.user_id));
    if (c) detailsLink.href = '#/contact/' + q(c.id);
    detailsLink.hidden = !c;
    const typers = s.typers(convId);
    if (typers.length) {
      sub.textContent = (conv && conv.type === 'group' ? typers.map((u) => s.nameOf(u)).join(', ') + ' ' : '') + 'typing…';
      sub.className = 'chat-sub typing';
      return;
    }
    sub.className = 'chat-sub';
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
    input.disabled = sendBtn.disabled = !!(c && c.blocked);
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

  function flash(msg) {
    const b = h('div.banner.error', { role: 'alert' }, msg, h('button', { 'aria-label': 'Dismiss', onclick: () => b.remove() }, icon('close')));
    banners.appendChild(b);
  }

  // --- messages ---

  function tick(m) {
    const [glyph, label] = TICKS[m.status] || ['', m.status];
    return h('span.tick.status-' + m.status, { 'aria-label': 'Status: ' + label, title: m.status === 'failed' && m.error ? 'Failed: ' + m.error : label }, glyph);
  }

  function quote(m) {
    if (!m.reply_to) return null;
    const r = s.message(convId, m.reply_to);
    return h('a.quote', { href: '#/c/' + q(convId) + '/m/' + q(m.reply_to), 'aria-label': 'Reply to' },
      h('span.quote-who', r ? s.nameOf(r.sender_id) : 'Reply'),
      h('span.quote-body', r ? (r.deleted ? 'Message deleted' : r.body) : 'Original message not loaded'),
    );
  }

  // attachments are links to the node's decrypted bytes (GET /v1/media/ID, same origin, so the
  // session cookie applies); names are text.
  function attachments(m) {
    if (m.deleted || !m.attachments || !m.attachments.length) return null;
    return h('ul.attachments', m.attachments.map((a) => h('li',
      h('a', { href: '/v1/media/' + q(a.media_id), download: a.name || 'attachment', rel: 'noopener' }, '📎 ', a.name || 'attachment'),
      a.size ? h('span.muted', ' ' + fmtSize(a.size)) : null,
    )));
  }

  function fmtSize(n) {
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1024 / 1024).toFixed(1) + ' MiB';
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
    const own = m.sender_id === me();
    const r = m.reply_to ? s.message(convId, m.reply_to) : null;
    const sig = JSON.stringify([m.body, m.status, m.deleted, m.edited_at, m.reactions, m.error, r && [r.body, r.deleted], menuFor === m.id, editing && editing.id === m.id]);
    const old = els.get(m.id);
    if (old && old.dataset.sig === sig) return old;
    const body = m.deleted
      ? h('div.body.deleted', own ? 'You deleted this message' : 'This message was deleted')
      : h('div.body', m.body);
    const el = h('div.msg.' + (own ? 'own' : 'theirs') + (m.local ? '.local' : '') + (editing && editing.id === m.id ? '.editing' : ''), {
      dataset: { id: m.id, sig, status: m.status },
      role: 'article',
    },
    h('div.bubble',
      quote(m),
      body,
      attachments(m),
      h('div.meta',
        m.edited_at && !m.deleted ? h('span.edited', 'edited') : null,
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

  function drawMessages() {
    const ms = s.messages(convId);
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
      nodes.push(msgEl(m));
    }
    const wasAtBottom = atBottom();
    const lastBefore = list.lastElementChild;
    reconcile(list, nodes);
    const lastNow = list.lastElementChild;
    const grewOwn = lastNow !== lastBefore && lastNow && lastNow.classList.contains('own');
    if (wasAtBottom || grewOwn) toBottom();
    drawTop();
    for (const id of els.keys()) if (!s.message(convId, id)) els.delete(id);
    if (pendingFocus) focusMessage(pendingFocus);
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
      return;
    }
    try {
      const page = await app.api.get('/v1/conversations/' + q(convId) + '/messages?limit=' + PAGE);
      s.addPage(convId, page);
      drawMessages();
      toBottom();
      maybeMarkRead();
    } catch (e) {
      setChildren(top, h('span.error', 'Could not load messages: ' + e.message));
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
      flash('Could not load older messages: ' + e.message);
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
    const items = [
      h('div.menu-reactions', { role: 'group', 'aria-label': 'React' }, REACTIONS.map((e) =>
        h('button.menu-emoji', { role: 'menuitem', 'aria-label': 'React ' + e, onclick: () => { closeMenu(); react(m, e, ((m.reactions || {})[e] || []).includes(me())); } }, e))),
      h('button', { role: 'menuitem', dataset: { action: 'reply' }, onclick: () => { closeMenu(); startReply(m); } }, icon('reply'), 'Reply'),
      own ? h('button', { role: 'menuitem', dataset: { action: 'edit' }, onclick: () => { closeMenu(); startEdit(m); } }, 'Edit') : null,
      h('button', { role: 'menuitem', dataset: { action: 'delete-me' }, onclick: () => { closeMenu(); del(m, 'me'); } }, 'Delete for me'),
      own ? h('button.danger', { role: 'menuitem', dataset: { action: 'delete-everyone' }, onclick: () => { closeMenu(); del(m, 'everyone'); } }, 'Delete for everyone') : null,
    ];
    setChildren(menu, items);
    menu.hidden = false;
    const r = anchor.getBoundingClientRect();
    const pr = v.el.getBoundingClientRect();
    const mw = 260;
    let left = r.right - pr.left - mw;
    if (left < 8) left = 8;
    menu.style.left = left + 'px';
    const below = r.bottom - pr.top + 4;
    menu.style.top = (below + 220 > pr.height ? Math.max(8, r.top - pr.top - 224) : below) + 'px';
    menu.dataset.anchor = m.id;
    menu.querySelector('button').focus();
    drawMessages();
  }

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
      flash(e.message);
    }
  }

  async function del(m, forWhom) {
    try {
      const nm = await app.api.del('/v1/messages/' + q(m.id) + '?for=' + forWhom);
      if (forWhom === 'me') s.hide(m.id, convId);
      else s.putMessage(nm, false);
    } catch (e) {
      flash(e.message);
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
    if (!body) return;
    stopTyping();
    if (editing) {
      const m = editing;
      try {
        const nm = await app.api.patch('/v1/messages/' + q(m.id), { body });
        s.putMessage(nm, false);
        input.value = '';
        cancelCompose();
      } catch (e) {
        flash('Could not edit: ' + e.message);
      }
      return;
    }
    app.sendMessage(convId, body, replyTo && replyTo.id);
    app.drafts.delete(convId);
    input.value = '';
    replyTo = null;
    drawComposerBar();
    autosize();
    toBottom();
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
    document.removeEventListener('pointerdown', onOutside, true);
  };

  drawHeader();
  drawBanners();
  drawTop();
  drawMessages();
  loadNewest();
  return v;
}

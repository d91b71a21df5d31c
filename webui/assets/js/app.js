// app.js: the shell — login, loading, routing, the conversation list, the connection bar —
// and the glue between the store, the REST API and the socket.
import { Api, ApiError, q } from './api.js';
import { Live } from './live.js';
import { Store } from './state.js';
import { h, setChildren, reconcile, initials, hue, fmtWhen, arrowNav } from './dom.js';
import { icon } from './icons.js';
import { chatView } from './views/chat.js';
import { contactView, settingsView, searchView, welcomeView, homeView } from './views/panels.js';
import { newChatView, newGroupView, groupInfoView } from './views/group.js';
import { Notifier } from './notify.js';
import { summary as attachmentSummary } from './media.js';

// newId returns a client_msg_id: 1–64 characters of [0-9A-Za-z_-].
export function newId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export class App {
  constructor(root) {
    this.root = root;
    this.api = new Api();
    this.store = new Store();
    this.api.onUnauthorized = () => this.loggedOut();
    this.live = new Live({
      onFrame: (f) => this.onFrame(f),
      onState: (s, retryAt) => this.onLiveState(s, retryAt),
      since: () => this.store.seq,
      probe: () => this.probe(),
    });
    this.view = null;
    this.viewKey = '';
    this.convEls = new Map();
    this.fetchingConv = new Set();
    this.countdown = 0;
    this.drafts = new Map(); // conversation id → unsent text (memory only)
    this.filter = ''; // the chat list's name filter
    this.notifier = new Notifier(this);
    this.store.onIncoming = (m, conv) => this.notifier.incoming(m, conv);
  }

  // boot: log in if the URL carries a token, load the state over REST, then go live.
  async boot() {
    // A login link opened in a tab that already shows the UI only changes the fragment:
    // start over so that the token is used (and removed from the address bar).
    window.addEventListener('hashchange', () => {
      if (/(^#|&)token=/.test(location.hash)) location.reload();
    });
    const frag = new URLSearchParams(location.hash.slice(1));
    const token = frag.get('token');
    if (token) {
      // Drop the token from the address bar (and history) before anything else.
      history.replaceState(null, '', location.pathname + location.search);
    }
    this.showLoading();
    try {
      if (token) await this.api.login(token);
      await this.load();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) this.loggedOut(token ? e.message : '');
      else this.showFatal(e);
      return;
    }
    this.buildShell();
    this.store.subscribe((c) => this.onChange(c));
    this.notifier.start();
    window.addEventListener('hashchange', () => this.route());
    document.addEventListener('keydown', (e) => this.onKey(e));
    document.addEventListener('visibilitychange', () => this.view && this.view.update && this.view.update(new Set(['visible'])));
    this.route();
    this.renderList();
    this.live.start();
  }

  async load() {
    // The seq first: events after it are replayed by hello, so nothing that changes while
    // the REST calls run is lost (what is replayed twice is applied idempotently).
    const latest = await this.api.get('/v1/events/latest');
    const [me, settings, contacts] = await Promise.all([
      this.api.get('/v1/me'),
      this.api.get('/v1/settings'),
      this.api.get('/v1/contacts'),
    ]);
    const convs = [];
    let cursor = '';
    for (let i = 0; i < 50; i++) {
      const page = await this.api.get('/v1/conversations?limit=100' + (cursor ? '&cursor=' + q(cursor) : ''));
      convs.push(...page.conversations);
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    const s = this.store;
    s.seq = latest.seq;
    s.me = me;
    s.settings = settings;
    s.setContacts(contacts.contacts);
    s.setConversations(convs);
  }

  // probe asks the REST API whether the node is back; a 401 logs out.
  async probe() {
    try {
      await this.api.get('/v1/status');
      return true;
    } catch {
      return false; // a 401 has already logged out (api.onUnauthorized)
    }
  }

  // --- screens outside the shell ---

  showLoading() {
    setChildren(this.root, h('div.center-screen', h('div.card', h('div.brand', 'petrel'), h('p.muted', { role: 'status' }, 'Connecting to your node…'))));
  }

  showFatal(e) {
    setChildren(this.root, h('div.center-screen', h('div.card',
      h('div.brand', 'petrel'),
      h('h1', 'Your node cannot be reached'),
      h('p', String((e && e.message) || e)),
      h('p.muted', 'Is petrel still running? Start it with petrel run, then try again.'),
      h('button.primary', { onclick: () => location.reload() }, 'Try again'),
    )));
  }

  loggedOut(why) {
    if (this.isLoggedOut) return;
    this.isLoggedOut = true;
    this.live.stop();
    setChildren(this.root, h('div.center-screen#logged-out', h('div.card',
      h('div.brand', 'petrel'),
      h('h1', 'Open the link printed by petrel run'),
      why ? h('p.error', { role: 'alert' }, why) : null,
      h('p', 'This page is not logged in to your node. When petrel run starts, it prints a link that logs this browser in:'),
      h('pre.example', 'petrel is running.\n  Web UI: http://127.0.0.1:7733/#token=…'),
      h('p.muted', 'Open that link (or copy it into the address bar). The token in it is also in api.json in the node’s data directory; keep it private — it unlocks your messages.'),
    )));
  }

  // --- the shell ---

  buildShell() {
    this.connBar = h('div.conn', { role: 'status', 'aria-live': 'polite', hidden: true });
    this.list = h('ul.conv-list');
    this.listEmpty = h('p.list-empty.muted', 'No conversations yet.');
    this.pane = h('main.pane#pane');
    this.meAvatar = h('span.me-avatar');
    this.meName = h('span.me-name');
    this.meBtn = h('a.me', { href: '#/settings', title: 'Your profile and settings' }, this.meAvatar,
      h('span.me-text', this.meName, h('span.me-sub', 'Profile and settings')));
    this.filterIn = h('input#chat-filter.filter-input', { type: 'search', placeholder: 'Filter chats by name', 'aria-label': 'Filter chats by name', autocomplete: 'off' });
    this.filterIn.addEventListener('input', () => { this.filter = this.filterIn.value.trim().toLowerCase(); this.renderList(); });
    this.filterIn.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowDown') {
        const a = this.list.querySelector('a.conv');
        if (a) { e.preventDefault(); a.focus(); }
      }
    });
    this.list.addEventListener('keydown', (e) => {
      if (arrowNav(e, this.list.querySelectorAll('a.conv'))) return;
    });
    this.sidebar = h('aside.sidebar', { 'aria-label': 'Conversations' },
      h('header.side-head',
        h('h1.visually-hidden', 'petrel'),
        this.meBtn,
        h('div.side-actions',
          h('a.icon-btn', { href: '#/search', 'aria-label': 'Search messages', title: 'Search (Ctrl+K)' }, icon('search')),
          h('a.icon-btn', { href: '#/new-group', 'aria-label': 'New group', title: 'New group' }, icon('group')),
          h('a.icon-btn', { href: '#/new', 'aria-label': 'New chat', title: 'New chat or contact' }, icon('plus')),
        ),
      ),
      h('div.filter-box', icon('search'), this.filterIn),
      h('nav.convs', { 'aria-label': 'Conversation list' }, this.list, this.listEmpty),
    );
    this.layout = h('div.layout', this.sidebar, this.pane);
    this.root.classList.add('shell');
    // A device the account's primary revoked says so (docs/API.md §8: GET /v1/me's device).
    this.revokedBar = h('div.conn.revoked', { role: 'alert', hidden: true }, 'This device was removed from the account');
    setChildren(this.root, this.connBar, this.revokedBar, this.layout);
    this.drawMe();
  }

  // drawMe shows whose node this is: the own name and avatar in the sidebar and the tab title.
  drawMe() {
    if (!this.meName) return;
    const s = this.store;
    const name = (s.me && s.me.name) || 'You';
    this.meName.textContent = name;
    setChildren(this.meAvatar, this.avatar(name, s.me ? s.me.user_id : 'me'));
    this.revokedBar.hidden = !(s.me && s.me.device && s.me.device.revoked_at);
    this.drawTitle();
  }

  drawTitle() {
    const s = this.store;
    const n = s.totalUnread();
    const name = s.me && s.me.name;
    document.title = (n ? '(' + n + ') ' : '') + 'petrel' + (name ? ' — ' + name : '');
    this.notifier.badge(n);
  }

  // route reads the hash: #/, #/add, #/c/ID[/m/MSG], #/contact/ID, #/settings, #/search.
  route() {
    if (/(^#|&)token=/.test(location.hash)) return; // boot reloads
    const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
    let key = parts[0] || 'home';
    if (key === 'home' && this.store.contacts.size === 0) key = 'welcome';
    const id = parts[1] || '';
    const viewKey = key + '/' + id;
    if (viewKey === this.viewKey && this.view) {
      if (key === 'c' && parts[2] === 'm' && this.view.focusMessage) this.view.focusMessage(parts[3]);
      return;
    }
    if (this.view && this.view.destroy) this.view.destroy();
    this.viewKey = viewKey;
    switch (key) {
      case 'c':
        this.view = chatView(this, id, parts[2] === 'm' ? parts[3] : '');
        break;
      case 'contact':
        this.view = contactView(this, id);
        break;
      case 'settings':
        this.view = settingsView(this);
        break;
      case 'new':
        this.view = newChatView(this);
        break;
      case 'new-group':
        this.view = newGroupView(this);
        break;
      case 'group':
        this.view = groupInfoView(this, id);
        break;
      case 'search':
        this.view = searchView(this);
        break;
      case 'add':
        this.view = welcomeView(this, false);
        break;
      case 'welcome':
        this.view = welcomeView(this, true);
        break;
      default:
        key = 'home';
        this.view = homeView(this);
    }
    this.layout.dataset.route = key;
    setChildren(this.pane, this.view.el);
    if (this.view.focus) this.view.focus();
    this.markActive();
  }

  go(hash) {
    if (location.hash === hash) this.route();
    else location.hash = hash;
  }

  onKey(e) {
    if (document.querySelector('dialog[open]')) return; // a dialog handles its own keys
    if (this.view && this.view.onKey && this.view.onKey(e)) return;
    if (e.key === 'Escape' && this.layout.dataset.route !== 'home' && this.layout.dataset.route !== 'welcome') {
      e.preventDefault();
      this.go(this.view && this.view.backTo ? this.view.backTo : '#/');
    } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
      e.preventDefault();
      this.go('#/search');
    }
  }

  onChange(changes) {
    if (changes.has('me')) this.drawMe();
    for (const c of changes) {
      if (c.startsWith('missing:')) this.fetchConversation(c.slice(8));
      if (c.startsWith('withheld:')) this.fetchMessage(c.slice(9));
    }
    this.renderList();
    if (this.view && this.view.update) this.view.update(changes);
  }

  // fetchMessage reads a disappearing message whose event came without its content.
  async fetchMessage(id) {
    const s = this.store;
    if (!s.withheld.has(id)) return;
    const isNew = s.withheld.get(id);
    s.withheld.delete(id);
    try {
      const m = await this.api.get('/v1/messages/' + q(id));
      s.putMessage(m, isNew);
    } catch {
      // Gone (expired) or unreachable: its deletion comes as a message_update.
    }
  }

  async fetchConversation(id) {
    if (this.fetchingConv.has(id) || this.store.convs.has(id)) return;
    this.fetchingConv.add(id);
    try {
      const c = await this.api.get('/v1/conversations/' + q(id));
      if (!this.store.convs.has(id)) {
        this.store.convs.set(id, c);
        this.store.changed('convs');
      }
    } catch {
      // It will come with the next conversation event.
    } finally {
      this.fetchingConv.delete(id);
    }
  }

  // --- live ---

  onFrame(f) {
    const s = this.store;
    switch (f.type) {
      case 'ack':
        s.pending.delete(f.client_msg_id);
        return;
      case 'error':
        if (f.ref && s.pending.has(f.ref)) s.failLocal(f.ref, f.message);
        else console.warn('petrel:', f.code, f.message);
        return;
      case 'synced':
        if (f.seq < s.seq) {
          // The node's log ends before what this page has seen: it is not the node the page
          // knew (its data directory was replaced). Start over from the node's state.
          location.reload();
          return;
        }
        s.applyFrame(f);
        this.resendPending();
        return;
    }
    s.applyFrame(f);
  }

  // resendPending sends again what was sent but not acknowledged (the node dedups by
  // client_msg_id, so a send that did arrive is answered with the original message).
  resendPending() {
    for (const [, p] of this.store.pending) this.live.send(p.frame);
  }

  send(frame) {
    return this.live.ready && this.live.send(frame);
  }

  sendMessage(convId, body, replyTo, attachments) {
    const frame = { type: 'send', conversation_id: convId, client_msg_id: newId(), body };
    if (replyTo) frame.reply_to = replyTo;
    if (attachments && attachments.length) frame.attachments = attachments.map((a) => ({ media_id: a.media_id }));
    this.store.addLocal(frame, attachments);
    this.send(frame); // when offline it goes out after the next synced
  }

  retryMessage(m) {
    const map = this.store.msgs.get(m.conversation_id);
    if (map) map.delete(m.id);
    const frame = { type: 'send', conversation_id: m.conversation_id, client_msg_id: m.client_msg_id, body: m.body };
    if (m.reply_to) frame.reply_to = m.reply_to;
    if (m.attachments && m.attachments.length) frame.attachments = m.attachments.map((a) => ({ media_id: a.media_id }));
    this.store.addLocal(frame, m.attachments);
    this.send(frame);
  }

  // markRead tells the node (over the socket, or REST when it is down) that the user has
  // read conv up to the message upTo.
  markRead(convId, upTo) {
    if (this.send({ type: 'read', conversation_id: convId, up_to: upTo })) return;
    this.api.post('/v1/conversations/' + q(convId) + '/read', { up_to: upTo }).catch(() => {});
  }

  onLiveState(state, retryAt) {
    clearInterval(this.countdown);
    const bar = this.connBar;
    if (!bar) return;
    document.body.dataset.conn = state;
    // Without its node the UI knows nobody's presence: drop what it showed (synced brings
    // a fresh snapshot).
    if (state === 'offline' || state === 'connecting') this.store.forgetPresence(false);
    if (state === 'online' || state === 'syncing') {
      bar.hidden = true;
      return;
    }
    bar.hidden = false;
    if (state === 'connecting') {
      setChildren(bar, h('span.spinner', { 'aria-hidden': 'true' }), 'Connecting to your node…');
      return;
    }
    const draw = () => {
      const s = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      setChildren(bar,
        h('span.dot.offline', { 'aria-hidden': 'true' }),
        'Offline — your node cannot be reached. ',
        s > 0 ? 'Retrying in ' + s + ' s. ' : 'Retrying… ',
        h('button.link', { onclick: () => this.live.retryNow() }, 'Retry now'),
      );
    };
    draw();
    this.countdown = setInterval(draw, 1000);
  }

  // --- the conversation list ---

  presenceOf(userId) {
    const st = this.store;
    if (!st.presenceKnown || (st.settings && st.settings.presence === 'nobody')) return null;
    const p = st.presence.get(userId);
    if (p) return p;
    const c = this.store.contactByUser(userId);
    if (c && c.last_seen) return { state: 'offline', last_seen: c.last_seen };
    return null;
  }

  avatar(name, id, userId, big) {
    const p = userId ? this.presenceOf(userId) : null;
    const a = h('span.avatar' + (big ? '.big' : ''), { 'aria-hidden': 'true', style: { '--h': hue(id) } }, initials(name));
    if (!userId && this.store.isGroup(id)) a.classList.add('group');
    if (p) a.appendChild(h('span.dot.' + (p.state === 'online' ? 'online' : 'offline')));
    return a;
  }

  // preview is the list's one-line summary of a conversation.
  preview(c, contact, typers) {
    const s = this.store;
    const last = c.last_message;
    if (typers.length) return c.type === 'group' ? typers.map((u) => s.nameOf(u, c.id)).join(', ') + ' typing…' : 'typing…';
    if (last) {
      const own = last.sender_id === (s.me && s.me.user_id);
      const who = own ? 'You: ' : c.type === 'group' ? s.nameOf(last.sender_id, c.id) + ': ' : '';
      return who + (last.deleted ? 'Message deleted' : last.body || attachmentSummary(last));
    }
    if (contact && contact.request === 'pending') return 'Message request';
    if (c.type === 'group' && !s.amMember(c.id)) return 'You are no longer a member';
    return 'No messages yet';
  }

  renderList() {
    if (!this.list) return;
    const s = this.store;
    const convs = s.sortedConvs().filter((c) => !this.filter || s.convName(c).toLowerCase().includes(this.filter));
    this.listEmpty.hidden = convs.length > 0;
    this.listEmpty.textContent = this.filter ? 'No chat is called “' + this.filterIn.value.trim() + '”.' : 'No conversations yet.';
    const nodes = convs.map((c) => {
      const contact = c.type === 'direct' ? s.contactForConv(c.id) : null;
      const name = s.convName(c);
      const last = c.last_message;
      const typers = s.typers(c.id);
      const preview = this.preview(c, contact, typers);
      const unread = c.unread_count || 0;
      const muted = s.isMuted(c);
      const p = contact ? this.presenceOf(contact.user_id) : null;
      const when = fmtWhen(last ? last.sent_at : c.updated_at);
      const sig = JSON.stringify([name, preview, unread, when, p && p.state, contact && contact.request, contact && contact.identity_changed, typers.length, muted]);
      let li = this.convEls.get(c.id);
      if (!li || li.dataset.sig !== sig) {
        // No aria-label: the link's name is its visible text (name, time, preview), plus
        // hidden words for what only colour or a badge shows.
        li = h('li', { dataset: { id: c.id, sig } },
          h('a.conv', { href: '#/c/' + q(c.id) },
            this.avatar(name, c.id, contact && contact.user_id),
            h('span.conv-main',
              h('span.conv-top',
                h('span.conv-name', name),
                p && p.state === 'online' ? h('span.visually-hidden', ', online') : null,
                h('time.conv-time', when),
              ),
              h('span.conv-bottom',
                h('span.conv-last' + (typers.length ? '.typing' : ''), preview),
                muted ? h('span.muted-icon', { title: 'Muted' }, icon('bell-off'), h('span.visually-hidden', 'muted')) : null,
                contact && contact.identity_changed ? h('span.tag.warn', { title: 'Safety number changed' }, '!', h('span.visually-hidden', ' safety number changed')) : null,
                contact && contact.request === 'pending' ? h('span.tag', 'request') : null,
                unread ? [h('span.badge', { 'aria-hidden': 'true' }, unread > 99 ? '99+' : String(unread)), h('span.visually-hidden', ', ' + unread + ' unread')] : null,
              ),
            ),
          ),
        );
        this.convEls.set(c.id, li);
      }
      return li;
    });
    reconcile(this.list, nodes);
    this.markActive();
    this.drawTitle();
  }

  markActive() {
    if (!this.list) return;
    const m = /^#\/c\/([^/]+)/.exec(location.hash);
    const active = m ? decodeURIComponent(m[1]) : '';
    for (const li of this.list.children) {
      const a = li.firstChild;
      if (li.dataset.id === active) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }
}

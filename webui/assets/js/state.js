// state.js: everything the UI knows, kept in memory only (nothing in localStorage: the node
// is the store). Events from the socket are applied here; each is applied once (seq guard)
// and every message is keyed by id, so replays after a reconnect change nothing twice.

const STATUS_RANK = { pending: 1, sent: 2, delivered: 3, read: 4 };
const TYPING_TTL = 8000; // a typing indicator without a fresh "start" frame ends after this

// withheld reports whether m, from an event, is a disappearing message whose content the
// event leaves out (docs/API.md §9).
export function withheld(m) {
  return m && m.disappear_after_s > 0 && !m.deleted && !m.system;
}

export class Store {
  constructor() {
    this.me = null;
    this.settings = null;
    this.seq = 0; // the last event seq applied
    this.contacts = new Map(); // id → Contact
    this.convs = new Map(); // id → Conversation
    this.msgs = new Map(); // conversation id → Map(message id → Message)
    this.hasMore = new Map(); // conversation id → older history exists on the node
    this.loaded = new Set(); // conversations whose newest page was fetched
    this.hidden = new Set(); // message ids deleted "for me" from this UI
    this.withheld = new Map(); // message id → isNew: disappearing messages to read by id
    this.pending = new Map(); // client_msg_id → {frame, sentAt}: sent, not yet acknowledged
    this.typing = new Map(); // conversation id → Map(user id → expiry ms)
    this.presence = new Map(); // user id → {state, last_seen}
    // presenceKnown: the socket is synced, so presence frames are flowing. While the UI has
    // lost its node nobody's presence is known (the dots would be stale guesses).
    this.presenceKnown = false;
    this.groupChanges = new Map(); // conversation id → [GroupChange] (GET .../changes)
    this.onIncoming = () => {}; // called with each new message from someone else
    this.openConv = ''; // the conversation on screen (its new messages are read at once)
    this.listeners = new Set();
    this.changes = new Set();
    this.flushQueued = false;
  }

  // subscribe calls fn(changes: Set of strings) after each batch of changes.
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed(what) {
    this.changes.add(what);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      const c = this.changes;
      this.changes = new Set();
      for (const fn of this.listeners) fn(c);
    });
  }

  // --- loading ---

  setContacts(list) {
    this.contacts = new Map(list.map((c) => [c.id, c]));
    this.changed('contacts');
  }

  setConversations(list) {
    this.convs = new Map(list.map((c) => [c.id, c]));
    this.changed('convs');
  }

  // addPage merges a page of history. older says the page came from ?before= (so has_more is
  // about older messages) — the newest page also sets has_more that way.
  addPage(convId, page) {
    for (const m of page.messages) this.putMessage(m, false);
    this.hasMore.set(convId, page.has_more);
    this.loaded.add(convId);
    this.changed('msgs:' + convId);
  }

  // --- events ---

  // applyFrame applies one socket frame; it returns false for frames it ignored.
  applyFrame(f) {
    switch (f.type) {
      case 'event':
        if (f.seq <= this.seq) return false; // seen already (replay overlap)
        this.seq = f.seq;
        this.applyEvent(f);
        return true;
      case 'synced':
        if (f.seq > this.seq) this.seq = f.seq;
        this.presenceKnown = true;
        this.changed('presence');
        return true;
      case 'typing':
        this.setTyping(f.conversation_id, f.user_id, f.state === 'start');
        return true;
      case 'presence':
        this.presence.set(f.user_id, { state: f.state, last_seen: f.last_seen });
        this.changed('presence');
        return true;
    }
    return false;
  }

  applyEvent(ev) {
    switch (ev.kind) {
      case 'message':
        this.putOrFetch(ev.message, true);
        break;
      case 'message_update':
        this.putOrFetch(ev.message || ev.message_update, false); // (older nodes used the kind as key)
        break;
      case 'conversation': {
        const old = this.convs.get(ev.conversation.id);
        const c = ev.conversation;
        // The node's last_message wins unless we already hold a newer one.
        if (old && old.last_message && c.last_message && old.last_message.order > c.last_message.order) c.last_message = old.last_message;
        // A disappearing last message comes without its content (API §9): keep the one held.
        if (old && old.last_message && c.last_message && withheld(c.last_message) && old.last_message.id === c.last_message.id) c.last_message = old.last_message;
        this.convs.set(c.id, c);
        this.changed('convs');
        break;
      }
      case 'contact':
        this.contacts.set(ev.contact.id, ev.contact);
        this.changed('contacts');
        break;
      case 'me':
        this.me = ev.me;
        this.changed('me');
        break;
      case 'device_revoked':
        this.me = Object.assign({}, this.me, { device: ev.device_revoked });
        this.changed('me');
        break;
    }
  }

  // putOrFetch is putMessage, except for a disappearing message: its event carries no
  // content (docs/API.md §9), so the app reads it by id (the 'withheld:' change) and puts
  // what it gets.
  putOrFetch(m, isNew) {
    if (!withheld(m)) {
      this.putMessage(m, isNew);
      return;
    }
    if (this.hidden.has(m.id)) return;
    this.withheld.set(m.id, this.withheld.get(m.id) || isNew);
    this.changed('withheld:' + m.id);
  }

  // putMessage stores m by id (an update replaces it; statuses never move back) and keeps
  // the conversation's last message and unread count current.
  putMessage(m, isNew) {
    if (this.hidden.has(m.id)) return;
    let map = this.msgs.get(m.conversation_id);
    if (!map) {
      map = new Map();
      this.msgs.set(m.conversation_id, map);
    }
    const old = map.get(m.id);
    if (old && STATUS_RANK[old.status] > (STATUS_RANK[m.status] || 0) && m.status !== 'failed') m.status = old.status;
    map.set(m.id, m);
    if (this.me && m.sender_id === this.me.user_id && m.client_msg_id) {
      map.delete('local:' + m.client_msg_id);
      this.pending.delete(m.client_msg_id);
    }
    const conv = this.convs.get(m.conversation_id);
    if (conv) {
      const last = conv.last_message;
      if (!last || last.id === m.id || m.order > last.order) {
        const newer = !last || m.order > last.order;
        conv.last_message = m;
        const onScreen = this.openConv === conv.id && document.visibilityState === 'visible';
        if (newer && isNew && !old && !onScreen && this.me && m.sender_id !== this.me.user_id) {
          conv.unread_count = (conv.unread_count || 0) + 1;
          this.onIncoming(m, conv);
        }
        conv.updated_at = Math.max(conv.updated_at || 0, m.sent_at || 0);
      }
      this.changed('convs');
    } else {
      this.changed('missing:' + m.conversation_id);
    }
    this.changed('msgs:' + m.conversation_id);
  }

  // addLocal shows a message the user just sent, before the node has acknowledged it.
  addLocal(frame, attachments) {
    const m = {
      id: 'local:' + frame.client_msg_id,
      local: true,
      conversation_id: frame.conversation_id,
      client_msg_id: frame.client_msg_id,
      sender_id: this.me.user_id,
      body: frame.body,
      reply_to: frame.reply_to || null,
      attachments: attachments || [],
      sent_at: Date.now(),
      received_at: Date.now(),
      order: '\uffff' + String(Date.now()).padStart(15, '0') + frame.client_msg_id,
      status: 'pending',
      receipts: { delivered: 0, read: 0, total: 1 },
      edited_at: null,
      deleted: false,
      reactions: {},
    };
    this.pending.set(frame.client_msg_id, { frame });
    let map = this.msgs.get(m.conversation_id);
    if (!map) {
      map = new Map();
      this.msgs.set(m.conversation_id, map);
    }
    map.set(m.id, m);
    this.changed('msgs:' + m.conversation_id);
  }

  // failLocal marks a local message failed (the node refused it).
  failLocal(clientMsgId, error) {
    const p = this.pending.get(clientMsgId);
    if (!p) return;
    this.pending.delete(clientMsgId);
    const map = this.msgs.get(p.frame.conversation_id);
    const m = map && map.get('local:' + clientMsgId);
    if (m) {
      m.status = 'failed';
      m.error = error;
      this.changed('msgs:' + m.conversation_id);
    }
  }

  hide(id, convId) {
    this.hidden.add(id);
    const map = this.msgs.get(convId);
    if (map) map.delete(id);
    this.changed('msgs:' + convId);
  }

  setTyping(convId, userId, on) {
    let t = this.typing.get(convId);
    if (!t) {
      t = new Map();
      this.typing.set(convId, t);
    }
    if (on) {
      t.set(userId, Date.now() + TYPING_TTL);
      // Redraw when it expires: a "stop" frame can be lost with the peer's connection.
      setTimeout(() => this.changed('typing'), TYPING_TTL + 50);
    } else {
      t.delete(userId);
    }
    this.changed('typing');
  }

  // typers returns who is typing in a conversation now.
  typers(convId) {
    const t = this.typing.get(convId);
    if (!t) return [];
    const now = Date.now();
    return [...t].filter(([, exp]) => exp > now).map(([u]) => u);
  }

  // --- queries ---

  messages(convId) {
    const map = this.msgs.get(convId);
    if (!map) return [];
    return [...map.values()].sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
  }

  message(convId, id) {
    const map = this.msgs.get(convId);
    return map && map.get(id);
  }

  contactForConv(convId) {
    for (const c of this.contacts.values()) if (c.conversation_id === convId) return c;
    return null;
  }

  contactByUser(userId) {
    for (const c of this.contacts.values()) if (c.user_id === userId) return c;
    return null;
  }

  convName(conv) {
    if (!conv) return '';
    if (conv.type === 'direct') {
      const c = this.contactForConv(conv.id);
      if (c && c.name) return c.name;
    }
    return conv.name || 'Conversation';
  }

  // nameOf is what the UI calls a user: "You", the contact's name, else the name the
  // user's group card gives (conv, when given, is the group to look in), else "Someone".
  nameOf(userId, convId) {
    if (this.me && userId === this.me.user_id) return 'You';
    const c = this.contactByUser(userId);
    if (c && c.name) return c.name;
    const convs = convId ? [this.convs.get(convId)] : this.convs.values();
    for (const cv of convs) {
      const mb = cv && (cv.members || []).find((x) => x.user_id === userId);
      if (mb && mb.name) return mb.name;
    }
    return 'Someone';
  }

  // forgetPresence drops every contact's presence: the UI lost its node, or the user chose
  // to share presence with nobody (then the node shows nobody's either).
  forgetPresence(known) {
    this.presence.clear();
    this.presenceKnown = known;
    if (this.settings && this.settings.presence === 'nobody') for (const c of this.contacts.values()) c.last_seen = null;
    this.changed('presence');
  }

  isGroup(convId) {
    const c = this.convs.get(convId);
    return !!c && c.type === 'group';
  }

  // amMember reports whether the user is (still) in group convId.
  amMember(convId) {
    const c = this.convs.get(convId);
    return !!c && !!this.me && (c.members || []).some((m) => m.user_id === this.me.user_id);
  }

  amAdmin(convId) {
    const c = this.convs.get(convId);
    return !!c && !!this.me && (c.members || []).some((m) => m.user_id === this.me.user_id && m.role === 'admin');
  }

  totalUnread() {
    let n = 0;
    for (const c of this.convs.values()) if (!this.isMuted(c)) n += c.unread_count || 0;
    return n;
  }

  // isMuted: the node's muted_until (on every Conversation object, docs/API.md) is still
  // ahead.
  isMuted(conv) {
    return !!conv && !!conv.muted_until && conv.muted_until > Date.now();
  }

  // sortedConvs is the conversation list: newest activity first.
  sortedConvs() {
    const at = (c) => Math.max(c.updated_at || 0, (c.last_message && c.last_message.sent_at) || 0);
    return [...this.convs.values()].sort((a, b) => at(b) - at(a));
  }
}

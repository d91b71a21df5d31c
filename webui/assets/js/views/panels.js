// views/panels.js: the screens other than a chat — first run / add a contact, contact
// details with the safety number, settings, search, and the empty home pane.
import { h, setChildren, highlight, fmtWhen, fmtLastSeen } from '../dom.js';
import { icon } from '../icons.js';
import { q } from '../api.js';
import { pushCard } from './push.js';
import { devicesCard } from './devices.js';
import { inviteExtras } from './invites.js';

function head(title, backTo, backLabel) {
  return h('header.pane-head',
    h('a.icon-btn.back' + (backTo === '#/' ? '' : '.always'), { href: backTo, 'aria-label': backLabel || 'Close' }, icon(backTo === '#/' ? 'back' : 'back')),
    h('h2.pane-title', { tabindex: '-1' }, title),
  );
}

function status(el, text, isError) {
  el.className = isError ? 'form-status error' : 'form-status ok';
  el.textContent = text;
  if (!isError) setTimeout(() => { if (el.textContent === text) el.textContent = ''; }, 2500);
}

export function homeView(app) {
  const el = h('section.home',
    h('div.empty-state',
      h('div.brand.big', 'petrel'),
      h('p', 'Pick a conversation, or start one with the + button.'),
      h('p.muted', 'Enter sends · Shift+Enter adds a line · Esc closes · Ctrl+K searches'),
    ),
  );
  return { el };
}

// welcomeView is the first-run screen (first = true) and the "add a contact" screen.
export function welcomeView(app, first) {
  const s = app.store;
  const nameInput = h('input#wel-name', { type: 'text', value: (s.me && s.me.name) || '', maxlength: '128', autocomplete: 'nickname', placeholder: 'How friends see you' });
  const nameStatus = h('span.form-status', { role: 'status' });
  const qr = h('div.qr', { 'aria-busy': 'true' }, h('span.muted', 'Making your invite…'));
  const linkOut = h('textarea#wel-link.link-out', { readonly: true, rows: '3', 'aria-label': 'Your invite link' });
  const copyStatus = h('span.form-status', { role: 'status' });
  const pasteIn = h('textarea#wel-paste', { rows: '3', placeholder: 'petrel:…', spellcheck: 'false', autocomplete: 'off' });
  const pasteName = h('input#wel-paste-name', { type: 'text', maxlength: '128', placeholder: 'Optional: a name for them' });
  const addStatus = h('span.form-status', { role: 'status' });
  let qrURL = '';
  const extras = inviteExtras(app, () => makeInvite());

  async function makeInvite() {
    try {
      const inv = await app.api.post('/v1/invites', extras.lifetime());
      linkOut.value = inv.link;
      if (qrURL) URL.revokeObjectURL(qrURL);
      // The SVG is drawn by our node; shown through <img> it cannot run script either way.
      qrURL = URL.createObjectURL(new Blob([inv.qr_svg], { type: 'image/svg+xml' }));
      setChildren(qr, h('img', { src: qrURL, alt: 'QR code of your invite link', width: '220', height: '220' }));
      qr.removeAttribute('aria-busy');
      extras.shown(inv);
    } catch (e) {
      setChildren(qr, h('span.error', 'Could not make an invite. ' + e.message));
    }
  }

  async function saveName(e) {
    e.preventDefault();
    try {
      s.me = await app.api.patch('/v1/me', { name: nameInput.value.trim() });
      s.changed('me');
      status(nameStatus, 'Saved');
    } catch (err) {
      status(nameStatus, err.message, true);
    }
  }

  async function copy() {
    linkOut.select();
    try {
      await navigator.clipboard.writeText(linkOut.value);
      status(copyStatus, 'Copied');
    } catch {
      status(copyStatus, 'Press Ctrl+C to copy', false);
    }
  }

  async function add(e) {
    e.preventDefault();
    const link = pasteIn.value.trim();
    if (!link) {
      status(addStatus, 'Paste the link your friend sent you first.', true);
      pasteIn.focus();
      return;
    }
    const body = { link };
    if (pasteName.value.trim()) body.name = pasteName.value.trim();
    status(addStatus, 'Adding…');
    try {
      const c = await app.api.post('/v1/contacts', body);
      s.contacts.set(c.id, c);
      s.changed('contacts');
      await app.fetchConversation(c.conversation_id);
      app.go('#/c/' + q(c.conversation_id));
    } catch (err) {
      status(addStatus, err.message, true);
    }
  }

  const el = h('section.welcome',
    first ? null : head('Add a contact', '#/', 'Back to conversations'),
    h('div.panel-body',
      first ? h('div.hero',
        h('div.brand.big', 'petrel'),
        h('h1', { tabindex: '-1' }, 'Welcome'),
        h('p', 'Messages go straight from your node to your friends’ nodes, end-to-end encrypted. To start, swap invite links with a friend: show them yours, and paste theirs.'),
      ) : null,
      h('form.card.step', { onsubmit: saveName },
        h('h3', h('span.step-n', '1'), 'Your name'),
        h('label', { for: 'wel-name' }, 'Shown to the people you chat with'),
        h('div.row', nameInput, h('button.primary', { type: 'submit' }, 'Save'), nameStatus),
      ),
      h('div.card.step',
        h('h3', h('span.step-n', '2'), 'Show this to a friend'),
        h('p.muted', 'Let them scan the code, or send them the link. Anyone with it can message you.'),
        h('div.invite', qr,
          h('div.invite-link',
            linkOut,
            h('div.row',
              h('button', { type: 'button', onclick: copy }, 'Copy link'),
              h('button', { type: 'button', onclick: makeInvite }, 'New link'),
              copyStatus,
            ),
            extras.expiry,
            extras.lifetimeControl,
          ),
        ),
        extras.details,
      ),
      h('form.card.step', { onsubmit: add },
        h('h3', h('span.step-n', '3'), 'Paste a friend’s link'),
        h('label', { for: 'wel-paste' }, 'Their invite link'),
        pasteIn,
        h('label', { for: 'wel-paste-name' }, 'Name (optional)'),
        pasteName,
        h('div.row', h('button.primary', { type: 'submit' }, 'Add contact'), addStatus),
      ),
    ),
  );
  makeInvite();
  return {
    el,
    focus: () => (first ? el.querySelector('h1') : pasteIn).focus(),
    destroy: () => qrURL && URL.revokeObjectURL(qrURL),
    update: (c) => {
      if (c.has('me') && document.activeElement !== nameInput) nameInput.value = (s.me && s.me.name) || '';
    },
  };
}

export function contactView(app, id) {
  const s = app.store;
  const body = h('div.panel-body');
  const v = { backTo: '#/' };
  const title = h('h2.pane-title', { tabindex: '-1' }, 'Contact');
  const back = h('a.icon-btn.back.always', { href: '#/', 'aria-label': 'Back to the chat' }, icon('back'));
  v.el = h('section.contact', h('header.pane-head', back, title), body);
  let nameDraft = null;
  let qrFor = '';
  let qrURL = '';
  const qrBox = h('div.qr.safety-qr', { 'aria-busy': 'true' });

  async function loadQR(c) {
    qrFor = c.safety_number;
    try {
      const r = await app.api.get('/v1/contacts/' + q(c.id) + '/safety_qr');
      if (qrURL) URL.revokeObjectURL(qrURL);
      qrURL = URL.createObjectURL(new Blob([r.qr_svg], { type: 'image/svg+xml' }));
      setChildren(qrBox, h('img', { src: qrURL, alt: 'QR code of the safety number', width: '160', height: '160' }));
      qrBox.removeAttribute('aria-busy');
    } catch (e) {
      setChildren(qrBox, h('span.muted.small', 'No QR code. ' + e.message));
    }
  }

  async function patch(p, statusEl) {
    try {
      const c = await app.api.patch('/v1/contacts/' + q(id), p);
      s.contacts.set(c.id, c);
      s.changed('contacts');
      if (statusEl) status(statusEl, 'Saved');
    } catch (e) {
      if (statusEl) status(statusEl, e.message, true);
    }
  }

  function draw() {
    const c = s.contacts.get(id);
    if (!c) {
      setChildren(body, h('p.muted', 'No such contact.'));
      return;
    }
    v.backTo = '#/c/' + q(c.conversation_id);
    back.href = v.backTo;
    const groups = String(c.safety_number || '').trim().split(/\s+/).filter(Boolean);
    if (groups.length && qrFor !== c.safety_number) loadQR(c);
    const nameIn = h('input#ct-name', { type: 'text', value: nameDraft !== null ? nameDraft : c.name, maxlength: '128', oninput: (e) => { nameDraft = e.target.value; } });
    const nameStatus = h('span.form-status', { role: 'status' });
    const verifyStatus = h('span.form-status', { role: 'status' });
    const p = app.presenceOf(c.user_id);
    const focused = document.activeElement && document.activeElement.id;
    setChildren(body,
      h('div.profile',
        app.avatar(c.name, c.conversation_id, c.user_id, true),
        h('div',
          h('div.profile-name', c.name || 'Unnamed'),
          h('div.muted', p && p.state === 'online' ? 'online' : p && p.last_seen ? fmtLastSeen(p.last_seen) : ''),
          c.request === 'pending' ? h('div.tag', 'message request') : null,
          c.blocked ? h('div.tag.warn', 'blocked') : null,
        ),
      ),
      c.identity_changed ? h('div.banner.warn', { role: 'alert' }, icon('warn'),
        h('div', h('strong', 'The safety number changed.'), ' Compare the new number below with ' + (c.name || 'your contact') + ' before you trust this conversation again.')) : null,
      h('div.card',
        h('h3', 'Safety number'),
        h('p.muted', 'Compare these digits with ' + (c.name || 'your contact') + ' — in person or on a call you trust. If they match on both screens, nobody is in the middle.'),
        h('div.verify-state' + (c.verified ? '.yes' : '.no'), { role: 'status' },
          icon(c.verified ? 'shield' : 'warn'),
          c.verified ? h('span', h('strong', 'Verified.'), ' You compared this safety number with ' + (c.name || 'them') + '.')
            : h('span', h('strong', 'Not verified.'), ' Compare the number below, then turn on “Verified”.')),
        groups.length ? h('div.safety-row',
          h('div.safety', { role: 'group', 'aria-label': 'Safety number ' + groups.join(' ') }, groups.map((g) => h('span', g))),
          qrBox,
        ) : h('p.muted', 'Not available yet.'),
        groups.length ? h('p.muted.small', 'Or compare the QR code: it holds the same digits, so both of you can scan or hold the screens side by side.') : null,
        h('label.switch',
          h('input#ct-verified', { type: 'checkbox', role: 'switch', checked: c.verified, onchange: (e) => patch({ verified: e.target.checked }, verifyStatus) }),
          h('span.switch-track', { 'aria-hidden': 'true' }),
          'Verified',
        ),
        verifyStatus,
      ),
      h('form.card', { onsubmit: (e) => { e.preventDefault(); nameDraft = null; patch({ name: nameIn.value.trim() }, nameStatus); } },
        h('h3', 'Name'),
        h('label', { for: 'ct-name' }, 'What you call them (only on your node)'),
        h('div.row', nameIn, h('button', { type: 'submit' }, 'Rename'), nameStatus),
      ),
      h('div.card',
        h('h3', 'Conversation'),
        h('div.row',
          h('a.button.primary', { href: '#/c/' + q(c.conversation_id) }, 'Open chat'),
          c.request === 'pending' && !c.blocked ? h('button', { onclick: () => patch({ accept: true }) }, 'Accept request') : null,
          c.blocked
            ? h('button', { onclick: () => patch({ blocked: false }) }, 'Unblock')
            : h('button.danger', { onclick: () => patch({ blocked: true }) }, 'Block'),
        ),
        h('p.muted.small', 'User id: ', h('code.selectable', c.user_id)),
      ),
    );
    if (focused) {
      const f = document.getElementById(focused);
      if (f) f.focus();
    }
  }

  v.update = (c) => {
    if (c.has('contacts') || c.has('presence')) draw();
  };
  v.focus = () => title.focus();
  v.destroy = () => qrURL && URL.revokeObjectURL(qrURL);
  draw();
  return v;
}

export function settingsView(app) {
  const s = app.store;
  const nameIn = h('input#set-name', { type: 'text', value: (s.me && s.me.name) || '', maxlength: '128' });
  const nameStatus = h('span.form-status', { role: 'status' });
  const privStatus = h('span.form-status#set-priv-status', { role: 'status' });
  const receipts = h('input#set-receipts', { type: 'checkbox', role: 'switch', checked: s.settings && s.settings.read_receipts });
  const presence = h('select#set-presence',
    h('option', { value: 'contacts' }, 'My contacts'),
    h('option', { value: 'nobody' }, 'Nobody'),
  );
  presence.value = (s.settings && s.settings.presence) || 'contacts';
  const about = h('dl.about');
  const title = h('h2.pane-title', { tabindex: '-1' }, 'Settings');

  let edits = 0; // changes made on this screen (a slower read of the settings must not undo them)
  async function put(p, st) {
    edits++;
    try {
      s.settings = await app.api.put('/v1/settings', p);
      // Sharing presence with nobody also hides everyone else's, at once.
      if (s.settings.presence === 'nobody') s.forgetPresence(s.presenceKnown);
      s.changed('settings');
      status(st || privStatus, 'Saved');
      return true;
    } catch (e) {
      status(st || privStatus, e.message, true);
      return false;
    }
  }
  const n = app.notifier;
  const push = pushCard(app);
  const devices = devicesCard(app);
  const notifStatus = h('span.form-status', { role: 'status' });
  const notifBtn = h('button#set-notify', { type: 'button' });
  const sound = h('input#set-sound', { type: 'checkbox', role: 'switch', checked: n.prefs.sound });
  const dnd = h('select#set-dnd', { 'aria-describedby': 'set-dnd-note' },
    h('option', { value: '0' }, 'Off'),
    h('option', { value: '3600000' }, 'For 1 hour'),
    h('option', { value: '28800000' }, 'For 8 hours'),
    h('option', { value: '86400000' }, 'For 24 hours'),
  );
  const dndNote = h('p.muted.small#set-dnd-note');
  function drawNotify() {
    const p = n.permission;
    notifBtn.textContent = p === 'unsupported' ? 'Not supported in this browser' : n.prefs.notify && p === 'granted' ? 'Turn desktop notifications off' : 'Turn desktop notifications on';
    notifBtn.disabled = p === 'unsupported' || p === 'denied';
    if (p === 'denied') status(notifStatus, 'Your browser blocks notifications for this page: allow them in its site settings.', true);
    const until = n.dndUntil();
    dndNote.textContent = until > Date.now() ? 'Do not disturb until ' + new Date(until).toLocaleString() + '.' : 'Do not disturb silences every chat for a while.';
    if (until <= Date.now()) dnd.value = '0';
  }
  notifBtn.addEventListener('click', async () => {
    if (n.prefs.notify && n.permission === 'granted') n.disable();
    else {
      const p = await n.enable();
      status(notifStatus, p === 'granted' ? 'Desktop notifications are on.' : 'Notifications were not allowed.', p !== 'granted');
    }
    drawNotify();
  });
  sound.addEventListener('change', () => { n.setSound(sound.checked); if (sound.checked) n.beep(); status(notifStatus, 'Saved'); });
  dnd.addEventListener('change', async () => {
    const ms = Number(dnd.value);
    const until = ms ? Date.now() + ms : null;
    // The node keeps it (push.dnd_until): every UI of the node, and the relays' push
    // bridges, hold back until then.
    await put({ push: { dnd_until: until } }, notifStatus);
    drawNotify();
  });
  receipts.addEventListener('change', () => put({ read_receipts: receipts.checked }).then(() => s.changed('msgs:' + s.openConv)));
  presence.addEventListener('change', () => put({ presence: presence.value }));

  async function drawAbout() {
    const rows = [
      ['Your user id', s.me.user_id],
      ['Your safety fingerprint', s.me.safety_fingerprint],
      ['Peer id', s.me.peer_id],
    ];
    try {
      const st = await app.api.get('/v1/status');
      rows.push(['Connected peers', String(st.peers)], ['Waiting in outbox', String(st.outbox)]);
      rows.push(['Home relays', (st.relays || []).length ? st.relays.map((r) => r.addr + (r.connected ? ' (connected)' : ' (not connected)')).join('\n') : 'none']);
    } catch {
      // The rows above are enough.
    }
    setChildren(about, rows.map(([k, val]) => [h('dt', k), h('dd', h('code.selectable', val || '—'))]));
  }

  const el = h('section.settings',
    h('header.pane-head', h('a.icon-btn.back.always', { href: '#/', 'aria-label': 'Close settings' }, icon('back')), title),
    h('div.panel-body',
      h('form.card', {
        onsubmit: async (e) => {
          e.preventDefault();
          try {
            s.me = await app.api.patch('/v1/me', { name: nameIn.value.trim() });
            s.changed('me');
            status(nameStatus, 'Saved');
          } catch (err) {
            status(nameStatus, err.message, true);
          }
        },
      },
      h('h3', 'Profile'),
      h('label', { for: 'set-name' }, 'Your name'),
      h('div.row', nameIn, h('button.primary', { type: 'submit' }, 'Save'), nameStatus),
      ),
      h('div.card',
        h('h3', 'Privacy'),
        h('label.switch', receipts, h('span.switch-track', { 'aria-hidden': 'true' }), 'Send read receipts'),
        h('p.muted.small', 'When off, your contacts do not see when you have read their messages — and, as is fair, you do not see when they have read yours.'),
        h('label', { for: 'set-presence' }, 'Who sees when you are online'),
        presence,
        privStatus,
      ),
      h('div.card',
        h('h3', 'Notifications'),
        h('div.row', notifBtn, notifStatus),
        h('label.switch', sound, h('span.switch-track', { 'aria-hidden': 'true' }), 'Play a sound for new messages'),
        h('label', { for: 'set-dnd' }, 'Do not disturb'),
        dnd,
        dndNote,
        h('p.muted.small', 'Do not disturb also holds back push wake-ups at your relays. Muted chats (the bell in a chat’s header) never notify, in any browser of this node.'),
      ),
      devices.el,
      push.el,
      h('div.card', h('h3', 'This node'), about),
      h('div.card',
        h('h3', 'Session'),
        h('p.muted.small', 'Logging out forgets this browser’s session; open the link printed by petrel run to log in again.'),
        h('button.danger', { onclick: async () => { try { await app.api.logout(); } finally { app.loggedOut(''); } } }, 'Log out of this browser'),
      ),
    ),
  );
  drawAbout();
  drawNotify();
  // Settings make no event: read the node's as they are now (another UI may have changed
  // do-not-disturb or the privacy settings), unless this screen changed one meanwhile.
  const seen = edits;
  app.api.get('/v1/settings').then((st) => {
    if (edits !== seen) return;
    s.settings = st;
    receipts.checked = !!st.read_receipts;
    presence.value = st.presence || 'contacts';
    drawNotify();
    s.changed('settings');
  }).catch(() => {});
  return {
    el,
    focus: () => title.focus(),
    destroy: devices.destroy,
    update: (c) => {
      if (c.has('me') && document.activeElement !== nameIn) nameIn.value = s.me.name;
    },
  };
}

export function searchView(app) {
  const s = app.store;
  const input = h('input#search-q.search-input', { type: 'search', placeholder: 'Search all conversations', 'aria-label': 'Search messages', autocomplete: 'off' });
  const results = h('ol.results', { 'aria-label': 'Search results' });
  const info = h('p.muted', { role: 'status' }, 'Search runs on your own node, over your decrypted history.');
  let timer = 0;
  let seq = 0;

  async function run() {
    const text = input.value.trim();
    const mine = ++seq;
    if (!text) {
      setChildren(results);
      info.textContent = 'Search runs on your own node, over your decrypted history.';
      return;
    }
    try {
      const r = await app.api.get('/v1/search?limit=50&q=' + q(text));
      if (mine !== seq) return;
      info.textContent = r.messages.length ? r.messages.length + (r.messages.length === 50 ? '+' : '') + (r.messages.length === 1 ? ' message' : ' messages') : 'No messages match “' + text + '”.';
      setChildren(results, r.messages.map((m) => {
        const conv = s.convs.get(m.conversation_id);
        return h('li', h('a.result', { href: '#/c/' + q(m.conversation_id) + '/m/' + q(m.id) },
          h('span.result-top', h('span.result-conv', s.convName(conv) || 'Conversation'), h('time', fmtWhen(m.sent_at))),
          h('span.result-body', h('span.result-who', s.nameOf(m.sender_id) + ': '), highlight(m.body, text)),
        ));
      }));
    } catch (e) {
      if (mine === seq) info.textContent = 'Search failed: ' + e.message;
    }
  }
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(run, 200);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      clearTimeout(timer);
      run();
    }
  });
  const el = h('section.search',
    h('header.pane-head', h('a.icon-btn.back.always', { href: '#/', 'aria-label': 'Close search' }, icon('back')), h('h2.pane-title', 'Search')),
    h('div.panel-body', h('div.search-box', icon('search'), input), info, results),
  );
  return { el, focus: () => input.focus(), destroy: () => clearTimeout(timer) };
}

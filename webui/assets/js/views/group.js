// views/group.js: starting chats and groups, and a group's info panel — members with their
// roles, adding, removing, promoting, renaming, leaving — plus the words for a group's
// system lines ("Alice added Bob").
import { h, setChildren, confirmAction } from '../dom.js';
import { icon } from '../icons.js';
import { q } from '../api.js';

function head(title, backTo, backLabel) {
  return h('header.pane-head',
    h('a.icon-btn.back.always', { href: backTo, 'aria-label': backLabel }, icon('back')),
    h('h2.pane-title', { tabindex: '-1' }, title),
  );
}

function say(el, text, isError) {
  el.className = 'form-status ' + (isError ? 'error' : 'ok');
  el.textContent = text;
}

// usable contacts can be put in a group: accepted, not blocked.
function usable(s) {
  return [...s.contacts.values()].filter((c) => c.request !== 'pending' && !c.blocked && c.user_id)
    .sort((a, b) => (a.name || '').localeCompare(b.name || ''));
}

// picker is a list of contacts with checkboxes; picked() returns the chosen user ids.
function picker(app, contacts, idPrefix) {
  const boxes = [];
  const list = h('ul.pick-list', contacts.map((c) => {
    const box = h('input', { type: 'checkbox', id: idPrefix + c.id, value: c.user_id });
    boxes.push(box);
    return h('li', h('label.pick', { for: idPrefix + c.id }, box, app.avatar(c.name, c.conversation_id, c.user_id), h('span.pick-name', c.name || 'Unnamed')));
  }));
  return { el: list, picked: () => boxes.filter((b) => b.checked).map((b) => b.value) };
}

// newChatView: start a chat with a contact, or go on to a new group or adding a contact.
export function newChatView(app) {
  const s = app.store;
  const filter = h('input#new-filter.search-input', { type: 'search', placeholder: 'Find a contact', 'aria-label': 'Find a contact', autocomplete: 'off' });
  const list = h('ul.pick-list.contacts');
  function draw() {
    const f = filter.value.trim().toLowerCase();
    const cs = [...s.contacts.values()].filter((c) => !c.blocked && (!f || (c.name || '').toLowerCase().includes(f)))
      .sort((a, b) => (a.name || '').localeCompare(b.name || ''));
    setChildren(list, cs.length ? cs.map((c) => h('li', h('a.pick', { href: '#/c/' + q(c.conversation_id), dataset: { contact: c.id } },
      app.avatar(c.name, c.conversation_id, c.user_id), h('span', c.name || 'Unnamed'),
      c.request === 'pending' ? h('span.tag', 'request') : null))) : h('li.muted', f ? 'No contact matches.' : 'No contacts yet: add one by link.'));
  }
  filter.addEventListener('input', draw);
  const el = h('section.new-chat',
    head('New chat', '#/', 'Back to conversations'),
    h('div.panel-body',
      h('div.row.actions-row',
        h('a.button.primary', { href: '#/add' }, icon('plus'), 'Add a contact by link'),
        h('a.button', { href: '#/new-group' }, icon('group'), 'New group'),
      ),
      h('div.card',
        h('h3', 'Your contacts'),
        h('div.search-box', icon('search'), filter),
        list,
      ),
    ),
  );
  draw();
  return { el, focus: () => filter.focus(), update: (c) => { if (c.has('contacts')) draw(); } };
}

// newGroupView: a name and some contacts.
export function newGroupView(app) {
  const s = app.store;
  const name = h('input#ng-name', { type: 'text', maxlength: '128', placeholder: 'Group name' });
  const st = h('span.form-status', { role: 'status' });
  const cs = usable(s);
  const pick = picker(app, cs, 'ng-');
  async function create(e) {
    e.preventDefault();
    const n = name.value.trim();
    if (!n) {
      say(st, 'Give the group a name first.', true);
      name.focus();
      return;
    }
    const members = pick.picked();
    if (!members.length) {
      say(st, 'Pick at least one contact to be in the group.', true);
      return;
    }
    say(st, 'Creating…');
    try {
      const c = await app.api.post('/v1/conversations', { type: 'group', name: n, members });
      s.convs.set(c.id, c);
      s.changed('convs');
      app.go('#/c/' + q(c.id));
    } catch (err) {
      say(st, 'Could not create the group. ' + err.message, true);
    }
  }
  const el = h('section.new-group',
    head('New group', '#/new', 'Back'),
    h('div.panel-body',
      h('form.card', { onsubmit: create },
        h('label', { for: 'ng-name' }, 'Group name'),
        name,
        h('fieldset.members-pick',
          h('legend', 'Members'),
          cs.length ? pick.el : h('p.muted', 'You have no contacts to add yet. Add a contact first.'),
        ),
        h('div.row', h('button.primary#ng-create', { type: 'submit' }, 'Create group'), st),
      ),
    ),
  );
  return { el, focus: () => name.focus(), backTo: '#/new' };
}

// groupInfoView: the group's members and what an admin can change.
export function groupInfoView(app, convId) {
  const s = app.store;
  const body = h('div.panel-body');
  const title = h('h2.pane-title', { tabindex: '-1' }, 'Group info');
  const v = { backTo: '#/c/' + q(convId) };
  v.el = h('section.group-info',
    h('header.pane-head', h('a.icon-btn.back.always', { href: v.backTo, 'aria-label': 'Back to the chat' }, icon('back')), title),
    body);
  const st = h('p.form-status#gi-status', { role: 'status' });
  let nameDraft = null;

  async function call(what, fn) {
    say(st, what + '…');
    try {
      const c = await fn();
      if (c && c.id) {
        s.convs.set(c.id, Object.assign(s.convs.get(c.id) || {}, c));
        s.changed('convs');
      }
      say(st, 'Done.');
      return true;
    } catch (e) {
      say(st, 'Could not ' + what.toLowerCase() + '. ' + e.message, true);
      return false;
    }
  }
  const members = (body) => app.api.post('/v1/conversations/' + q(convId) + '/members', body);

  function draw() {
    const conv = s.convs.get(convId);
    if (!conv || conv.type !== 'group') {
      setChildren(body, h('p.muted', 'No such group.'));
      return;
    }
    const me = s.me.user_id;
    const admin = s.amAdmin(convId);
    const member = s.amMember(convId);
    const ms = [...(conv.members || [])].sort((a, b) => (a.user_id === me ? -1 : b.user_id === me ? 1 : s.nameOf(a.user_id, convId).localeCompare(s.nameOf(b.user_id, convId))));
    const focused = document.activeElement && document.activeElement.id;
    const nameIn = h('input#gi-name', { type: 'text', maxlength: '128', value: nameDraft !== null ? nameDraft : conv.name, oninput: (e) => { nameDraft = e.target.value; } });
    const inGroup = new Set(ms.map((m) => m.user_id));
    const addable = usable(s).filter((c) => !inGroup.has(c.user_id));
    const pick = picker(app, addable, 'gi-add-');
    setChildren(body,
      h('div.profile',
        app.avatar(conv.name, convId, null, true),
        h('div',
          h('div.profile-name', conv.name || 'Group'),
          h('div.muted', member ? ms.length + (ms.length === 1 ? ' member' : ' members') : 'You are no longer a member of this group.'),
        ),
      ),
      st,
      admin ? h('form.card', {
        onsubmit: async (e) => {
          e.preventDefault();
          const n = nameIn.value.trim();
          if (!n) { say(st, 'A group needs a name.', true); return; }
          if (await call('Rename the group', () => app.api.patch('/v1/conversations/' + q(convId), { name: n }))) nameDraft = null;
        },
      },
      h('h3', 'Name'),
      h('label', { for: 'gi-name' }, 'Group name (admins can change it)'),
      h('div.row', nameIn, h('button#gi-rename', { type: 'submit' }, 'Rename')),
      ) : null,
      member ? h('div.card',
        h('h3', 'Members'),
        h('ul.member-list', { 'aria-label': 'Members' }, ms.map((m) => {
          const name = s.nameOf(m.user_id, convId);
          const isMe = m.user_id === me;
          return h('li.member', { dataset: { user: m.user_id } },
            app.avatar(name, m.user_id, isMe ? null : m.user_id),
            h('span.member-name', isMe ? 'You' : name),
            m.role === 'admin' ? h('span.tag.admin', 'admin') : null,
            admin && !isMe ? h('span.member-actions',
              m.role === 'admin'
                ? h('button.small-btn', { type: 'button', dataset: { action: 'demote' }, 'aria-label': 'Dismiss as admin: ' + name, onclick: () => call('Change the role', () => members({ users: [m.user_id], role: 'member' })) }, 'Dismiss as admin')
                : h('button.small-btn', { type: 'button', dataset: { action: 'promote' }, 'aria-label': 'Make admin: ' + name, onclick: () => call('Change the role', () => members({ users: [m.user_id], role: 'admin' })) }, 'Make admin'),
              h('button.small-btn.danger', {
                type: 'button', dataset: { action: 'remove' }, 'aria-label': 'Remove ' + name + ' from the group',
                onclick: async () => {
                  if (await confirmAction('Remove ' + name + '?', name + ' will no longer get this group’s messages.', 'Remove', true)) call('Remove the member', () => members({ remove: [m.user_id] }));
                },
              }, 'Remove'),
            ) : null,
          );
        })),
      ) : null,
      admin ? h('form.card', {
        onsubmit: (e) => {
          e.preventDefault();
          const add = pick.picked();
          if (!add.length) { say(st, 'Pick the contacts to add first.', true); return; }
          call('Add the members', () => members({ add }));
        },
      },
      h('h3', 'Add members'),
      addable.length ? [pick.el, h('div.row', h('button.primary#gi-add', { type: 'submit' }, 'Add to group'))] : h('p.muted', 'All your contacts are in this group already.'),
      ) : null,
      member ? h('div.card',
        h('h3', 'Leave'),
        h('p.muted.small', 'You will stop getting this group’s messages. Its history stays here.'),
        h('button.danger#gi-leave', {
          type: 'button',
          onclick: async () => {
            if (await confirmAction('Leave “' + conv.name + '”?', 'You will stop getting this group’s messages, and only an admin can add you back.', 'Leave group', true)) call('Leave the group', () => app.api.post('/v1/conversations/' + q(convId) + '/leave'));
          },
        }, 'Leave group'),
      ) : null,
    );
    if (focused) {
      const f = document.getElementById(focused);
      if (f) f.focus();
    }
  }
  v.update = (c) => { if (c.has('convs') || c.has('contacts') || c.has('presence')) draw(); };
  v.focus = () => title.focus();
  draw();
  return v;
}

// changeText is a system line for one group change (GET .../changes), from this user's
// point of view: "Alice added Bob", "You were removed by Alice", "Bob left".
export function changeText(s, convId, ch) {
  const me = s.me && s.me.user_id;
  const who = (uid, obj) => (uid === me ? (obj ? 'you' : 'You') : s.nameOf(uid, convId) !== 'Someone' ? s.nameOf(uid, convId) : (ch.author.user_id === uid ? ch.author.name : ((ch.users || []).find((u) => u.user_id === uid) || {}).name) || 'Someone');
  const list = (us) => {
    const names = us.map((u) => who(u.user_id, true));
    return names.length <= 1 ? names.join('') : names.slice(0, -1).join(', ') + ' and ' + names[names.length - 1];
  };
  const a = who(ch.author.user_id);
  const users = ch.users || [];
  const hasMe = users.some((u) => u.user_id === me);
  switch (ch.kind) {
    case 'create':
      return a + ' created the group “' + ch.name + '”' + (users.length ? ' with ' + list(users) : '');
    case 'add':
      return a + ' added ' + list(users);
    case 'remove':
      if (hasMe && users.length === 1) return 'You were removed by ' + (a === 'You' ? 'yourself' : a);
      return a + ' removed ' + list(users);
    case 'leave':
      return a + ' left';
    case 'rename':
      return a + ' renamed the group to “' + ch.name + '”';
    case 'role':
      return ch.role === 'admin' ? a + ' made ' + list(users) + (users.length > 1 ? ' admins' : ' an admin') : a + ' dismissed ' + list(users) + ' as admin';
  }
  return a + ' changed the group';
}

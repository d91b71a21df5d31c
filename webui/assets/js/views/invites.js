// views/invites.js: what the invite card shows besides the link and QR code — when the
// shown link expires, how long a new link lasts, and the node's live invites with revoke
// (docs/API.md, Invites).
import { h, setChildren, confirmAction } from '../dom.js';
import { q } from '../api.js';

const LIFETIMES = [
  ['3600', '1 hour'],
  ['86400', '1 day'],
  ['604800', '7 days'],
  ['2592000', '30 days'],
];

function when(ms) {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// inviteExtras returns the elements to place in the invite card and the hooks the card
// calls: lifetime() is the body for POST /v1/invites, shown(inv) reports a new link.
export function inviteExtras(app, onRevokedShown) {
  let current = null;
  const expiry = h('p.invite-expiry', { role: 'status' });
  const select = h('select#inv-ttl', { 'aria-label': 'A new link lasts' },
    LIFETIMES.map(([v, label]) => h('option', { value: v, selected: v === '604800' }, label)));
  const list = h('ul.invite-list', { 'aria-label': 'Your live invite links' });
  const listStatus = h('span.form-status', { role: 'status' });
  const details = h('details.invites',
    h('summary', 'Your live invite links'),
    h('p.muted.small', 'Anyone holding one of these links can ask to chat with you until it expires. Revoke a link you shared by mistake: requests made with it are refused.'),
    list, listStatus);

  async function refresh() {
    try {
      const r = await app.api.get('/v1/invites');
      setChildren(list, r.invites.length ? r.invites.map(row) : h('li.muted', 'No live invite links.'));
    } catch (e) {
      setChildren(list, h('li.error', 'Could not load your invite links. ' + e.message));
    }
  }

  function row(inv) {
    const mine = current && current.id === inv.id;
    return h('li.invite-row', { dataset: { invite: inv.id } },
      h('span.invite-when', 'Made ' + when(inv.created_at) + ' · expires ' + when(inv.expires_at) + (mine ? ' · shown above' : '')),
      h('button.danger', { type: 'button', 'aria-label': 'Revoke the link made ' + when(inv.created_at), onclick: () => revoke(inv) }, 'Revoke'),
    );
  }

  async function revoke(inv) {
    if (!(await confirmAction('Revoke this invite link?', 'Whoever has this link will not be able to start a chat with you with it. People already in your contacts stay.', 'Revoke', true))) return;
    try {
      await app.api.del('/v1/invites/' + q(inv.id));
      listStatus.className = 'form-status ok';
      listStatus.textContent = 'Revoked';
      if (current && current.id === inv.id) {
        current = null;
        onRevokedShown();
      }
    } catch (e) {
      listStatus.className = 'form-status error';
      listStatus.textContent = e.message;
    }
    refresh();
  }

  return {
    expiry,
    lifetimeControl: h('label.invite-ttl', 'New links last ', select),
    details,
    lifetime: () => ({ expires_in_s: Number(select.value) }),
    shown(inv) {
      current = inv;
      expiry.textContent = inv.expires_at ? 'This link expires ' + when(inv.expires_at) + '.' : 'This link does not expire.';
      refresh();
    },
  };
}

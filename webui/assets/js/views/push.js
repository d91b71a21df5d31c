// views/push.js: Settings → Push — the devices the node wakes through the relays' push
// bridges (GET /v1/push/registrations): what each is, its state at every home relay, and
// removing one. Registrations are made by apps (a UnifiedPush distributor, the mobile apps)
// through the API; this page cannot register the browser itself (docs/API.md, Web UI).
import { h, setChildren, confirmAction, fmtWhen } from '../dom.js';
import { q } from '../api.js';

const KIND = { unifiedpush: 'UnifiedPush', webpush: 'Web Push', apns: 'Apple push (APNs)', fcm: 'Firebase push (FCM)' };

// What each state means to a person.
const STATE = {
  active: 'active',
  dead: 'gone',
  refused: 'refused',
  no_bridge: 'no push bridge',
  pending: 'waiting to be handed over',
};

// short keeps the start and end of a long string ("abcdef…wxyz").
function short(s, head, tail) {
  s = String(s || '');
  return s.length <= head + tail + 1 ? s : s.slice(0, head) + '…' + s.slice(-tail);
}

// target is what a registration points at, shortened: the endpoint's host and the end of its
// path, or the start and end of the token.
export function pushTarget(r) {
  if (r.endpoint) {
    try {
      const u = new URL(r.endpoint);
      const path = u.pathname + u.search;
      return u.host + (path.length > 1 ? short(path, 6, 6) : '');
    } catch {
      return short(r.endpoint, 24, 8);
    }
  }
  return short(r.token, 8, 6);
}

// relayName is a relay's multiaddr with its peer id shortened.
function relayName(addr) {
  const i = String(addr).indexOf('/p2p/');
  return i < 0 ? short(addr, 24, 8) : addr.slice(0, i + 5) + short(addr.slice(i + 5), 6, 6);
}

export function pushCard(app) {
  const list = h('ul.push-list', { 'aria-label': 'Push registrations' });
  const note = h('p.muted.small#push-status', { role: 'status' }, 'Loading…');
  const statusLine = h('span.form-status', { role: 'status' });

  function row(r) {
    const kind = KIND[r.kind] || r.kind;
    const target = pushTarget(r);
    const del = h('button.danger.small-btn', {
      type: 'button',
      dataset: { id: r.id },
      'aria-label': 'Remove ' + kind + ' registration ' + target,
      onclick: () => remove(r, kind, target),
    }, 'Remove');
    return h('li.push-reg', { dataset: { id: r.id, state: r.state } },
      h('div.push-top',
        h('span.push-kind', kind),
        h('code.push-target', { title: r.endpoint || r.token || '' }, target),
        h('span.tag.push-state.state-' + r.state, r.state === 'active' ? 'active' : 'not working'),
      ),
      r.error ? h('p.push-error.small', r.error.charAt(0).toUpperCase() + r.error.slice(1) + (/[.!?]$/.test(r.error) ? '' : '.')) : null,
      (r.relays || []).length ? h('ul.push-relays', { 'aria-label': 'At each home relay' }, r.relays.map((x) => h('li',
        h('code', relayName(x.relay)), ': ',
        h('span.push-relay-state.state-' + x.state, STATE[x.state] || x.state),
        x.error && x.state !== 'no_bridge' ? ' — ' + x.error : null,
      ))) : null,
      h('div.push-bottom', h('span.muted.small', 'Added ' + fmtWhen(r.created_at)), del),
    );
  }

  async function remove(r, kind, target) {
    const ok = await confirmAction('Remove this push registration?',
      'Your node stops waking ' + kind + ' ' + target + ' and withdraws it from every home relay. The app that made it has to register again to be woken.',
      'Remove', true);
    if (!ok) return;
    try {
      await app.api.del('/v1/push/registrations/' + q(r.id));
      setChildren(statusLine, 'Removed.');
      statusLine.className = 'form-status ok';
    } catch (e) {
      setChildren(statusLine, e.message);
      statusLine.className = 'form-status error';
    }
    await load();
  }

  async function load() {
    try {
      const res = await app.api.get('/v1/push/registrations');
      const regs = res.registrations || [];
      setChildren(list, regs.map(row));
      note.textContent = regs.length ? regs.length + (regs.length === 1 ? ' device is' : ' devices are') + ' woken by push when your node is away.' : 'No device is registered for push wake-ups.';
    } catch (e) {
      setChildren(list);
      note.textContent = e.code === 'not_implemented' ? 'This node has no push wake-ups.' : 'Push registrations could not be loaded. ' + e.message;
    }
  }

  const el = h('div.card#push-card',
    h('h3', 'Push'),
    h('p.muted.small', 'When your node is not running, your home relays wake the devices registered here. Apps register themselves — a UnifiedPush distributor, the mobile apps — through your node’s API; this page cannot register this browser yet.'),
    note,
    list,
    statusLine,
  );
  load();
  return { el, load };
}

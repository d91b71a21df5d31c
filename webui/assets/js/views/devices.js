// views/devices.js: Settings → Devices — the account's devices (GET /v1/devices), linking a
// new one (POST /v1/devices/link: a single-use link and its QR code, valid 10 minutes, for
// `petrel init --link` on the new device) and revoking one, after a confirmation
// (DELETE /v1/devices/{id}). Only the primary device links and revokes (docs/API.md §8).
import { h, setChildren, confirmAction, fmtWhen } from '../dom.js';
import { q } from '../api.js';

export function devicesCard(app) {
  const list = h('ul.device-list', { 'aria-label': 'Your devices' });
  const note = h('p.muted.small#devices-status', { role: 'status' }, 'Loading…');
  const statusLine = h('span.form-status', { role: 'status' });
  const linkBox = h('div.device-link', { hidden: true });
  const linkBtn = h('button#device-link-btn', { type: 'button', onclick: () => makeLink() }, 'Link a new device');
  let qrURL = '';
  let timer = 0;
  let known = new Set(); // the device ids listed: a new one while a link is shown used it

  function say(text, error) {
    setChildren(statusLine, text);
    statusLine.className = 'form-status ' + (error ? 'error' : 'ok');
  }

  function row(d, canRevoke) {
    const tags = [d.current ? h('span.tag', 'this device') : null, d.primary ? h('span.tag', 'primary') : null];
    const revoke = canRevoke && !d.current ? h('button.danger.small-btn', {
      type: 'button',
      dataset: { id: d.id },
      'aria-label': 'Revoke ' + (d.name || d.id),
      onclick: () => revokeDevice(d),
    }, 'Revoke') : null;
    return h('li.device', { dataset: { id: d.id } },
      h('div.device-top', h('span.device-name', d.name || (d.primary ? 'primary device' : 'unnamed device')), ...tags),
      h('div.device-bottom',
        h('span.muted.small', [d.linked_at ? 'Linked ' + fmtWhen(d.linked_at) : d.primary ? 'The account’s first device' : '', d.last_seen ? 'seen ' + fmtWhen(d.last_seen) : ''].filter(Boolean).join(' · ')),
        revoke),
    );
  }

  function clearLink() {
    clearInterval(timer);
    if (qrURL) URL.revokeObjectURL(qrURL);
    qrURL = '';
    linkBox.hidden = true;
    setChildren(linkBox);
  }

  async function makeLink() {
    clearLink();
    try {
      const l = await app.api.post('/v1/devices/link', {});
      qrURL = URL.createObjectURL(new Blob([l.qr_svg], { type: 'image/svg+xml' }));
      const left = h('p.muted.small#device-link-expiry', { role: 'status' });
      let ticks = 0;
      const tick = () => {
        // While the link is shown, look for the device that uses it every few seconds
        // (linking makes no event): once it is listed, the link is spent and goes.
        if (++ticks % 3 === 0) load(true);
        const s = Math.round((l.expires_at - Date.now()) / 1000);
        if (s <= 0) {
          clearLink();
          say('The link expired unused. Make a new one when the new device is ready.', true);
          return;
        }
        left.textContent = 'Works once, for ' + Math.floor(s / 60) + ' min ' + String(s % 60).padStart(2, '0') + ' s more.';
      };
      const field = h('input#device-link', { type: 'text', readOnly: true, value: l.link, 'aria-label': 'Device link' });
      setChildren(linkBox,
        h('img', { src: qrURL, alt: 'QR code of the device link', width: '220', height: '220' }),
        h('p.small', 'On the new device run ', h('code', 'petrel init --data DIR --link LINK'), ' with this link. Whoever uses it first joins your account: show it to nobody else.'),
        h('div.row', field, h('button', {
          type: 'button',
          onclick: async () => {
            try { await navigator.clipboard.writeText(l.link); say('Copied.'); } catch { field.select(); }
          },
        }, 'Copy')),
        left,
      );
      linkBox.hidden = false;
      tick();
      timer = setInterval(tick, 1000);
      say('');
    } catch (e) {
      say(e.message, true);
    }
  }

  async function revokeDevice(d) {
    const ok = await confirmAction('Revoke ' + (d.name || 'this device') + '?',
      'It receives nothing sent from now on, your contacts stop encrypting to it, and it stops. Linking it again needs a new link.',
      'Revoke', true);
    if (!ok) return;
    try {
      await app.api.del('/v1/devices/' + q(d.id));
      say('Revoked.');
    } catch (e) {
      say(e.message, true);
    }
    await load();
  }

  async function load(watching) {
    try {
      const res = await app.api.get('/v1/devices');
      const ds = res.devices || [];
      const added = ds.filter((d) => !known.has(d.id));
      known = new Set(ds.map((d) => d.id));
      if (watching && added.length && !linkBox.hidden) {
        clearLink();
        say('Linked ' + added.map((d) => d.name || 'a new device').join(', ') + '.');
      }
      const primary = ds.some((d) => d.current && d.primary);
      linkBtn.hidden = !primary;
      setChildren(list, ds.map((d) => row(d, primary)));
      note.textContent = (ds.length === 1 ? 'One device.' : ds.length + ' devices.') +
        (primary ? '' : ' Only your primary device links and revokes devices.');
    } catch (e) {
      setChildren(list);
      linkBtn.hidden = true;
      note.textContent = e.code === 'not_implemented' ? 'This node does not link devices.' : 'Devices could not be loaded. ' + e.message;
    }
  }

  const el = h('div.card#devices-card',
    h('h3', 'Devices'),
    h('p.muted.small', 'Every device of your account shows the same chats and sends as you. Your contacts see one contact, with the same safety number.'),
    note,
    list,
    h('div.row', linkBtn, statusLine),
    linkBox,
  );
  load();
  return { el, load, destroy: clearLink };
}

// views/disappear.js: disappearing messages (docs/API.md §9) in a chat — the timer in the
// chat header (PATCH /v1/conversations/{id} disappear_after_s), the timer mark on each
// message with one, and the system lines that say who changed the timer. User text goes
// in as text nodes only.
import { h } from '../dom.js';
import { q } from '../api.js';

// TIMERS are the choices the menu offers: seconds → words.
export const TIMERS = [
  [0, 'Off'],
  [30, '30 seconds'],
  [300, '5 minutes'],
  [3600, '1 hour'],
  [8 * 3600, '8 hours'],
  [86400, '1 day'],
  [7 * 86400, '1 week'],
  [90 * 86400, '90 days'],
];

// words says a timer in words (one of TIMERS, else in seconds).
export function words(secs) {
  const t = TIMERS.find(([n]) => n === secs);
  return t ? t[1] : secs + ' seconds';
}

// timerControl is the header's timer menu for conversation convId: a labelled select.
// update(conv) shows conv's timer (and, in a group, disables it for a non-admin);
// flash(msg, ok) reports the outcome.
export function timerControl(app, convId, flash) {
  const sel = h('select#chat-timer.timer-select', {
    'aria-label': 'Disappearing messages',
    title: 'Disappearing messages',
    onchange: () => set(Number(sel.value)),
  }, TIMERS.map(([n, label]) => h('option', { value: String(n) }, label)));
  const el = h('label.timer', { title: 'Disappearing messages' }, h('span.timer-icon', { 'aria-hidden': 'true' }, '⏱'), sel);
  let current = 0;
  async function set(secs) {
    try {
      const c = await app.api.patch('/v1/conversations/' + q(convId), { disappear_after_s: secs });
      const conv = app.store.convs.get(convId);
      if (conv) conv.disappear_after_s = c.disappear_after_s;
      current = c.disappear_after_s || 0;
      app.store.changed('convs');
      flash(secs ? 'New messages disappear after ' + words(secs) + '.' : 'Disappearing messages are off.', true);
    } catch (e) {
      sel.value = String(current);
      flash(e.message, false);
    }
  }
  function update(conv) {
    current = (conv && conv.disappear_after_s) || 0;
    if (!TIMERS.some(([n]) => n === current) && !sel.querySelector('option[value="' + current + '"]')) {
      sel.append(h('option', { value: String(current) }, words(current)));
    }
    sel.value = String(current);
    const group = conv && conv.type === 'group';
    const mine = group && (conv.members || []).find((m) => m.user_id === app.store.me.user_id);
    sel.disabled = !!group && !(mine && mine.role === 'admin');
    el.classList.toggle('on', current > 0);
  }
  return { el, update };
}

// timerMark is the mark on a message with a timer: when it disappears, or that its
// timer starts when read.
export function timerMark(m) {
  if (!m.disappear_after_s && !m.expires_at) return null;
  const t = m.expires_at
    ? 'Disappears ' + new Date(m.expires_at).toLocaleString()
    : 'Disappears ' + words(m.disappear_after_s) + ' after it is read';
  return h('span.timer-mark', { title: t, 'aria-label': t }, '⏱');
}

// systemLine is a system message (a timer change) as a line between the messages.
export function systemLine(m) {
  return h('div.sys', { dataset: { id: m.id, kind: 'disappear' } }, h('span', m.body));
}

// visible drops the messages that disappeared (their deleted update after expiry).
export function visible(ms) {
  return ms.filter((m) => !(m.deleted && m.expires_at));
}

// dom.js: the only way this UI builds elements. Text — and all user data is text — goes in
// through text nodes (createTextNode / textContent), never through innerHTML, so a peer's
// message that contains markup renders as the characters it is.

// h builds an element: h('button.primary#send', {onclick, 'aria-label': 'Send'}, 'Send').
// Attributes: on* are listeners, class/className and dataset are handled, booleans set or
// omit the attribute, everything else goes through setAttribute. Children may be strings
// (text), numbers, elements, arrays, or null/false (skipped).
export function h(spec, attrs, ...children) {
  const m = /^([a-z0-9-]+)?((?:[.#][\w-]+)*)$/i.exec(spec);
  if (!m) throw new Error('bad element spec ' + spec);
  const el = document.createElement(m[1] || 'div');
  for (const part of (m[2] || '').match(/[.#][\w-]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class' || k === 'className') el.className = el.className ? el.className + ' ' + v : v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    // (CSSOM, not a style attribute: the CSP forbids inline style attributes)
    else if (k === 'style') for (const [p, pv] of Object.entries(v)) el.style.setProperty(p, String(pv));
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// clear removes every child of el.
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// replaceChildren sets el's children, building them with the same rules as h.
export function setChildren(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// reconcile makes parent's children exactly nodes, in order, moving as few as possible (so
// focus and scroll survive an update that only appends).
export function reconcile(parent, nodes) {
  let cur = parent.firstChild;
  for (const n of nodes) {
    if (n === cur) {
      cur = cur.nextSibling;
      continue;
    }
    parent.insertBefore(n, cur);
  }
  while (cur) {
    const next = cur.nextSibling;
    parent.removeChild(cur);
    cur = next;
  }
}

// highlight returns text as nodes with every case-insensitive occurrence of q in <mark>.
export function highlight(text, q) {
  const out = [];
  if (!q) return [text];
  const lower = text.toLowerCase(), ql = q.toLowerCase();
  let i = 0;
  for (;;) {
    const j = lower.indexOf(ql, i);
    if (j < 0) break;
    if (j > i) out.push(text.slice(i, j));
    out.push(h('mark', text.slice(j, j + q.length)));
    i = j + q.length;
  }
  if (i < text.length) out.push(text.slice(i));
  return out;
}

// initials is the avatar text for a name.
export function initials(name) {
  const words = String(name || '').split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  const s = words.length > 1 ? words[0][0] + words[1][0] : (words[0] || '?').slice(0, 2);
  return s.toUpperCase();
}

// hue picks a stable avatar colour for an id.
export function hue(id) {
  let x = 0;
  for (const ch of String(id)) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  return x % 360;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const shortDayFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });

export function fmtTime(ms) { return timeFmt.format(new Date(ms)); }

// dayKey is the local calendar day of ms, for day separators.
export function dayKey(ms) {
  const d = new Date(ms);
  return d.getFullYear() + '-' + (d.getMonth() + 1) + '-' + d.getDate();
}

export function fmtDay(ms) {
  const now = new Date();
  const today = dayKey(now.getTime());
  const yesterday = dayKey(now.getTime() - 86400000);
  const k = dayKey(ms);
  if (k === today) return 'Today';
  if (k === yesterday) return 'Yesterday';
  return dayFmt.format(new Date(ms));
}

// fmtWhen is a short time for lists: the time today, else the date.
export function fmtWhen(ms) {
  if (!ms) return '';
  return dayKey(ms) === dayKey(Date.now()) ? fmtTime(ms) : shortDayFmt.format(new Date(ms));
}

export function fmtLastSeen(ms) {
  if (!ms) return '';
  return 'last seen ' + (dayKey(ms) === dayKey(Date.now()) ? 'today at ' + fmtTime(ms) : shortDayFmt.format(new Date(ms)) + ' ' + fmtTime(ms));
}

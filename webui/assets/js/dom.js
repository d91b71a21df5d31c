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

// --- rich text ---

// A URL the UI makes clickable: http or https only, up to whitespace; trailing punctuation
// that usually ends a sentence is left outside the link.
const TOKEN = /(`[^`\n]+`)|(\*[^*\n]+\*)|(_[^_\n]+_)|(https?:\/\/[^\s<>"'`]+)/gi;
const TRAIL = /[.,;:!?)\]}'"]+$/;

// safeLink returns the href for text when it is an http(s) URL, else ''.
export function safeLink(text) {
  try {
    const u = new URL(text);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : '';
  } catch {
    return '';
  }
}

function wordEdge(text, i) {
  return i < 0 || i >= text.length || !/[\p{L}\p{N}_*`]/u.test(text[i]);
}

// rich renders a message body as nodes: links (http/https, opened with
// rel="noopener noreferrer"), *bold*, _italic_ and `code`. Every character of the text
// is in a text node; markers only pick which element wraps it.
export function rich(text) {
  const out = [];
  let last = 0;
  TOKEN.lastIndex = 0;
  for (let m; (m = TOKEN.exec(text));) {
    let tok = m[0];
    const start = m.index;
    let el = null;
    if (m[4]) {
      const trail = TRAIL.exec(tok);
      if (trail) tok = tok.slice(0, tok.length - trail[0].length);
      const href = safeLink(tok);
      if (href) el = h('a.link', { href, target: '_blank', rel: 'noopener noreferrer' }, tok);
      TOKEN.lastIndex = start + tok.length;
    } else if (wordEdge(text, start - 1) && wordEdge(text, start + tok.length) && tok.trim().length > 2 && tok[1] !== ' ' && tok[tok.length - 2] !== ' ') {
      const inner = tok.slice(1, -1);
      if (m[1]) el = h('code.inline', inner);
      else if (m[2]) el = h('strong', inner);
      else el = h('em', inner);
    }
    if (!el) {
      if (!m[4]) TOKEN.lastIndex = start + 1;
      continue;
    }
    if (start > last) out.push(text.slice(last, start));
    out.push(el);
    last = start + tok.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

// --- dialogs ---

// dialog shows a modal <dialog> with a title, content and buttons; it resolves with the
// value of the button pressed (Escape or a click outside resolves with null). Focus goes to
// the first button and returns where it was.
export function dialog(title, content, buttons) {
  return new Promise((resolve) => {
    const back = document.activeElement;
    const d = h('dialog.dialog', { 'aria-labelledby': 'dlg-title' },
      h('h2#dlg-title', title),
      h('div.dialog-body', content),
      h('div.dialog-actions', buttons.map((b) => h('button' + (b.cls ? '.' + b.cls : ''), {
        type: 'button', dataset: { value: String(b.value) }, onclick: () => done(b.value),
      }, b.label))),
    );
    let finished = false;
    function done(v) {
      if (finished) return;
      finished = true;
      d.close();
      d.remove();
      if (back && back.isConnected) back.focus();
      resolve(v);
    }
    d.addEventListener('cancel', (e) => { e.preventDefault(); done(null); });
    d.addEventListener('click', (e) => { if (e.target === d) done(null); });
    document.body.appendChild(d);
    d.showModal();
    const first = d.querySelector('.dialog-body [autofocus]') || d.querySelector('.dialog-actions button');
    if (first) first.focus();
    d.done = done;
  });
}

// confirm asks a yes/no question; it resolves true only when the user pressed ok.
export async function confirmAction(title, text, okLabel, danger) {
  const v = await dialog(title, h('p', text), [
    { label: 'Cancel', value: false },
    { label: okLabel, value: true, cls: danger ? 'danger-solid' : 'primary' },
  ]);
  return v === true;
}

// --- keyboard ---

// arrowNav moves focus among the items of container (a selector) with the arrow keys,
// Home and End; it returns true when it handled the key.
export function arrowNav(e, items, vertical = true) {
  const keys = vertical ? ['ArrowUp', 'ArrowDown'] : ['ArrowLeft', 'ArrowRight'];
  const all = [...items].filter((x) => !x.hidden && !x.disabled);
  if (!all.length) return false;
  const i = all.indexOf(document.activeElement);
  let j = -1;
  if (e.key === keys[1]) j = i < 0 ? 0 : Math.min(all.length - 1, i + 1);
  else if (e.key === keys[0]) j = i < 0 ? all.length - 1 : Math.max(0, i - 1);
  else if (e.key === 'Home') j = 0;
  else if (e.key === 'End') j = all.length - 1;
  else return false;
  e.preventDefault();
  all[j].focus();
  return true;
}

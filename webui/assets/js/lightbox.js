// lightbox.js: the full view of a conversation's images — a modal dialog that keeps focus
// inside it, closes with Escape (focus goes back to the image pressed), and moves between
// the conversation's images with the arrow keys. It shows the thumbnail at once and the
// full image when the node has it (asking for it starts the download); the full image's
// object URL is revoked when the view moves on or closes.
import { h } from './dom.js';
import { icon } from './icons.js';
import { q } from './api.js';
import { fmtSize } from './media.js';

// openLightbox shows items[index]; items are {att, msg} of the conversation's images in
// order. kit is the conversation's MediaKit (for thumbnails); focus returns to opener (or, if
// the conversation was redrawn meanwhile, to the same image's new button). It returns a close
// function.
export function openLightbox(kit, items, index, onClosed, opener) {
  const back = opener || document.activeElement;
  const backMedia = items[index].att.media_id;
  let i = index;
  let full = ''; // object URL of the full image shown
  let seq = 0;
  let retry = 0;
  const img = h('img.lb-img', { alt: '' });
  const status = h('p.lb-status', { role: 'status' });
  const title = h('h2#lb-title.lb-title', '');
  const count = h('span.lb-count.small', '');
  const dl = h('a.button.lb-dl', { download: '' }, 'Download');
  const prev = h('button.icon-btn.lb-prev', { type: 'button', 'aria-label': 'Previous image', onclick: () => go(-1) }, icon('back'));
  const next = h('button.icon-btn.lb-next', { type: 'button', 'aria-label': 'Next image', onclick: () => go(1) }, h('span.flip', icon('back')));
  const close = h('button.icon-btn.lb-close', { type: 'button', 'aria-label': 'Close image viewer', onclick: () => done() }, icon('close'));
  const d = h('dialog.lightbox', { 'aria-labelledby': 'lb-title' },
    h('div.lb-head', h('div.lb-heading', title, count), dl, close),
    h('div.lb-stage', prev, h('figure.lb-fig', img, status), next),
  );

  function revokeFull() {
    if (full) URL.revokeObjectURL(full);
    full = '';
  }

  async function load(mine, a, tries) {
    let r;
    try {
      r = await fetch('/v1/media/' + q(a.media_id), { credentials: 'same-origin' });
    } catch {
      if (mine === seq) status.textContent = 'Your node cannot be reached.';
      return;
    }
    if (mine !== seq) {
      if (r.body) r.body.cancel().catch(() => {});
      return;
    }
    if (r.status === 409) {
      status.textContent = 'Downloading the full image… ' + (a.size ? fmtSize(a.size) : '');
      if (tries < 120) retry = setTimeout(() => load(mine, a, tries + 1), 1000);
      else status.textContent = 'The full image has not arrived yet. Close and try again later.';
      return;
    }
    if (!r.ok) {
      status.textContent = 'The full image could not be shown.';
      return;
    }
    const b = await r.blob();
    if (mine !== seq || !d.isConnected) return;
    revokeFull();
    full = URL.createObjectURL(b);
    img.src = full;
    status.textContent = '';
    dl.href = '/v1/media/' + q(a.media_id);
    dl.hidden = false;
  }

  function show() {
    const { att: a } = items[i];
    seq++;
    clearTimeout(retry);
    revokeFull();
    title.textContent = a.name || 'Image';
    count.textContent = items.length > 1 ? 'Image ' + (i + 1) + ' of ' + items.length : '';
    img.alt = a.name || 'Image';
    img.removeAttribute('src');
    dl.hidden = true;
    dl.setAttribute('download', a.name || 'image');
    prev.disabled = i === 0;
    next.disabled = i === items.length - 1;
    prev.hidden = next.hidden = items.length < 2;
    status.textContent = 'Loading…';
    if (a.thumbnail_media_id) {
      const mine = seq;
      kit.use(a.thumbnail_media_id, (u) => { if (u && mine === seq && !full) img.src = u; });
    }
    d.dataset.media = a.media_id;
    load(seq, a, 0);
  }

  function go(delta) {
    const j = i + delta;
    if (j < 0 || j >= items.length) return;
    i = j;
    show();
  }

  let closed = false;
  function done() {
    if (closed) return;
    closed = true;
    seq++;
    clearTimeout(retry);
    revokeFull();
    d.close();
    d.remove();
    const to = back && back.isConnected ? back : document.querySelector('.att[data-media="' + CSS.escape(backMedia) + '"]');
    if (to) to.focus();
    if (onClosed) onClosed();
  }

  d.addEventListener('cancel', (e) => { e.preventDefault(); done(); });
  d.addEventListener('click', (e) => { if (e.target === d) done(); });
  d.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowLeft') { e.preventDefault(); go(-1); }
    else if (e.key === 'ArrowRight') { e.preventDefault(); go(1); }
    else if (e.key === 'Tab') {
      // Keep focus inside: the modal makes the page inert, and Tab wraps around here.
      const f = [...d.querySelectorAll('button, a[href]')].filter((x) => !x.disabled && !x.hidden && x.getClientRects().length);
      if (!f.length) return;
      const k = f.indexOf(document.activeElement);
      if (e.shiftKey && k <= 0) { e.preventDefault(); f[f.length - 1].focus(); }
      else if (!e.shiftKey && k === f.length - 1) { e.preventDefault(); f[0].focus(); }
    }
  });
  document.body.appendChild(d);
  d.showModal();
  show();
  close.focus();
  return done;
}

// imagesOf lists a conversation's images, in order, for the lightbox.
export function imagesOf(messages, isImage) {
  const out = [];
  for (const m of messages) {
    if (m.deleted || !m.attachments) continue;
    for (const a of m.attachments) if (isImage(a)) out.push({ att: a, msg: m });
  }
  return out;
}

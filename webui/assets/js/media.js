// media.js: attachments (docs/API.md, Media). Uploading — small files in one POST /v1/media,
// large ones by the tus 1.0 protocol at /v1/media/uploads, resumed with HEAD after a failure
// — and showing them in a conversation: image thumbnails (the full image in the lightbox),
// native video and audio players, file cards, and the download state the node reports in
// message_update events. Every request goes to our own node with the session cookie (and the
// CSRF header when it changes something); object URLs are revoked once nothing shows them.
import { h, setChildren } from './dom.js';
import { ApiError, CSRF_HEADER, q } from './api.js';

export const MAX_ATTACHMENTS = 10; // per message (docs/API.md)
export const TUS_OVER = 8 * 1024 * 1024; // larger files go through tus
export const TUS_CHUNK = 4 * 1024 * 1024; // bytes per PATCH
const TUS_RETRIES = 5; // failed PATCHes in a row before the upload is given up
const IMAGE = /^image\/(jpeg|png|gif|webp)$/;
const AUTO_MAX = 16 * 1024 * 1024; // the receiving node downloads up to this by itself

// waitsForGet: a large file the node fetches only once a UI asks for it (docs/API.md).
const waitsForGet = (a) => a.state === 'downloading' && !(a.received > 0) && a.size > AUTO_MAX;

export function fmtSize(n) {
  if (!(n >= 0)) return '';
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
  if (n < 1024 * 1024 * 1024) return (n / 1024 / 1024).toFixed(1) + ' MiB';
  return (n / 1024 / 1024 / 1024).toFixed(2) + ' GiB';
}

export function fmtDuration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
}

export const isImage = (a) => IMAGE.test(String(a.mime || '').split(';')[0].trim().toLowerCase());
const kindOf = (a) => {
  const m = String(a.mime || '').toLowerCase();
  if (isImage(a)) return 'image';
  if (m.startsWith('video/')) return 'video';
  if (m.startsWith('audio/')) return 'audio';
  return 'file';
};
export const isVoiceNote = (a) => kindOf(a) === 'audio' && /^voice-note/.test(a.name || '');

// summary is the one-line text for a message without a body (the conversation list).
export function summary(m) {
  const as = (m && m.attachments) || [];
  if (!as.length) return '';
  const a = as[0];
  const word = { image: '📷 Photo', video: '🎬 Video', audio: isVoiceNote(a) ? '🎤 Voice message' : '🎵 ' + (a.name || 'Audio'), file: '📎 ' + (a.name || 'File') }[kindOf(a)];
  return as.length > 1 ? word + ' +' + (as.length - 1) : word;
}

function errorFrom(status, text) {
  let e = {};
  try {
    e = (JSON.parse(text) || {}).error || {};
  } catch {
    e = {};
  }
  if (!status) return new ApiError(0, 'offline', '');
  return new ApiError(status, e.code || (status === 413 ? 'too_large' : 'http_' + status), e.message || '');
}

// xhr sends one request with upload progress; it resolves with the XMLHttpRequest when the
// node answered 2xx and rejects with an ApiError otherwise. abort(x) is called with the
// request so the caller can cancel it.
function xhr(method, url, headers, body, onProgress, abort) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open(method, url);
    x.withCredentials = true;
    for (const [k, v] of Object.entries(headers)) x.setRequestHeader(k, v);
    if (onProgress) x.upload.onprogress = (e) => onProgress(e.loaded);
    x.onload = () => (x.status >= 200 && x.status < 300 ? resolve(x) : reject(errorFrom(x.status, x.responseText)));
    x.onerror = () => reject(errorFrom(0, ''));
    x.onabort = () => reject(new ApiError(0, 'cancelled', 'The upload was cancelled.'));
    abort(x);
    x.send(body);
  });
}

const b64 = (s) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));

// Upload sends one file to the node and resolves with its Attachment. onProgress(sent,
// total) reports bytes; cancel() stops it (the promise rejects with code "cancelled").
export class Upload {
  constructor(file, onProgress) {
    this.file = file;
    this.onProgress = onProgress || (() => {});
    this.cur = null;
    this.cancelled = false;
    this.tus = file.size > TUS_OVER;
    this.location = ''; // the tus upload's URL once created
  }

  start() {
    if (!this.promise) this.promise = this.tus ? this.viaTus() : this.raw();
    return this.promise;
  }

  // cancel aborts the request in flight and, for a resumable upload the node has already
  // created, terminates it (tus termination: DELETE), so the node frees what it received at
  // once instead of at its next clean-up.
  // While a resumable upload is being created, cancel lets the creation finish (so that its
  // location is known) and viaTus terminates it then.
  cancel() {
    this.cancelled = true;
    if (this.tus && !this.location) return;
    if (this.cur) this.cur.abort();
    this.terminate();
  }

  terminate() {
    if (!this.location || this.terminated) return;
    this.terminated = true;
    fetch(this.location, { method: 'DELETE', headers: this.tusHeaders({}) }).catch(() => {});
  }

  type() { return this.file.type || 'application/octet-stream'; }

  async raw() {
    const x = await xhr('POST', '/v1/media', {
      'Content-Type': this.type(),
      'X-Filename': encodeURIComponent(this.file.name || 'file'),
      [CSRF_HEADER]: '1',
    }, this.file, (n) => this.onProgress(n, this.file.size), (r) => { this.cur = r; });
    this.onProgress(this.file.size, this.file.size);
    return JSON.parse(x.responseText);
  }

  tusHeaders(extra) {
    return Object.assign({ 'Tus-Resumable': '1.0.0', [CSRF_HEADER]: '1' }, extra);
  }

  async viaTus() {
    const f = this.file;
    const created = await xhr('POST', '/v1/media/uploads', this.tusHeaders({
      'Upload-Length': String(f.size),
      'Upload-Metadata': 'filename ' + b64(f.name || 'file') + ',filetype ' + b64(this.type()),
    }), null, null, (r) => { this.cur = r; });
    const loc = created.getResponseHeader('Location');
    if (!loc) throw new ApiError(500, 'internal', 'Your node did not say where to send the file.');
    this.location = new URL(loc, location.href).pathname;
    if (this.cancelled) {
      this.terminate();
      throw new ApiError(0, 'cancelled', 'The upload was cancelled.');
    }
    let offset = 0;
    let failures = 0;
    let mediaId = created.getResponseHeader('Petrel-Media-Id') || '';
    while (!mediaId) {
      if (this.cancelled) throw new ApiError(0, 'cancelled', 'The upload was cancelled.');
      const end = Math.min(f.size, offset + TUS_CHUNK);
      try {
        const r = await xhr('PATCH', this.location, this.tusHeaders({
          'Content-Type': 'application/offset+octet-stream',
          'Upload-Offset': String(offset),
        }), f.slice(offset, end), (n) => this.onProgress(offset + n, f.size), (x) => { this.cur = x; });
        offset = Number(r.getResponseHeader('Upload-Offset') || end);
        mediaId = r.getResponseHeader('Petrel-Media-Id') || '';
        failures = 0;
        this.onProgress(offset, f.size);
        if (offset >= f.size && !mediaId) mediaId = await this.resumeOffset().then((s) => s.mediaId);
      } catch (e) {
        if (this.cancelled || e.code === 'cancelled') throw e;
        if (e.status && e.status !== 409 && e.status < 500) throw e; // refused: retrying will not help
        if (++failures > TUS_RETRIES) throw e;
        // Lost the connection or the node hiccupped: ask where it stands, continue from there.
        await new Promise((r) => setTimeout(r, 300 * 2 ** failures));
        try {
          const st = await this.resumeOffset();
          offset = st.offset;
          mediaId = st.mediaId;
          this.onProgress(offset, f.size);
        } catch (e2) {
          if (e2.status === 404) throw e2; // the upload is gone
        }
      }
    }
    this.onProgress(f.size, f.size);
    const info = await fetch('/v1/media/' + q(mediaId) + '/info', { credentials: 'same-origin', cache: 'no-store' });
    if (!info.ok) throw errorFrom(info.status, await info.text());
    return info.json();
  }

  // resumeOffset asks the node (tus HEAD) how much of the upload it has.
  async resumeOffset() {
    const r = await xhr('HEAD', this.location, { 'Tus-Resumable': '1.0.0' }, null, null, (x) => { this.cur = x; });
    return { offset: Number(r.getResponseHeader('Upload-Offset') || 0), mediaId: r.getResponseHeader('Petrel-Media-Id') || '' };
  }
}

// --- showing attachments ---

// MediaKit renders the attachments of one conversation's messages and owns the object URLs
// made for them. sweep() revokes those no element on the page shows any more; destroy()
// revokes them all.
export class MediaKit {
  constructor(app, convId) {
    this.app = app;
    this.convId = convId;
    this.urls = new Map(); // media id → {url, promise, tries}
    this.els = new Map(); // message id + media id → {sig, el}
    this.onOpen = () => {}; // (attachment, message, button) when an image is pressed
    this.timers = new Set();
    this.pins = new Map(); // media id → uses waiting for its URL (sweep leaves those alone)
  }

  // use calls fn with media id's object URL ('' while the node does not have it yet), and
  // keeps sweep from revoking the URL before fn has put it on the page.
  use(id, fn, onError) {
    this.pins.set(id, (this.pins.get(id) || 0) + 1);
    const unpin = () => {
      const n = this.pins.get(id) - 1;
      if (n > 0) this.pins.set(id, n);
      else this.pins.delete(id);
    };
    this.blobUrl(id).then((url) => { unpin(); fn(url); }, (e) => { unpin(); if (onError) onError(e); });
  }

  // blobUrl fetches media into an object URL; it resolves with '' while the node does not
  // have it yet (409) and rejects on other errors.
  blobUrl(id) {
    const c = this.urls.get(id);
    if (c && c.url) return Promise.resolve(c.url);
    if (c && c.promise) return c.promise;
    const entry = c || { url: '', promise: null };
    entry.promise = fetch('/v1/media/' + q(id), { credentials: 'same-origin' }).then(async (r) => {
      entry.promise = null;
      if (r.status === 409) return '';
      if (!r.ok) throw errorFrom(r.status, await r.text());
      const b = await r.blob();
      if (this.dead) return '';
      entry.url = URL.createObjectURL(b);
      return entry.url;
    }, (e) => {
      entry.promise = null;
      throw e;
    });
    this.urls.set(id, entry);
    return entry.promise;
  }

  // fill puts media id into img, retrying (bounded) while the node is still fetching it.
  fill(img, id, tries = 0) {
    this.use(id, (url) => {
      if (url) {
        img.src = url;
        img.closest('.att').classList.remove('loading');
        return;
      }
      if (tries >= 8 || this.dead) return;
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (img.isConnected || tries < 2) this.fill(img, id, tries + 1);
      }, 500 * 2 ** Math.min(tries, 4));
      this.timers.add(t);
    }, () => {
      const box = img.closest('.att');
      if (box) box.classList.add('broken');
    });
  }

  // render returns the attachments block of message m (null without attachments).
  render(m) {
    if (m.deleted || !m.attachments || !m.attachments.length) return null;
    return h('ul.attachments.media', { 'aria-label': m.attachments.length === 1 ? 'Attachment' : m.attachments.length + ' attachments' },
      m.attachments.map((a) => h('li', this.one(a, m))));
  }

  one(a, m) {
    const sig = JSON.stringify([a.state, a.received, a.thumbnail_media_id, a.error, !!m.local]);
    const key = m.id + ' ' + a.media_id;
    const old = this.els.get(key);
    if (old && old.sig === sig) return old.el;
    const el = this.build(a, m);
    this.els.set(key, { sig, el });
    return el;
  }

  build(a, m) {
    const kind = kindOf(a);
    const state = a.state || 'available';
    const name = a.name || 'attachment';
    const src = '/v1/media/' + q(a.media_id);
    if (kind === 'image') {
      const thumb = a.thumbnail_media_id || (state === 'available' && a.size <= 16 * 1024 * 1024 ? a.media_id : '');
      const img = h('img', { alt: name, decoding: 'async' });
      if (a.width && a.height) {
        img.width = Math.min(320, a.width);
        img.height = Math.round(img.width * a.height / a.width);
      }
      const btn = h('button.att.att-image.loading', {
        type: 'button',
        dataset: { media: a.media_id, kind },
        'aria-label': 'Open image ' + name,
        onclick: (e) => this.onOpen(a, m, e.currentTarget),
      }, img, this.stateLine(a));
      if (thumb) this.fill(img, thumb);
      return btn;
    }
    if ((kind === 'video' || kind === 'audio') && state === 'available') {
      const player = kind === 'video'
        ? h('video', { controls: true, preload: 'metadata', src, 'aria-label': 'Video ' + name })
        : h('audio', { controls: true, preload: 'metadata', src, 'aria-label': (isVoiceNote(a) ? 'Voice message' : 'Audio ' + name) });
      return h('div.att.att-' + kind + (isVoiceNote(a) ? '.voice' : ''), { dataset: { media: a.media_id, kind } },
        player,
        h('div.att-caption',
          h('span.att-name', isVoiceNote(a) ? 'Voice message' : name),
          h('span.muted', (a.duration_ms ? fmtDuration(a.duration_ms) + ' · ' : '') + fmtSize(a.size)),
          h('a.att-dl', { href: src, download: name, 'aria-label': 'Download ' + name }, 'Download')));
    }
    return h('div.att.att-file', { dataset: { media: a.media_id, kind } },
      h('span.file-icon', { 'aria-hidden': 'true' }, (String(name).split('.').pop() || 'file').slice(0, 4).toUpperCase()),
      h('div.att-caption',
        h('span.att-name', name),
        h('span.muted', fmtSize(a.size)),
        this.stateLine(a)),
      state === 'available'
        ? h('a.att-dl.button', { href: src, download: name, 'aria-label': 'Download ' + name }, 'Download')
        : waitsForGet(a) ? this.fetchButton(a, 'Download') : null);
  }

  // stateLine shows what the node is doing with an attachment that is not here yet.
  stateLine(a) {
    const state = a.state || 'available';
    if (state === 'available') return null;
    if (waitsForGet(a)) return h('div.att-state', h('span.small', 'Not downloaded yet'));
    if (state === 'downloading') {
      const got = a.received || 0;
      return h('div.att-state', { role: 'status' },
        h('progress', { max: String(a.size || 1), value: String(got), 'aria-label': 'Downloading ' + (a.name || 'attachment') }),
        h('span.small', 'Downloading… ' + fmtSize(got) + ' of ' + fmtSize(a.size)));
    }
    return h('div.att-state.failed', { role: 'alert' },
      h('span.small', 'This could not be downloaded' + (a.error ? ': ' + String(a.error).replace(/\.$/, '') : '') + '. '),
      this.fetchButton(a, 'Try again'));
  }

  // fetchButton asks the node to download the attachment (a GET of media not yet here answers
  // 409 and starts the download; progress then arrives as message_update events).
  fetchButton(a, label) {
    const b = h('button.link.att-fetch', {
      type: 'button',
      'aria-label': label + ': ' + (a.name || 'attachment'),
      onclick: async (e) => {
        e.stopPropagation();
        b.disabled = true;
        b.textContent = 'Asking your node…';
        try {
          const r = await fetch('/v1/media/' + q(a.media_id), { credentials: 'same-origin', headers: { Range: 'bytes=0-0' } });
          if (r.ok && r.body) r.body.cancel().catch(() => {});
          b.textContent = r.ok || r.status === 409 ? 'Downloading…' : 'Could not start the download.';
        } catch {
          b.textContent = 'Your node cannot be reached.';
        }
      },
    }, label);
    return b;
  }

  // sweep revokes the object URLs no element on the page shows any more.
  sweep(root) {
    const shown = new Set();
    for (const img of root.ownerDocument.querySelectorAll('img[src^="blob:"]')) shown.add(img.src);
    for (const [id, c] of this.urls) {
      if (c.url && !shown.has(c.url) && !this.pins.has(id)) {
        URL.revokeObjectURL(c.url);
        this.urls.delete(id);
      }
    }
    for (const [id, e] of this.els) if (!e.el.isConnected) this.els.delete(id);
  }

  destroy() {
    this.dead = true;
    for (const t of this.timers) clearTimeout(t);
    for (const c of this.urls.values()) if (c.url) URL.revokeObjectURL(c.url);
    this.urls.clear();
    this.els.clear();
  }
}

// --- the composer's tray of attachments ---

// Tray holds the files picked for the next message: each is uploaded at once, with its
// progress and a cancel/remove button. ready() lists the Attachments uploaded.
export class Tray {
  constructor(onChange) {
    this.items = [];
    this.onChange = onChange || (() => {});
    this.el = h('ul.att-tray', { 'aria-label': 'Attachments to send', hidden: true });
    this.note = h('div.att-note', { role: 'status', 'aria-live': 'polite' });
  }

  busy() { return this.items.some((i) => i.state === 'uploading'); }
  ready() { return this.items.filter((i) => i.state === 'done').map((i) => i.att); }
  failed() { return this.items.some((i) => i.state === 'failed'); }

  // add starts uploading files; more than MAX_ATTACHMENTS are refused with a sentence.
  add(files) {
    const list = [...files];
    const room = MAX_ATTACHMENTS - this.items.length;
    if (list.length > room) {
      this.note.textContent = 'You can send up to ' + MAX_ATTACHMENTS + ' attachments in one message' + (room > 0 ? '; the first ' + room + ' were added.' : '.');
      list.length = Math.max(0, room);
    } else {
      this.note.textContent = '';
    }
    for (const file of list) {
      const it = { file, state: 'uploading', sent: 0, att: null, error: '', preview: '' };
      if (IMAGE.test(file.type)) it.preview = URL.createObjectURL(file);
      it.up = new Upload(file, (n) => { it.sent = n; this.progress(it); });
      this.items.push(it);
      it.up.start().then((att) => {
        it.att = att;
        it.state = 'done';
        this.draw();
      }, (e) => {
        if (e.code === 'cancelled') return;
        it.state = 'failed';
        it.error = e.message;
        this.draw();
      });
    }
    this.draw();
  }

  remove(it) {
    if (it.state === 'uploading') it.up.cancel();
    if (it.preview) URL.revokeObjectURL(it.preview);
    this.items = this.items.filter((x) => x !== it);
    this.draw();
  }

  // clear empties the tray after a send (uploads finished are kept by the node).
  clear() {
    for (const it of this.items) {
      if (it.state === 'uploading') it.up.cancel();
      if (it.preview) URL.revokeObjectURL(it.preview);
    }
    this.items = [];
    this.note.textContent = '';
    this.draw();
  }

  progress(it) {
    if (it.bar) it.bar.value = it.sent;
    if (it.pct) it.pct.textContent = Math.floor((100 * it.sent) / (it.file.size || 1)) + '%';
  }

  draw() {
    this.el.hidden = !this.items.length;
    setChildren(this.el, this.items.map((it) => {
      const name = it.file.name || 'file';
      it.bar = it.state === 'uploading' ? h('progress', { max: String(it.file.size || 1), value: String(it.sent), 'aria-label': 'Uploading ' + name }) : null;
      it.pct = it.state === 'uploading' ? h('span.small.muted', '0%') : null;
      const li = h('li.tray-item.' + it.state, { dataset: { name } },
        it.preview ? h('img.tray-thumb', { src: it.preview, alt: '' }) : h('span.file-icon.tray-thumb', { 'aria-hidden': 'true' }, (name.split('.').pop() || 'file').slice(0, 4).toUpperCase()),
        h('div.tray-text',
          h('span.att-name', name),
          h('span.small.muted', fmtSize(it.file.size) + (it.state === 'done' ? ' · ready' : '')),
          it.bar, it.pct,
          it.state === 'failed' ? h('span.small.error', it.error) : null),
        h('button.icon-btn.tray-remove', {
          type: 'button',
          'aria-label': (it.state === 'uploading' ? 'Cancel uploading ' : 'Remove ') + name,
          title: it.state === 'uploading' ? 'Cancel upload' : 'Remove',
          onclick: () => this.remove(it),
        }, '×'));
      this.progress(it);
      return li;
    }));
    this.onChange();
  }
}

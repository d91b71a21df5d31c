// attach.js: the media parts of one conversation's screen, kept apart from views/chat.js —
// the attach and record buttons, drag and drop onto the conversation, pasted images, the
// tray of pending uploads, the attachments inside messages and the lightbox.
import { h } from './dom.js';
import { icon } from './icons.js';
import { MediaKit, Tray, Upload, isImage } from './media.js';
import { openLightbox, imagesOf } from './lightbox.js';
import { Recorder, canRecord } from './recorder.js';

// attachKit wires media into the chat view. opts: el (the chat section), form (the composer),
// row (its row of input and buttons), input, messages() (the conversation's messages in
// order), send(body, attachments) and flash(sentence).
export function attachKit(app, convId, opts) {
  const kit = new MediaKit(app, convId);
  let waiting = false; // Send was pressed while uploads ran: send when they finish
  let closeLb = null;
  const tray = new Tray(() => {
    if (waiting && !tray.busy()) {
      waiting = false;
      if (tray.failed()) opts.flash('Some attachments could not be uploaded. Remove them or pick them again, then send.');
      else opts.submit();
    }
  });
  const picker = h('input.visually-hidden#att-input', { type: 'file', multiple: true, tabindex: '-1', 'aria-hidden': 'true' });
  picker.addEventListener('change', () => {
    if (picker.files && picker.files.length) tray.add(picker.files);
    picker.value = '';
    opts.input.focus();
  });
  const attachBtn = h('button.icon-btn.attach-btn', { type: 'button', 'aria-label': 'Attach files', title: 'Attach files (or drop them here)', onclick: () => picker.click() }, icon('clip'));
  const recBar = h('div.rec-bar', { hidden: true });
  const rec = new Recorder(recBar, {
    onDone: (file) => sendVoice(file),
    onEnd: () => { opts.row.hidden = false; opts.input.focus(); },
    onError: (s) => { opts.row.hidden = false; opts.flash(s); },
  });
  const micBtn = h('button.icon-btn.mic-btn', {
    type: 'button', 'aria-label': 'Record a voice message', title: 'Record a voice message',
    hidden: !canRecord(),
    onclick: () => { opts.row.hidden = true; rec.start(); },
  }, icon('mic'));
  opts.row.prepend(attachBtn);
  opts.row.append(micBtn);
  opts.form.prepend(tray.el, tray.note);
  opts.form.append(recBar, picker);

  async function sendVoice(file) {
    const up = new Upload(file);
    try {
      const att = await up.start();
      opts.send('', [att]);
    } catch (e) {
      opts.flash('The voice message could not be sent. ' + e.message);
    }
  }

  // Drag and drop onto the conversation.
  const drop = h('div.drop-zone', { hidden: true, 'aria-hidden': 'true' }, h('p', 'Drop files to attach them'));
  opts.el.append(drop);
  let depth = 0;
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  opts.el.addEventListener('dragenter', (e) => { if (!hasFiles(e)) return; e.preventDefault(); depth++; drop.hidden = false; });
  opts.el.addEventListener('dragover', (e) => { if (!hasFiles(e)) return; e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; });
  opts.el.addEventListener('dragleave', () => { if (--depth <= 0) { depth = 0; drop.hidden = true; } });
  opts.el.addEventListener('drop', (e) => {
    depth = 0;
    drop.hidden = true;
    if (!hasFiles(e)) return;
    e.preventDefault();
    if (!opts.input.disabled) tray.add(e.dataTransfer.files);
  });
  // Pasted images (a screenshot from the clipboard).
  opts.input.addEventListener('paste', (e) => {
    const files = [...((e.clipboardData && e.clipboardData.files) || [])];
    if (!files.length) return;
    e.preventDefault();
    tray.add(files.map((f, i) => (f.name && f.name !== 'image.png' ? f : new File([f], 'pasted-' + Date.now() + (i ? '-' + i : '') + '.' + ((f.type.split('/')[1] || 'png').replace('jpeg', 'jpg')), { type: f.type }))));
  });

  kit.onOpen = (a, m, opener) => {
    const items = imagesOf(opts.messages(), isImage);
    const i = Math.max(0, items.findIndex((x) => x.att.media_id === a.media_id));
    if (!items.length) return;
    closeLb = openLightbox(kit, items, i, () => { closeLb = null; }, opener);
  };

  return {
    tray,
    render: (m) => kit.render(m),
    sweep: (root) => kit.sweep(root),
    disable(off) { attachBtn.disabled = micBtn.disabled = off; },
    // take returns the uploaded attachments for a send, or null when it has to wait.
    take() {
      if (tray.failed()) {
        opts.flash('Some attachments could not be uploaded. Remove them or pick them again, then send.');
        return null;
      }
      if (tray.busy()) {
        waiting = true;
        tray.note.textContent = 'The message goes out when the uploads finish.';
        return null;
      }
      return tray.ready();
    },
    sent() { tray.clear(); },
    destroy() {
      rec.destroy();
      if (closeLb) closeLb();
      tray.clear();
      kit.destroy();
    },
  };
}

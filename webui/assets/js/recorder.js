// recorder.js: voice notes. The microphone is asked for only when the person presses the
// record button; while recording the composer shows a timer with Cancel and Send. The note
// is recorded with MediaRecorder as Opus in WebM (or Ogg where WebM is not offered) and
// handed to onDone as a File named voice-note-….
import { h } from './dom.js';
import { fmtDuration } from './media.js';

const MAX_MS = 15 * 60 * 1000; // a voice note stops by itself after 15 minutes

function pickType() {
  if (typeof MediaRecorder === 'undefined') return null;
  for (const t of ['audio/webm;codecs=opus', 'audio/webm', 'audio/ogg;codecs=opus', 'audio/ogg']) {
    if (MediaRecorder.isTypeSupported(t)) return t;
  }
  return '';
}

export function canRecord() {
  return !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia) && pickType() !== null;
}

// Recorder draws the recording bar into bar (an element the composer shows instead of its
// row) and calls onDone(file) after Send, onEnd() when recording stops either way, and
// onError(sentence) when the microphone cannot be used.
export class Recorder {
  constructor(bar, { onDone, onEnd, onError }) {
    this.bar = bar;
    this.onDone = onDone;
    this.onEnd = onEnd;
    this.onError = onError;
    this.rec = null;
    this.stream = null;
    this.timer = 0;
    this.started = 0;
  }

  get active() { return !!this.rec; }

  async start() {
    if (this.rec) return;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e) {
      this.onError(e && e.name === 'NotAllowedError'
        ? 'Your browser did not allow the microphone. Allow it for this page to record a voice message.'
        : 'No microphone could be used for a voice message.');
      return;
    }
    const type = pickType();
    let rec;
    try {
      rec = type ? new MediaRecorder(stream, { mimeType: type }) : new MediaRecorder(stream);
    } catch {
      stream.getTracks().forEach((t) => t.stop());
      this.onError('This browser cannot record voice messages.');
      return;
    }
    this.stream = stream;
    this.rec = rec;
    this.chunks = [];
    this.send = false;
    rec.addEventListener('dataavailable', (e) => { if (e.data && e.data.size) this.chunks.push(e.data); });
    rec.addEventListener('stop', () => this.finish());
    rec.start(250);
    this.started = Date.now();
    this.draw();
    this.timer = setInterval(() => this.tick(), 250);
  }

  draw() {
    this.clock = h('span.rec-time', { 'aria-label': 'Recording time' }, '0:00');
    this.bar.replaceChildren(
      h('span.rec-dot', { 'aria-hidden': 'true' }),
      h('span.rec-label', { role: 'status' }, 'Recording a voice message'),
      this.clock,
      h('button.rec-cancel', { type: 'button', onclick: () => this.stop(false) }, 'Cancel'),
      h('button.primary.rec-send', { type: 'button', onclick: () => this.stop(true) }, 'Send voice message'),
    );
    this.bar.hidden = false;
    this.bar.querySelector('.rec-send').focus();
  }

  tick() {
    const ms = Date.now() - this.started;
    if (this.clock) this.clock.textContent = fmtDuration(ms);
    if (ms >= MAX_MS) this.stop(true);
  }

  // stop ends the recording; with send the note goes out, else it is thrown away.
  stop(send) {
    if (!this.rec) return;
    this.send = send;
    this.duration = Date.now() - this.started;
    clearInterval(this.timer);
    if (this.rec.state !== 'inactive') this.rec.stop();
    else this.finish();
  }

  finish() {
    const rec = this.rec;
    if (!rec) return;
    this.rec = null;
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    this.stream = null;
    this.bar.hidden = true;
    this.bar.replaceChildren();
    const type = (rec.mimeType || 'audio/webm').split(';')[0];
    const chunks = this.chunks;
    this.chunks = [];
    if (this.send && chunks.length) {
      const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');
      const ext = type === 'audio/ogg' ? 'ogg' : 'webm';
      this.onDone(new File(chunks, 'voice-note-' + stamp + '.' + ext, { type }), this.duration);
    }
    this.onEnd();
  }

  // destroy stops a recording in progress without sending it.
  destroy() {
    this.stop(false);
  }
}

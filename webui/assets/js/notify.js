// notify.js: notifications of new messages — the browser's Notification API (permission
// is asked only from a click), an optional sound, and the unread count in the favicon.
// Muted conversations (the node's muted_until) and do-not-disturb (the node's
// push.dnd_until) notify nothing: both are the node's, so they hold in every UI of the node
// and do-not-disturb also reaches the relays' push bridges. The two UI preferences (desktop
// notifications on, sound on) live in sessionStorage: per tab, nothing that identifies
// anyone, and gone with the tab.

const PREFS = 'petrel_ui_prefs';
const ICON = '<rect width="32" height="32" rx="8" fill="#1f6feb"/><path d="M6 19c5-1 8-5 10-11 1 5 4 8 10 9-5 2-9 2-13 6-2-2-4-3-7-4z" fill="#fff"/>';

export class Notifier {
  constructor(app) {
    this.app = app;
    this.prefs = { notify: false, sound: false };
    try {
      const saved = JSON.parse(sessionStorage.getItem(PREFS) || '{}');
      this.prefs.notify = saved.notify === true;
      this.prefs.sound = saved.sound === true;
    } catch {
      // defaults
    }
    this.shown = 0; // notifications shown (the browser tests read it)
    this.lastBadge = -1;
    this.audio = null;
  }

  start() {
    this.icon = document.querySelector('link[rel=icon]');
  }

  save() {
    try {
      sessionStorage.setItem(PREFS, JSON.stringify(this.prefs));
    } catch {
      // private mode: the preference lasts until reload
    }
  }

  get supported() { return typeof Notification !== 'undefined'; }
  get permission() { return this.supported ? Notification.permission : 'unsupported'; }

  // enable asks for permission (call it from a click) and turns desktop notifications on.
  async enable() {
    if (!this.supported) return 'unsupported';
    let p = Notification.permission;
    if (p === 'default') p = await Notification.requestPermission();
    this.prefs.notify = p === 'granted';
    this.save();
    return p;
  }

  disable() {
    this.prefs.notify = false;
    this.save();
  }

  setSound(on) {
    this.prefs.sound = !!on;
    this.save();
  }

  // dndUntil is when do-not-disturb ends (0: off): the node's push.dnd_until.
  dndUntil() {
    const st = this.app.store.settings;
    return (st && st.push && st.push.dnd_until) || 0;
  }

  inDnd() { return this.dndUntil() > Date.now(); }

  // incoming is called once for each new message from someone else that is not on screen.
  incoming(m, conv) {
    const s = this.app.store;
    if (s.isMuted(conv) || this.inDnd()) return;
    if (document.visibilityState === 'visible' && document.hasFocus() && s.openConv === conv.id) return;
    const title = s.convName(conv);
    const who = conv.type === 'group' ? s.nameOf(m.sender_id, conv.id) + ': ' : '';
    const body = who + (m.deleted ? 'Message deleted' : m.body).slice(0, 200);
    if (this.prefs.notify && this.permission === 'granted') {
      try {
        const n = new Notification(title, { body, tag: conv.id });
        n.onclick = () => {
          window.focus();
          this.app.go('#/c/' + encodeURIComponent(conv.id));
          n.close();
        };
        this.shown++;
      } catch {
        // Some browsers allow notifications only from a service worker.
      }
    }
    if (this.prefs.sound) this.beep();
  }

  // beep plays a short two-tone chime made on the spot (no audio file to fetch).
  beep() {
    try {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      if (!this.audio) this.audio = new Ctx();
      const ac = this.audio;
      const t = ac.currentTime;
      for (const [f, at] of [[880, 0], [1320, 0.12]]) {
        const o = ac.createOscillator();
        const g = ac.createGain();
        o.frequency.value = f;
        g.gain.setValueAtTime(0.0001, t + at);
        g.gain.exponentialRampToValueAtTime(0.15, t + at + 0.02);
        g.gain.exponentialRampToValueAtTime(0.0001, t + at + 0.25);
        o.connect(g).connect(ac.destination);
        o.start(t + at);
        o.stop(t + at + 0.3);
      }
      this.beeps = (this.beeps || 0) + 1;
    } catch {
      // no audio
    }
  }

  // badge draws the unread count into the favicon.
  badge(n) {
    if (!this.icon || n === this.lastBadge) return;
    this.lastBadge = n;
    let svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">' + ICON;
    if (n > 0) {
      const txt = n > 99 ? '99+' : String(n); // digits only: no markup can get in
      const fs = txt.length > 2 ? 11 : txt.length > 1 ? 13 : 15;
      svg += '<circle cx="22" cy="10" r="10" fill="#c62828" stroke="#fff" stroke-width="1.5"/>' +
        '<text x="22" y="10" dy=".36em" text-anchor="middle" font-family="sans-serif" font-weight="700" font-size="' + fs + '" fill="#fff">' + txt + '</text>';
    }
    svg += '</svg>';
    this.icon.href = 'data:image/svg+xml,' + encodeURIComponent(svg);
    this.icon.dataset.unread = String(n);
  }
}

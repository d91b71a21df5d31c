// live.js: the one WebSocket to the node. It says hello with the last seq the UI has applied,
// so the node replays exactly what was missed; when the socket drops (the node restarted, the
// laptop slept) it reconnects with exponential backoff and jitter, probing the REST API first
// so that a revoked session shows the login screen instead of retrying forever.
//
// States: 'connecting' → 'syncing' (hello sent, replay running) → 'online' (synced) →
// 'offline' (waiting to retry; retryAt says when).

const MIN_DELAY = 250;
const MAX_DELAY = 15000;
const PING_EVERY = 20000;
const PONG_WAIT = 10000;

export class Live {
  // onFrame(frame) gets every frame; onState(state, retryAt) every state change;
  // since() returns the seq to say hello with; probe() resolves true when the API answers,
  // false when it is unreachable (it handles 401 itself).
  constructor({ onFrame, onState, since, probe }) {
    this.onFrame = onFrame;
    this.onState = onState;
    this.since = since;
    this.probe = probe;
    this.ws = null;
    this.state = 'offline';
    this.attempt = 0;
    this.timer = 0;
    this.pingTimer = 0;
    this.pongTimer = 0;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.clearPing();
    if (this.ws) this.ws.close(1000, 'bye');
    this.ws = null;
  }

  // retryNow skips the rest of the backoff (the user pressed "Retry now").
  retryNow() {
    if (this.state !== 'offline' || this.stopped) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  setState(s, retryAt) {
    this.state = s;
    this.onState(s, retryAt);
  }

  async connect() {
    if (this.stopped) return;
    this.setState('connecting');
    if (this.attempt > 0) {
      const ok = await this.probe().catch(() => false);
      if (this.stopped) return;
      if (!ok) {
        this.scheduleRetry();
        return;
      }
    }
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(proto + '//' + location.host + '/v1/ws');
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      ws.send(JSON.stringify({ type: 'hello', since: this.since() }));
      this.setState('syncing');
      this.schedulePing();
    };
    ws.onmessage = (e) => {
      if (ws !== this.ws) return;
      let f;
      try {
        f = JSON.parse(e.data);
      } catch {
        return;
      }
      if (f.type === 'pong') {
        clearTimeout(this.pongTimer);
        return;
      }
      if (f.type === 'synced') {
        this.attempt = 0;
        this.onFrame(f);
        this.setState('online');
        return;
      }
      this.onFrame(f);
    };
    ws.onclose = () => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.clearPing();
      if (!this.stopped) this.scheduleRetry();
    };
  }

  scheduleRetry() {
    const base = Math.min(MAX_DELAY, MIN_DELAY * 2 ** this.attempt);
    const delay = Math.round(base * (0.5 + Math.random() / 2));
    this.attempt++;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
    this.setState('offline', Date.now() + delay);
  }

  schedulePing() {
    this.clearPing();
    this.pingTimer = setInterval(() => {
      if (!this.send({ type: 'ping' })) return;
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(() => this.ws && this.ws.close(), PONG_WAIT);
    }, PING_EVERY);
  }

  clearPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  // send writes a frame when the socket is open and reports whether it did.
  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // ready reports whether frames sent now reach the node (after hello).
  get ready() {
    return this.state === 'syncing' || this.state === 'online';
  }
}

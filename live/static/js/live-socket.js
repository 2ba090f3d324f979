// One websocket to a room: hello, resume by seq, clock offset, heartbeat, reconnect.
//
// Emits "message" for every server message in order (the events inside a `resume`
// are emitted one by one, as if they had arrived live) and "state" when the
// connection state changes: connecting, live, reconnecting, offline, denied.

const PROTOCOL_VERSION = 1;
const FINAL_CODES = new Set([4000, 4001, 4004]); // bad hello, unauthorized, no such room
const MAX_BACKOFF_MS = 10000;

export class LiveSocket extends EventTarget {
  constructor({ path, token = null, heartbeatMs = 15000 }) {
    super();
    this.path = path;
    this.token = token;
    this.heartbeatMs = heartbeatMs;
    this.lastSeq = null;
    this.offsetMs = 0;
    this.bestRtt = Infinity;
    this.state = "connecting";
    this.attempt = 0;
    this.ws = null;
    this.timers = [];
    this.lastHeard = 0;
  }

  start() {
    this.connect();
    window.addEventListener("online", () => this.state !== "live" && this.reconnectSoon(0));
  }

  /** Server epoch ms, corrected by the measured clock offset. */
  serverNow() {
    return Date.now() + this.offsetMs;
  }

  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.state !== "live") return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  connect() {
    this.clearTimers();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}${this.path}`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      const hello = { type: "hello", v: PROTOCOL_VERSION };
      if (this.token) hello.token = this.token;
      if (this.lastSeq !== null) hello.last_seq = this.lastSeq;
      ws.send(JSON.stringify(hello));
      this.lastHeard = Date.now();
    });
    ws.addEventListener("message", (e) => this.receive(e.data));
    ws.addEventListener("close", (e) => this.closed(ws, e.code));
  }

  receive(data) {
    this.lastHeard = Date.now();
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    switch (message.type) {
      case "snapshot":
        this.offsetMs = message.server_time - Date.now();
        this.bestRtt = Infinity;
        this.lastSeq = message.seq;
        this.emit(message);
        this.becameLive();
        return;
      case "resume":
        this.offsetMs = message.server_time - Date.now();
        for (const event of message.events) this.accept(event);
        this.lastSeq = Math.max(this.lastSeq ?? 0, message.seq);
        this.emit(message);
        this.becameLive();
        return;
      case "pong":
        if (typeof message.t === "number") {
          const now = Date.now();
          const rtt = now - message.t;
          if (rtt <= this.bestRtt * 1.5) {
            this.bestRtt = Math.min(this.bestRtt, rtt);
            this.offsetMs = message.server_time + rtt / 2 - now;
          }
        }
        return;
      default:
        this.accept(message);
    }
  }

  accept(message) {
    if (typeof message.seq === "number") {
      if (this.lastSeq !== null && message.seq <= this.lastSeq) return; // already seen
      this.lastSeq = message.seq;
    }
    this.emit(message);
  }

  emit(message) {
    this.dispatchEvent(new CustomEvent("message", { detail: message }));
  }

  becameLive() {
    this.attempt = 0;
    this.setState("live");
    this.clearTimers();
    this.timers.push(setInterval(() => this.heartbeat(), this.heartbeatMs));
    this.ping();
  }

  heartbeat() {
    if (Date.now() - this.lastHeard > this.heartbeatMs * 2.5) {
      // Nothing heard, not even a pong: the connection is dead even if the OS says not.
      this.ws?.close();
      this.closed(this.ws, 1006);
      return;
    }
    this.ping();
  }

  ping() {
    this.send({ type: "ping", t: Date.now() });
  }

  closed(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.clearTimers();
    if (FINAL_CODES.has(code)) {
      this.setState("denied", code);
      return;
    }
    this.setState(navigator.onLine === false ? "offline" : "reconnecting", code);
    const immediate = code === 4008 || code === 4010 || code === 1012;
    const backoff = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
    this.attempt += 1;
    this.reconnectSoon(immediate ? 100 : backoff * (0.5 + Math.random() / 2));
  }

  reconnectSoon(delayMs) {
    this.clearTimers();
    this.timers.push(setTimeout(() => this.connect(), delayMs));
  }

  clearTimers() {
    for (const timer of this.timers) {
      clearTimeout(timer);
      clearInterval(timer);
    }
    this.timers = [];
  }

  setState(state, code = null) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, code } }));
  }
}

// The WebSocket connection to the server, speaking confab's JSON protocol
// v1 (docs/protocol.md): numbered requests whose answers come back with
// `re` and end with `ack` or `error`, a heartbeat, and reconnection with
// backoff. What to say after connecting (hello, rejoining, resuming) is the
// caller's: `onOpen` runs on every (re)connect.

/** @typedef {Record<string, any> & {type: string}} Msg */
/** @typedef {"connecting" | "online" | "offline" | "stopped"} ConnState */

/** A refused request: the server's code and message. */
export class RequestError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {string} [field]
   */
  constructor(code, message, field) {
    super(message);
    this.code = code;
    this.field = field;
  }
}

/**
 * @typedef {object} Pending
 * @property {(v: {ack: Msg, replies: Msg[]}) => void} resolve
 * @property {(e: Error) => void} reject
 * @property {Msg[]} replies
 * @property {boolean} collect  the caller handles the replies; they are not dispatched
 */

const PING_EVERY_MS = 25_000;
const PING_TIMEOUT_MS = 15_000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000, 30000];

export class Connection {
  /**
   * @param {object} hooks
   * @param {(msg: Msg) => void} hooks.onEvent    every server message not collected by a request
   * @param {() => void} hooks.onOpen            the socket is open: log in
   * @param {(state: ConnState, retryAt: number | null, why: string) => void} hooks.onState
   */
  constructor(hooks) {
    this.hooks = hooks;
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {ConnState} */
    this.state = "stopped";
    /** @type {Map<number, Pending>} */
    this.pending = new Map();
    this.nextId = 1;
    this.attempt = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.pingTimer = undefined;
    this.lastHeard = 0;
    this.lag = 0;
  }

  /** Opens the connection (and keeps it open until `stop`). */
  start() {
    clearTimeout(this.retryTimer);
    this.open();
  }

  open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws`, "confab.v1");
    this.ws = ws;
    this.setState("connecting", null, "");
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.lastHeard = Date.now();
      this.schedulePing();
      this.hooks.onOpen();
    };
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      this.lastHeard = Date.now();
      /** @type {Msg} */
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      this.dispatch(msg);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.dropped(e.reason || (e.code === 1006 ? "connection lost" : `closed (${e.code})`));
    };
  }

  /**
   * @param {Msg} msg
   */
  dispatch(msg) {
    const p = msg.re !== undefined ? this.pending.get(msg.re) : undefined;
    if (p && msg.type === "ack") {
      this.pending.delete(msg.re);
      p.resolve({ ack: msg, replies: p.replies });
      return;
    }
    if (p && msg.type === "pong") {
      this.pending.delete(msg.re);
      p.resolve({ ack: msg, replies: p.replies });
      return;
    }
    if (p && msg.type === "error") {
      this.pending.delete(msg.re);
      p.reject(new RequestError(msg.code, msg.message, msg.field));
      return;
    }
    if (p) {
      p.replies.push(msg);
      if (p.collect) return;
    }
    this.hooks.onEvent(msg);
  }

  /**
   * Sends a request and waits for its `ack` (or `pong`); an `error`
   * rejects with a RequestError, a dropped connection with a RequestError
   * coded `disconnected`.
   * @param {Msg} msg
   * @param {{collect?: boolean}} [opts]
   * @returns {Promise<{ack: Msg, replies: Msg[]}>}
   */
  request(msg, opts = {}) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new RequestError("disconnected", "not connected to the server"));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, replies: [], collect: !!opts.collect });
      ws.send(JSON.stringify({ ...msg, id }));
    });
  }

  /**
   * Sends a message that needs no answer (typing).
   * @param {Msg} msg
   */
  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  /** The login worked: from now on a drop is retried from the first delay. */
  loggedIn() {
    this.attempt = 0;
    this.setState("online", null, "");
  }

  /**
   * Stops for good (logout, or a refusal that retrying cannot fix).
   * @param {string} why
   */
  stop(why) {
    clearTimeout(this.retryTimer);
    clearTimeout(this.pingTimer);
    const ws = this.ws;
    this.ws = null;
    this.failPending();
    if (ws) ws.close(1000);
    this.setState("stopped", null, why);
  }

  /** Retries now instead of waiting for the backoff. */
  retryNow() {
    if (this.state === "offline") this.start();
  }

  /** @param {string} why */
  dropped(why) {
    clearTimeout(this.pingTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState !== WebSocket.CLOSED) ws.close();
    this.failPending();
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    // Spread reconnects after a server restart so clients do not arrive at once.
    const jittered = Math.round(delay * (0.75 + Math.random() * 0.5));
    this.attempt++;
    const at = Date.now() + jittered;
    this.setState("offline", at, why);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), jittered);
  }

  failPending() {
    for (const p of this.pending.values()) {
      p.reject(new RequestError("disconnected", "the connection dropped before the server answered"));
    }
    this.pending.clear();
  }

  // Browsers cannot see WebSocket pings, so the page pings in JSON; an
  // answer that does not come means the network is gone even if the
  // socket has not noticed yet.
  schedulePing() {
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => {
      const ws = this.ws;
      if (!ws) return;
      const sent = Date.now();
      const timeout = setTimeout(() => {
        if (this.ws === ws) this.dropped("the server stopped answering");
      }, PING_TIMEOUT_MS);
      this.request({ type: "ping" }).then(
        () => {
          clearTimeout(timeout);
          this.lag = Date.now() - sent;
          this.schedulePing();
        },
        () => clearTimeout(timeout),
      );
    }, PING_EVERY_MS);
  }

  /**
   * @param {ConnState} state
   * @param {number | null} retryAt
   * @param {string} why
   */
  setState(state, retryAt, why) {
    this.state = state;
    this.hooks.onState(state, retryAt, why);
  }
}

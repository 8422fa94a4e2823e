// The page's model of the chat: who we are, the buffers (rooms and private
// conversations) with a bounded window of each one's history, members,
// topics, unread counts and read markers; and the actions the UI takes
// (log in, join, send, page history). Server events come in through
// `handle`; the UI re-renders when `subscribe`rs are told.
//
// Each buffer holds at most WINDOW items. Paging back past that drops the
// newest items (the buffer stops following live messages until it pages
// forward again), so a room with any amount of history costs the same
// memory and DOM.

import { Connection, RequestError } from "./conn.js";
import { mentions } from "./format.js";
import * as rest from "./rest.js";

/** @typedef {import("./conn.js").Msg} Msg */
/** @typedef {import("./conn.js").ConnState} ConnState */

/**
 * @typedef {object} ChatMessage
 * @property {number} id
 * @property {string} time
 * @property {string} from
 * @property {string} target
 * @property {"say" | "action" | "notice"} kind
 * @property {string} text
 * @property {boolean} [offline]
 */

/**
 * @typedef {object} MsgItem
 * @property {"msg"} type
 * @property {string} key
 * @property {ChatMessage} m
 * @property {boolean} self
 * @property {boolean} highlight
 */

/**
 * @typedef {object} EventItem
 * @property {"event"} type
 * @property {string} key
 * @property {string} time
 * @property {"join" | "part" | "quit" | "nick" | "topic" | "mode" | "kick" | "info" | "error" | "announce"} what
 * @property {string} text
 * @property {string} [nick]  who joined, parted or quit (for compacting)
 */

/** @typedef {MsgItem | EventItem} Item */

/**
 * @typedef {object} Member
 * @property {string} nick
 * @property {boolean} op
 * @property {boolean} voice
 * @property {boolean} account
 * @property {string | null} away
 */

/** Most items a buffer keeps (and the page shows) at once. */
export const WINDOW = 400;
/** Messages asked for per page of history. */
export const PAGE = 100;
const TYPING_SHOWN_MS = 6000;
/** How long reading may go on before the server hears of it. */
const MARK_DELAY_MS = 400;

let itemSeq = 0;

/** @param {string} name */
export const keyOf = (name) => name.toLowerCase();
/** @param {string} name */
export const isRoom = (name) => name.startsWith("#");

export class Buffer {
  /** @param {string} name */
  constructor(name) {
    this.name = name;
    this.key = keyOf(name);
    /** @type {"room" | "private"} */
    this.kind = isRoom(name) ? "room" : "private";
    /** @type {Item[]} */
    this.items = [];
    /** Older history may exist on the server. */
    this.hasOlder = true;
    /** The window reaches the newest message, so live ones append. */
    this.atLatest = true;
    /** The user is looking at the newest items (set by the view). */
    this.following = true;
    this.loading = false;
    /** @type {{text: string, by: string | null, setAt: string | null} | null} */
    this.topic = null;
    /** @type {Map<string, Member>} */
    this.members = new Map();
    this.joined = this.kind === "private";
    this.unread = 0;
    /** Unread messages exist before the window's start too. */
    this.unreadMore = false;
    this.highlight = false;
    this.readUpTo = 0;
    /** Joined with no read marker: the history that comes with the join counts as read. */
    this.unmarked = false;
    /** Messages after this id were new when the conversation was opened. */
    this.newSince = Infinity;
    /** @type {Map<string, number>} nick → until when it shows as typing */
    this.typing = new Map();
  }

  /** The id of the newest message in the window, or 0. */
  lastId() {
    for (let i = this.items.length - 1; i >= 0; i--) {
      const it = this.items[i];
      if (it.type === "msg") return it.m.id;
    }
    return 0;
  }

  /** The id of the oldest message in the window, or 0. */
  firstId() {
    for (const it of this.items) if (it.type === "msg") return it.m.id;
    return 0;
  }

  /** @param {number} id */
  has(id) {
    return this.items.some((it) => it.type === "msg" && it.m.id === id);
  }
}

/**
 * @typedef {object} Credentials
 * @property {string} name
 * @property {string} [password]
 * @property {string} [token]
 * @property {boolean} [signup]
 */

export class Chat {
  constructor() {
    /** @type {Set<() => void>} */
    this.listeners = new Set();
    /** @type {Map<string, Buffer>} */
    this.buffers = new Map();
    /** @type {string | null} */
    this.current = null;
    this.me = "";
    this.account = false;
    /** @type {string | null} */
    this.token = null;
    /** @type {"login" | "chat"} */
    this.view = "login";
    /** @type {ConnState} */
    this.conn = "stopped";
    /** @type {number | null} */
    this.retryAt = null;
    this.why = "";
    /** @type {{text: string, field?: string} | null} */
    this.loginError = null;
    this.busy = false;
    /** Largest message id seen: where a reconnect resumes. */
    this.maxSeen = 0;
    /** @type {Credentials | null} */
    this.creds = null;
    /** @type {((item: MsgItem, buffer: Buffer) => void) | null} */
    this.onNotify = null;
    /** @type {((text: string) => void) | null} */
    this.onAnnounce = null;
    this.scheduled = false;
    /** @type {Set<Buffer>} conversations read further than the server knows */
    this.unsentMarks = new Set();
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.markTimer = undefined;
    this.connection = new Connection({
      onEvent: (m) => this.handle(m),
      onOpen: () => this.hello(),
      onState: (s, at, why) => {
        this.conn = s;
        this.retryAt = at;
        this.why = why;
        this.changed();
      },
    });
    setInterval(() => this.expireTyping(), 1000);
  }

  /** @param {() => void} fn */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Tells the UI, once per frame however many events arrived. */
  changed() {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const fn of this.listeners) fn();
    });
  }

  // ---- logging in -------------------------------------------------------

  /**
   * Starts from what the browser remembers: a login token, or a guest name
   * for this tab.
   */
  resumeSaved() {
    const token = localStorage.getItem("confab.token");
    const name = localStorage.getItem("confab.name");
    if (token && name) {
      this.creds = { name, token };
      this.token = token;
      this.busy = true;
      this.connection.start();
      return;
    }
    const guest = sessionStorage.getItem("confab.guest");
    if (guest) {
      this.creds = { name: guest };
      this.busy = true;
      this.connection.start();
    }
  }

  /**
   * The login form: a guest, an account (password → token over REST), or a
   * sign-up (a guest that registers its name, then takes a token).
   * @param {"guest" | "login" | "signup"} how
   * @param {string} name
   * @param {string} password
   */
  async login(how, name, password) {
    this.loginError = null;
    name = name.trim();
    if (!name) return this.refuse("Choose a name first.", "name");
    if (how !== "guest" && !password) return this.refuse("Type a password.", "password");
    this.busy = true;
    this.changed();
    if (how === "login") {
      try {
        const t = await rest.login(name, password);
        this.saveToken(t.name, t.token);
        this.creds = { name: t.name, token: t.token };
      } catch (e) {
        return this.refuse(loginMessage(e), "password");
      }
    } else {
      this.creds = { name, password: how === "signup" ? password : undefined, signup: how === "signup" };
    }
    this.connection.start();
  }

  /**
   * @param {string} text
   * @param {string} [field]
   */
  refuse(text, field) {
    this.loginError = { text, field };
    this.busy = false;
    this.changed();
  }

  /** @param {string} name @param {string} token */
  saveToken(name, token) {
    this.token = token;
    localStorage.setItem("confab.token", token);
    localStorage.setItem("confab.name", name);
  }

  /** Says hello on every (re)connect, then restores rooms and resumes. */
  async hello() {
    const c = this.creds;
    if (!c) return;
    const reconnect = this.view === "chat";
    /** @type {Msg} */
    const msg = { type: "hello", v: 1 };
    if (c.token) msg.token = c.token;
    else msg.name = reconnect ? this.me || c.name : c.name;
    const guest = !c.token;
    if (reconnect && guest) msg.auto_join = false;
    if (reconnect && !guest && this.maxSeen) msg.resume_after = this.maxSeen;
    try {
      const { replies } = await this.connection.request(msg);
      const welcome = replies.find((r) => r.type === "welcome");
      if (welcome) {
        this.me = welcome.name;
        this.account = !!welcome.account;
      }
      if (c.signup && c.password) {
        await this.connection.request({ type: "register", password: c.password });
        const t = await rest.login(this.me, c.password);
        this.saveToken(t.name, t.token);
        this.creds = { name: t.name, token: t.token };
        this.account = true;
      }
      if (!this.token) sessionStorage.setItem("confab.guest", this.me);
      this.connection.loggedIn();
      this.loginError = null;
      this.busy = false;
      if (!reconnect) {
        this.view = "chat";
        this.restorePrivate();
        if (guest) {
          this.restoreGuestRooms();
          this.saveGuestRooms();
        }
        this.loadMarkers();
      } else if (guest) {
        await this.rejoinAsGuest();
      }
      if (!this.current) this.pickCurrent();
      this.changed();
    } catch (e) {
      this.helloRefused(e, reconnect);
    }
  }

  /**
   * @param {unknown} e
   * @param {boolean} reconnect
   */
  helloRefused(e, reconnect) {
    if (!(e instanceof RequestError) || e.code === "disconnected") return;
    if (reconnect && e.code === "nick_in_use") {
      // Our old connection has not timed out yet; the retry will find it gone.
      this.connection.dropped("your name is still held by the old connection; retrying");
      return;
    }
    if (e.code === "bad_token") this.forget();
    this.connection.stop(e.message);
    if (this.creds?.signup) this.creds = { name: this.creds.name };
    const text =
      e.code === "nick_in_use"
        ? `Someone is already chatting as “${this.creds?.name ?? ""}”. Pick another name.`
        : e.code === "nick_registered"
          ? `The name “${this.creds?.name ?? ""}” belongs to an account. Log in with its password, or pick another name.`
          : e.code === "bad_token"
            ? "Your login has expired. Log in again."
            : e.code === "bad_request" && e.field === "password"
              ? e.message.replace(/^password: /, "")
              : e.field && e.message.startsWith(`${e.field}: `)
                ? e.message.slice(e.field.length + 2)
              : e.message;
    this.view = "login";
    this.refuse(text, e.field === "password" ? "password" : "name");
  }

  /** A guest's rooms do not survive a disconnect: join them again, then resume. */
  async rejoinAsGuest() {
    const rooms = [...this.buffers.values()].filter((b) => b.kind === "room" && b.joined);
    await Promise.allSettled(rooms.map((b) => this.connection.request({ type: "join", room: b.name })));
    await this.resume();
  }

  async resume() {
    let after = this.maxSeen;
    for (let page = 0; page < 50 && after; page++) {
      const { replies } = await this.connection.request({ type: "resume", after, limit: 200 });
      const r = replies.find((x) => x.type === "resumed");
      if (!r || !r.more || !r.messages.length) break;
      after = r.messages[r.messages.length - 1].id;
    }
  }

  logout() {
    this.connection.request({ type: "quit", reason: "logged out" }).catch(() => {});
    this.connection.stop("logged out");
    // The server voids the token too; a failure there still logs out here.
    if (this.token) rest.logout(this.token).catch(() => {});
    this.forget();
    sessionStorage.removeItem("confab.guest");
    sessionStorage.removeItem("confab.guestRooms");
    this.creds = null;
    this.buffers.clear();
    this.current = null;
    this.me = "";
    this.maxSeen = 0;
    this.view = "login";
    this.changed();
  }

  forget() {
    localStorage.removeItem("confab.token");
    localStorage.removeItem("confab.name");
    this.token = null;
  }

  // ---- buffers ----------------------------------------------------------

  /** @param {string} name */
  buffer(name) {
    const key = keyOf(name);
    let b = this.buffers.get(key);
    if (!b) {
      b = new Buffer(name);
      this.buffers.set(key, b);
      if (b.kind === "private") this.savePrivate();
    }
    return b;
  }

  /** The open buffer. */
  open() {
    return this.current ? (this.buffers.get(this.current) ?? null) : null;
  }

  /** @param {string} key */
  select(key) {
    if (!this.buffers.has(key)) return;
    this.current = key;
    const b = /** @type {Buffer} */ (this.buffers.get(key));
    b.highlight = false;
    // Where the "new messages" line goes while this conversation is open.
    b.newSince = b.unread ? b.readUpTo : Infinity;
    if (b.kind === "private" && b.items.length === 0 && this.account) this.older(b);
    this.changed();
  }

  pickCurrent() {
    const first = this.sorted()[0];
    this.current = first ? first.key : null;
  }

  /**
   * Buffers in sidebar order: rooms, then people; within each, those that
   * mention the user first, then those with unread messages, then the
   * rest, each group alphabetical.
   */
  sorted() {
    /** @param {Buffer} b */
    const rank = (b) => (b.kind === "room" ? 0 : 3) + (b.highlight ? 0 : b.unread ? 1 : 2);
    return [...this.buffers.values()].sort((a, b) => rank(a) - rank(b) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** The next buffer with unread messages after the open one (mentions first). */
  nextUnread() {
    const list = this.sorted();
    const at = list.findIndex((b) => b.key === this.current);
    const order = [...list.slice(at + 1), ...list.slice(0, at + 1)];
    const hit = order.find((b) => b.highlight && b.key !== this.current) ?? order.find((b) => b.unread > 0 && b.key !== this.current);
    if (hit) this.select(hit.key);
  }

  /** @param {number} step */
  cycle(step) {
    const list = this.sorted();
    if (!list.length) return;
    const at = list.findIndex((b) => b.key === this.current);
    this.select(list[(at + step + list.length) % list.length].key);
  }

  totalUnread() {
    let n = 0;
    for (const b of this.buffers.values()) n += b.unread;
    return n;
  }

  savePrivate() {
    if (!this.account) return;
    const names = [...this.buffers.values()].filter((b) => b.kind === "private").map((b) => b.name);
    localStorage.setItem(`confab.private.${this.me.toLowerCase()}`, JSON.stringify(names));
  }

  restorePrivate() {
    if (!this.account) return;
    try {
      const names = JSON.parse(localStorage.getItem(`confab.private.${this.me.toLowerCase()}`) ?? "[]");
      for (const n of names) if (typeof n === "string") this.older(this.buffer(n));
    } catch {
      // A damaged list only loses the sidebar entries, not the messages.
    }
  }

  /** A guest's rooms, kept for the tab so a reload rejoins them. */
  saveGuestRooms() {
    if (this.token || this.view !== "chat") return;
    const rooms = [...this.buffers.values()].filter((b) => b.kind === "room" && b.joined).map((b) => b.name);
    sessionStorage.setItem("confab.guestRooms", JSON.stringify(rooms));
  }

  restoreGuestRooms() {
    try {
      const rooms = JSON.parse(sessionStorage.getItem("confab.guestRooms") ?? "[]");
      for (const r of rooms) {
        if (typeof r === "string" && !this.buffers.get(keyOf(r))?.joined) {
          this.connection.request({ type: "join", room: r }).catch((e) => this.report(e));
        }
      }
    } catch {
      // A damaged list only costs the rejoin.
    }
  }

  /** @param {string} nick */
  startPrivate(nick) {
    const b = this.buffer(nick);
    this.select(b.key);
    return b;
  }

  /** @param {Buffer} b */
  close(b) {
    this.buffers.delete(b.key);
    if (this.current === b.key) this.pickCurrent();
    this.savePrivate();
    this.changed();
  }

  // ---- history ----------------------------------------------------------

  /**
   * Pages back: the PAGE messages before the window's first.
   * @param {Buffer} b
   */
  async older(b) {
    if (b.loading || !b.hasOlder || this.conn !== "online") return;
    b.loading = true;
    this.changed();
    try {
      const first = b.firstId();
      /** @type {Msg} */
      const q = { type: "history", to: b.name, limit: PAGE };
      if (first) q.before = first;
      const { replies } = await this.connection.request(q, { collect: true });
      const msgs = /** @type {ChatMessage[]} */ (replies.find((r) => r.type === "history")?.messages ?? []);
      const fresh = msgs.filter((m) => !b.has(m.id));
      b.hasOlder = msgs.length >= PAGE;
      const items = fresh.map((m) => this.item(m));
      b.items.unshift(...items);
      if (!first) this.countUnread(b);
      this.trim(b, "newest");
    } catch (e) {
      b.hasOlder = e instanceof RequestError && e.code === "disconnected";
      if (!(e instanceof RequestError && e.code === "guests_no_private_history")) this.report(e, b);
    } finally {
      b.loading = false;
      this.changed();
    }
  }

  /**
   * Pages forward, when the window stopped short of the newest message.
   * @param {Buffer} b
   */
  async newer(b) {
    if (b.loading || b.atLatest || this.conn !== "online") return;
    b.loading = true;
    this.changed();
    try {
      const after = b.lastId();
      const { replies } = await this.connection.request({ type: "history", to: b.name, after, limit: PAGE }, { collect: true });
      const msgs = /** @type {ChatMessage[]} */ (replies.find((r) => r.type === "history")?.messages ?? []);
      b.items.push(...msgs.filter((m) => !b.has(m.id)).map((m) => this.item(m)));
      if (msgs.length < PAGE) b.atLatest = true;
      this.trim(b, "oldest");
    } catch (e) {
      this.report(e, b);
    } finally {
      b.loading = false;
      this.changed();
    }
  }

  /** Back to the newest messages, dropping the paged-back window. */
  async latest() {
    const b = this.open();
    if (!b) return;
    b.items = [];
    b.hasOlder = true;
    b.atLatest = true;
    b.following = true;
    await this.older(b);
  }

  /**
   * Keeps a buffer's window at WINDOW items, dropping from the given end.
   * @param {Buffer} b
   * @param {"oldest" | "newest"} end
   */
  trim(b, end) {
    const extra = b.items.length - WINDOW;
    if (extra <= 0) return;
    if (end === "oldest") {
      b.items.splice(0, extra);
      b.hasOlder = true;
    } else {
      b.items.splice(WINDOW);
      b.atLatest = false;
    }
  }

  /**
   * @param {ChatMessage} m
   * @returns {MsgItem}
   */
  item(m) {
    if (m.id > this.maxSeen) this.maxSeen = m.id;
    const self = keyOf(m.from) === keyOf(this.me);
    return {
      type: "msg",
      key: `m${m.id}`,
      m,
      self,
      highlight: !self && (!isRoom(m.target) || mentions(m.text, this.me)),
    };
  }

  /**
   * Where a message belongs: its room, or the other person's buffer.
   * @param {ChatMessage} m
   */
  bufferOf(m) {
    if (isRoom(m.target)) return this.buffer(m.target);
    return this.buffer(keyOf(m.from) === keyOf(this.me) ? m.target : m.from);
  }

  /**
   * A message from the server, live or resumed.
   * @param {ChatMessage} m
   */
  addMessage(m) {
    const b = this.bufferOf(m);
    if (b.has(m.id)) return;
    const it = this.item(m);
    if (!b.atLatest) {
      // The window shows older history: the message is counted, and shown
      // when the user comes back to the present.
      if (!it.self && m.id > b.readUpTo) b.unread++;
      this.changed();
      return;
    }
    // Live messages normally arrive in id order; a resumed one may be older.
    let at = b.items.length;
    while (at > 0) {
      const prev = b.items[at - 1];
      if (prev.type === "msg" && prev.m.id < m.id) break;
      if (prev.type === "event" && prev.time <= m.time) break;
      at--;
    }
    b.items.splice(at, 0, it);
    if (it.self) {
      this.markRead(b, m.id);
    } else if (m.id > b.readUpTo) {
      const seen = this.current === b.key && b.following && document.visibilityState === "visible" && document.hasFocus();
      if (seen) this.markRead(b, m.id);
      else {
        b.unread++;
        if (it.highlight) b.highlight = true;
        this.onNotify?.(it, b);
      }
    }
    b.typing.delete(keyOf(m.from));
    this.trim(b, b.following || this.current !== b.key ? "oldest" : "newest");
    this.changed();
  }

  /**
   * @param {Buffer} b
   * @param {EventItem["what"]} what
   * @param {string} text
   * @param {string} [time]
   * @param {string} [nick]
   */
  addEvent(b, what, text, time = new Date().toISOString(), nick) {
    if (!b.atLatest) return;
    b.items.push({ type: "event", key: `e${++itemSeq}`, time, what, text, nick });
    this.trim(b, "oldest");
    this.changed();
  }

  /** Where notices and errors without a conversation go. */
  here() {
    return this.open() ?? this.sorted()[0] ?? null;
  }

  /**
   * @param {EventItem["what"]} what
   * @param {string} text
   */
  say(what, text) {
    const b = this.here();
    if (b) this.addEvent(b, what, text);
  }

  /**
   * @param {unknown} e
   * @param {Buffer | null} [b]
   */
  report(e, b = this.here()) {
    const text = e instanceof Error ? e.message : String(e);
    if (b) this.addEvent(b, "error", text);
  }

  // ---- read markers -----------------------------------------------------

  /** @param {Buffer} b */
  countUnread(b) {
    let n = 0;
    let hl = false;
    for (const it of b.items) {
      if (it.type === "msg" && !it.self && it.m.id > b.readUpTo) {
        n++;
        hl ||= it.highlight;
      }
    }
    b.unread = n;
    b.unreadMore = n > 0 && b.hasOlder && b.firstId() > b.readUpTo && b.readUpTo > 0;
    b.highlight = hl && b.key !== this.current;
  }

  /**
   * Marks a buffer read up to message `id`, here and on the server (which
   * tells the user's other tabs, devices and doors).
   * @param {Buffer} b
   * @param {number} id
   */
  markRead(b, id) {
    if (id <= b.readUpTo) {
      if (b.unread) this.countUnread(b);
      return;
    }
    b.readUpTo = id;
    this.countUnread(b);
    this.unsentMarks.add(b);
    // One request per conversation for a burst of reading, not one per message.
    if (!this.markTimer) this.markTimer = setTimeout(() => this.sendMarks(), MARK_DELAY_MS);
    this.changed();
  }

  sendMarks() {
    this.markTimer = undefined;
    for (const b of this.unsentMarks) {
      if (this.buffers.get(b.key) !== b) continue;
      this.connection.request({ type: "mark_read", to: b.name, msg: b.readUpTo }).catch(() => {});
    }
    this.unsentMarks.clear();
  }

  /** The open buffer is on screen at its newest message: it is read. */
  sawLatest() {
    const b = this.open();
    if (!b || !b.atLatest || document.visibilityState !== "visible") return;
    const last = b.lastId();
    if (last) this.markRead(b, last);
    else if (b.unread) {
      b.unread = 0;
      this.changed();
    }
  }

  async loadMarkers() {
    try {
      const { replies } = await this.connection.request({ type: "read_markers" }, { collect: true });
      const list = replies.find((r) => r.type === "read_markers")?.markers ?? [];
      for (const mk of list) this.setMarker(mk.target, mk.msg);
    } catch {
      // An older server without markers: every message counts as unread once.
    }
  }

  /**
   * @param {string} target
   * @param {number} id
   */
  setMarker(target, id) {
    const b = this.buffers.get(keyOf(target));
    if (!b || id <= b.readUpTo) return;
    b.readUpTo = id;
    this.countUnread(b);
    this.changed();
  }

  // ---- events -----------------------------------------------------------

  /** @param {Msg} e */
  handle(e) {
    switch (e.type) {
      case "welcome":
        // Before the hello's ack: the joins that logging in brings need it.
        this.me = e.name;
        this.account = !!e.account;
        break;
      case "message":
        this.addMessage(e.message);
        break;
      case "resumed":
        for (const m of e.messages) this.addMessage(m);
        break;
      case "history": {
        // History a join brings: the room's latest messages.
        const b = this.buffer(e.target);
        for (const m of /** @type {ChatMessage[]} */ (e.messages)) if (!b.has(m.id)) b.items.push(this.item(m));
        b.items.sort(byPosition);
        b.hasOlder = e.messages.length > 0;
        if (b.unmarked) {
          b.unmarked = false;
          b.readUpTo = Math.max(b.readUpTo, b.lastId());
        }
        this.countUnread(b);
        this.trim(b, "oldest");
        break;
      }
      case "offline":
        this.say("info", `${e.count} private message${e.count === 1 ? " was" : "s were"} kept for you while you were away.`);
        break;
      case "joined": {
        const b = this.buffer(e.room);
        if (same(e.nick, this.me)) {
          b.joined = true;
          if (!this.current) this.current = b.key;
          this.saveGuestRooms();
        } else {
          b.members.set(keyOf(e.nick), { nick: e.nick, op: false, voice: false, account: false, away: null });
          this.addEvent(b, "join", `${e.nick} joined`, e.time, e.nick);
        }
        break;
      }
      case "parted": {
        const b = this.buffers.get(keyOf(e.room));
        if (!b) break;
        if (same(e.nick, this.me)) {
          this.close(b);
          this.saveGuestRooms();
        } else {
          b.members.delete(keyOf(e.nick));
          this.addEvent(b, "part", `${e.nick} left${e.reason ? ` (${e.reason})` : ""}`, e.time, e.nick);
        }
        break;
      }
      case "kicked": {
        const b = this.buffers.get(keyOf(e.room));
        if (!b) break;
        const why = e.reason ? ` (${e.reason})` : "";
        if (same(e.nick, this.me)) {
          b.joined = false;
          b.members.clear();
          this.addEvent(b, "kick", `${e.by} removed you from ${e.room}${why}`, e.time);
        } else {
          b.members.delete(keyOf(e.nick));
          this.addEvent(b, "kick", `${e.by} removed ${e.nick}${why}`, e.time);
        }
        break;
      }
      case "quit":
        for (const b of this.buffers.values()) {
          if (b.members.delete(keyOf(e.nick)) || (b.kind === "private" && b.key === keyOf(e.nick))) {
            this.addEvent(b, "quit", `${e.nick} quit${e.reason ? ` (${e.reason})` : ""}`, e.time, e.nick);
          }
        }
        break;
      case "nick":
        this.renamed(e.old, e.new, e.time);
        break;
      case "topic": {
        const b = this.buffer(e.room);
        b.topic = e.topic ? { text: e.topic, by: e.by, setAt: e.time } : null;
        this.addEvent(b, "topic", e.topic ? `${e.by} set the topic: ${e.topic}` : `${e.by} cleared the topic`, e.time);
        break;
      }
      case "topic_info": {
        const b = this.buffer(e.room);
        b.topic = e.topic ? { text: e.topic, by: e.by, setAt: e.set_at } : null;
        break;
      }
      case "members": {
        const b = this.buffer(e.room);
        b.members = new Map(e.members.map((/** @type {any} */ m) => [keyOf(m.nick), { nick: m.nick, op: m.op, voice: m.voice, account: m.account, away: m.away || null }]));
        break;
      }
      case "away":
        for (const b of this.buffers.values()) {
          const m = b.members.get(keyOf(e.nick));
          if (m) m.away = e.away;
        }
        break;
      case "account":
        for (const b of this.buffers.values()) {
          const m = b.members.get(keyOf(e.nick));
          if (m) m.account = true;
        }
        break;
      case "mode": {
        const b = this.buffers.get(keyOf(e.room));
        if (!b) break;
        for (const c of e.changes) {
          const m = c.arg ? b.members.get(keyOf(c.arg)) : undefined;
          if (m && c.mode === "o") m.op = c.add;
          if (m && c.mode === "v") m.voice = c.add;
        }
        const desc = e.changes.map((/** @type {any} */ c) => `${c.add ? "+" : "-"}${c.mode}${c.arg ? ` ${c.arg}` : ""}`).join(" ");
        this.addEvent(b, "mode", `${e.by} set ${desc}`, e.time);
        break;
      }
      case "invited":
        this.say("info", `${e.by} invited ${same(e.nick, this.me) ? "you" : e.nick} to ${e.room}`);
        break;
      case "typing": {
        const b = this.buffers.get(keyOf(isRoom(e.to) ? e.to : e.from));
        if (!b) break;
        if (e.active) b.typing.set(keyOf(e.from), Date.now() + TYPING_SHOWN_MS);
        else b.typing.delete(keyOf(e.from));
        break;
      }
      case "read_marker":
        if (e.msg === null && isRoom(e.target)) {
          // Nothing marked in a room just joined: its past is not news.
          const b = this.buffers.get(keyOf(e.target));
          if (b && !b.readUpTo) b.unmarked = true;
        } else this.setMarker(e.target, e.msg);
        break;
      case "announcement":
        this.say("announce", `Announcement: ${e.text}`);
        this.onAnnounce?.(e.text);
        break;
      case "notice":
        this.say("info", e.text);
        break;
      case "error":
        this.say("error", e.message);
        break;
      case "bye":
        this.why = e.reason;
        break;
      default:
        return;
    }
    this.changed();
  }

  /**
   * @param {string} old
   * @param {string} now
   * @param {string} time
   */
  renamed(old, now, time) {
    const self = same(old, this.me);
    if (self) {
      this.me = now;
      if (!this.token) sessionStorage.setItem("confab.guest", now);
    }
    for (const b of [...this.buffers.values()]) {
      const m = b.members.get(keyOf(old));
      if (m) {
        b.members.delete(keyOf(old));
        m.nick = now;
        b.members.set(keyOf(now), m);
      }
      if (m || self) this.addEvent(b, "nick", `${old} is now known as ${now}`, time, old);
      if (b.kind === "private" && b.key === keyOf(old)) {
        this.buffers.delete(b.key);
        b.name = now;
        b.key = keyOf(now);
        this.buffers.set(b.key, b);
        if (this.current === keyOf(old)) this.current = b.key;
      }
    }
  }

  expireTyping() {
    const now = Date.now();
    let any = false;
    for (const b of this.buffers.values()) {
      for (const [k, until] of b.typing) {
        if (until < now) {
          b.typing.delete(k);
          any = true;
        }
      }
    }
    if (any) this.changed();
  }

  // ---- actions ------------------------------------------------------------

  /**
   * Sends one message (one line) to a buffer; resolves when stored.
   * @param {string} to
   * @param {string} text
   * @param {"say" | "action"} [kind]
   * @param {string} [upload]
   */
  async send(to, text, kind = "say", upload) {
    /** @type {Msg} */
    const msg = { type: "send", to, text, kind };
    if (upload) msg.upload = upload;
    const { replies } = await this.connection.request(msg);
    for (const r of replies) {
      if (r.type === "kept") {
        this.say("info", r.guest
          ? `${r.nick} is offline and has no account: whoever next uses the name will read it.`
          : `${r.nick} is offline; they will get it when they are back.`);
      }
      if (r.type === "is_away") this.say("info", `${r.nick} is away: ${r.away}`);
    }
  }

  /** @param {string} room @param {string} [key] */
  async join(room, key) {
    if (!isRoom(room)) room = `#${room}`;
    /** @type {Msg} */
    const msg = { type: "join", room };
    if (key) msg.key = key;
    await this.connection.request(msg);
    this.select(keyOf(room));
  }

  /** @param {Buffer} b @param {string} [reason] */
  async leave(b, reason) {
    if (b.kind === "private") return this.close(b);
    if (!b.joined) return this.close(b);
    /** @type {Msg} */
    const msg = { type: "part", room: b.name };
    if (reason) msg.reason = reason;
    await this.connection.request(msg);
  }

  /** @param {string} to @param {boolean} active */
  typing(to, active) {
    this.connection.send({ type: "typing", to, active });
  }
}

/**
 * @param {string} a
 * @param {string} b
 */
function same(a, b) {
  return keyOf(a) === keyOf(b);
}

/**
 * @param {Item} a
 * @param {Item} b
 */
function byPosition(a, b) {
  if (a.type === "msg" && b.type === "msg") return a.m.id - b.m.id;
  const ta = a.type === "msg" ? a.m.time : a.time;
  const tb = b.type === "msg" ? b.m.time : b.time;
  return ta < tb ? -1 : ta > tb ? 1 : 0;
}

/** @param {unknown} e */
function loginMessage(e) {
  if (e instanceof rest.HttpError) {
    if (e.code === "wrong_login") return "That name and password do not match an account.";
    return e.message;
  }
  return "The server cannot be reached. Check the address and try again.";
}

// The end-to-end harness: the real `confab` binary on a loopback port with a
// temp data dir, headless Chromium from Debian driven by playwright-core,
// raw-socket line (telnet) and IRC clients, axe-core, screenshots, and a
// recorder of every request a page makes.
//
// Everything waits on a condition with a deadline (`waitFor`), never a
// blind sleep. Every process and temp dir is registered and removed by
// `cleanupAll` (run by each test file's `after` hook, and on exit as a
// last resort), whether the tests passed or not.

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve, isAbsolute } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const webRoot = dirname(dirname(fileURLToPath(import.meta.url)));
export const repoRoot = dirname(webRoot);
export const outputDir = join(webRoot, "test-output");

/** How long any single wait may take by default (ms). */
export const DEADLINE = 10_000;

// ---------------------------------------------------------------- utilities

/**
 * Polls `check` until it returns a truthy value (which is returned), or
 * throws after `timeout` ms. `check` may be async; exceptions count as "not
 * yet" and the last one is reported.
 * @template T
 * @param {() => T | Promise<T>} check
 * @param {{timeout?: number, interval?: number, what?: string}} [opts]
 * @returns {Promise<T>}
 */
export async function waitFor(check, { timeout = DEADLINE, interval = 25, what = "condition" } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/**
 * Waits for `promise`, at most `ms` (then resolves to undefined); the timer
 * is cleared either way, so it never keeps the process alive.
 * @template T
 * @param {Promise<T>} promise @param {number} ms
 * @returns {Promise<T | undefined>}
 */
export function atMost(promise, ms) {
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  return Promise.race([promise, new Promise((r) => (timer = setTimeout(r, ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

// ---------------------------------------------------------------- cleanup

/** @type {Array<() => void | Promise<void>>} */
const cleanups = [];
/** @type {Set<import("node:child_process").ChildProcess>} */
const children = new Set();
/** @type {Set<string>} */
const tempDirs = new Set();

/** Registers `fn` to run at `cleanupAll` (last registered runs first). */
export function onCleanup(fn) {
  cleanups.push(fn);
}

/** Closes everything the harness opened: sockets, browsers, servers, temp dirs. */
export async function cleanupAll() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      await fn();
    } catch (e) {
      console.error("cleanup:", e);
    }
  }
  killChildrenNow();
}

function killChildrenNow() {
  for (const c of children) {
    try {
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    } catch {}
  }
  children.clear();
  for (const d of tempDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {}
  }
  tempDirs.clear();
}

// A test file that crashes or is interrupted still leaves nothing behind.
process.on("exit", killChildrenNow);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    killChildrenNow();
    process.exit(130);
  });
}

export function tempDir(prefix = "confab-web-") {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

// ---------------------------------------------------------------- the server

/** The debug binary: $CONFAB_BIN, else $CARGO_TARGET_DIR/debug/confab, else target/debug/confab. */
export function binaryPath() {
  if (process.env.CONFAB_BIN) return resolve(process.env.CONFAB_BIN);
  const t = process.env.CARGO_TARGET_DIR;
  const target = t ? (isAbsolute(t) ? t : resolve(repoRoot, t)) : join(repoRoot, "target");
  const bin = join(target, "debug", "confab");
  if (!existsSync(bin)) {
    throw new Error(`${bin} does not exist: run \`cargo build -p confab\` first`);
  }
  return bin;
}

/** The environment of every confab child: no CONFAB_* from the caller, a private HOME. */
function childEnv(home, extra = {}) {
  /** @type {Record<string, string>} */
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home };
  return {
    ...env,
    // Longer than the server's default (300 ms): on a loaded CI machine a
    // browser's or fetch's fresh connection can stay silent that long and
    // be greeted as a telnet user (docs/web-client.md); telnet clients here
    // only wait a second longer for their prompt.
    CONFAB_LIMITS__SNIFF_TIMEOUT_MS: "1000",
    CONFAB_LIMITS__RATE_PER_SEC: "1000",
    CONFAB_LIMITS__RATE_BURST: "1000",
    ...extra,
  };
}

/** Runs `confab user add NAME --data-dir DIR` with the password on stdin (the server must not be running, or not yet); `confab admin init` first makes the database if the server never ran there. */
export function addUserOffline(dataDir, name, password) {
  const home = tempDir("confab-home-");
  const init = spawnSync(binaryPath(), ["admin", "init", "--data-dir", dataDir], {
    env: childEnv(home),
    encoding: "utf8",
    timeout: DEADLINE,
  });
  if (init.status !== 0) throw new Error(`confab admin init: ${init.stderr || init.stdout}`);
  const r = spawnSync(binaryPath(), ["user", "add", name, "--data-dir", dataDir], {
    input: `${password}\n`,
    env: childEnv(home),
    encoding: "utf8",
    timeout: DEADLINE,
  });
  if (r.status !== 0) throw new Error(`confab user add ${name}: ${r.stderr || r.stdout}`);
}

export class Server {
  /**
   * Starts `confab serve` on 127.0.0.1 (port 0 unless given) with `dataDir`
   * (a fresh temp dir unless given); resolves once it says where it listens.
   * @param {{dataDir?: string, port?: number, env?: Record<string,string>}} [opts]
   */
  static async start(opts = {}) {
    const s = new Server(opts.dataDir ?? join(tempDir(), "data"), opts.env ?? {});
    await s.#spawn(opts.port ?? 0);
    onCleanup(() => s.kill());
    return s;
  }

  /** @param {string} dataDir @param {Record<string,string>} env */
  constructor(dataDir, env) {
    this.dataDir = dataDir;
    this.home = tempDir("confab-home-");
    this.env = env;
    /** @type {import("node:child_process").ChildProcess | null} */
    this.child = null;
    this.port = 0;
    /** Everything the server wrote to stderr (its log), across restarts. */
    this.log = "";
  }

  get origin() {
    return `http://127.0.0.1:${this.port}`;
  }

  async #spawn(port) {
    // After a kill the port may take a moment to be free again: retry binding.
    const end = Date.now() + DEADLINE;
    for (;;) {
      try {
        await this.#spawnOnce(port);
        return;
      } catch (e) {
        if (port === 0 || Date.now() > end || !/address|in use|bind/i.test(String(e))) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  #spawnOnce(port) {
    const child = spawn(
      binaryPath(),
      ["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", this.dataDir],
      { env: childEnv(this.home, this.env), stdio: ["ignore", "pipe", "pipe"] },
    );
    children.add(child);
    this.child = child;
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d) => {
      this.log += d;
      if (process.env.CONFAB_TEST_LOG) process.stderr.write(d);
    });
    child.stdout.setEncoding("utf8");
    return new Promise((resolveP, reject) => {
      let out = "";
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`the server did not say where it listens; log:\n${this.log}`));
      }, DEADLINE);
      const onData = (d) => {
        out += d;
        const m = out.match(/confab listening on 127\.0\.0\.1:(\d+)/);
        if (m) {
          clearTimeout(timer);
          child.stdout.off("data", onData);
          child.stdout.resume();
          this.port = Number(m[1]);
          resolveP(undefined);
        }
      };
      child.stdout.on("data", onData);
      child.once("exit", (code, sig) => {
        children.delete(child);
        clearTimeout(timer);
        reject(new Error(`confab serve exited (${code ?? sig}) before listening; log:\n${this.log}`));
      });
    });
  }

  /** Kills the server (SIGKILL by default) and waits for it to exit. */
  async kill(signal = "SIGKILL") {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill(signal);
    await atMost(exited, DEADLINE);
    children.delete(c);
  }

  /** Starts the server again on the same port and data dir. */
  async restart() {
    await this.kill();
    await this.#spawn(this.port);
  }

  /**
   * A REST call; returns the parsed JSON body (or text). Throws on an
   * unexpected status unless `expect` is given.
   * @param {string} method @param {string} path
   * @param {{token?: string, json?: unknown, body?: Buffer|string, expect?: number}} [opts]
   */
  async api(method, path, opts = {}) {
    /** @type {Record<string,string>} */
    const headers = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body;
    if (opts.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(opts.json);
    } else if (opts.body !== undefined) {
      body = opts.body;
    }
    const call = () => fetch(this.origin + path, { method, headers, body, signal: AbortSignal.timeout(DEADLINE) });
    // A network failure before any answer is tried once more, as the page
    // does (rest.js): the request never reached the web door.
    const res = await call().catch(() => call());
    const text = await res.text();
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
    if (opts.expect !== undefined ? res.status !== opts.expect : !res.ok) {
      throw new Error(`${method} ${path}: ${res.status} ${text}`);
    }
    return parsed;
  }

  /** A REST login token for an account. */
  async token(name, password) {
    const r = await this.api("POST", "/api/v1/login", { json: { name, password } });
    return r.token;
  }

  /**
   * Creates an account on the running server over the line door
   * (`/register`), which also makes it a member of #general; returns its token.
   */
  async register(name, password) {
    const c = await LineClient.connect(this, name);
    c.send(`/register ${password}`);
    await c.waitLine(/registered/i);
    await c.close();
    return this.token(name, password);
  }

  /** Sends a room message over REST as the token's account; returns the stored message. */
  async say(token, room, text) {
    return this.api("POST", `/api/v1/rooms/${encodeURIComponent(room.replace(/^#/, ""))}/messages`, {
      token,
      json: { text },
    });
  }

  /**
   * Sends `n` messages (`text(i)`, i from 1) to `room` over REST, `parallel`
   * at a time, in order of i within each window; returns their ids.
   */
  async seed(token, room, n, text = (i) => `message ${i}`, parallel = 8) {
    const ids = new Array(n);
    let next = 1;
    const worker = async () => {
      while (next <= n) {
        const i = next++;
        const m = await this.say(token, room, text(i));
        ids[i - 1] = m.id;
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    return ids;
  }
}

// ---------------------------------------------------------------- raw sockets

/** A socket read as lines, with `waitLine(regex)` scanning from a cursor. */
class LineSocket {
  /** @param {net.Socket} sock */
  constructor(sock) {
    this.sock = sock;
    /** @type {string[]} */
    this.lines = [];
    this.cursor = 0;
    this.buf = "";
    this.closed = false;
    sock.setEncoding("utf8");
    sock.on("data", (d) => {
      // Telnet negotiation (IAC …) is not text; drop it.
      this.buf += d.replace(/\uFFFD|\xFF[\xFB-\xFE]?./g, "");
      let i;
      while ((i = this.buf.search(/\r?\n/)) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(this.buf[i] === "\r" ? i + 2 : i + 1);
        this.onLine(line);
      }
    });
    sock.on("close", () => (this.closed = true));
    sock.on("error", () => (this.closed = true));
  }

  onLine(line) {
    this.lines.push(line);
  }

  /** The partial line received so far (a prompt has no newline). */
  get pending() {
    return this.buf;
  }

  send(line) {
    this.sock.write(`${line}\r\n`);
  }

  /**
   * Waits for a line (after the cursor) matching `re`; moves the cursor past
   * it and returns its match. With `{fromStart: true}` every line counts.
   * @param {RegExp} re
   */
  async waitLine(re, { timeout = DEADLINE, fromStart = false } = {}) {
    const start = fromStart ? 0 : this.cursor;
    return waitFor(
      () => {
        for (let i = start; i < this.lines.length; i++) {
          const m = this.lines[i].match(re);
          if (m) {
            this.cursor = Math.max(this.cursor, i + 1);
            return m;
          }
        }
        if (this.closed) throw new Error("connection closed");
        return null;
      },
      { timeout, what: `a line matching ${re} (got: ${JSON.stringify(this.lines.slice(-8))})` },
    );
  }

  async close() {
    if (this.closed) return;
    const done = new Promise((r) => this.sock.once("close", r));
    this.sock.end();
    await atMost(done, 2000);
    this.sock.destroy();
  }
}

function connectSocket(port) {
  return new Promise((resolveP, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    sock.once("connect", () => resolveP(sock));
    sock.once("error", reject);
  });
}

/** A telnet-style user of the line door. */
export class LineClient extends LineSocket {
  /**
   * Connects, waits for the name prompt, answers `name`, waits for the
   * welcome. With `name` null it stops at the prompt.
   * @param {Server} server @param {string | null} name
   */
  static async connect(server, name) {
    const c = new LineClient(await connectSocket(server.port));
    onCleanup(() => c.close());
    await waitFor(() => /Choose a name/.test(c.pending) || c.lines.some((l) => /Choose a name/.test(l)), {
      what: "the name prompt",
    });
    if (name !== null) {
      c.send(name);
      await c.waitLine(new RegExp(`Welcome, ${escapeRe(name)}!`));
    }
    return c;
  }
}

/** A minimal IRC client. */
export class IrcClient extends LineSocket {
  onLine(line) {
    const ping = line.match(/^PING (.*)$/);
    if (ping) this.send(`PONG ${ping[1]}`);
    super.onLine(line);
  }

  /**
   * Registers as `nick` and waits for 001. With `caps`, negotiates them
   * first (`CAP LS 302`, `CAP REQ`, waits for the ACK, `CAP END`).
   * @param {Server} server @param {string} nick @param {{caps?: string[]}} [opts]
   */
  static async connect(server, nick, opts = {}) {
    const c = new IrcClient(await connectSocket(server.port));
    onCleanup(() => c.close());
    c.nick = nick;
    const caps = opts.caps ?? [];
    if (caps.length) c.send("CAP LS 302");
    c.send(`NICK ${nick}`);
    c.send(`USER ${nick} 0 * :${nick} test`);
    if (caps.length) {
      c.send(`CAP REQ :${caps.join(" ")}`);
      await c.waitLine(/^(@\S+ )?:\S+ CAP \S+ ACK /);
      c.send("CAP END");
    }
    await c.waitLine(/^(@\S+ )?:\S+ 001 /);
    return c;
  }

  async join(room) {
    this.send(`JOIN ${room}`);
    await this.waitLine(new RegExp(`^(@\\S+ )?:${escapeRe(this.nick)}!\\S* JOIN :?${escapeRe(room)}`, "i"));
    await this.waitLine(/ 366 /);
  }

  privmsg(target, text) {
    this.send(`PRIVMSG ${target} :${text}`);
  }
}

export function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// ---------------------------------------------------------------- the browser

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Headless Chromium from Debian (/usr/bin/chromium, or $CHROMIUM). */
export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
  });
  onCleanup(() => browser.close());
  return browser;
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/**
 * A browser user: a fresh context (its own storage) and one page, with a
 * recorder of every request, WebSocket, dialog and page error.
 * @param {import("playwright-core").Browser} browser
 * @param {Server} server
 * @param {{viewport?: {width:number,height:number}, colorScheme?: "light"|"dark", bypassCSP?: boolean, permissions?: string[]}} [opts]
 */
export async function newUser(browser, server, opts = {}) {
  const context = await browser.newContext({
    baseURL: server.origin,
    viewport: opts.viewport ?? DESKTOP,
    colorScheme: opts.colorScheme ?? "light",
    bypassCSP: opts.bypassCSP ?? false,
    serviceWorkers: "block",
    ...(opts.permissions ? { permissions: opts.permissions } : {}),
  });
  context.setDefaultTimeout(DEADLINE);
  const user = new BrowserUser(context, server);
  await user.init();
  onCleanup(() => context.close().catch(() => {}));
  return user;
}

export class BrowserUser {
  /** @param {import("playwright-core").BrowserContext} context @param {Server} server */
  constructor(context, server) {
    this.context = context;
    this.server = server;
    /** Every URL a page of this context asked for (requests and WebSockets). */
    /** @type {string[]} */
    this.requests = [];
    /** @type {string[]} */
    this.dialogs = [];
    /** @type {string[]} */
    this.errors = [];
    /** @type {string[]} */
    this.console = [];
    /** @type {import("playwright-core").Page} */
    this.page = /** @type {any} */ (null);
  }

  async init() {
    const watch = (/** @type {import("playwright-core").Page} */ page) => {
      page.on("request", (r) => this.requests.push(r.url()));
      page.on("websocket", (ws) => this.requests.push(ws.url()));
      page.on("dialog", (d) => {
        this.dialogs.push(`${d.type()}: ${d.message()}`);
        d.dismiss().catch(() => {});
      });
      page.on("pageerror", (e) => this.errors.push(String(e)));
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") this.console.push(`${m.type()}: ${m.text()}`);
      });
    };
    this.context.on("page", watch);
    this.page = await this.context.newPage();
  }

  /** Requests that left the server's origin (anything but its http/ws origin, data: and blob:). */
  foreignRequests() {
    const ok = [this.server.origin, this.server.origin.replace(/^http/, "ws")];
    return this.requests.filter(
      (u) => !ok.some((o) => u === o || u.startsWith(`${o}/`)) && !/^(data|blob|about):/.test(u),
    );
  }

  /** Fails when a page left the origin or a dialog fired. */
  assertClean() {
    const foreign = this.foreignRequests();
    if (foreign.length) throw new Error(`requests left the origin: ${foreign.join(", ")}`);
    if (this.dialogs.length) throw new Error(`dialogs fired: ${this.dialogs.join(", ")}`);
  }

  // ------------------------------------------------------------ the UI contract

  /** The connection state of the page (#app[data-conn]). */
  conn() {
    return this.page.getAttribute("#app", "data-conn");
  }

  async waitConn(state, timeout = DEADLINE) {
    await this.page.waitForSelector(`#app[data-conn="${state}"]`, { timeout, state: "attached" });
  }

  loginForm() {
    return this.page.getByRole("form", { name: "Join confab" });
  }

  async open() {
    await this.page.goto("/");
    await this.loginForm().waitFor();
  }

  /** Joins as a guest from the login view; waits for the composer. */
  async joinAsGuest(name) {
    await this.open();
    const form = this.loginForm();
    await form.getByLabel("Name", { exact: true }).fill(name);
    await form.getByRole("button", { name: "Join as guest" }).click();
    await this.waitMain();
    this.name = name;
  }

  /** Logs in to an account from the login view; waits for the composer. */
  async logIn(name, password) {
    await this.open();
    const form = this.loginForm();
    await form.getByLabel("Name", { exact: true }).fill(name);
    await form.getByLabel(/^Password\b/).fill(password);
    await form.getByRole("button", { name: "Log in" }).click();
    await this.waitMain();
    this.name = name;
  }

  async waitMain() {
    await this.page.locator("textarea#composer").waitFor();
    await this.waitConn("online");
  }

  /** The buffer button of `name` ("#general" or a user's name). */
  buffer(name) {
    return this.page.locator(`nav[aria-label="Conversations"] button[data-buffer="${cssString(name)}"]`);
  }

  async openBuffer(name) {
    const b = this.buffer(name);
    await b.click();
    await this.page.waitForSelector(
      `nav[aria-label="Conversations"] button[data-buffer="${cssString(name)}"][aria-current="true"]`,
    );
  }

  /**
   * Joins (or creates) a room from the UI: the "Join a room" button (on a
   * phone, behind the Conversations menu), its dialog's "Room name" and "Join".
   */
  async joinRoom(room) {
    const open = this.page.getByRole("button", { name: "Join a room" });
    if (!(await onScreen(open))) await this.page.getByRole("button", { name: "Conversations" }).click();
    await open.click();
    await this.page.getByLabel("Room name").fill(room);
    await this.page.getByRole("button", { name: "Join", exact: true }).click();
    await this.buffer(room).waitFor({ state: "attached" });
  }

  /** Types `text` into the composer and presses Enter. */
  async send(text) {
    const c = this.page.locator("textarea#composer");
    await c.fill(text);
    await c.press("Enter");
    await waitFor(async () => (await c.inputValue()) === "", { what: "the composer to clear after Enter" });
  }

  /** The `li.msg` holding `text` (a Locator). */
  message(text) {
    return this.page.locator("ol#messages li.msg").filter({ has: this.page.locator(".text", { hasText: text }) });
  }

  /** Waits for a message with `text` (and `from`, if given) in the open buffer. */
  async waitMessage(text, from, timeout = DEADLINE) {
    let loc = this.message(text);
    if (from) loc = loc.filter({ has: this.page.locator(".nick", { hasText: from }) });
    await loc.first().waitFor({ timeout });
    return loc;
  }

  /** [{id, nick, text}] of the `li.msg` in the list now. */
  messages() {
    return this.page.$$eval("ol#messages li.msg", (lis) =>
      lis.map((li) => ({
        id: li.getAttribute("data-id"),
        nick: li.querySelector(".nick")?.textContent?.trim() ?? "",
        text: li.querySelector(".text")?.textContent ?? "",
      })),
    );
  }

  /**
   * Scrolls the message list (its scrolling ancestor) to the top (`to` =
   * "top") or the bottom, and wheels the mouse that way too, as a person would.
   * @param {"top"|"bottom"} to
   */
  async scrollMessages(to) {
    const box = await this.page.locator("ol#messages").boundingBox();
    await this.page.evaluate((to) => {
      /** @type {HTMLElement|null} */
      let el = document.querySelector("ol#messages");
      while (el && !(el.scrollHeight > el.clientHeight + 1 && /auto|scroll/.test(getComputedStyle(el).overflowY))) {
        el = el.parentElement;
      }
      const s = el ?? document.scrollingElement;
      if (s) s.scrollTop = to === "top" ? 0 : s.scrollHeight;
    }, to);
    if (box) {
      await this.page.mouse.move(box.x + box.width / 2, box.y + Math.min(box.height / 2, 200));
      await this.page.mouse.wheel(0, to === "top" ? -2000 : 2000);
    }
  }

  /** The scrollTop of the message list's scrolling ancestor. */
  messagesScrollTop() {
    return this.page.evaluate(() => {
      /** @type {HTMLElement|null} */
      let el = document.querySelector("ol#messages");
      while (el && !/auto|scroll/.test(getComputedStyle(el).overflowY)) el = el.parentElement;
      return (el ?? document.scrollingElement)?.scrollTop ?? 0;
    });
  }

  /**
   * Starts counting the most `li.msg` nodes ever in the page at once (a
   * MutationObserver); `maxMessageNodes()` reads it.
   */
  async countMessageNodes() {
    await this.page.evaluate(() => {
      const w = /** @type {any} */ (window);
      const count = () => {
        const n = document.querySelectorAll("li.msg").length;
        if (n > w.__maxMsgNodes) w.__maxMsgNodes = n;
      };
      w.__maxMsgNodes = 0;
      count();
      w.__msgObserver?.disconnect();
      w.__msgObserver = new MutationObserver(count);
      w.__msgObserver.observe(document.body, { childList: true, subtree: true });
    });
  }

  /** @returns {Promise<number>} */
  maxMessageNodes() {
    return this.page.evaluate(() => /** @type {any} */ (window).__maxMsgNodes ?? -1);
  }

  /** The unread count shown on a buffer (0 when `.unread` is absent). */
  async unread(name) {
    // One read of the page: the count may vanish between two separate
    // reads, and a locator waiting for a vanished element waits its whole
    // timeout.
    const text = await this.buffer(name).evaluate((b) => b.querySelector(".unread")?.textContent ?? "0");
    return Number(text.replace(/\D/g, "") || "0");
  }
}

/**
 * Whether a locator's element is visible and inside the viewport (an
 * off-canvas panel translated away counts as visible to Playwright).
 * @param {import("playwright-core").Locator} loc
 */
export async function onScreen(loc) {
  if (!(await loc.isVisible())) return false;
  const box = await loc.boundingBox();
  const vp = loc.page().viewportSize();
  if (!box || !vp) return false;
  return box.x + box.width > 0 && box.x < vp.width && box.y + box.height > 0 && box.y < vp.height;
}

/**
 * Whether keyboard and screen-reader users can reach an element: rendered,
 * not visibility:hidden, not inside [inert] or [aria-hidden=true].
 * @param {import("playwright-core").Locator} loc
 */
export function reachable(loc) {
  return loc.evaluate(
    (el) =>
      el.checkVisibility({ visibilityProperty: true }) && !el.closest("[inert], [aria-hidden='true']"),
  );
}

/** Escapes a value for a CSS attribute selector in double quotes. */
export function cssString(s) {
  return s.replace(/["\\]/g, "\\$&");
}

// ---------------------------------------------------------------- axe and screenshots

const axeSource = () => readFileSync(join(webRoot, "node_modules", "axe-core", "axe.min.js"), "utf8");

/**
 * Runs axe-core on the page and returns the serious and critical
 * violations (formatted). The page's CSP forbids inline scripts, so the
 * script is evaluated over the DevTools protocol (page.evaluate), which
 * CSP does not govern.
 * @param {import("playwright-core").Page} page
 */
export async function axeViolations(page, { exclude = [] } = {}) {
  await settled(page);
  const has = await page.evaluate(() => typeof (/** @type {any} */ (window).axe) === "object");
  if (!has) await page.evaluate(`${axeSource()}\n;void 0`);
  /** @type {any} */
  const result = await page.evaluate(
    async (exclude) =>
      /** @type {any} */ (window).axe.run(exclude.length ? { exclude } : document, {
        resultTypes: ["violations"],
      }),
    exclude,
  );
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map(
      (v) =>
        `${v.impact} ${v.id}: ${v.help}\n` +
        v.nodes
          .slice(0, 5)
          .map((n) => `    ${n.target.join(" ")} — ${n.failureSummary?.replace(/\n/g, " ")}`)
          .join("\n"),
    );
}

/** Waits (up to 2 s) for the page's finite CSS animations and transitions to finish. */
export async function settled(page) {
  await page
    .evaluate(() =>
      Promise.race([
        Promise.all(
          document
            .getAnimations()
            .filter((a) => a.effect?.getComputedTiming().iterations !== Infinity)
            .map((a) => a.finished.catch(() => {})),
        ),
        new Promise((r) => setTimeout(r, 2000)),
      ]),
    )
    .catch(() => {});
}

/** Writes a screenshot to web/test-output/NAME.png (after animations settle); returns its path. */
export async function shot(page, name) {
  mkdirSync(outputDir, { recursive: true });
  const path = join(outputDir, `${name}.png`);
  mkdirSync(dirname(path), { recursive: true });
  await settled(page);
  await page.screenshot({ path, fullPage: false });
  return path;
}

// ---------------------------------------------------------------- a test file's frame

/**
 * Sets up a test file: one browser for the file, and after each test a
 * check that no page left the origin or fired a dialog. Returns an object
 * whose `browser` is set once `before` ran.
 * @param {typeof import("node:test")} t
 */
export function suite({ before, after, afterEach }) {
  /** @type {{browser: import("playwright-core").Browser, users: BrowserUser[], servers: Server[], user: (server: Server, opts?: any) => Promise<BrowserUser>, server: (opts?: any) => Promise<Server>}} */
  const env = {
    browser: /** @type {any} */ (null),
    users: [],
    servers: [],
    /** A browser user (new context) on `server`, checked and closed after the test. */
    async user(server, opts) {
      const u = await newUser(env.browser, server, opts);
      env.users.push(u);
      return u;
    },
    /** A server for this test, killed after it. */
    async server(opts) {
      const s = await Server.start(opts);
      env.servers.push(s);
      return s;
    },
  };
  before(async () => {
    env.browser = await launchBrowser();
  });
  afterEach(async (/** @type {any} */ t) => {
    const users = env.users.splice(0);
    const problems = [];
    const name = String(t?.name ?? "test").replace(/[^\w-]+/g, "_").slice(0, 60);
    for (const [i, u] of users.entries()) {
      // What each page looked like at the end, for diagnosing failures.
      try {
        if (!u.page.isClosed()) {
          await shot(u.page, `last/${name}-${i}`);
          const html = await u.page.evaluate(() => document.getElementById("app")?.outerHTML ?? "");
          writeFileSync(join(outputDir, "last", `${name}-${i}.html`), html);
        }
      } catch {}
      try {
        u.assertClean();
      } catch (e) {
        problems.push(String(e));
      }
      if (u.errors.length) console.error(`page errors: ${u.errors.join("\n")}`);
      await u.context.close().catch(() => {});
    }
    for (const s of env.servers.splice(0)) await s.kill();
    if (problems.length) throw new Error(problems.join("\n"));
  });
  after(cleanupAll);
  return env;
}

/** A small valid PNG: 16x16, a solid colour (built with zlib, CRCs computed). */
export async function makePng(size = 16, rgb = [0x2a, 0x7a, 0xe2]) {
  const { deflateSync, crc32 } = await import("node:zlib");
  const crc = crc32 ?? crc32Fallback;
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td) >>> 0);
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: size }, () => rgb).flat())]);
  const raw = Buffer.concat(Array.from({ length: size }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function crc32Fallback(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

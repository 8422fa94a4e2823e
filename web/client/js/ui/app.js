// The page: the login form, or the chat (the conversation list, the open
// conversation with its topic, messages and input, and its members), plus
// the connection state, keyboard shortcuts, file drops, notifications and
// the screen-reader announcements.

import { useEffect, useRef, useState } from "../../vendor/hooks.js";
import { html } from "./html.js";
import { MessageList } from "./messages.js";
import { Composer } from "./composer.js";
import { pieces, nickClass } from "../format.js";
import * as rest from "../rest.js";

/** @typedef {import("../chat.js").Chat} Chat */
/** @typedef {import("../chat.js").Buffer} Buffer */

/** @param {{chat: Chat}} props */
export function App({ chat }) {
  const [, setTick] = useState(0);
  useEffect(() => chat.subscribe(() => setTick((t) => t + 1)) && undefined, []);
  useEffect(() => {
    const root = document.getElementById("app");
    if (root) root.dataset.conn = chat.conn === "stopped" ? "offline" : chat.conn;
    const n = chat.totalUnread();
    document.title = n ? `(${n}) confab` : "confab";
  });
  return chat.view === "login" ? html`<${Login} chat=${chat} />` : html`<${Main} chat=${chat} />`;
}

/** @param {{chat: Chat}} props */
function Login({ chat }) {
  const [name, setName] = useState(() => localStorage.getItem("confab.name") ?? sessionStorage.getItem("confab.guest") ?? "");
  const [password, setPassword] = useState("");
  const err = chat.loginError;
  /** @param {"guest" | "login" | "signup"} how */
  const go = (how) => (/** @type {Event} */ e) => {
    e.preventDefault();
    chat.login(how, name, password);
  };
  return html`<main class="login">
    <form aria-label="Join confab" onSubmit=${go(password ? "login" : "guest")}>
      <h1><img src="/assets/icon.svg" alt="" width="32" height="32" /> confab</h1>
      <p class="lead">Chat with people on the web, in a terminal and on IRC.</p>
      <label for="login-name">Name</label>
      <input id="login-name" name="name" autocomplete="username" required maxlength="20" value=${name}
        aria-invalid=${err?.field === "name" ? "true" : "false"} aria-describedby="login-error"
        onInput=${(/** @type {Event} */ e) => setName(/** @type {HTMLInputElement} */ (e.currentTarget).value)} />
      <label for="login-password">Password <span class="hint">(not needed for a guest)</span></label>
      <input id="login-password" name="password" type="password" autocomplete="current-password" value=${password}
        aria-invalid=${err?.field === "password" ? "true" : "false"} aria-describedby="login-error"
        onInput=${(/** @type {Event} */ e) => setPassword(/** @type {HTMLInputElement} */ (e.currentTarget).value)} />
      <p id="login-error" class="error" role="alert">${err ? err.text : ""}</p>
      <div class="buttons">
        <button type="button" onClick=${go("guest")} disabled=${chat.busy}>Join as guest</button>
        <button type="button" class="primary" onClick=${go("login")} disabled=${chat.busy}>Log in</button>
        <button type="button" onClick=${go("signup")} disabled=${chat.busy}>Sign up</button>
      </div>
      <p class="hint">A guest keeps the name while connected. Sign up to keep it, with your rooms and messages, on every device.</p>
    </form>
  </main>`;
}

/** @param {{chat: Chat}} props */
function Main({ chat }) {
  const [menu, setMenu] = useState(false);
  const [members, setMembers] = useState(() => matchMedia("(min-width: 1000px)").matches);
  const [joining, setJoining] = useState(false);
  const [drag, setDrag] = useState(false);
  const [live, setLive] = useState("");
  const b = chat.open();

  useEffect(() => {
    chat.onNotify = (it, buf) => {
      if (buf.key === chat.current) setLive(`${it.m.from}: ${it.m.text}`);
      if (it.highlight) notify(chat, it, buf);
    };
    chat.onAnnounce = (text) => setLive(`Announcement: ${text}`);
    /** @param {KeyboardEvent} e */
    const keys = (e) => {
      if (e.key === "Escape") setMenu(false);
      if (e.altKey && !e.ctrlKey && !e.metaKey) {
        if (e.key === "a" || e.key === "A" || e.code === "KeyA") {
          e.preventDefault();
          chat.nextUnread();
        } else if (e.key === "ArrowUp" || e.key === "ArrowDown") {
          e.preventDefault();
          chat.cycle(e.key === "ArrowUp" ? -1 : 1);
        } else if (/^Digit[1-9]$/.test(e.code)) {
          e.preventDefault();
          const list = chat.sorted();
          const pick = list[Number(e.code.slice(5)) - 1];
          if (pick) chat.select(pick.key);
        }
      }
    };
    const seen = () => chat.sawLatest();
    addEventListener("keydown", keys);
    addEventListener("focus", seen);
    document.addEventListener("visibilitychange", seen);
    return () => {
      removeEventListener("keydown", keys);
      removeEventListener("focus", seen);
      document.removeEventListener("visibilitychange", seen);
    };
  }, []);

  // Announce messages arriving in the open conversation, except one's own.
  const last = b?.items[b.items.length - 1];
  const lastKey = last?.key;
  const prevLast = useRef(/** @type {string | undefined} */ (undefined));
  useEffect(() => {
    if (last && last.type === "msg" && !last.self && prevLast.current && prevLast.current !== lastKey && b?.following) {
      setLive(`${last.m.from}${last.m.kind === "action" ? "" : ":"} ${last.m.text}`);
    }
    prevLast.current = lastKey;
  }, [lastKey]);

  /** @param {File[]} files */
  const upload = async (files) => {
    if (!b || !files.length) return;
    if (!chat.token) {
      chat.say("error", "Sharing files needs an account: sign up or log in.");
      return;
    }
    for (const f of files) {
      chat.say("info", `Uploading ${f.name || "a file"}…`);
      try {
        const up = await rest.upload(chat.token, f);
        await chat.send(b.name, up.name || "a file", "say", up.id);
      } catch (e) {
        chat.report(e instanceof Error ? new Error(`${f.name}: ${e.message}`) : e);
      }
    }
  };

  return html`<div class=${`shell${menu ? " menu-open" : ""}${members && b?.kind === "room" ? " members-open" : ""}`}
      onDragOver=${(/** @type {DragEvent} */ e) => {
        if (e.dataTransfer?.types.includes("Files")) {
          e.preventDefault();
          setDrag(true);
        }
      }}
      onDragLeave=${(/** @type {DragEvent} */ e) => e.relatedTarget === null && setDrag(false)}
      onDrop=${(/** @type {DragEvent} */ e) => {
        e.preventDefault();
        setDrag(false);
        upload([...(e.dataTransfer?.files ?? [])]);
      }}>
    <${Status} chat=${chat} />
    <${Sidebar} chat=${chat} onPick=${() => setMenu(false)} onJoin=${() => setJoining(true)} />
    ${menu ? html`<div class="backdrop" aria-hidden="true" onClick=${() => setMenu(false)}></div>` : null}
    <main class="conversation" aria-label=${b ? b.name : "No conversation"}>
      ${b
        ? html`<${Header} chat=${chat} buffer=${b} onMenu=${() => setMenu(!menu)} onMembers=${() => setMembers(!members)} members=${members} />
            <${MessageList} chat=${chat} buffer=${b} />
            <${Composer} chat=${chat} buffer=${b} onFiles=${upload} canUpload=${!!chat.token} />`
        : html`<div class="empty">
            <button type="button" class="menu-button" aria-label="Conversations" onClick=${() => setMenu(!menu)}>☰</button>
            <p>You are in no room. <button type="button" class="primary" onClick=${() => setJoining(true)}>Join a room</button></p>
          </div>`}
    </main>
    ${b?.kind === "room" && members ? html`<${Members} chat=${chat} buffer=${b} onClose=${() => setMembers(false)} />` : null}
    ${drag ? html`<div class="dropzone" aria-hidden="true">Drop files to share them in ${b?.name}</div>` : null}
    ${joining ? html`<${JoinDialog} chat=${chat} onClose=${() => setJoining(false)} />` : null}
    <div class="sr-only" aria-live="polite" aria-atomic="true">${live}</div>
  </div>`;
}

/** @param {{chat: Chat}} props */
function Status({ chat }) {
  const [, setNow] = useState(0);
  useEffect(() => {
    if (chat.conn !== "offline") return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [chat.conn]);
  if (chat.conn === "online") return null;
  const secs = chat.retryAt ? Math.max(0, Math.ceil((chat.retryAt - Date.now()) / 1000)) : 0;
  return html`<div class=${`status status-${chat.conn}`} role="status">
    ${chat.conn === "connecting"
      ? "Connecting…"
      : chat.conn === "offline"
        ? html`Disconnected${chat.why ? ` (${chat.why})` : ""}. Retrying in ${secs} s.${" "}
            <button type="button" class="link" onClick=${() => chat.connection.retryNow()}>Retry now</button>`
        : html`Not connected${chat.why ? `: ${chat.why}` : ""}.`}
  </div>`;
}

/** @param {{chat: Chat, onPick: () => void, onJoin: () => void}} props */
function Sidebar({ chat, onPick, onJoin }) {
  const list = chat.sorted();
  const rooms = list.filter((b) => b.kind === "room");
  const people = list.filter((b) => b.kind === "private");
  /** @param {Buffer} b */
  const entry = (b) => {
    return html`<li key=${b.key}>
      <button type="button" data-buffer=${b.name}
        aria-current=${b.key === chat.current ? "true" : undefined}
        class=${`buffer${b.unread ? " has-unread" : ""}${b.highlight ? " has-highlight" : ""}${b.joined ? "" : " not-joined"}`}
        onClick=${() => {
          chat.select(b.key);
          onPick();
        }}>
        <span class="buffer-name">${b.name}</span>
        ${b.unread ? html`<span class="unread">${b.unread}${b.unreadMore ? "+" : ""}<span class="sr-only"> unread</span></span>` : null}
        ${b.highlight ? html`<span class="sr-only">, mentions you</span>` : null}
      </button>
    </li>`;
  };
  return html`<nav class="sidebar" aria-label="Conversations">
    <div class="me">
      <span class=${`avatar ${nickClass(chat.me)}`} aria-hidden="true">${chat.me.slice(0, 1).toUpperCase()}</span>
      <span class="me-name">${chat.me}<span class="hint">${chat.account ? "account" : "guest"}</span></span>
      <button type="button" class="small" onClick=${() => chat.logout()}>Log out</button>
    </div>
    <h2>Rooms</h2>
    <ul>${rooms.map(entry)}</ul>
    <button type="button" class="join" onClick=${onJoin}>Join a room</button>
    ${people.length ? html`<h2>People</h2><ul>${people.map(entry)}</ul>` : null}
    <${NotifyToggle} />
    <p class="keys hint">Alt+A: next unread · Alt+↑/↓: move · Alt+1–9: jump</p>
  </nav>`;
}

function NotifyToggle() {
  const [perm, setPerm] = useState(() => ("Notification" in window ? Notification.permission : "unsupported"));
  if (perm !== "default") return null;
  return html`<button type="button" class="small notify" onClick=${async () => setPerm(await Notification.requestPermission())}>
    Notify me of mentions and private messages
  </button>`;
}

/**
 * @param {Chat} chat
 * @param {import("../chat.js").MsgItem} it
 * @param {Buffer} buf
 */
function notify(chat, it, buf) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  if (document.visibilityState === "visible" && document.hasFocus() && chat.current === buf.key) return;
  const body = pieces(it.m.text)
    .map((p) => (p.kind === "upload" ? "[file]" : p.text))
    .join("");
  const n = new Notification(buf.kind === "room" ? `${it.m.from} in ${buf.name}` : it.m.from, { body, tag: `confab-${buf.key}` });
  n.onclick = () => {
    focus();
    chat.select(buf.key);
    n.close();
  };
}

/** @param {{chat: Chat, buffer: Buffer, onMenu: () => void, onMembers: () => void, members: boolean}} props */
function Header({ chat, buffer, onMenu, onMembers, members }) {
  const topic = buffer.topic?.text;
  return html`<header class="head">
    <button type="button" class="menu-button" aria-label="Conversations" onClick=${onMenu}>☰</button>
    <div class="title">
      <h2>${buffer.name}</h2>
      <p id="topic" class="topic" title=${topic ?? ""}>
        ${topic ? pieces(topic).map((p) => (p.kind === "link" ? html`<a href=${p.href} target="_blank" rel="noopener noreferrer">${p.text}</a>` : p.kind === "upload" ? p.href : p.text)) : buffer.kind === "room" ? (buffer.joined ? "" : "You are not in this room") : "Private conversation"}
      </p>
    </div>
    ${buffer.kind === "room"
      ? html`<button type="button" class="small" aria-pressed=${members ? "true" : "false"} onClick=${onMembers}>Members <span class="count">${buffer.members.size}</span></button>`
      : null}
    <button type="button" class="small" onClick=${() => chat.leave(buffer).catch((e) => chat.report(e))}
      aria-label=${buffer.kind === "room" ? "Leave" : "Close"} title=${buffer.kind === "room" ? `Leave ${buffer.name}` : `Close the conversation with ${buffer.name}`}>
      ${buffer.kind === "room" ? "Leave" : "Close"}
    </button>
  </header>`;
}

/** @param {{chat: Chat, buffer: Buffer, onClose: () => void}} props */
function Members({ chat, buffer, onClose }) {
  const list = [...buffer.members.values()].sort(
    (a, b) => Number(b.op) - Number(a.op) || Number(b.voice) - Number(a.voice) || a.nick.localeCompare(b.nick),
  );
  return html`<aside class="members" aria-label="Members">
    <h2>${list.length} ${list.length === 1 ? "member" : "members"}
      <button type="button" class="small phone-only close" onClick=${onClose}>Close</button></h2>
    <ul>
      ${list.map((m) => {
        const presence = m.away ? "away" : "online";
        const self = m.nick.toLowerCase() === chat.me.toLowerCase();
        return html`<li key=${m.nick} data-nick=${m.nick} data-presence=${presence}>
          <button type="button" class="member" disabled=${self}
            aria-label=${`${m.nick}${m.op ? ", operator" : ""}, ${m.away ? `away: ${m.away}` : "online"}${self ? " (you)" : ", talk privately"}`}
            title=${m.away ? `Away: ${m.away}` : self ? "You" : `Talk privately with ${m.nick}`}
            onClick=${() => chat.startPrivate(m.nick)}>
            <span class=${`presence ${presence}`} aria-hidden="true"></span>
            <span class=${`nick ${nickClass(m.nick)}`}>${m.op ? "@" : m.voice ? "+" : ""}${m.nick}</span>
          </button>
        </li>`;
      })}
    </ul>
    <${Offline} chat=${chat} buffer=${buffer} />
  </aside>`;
}

/**
 * The room's regulars who are not connected now (accounts that have
 * spoken in the window), so the list shows who is offline too.
 * @param {{chat: Chat, buffer: Buffer}} props
 */
function Offline({ chat, buffer }) {
  const [users, setUsers] = useState(/** @type {Map<string, boolean>} */ (new Map()));
  useEffect(() => {
    chat.connection
      .request({ type: "users" }, { collect: true })
      .then(({ replies }) => {
        const us = replies.find((r) => r.type === "users")?.users ?? [];
        setUsers(new Map(us.map((/** @type {any} */ u) => [u.nick.toLowerCase(), u.online])));
      })
      .catch(() => {});
  }, [buffer.key, buffer.members.size]);
  /** @type {string[]} */
  const away = [];
  for (const it of buffer.items) {
    if (it.type !== "msg") continue;
    const k = it.m.from.toLowerCase();
    if (!buffer.members.has(k) && users.get(k) === false && !away.includes(it.m.from)) away.push(it.m.from);
  }
  if (!away.length) return null;
  return html`<h2>Offline</h2>
    <ul>
      ${away.sort((a, b) => a.localeCompare(b)).map(
        (n) => html`<li key=${n} data-nick=${n} data-presence="offline">
          <button type="button" class="member" aria-label=${`${n}, offline, talk privately`} onClick=${() => chat.startPrivate(n)}>
            <span class="presence offline" aria-hidden="true"></span><span class=${`nick ${nickClass(n)}`}>${n}</span>
          </button>
        </li>`,
      )}
    </ul>`;
}

/** @param {{chat: Chat, onClose: () => void}} props */
function JoinDialog({ chat, onClose }) {
  const ref = useRef(/** @type {HTMLDialogElement | null} */ (null));
  const [name, setName] = useState("");
  const [rooms, setRooms] = useState(/** @type {Array<{name: string, members: number, topic: string | null}>} */ ([]));
  const [error, setError] = useState("");
  useEffect(() => {
    ref.current?.showModal();
    chat.connection
      .request({ type: "rooms" }, { collect: true })
      .then(({ replies }) => setRooms(replies.find((r) => r.type === "rooms")?.rooms ?? []))
      .catch(() => {});
  }, []);
  /** @param {string} room */
  const join = async (room) => {
    setError("");
    try {
      await chat.join(room.trim());
      onClose();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  const filter = name.trim().replace(/^#/, "").toLowerCase();
  const shown = rooms.filter((r) => r.name.toLowerCase().includes(filter)).slice(0, 50);
  return html`<dialog ref=${ref} class="join-dialog" aria-labelledby="join-title" onClose=${onClose} onCancel=${onClose}>
    <form method="dialog" onSubmit=${(/** @type {Event} */ e) => (e.preventDefault(), join(name))}>
      <h2 id="join-title">Join or create a room</h2>
      <label for="room-name">Room name</label>
      <input id="room-name" placeholder="#room" value=${name} autocomplete="off" aria-describedby="join-error"
        onInput=${(/** @type {Event} */ e) => setName(/** @type {HTMLInputElement} */ (e.currentTarget).value)} />
      <p id="join-error" class="error" role="alert">${error}</p>
      <div class="buttons">
        <button type="button" onClick=${onClose}>Cancel</button>
        <button type="submit" class="primary" disabled=${!name.trim()}>Join</button>
      </div>
      ${shown.length
        ? html`<h3>Rooms on this server</h3>
            <ul class="room-list">
              ${shown.map(
                (r) => html`<li key=${r.name}>
                  <button type="button" onClick=${() => join(r.name)}>
                    <strong>${r.name}</strong> <span class="hint">${r.members} online</span>
                    ${r.topic ? html`<span class="room-topic">${r.topic}</span>` : null}
                  </button>
                </li>`,
              )}
            </ul>`
        : null}
    </form>
  </dialog>`;
}

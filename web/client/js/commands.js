// The slash commands of the input box: the line door's commands
// (docs/line-protocol.md), each turned into WebSocket requests. Their
// answers show as lines in the open conversation.

import { isRoom, keyOf } from "./chat.js";

/** @typedef {import("./chat.js").Chat} Chat */
/** @typedef {import("./chat.js").Buffer} Buffer */

/**
 * @typedef {object} Command
 * @property {string} args   how to call it
 * @property {string} help   what it does
 * @property {(chat: Chat, arg: string, b: Buffer | null) => Promise<void> | void} run
 */

/** @param {string} s */
const nickArg = (s) => s.trim().replace(/^@/, "");

/**
 * @param {Chat} chat
 * @param {Buffer | null} b
 */
function target(chat, b) {
  if (!b) throw new Error("open a room or a conversation first");
  return b.name;
}

/** @type {Record<string, Command>} */
export const COMMANDS = {
  join: {
    args: "#room [key]",
    help: "join a room, creating it if needed",
    run: async (chat, arg) => {
      const [room, key] = arg.trim().split(/\s+/);
      if (!room) throw new Error("usage: /join #room");
      await chat.join(room, key);
    },
  },
  part: {
    args: "[#room] [reason]",
    help: "leave a room (the open one by default)",
    run: async (chat, arg, b) => {
      const words = arg.trim();
      const named = isRoom(words) ? words.split(/\s+/)[0] : null;
      const room = named ? chat.buffer(named) : b;
      if (!room) throw new Error("usage: /part #room");
      await chat.leave(room, named ? words.slice(named.length).trim() : words);
    },
  },
  msg: {
    args: "@nick|#room text",
    help: "send a message to someone or a room",
    run: async (chat, arg, b) => {
      const m = /^(\S+)\s+([\s\S]+)$/.exec(arg.trim());
      if (m && (m[1].startsWith("@") || isRoom(m[1]))) {
        const to = nickArg(m[1]);
        await chat.send(to, m[2]);
        if (!isRoom(to)) chat.buffer(to);
        return;
      }
      if (!arg.trim()) throw new Error("usage: /msg @nick text");
      await chat.send(target(chat, b), arg);
    },
  },
  query: {
    args: "@nick",
    help: "open a private conversation",
    run: (chat, arg) => {
      const nick = nickArg(arg);
      if (!nick) throw new Error("usage: /query @nick");
      chat.startPrivate(nick);
    },
  },
  stop: {
    args: "",
    help: "end a private conversation: back to your rooms",
    run: (chat, _arg, b) => {
      const room = chat.sorted().find((x) => x.kind === "room");
      if (b?.kind === "private" && room) chat.select(room.key);
    },
  },
  me: {
    args: "action",
    help: "describe what you do: * alice waves",
    run: async (chat, arg, b) => {
      if (!arg.trim()) throw new Error("usage: /me waves");
      await chat.send(target(chat, b), arg, "action");
    },
  },
  nick: {
    args: "name",
    help: "change your name",
    run: async (chat, arg) => {
      if (!arg.trim()) throw new Error("usage: /nick name");
      await chat.connection.request({ type: "nick", nick: arg.trim() });
    },
  },
  topic: {
    args: "[text | -]",
    help: "show, set or clear (-) the room's topic",
    run: async (chat, arg, b) => {
      const room = target(chat, b);
      const text = arg.trim();
      if (!text) {
        const { replies } = await chat.connection.request({ type: "topic", room }, { collect: true });
        const t = replies.find((r) => r.type === "topic_info");
        chat.say("info", t?.topic ? `Topic of ${room}: ${t.topic} (set by ${t.by})` : `${room} has no topic`);
        return;
      }
      await chat.connection.request({ type: "topic", room, topic: text === "-" ? null : text });
    },
  },
  rooms: {
    args: "",
    help: "list the rooms",
    run: async (chat) => {
      const { replies } = await chat.connection.request({ type: "rooms" }, { collect: true });
      const rooms = replies.find((r) => r.type === "rooms")?.rooms ?? [];
      chat.say("info", rooms.length ? `Rooms: ${rooms.map((/** @type {any} */ r) => `${r.name} (${r.members})`).join(", ")}` : "There are no rooms.");
    },
  },
  list: {
    args: "[#room]",
    help: "who is in a room",
    run: async (chat, arg, b) => {
      const room = arg.trim() || target(chat, b);
      const { replies } = await chat.connection.request({ type: "members", room }, { collect: true });
      const ms = replies.find((r) => r.type === "members")?.members ?? [];
      chat.say("info", `In ${room} (${ms.length}): ${ms.map((/** @type {any} */ m) => (m.op ? "@" : m.voice ? "+" : "") + m.nick).join(", ")}`);
    },
  },
  users: {
    args: "",
    help: "everyone, online or not",
    run: async (chat) => {
      const { replies } = await chat.connection.request({ type: "users" }, { collect: true });
      const us = replies.find((r) => r.type === "users")?.users ?? [];
      const on = us.filter((/** @type {any} */ u) => u.online).map((/** @type {any} */ u) => u.nick);
      const off = us.filter((/** @type {any} */ u) => !u.online).map((/** @type {any} */ u) => u.nick);
      chat.say("info", `Online (${on.length}): ${on.join(", ") || "nobody"}. Offline (${off.length}): ${off.join(", ") || "nobody"}.`);
    },
  },
  whois: {
    args: "@nick",
    help: "who someone is",
    run: async (chat, arg) => {
      const nick = nickArg(arg);
      if (!nick) throw new Error("usage: /whois @nick");
      const { replies } = await chat.connection.request({ type: "whois", nick }, { collect: true });
      const w = replies.find((r) => r.type === "whois");
      for (const u of w?.users ?? []) {
        const rooms = u.rooms.map((/** @type {any} */ r) => (r.op ? "@" : "") + r.room).join(" ");
        chat.say("info", `${u.nick}${u.account ? " (account)" : ""} from ${u.host}${u.away ? `, away: ${u.away}` : ""}${rooms ? `, in ${rooms}` : ""}`);
      }
      for (const n of w?.missing ?? []) chat.say("info", `${n} is not online`);
    },
  },
  away: {
    args: "[message]",
    help: "say you are away, or back",
    run: async (chat, arg) => {
      /** @type {import("./conn.js").Msg} */
      const msg = { type: "away" };
      if (arg.trim()) msg.message = arg.trim();
      await chat.connection.request(msg);
      chat.say("info", arg.trim() ? `You are away: ${arg.trim()}` : "You are back");
    },
  },
  ignore: {
    args: "[@nick]",
    help: "hide someone's messages; alone, list who you ignore",
    run: async (chat, arg) => {
      const nick = nickArg(arg);
      if (!nick) {
        const { replies } = await chat.connection.request({ type: "ignores" }, { collect: true });
        const ns = replies.find((r) => r.type === "ignores")?.nicks ?? [];
        chat.say("info", ns.length ? `Ignoring: ${ns.join(", ")}` : "You ignore nobody");
        return;
      }
      await chat.connection.request({ type: "ignore", nick });
      chat.say("info", `Ignoring ${nick}`);
    },
  },
  unignore: {
    args: "@nick",
    help: "show someone's messages again",
    run: async (chat, arg) => {
      const nick = nickArg(arg);
      if (!nick) throw new Error("usage: /unignore @nick");
      await chat.connection.request({ type: "unignore", nick });
      chat.say("info", `No longer ignoring ${nick}`);
    },
  },
  search: {
    args: "words",
    help: "search the messages you may read",
    run: async (chat, arg) => {
      const text = arg.trim();
      if (!text) throw new Error("usage: /search words");
      const { replies } = await chat.connection.request({ type: "search", text }, { collect: true });
      const ms = replies.find((r) => r.type === "search")?.messages ?? [];
      chat.say("info", ms.length ? `${ms.length} message${ms.length === 1 ? "" : "s"} match “${text}”:` : `No message matches “${text}”.`);
      for (const m of ms) chat.say("info", `${m.target} <${m.from}> ${m.text}`);
    },
  },
  invite: {
    args: "@nick [#room]",
    help: "invite someone to a room",
    run: async (chat, arg, b) => {
      const [nick, room] = arg.trim().split(/\s+/);
      if (!nick) throw new Error("usage: /invite @nick [#room]");
      await chat.connection.request({ type: "invite", nick: nickArg(nick), room: room || target(chat, b) });
    },
  },
  kick: {
    args: "@nick [reason]",
    help: "remove someone from the room (operators)",
    run: async (chat, arg, b) => {
      const m = /^(\S+)\s*([\s\S]*)$/.exec(arg.trim());
      if (!m) throw new Error("usage: /kick @nick [reason]");
      /** @type {import("./conn.js").Msg} */
      const msg = { type: "kick", room: target(chat, b), nick: nickArg(m[1]) };
      if (m[2]) msg.reason = m[2];
      await chat.connection.request(msg);
    },
  },
  register: {
    args: "password",
    help: "keep your name: make it an account",
    run: async (chat, arg) => {
      if (!arg) throw new Error("usage: /register password");
      await chat.connection.request({ type: "register", password: arg });
      chat.account = true;
      chat.say("info", `${chat.me} is now your account. Log in with it next time.`);
    },
  },
  time: {
    args: "",
    help: "the time",
    run: (chat) => chat.say("info", new Date().toString()),
  },
  help: {
    args: "[command]",
    help: "this help",
    run: (chat, arg) => {
      const name = arg.trim().replace(/^\//, "");
      const c = COMMANDS[name];
      if (c) {
        chat.say("info", `/${name} ${c.args} — ${c.help}`);
        return;
      }
      chat.say("info", "Type a message and press Enter (Shift+Enter for a new line). Commands:");
      for (const [n, cmd] of Object.entries(COMMANDS)) chat.say("info", `/${n} ${cmd.args} — ${cmd.help}`);
    },
  },
  quit: {
    args: "",
    help: "log out",
    run: (chat) => chat.logout(),
  },
};

/** The same commands under the names other clients use. */
const ALIASES = /** @type {Record<string, string>} */ ({ commands: "help", start: "query", j: "join", leave: "part", close: "part", logout: "quit" });

/** Every name the input accepts, for Tab completion. */
export const COMMAND_NAMES = [...Object.keys(COMMANDS), ...Object.keys(ALIASES)].sort();

/**
 * Runs one line of input that starts with `/`. `//text` sends `/text`.
 * @param {Chat} chat
 * @param {string} line
 * @returns {Promise<void>}
 */
export async function run(chat, line) {
  const b = chat.open();
  if (line.startsWith("//")) {
    await chat.send(target(chat, b), line.slice(1));
    return;
  }
  const m = /^\/(\S+)\s?([\s\S]*)$/.exec(line);
  const name = keyOf(m?.[1] ?? "");
  const cmd = COMMANDS[ALIASES[name] ?? name];
  if (!cmd) throw new Error(`unknown command /${name}; /help lists them`);
  await cmd.run(chat, m?.[2] ?? "", b);
}

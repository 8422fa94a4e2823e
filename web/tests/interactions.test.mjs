// What a user does with the page beyond sending a line: typing
// notifications (browser ↔ browser, browser ↔ IRC), Tab completion, the
// input history, Shift+Enter, joining and leaving a room from the UI, a
// private conversation from the member list, Alt+A, notifications and the
// tab title, and the slash commands' answers. Each drives the page with
// the keyboard and mouse as a person would and checks what the others
// (browsers, telnet, IRC) see.

import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { suite, LineClient, IrcClient, waitFor, cssString } from "./harness.mjs";

const env = suite({ before, after, afterEach });

// The server as the other files start it, but with a longer wait before a
// silent connection counts as a telnet user (300 ms, the server's default,
// instead of the harness's 50 ms): with 50 ms, about one run in fifteen a
// second browser's `page.goto` got the telnet greeting as its HTTP answer
// (net::ERR_INVALID_HTTP_RESPONSE), the plain-HTTP caveat of
// docs/web-client.md.
const start = () => env.server();

/** @param {import("./harness.mjs").BrowserUser} u */
const composer = (u) => u.page.locator("textarea#composer");

/** The text of the "… is typing…" line under the messages. @param {import("./harness.mjs").BrowserUser} u */
const typingLine = async (u) => ((await u.page.locator(".composer .typing").textContent()) ?? "").trim();

/**
 * Waits for the composer to hold exactly `value`.
 * @param {import("./harness.mjs").BrowserUser} u @param {string} value @param {number} [timeout]
 */
async function composerIs(u, value, timeout) {
  await waitFor(async () => (await composer(u).inputValue()) === value, {
    what: `the composer to hold ${JSON.stringify(value)}`,
    timeout,
  }).catch(async (e) => {
    throw new Error(`${e.message} (it holds ${JSON.stringify(await composer(u).inputValue())})`);
  });
}

/** Empties the composer the way a person would: select all, delete. @param {import("./harness.mjs").BrowserUser} u */
async function clearComposer(u) {
  await composer(u).press("ControlOrMeta+a");
  await composer(u).press("Backspace");
  await composerIs(u, "");
}

/** Waits for a member to be listed in the open room. @param {import("./harness.mjs").BrowserUser} u @param {string} nick */
const member = (u, nick) => u.page.locator(`aside[aria-label="Members"] li[data-nick="${cssString(nick)}"]`);

/** The event lines (`li.event`) of one kind in the open buffer. */
const events = (/** @type {import("./harness.mjs").BrowserUser} */ u, /** @type {string} */ what) =>
  u.page.locator(`ol#messages li.event.ev-${what}`);

/** @param {import("./harness.mjs").BrowserUser} u @param {string} name */
const isCurrent = (u, name) => u.buffer(name).getAttribute("aria-current").then((v) => v === "true");

test("typing shows both ways: browser to browser, IRC to browser and browser to IRC", async () => {
  const server = await start();
  const alice = await env.user(server);
  const bob = await env.user(server);
  await alice.joinAsGuest("alice");
  await bob.joinAsGuest("bob");
  await member(bob, "alice").waitFor();

  // Alice types without sending: Bob sees it, and nothing was sent.
  await composer(alice).pressSequentially("thinking about it");
  await waitFor(async () => (await typingLine(bob)) === "alice is typing…", { what: "“alice is typing…” for bob" });
  assert.equal(await typingLine(alice), "", "alice does not see herself typing");
  assert.equal(await bob.page.locator("ol#messages li.msg").count(), 0, "typing sends no message");
  // She deletes it all: the notice goes away at once (not after its timeout).
  await clearComposer(alice);
  await waitFor(async () => (await typingLine(bob)) === "", { what: "bob's typing line to clear", timeout: 3000 });

  // An IRC client with message-tags.
  const irc = await IrcClient.connect(server, "ircy", { caps: ["message-tags"] });
  await irc.join("#general");
  await member(bob, "ircy").waitFor();
  irc.send("@+typing=active TAGMSG #general");
  await waitFor(async () => (await typingLine(bob)) === "ircy is typing…", { what: "“ircy is typing…” for bob" });
  irc.send("@+typing=done TAGMSG #general");
  await waitFor(async () => (await typingLine(bob)) === "", { what: "ircy's typing to end", timeout: 3000 });

  // The browser's typing reaches the IRC client as a TAGMSG with +typing.
  await composer(bob).pressSequentially("an answer");
  const first = await irc.waitLine(/^@(\S*;)?\+typing=(\w+)(;\S*)? :bob!\S+ TAGMSG #general$/);
  assert.equal(first[2], "active", first[0]);
  // Deleting the text ends it.
  await clearComposer(bob);
  await irc.waitLine(/^@(\S*;)?\+typing=done(;\S*)? :bob!\S+ TAGMSG #general$/);
  assert.ok(!irc.lines.some((l) => / PRIVMSG #general :/.test(l)), "the IRC client got no message");
});

test("Tab completes names at the start of a line, /commands and #rooms", async () => {
  const server = await start();
  const zelda = await LineClient.connect(server, "zelda");
  const zoe = await LineClient.connect(server, "zoe");
  const u = await env.user(server);
  await u.joinAsGuest("tabby");
  await member(u, "zelda").waitFor();
  await member(u, "zoe").waitFor();
  const c = composer(u);

  await c.pressSequentially("ze");
  await c.press("Tab");
  await composerIs(u, "zelda: ");
  assert.equal(await c.evaluate((el) => el === document.activeElement), true, "Tab kept the focus in the composer");
  // Typing goes on after the completion, at the caret.
  await c.pressSequentially("hi");
  await composerIs(u, "zelda: hi");

  // Several candidates: Tab cycles, Shift+Tab goes back.
  await clearComposer(u);
  await c.pressSequentially("z");
  await c.press("Tab");
  await composerIs(u, "zelda: ");
  await c.press("Tab");
  await composerIs(u, "zoe: ");
  await c.press("Shift+Tab");
  await composerIs(u, "zelda: ");

  // Not at the start of the line: no colon.
  await clearComposer(u);
  await c.pressSequentially("ask zo");
  await c.press("Tab");
  await composerIs(u, "ask zoe ");

  await clearComposer(u);
  await c.pressSequentially("/jo");
  await c.press("Tab");
  await composerIs(u, "/join ");

  await clearComposer(u);
  await c.pressSequentially("#gen");
  await c.press("Tab");
  await composerIs(u, "#general ");

  // Nothing was sent along the way.
  assert.equal(await u.page.locator("ol#messages li.msg").count(), 0);
  for (const t of [zelda, zoe]) assert.ok(!t.lines.some((l) => /<tabby>/.test(l)), "the telnet users got nothing from tabby");
});

/** A guest who has sent two lines, with an empty composer. */
async function twoSent() {
  const server = await start();
  const u = await env.user(server);
  await u.joinAsGuest("recaller");
  await u.send("the first thing I said");
  await u.waitMessage("the first thing I said", "recaller");
  await u.send("the second thing I said");
  await u.waitMessage("the second thing I said", "recaller");
  await composerIs(u, "");
  return u;
}

test("Up in the empty composer recalls the last message sent; Down empties it again", async () => {
  const u = await twoSent();
  const c = composer(u);
  await c.press("ArrowUp");
  await composerIs(u, "the second thing I said");
  await c.press("ArrowDown");
  await composerIs(u, "");
  // A recalled line sends like a typed one.
  await c.press("ArrowUp");
  await composerIs(u, "the second thing I said");
  await c.press("Enter");
  await composerIs(u, "");
  await waitFor(async () => (await u.message("the second thing I said").count()) === 2, { what: "the recalled line sent again" });
});

test(
  "Up again recalls the message before; Down walks forward",
  async () => {
    const u = await twoSent();
    const c = composer(u);
    await c.press("ArrowUp");
    await composerIs(u, "the second thing I said");
    await c.press("ArrowUp");
    await composerIs(u, "the first thing I said", 3000);
    await c.press("ArrowDown");
    await composerIs(u, "the second thing I said", 3000);
    await c.press("ArrowDown");
    await composerIs(u, "", 3000);
  },
);

test("Shift+Enter starts a new line; Enter sends each line as its own message", async () => {
  const server = await start();
  const tel = await LineClient.connect(server, "liner");
  const u = await env.user(server);
  await u.joinAsGuest("multi");
  const c = composer(u);

  await c.pressSequentially("line one");
  await c.press("Shift+Enter");
  await c.pressSequentially("line two");
  await composerIs(u, "line one\nline two");
  assert.equal(await u.page.locator("ol#messages li.msg").count(), 0, "Shift+Enter sent nothing");
  await c.press("Enter");
  await composerIs(u, "");

  await u.waitMessage("line two", "multi");
  const msgs = (await u.messages()).filter((m) => m.nick === "multi");
  assert.deepEqual(
    msgs.map((m) => m.text),
    ["line one", "line two"],
    `two messages, in order: ${JSON.stringify(msgs)}`,
  );
  assert.ok(Number(msgs[0].id) < Number(msgs[1].id), "ids in order");
  await tel.waitLine(/#general <multi> line one$/);
  await tel.waitLine(/#general <multi> line two$/);
});

test("joining a room from the dialog opens it; Leave leaves it; telnet sees both", async () => {
  const server = await start();
  const tel = await LineClient.connect(server, "host");
  tel.send("/join #lounge");
  await tel.waitLine(/host joined #lounge/);
  const u = await env.user(server);
  await u.joinAsGuest("roamer");

  await u.page.getByRole("button", { name: "Join a room" }).click();
  const dialog = u.page.getByRole("dialog");
  await dialog.waitFor();
  await u.page.getByLabel("Room name").fill("#lounge");
  await dialog.getByRole("button", { name: "Join", exact: true }).click();
  await u.page.waitForSelector('nav[aria-label="Conversations"] button[data-buffer="#lounge"][aria-current="true"]');
  await waitFor(async () => !(await dialog.isVisible()), { what: "the dialog to close" });
  assert.equal(await isCurrent(u, "#general"), false, "#general is no longer current");
  assert.equal(await u.page.locator("main.conversation h2").textContent(), "#lounge");
  await tel.waitLine(/\*\*\* roamer joined #lounge/);
  await member(u, "host").waitFor();

  await u.page.getByRole("button", { name: "Leave", exact: true }).click();
  await waitFor(async () => (await u.buffer("#lounge").count()) === 0, { what: "#lounge to leave the sidebar" });
  await tel.waitLine(/\*\*\* roamer left #lounge/);
  // Back in a room that is still there.
  await waitFor(() => isCurrent(u, "#general"), { what: "#general to be current again" });
});

test("clicking a member opens a private conversation; the other side gets it with an unread count", async () => {
  const server = await start();
  const alice = await env.user(server);
  const bob = await env.user(server);
  await alice.joinAsGuest("alice");
  await bob.joinAsGuest("bob");

  await member(alice, "bob").getByRole("button").click();
  await alice.page.waitForSelector('nav[aria-label="Conversations"] button[data-buffer="bob"][aria-current="true"]');
  assert.equal(await composer(alice).getAttribute("aria-label"), "Message bob");
  await alice.send("psst, just between us");
  await alice.waitMessage("psst, just between us", "alice");

  // Bob is on #general: a buffer named after alice, unread.
  await bob.buffer("alice").waitFor();
  await waitFor(async () => (await bob.unread("alice")) === 1, { what: "an unread count of 1 on bob's “alice”" });
  assert.equal(await isCurrent(bob, "#general"), true, "bob stayed on #general");
  assert.equal(await bob.message("psst, just between us").count(), 0, "not shown in #general");
  await bob.openBuffer("alice");
  await bob.waitMessage("psst, just between us", "alice");
  await waitFor(async () => (await bob.unread("alice")) === 0, { what: "the count to clear once read" });

  // And back.
  await bob.send("sure thing");
  await alice.waitMessage("sure thing", "bob");
});

test("Alt+A goes to the next conversation with unread messages, mentions first", async () => {
  const server = await start();
  const u = await env.user(server);
  await u.joinAsGuest("hopper");
  await u.joinRoom("#alpha");
  await u.joinRoom("#beta");
  await u.openBuffer("#general");
  const tel = await LineClient.connect(server, "poster");
  tel.send("/join #alpha");
  await tel.waitLine(/poster joined #alpha/);
  tel.send("/join #beta");
  await tel.waitLine(/poster joined #beta/);
  tel.send("/msg #alpha just chatting in alpha");
  tel.send("/msg #beta hopper, look at beta");
  await tel.waitLine(/#beta <poster> hopper, look at beta/);
  await waitFor(async () => (await u.unread("#alpha")) === 1 && (await u.unread("#beta")) === 1, {
    what: "one unread message in #alpha and in #beta",
  });

  await u.page.keyboard.press("Alt+KeyA");
  await waitFor(() => isCurrent(u, "#beta"), { what: "Alt+A to open #beta (the mention) first" });
  await u.waitMessage("hopper, look at beta", "poster");
  await u.page.keyboard.press("Alt+KeyA");
  await waitFor(() => isCurrent(u, "#alpha"), { what: "Alt+A to open #alpha next" });
  await u.waitMessage("just chatting in alpha", "poster");
  await waitFor(async () => (await u.unread("#alpha")) === 0 && (await u.unread("#beta")) === 0, {
    what: "both counts to clear",
  });
  // Nothing unread left: Alt+A stays put.
  await u.page.keyboard.press("Alt+KeyA");
  await u.page.keyboard.press("Alt+KeyA");
  assert.equal(await isCurrent(u, "#alpha"), true, "Alt+A with nothing unread stays");
});

test("mentions and private messages notify while another conversation is open; the title counts unread", async () => {
  const server = await start();
  const u = await env.user(server, { permissions: ["notifications"] });
  await u.context.addInitScript(() => {
    const w = /** @type {any} */ (window);
    w.__notes = [];
    class FakeNotification {
      static permission = "granted";
      static requestPermission() {
        return Promise.resolve("granted");
      }
      /** @param {string} title @param {{body?: string}} [opts] */
      constructor(title, opts = {}) {
        w.__notes.push({ title, body: opts.body ?? "" });
        this.onclick = null;
      }
      close() {}
    }
    w.Notification = FakeNotification;
  });
  const notes = () => u.page.evaluate(() => /** @type {{title: string, body: string}[]} */ (/** @type {any} */ (window).__notes));

  await u.joinAsGuest("nora");
  await u.joinRoom("#side");
  await u.openBuffer("#general");
  // Permission is granted: no button asks for it.
  assert.equal(await u.page.getByRole("button", { name: /Notify me/ }).count(), 0);
  assert.equal(await u.page.title(), "confab");

  const tel = await LineClient.connect(server, "pinger");
  tel.send("/join #side");
  await tel.waitLine(/pinger joined #side/);
  tel.send("/msg #side nora: are you there?");
  await waitFor(async () => (await notes()).length === 1, { what: "a notification for the mention" });
  assert.deepEqual((await notes())[0], { title: "pinger in #side", body: "nora: are you there?" });
  await waitFor(async () => (await u.page.title()) === "(1) confab", { what: "the title “(1) confab”" }).catch(async (e) => {
    throw new Error(`${e.message} (title: ${await u.page.title()})`);
  });

  // A plain message counts but does not notify; a private one notifies.
  tel.send("/msg #side just talking");
  tel.send("/msg @nora a secret for you");
  await tel.waitLine(/\[private\] pinger -> nora: a secret for you/);
  await waitFor(async () => (await notes()).length >= 2, { what: "a notification for the private message" });
  const all = await notes();
  assert.equal(all.length, 2, `two notifications: ${JSON.stringify(all)}`);
  assert.deepEqual(all[1], { title: "pinger", body: "a secret for you" });
  await waitFor(async () => (await u.page.title()) === "(3) confab", { what: "the title “(3) confab”" }).catch(async (e) => {
    throw new Error(`${e.message} (title: ${await u.page.title()})`);
  });

  // Reading them brings the title back.
  await u.openBuffer("#side");
  await u.openBuffer("pinger");
  await waitFor(async () => (await u.page.title()) === "confab", { what: "the title back to “confab”" });
});

test("slash commands answer in the page: /whois, /rooms, /topic", async () => {
  const server = await start();
  const tel = await LineClient.connect(server, "watcher");
  const u = await env.user(server);
  await u.joinAsGuest("cmdr");
  await member(u, "watcher").waitFor();

  await u.send("/whois @watcher");
  const whois = events(u, "info").filter({ hasText: "watcher" });
  await whois.first().waitFor();
  assert.match((await whois.first().textContent()) ?? "", /watcher.*#general/, "whois names the user and their room");

  await u.send("/rooms");
  const rooms = events(u, "info").filter({ hasText: "Rooms:" });
  await rooms.first().waitFor();
  assert.match((await rooms.first().textContent()) ?? "", /#general \(2\)/, "/rooms lists #general with its 2 members");

  // The topic of a room cmdr created (and so operates).
  await u.send("/join #den");
  await u.page.waitForSelector('nav[aria-label="Conversations"] button[data-buffer="#den"][aria-current="true"]');
  tel.send("/join #den");
  await tel.waitLine(/watcher joined #den/);
  await u.send("/topic new topic for the den");
  await waitFor(async () => ((await u.page.locator("#topic").textContent()) ?? "").trim() === "new topic for the den", {
    what: "#topic to show the new topic",
  });
  await events(u, "topic").filter({ hasText: "new topic for the den" }).first().waitFor();
  await tel.waitLine(/cmdr set the topic of #den: new topic for the den/);
});

test(
  "an unknown command shows an error line and sends nothing",
  async () => {
    const server = await start();
    const tel = await LineClient.connect(server, "watcher");
    const u = await env.user(server);
    await u.joinAsGuest("cmdr");
    await member(u, "watcher").waitFor();
    const c = composer(u);
    await c.fill("/frobnicate now");
    await c.press("Enter");
    // Some answer shows (an error line, or at least a note)…
    const error = events(u, "error").filter({ hasText: "frobnicate" });
    const note = u.page.locator(".composer .note", { hasText: "frobnicate" });
    await waitFor(async () => (await error.count()) + (await note.count()) > 0, { what: "an answer to /frobnicate" });
    // …nothing went out…
    tel.send("/msg #general after the command");
    await u.waitMessage("after the command", "watcher");
    assert.equal((await u.messages()).filter((m) => m.nick === "cmdr").length, 0, "cmdr sent no message");
    assert.ok(!tel.lines.some((l) => /frobnicate/.test(l)), "telnet saw nothing of it");
    // …and the answer is an error line in the conversation.
    assert.equal(await error.count(), 1, `an li.event.ev-error about /frobnicate (the page shows: ${JSON.stringify(await note.allTextContents())} as the composer's note)`);
  },
);

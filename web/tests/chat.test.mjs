// Chatting from the browser: two browsers; a browser with a telnet and an
// IRC client in one room; history after a reload; an image upload.

import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { suite, LineClient, IrcClient, makePng, waitFor, shot } from "./harness.mjs";

const env = suite({ before, after, afterEach });

test("two browsers chat both ways, as guests", async () => {
  const server = await env.server();
  const alice = await env.user(server);
  const bob = await env.user(server);
  await alice.joinAsGuest("alice");
  await bob.joinAsGuest("bob");
  for (const u of [alice, bob]) {
    await u.page.waitForSelector('nav[aria-label="Conversations"] button[data-buffer="#general"][aria-current="true"]');
  }

  await alice.send("hello bob, from alice");
  await bob.waitMessage("hello bob, from alice", "alice");
  await bob.send("hi alice, bob here");
  await alice.waitMessage("hi alice, bob here", "bob");

  // The sender sees its own message too, once, with an id.
  for (const u of [alice, bob]) {
    const msgs = await u.messages();
    for (const text of ["hello bob, from alice", "hi alice, bob here"]) {
      const found = msgs.filter((m) => m.text.includes(text));
      assert.equal(found.length, 1, `${u.name} shows ${JSON.stringify(text)} once: ${JSON.stringify(msgs)}`);
      assert.match(found[0].id ?? "", /^\d+$/, "li.msg has a numeric data-id");
    }
  }
  // Each sees the other in the member list.
  await alice.page.locator('aside[aria-label="Members"] li[data-nick="bob"]').waitFor();
  await bob.page.locator('aside[aria-label="Members"] li[data-nick="alice"]').waitFor();
  assert.equal(
    await alice.page.getAttribute('aside[aria-label="Members"] li[data-nick="bob"]', "data-presence"),
    "online",
  );
});

test("a browser, a telnet user and an IRC user share #general", async () => {
  const server = await env.server();
  const web = await env.user(server);
  await web.joinAsGuest("webby");
  const tel = await LineClient.connect(server, "telly");
  const irc = await IrcClient.connect(server, "ircy");
  await irc.join("#general");

  await web.send("from the browser");
  await tel.waitLine(/#general <webby> from the browser$/);
  await irc.waitLine(/^:webby!\S+ PRIVMSG #general :from the browser$/);

  tel.send("from telnet");
  await web.waitMessage("from telnet", "telly");
  await irc.waitLine(/^:telly!\S+ PRIVMSG #general :from telnet$/);

  irc.privmsg("#general", "from IRC");
  await web.waitMessage("from IRC", "ircy");
  await tel.waitLine(/#general <ircy> from IRC$/);

  // /me from IRC (CTCP ACTION) is an action in the browser, with the name.
  irc.privmsg("#general", "\x01ACTION waves\x01");
  await tel.waitLine(/\* ircy waves/);
  await web.page.locator("ol#messages li.msg", { hasText: "waves" }).filter({ hasText: "ircy" }).first().waitFor();
});

test("history shows again after a reload", async () => {
  const server = await env.server();
  await server.register("hana", "correct-horse-1");
  const tel = await LineClient.connect(server, "teller");
  const hana = await env.user(server);
  await hana.logIn("hana", "correct-horse-1");

  const texts = ["first before reload", "second before reload", "third before reload"];
  for (const t of texts) {
    await hana.send(t);
    await hana.waitMessage(t, "hana");
  }
  tel.send("from telnet before reload");
  await hana.waitMessage("from telnet before reload", "teller");

  await hana.page.reload();
  // The login token survives the reload: straight back to the chat.
  await hana.waitMain();
  for (const t of [...texts, "from telnet before reload"]) {
    const loc = await hana.waitMessage(t);
    assert.equal(await loc.count(), 1, `${JSON.stringify(t)} shows once after the reload`);
  }
  // Still connected for real: a new message arrives.
  tel.send("after reload");
  await hana.waitMessage("after reload", "teller");

  // Log out: the token is forgotten here and void on the server.
  const token = await hana.page.evaluate(() => localStorage.getItem("confab.token"));
  assert.ok(token, "a token was kept");
  await hana.page.getByRole("button", { name: "Log out" }).click();
  await hana.page.locator("form").first().waitFor();
  const status = async () =>
    hana.page.evaluate(async (t) => (await fetch("/api/v1/rooms", { headers: { Authorization: `Bearer ${t}` } })).status, token);
  const deadline = Date.now() + 10_000;
  while ((await status()) !== 401) {
    assert.ok(Date.now() < deadline, "the logged-out token still works");
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(await hana.page.evaluate(() => localStorage.getItem("confab.token")), null);
});

test("an uploaded image shows on the other side; other files are links", async () => {
  const server = await env.server();
  await server.register("upa", "correct-horse-1");
  await server.register("upb", "correct-horse-1");
  const a = await env.user(server);
  const b = await env.user(server);
  await a.logIn("upa", "correct-horse-1");
  await b.logIn("upb", "correct-horse-1");

  const png = await makePng(16);
  await a.page.locator("input[type=file]#upload").setInputFiles({ name: "square.png", mimeType: "image/png", buffer: png });
  // Some clients let the user add a caption before sending: Enter sends it.
  const img = b.page.locator("ol#messages li.msg img.upload-image");
  await waitFor(
    async () => {
      if ((await img.count()) > 0) return true;
      const composer = a.page.locator("textarea#composer");
      if ((await a.page.locator("ol#messages li.msg img.upload-image").count()) === 0 && (await composer.inputValue()) !== "") {
        await composer.press("Enter");
      }
      return false;
    },
    { what: "the image in the other browser", timeout: 15_000 },
  );
  const src = await img.first().getAttribute("src");
  assert.match(src ?? "", /^(\/|http:\/\/127\.0\.0\.1:\d+\/)api\/v1\/uploads\/[0-9a-f]{32}$/, `same-origin upload src: ${src}`);
  await waitFor(() => img.first().evaluate((el) => /** @type {HTMLImageElement} */ (el).complete && /** @type {HTMLImageElement} */ (el).naturalWidth === 16), {
    what: "the image to load (naturalWidth 16)",
  });
  assert.ok(await img.first().getAttribute("alt") !== null, "the image has an alt attribute");

  await a.page.locator("input[type=file]#upload").setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("just text\n") });
  const link = b.page.locator("ol#messages li.msg a.upload-file");
  await waitFor(
    async () => {
      if ((await link.count()) > 0) return true;
      const composer = a.page.locator("textarea#composer");
      if ((await composer.inputValue()) !== "") await composer.press("Enter");
      return false;
    },
    { what: "the file link in the other browser", timeout: 15_000 },
  );
  const href = await link.first().getAttribute("href");
  assert.match(href ?? "", /api\/v1\/uploads\/[0-9a-f]{32}$/);
  await shot(b.page, "upload-received");
});

// Reading a room in one tab clears its unread count in another tab of the
// same account (the server's read marker).

import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { suite, LineClient, waitFor, shot } from "./harness.mjs";

const env = suite({ before, after, afterEach });

test("a read marker set in one tab clears the unread count in the other", async () => {
  const server = await env.server();
  await server.register("reader", "correct-horse-1");
  const tab1 = await env.user(server);
  const tab2 = await env.user(server);
  await tab1.logIn("reader", "correct-horse-1");
  await tab2.logIn("reader", "correct-horse-1");

  // Tab 1 joins #side from the dialog; the account is in it on both tabs.
  await tab1.joinRoom("#side");
  await tab2.buffer("#side").waitFor();
  // Both look at #general.
  await tab1.openBuffer("#general");
  await tab2.openBuffer("#general");

  const talker = await LineClient.connect(server, "talker");
  talker.send("/join #side");
  await talker.waitLine(/talker joined #side/);
  for (const t of ["side one", "side two", "side three"]) talker.send(t);
  await talker.waitLine(/<talker> side three/);

  for (const tab of [tab1, tab2]) {
    await waitFor(async () => (await tab.unread("#side")) === 3, {
      what: "an unread count of 3 on #side",
    }).catch(async (e) => {
      throw new Error(`${e.message} (shown: ${await tab.unread("#side")})`);
    });
  }
  await shot(tab2.page, "unread-before");

  await tab1.openBuffer("#side");
  await tab1.waitMessage("side three", "talker");
  await waitFor(async () => (await tab1.unread("#side")) === 0, { what: "tab 1 to clear its own count" });
  await waitFor(async () => (await tab2.unread("#side")) === 0, {
    what: "tab 2's unread count on #side to clear after tab 1 read it",
  });
  assert.equal(await tab2.buffer("#side").locator(".unread").count(), 0, ".unread is absent at 0");

  // A new message counts again, from 1 (tab 1 looks elsewhere, so nobody reads it).
  await tab1.openBuffer("#general");
  talker.send("side four");
  await waitFor(async () => (await tab2.unread("#side")) === 1, { what: "a fresh count of 1 in tab 2" });
  await shot(tab2.page, "unread-after");
});

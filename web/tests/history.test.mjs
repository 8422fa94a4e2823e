// Paging back through 1,000 messages by scrolling up, with a bounded number
// of message nodes in the page all along, and back down to the newest.

import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { suite, waitFor, shot } from "./harness.mjs";

const env = suite({ before, after, afterEach });
const MAX_NODES = 500;

test("scrolling up pages back through 1,000 messages to the first, with at most 500 message nodes", async () => {
  const server = await env.server();
  const token = await server.register("seeder", "correct-horse-1");
  const ids = await server.seed(token, "#general", 1000, (i) => `paged message ${i}`);
  const first = Math.min(...ids);
  const last = Math.max(...ids);

  const reader = await env.user(server);
  await reader.joinAsGuest("reader");
  await reader.page.locator(`ol#messages li.msg[data-id="${last}"]`).waitFor();
  await reader.countMessageNodes();

  const deadline = Date.now() + 60_000;
  let rounds = 0;
  for (;;) {
    const n = await reader.page.locator("ol#messages li.msg").count();
    assert.ok(n <= MAX_NODES, `${n} message nodes after ${rounds} pages back`);
    if ((await reader.page.locator(`ol#messages li.msg[data-id="${first}"]`).count()) > 0) break;
    assert.ok(Date.now() < deadline, `message ${first} never showed after ${rounds} rounds of scrolling up`);
    const top = await reader.page.locator("ol#messages li.msg").first().getAttribute("data-id");
    await reader.scrollMessages("top");
    // Older messages arrive: the first message changes.
    await waitFor(
      async () => (await reader.page.locator("ol#messages li.msg").first().getAttribute("data-id")) !== top,
      { timeout: 5000, what: `older messages than ${top} after scrolling to the top (round ${rounds})` },
    );
    rounds++;
    // The view stays where it was (the old first message does not jump
    // away), so there is room to scroll up again. (Waited for, briefly:
    // once in CI it read 0 right as the first row changed, which a dozen
    // runs here, under load too, did not repeat. A list that lost its
    // place stays at 0 and still fails.)
    if ((await reader.page.locator(`ol#messages li.msg[data-id="${first}"]`).count()) === 0) {
      await waitFor(async () => (await reader.messagesScrollTop()) > 0, {
        timeout: 2000,
        what: `the scroll position kept after older messages were added (round ${rounds}): at scrollTop 0, scrolling up cannot page further`,
      });
    }
  }
  await reader.message("paged message 1").first().waitFor();
  const firstText = await reader.page.locator(`ol#messages li.msg[data-id="${first}"] .text`).textContent();
  assert.match(firstText ?? "", /paged message \d+/);
  await shot(reader.page, "history-top");

  // And back down to the newest.
  const downDeadline = Date.now() + 60_000;
  while ((await reader.page.locator(`ol#messages li.msg[data-id="${last}"]`).count()) === 0) {
    assert.ok(Date.now() < downDeadline, `message ${last} never showed again scrolling down`);
    const n = await reader.page.locator("ol#messages li.msg").count();
    assert.ok(n <= MAX_NODES, `${n} message nodes scrolling down`);
    const bottom = await reader.page.locator("ol#messages li.msg").last().getAttribute("data-id");
    await reader.scrollMessages("bottom");
    await waitFor(
      async () => (await reader.page.locator("ol#messages li.msg").last().getAttribute("data-id")) !== bottom,
      { timeout: 5000, what: `newer messages than ${bottom} after scrolling to the bottom` },
    );
  }
  const max = await reader.maxMessageNodes();
  assert.ok(max > 0 && max <= MAX_NODES, `at most ${MAX_NODES} message nodes at any time (saw ${max})`);

  // The ids shown are increasing and have no duplicates.
  const shown = (await reader.messages()).map((m) => Number(m.id));
  const sorted = [...new Set(shown)].sort((a, b) => a - b);
  assert.deepEqual(shown, sorted, "messages in id order, none twice");
});

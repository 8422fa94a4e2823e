// The page reconnects by itself after the server is killed and restarted,
// fills in what it missed with nothing lost or shown twice, and keeps the
// text in the composer.

import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { suite, waitFor, shot } from "./harness.mjs";

const env = suite({ before, after, afterEach });

/** @param {import("./harness.mjs").BrowserUser} u @param {string} text */
async function countOf(u, text) {
  return (await u.messages()).filter((m) => m.text.includes(text)).length;
}

for (const kind of ["account", "guest"]) {
  test(`${kind === "account" ? "an" : "a"} ${kind} reconnects after kill -9 and restart: nothing lost or doubled, the draft kept`, async () => {
    const server = await env.server();
    const bobToken = await server.register("bob", "correct-horse-1");
    if (kind === "account") await server.register("alice", "correct-horse-1");
    const alice = await env.user(server);
    if (kind === "account") await alice.logIn("alice", "correct-horse-1");
    else await alice.joinAsGuest("alice");

    await server.say(bobToken, "#general", "before the crash 1");
    await alice.send("before the crash 2");
    await alice.waitMessage("before the crash 1", "bob");
    await alice.waitMessage("before the crash 2", "alice");

    await server.kill("SIGKILL");
    await alice.waitConn("offline", 15_000);
    const composer = alice.page.locator("textarea#composer");
    await composer.fill("a draft typed while offline");
    await shot(alice.page, `reconnect-offline-${kind}`);

    await server.restart();
    // Others talk right after the restart: before or after the page is back.
    const during = ["after the restart 1", "after the restart 2", "after the restart 3"];
    for (const t of during) await server.say(bobToken, "#general", t);

    await alice.waitConn("online", 30_000);
    for (const t of during) await alice.waitMessage(t, "bob", 15_000);
    await server.say(bobToken, "#general", "live after reconnect");
    await alice.waitMessage("live after reconnect", "bob");

    for (const t of ["before the crash 1", "before the crash 2", ...during, "live after reconnect"]) {
      assert.equal(await countOf(alice, t), 1, `${JSON.stringify(t)} shows exactly once`);
    }
    const ids = (await alice.messages()).map((m) => m.id);
    assert.equal(new Set(ids).size, ids.length, `no message id twice: ${ids.join(",")}`);
    assert.equal(await composer.inputValue(), "a draft typed while offline", "the draft survives the reconnect");

    // The draft can be sent now.
    await composer.press("Enter");
    await alice.waitMessage("a draft typed while offline", "alice");
    await waitFor(async () => (await composer.inputValue()) === "", { what: "the composer to clear" });
  });
}

// Hostile names, topics and messages are shown as inert text: no script
// runs, no element is made from user text, `javascript:` is never a link,
// and right-to-left overrides cannot spill into the rest of the page.

import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { suite, LineClient, waitFor, shot } from "./harness.mjs";

const env = suite({ before, after, afterEach });

const RLO = "\u202E";
const evilRoom = "#<img_src=x_onerror=alert('room')>";
const evilTopic = `<img src=x onerror=alert('topic')> <script>alert('topic')</script> ${RLO}cipot javascript:alert('topic')`;
const evilTexts = [
  "<script>alert('msg')</script>",
  "<img src=x onerror=alert('img')>",
  "javascript:alert('link')",
  "[click me](javascript:alert('md'))",
  "<a href=\"javascript:alert('a')\">a link</a>",
  `invoice${RLO}gpj.exe is fine`,
  "<svg onload=alert('svg')></svg><iframe src=javascript:alert('if')></iframe>",
  "&lt;b&gt;entities stay&lt;/b&gt; &amp;",
];

test("hostile text is inert: names, topics, rooms and messages", async () => {
  const server = await env.server();
  // The telnet user comes first, so it runs #general and may set its topic.
  const tel = await LineClient.connect(server, "evil`[x]|^");
  tel.send(`/topic ${evilTopic}`);
  await tel.waitLine(/topic/i);

  const web = await env.user(server);
  await web.joinAsGuest("victim");
  await web.page.waitForSelector("#topic");
  await waitFor(async () => (await web.page.textContent("#topic"))?.includes("onerror=alert('topic')"), {
    what: "the topic as text",
  });

  for (const t of evilTexts) tel.send(t);
  tel.send(`/me <img src=x onerror=alert('me')> ${RLO}sevaw`);
  tel.send("/msg @victim <script>alert('private')</script>");
  for (const t of evilTexts) await web.waitMessage(t, "evil`[x]|^");

  // The browser user joins a room with a hostile name from the dialog.
  await web.joinRoom(evilRoom);
  await web.send("<b>bold?</b> in an evil room");
  await web.waitMessage("<b>bold?</b> in an evil room", "victim");

  // The private conversation from the hostile name exists and shows its text.
  await web.buffer("evil`[x]|^").waitFor();
  await web.openBuffer("evil`[x]|^");
  await web.waitMessage("<script>alert('private')</script>");
  await web.openBuffer("#general");
  await web.waitMessage("<script>alert('msg')</script>");
  await shot(web.page, "xss-general");

  const page = web.page;
  // Nothing made from user text.
  const report = await page.evaluate(() => {
    const scripts = [...document.scripts].filter((s) => !/^\/assets\//.test(s.getAttribute("src") ?? "")).map((s) => s.outerHTML);
    const imgX = document.querySelectorAll('img[src="x"], img[onerror], svg[onload], iframe').length;
    const jsLinks = [...document.querySelectorAll("a[href]")]
      .filter((a) => /** @type {HTMLAnchorElement} */ (a).protocol.toLowerCase() === "javascript:")
      .map((a) => a.outerHTML);
    const bold = document.querySelectorAll("ol#messages b").length;
    const handlers = [...document.querySelectorAll("*")].filter((el) =>
      [...el.attributes].some((a) => a.name.startsWith("on")),
    ).map((el) => el.outerHTML.slice(0, 120));
    return { scripts, imgX, jsLinks, bold, handlers };
  });
  assert.deepEqual(report.scripts, [], "no script element but the page's own");
  assert.equal(report.imgX, 0, "no img/svg/iframe made from user text");
  assert.deepEqual(report.jsLinks, [], "no javascript: link");
  assert.equal(report.bold, 0, "no <b> made from user text");
  assert.deepEqual(report.handlers, [], "no inline event handler attribute anywhere");

  // The texts are shown literally.
  const shown = (await web.messages()).map((m) => m.text);
  for (const t of evilTexts) {
    assert.ok(shown.some((s) => s.includes(t)), `${JSON.stringify(t)} is shown as text: ${JSON.stringify(shown)}`);
  }
  const jsText = web.message("javascript:alert('link')");
  assert.equal(await jsText.locator("a").count(), 0, "javascript: text is not a link");

  // A right-to-left override stays inside its message: the message text is
  // bidi-isolated, and the names beside it are not reordered.
  const rlo = web.message("gpj.exe");
  const bidi = await rlo.locator(".text").first().evaluate((el) => {
    for (let e = /** @type {Element|null} */ (el); e && !e.matches("li"); e = e.parentElement) {
      const u = getComputedStyle(e).unicodeBidi;
      if (/isolate|plaintext/.test(u) || e.tagName === "BDI") return u || "bdi";
    }
    // The override itself may have been neutralised (removed or shown visibly).
    return el.textContent?.includes("\u202E") ? "" : "stripped";
  });
  assert.ok(bidi, "a message with U+202E is bidi-isolated (unicode-bidi isolate/plaintext, <bdi>, or the override removed)");
  const topicBidi = await page.locator("#topic").evaluate((el) => {
    for (let e = /** @type {Element|null} */ (el); e; e = e.parentElement) {
      const u = getComputedStyle(e).unicodeBidi;
      if (/isolate|plaintext/.test(u) || e.tagName === "BDI") return true;
      if (e === el && el.querySelector("bdi, [dir]")) return true;
    }
    return !el.textContent?.includes("\u202E");
  });
  assert.ok(topicBidi, "the topic with U+202E is bidi-isolated");

  // Give any deferred handler (img error events, timers) a chance to fire:
  // a round trip through the server, then check for dialogs.
  await web.send("last one");
  await web.waitMessage("last one", "victim");
  assert.deepEqual(web.dialogs, [], "no dialog fired");
  assert.deepEqual(web.errors, [], "no page error");
});

// Measures the browser client's budgets (issue 11) against the real server
// and headless Chromium, and prints them. A script, not a test: numbers to
// read and write down in the docs, no pass or fail.
//
//   node scripts/budget.mjs [--messages 10000] [--idle 30] [--pages 20]
//
// Needs the debug binary (cargo build -p confab) and /usr/bin/chromium.
// - bytes of JS and CSS the page loaded (uncompressed bodies of its responses)
// - li.msg nodes after opening a room with --messages messages of history,
//   after paging back --pages times, and after scrolling back to the bottom
// - JS heap (CDP Performance.getMetrics, after a forced GC) right after
//   opening and after --idle seconds of doing nothing
import { parseArgs } from "node:util";
import { Server, launchBrowser, newUser, cleanupAll, waitFor } from "../tests/harness.mjs";

const { values: opts } = parseArgs({
  options: {
    messages: { type: "string", default: "10000" },
    idle: { type: "string", default: "30" },
    pages: { type: "string", default: "20" },
  },
});
const N = Number(opts.messages);
const IDLE = Number(opts.idle);
const PAGES = Number(opts.pages);

/** @type {Array<[string, string]>} */
const rows = [];
const row = (what, value) => {
  rows.push([what, String(value)]);
  console.error(`  ${what}: ${value}`);
};
const kb = (n) => `${(n / 1024).toFixed(1)} KB (${n} bytes)`;
const mb = (n) => `${(n / 1024 / 1024).toFixed(2)} MB`;

try {
  // Seeding keeps many requests in flight from one address: the server's
  // default sniff timeout (300 ms, not the tests' 50 ms, so that a busy
  // client's fresh connection is not taken for a silent telnet user) and
  // room for the connections.
  const server = await Server.start({
    env: { CONFAB_LIMITS__SNIFF_TIMEOUT_MS: "300", CONFAB_LIMITS__MAX_CONNECTIONS_PER_IP: "1000" },
  });
  const token = await server.register("seeder", "correct-horse-1");
  const t0 = Date.now();
  console.error(`seeding #general with ${N} messages over REST…`);
  const ids = await server.seed(token, "#general", N, (i) => `budget message ${i} — some ordinary chat text of a typical length`, 16);
  const newest = Math.max(...ids);
  console.error(`  seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const browser = await launchBrowser();
  const user = await newUser(browser, server);
  const page = user.page;
  /** @type {Map<string, number>} */
  const assets = new Map();
  const pending = [];
  page.on("response", (res) => {
    const type = res.request().resourceType();
    if (type !== "script" && type !== "stylesheet") return;
    pending.push(
      res
        .body()
        .then((b) => assets.set(res.url(), b.length))
        .catch(() => {}),
    );
  });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Performance.enable");
  const heap = async () => {
    await cdp.send("HeapProfiler.collectGarbage");
    const { metrics } = await cdp.send("Performance.getMetrics");
    const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
    return { used: m.JSHeapUsedSize, total: m.JSHeapTotalSize, nodes: m.Nodes, listeners: m.JSEventListeners };
  };
  const msgCount = () => page.locator("ol#messages li.msg").count();

  await user.joinAsGuest("budget");
  await page.locator(`ol#messages li.msg[data-id="${newest}"]`).waitFor();
  await Promise.all(pending);
  const total = [...assets.values()].reduce((a, b) => a + b, 0);
  row("JS + CSS loaded", kb(total));
  for (const [url, n] of [...assets].sort((a, b) => b[1] - a[1])) console.error(`    ${new URL(url).pathname}: ${n}`);
  row("li.msg after open", await msgCount());

  // Page back: scroll to the top, wait for older messages, PAGES times.
  // (A small scroll down first, so each scroll to the top is a scroll event.)
  let paged = 0;
  for (; paged < PAGES; paged++) {
    const first = await page.locator("ol#messages li.msg").first().getAttribute("data-id");
    await page.evaluate(() => {
      const s = document.querySelector("ol#messages")?.closest(".scroller, [class*=scroll]") ?? document.scrollingElement;
      if (s && s.scrollTop === 0) s.scrollTop = 50;
    });
    await user.scrollMessages("top");
    const ok = await waitFor(
      async () => (await page.locator("ol#messages li.msg").first().getAttribute("data-id")) !== first,
      { timeout: 5000 },
    ).catch(() => false);
    if (!ok) break;
  }
  row(`li.msg after paging back ${paged} times`, await msgCount());
  const firstShown = await page.locator("ol#messages li.msg").first().getAttribute("data-id");
  row("oldest id shown after paging back", firstShown);

  // Back to the bottom.
  const downEnd = Date.now() + 60_000;
  let most = 0;
  while ((await page.locator(`ol#messages li.msg[data-id="${newest}"]`).count()) === 0 && Date.now() < downEnd) {
    most = Math.max(most, await msgCount());
    const last = await page.locator("ol#messages li.msg").last().getAttribute("data-id");
    await user.scrollMessages("bottom");
    await waitFor(
      async () => (await page.locator("ol#messages li.msg").last().getAttribute("data-id")) !== last,
      { timeout: 5000 },
    ).catch(() => {});
  }
  const atBottom = (await page.locator(`ol#messages li.msg[data-id="${newest}"]`).count()) > 0;
  row("li.msg after scrolling to the bottom", `${await msgCount()}${atBottom ? "" : " (newest not reached!)"}`);
  row("most li.msg on the way down", Math.max(most, await msgCount()));

  const h0 = await heap();
  row("JS heap used at t0 (after GC)", mb(h0.used));
  row("DOM nodes at t0", h0.nodes);
  console.error(`idling ${IDLE} s…`);
  await new Promise((r) => setTimeout(r, IDLE * 1000));
  const h1 = await heap();
  row(`JS heap used after ${IDLE} s idle (after GC)`, `${mb(h1.used)} (${h1.used >= h0.used ? "+" : ""}${((h1.used - h0.used) / 1024).toFixed(1)} KB)`);
  row(`DOM nodes after ${IDLE} s idle`, h1.nodes);
  row("event listeners t0 → idle", `${h0.listeners} → ${h1.listeners}`);

  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(`\nconfab web client budgets (${N} messages in #general)\n`);
  console.log(`| ${"measure".padEnd(w)} | value |`);
  console.log(`|${"-".repeat(w + 2)}|-------|`);
  for (const [k, v] of rows) console.log(`| ${k.padEnd(w)} | ${v} |`);
  user.assertClean();
} finally {
  await cleanupAll();
}

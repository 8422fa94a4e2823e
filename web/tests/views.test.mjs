// The login view and the main chat view at desktop and phone width, light
// and dark: no serious or critical axe-core violations, and screenshots in
// web/test-output/ to look at.

import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { suite, LineClient, axeViolations, shot, onScreen, reachable, DESKTOP, PHONE } from "./harness.mjs";

const env = suite({ before, after, afterEach });

test("login and chat views: axe finds nothing serious, screenshots written", async () => {
  const server = await env.server();
  // Something to look at: a topic, a few messages, a private conversation, another room.
  const ann = await LineClient.connect(server, "ann");
  ann.send("/topic Welcome to #general — be kind; the weekly call is on Thursday");
  await ann.waitLine(/Thursday/);
  ann.send("Good morning! Has anyone tried the new build?");
  ann.send("/me is making coffee");
  ann.send("A link for the notes: http://127.0.0.1/notes and a long line that should wrap nicely on a phone screen without overflowing the viewport at all");
  await ann.waitLine(/overflowing/);

  const problems = [];
  for (const [width, viewport] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    for (const scheme of /** @type {const} */ (["light", "dark"])) {
      const tag = `${width}-${scheme}`;
      const u = await env.user(server, { viewport, colorScheme: scheme });
      await u.open();
      await shot(u.page, `login-${tag}`);
      for (const v of await axeViolations(u.page)) problems.push(`login ${tag}: ${v}`);

      // Errors show in role=alert: a name taken by someone online.
      const form = u.loginForm();
      await form.getByLabel("Name", { exact: true }).fill("ann");
      await form.getByRole("button", { name: "Join as guest" }).click();
      await u.page.getByRole("alert").filter({ hasText: /\S/ }).first().waitFor();
      await shot(u.page, `login-error-${tag}`);

      const name = `viewer${width[0]}${scheme[0]}`;
      await u.joinAsGuest(name);
      await u.waitMessage("making coffee").catch(() => u.waitMessage("overflowing"));
      await u.waitMessage("overflowing", "ann");
      ann.send(`/msg @${name} hello ${name}, a private word`);
      await u.buffer("ann").waitFor({ state: "attached" });
      if (width === "desktop") await u.page.locator('aside[aria-label="Members"] li[data-nick="ann"]').waitFor();
      await shot(u.page, `main-${tag}`);
      for (const v of await axeViolations(u.page)) problems.push(`main ${tag}: ${v}`);
      if (width === "phone") {
        // A closed off-canvas panel must not be in the tab order or read out.
        for (const [what, loc] of [
          ["the Conversations panel", u.buffer("#general")],
          ["the Members panel", u.page.locator('aside[aria-label="Members"] li[data-nick="ann"]')],
        ]) {
          if ((await loc.count()) > 0 && !(await onScreen(loc)) && (await reachable(loc))) {
            problems.push(`main ${tag}: ${what} is closed (off screen) but still reachable by keyboard and screen readers (use visibility:hidden or inert when closed)`);
          }
        }
        // The panels a phone opens over the conversation.
        try {
          await u.page.getByRole("button", { name: "Conversations" }).click();
          await u.buffer("#general").waitFor();
          await shot(u.page, `main-${tag}-conversations`);
          for (const v of await axeViolations(u.page)) problems.push(`conversations ${tag}: ${v}`);
          await u.page.keyboard.press("Escape");
        } catch (e) {
          problems.push(`conversations panel ${tag}: ${String(e).split("\n")[0]}`);
        }
        try {
          await u.page.getByRole("button", { name: /^Members/ }).click();
          await u.page.locator('aside[aria-label="Members"] li[data-nick="ann"]').waitFor();
          await shot(u.page, `main-${tag}-members`);
          for (const v of await axeViolations(u.page)) problems.push(`members ${tag}: ${v}`);
          // The panel covers the header on a phone: it has its own close button.
          await u.page.locator('aside[aria-label="Members"]').getByRole("button", { name: /close/i }).click();
          await u.page.locator('aside[aria-label="Members"] li[data-nick="ann"]').waitFor({ state: "hidden" });
        } catch (e) {
          problems.push(`members panel ${tag}: ${String(e).slice(0, 1500)}`);
        }
      }

      // No horizontal overflow at this width.
      const overflow = await u.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      if (overflow > 0) problems.push(`main ${tag}: the page scrolls sideways by ${overflow}px`);

      // The join dialog.
      try {
        const open = u.page.getByRole("button", { name: "Join a room" });
        if (!(await onScreen(open))) await u.page.getByRole("button", { name: "Conversations" }).click();
        await open.click();
        await u.page.getByLabel("Room name").waitFor();
        await shot(u.page, `join-dialog-${tag}`);
        for (const v of await axeViolations(u.page)) problems.push(`join dialog ${tag}: ${v}`);
        await u.page.keyboard.press("Escape");
      } catch (e) {
        problems.push(`join dialog ${tag}: ${String(e).slice(0, 1200)}`);
      }
      await u.context.close();
      env.users.splice(env.users.indexOf(u), 1);
      u.assertClean();
    }
  }
  assert.deepEqual(problems, [], `accessibility problems:\n${problems.join("\n")}`);
});

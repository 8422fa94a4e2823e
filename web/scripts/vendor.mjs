// Copies the browser client's libraries from node_modules (installed from the
// npm registry by `npm ci`) into client/vendor/, the only change being the
// bare import specifier "preact" in hooks, which the browser cannot resolve
// without an import map (an inline script, which the page's CSP forbids).
//
//   node scripts/vendor.mjs          write client/vendor/
//   node scripts/vendor.mjs --check  exit 1 when client/vendor/ differs
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const nm = join(root, "node_modules");
const out = join(root, "client", "vendor");

/** @type {Array<[string, string, (s: string) => string]>} */
const files = [
  ["preact/dist/preact.module.js", "preact.js", stripMap],
  ["preact/hooks/dist/hooks.module.js", "hooks.js", (s) => stripMap(s).replaceAll('from"preact"', 'from"./preact.js"')],
  ["htm/dist/htm.module.js", "htm.js", stripMap],
  ["preact/LICENSE", "LICENSE.preact", (s) => s],
  ["htm/LICENSE", "LICENSE.htm", (s) => s],
];

/** @param {string} s */
function stripMap(s) {
  return s.replace(/\n?\/\/# sourceMappingURL=.*\s*$/, "\n");
}

const check = process.argv.includes("--check");
let stale = 0;
for (const [from, to, edit] of files) {
  const want = edit(readFileSync(join(nm, from), "utf8"));
  const path = join(out, to);
  if (check) {
    if (!existsSync(path) || readFileSync(path, "utf8") !== want) {
      console.error(`client/vendor/${to} is not ${from} from node_modules: run node scripts/vendor.mjs`);
      stale++;
    }
  } else {
    writeFileSync(path, want);
  }
}
process.exit(stale ? 1 : 0);

// Pure helpers that turn what the server sends into what the page shows:
// links and upload references found in a text, IRC formatting removed,
// a stable colour per nick, times and days in the reader's locale.
// Nothing here touches the DOM; user text only ever becomes text nodes or
// attribute values set by Preact, never markup.

/** @typedef {{kind: "text", text: string} | {kind: "link", text: string, href: string} | {kind: "upload", href: string, id: string}} Piece */

/** Where the server serves uploads; a link there is a file shared in chat. */
const UPLOAD_PATH = /^\/api\/v1\/uploads\/([0-9a-f]{32})$/;

// A URL: http(s) with something after the scheme, or a bare upload path
// (what the server appends when `http.public_url` is not set).
const LINK = /\bhttps?:\/\/[^\s<>"'`]+|(?<![\w/])\/api\/v1\/uploads\/[0-9a-f]{32}\b/g;

// IRC formatting: bold, italics, underline, strike, monospace, reverse,
// reset, and colours with their digits. Shown as plain text on the web.
const IRC_FORMAT = /\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]/g;

/**
 * Removes IRC formatting codes.
 * @param {string} text
 */
export function stripFormatting(text) {
  return text.replace(IRC_FORMAT, "");
}

/**
 * Splits a message's text into plain runs, links and shared uploads.
 * Only http and https become links, so `javascript:` stays text.
 * @param {string} text
 * @returns {Piece[]}
 */
export function pieces(text) {
  const clean = stripFormatting(text);
  /** @type {Piece[]} */
  const out = [];
  let last = 0;
  for (const m of clean.matchAll(LINK)) {
    let raw = m[0];
    // Punctuation that ends a sentence is not part of the link; a closing
    // bracket is, when the link opened one.
    while (/[.,;:!?'")\]]$/.test(raw)) {
      const close = raw.at(-1);
      if (close === ")" && count(raw, "(") >= count(raw, ")")) break;
      if (close === "]" && count(raw, "[") >= count(raw, "]")) break;
      raw = raw.slice(0, -1);
    }
    const start = m.index ?? 0;
    if (start > last) out.push({ kind: "text", text: clean.slice(last, start) });
    const upload = uploadId(raw);
    if (upload) out.push({ kind: "upload", href: raw, id: upload });
    else out.push({ kind: "link", text: raw, href: raw });
    last = start + raw.length;
  }
  if (last < clean.length) out.push({ kind: "text", text: clean.slice(last) });
  return out;
}

/**
 * The id of an upload on this server that `href` points at, if it does.
 * @param {string} href
 */
export function uploadId(href) {
  try {
    const url = new URL(href, location.origin);
    if (url.origin !== location.origin) return null;
    return UPLOAD_PATH.exec(url.pathname)?.[1] ?? null;
  } catch {
    return null;
  }
}

/**
 * @param {string} s
 * @param {string} ch
 */
function count(s, ch) {
  return s.split(ch).length - 1;
}

/** How many nick colours the stylesheet defines (`.nc0` … `.nc15`). */
export const NICK_COLOURS = 16;

/**
 * A colour class for a nick: the same for the same name (in any case) on
 * every page and every reload.
 * @param {string} nick
 */
export function nickClass(nick) {
  let h = 2166136261;
  for (const ch of nick.toLowerCase()) {
    h ^= ch.codePointAt(0) ?? 0;
    h = Math.imul(h, 16777619);
  }
  return `nc${(h >>> 0) % NICK_COLOURS}`;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: "long", year: "numeric", month: "long", day: "numeric" });

/** @param {string} iso */
export function clock(iso) {
  return timeFmt.format(new Date(iso));
}

/** @param {string} iso */
export function fullTime(iso) {
  return fullFmt.format(new Date(iso));
}

/**
 * The local calendar day of a time, as a key that compares equal within a day.
 * @param {string} iso
 */
export function dayKey(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

/**
 * "Today", "Yesterday" or the date.
 * @param {string} iso
 * @param {Date} [now]
 */
export function dayLabel(iso, now = new Date()) {
  const key = dayKey(iso);
  if (key === dayKey(now.toISOString())) return "Today";
  const y = new Date(now);
  y.setDate(y.getDate() - 1);
  if (key === dayKey(y.toISOString())) return "Yesterday";
  return dayFmt.format(new Date(iso));
}

/**
 * Whether `text` mentions `nick` as a word (any case).
 * @param {string} text
 * @param {string} nick
 */
export function mentions(text, nick) {
  if (!nick) return false;
  const t = text.toLowerCase();
  const n = nick.toLowerCase();
  let at = t.indexOf(n);
  while (at >= 0) {
    const before = at === 0 ? "" : t[at - 1];
    const after = t[at + n.length] ?? "";
    if (!isNickChar(before) && !isNickChar(after)) return true;
    at = t.indexOf(n, at + 1);
  }
  return false;
}

/** @param {string} ch */
function isNickChar(ch) {
  return ch !== "" && /[\w\-\[\]\\`^{}|]/.test(ch);
}

/** @param {number} bytes */
export function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// The message view: a bounded window of one buffer's items, with day
// separators, compacted joins and parts, nick colours, `/me` actions,
// clickable links and shared files. It pages history back when scrolled to
// the top (keeping what is on screen in place) and forward when the window
// stopped short of the present; it follows new messages while at the
// bottom.

import { Component } from "../../vendor/preact.js";
import { useEffect, useLayoutEffect, useRef, useState } from "../../vendor/hooks.js";
import { html } from "./html.js";
import { clock, dayKey, dayLabel, fullTime, nickClass, pieces } from "../format.js";
import { uploadType } from "../rest.js";

/** @typedef {import("../chat.js").Chat} Chat */
/** @typedef {import("../chat.js").Buffer} Buffer */
/** @typedef {import("../chat.js").Item} Item */
/** @typedef {import("../chat.js").MsgItem} MsgItem */
/** @typedef {import("../chat.js").EventItem} EventItem */

/** How close to an edge (px) counts as being there. */
const EDGE = 120;

/**
 * One row: a message, or a run of joins and parts. Rows never change once
 * built, so a re-render of the list only touches new ones.
 * @extends {Component<{item: Item, group?: EventItem[], onNick: (n: string) => void}>}
 */
class Row extends Component {
  /** @param {{item: Item, group?: EventItem[]}} next */
  shouldComponentUpdate(next) {
    return next.item !== this.props.item || next.group?.length !== this.props.group?.length;
  }

  render() {
    const { item, group, onNick } = this.props;
    if (item.type === "event") {
      const text = group && group.length > 1 ? compact(group) : item.text;
      return html`<li class=${`event ev-${item.what}`} data-key=${item.key}>
        <time datetime=${item.time} title=${fullTime(item.time)}>${clock(item.time)}</time>
        <span class="event-text">${text}</span>
      </li>`;
    }
    const { m, self, highlight } = item;
    const cls = `msg kind-${m.kind}${self ? " self" : ""}${highlight ? " highlight" : ""}`;
    const nick = html`<button type="button" class=${`nick ${nickClass(m.from)}`} onClick=${() => onNick(m.from)} title=${`Talk privately with ${m.from}`}>${m.from}</button>`;
    return html`<li class=${cls} data-id=${m.id} data-key=${item.key}>
      <time datetime=${m.time} title=${fullTime(m.time)}>${clock(m.time)}</time>
      ${m.kind === "action" ? html`<span class="action-mark" aria-hidden="true">*</span> ${nick} ` : m.kind === "notice" ? html`<span class="notice-mark">−${nick}−</span> ` : nick}
      <span class="text">${pieces(m.text).map((p, i) =>
        p.kind === "text" ? p.text : p.kind === "link" ? html`<a key=${i} href=${p.href} target="_blank" rel="noopener noreferrer">${p.text}</a>` : html`<${Upload} key=${i} href=${p.href} id=${p.id} />`,
      )}</span>
      ${m.offline ? html`<span class="tag">kept while you were away</span>` : null}
    </li>`;
  }
}

/**
 * "alice, bob joined · carol left" for a run of joins, parts and quits.
 * @param {EventItem[]} group
 */
function compact(group) {
  /** @type {Record<string, string[]>} */
  const by = {};
  for (const e of group) {
    const verb = e.what === "join" ? "joined" : e.what === "nick" ? "changed their name" : "left";
    const list = (by[verb] ??= []);
    if (e.nick && !list.includes(e.nick)) list.push(e.nick);
  }
  return Object.entries(by)
    .map(([verb, nicks]) => `${nicks.length > 4 ? `${nicks.slice(0, 4).join(", ")} and ${nicks.length - 4} more` : nicks.join(", ")} ${verb}`)
    .join(" · ");
}

/**
 * A file shared in chat: an image inline, anything else a download link.
 * @param {{href: string, id: string}} props
 */
function Upload({ href, id }) {
  const [type, setType] = useState(/** @type {string | null} */ (null));
  useEffect(() => {
    let live = true;
    uploadType(href, id).then((t) => live && setType(t));
    return () => {
      live = false;
    };
  }, [id]);
  if (type && /^image\/(png|jpeg|gif|webp)/.test(type)) {
    return html`<a class="upload" href=${href} target="_blank" rel="noopener noreferrer">
      <img class="upload-image" src=${href} alt="an image shared in chat" loading="lazy" />
    </a>`;
  }
  return html`<a class="upload-file" href=${href} target="_blank" rel="noopener noreferrer" download>
    <svg aria-hidden="true" viewBox="0 0 24 24" width="16" height="16"><path d="M12 4v11m0 0-4.5-4.5M12 15l4.5-4.5M5 19h14" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/></svg>
    ${type === "missing" ? "a file that is gone" : "download the file"}</a>`;
}

/**
 * Groups consecutive joins/parts/quits into one row and puts a day line
 * before the first item of each day.
 * Also puts a "new messages" line before the first message after `newSince`.
 * @param {Item[]} items
 * @param {number} newSince
 * @returns {Array<{kind: "day" | "new", key: string, label: string} | {kind: "row", key: string, item: Item, group?: EventItem[]}>}
 */
function layout(items, newSince) {
  /** @type {Array<{kind: "day" | "new", key: string, label: string} | {kind: "row", key: string, item: Item, group?: EventItem[]}>} */
  const rows = [];
  let marked = false;
  let day = "";
  /** @type {EventItem[] | null} */
  let run = null;
  const now = new Date();
  for (const it of items) {
    const time = it.type === "msg" ? it.m.time : it.time;
    const d = dayKey(time);
    if (d !== day) {
      day = d;
      run = null;
      rows.push({ kind: "day", key: `d${d}-${it.key}`, label: dayLabel(time, now) });
    }
    if (!marked && it.type === "msg" && !it.self && it.m.id > newSince) {
      marked = true;
      run = null;
      rows.push({ kind: "new", key: "new", label: "New messages" });
    }
    const joinish = it.type === "event" && (it.what === "join" || it.what === "part" || it.what === "quit" || it.what === "nick");
    if (joinish && run) {
      run.push(/** @type {EventItem} */ (it));
      continue;
    }
    if (joinish) {
      run = [/** @type {EventItem} */ (it)];
      rows.push({ kind: "row", key: it.key, item: it, group: run });
    } else {
      run = null;
      rows.push({ kind: "row", key: it.key, item: it });
    }
  }
  return rows;
}

/**
 * @param {{chat: Chat, buffer: Buffer}} props
 */
export function MessageList({ chat, buffer }) {
  const ref = useRef(/** @type {HTMLDivElement | null} */ (null));
  /** What was on screen before a render that prepends: its element and offset. */
  const anchor = useRef(/** @type {{id: string, top: number} | null} */ (null));
  const first = buffer.items[0]?.key;
  const count = buffer.items.length;

  // Before the DOM changes, remember the first visible row when history is
  // about to be prepended; after, put it back where it was.
  const el = ref.current;
  if (el && !buffer.following) {
    // Day lines move when older messages of the same day arrive, so only
    // messages and events anchor.
    const rows = el.querySelectorAll("li.msg, li.event");
    for (const r of rows) {
      const top = /** @type {HTMLElement} */ (r).offsetTop - el.scrollTop;
      if (top >= 0) {
        anchor.current = { id: /** @type {HTMLElement} */ (r).dataset.key ?? "", top };
        break;
      }
    }
  }

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (buffer.following) {
      el.scrollTop = el.scrollHeight;
    } else if (anchor.current) {
      const row = /** @type {HTMLElement | null} */ (el.querySelector(`li[data-key="${CSS.escape(anchor.current.id)}"]`));
      if (row) el.scrollTop = row.offsetTop - anchor.current.top;
    }
    anchor.current = null;
    // A short window may not fill the view: nothing to scroll, so load more.
    if (el.scrollHeight <= el.clientHeight + EDGE && buffer.hasOlder && !buffer.loading) chat.older(buffer);
    if (buffer.following) chat.sawLatest();
  }, [buffer, first, count, buffer.loading]);

  // A conversation opens at its newest message, which counts as read:
  // without a scroll (a short conversation has nothing to scroll) no scroll
  // event would say so.
  useEffect(() => {
    buffer.following = true;
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
    chat.sawLatest();
  }, [buffer]);

  const onScroll = () => {
    const el = ref.current;
    if (!el) return;
    const bottom = el.scrollHeight - el.scrollTop - el.clientHeight < 4;
    buffer.following = bottom && buffer.atLatest;
    if (el.scrollTop < EDGE) chat.older(buffer);
    if (el.scrollHeight - el.scrollTop - el.clientHeight < EDGE && !buffer.atLatest) chat.newer(buffer);
    if (buffer.following) chat.sawLatest();
  };

  const rows = layout(buffer.items, buffer.newSince);
  const onNick = (/** @type {string} */ n) => {
    if (n.toLowerCase() !== chat.me.toLowerCase()) chat.startPrivate(n);
  };
  return html`<div class="scroller" ref=${ref} onScroll=${onScroll}>
    ${buffer.hasOlder
      ? html`<p class="paging">${buffer.loading ? "Loading earlier messages…" : html`<button type="button" class="link" onClick=${() => chat.older(buffer)}>Load earlier messages</button>`}</p>`
      : html`<p class="paging">${buffer.kind === "room" ? `This is the start of ${buffer.name}.` : `This is the start of your conversation with ${buffer.name}.`}</p>`}
    <ol id="messages" aria-label=${`Messages in ${buffer.name}`}>
      ${rows.map((r) =>
        r.kind !== "row"
          ? html`<li key=${r.key} class=${r.kind} data-key=${r.key}><span>${r.label}</span></li>`
          : html`<${Row} key=${r.key} item=${r.item} group=${r.group} onNick=${onNick} />`,
      )}
    </ol>
    ${!buffer.atLatest
      ? html`<button type="button" class="jump" onClick=${() => chat.latest()}>${buffer.unread ? `${buffer.unread} new — ` : ""}Jump to the latest messages</button>`
      : null}
  </div>`;
}

// The input box: Enter sends, Shift+Enter starts a new line (each line
// goes out as its own message, on every door), `/` runs a command, Tab
// completes nicks, rooms and commands, Up and Down walk the input history.
// Nothing typed is lost: each conversation keeps its draft (also across a
// reload, in this tab), a message that cannot be sent stays in the box,
// and a refused one comes back to it.

import { useEffect, useRef, useState } from "../../vendor/hooks.js";
import { html } from "./html.js";
import { COMMAND_NAMES, run } from "../commands.js";
import { RequestError } from "../conn.js";

/** @typedef {import("../chat.js").Chat} Chat */
/** @typedef {import("../chat.js").Buffer} Buffer */

const TYPING_EVERY_MS = 3000;
const HISTORY = 100;

/** @type {string[]} */
const sent = [];

/** @param {string} key */
const draftKey = (key) => `confab.draft.${key}`;

/**
 * @param {{chat: Chat, buffer: Buffer, onFiles: (files: File[]) => void, canUpload: boolean}} props
 */
export function Composer({ chat, buffer, onFiles, canUpload }) {
  const [text, setText] = useState(() => sessionStorage.getItem(draftKey(buffer.key)) ?? "");
  const [note, setNote] = useState(/** @type {string | null} */ (null));
  const [completion, setCompletion] = useState(/** @type {{list: string[], at: number, start: number, end: number} | null} */ (null));
  const ref = useRef(/** @type {HTMLTextAreaElement | null} */ (null));
  const typingSent = useRef(0);
  const historyAt = useRef(-1);
  const savedDraft = useRef("");

  // Each conversation has its own draft.
  useEffect(() => {
    setText(sessionStorage.getItem(draftKey(buffer.key)) ?? "");
    setNote(null);
    setCompletion(null);
    historyAt.current = -1;
    if (matchMedia("(pointer: fine)").matches) ref.current?.focus();
  }, [buffer.key]);

  // Back online: the warning about being offline no longer holds.
  useEffect(() => {
    if (chat.conn === "online") setNote((n) => (n?.startsWith("Not connected") ? null : n));
  }, [chat.conn]);

  useEffect(() => {
    if (text) sessionStorage.setItem(draftKey(buffer.key), text);
    else sessionStorage.removeItem(draftKey(buffer.key));
    grow();
  }, [text, buffer.key]);

  const grow = () => {
    const el = ref.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 200)}px`;
  };

  /** @param {string} value */
  const typed = (value) => {
    setText(value);
    setCompletion(null);
    const active = value.trim() !== "" && !value.startsWith("/");
    const now = Date.now();
    if (active && now - typingSent.current > TYPING_EVERY_MS) {
      typingSent.current = now;
      chat.typing(buffer.name, true);
    } else if (!active && typingSent.current) {
      typingSent.current = 0;
      chat.typing(buffer.name, false);
    }
  };

  const submit = async () => {
    const value = text;
    if (!value.trim()) return;
    if (chat.conn !== "online") {
      setNote("Not connected: your message stays here and can be sent once the connection is back.");
      return;
    }
    if (sent[sent.length - 1] !== value) sent.push(value);
    if (sent.length > HISTORY) sent.shift();
    historyAt.current = -1;
    setText("");
    setNote(null);
    if (typingSent.current) {
      typingSent.current = 0;
      chat.typing(buffer.name, false);
    }
    /** @type {string[]} */
    let unsent = [];
    const command = value.startsWith("/") && !value.startsWith("//");
    try {
      if (command) {
        unsent = [value];
        await run(chat, value);
      } else {
        // One message per line, in order; blank lines are skipped.
        const lines = value.split("\n").filter((l) => l.trim() !== "");
        for (let i = 0; i < lines.length; i++) {
          unsent = lines.slice(i);
          await chat.send(buffer.name, lines[i]);
        }
      }
    } catch (e) {
      // Refused or not sent: the text goes back into the box, unless the
      // user has already typed something new.
      const back = unsent.join("\n");
      setText((cur) => (cur ? cur : back));
      const why = e instanceof Error ? e.message : String(e);
      if (e instanceof RequestError && e.code === "disconnected") {
        setNote("Not sent: the connection dropped. Your message is back in the box.");
      } else if (command) {
        // A command's refusal is an answer like its other answers: a line
        // in the conversation (the command stays in the box to fix).
        chat.say("error", why);
      } else {
        setNote(`Not sent: ${why}`);
      }
    }
  };

  /** @param {KeyboardEvent} e */
  const onKey = (e) => {
    const el = /** @type {HTMLTextAreaElement} */ (e.currentTarget);
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
      return;
    }
    if (e.key === "Tab" && !e.altKey && !e.ctrlKey && !e.metaKey) {
      if (complete(el, e.shiftKey ? -1 : 1)) e.preventDefault();
      return;
    }
    if (e.key === "Escape" && completion) {
      setCompletion(null);
      return;
    }
    // Up walks back through what was sent: from an empty box, from the
    // start of the text, or while a recalled line is shown unchanged. The
    // draft that was in the box comes back after the newest entry.
    const walking = historyAt.current >= 0 && el.value === sent[historyAt.current];
    const collapsed = el.selectionStart === el.selectionEnd;
    if (e.key === "ArrowUp" && sent.length && collapsed && (el.value === "" || walking || el.selectionStart === 0)) {
      e.preventDefault();
      if (historyAt.current < 0) savedDraft.current = el.value;
      const at = historyAt.current < 0 ? sent.length - 1 : Math.max(0, historyAt.current - 1);
      historyAt.current = at;
      setText(sent[at]);
      return;
    }
    if (e.key === "ArrowDown" && historyAt.current >= 0 && collapsed && (walking || el.selectionStart === el.value.length)) {
      e.preventDefault();
      const at = historyAt.current + 1;
      historyAt.current = at < sent.length ? at : -1;
      setText(at < sent.length ? sent[at] : savedDraft.current);
    }
  };

  /**
   * Completes the word before the caret; Tab again cycles.
   * @param {HTMLTextAreaElement} el
   * @param {number} step
   */
  const complete = (el, step) => {
    let c = completion;
    if (!c) {
      const caret = el.selectionStart;
      const before = el.value.slice(0, caret);
      const start = before.search(/\S*$/);
      const word = before.slice(start);
      if (!word) return false;
      const list = candidates(word, start === 0);
      if (!list.length) return false;
      c = { list, at: step > 0 ? 0 : list.length - 1, start, end: caret };
    } else {
      c = { ...c, at: (c.at + step + c.list.length) % c.list.length };
    }
    const pick = c.list[c.at];
    const value = el.value;
    const next = value.slice(0, c.start) + pick + value.slice(c.end);
    const caret = c.start + pick.length;
    // The box and its caret change now, not on a later frame: a caret set
    // late would undo a selection the user made meanwhile (Tab, then
    // Ctrl+A, Backspace would delete one character). The render that
    // follows finds the value already there and leaves the caret alone.
    el.value = next;
    el.setSelectionRange(caret, caret);
    setText(next);
    setCompletion({ ...c, end: caret });
    return true;
  };

  /**
   * @param {string} word
   * @param {boolean} atStart
   */
  const candidates = (word, atStart) => {
    const w = word.toLowerCase();
    if (atStart && w.startsWith("/")) return COMMAND_NAMES.filter((n) => n.startsWith(w.slice(1))).map((n) => `/${n} `);
    if (w.startsWith("#")) return [...chat.buffers.values()].filter((b) => b.kind === "room" && b.key.startsWith(w)).map((b) => `${b.name} `);
    const bare = w.replace(/^@/, "");
    const nicks = new Set([...buffer.members.values()].map((m) => m.nick));
    for (const b of chat.buffers.values()) if (b.kind === "private") nicks.add(b.name);
    nicks.delete(chat.me);
    const at = w.startsWith("@") ? "@" : "";
    return [...nicks]
      .filter((n) => n.toLowerCase().startsWith(bare))
      .sort((a, b) => a.localeCompare(b))
      .map((n) => `${at}${n}${atStart && !at ? ": " : " "}`);
  };

  /** @param {ClipboardEvent} e */
  const onPaste = (e) => {
    const files = [...(e.clipboardData?.files ?? [])];
    if (files.length) {
      e.preventDefault();
      onFiles(files);
    }
  };

  const typing = [...buffer.typing.keys()]
    .map((k) => buffer.members.get(k)?.nick ?? (buffer.kind === "private" ? buffer.name : k))
    .slice(0, 3);
  return html`<form class="composer" onSubmit=${(/** @type {Event} */ e) => (e.preventDefault(), submit())}>
    <p class="typing" aria-live="off">${typing.length ? `${typing.join(", ")} ${typing.length === 1 ? "is" : "are"} typing…` : ""}</p>
    ${completion && completion.list.length > 1
      ? html`<ul class="completions" aria-label="Completions">
          ${completion.list.slice(0, 12).map((c, i) => html`<li key=${c} class=${i === completion.at ? "on" : ""}>${c.trim()}</li>`)}
        </ul>`
      : null}
    ${note ? html`<p class="note" role="alert">${note}</p>` : null}
    <div class="input-row">
      <label class=${`attach${canUpload ? "" : " disabled"}`} title=${canUpload ? "Attach a file" : "Log in with an account to share files"}>
        <span class="sr-only">Attach a file</span>
        <svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20"><path d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/></svg>
        <input id="upload" type="file" multiple disabled=${!canUpload}
          onChange=${(/** @type {Event} */ e) => {
            const input = /** @type {HTMLInputElement} */ (e.currentTarget);
            onFiles([...(input.files ?? [])]);
            input.value = "";
          }} />
      </label>
      <textarea id="composer" ref=${ref} rows="1" value=${text} aria-label=${`Message ${buffer.name}`}
        placeholder=${`Message ${buffer.name}`} autocomplete="off" spellcheck="true"
        onInput=${(/** @type {Event} */ e) => typed(/** @type {HTMLTextAreaElement} */ (e.currentTarget).value)}
        onKeyDown=${onKey} onPaste=${onPaste}></textarea>
      <button type="submit" class="send">Send</button>
    </div>
  </form>`;
}

// The browser client's entry point: builds the chat model, draws the page
// into #app, and logs back in with what this browser remembers.

import { render } from "../vendor/preact.js";
import { html } from "./ui/html.js";
import { App } from "./ui/app.js";
import { Chat } from "./chat.js";

const chat = new Chat();
const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(html`<${App} chat=${chat} />`, root);
  chat.resumeSaved();
}

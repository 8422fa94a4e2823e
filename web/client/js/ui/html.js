// `html` tagged templates that build Preact elements (htm): JSX without a
// build step. Values interpolated into a template become text or
// attributes, never markup.
import { h } from "../../vendor/preact.js";
import htm from "../../vendor/htm.js";

export const html = htm.bind(h);

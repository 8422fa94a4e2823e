// The REST calls the page makes (docs/rest.md): logging in for a token,
// logging it out, uploading a file, and asking what type an upload is.

/** A refused REST call: its status and the server's code and message. */
export class HttpError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * `fetch`, tried a second time when the network fails before any answer
 * (a dropped connection, a server restarting): every call here is safe to
 * repeat.
 * @param {string} url
 * @param {RequestInit} init
 */
async function call(url, init) {
  try {
    return await fetch(url, init);
  } catch {
    await new Promise((r) => setTimeout(r, 300));
    return fetch(url, init);
  }
}

/**
 * @param {Response} res
 * @returns {Promise<any>}
 */
async function json(res) {
  /** @type {any} */
  let body = null;
  try {
    body = await res.json();
  } catch {
    // An answer without JSON (a proxy's error page): the status says enough.
  }
  if (!res.ok) {
    const err = body?.error;
    throw new HttpError(res.status, err?.code ?? "http", err?.message ?? `the server answered ${res.status}`);
  }
  return body;
}

/**
 * `POST /api/v1/login`: a token for an account.
 * @param {string} name
 * @param {string} password
 * @returns {Promise<{token: string, name: string, expires_at: string}>}
 */
export async function login(name, password) {
  const res = await call("/api/v1/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name, password }),
  });
  return json(res);
}

/**
 * `POST /api/v1/logout`: the token stops working on the server, so a copy
 * left anywhere (another tab, a backup of the browser profile) is useless.
 * @param {string} token
 */
export async function logout(token) {
  const res = await call("/api/v1/logout", {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
  });
  if (!res.ok && res.status !== 401) await json(res);
}

/**
 * `POST /api/v1/uploads`: stores a file; resolves to its id and link.
 * @param {string} token
 * @param {File} file
 * @returns {Promise<{id: string, name: string, content_type: string, size: number, url: string}>}
 */
export async function upload(token, file) {
  const res = await call(`/api/v1/uploads?name=${encodeURIComponent(file.name || "file")}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": file.type || "application/octet-stream" },
    body: file,
  });
  return json(res);
}

/** @type {Map<string, Promise<string>>} */
const kinds = new Map();

/**
 * The type the server serves upload `id` as (a HEAD request, asked once per
 * id), so images show inline and other files as links without downloading
 * them.
 * @param {string} href
 * @param {string} id
 * @returns {Promise<string>}
 */
export function uploadType(href, id) {
  let p = kinds.get(id);
  if (!p) {
    p = call(href, { method: "HEAD" }).then(
      (res) => (res.ok ? (res.headers.get("Content-Type") ?? "") : "missing"),
      () => "",
    );
    kinds.set(id, p);
  }
  return p;
}

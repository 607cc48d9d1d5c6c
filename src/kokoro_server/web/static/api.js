// The server's /v1 API, as the page uses it: the same endpoints any OpenAI-style client calls.

const ROOT = new URL("../", document.baseURI); // the page lives at /web/; the API at /v1/
const KEY_STORAGE = "kokoro-server.api-key";

/** An error answer of the API: OpenAI's {"error": {message, type, param, code}} plus the HTTP status. */
export class ApiError extends Error {
  constructor(status, { message, param = null, code = null, type = null } = {}) {
    super(message || `the server answered with status ${status}`);
    this.status = status;
    this.param = param;
    this.code = code;
    this.type = type;
  }
}

export function apiUrl(path) {
  return new URL(path.replace(/^\//, ""), ROOT).href;
}

export function savedApiKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return "";
  }
}

export function saveApiKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    /* private mode: the key lasts for this page only */
  }
  sessionKey = key;
}

let sessionKey = savedApiKey();

/** fetch() with the API key and a JSON body; any non-2xx answer becomes an ApiError. */
export async function apiFetch(path, { json, headers, ...init } = {}) {
  const sent = new Headers(headers);
  if (sessionKey) sent.set("Authorization", `Bearer ${sessionKey}`);
  if (json !== undefined) {
    sent.set("Content-Type", "application/json");
    init.body = JSON.stringify(json);
    init.method = init.method || "POST";
  }
  let response;
  try {
    response = await fetch(apiUrl(path), { ...init, headers: sent });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { message: "The server cannot be reached. Is kokoro-server still running?" });
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function getJson(path) {
  return (await apiFetch(path)).json();
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    /* not JSON: a proxy's page, say */
  }
  const detail = body && body.error && typeof body.error === "object"
    ? body.error
    : { message: `The server answered ${response.status} ${response.statusText}.` };
  return new ApiError(response.status, detail);
}

/** A random request id (works outside secure contexts too): the server logs it and tags the synthesis. */
export function newRequestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The events of a text/event-stream response, each its parsed JSON data, as they arrive. */
export async function* serverEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart()).join("\n");
      if (data) yield JSON.parse(data);
    }
  }
}

/** The bytes of a base64 string. */
export function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

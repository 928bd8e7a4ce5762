// The server's JSON API. Every failure becomes an ApiError with a sentence a
// person can read (the server's error.message when it sent one).

const REQUEST_TIMEOUT_MS = 15000;
// What is sent counts too: a photo of a few MB over a phone's slow uplink takes longer than
// that to send. An upload gets 1 ms more for every 64 bytes (as if sent at 64 KB/s).
const UPLOAD_BYTES_PER_MS = 64;

export class ApiError extends Error {
  constructor(message, { status = 0, code = "error" } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** POST an image (Blob or File) to /api/predict; resolves to the result object. */
export async function predict(image, { filename = "frame.jpg", signal } = {}) {
  const form = new FormData();
  form.append("image", image, filename);
  const timeoutMs = REQUEST_TIMEOUT_MS + (Number(image && image.size) || 0) / UPLOAD_BYTES_PER_MS;
  return request("/api/predict", { method: "POST", body: form, signal, timeoutMs });
}

/** {emotion: {emotion, match, lift}} for every emotion. */
export async function fetchPlaylists() {
  const body = await request("/api/playlists");
  return body && typeof body.playlists === "object" && body.playlists ? body.playlists : {};
}

/** {emotion, match, lift} for one emotion. */
export async function fetchPlaylistSet(emotion) {
  return request(`/api/playlists/${encodeURIComponent(emotion)}`);
}

async function request(url, { method = "GET", body, signal, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
  const timeout = typeof AbortSignal !== "undefined" && AbortSignal.timeout
    ? AbortSignal.timeout(Math.round(timeoutMs)) : undefined;
  const combined = signal && timeout && AbortSignal.any ? AbortSignal.any([signal, timeout]) : signal || timeout;
  let response;
  try {
    response = await fetch(url, {
      method, body, signal: combined, headers: { Accept: "application/json" }, credentials: "same-origin",
    });
  } catch (error) {
    if (error && error.name === "TimeoutError") {
      throw new ApiError("The server took too long to answer.", { code: "timeout" });
    }
    if (error && error.name === "AbortError") throw error;
    throw new ApiError("Can't reach the MoodTunes server. Check your connection.", { code: "network" });
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = data && data.error && typeof data.error.message === "string" ? data.error.message : "";
    const code = data && data.error && typeof data.error.code === "string" ? data.error.code : `http_${response.status}`;
    throw new ApiError(detail ? sentence(detail) : fallbackMessage(response), { status: response.status, code });
  }
  if (data === null) throw new ApiError("The server sent an answer the page can't read.", { status: response.status });
  return data;
}

function fallbackMessage(response) {
  const known = {
    413: "The image is too large for the server.",
    415: "That file type isn't supported. Use a JPEG, PNG or WebP image.",
    503: "The server is starting up. Try again in a moment.",
  };
  return known[response.status] || `The server answered ${response.status} ${response.statusText || ""}`.trim() + ".";
}

/** "the image is too big" → "The image is too big." */
export function sentence(text) {
  const trimmed = String(text).trim();
  if (!trimmed) return trimmed;
  const first = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

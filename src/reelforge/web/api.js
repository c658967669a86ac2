// The public /v1 API, as the page uses it. Every call carries the saved key: <video>, <img> and
// EventSource cannot send an Authorization header, so artifacts are fetched as blobs and events
// are read from a fetch() body.

const KEY_STORAGE = "reelforge.apiKey";

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.param = error.param ?? null;
    this.code = error.code ?? null;
  }
}

export function savedKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export function saveKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

function headers(extra = {}) {
  const key = savedKey();
  return key ? { Authorization: `Bearer ${key}`, ...extra } : extra;
}

async function failure(response) {
  let error = { message: `${response.status} ${response.statusText}` };
  try {
    const body = await response.json();
    if (body && body.error) error = body.error;
  } catch {
    // Not JSON (a proxy's error page): the status line says enough.
  }
  return new ApiError(response.status, error);
}

async function call(method, path, { json, form, signal } = {}) {
  const init = { method, headers: headers(), signal };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form; // the browser writes the multipart boundary
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return { data: await response.json(), response };
}

export const api = {
  models: async () => (await call("GET", "/v1/models")).data.data,
  list: async ({ after, limit = 12 } = {}) => {
    const query = new URLSearchParams({ order: "desc", limit: String(limit) });
    if (after) query.set("after", after);
    return (await call("GET", `/v1/videos?${query}`)).data;
  },
  get: (id, signal) => call("GET", `/v1/videos/${encodeURIComponent(id)}`, { signal }),
  create: async (body) => (await call("POST", "/v1/videos", body instanceof FormData ? { form: body } : { json: body })).data,
  cancel: async (id) => (await call("POST", `/v1/videos/${encodeURIComponent(id)}/cancel`)).data,
  remove: async (id) => (await call("DELETE", `/v1/videos/${encodeURIComponent(id)}`)).data,
  remix: async (id, prompt) => (await call("POST", `/v1/videos/${encodeURIComponent(id)}/remix`, { json: { prompt } })).data,
  edit: async (body) => (await call("POST", "/v1/videos/edits", { json: body })).data,
  extend: async (body) => (await call("POST", "/v1/videos/extensions", { json: body })).data,

  // An artifact as a Blob: variant is video, thumbnail, gif or spritesheet.
  async content(id, variant = "video", signal) {
    const response = await fetch(`/v1/videos/${encodeURIComponent(id)}/content?variant=${variant}`,
                                 { headers: headers(), signal });
    if (!response.ok) throw await failure(response);
    return response.blob();
  },

  // The job's server-sent events, one parsed `data` object at a time, until the stream ends.
  // Returns null when the server has no stream for it (a 204: the job already finished).
  async *events(id, signal) {
    const response = await fetch(`/v1/videos/${encodeURIComponent(id)}/events`,
                                 { headers: headers({ Accept: "text/event-stream" }), signal });
    if (!response.ok) throw await failure(response);
    if (response.status === 204 || !response.body) return;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end;
        while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
          const data = frame.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart());
          if (data.length) yield JSON.parse(data.join("\n")); // keep-alive comments carry no data
        }
      }
    } finally {
      reader.cancel().catch(() => {}); // a consumer that stops early frees the connection at once
    }
  },
};

export function finished(video) {
  return video.status === "completed" || video.status === "failed";
}

export function cancelled(video) {
  return video.status === "failed" && video.error?.code === "cancelled";
}

// What a person calls the state: the OpenAI dialect shows a cancelled job as failed/cancelled.
export function statusLabel(video) {
  if (cancelled(video)) return "Cancelled";
  return { queued: "Queued", in_progress: "In progress", completed: "Completed", failed: "Failed" }[video.status]
    ?? video.status;
}

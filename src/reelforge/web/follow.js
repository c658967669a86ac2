// Following one job to its end: the event stream where the server has one, and polls otherwise,
// paced by the server's openai-poll-after-ms hint. Either way `onUpdate` sees video-like objects
// (status, progress, eta_seconds, error) and the finished Video last.

import { ApiError, api, finished } from "./api.js";

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

export async function poll(id, onUpdate, signal) {
  for (;;) {
    const { data, response } = await api.get(id, signal);
    onUpdate(data);
    if (finished(data)) return data;
    await sleep(Number(response.headers.get("openai-poll-after-ms")) || 1000, signal);
  }
}

export async function follow(id, onUpdate, signal) {
  try {
    for await (const event of api.events(id, signal)) {
      if (event.type === "video.completed" || event.type === "video.failed") {
        if (event.video) {
          onUpdate(event.video);
          return event.video;
        }
        break; // deleted since: the poll below says so
      }
      onUpdate(event);
    }
  } catch (err) {
    // A 404 is the answer (no such video); anything else (no stream behind a proxy, a dropped
    // connection) leaves polling, which every server answers.
    if (signal?.aborted || (err instanceof ApiError && err.status === 404)) throw err;
  }
  // The stream ended before the job did (the server restarted), or answered 204 (it had finished).
  return poll(id, onUpdate, signal);
}

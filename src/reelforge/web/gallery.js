// The account's videos, newest first, a page at a time, with thumbnails. Cards of unfinished
// videos are refreshed by polls (one at a time: each event stream would hold one of the
// browser's few connections to the server, and the selected video already has one).

import { ApiError, api, cancelled, finished, statusLabel } from "./api.js";

const $ = (id) => document.getElementById(id);
const PAGE = 12;
const REFRESH_MS = 1500;

export class Gallery {
  constructor(onSelect) {
    this.onSelect = onSelect;
    this.cards = new Map(); // id -> {item, video, thumb}
    this.after = null;
    this.timer = null;
    $("gallery-more").addEventListener("click", () => this.more());
  }

  clear() {
    for (const card of this.cards.values()) if (card.thumb) URL.revokeObjectURL(card.thumb);
    this.cards.clear();
    $("gallery").replaceChildren();
    $("gallery").removeAttribute("aria-busy");
    $("gallery-more").hidden = true;
    this.after = null;
  }

  async reload() {
    this.clear();
    await this.more();
  }

  async more() {
    $("gallery-error").textContent = "";
    $("gallery").setAttribute("aria-busy", "true");
    try {
      const page = await api.list({ after: this.after, limit: PAGE });
      for (const video of page.data) this.upsert(video, { append: true });
      this.after = page.last_id;
      $("gallery-more").hidden = !page.has_more;
    } catch (err) {
      $("gallery-error").textContent = err.message;
      throw err;
    } finally {
      $("gallery").removeAttribute("aria-busy");
    }
    $("gallery-empty").hidden = this.cards.size > 0;
  }

  // Adds or updates the card of `video`: new videos go first, a page's go last.
  upsert(video, { append = false } = {}) {
    let card = this.cards.get(video.id);
    if (!card) {
      const item = document.createElement("li");
      item.className = "card";
      item.dataset.id = video.id;
      item.innerHTML = `<button type="button"><span class="thumb"></span><span class="badge"></span>
        <span class="prompt"></span><span class="meta"></span></button>`;
      item.querySelector("button").addEventListener("click", () => this.onSelect(this.cards.get(video.id).video));
      card = { item, video, thumb: null };
      this.cards.set(video.id, card);
      if (append) $("gallery").append(item);
      else $("gallery").prepend(item);
    }
    card.video = { ...card.video, ...video };
    this.render(card);
    $("gallery-empty").hidden = true;
    this.schedule();
  }

  // Marks the card of the video the job panel shows.
  mark(id) {
    for (const [cardId, card] of this.cards) {
      if (cardId === id) card.item.setAttribute("aria-current", "true");
      else card.item.removeAttribute("aria-current");
    }
  }

  remove(id) {
    const card = this.cards.get(id);
    if (!card) return;
    if (card.thumb) URL.revokeObjectURL(card.thumb);
    card.item.remove();
    this.cards.delete(id);
    $("gallery-empty").hidden = this.cards.size > 0;
  }

  render(card) {
    const v = card.video;
    const badge = card.item.querySelector(".badge");
    badge.textContent = v.status === "in_progress" ? `${statusLabel(v)} ${v.progress}%` : statusLabel(v);
    badge.dataset.status = cancelled(v) ? "cancelled" : v.status;
    card.item.querySelector(".prompt").textContent = v.prompt;
    card.item.querySelector(".meta").textContent = `${v.model} · ${v.size} · ${v.seconds} s`;
    if (v.status === "completed" && !card.thumb) this.thumbnail(card);
  }

  async thumbnail(card) {
    card.thumb = "loading";
    try {
      const blob = await api.content(card.video.id, "thumbnail");
      if (this.cards.get(card.video.id) !== card) return;
      card.thumb = URL.createObjectURL(blob);
      const img = document.createElement("img");
      img.alt = "";
      img.src = card.thumb;
      card.item.querySelector(".thumb").replaceChildren(img);
    } catch {
      card.thumb = null; // an expired artifact: the card says completed, with no picture
    }
  }

  schedule() {
    if (this.timer || ![...this.cards.values()].some((c) => !finished(c.video))) return;
    this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
  }

  async refresh() {
    for (const card of [...this.cards.values()]) {
      if (finished(card.video) || !this.cards.has(card.video.id)) continue;
      try {
        this.upsert((await api.get(card.video.id)).data);
      } catch (err) {
        // Deleted elsewhere: gone. The server briefly away: the next round tries again.
        if (err instanceof ApiError && err.status === 404) this.remove(card.video.id);
      }
    }
    this.timer = null;
    this.schedule();
  }
}

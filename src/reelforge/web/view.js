// The job panel: one video's state, progress, player, parameters and actions.

import { api, cancelled, finished, statusLabel } from "./api.js";

const $ = (id) => document.getElementById(id);

function etaText(video) {
  if (video.status === "queued") return "waiting for a worker";
  if (video.status !== "in_progress") return "";
  if (video.eta_seconds === null || video.eta_seconds === undefined) return "estimating time left";
  return video.eta_seconds < 1 ? "almost done" : `about ${video.eta_seconds} s left`;
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : "";
}

function params(video) {
  const rows = [
    ["Model", video.model],
    ["Prompt", video.prompt],
    ["Size", video.size],
    ["Length", `${video.seconds} s: ${video.num_frames} frames at ${video.fps} fps`],
    ["Steps", video.num_inference_steps],
    ["Guidance", video.guidance_scale],
    ["Seed", video.seed],
    ["Speed", video.speed],
    ["Negative prompt", video.negative_prompt],
    ["Style", video.style],
    ["Segments", video.prompts?.map((s, i) => `${i + 1}. ${s.prompt} (${s.frames} frames)`).join("\n")],
    ["Options", video.options && Object.entries(video.options).map(([k, v]) => `${k} = ${v}`).join(", ")],
    ["Input image", video.resize_method && `yes, fitted by ${video.resize_method}`],
    ["Edit strength", video.strength],
    ["Frames from the source", video.source_frames],
    ["Remix of", video.remixed_from_video_id],
    ["Adjustments", video.adjustments?.map((a) => `${a.field}: ${JSON.stringify(a.asked)} → ${JSON.stringify(a.used)} (${a.reason})`).join("\n")],
    ["Created", when(video.created_at)],
    ["Finished", when(video.completed_at)],
  ];
  return rows.filter(([, v]) => v !== null && v !== undefined && v !== "");
}

export class JobView {
  // modelOf(id): the model object from /v1/models, to offer only the actions the model can run.
  constructor(modelOf) {
    this.modelOf = modelOf;
    this.video = null;
    this.playerUrl = null;
    this.loading = null; // the id whose mp4 is being fetched
  }

  clear() {
    this.video = null;
    this.setPlayer(null);
    $("job-view").hidden = true;
    $("job-empty").hidden = false;
  }

  // A full Video object (from a create, a poll, a list or a terminal event).
  show(video) {
    const changed = this.video?.id !== video.id;
    if (changed) {
      this.setPlayer(null);
      $("action-error").textContent = "";
    }
    this.video = video;
    this.render(changed);
  }

  // A stream event: the parts of the Video that change while it runs.
  update(event) {
    if (!this.video || event.id !== this.video.id) return;
    const { status, progress, eta_seconds, error } = event;
    this.video = { ...this.video, status, progress, eta_seconds, error };
    this.render(false);
  }

  render(changed) {
    const v = this.video;
    $("job-empty").hidden = true;
    $("job-view").hidden = false;
    $("job-id").textContent = v.id;
    const status = $("job-status");
    status.textContent = statusLabel(v);
    status.dataset.status = cancelled(v) ? "cancelled" : v.status;
    $("job-percent").textContent = `${v.progress}%`;
    $("job-eta").textContent = etaText(v);
    $("job-progress").value = v.progress;
    $("job-error").textContent = v.status === "failed" && !cancelled(v) ? v.error?.message || "It failed." : "";
    const done = v.status === "completed";
    $("act-cancel").hidden = finished(v);
    const tasks = this.modelOf(v.model)?.tasks || [];
    for (const id of ["act-download", "act-gif", "act-remix"]) $(id).hidden = !done;
    // An extension continues the last frame through image-to-video; an edit is its own task.
    $("act-extend").hidden = !done || !tasks.includes("i2v");
    $("act-edit").hidden = !done || !tasks.includes("edit");
    $("job-params").replaceChildren(...params(v).flatMap(([k, val]) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = String(val);
      return [dt, dd];
    }));
    if (done && (changed || !this.playerUrl) && this.loading !== v.id) this.loadPlayer(v.id);
  }

  setPlayer(url) {
    const player = $("player");
    if (this.playerUrl) URL.revokeObjectURL(this.playerUrl);
    this.playerUrl = url;
    player.hidden = !url;
    if (url) {
      player.src = url;
      player.play().catch(() => {}); // a browser that refuses autoplay still shows the controls
    } else {
      player.removeAttribute("src");
      player.load();
    }
  }

  async loadPlayer(id) {
    this.loading = id;
    try {
      const blob = await api.content(id, "video");
      if (this.video?.id === id) this.setPlayer(URL.createObjectURL(blob));
    } catch (err) {
      if (this.video?.id === id) $("job-error").textContent = err.message;
    } finally {
      if (this.loading === id) this.loading = null;
    }
  }
}

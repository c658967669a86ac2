// The playground: a thin client of the public /v1 API. Jobs live in the server, so a reload, or
// closing the tab, loses nothing: the gallery lists them again and the newest is followed.

import { ApiError, api, finished, saveKey, savedKey } from "./api.js";
import { clearErrors, showError } from "./errors.js";
import { follow } from "./follow.js";
import { VideoForm } from "./form.js";
import { Gallery } from "./gallery.js";
import { JobView } from "./view.js";

const $ = (id) => document.getElementById(id);

const form = new VideoForm();
const view = new JobView((id) => form.models.find((m) => m.id === id));
const gallery = new Gallery((video) => select(video, { focus: true }));
let following = null; // {id, controller} of the video whose events the job panel shows

// An error beside the field it names; a refused key beside the key field.
function report(err, root, fallback) {
  if (err instanceof ApiError && err.status === 401) {
    $("api-key-error").textContent = err.message;
    $("api-key").focus();
    return;
  }
  if (err instanceof ApiError) showError(root, err, fallback);
  else fallback.textContent = `The server could not be reached: ${err.message}`;
}

function stopFollowing() {
  following?.controller.abort();
  following = null;
}

async function watch(id) {
  if (following?.id === id) return;
  stopFollowing();
  const mine = { id, controller: new AbortController() };
  following = mine;
  const onUpdate = (v) => {
    if (v.object === "video") {
      view.show(v);
      gallery.upsert(v);
    } else {
      view.update(v);
      const { status, progress, eta_seconds, error } = v;
      if (gallery.cards.has(v.id)) gallery.upsert({ id: v.id, status, progress, eta_seconds, error });
    }
  };
  try {
    await follow(id, onUpdate, mine.controller.signal);
  } catch (err) {
    if (!mine.controller.signal.aborted) report(err, $("job"), $("action-error"));
  } finally {
    if (following === mine) following = null;
  }
}

function select(video, { focus = false } = {}) {
  view.show(video);
  gallery.mark(video.id);
  if (finished(video)) stopFollowing();
  else watch(video.id);
  if (focus) $("job-title").focus(); // on a phone the panel is above the gallery, out of sight
}

async function start() {
  stopFollowing();
  $("api-key").value = savedKey();
  clearErrors($("key-form"));
  $("form-error").textContent = "";
  try {
    form.setModels(await api.models());
    await gallery.reload();
  } catch (err) {
    // Nothing another key showed stays on screen.
    form.setModels([]);
    gallery.clear();
    view.clear();
    report(err, $("video-form"), $("form-error"));
    return;
  }
  const newest = gallery.cards.values().next().value;
  if (newest) select(newest.video);
  else view.clear();
}

// --- the key ---

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  saveKey($("api-key").value.trim());
  start();
});
$("api-key-forget").addEventListener("click", () => {
  saveKey("");
  start();
});

// --- create ---

form.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form.form);
  const button = $("generate");
  button.disabled = true;
  try {
    const video = await api.create(form.body());
    gallery.upsert(video);
    select(video);
  } catch (err) {
    report(err, form.form, $("form-error"));
  } finally {
    button.disabled = false;
  }
});

// --- actions on the shown video ---

async function act(work) {
  $("action-error").textContent = "";
  try {
    await work(view.video);
  } catch (err) {
    report(err, $("job"), $("action-error"));
  }
}

async function download(video, variant, ext) {
  const url = URL.createObjectURL(await api.content(video.id, variant));
  const link = document.createElement("a");
  link.href = url;
  link.download = `${video.id}.${ext}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000); // the download has its own copy by then
}

$("act-cancel").addEventListener("click", () => act(async (v) => {
  const video = await api.cancel(v.id);
  view.show(video);
  gallery.upsert(video);
}));
$("act-download").addEventListener("click", () => act((v) => download(v, "video", "mp4")));
$("act-gif").addEventListener("click", () => act((v) => download(v, "gif", "gif")));
$("act-reuse").addEventListener("click", () => form.fill(view.video));

// Delete asks twice, in place: a modal confirm() would be one more thing to dismiss.
const deleteButton = $("act-delete");
let armed = null;
deleteButton.addEventListener("click", () => act(async (v) => {
  if (armed !== v.id) {
    armed = v.id;
    deleteButton.textContent = "Press again to delete";
    setTimeout(() => {
      armed = null;
      deleteButton.textContent = "Delete";
    }, 4000);
    return;
  }
  armed = null;
  deleteButton.textContent = "Delete";
  await api.remove(v.id);
  if (following?.id === v.id) stopFollowing();
  gallery.remove(v.id);
  view.clear();
  $("gallery-title").focus();
}));

// --- remix, extend and edit: one dialog, three requests ---

const derive = { dialog: $("derive"), form: $("derive-form"), kind: null };
const KINDS = {
  remix: { title: "Remix", help: "The same settings with a new prompt.",
           run: (v, f) => api.remix(v.id, f.prompt) },
  extend: { title: "Extend", help: "More seconds after the last frame; the result is the whole clip.",
            run: (v, f) => api.extend({ video: { id: v.id }, prompt: f.prompt, seconds: f.seconds }) },
  edit: { title: "Edit", help: "The same clip, redrawn to a new prompt.",
          run: (v, f) => api.edit({ video: { id: v.id }, prompt: f.prompt, ...(f.strength === undefined ? {} : { strength: f.strength }) }) },
};

function openDerive(kind) {
  const spec = KINDS[kind];
  derive.kind = kind;
  clearErrors(derive.form);
  $("derive-title").textContent = `${spec.title} ${view.video.id}`;
  $("derive-help").textContent = spec.help;
  $("derive-prompt").value = view.video.prompt;
  $("derive-seconds-field").hidden = kind !== "extend";
  $("derive-strength-field").hidden = kind !== "edit";
  const strength = view.modelOf(view.video.model)?.options.find((o) => o.name === "strength");
  $("derive-strength").placeholder = strength ? String(strength.default) : "";
  $("derive-strength-help").textContent = strength ? `${strength.help} (${strength.min} to ${strength.max})` : "";
  derive.dialog.showModal();
  $("derive-prompt").focus();
}

for (const kind of Object.keys(KINDS)) $(`act-${kind}`).addEventListener("click", () => openDerive(kind));
$("derive-close").addEventListener("click", () => derive.dialog.close());
derive.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(derive.form);
  const number = (id) => ($(id).value === "" ? undefined : Number($(id).value));
  const fields = { prompt: $("derive-prompt").value, seconds: number("derive-seconds"), strength: number("derive-strength") };
  try {
    const video = await KINDS[derive.kind].run(view.video, fields);
    derive.dialog.close();
    gallery.upsert(video);
    select(video);
  } catch (err) {
    report(err, derive.form, $("derive-error"));
  }
});

start();

// The create form: it follows the chosen model's menus and limits (from /v1/models) and turns
// into a POST /v1/videos body: JSON, or multipart when an image is attached.

const $ = (id) => document.getElementById(id);
const MAX_SEED = 4294967295;
// Only an edit uses the strength option; a create that sent it would be refused.
const EDIT_ONLY_OPTIONS = new Set(["strength"]);

function option(value, text) {
  const el = document.createElement("option");
  el.value = value;
  el.textContent = text;
  return el;
}

function setNumber(input, value) {
  input.value = value === null || value === undefined ? "" : String(value);
}

export class VideoForm {
  constructor() {
    this.form = $("video-form");
    this.models = [];
    this.images = { input_reference: null, last_frame: null };
    this.previews = { input_reference: null, last_frame: null };
    $("model").addEventListener("change", () => this.applyModel());
    $("size").addEventListener("change", () => this.fillSeconds());
    for (const radio of this.form.querySelectorAll('input[name="length_unit"]')) radio.addEventListener("change", () => this.showLength());
    $("seed-random").addEventListener("click", () => {
      $("seed").value = String(crypto.getRandomValues(new Uint32Array(1))[0] % (MAX_SEED + 1));
    });
    $("segment-add").addEventListener("click", () => this.addSegment().querySelector("textarea").focus());
    for (const name of Object.keys(this.images)) {
      $(name).addEventListener("change", () => this.setImage(name, $(name).files[0] || null));
    }
    for (const button of this.form.querySelectorAll("[data-clear]")) {
      button.addEventListener("click", () => {
        $(button.dataset.clear).value = "";
        this.setImage(button.dataset.clear, null);
        $(button.dataset.clear).focus();
      });
    }
    this.form.addEventListener("reset", () => setTimeout(() => {
      for (const name of Object.keys(this.images)) this.setImage(name, null);
      $("segments").replaceChildren();
      this.applyModel();
    }));
  }

  get model() {
    return this.models.find((m) => m.id === $("model").value) || null;
  }

  setModels(models) {
    const keep = $("model").value;
    this.models = models;
    const select = $("model");
    select.replaceChildren(...models.map((m) => {
      const bits = [m.weights.kind === "builtin" ? "built-in" : null, m.installed ? null : "not installed",
                    m.random_weights ? "random weights" : null].filter(Boolean);
      return option(m.id, bits.length ? `${m.id} (${bits.join(", ")})` : m.id);
    }));
    // The first installed model is the one a person can try at once (the built-in one comes first).
    const first = models.find((m) => m.id === keep) || models.find((m) => m.installed) || models[0];
    if (first) select.value = first.id;
    this.applyModel();
  }

  applyModel() {
    const m = this.model;
    $("model-note").textContent = "";
    if (!m) return;
    const note = [m.description];
    if (!m.installed) note.push(`Its weights are not on this server yet (the operator can run \`reelforge pull ${m.id}\`).`);
    $("model-note").textContent = note.join(" ");

    // Speed tiers: exact is plain diffusers; fast (transformer families) adds a lossy step cache.
    const speed = $("speed").value;
    const tierText = { exact: "exact (as plain diffusers)", fast: "fast (step cache, lossy)" };
    $("speed").replaceChildren(...(m.speeds || ["exact"]).map((s) => option(s, tierText[s] || s)));
    $("speed").value = (m.speeds || []).includes(speed) ? speed : (m.default_speed || "exact");

    const labels = Object.fromEntries(m.pricing.map((p) => [p.size, p.resolution]));
    const size = $("size").value;
    $("size").replaceChildren(option("", "model default"), ...m.sizes.map((s) => option(s, labels[s] ? `${s} (${labels[s]})` : s)));
    if (m.sizes.includes(size)) $("size").value = size;
    this.fillSeconds();

    $("num_frames").max = String(m.max_frames);
    $("num_frames-help").textContent = `${m.frame_rule}, at most ${m.max_frames}.`;
    $("fps").placeholder = String(m.fps);
    $("num_inference_steps").placeholder = String(m.default_steps);
    $("guidance_scale").placeholder = String(m.default_guidance);

    const images = m.tasks.includes("i2v");
    $("image-box").hidden = !images;
    $("last-frame-field").hidden = !m.keyframes;
    // Prompt travel splits one clip; other image-to-video models chain one clip per segment.
    const segments = m.prompt_travel || images;
    $("segments-box").hidden = !segments;
    $("segments-help").textContent = m.prompt_travel
      ? "One prompt per stretch of frames, blended in one clip. The frames add up to the length."
      : "Each segment is rendered as its own clip, continuing the last. The frames add up to the length.";
    if (!segments) $("segments").replaceChildren();

    const options = m.options.filter((o) => !EDIT_ONLY_OPTIONS.has(o.name));
    $("options-box").hidden = options.length === 0;
    $("options").replaceChildren(...options.map((o) => {
      const field = document.createElement("div");
      field.className = "field";
      field.dataset.param = o.name;
      const id = `option-${o.name}`;
      field.innerHTML = `<label></label><input type="number"><p class="help"></p><p class="error"></p>`;
      const [label, input, help, error] = field.children;
      label.htmlFor = id;
      label.textContent = o.name;
      Object.assign(input, { id, name: o.name, min: String(o.min), max: String(o.max),
                             step: o.type === "int" ? "1" : "any", placeholder: String(o.default) });
      input.dataset.option = o.name;
      help.id = `${id}-help`;
      help.textContent = `${o.help} (${o.min} to ${o.max})`;
      error.id = `${id}-error`;
      input.setAttribute("aria-describedby", `${help.id} ${error.id}`);
      return field;
    }));
  }

  fillSeconds() {
    const m = this.model;
    if (!m) return;
    const label = m.pricing.find((p) => p.size === $("size").value)?.resolution;
    const menu = m.menus.duration;
    const allowed = (label && menu[label]) || menu["*"] || m.seconds.map(Number);
    const keep = $("seconds").value;
    $("seconds").replaceChildren(option("", "model default"), ...allowed.map((s) => option(String(s), `${s} s`)));
    if (allowed.map(String).includes(keep)) $("seconds").value = keep;
  }

  get lengthMode() {
    return this.form.elements.length_unit.value;
  }

  showLength() {
    $("seconds-field").hidden = this.lengthMode !== "seconds";
    $("frames-field").hidden = this.lengthMode !== "frames";
  }

  setImage(name, file) {
    this.images[name] = file;
    const figure = $(`${name}-preview`);
    if (this.previews[name]) URL.revokeObjectURL(this.previews[name]);
    this.previews[name] = file ? URL.createObjectURL(file) : null;
    figure.hidden = !file;
    figure.querySelector("img").src = this.previews[name] || "";
    if (!file) figure.querySelector("img").removeAttribute("src");
  }

  addSegment(prompt = "", frames = "") {
    const list = $("segments");
    const item = document.createElement("li");
    item.innerHTML = `<div class="field"><label>Prompt</label><textarea rows="2"></textarea><p class="error"></p></div>
      <div class="field"><label>Frames</label><input type="number" min="1" inputmode="numeric"><p class="error"></p></div>
      <button type="button">Remove</button>`;
    list.append(item);
    item.querySelector("button").addEventListener("click", () => {
      item.remove();
      this.numberSegments();
      $("segment-add").focus();
    });
    item.querySelector("textarea").value = prompt;
    item.querySelector("input").value = String(frames);
    this.numberSegments();
    return item;
  }

  numberSegments() {
    [...$("segments").children].forEach((item, i) => {
      const [text, frames] = item.querySelectorAll(".field");
      for (const [field, key] of [[text, "prompt"], [frames, "frames"]]) {
        field.dataset.param = `prompts[${i}].${key}`;
        const input = field.querySelector("textarea, input");
        input.id = `prompts-${i}-${key}`;
        field.querySelector("label").htmlFor = input.id;
        field.querySelector("label").textContent = `Segment ${i + 1} ${key}`;
        field.querySelector(".error").id = `${input.id}-error`;
        input.setAttribute("aria-describedby", `${input.id}-error`);
      }
      item.querySelector("button").setAttribute("aria-label", `Remove segment ${i + 1}`);
    });
  }

  // The request as plain values: {name: value}, nested objects for prompts and options.
  values() {
    const text = (id) => $(id).value.trim() || undefined;
    const number = (id) => ($(id).value === "" ? undefined : Number($(id).value));
    const body = { model: $("model").value, prompt: $("prompt").value };
    const segments = [...$("segments").children].map((item) => ({
      prompt: item.querySelector("textarea").value, frames: Number(item.querySelector("input").value),
    }));
    Object.assign(body, {
      negative_prompt: text("negative_prompt"), style: text("style"), size: text("size"),
      fps: number("fps"), num_inference_steps: number("num_inference_steps"),
      guidance_scale: number("guidance_scale"), seed: number("seed"),
      // Sent only when it is not the model's default, so a plain request stays plain.
      speed: $("speed").value && $("speed").value !== this.model?.default_speed ? $("speed").value : undefined,
    });
    if (segments.length) body.prompts = segments; // the frames of the segments are the length
    else if (this.lengthMode === "frames") body.num_frames = number("num_frames");
    else body.seconds = number("seconds");
    const options = {};
    for (const input of $("options").querySelectorAll("[data-option]")) {
      if (input.value !== "") options[input.dataset.option] = Number(input.value);
    }
    if (Object.keys(options).length) body.options = options;
    if (this.images.input_reference || this.images.last_frame) body.resize_method = text("resize_method");
    for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
    return body;
  }

  // JSON, or multipart with the images as files (nested values as bracket keys, as the SDKs send them).
  body() {
    const values = this.values();
    if (!this.images.input_reference && !this.images.last_frame) return values;
    const form = new FormData();
    for (const [key, value] of Object.entries(values)) {
      if (key === "prompts") {
        for (const s of value) {
          form.append("prompts[][prompt]", s.prompt);
          form.append("prompts[][frames]", String(s.frames));
        }
      } else if (key === "options") {
        for (const [name, v] of Object.entries(value)) form.append(`options[${name}]`, String(v));
      } else {
        form.append(key, String(value));
      }
    }
    for (const [name, file] of Object.entries(this.images)) if (file) form.append(name, file, file.name);
    return form;
  }

  // "Use these settings again": the form as it was for `video` (its images are not kept by the server).
  fill(video) {
    if (this.models.some((m) => m.id === video.model)) $("model").value = video.model;
    this.applyModel();
    $("prompt").value = video.prompt;
    $("negative_prompt").value = video.negative_prompt || "";
    $("style").value = video.style || "";
    if ((this.model?.speeds || []).includes(video.speed)) $("speed").value = video.speed;
    $("size").value = this.model?.sizes.includes(video.size) ? video.size : "";
    this.fillSeconds();
    $("segments").replaceChildren();
    for (const s of video.prompts || []) this.addSegment(s.prompt, s.frames);
    const frames = !video.prompts && video.num_frames !== video.fps * Number(video.seconds);
    this.form.elements.length_unit.value = frames ? "frames" : "seconds";
    this.showLength();
    $("seconds").value = [...$("seconds").options].some((o) => o.value === video.seconds) ? video.seconds : "";
    setNumber($("num_frames"), video.num_frames);
    setNumber($("fps"), video.fps);
    setNumber($("num_inference_steps"), video.num_inference_steps);
    setNumber($("guidance_scale"), video.guidance_scale);
    setNumber($("seed"), video.seed);
    for (const input of $("options").querySelectorAll("[data-option]")) {
      setNumber(input, video.options?.[input.dataset.option]);
    }
    $("resize_method").value = video.resize_method && video.resize_method !== "crop" ? video.resize_method : "";
    $("prompt").focus();
  }
}

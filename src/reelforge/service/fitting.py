"""Fit a request to the model that runs, and report every value that changed.

Vendor dialects ask in their vendor's vocabulary (PixVerse's "720p, 16:9, 5 s", Segmind's 14 frames,
Novita's free width and height), and a stand-in model (``service.models.serving``) was never the
model the caller's values were chosen for. Both are fitted here, each rule written once:

  size     the model's size nearest the asked frame: aspect ratio first (log space, to 0.1, so
           1280x704 counts as 16:9), then pixel count (log space);
  frames   the nearest count the model's frame rule allows, within its maximum (ties go up);
  seconds  the nearest duration the model offers at the fitted size (ties go longer);
  fps, steps, guidance, option values   clamped into the model's range;
  options  a knob the model does not have is dropped;
  seed     a seed past 2^32 - 1 (Segmind's reach 10^15) is folded into range, still reproducible;
  LoRAs    dropped on a stand-in that takes none.

Each change is an ``Adjustment`` (field as the caller named it, asked, used, why), stored on the
job and shown by every dialect. Values that cannot be fitted stay as asked, so ``build_spec``
refuses them with the usual message. A request that is not fitted (the OpenAI dialect on the
model it named) passes through unchanged: there, a value the model lacks is an error.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ..catalog import ModelEntry, parse_size
from ..jobs import Adjustment
from .specs import MAX_SEED, VideoRequest


def nearest_size(entry: ModelEntry, width: float, height: float) -> str:
    def distance(size: str) -> tuple[float, float]:
        w, h = parse_size(size)
        return round(abs(math.log(w / h / (width / height))), 1), abs(math.log(w * h / (width * height)))

    return min(entry.sizes, key=distance)


def nearest_frames(entry: ModelEntry, n: int) -> int:
    rule = entry.frame_rule
    up = rule.at_least(n)
    legal = [c for c in (up, up - rule.step) if 1 <= c <= entry.max_frames and rule.allows(c)]
    if not legal:  # past the maximum: the longest legal count
        return rule.step * ((entry.max_frames - rule.offset) // rule.step) + rule.offset
    return min(legal, key=lambda c: (abs(c - n), -c))


def offered_seconds(entry: ModelEntry, size: str) -> tuple[int, ...]:
    return tuple(entry.durations_by_resolution.get(entry.resolution_of(size) or "", entry.durations))


def nearest_seconds(entry: ModelEntry, size: str, seconds: int) -> int:
    return min(offered_seconds(entry, size), key=lambda d: (abs(d - seconds), -d))


def _ratio(label: str) -> float | None:
    w, sep, h = label.partition(":")
    try:
        return int(w) / int(h) if sep and int(w) > 0 and int(h) > 0 else None
    except ValueError:
        return None


class _Fitter:
    def __init__(self, entry: ModelEntry, req: VideoRequest, why: str):
        self.entry, self.req, self.why = entry, req, why
        self.changes: dict[str, Any] = {}
        self.adjustments: list[Adjustment] = []

    def note(self, name: str, asked: Any, used: Any, reason: str) -> None:
        self.adjustments.append(Adjustment(self.req.wire(name), asked, used, reason))

    def clamp(self, name: str, value: Any, lo: float, hi: float, what: str) -> Any:
        if value is None or lo <= value <= hi:
            return value
        used = type(value)(min(max(value, lo), hi))
        self.note(name, value, used, f"{self.why} takes {what} from {lo} to {hi}")
        return used

    # --- one method per rule -------------------------------------------------------------------

    def size(self, image_size: tuple[int, int] | None) -> str | None:
        req, entry = self.req, self.entry
        if req.resize_method == "maintain_aspect_ratio" and image_size is not None and req.size is None:
            return None  # the frame follows the image (specs.aspect_size)
        dw, dh = parse_size(entry.default_size)
        if req.size is not None:
            try:
                w, h = parse_size(req.size)
            except ValueError:
                return req.size  # malformed: build_spec names it
            if req.size in entry.sizes or w <= 0 or h <= 0:
                return req.size
            asked: Any = req.size
            used = nearest_size(entry, w, h)
        else:
            if req.aspect_ratio is not None:
                aspect, label = _ratio(req.aspect_ratio), req.aspect_ratio
            elif req.short_side is not None and image_size is not None:
                aspect, label = image_size[0] / image_size[1], f"the input image's {image_size[0]}x{image_size[1]}"
            else:
                return None
            if aspect is None:
                return None
            if req.short_side is not None:
                short = req.short_side
                w, h = (short * aspect, short) if aspect >= 1 else (short, short / aspect)
                target = f"{round(w)}x{round(h)}"
                if target in entry.sizes:
                    return target
                asked = f"{label} at {short}p ({target})"
            else:
                # A shape alone: that shape at the model's default pixel count.
                w, h = math.sqrt(dw * dh * aspect), math.sqrt(dw * dh / aspect)
                asked = label
            used = nearest_size(entry, w, h)
            uw, uh = parse_size(used)
            if req.short_side is None and req.aspect_ratio is not None and abs(uw / uh - aspect) < 1e-9:
                return used  # the exact shape asked for: nothing changed
        self.note("size", asked, used, f"{self.why} has no such size; its nearest is {used} "
                                       f"(it offers {', '.join(entry.sizes)})")
        return used

    def frames(self, size: str) -> None:
        req, entry = self.req, self.entry
        rule = entry.frame_rule
        if req.segments and not entry.prompt_travel:
            # Without prompt travel each segment is its own clip, so each must be a legal length.
            fitted = []
            for i, (prompt, n) in enumerate(req.segments):
                used = nearest_frames(entry, n) if n >= 1 and not rule.allows(n) else n
                if used != n:
                    self.note(f"segments[{i}].frames", n, used,
                              f"{self.why} renders each prompt as its own clip of {rule} frames")
                fitted.append((prompt, used))
            self.changes["segments"] = fitted
        if req.num_frames is not None:
            n = req.num_frames
            if n >= 1 and (not rule.allows(n) or n > entry.max_frames):
                used = nearest_frames(entry, n)
                self.note("num_frames", n, used, f"{self.why} makes {rule} frames, at most {entry.max_frames}")
                self.changes["num_frames"] = used
        elif req.seconds is not None and not req.segments:
            offered = offered_seconds(entry, size)
            if req.seconds not in offered:
                used = nearest_seconds(entry, size, req.seconds)
                self.note("seconds", req.seconds, used,
                          f"{self.why} offers {', '.join(map(str, offered))} seconds at {size}")
                self.changes["seconds"] = used

    def options(self) -> None:
        entry, out = self.entry, {}
        for name, value in self.req.options.items():
            spec = entry.option(name)
            if spec is None:
                have = ", ".join(o.name for o in entry.options) or "none"
                self.note(f"options.{name}", value, None, f"{self.why} has no such option (its options: {have})")
                continue
            out[name] = self.clamp(f"options.{name}", value, spec.lo, spec.hi, name)
        self.changes["options"] = out

    def seed(self) -> None:
        seed = self.req.seed
        if seed is not None and seed > MAX_SEED:
            used = seed % (MAX_SEED + 1)
            self.note("seed", seed, used, f"seeds here are 0 to {MAX_SEED}; this one is folded into that range "
                                          "(the same seed always gives the same video)")
            self.changes["seed"] = used

    def loras(self) -> None:
        if self.req.loras and not self.entry.loras:
            self.note("loras", [{"name": n, "strength": w} for n, w in self.req.loras], None,
                      f"{self.why} (family {self.entry.family}) takes no LoRAs")
            self.changes["loras"] = None


def fit(entry: ModelEntry, req: VideoRequest, *, image_size: tuple[int, int] | None = None,
        stand_in: bool = False) -> tuple[VideoRequest, list[Adjustment]]:
    """The request with its values fitted to ``entry``, and what changed. ``stand_in``: ``entry`` runs
    in place of the model the request named, so its values are fitted even on a strict dialect."""
    why = f"model '{entry.id}'" + (" (the stand-in)" if stand_in else "")
    f = _Fitter(entry, req, why)
    for name, (value, reason) in req.unsupported.items():
        f.note(name, value, None, reason)
    if not (req.fit or stand_in):
        return req, f.adjustments
    size = f.size(image_size)
    if size is not None:
        f.changes.update(size=size, aspect_ratio=None, short_side=None)
    f.frames(size or entry.default_size)
    f.changes["fps"] = f.clamp("fps", req.fps, *entry.fps_range, "fps")
    f.changes["num_inference_steps"] = f.clamp("num_inference_steps", req.num_inference_steps, 1, entry.max_steps,
                                               "denoising steps")
    f.changes["guidance_scale"] = f.clamp("guidance_scale", req.guidance_scale, *entry.guidance_range,
                                          "guidance_scale")
    f.options()
    f.seed()
    f.loras()
    return dataclasses.replace(req, **f.changes), f.adjustments

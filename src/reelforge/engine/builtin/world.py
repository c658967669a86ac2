"""The procedural world the built-in model is trained on: shapes moving on flat backgrounds.

Everything is numpy and seeded, so a training batch, an evaluation prompt set and a test
clip are all reproducible from a ``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Object colours: far apart in RGB so the judge can name a blurry blob's colour.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.9, 0.1, 0.1),
    "green": (0.1, 0.8, 0.15),
    "blue": (0.15, 0.3, 1.0),
    "yellow": (1.0, 0.9, 0.1),
    "white": (1.0, 1.0, 1.0),
    "purple": (0.6, 0.15, 0.85),
    "orange": (1.0, 0.55, 0.05),
    "cyan": (0.1, 0.9, 0.9),
}
BACKGROUNDS: dict[str, tuple[float, float, float]] = {
    "black": (0.0, 0.0, 0.0),
    "gray": (0.5, 0.5, 0.5),
    "white": (1.0, 1.0, 1.0),
    "navy": (0.05, 0.05, 0.35),
}
SHAPES = ("circle", "square", "triangle", "star")
MOTIONS = ("left", "right", "up", "down", "still")
# Unit step per frame in (x, y) image coordinates (y grows downwards).
_STEP = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1), "still": (0, 0)}

# Native clip geometry. Motion must be salient: ~2-2.6 px/frame, about half the frame over a clip.
# Objects are large (12-15 px across a 32 px frame) so that their shape survives the model's blur.
SIZE = 32
FRAMES = 8
HALF_MIN, HALF_MAX = 6.0, 7.5
SPEED_MIN, SPEED_MAX = 2.0, 2.6
# Share of clips whose start position is drawn independently of the motion (the object may then
# leave the frame). In the others the whole path stays inside the frame, which ties the start to
# the direction (a rightward object starts on the left); without free starts the model can read the
# direction off an image-to-video first frame instead of the prompt.
P_FREE_START = 0.5
_SUPERSAMPLE = 4  # anti-aliased edges: the model should learn smooth shapes, not staircase noise


@dataclass(frozen=True)
class Obj:
    colour: str
    shape: str


@dataclass(frozen=True)
class Scene:
    objects: tuple[Obj, ...]
    motion: str
    background: str


def _shape_mask(shape: str, cx: float, cy: float, half: float, size: int) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of one shape centred at (cx, cy) in pixel units."""
    out = np.zeros((size, size), np.float32)
    # Only rasterise the window around the shape: rendering is on the training hot path.
    r = int(np.ceil(half * 1.2)) + 1
    x_lo, x_hi = max(0, int(np.floor(cx)) - r), min(size, int(np.floor(cx)) + r + 1)
    y_lo, y_hi = max(0, int(np.floor(cy)) - r), min(size, int(np.floor(cy)) + r + 1)
    if x_hi <= x_lo or y_hi <= y_lo:  # entirely outside the frame (a free start that left it)
        return out
    s = _SUPERSAMPLE
    x = (np.arange(x_lo * s, x_hi * s) + 0.5)[None, :] / s - cx
    y = (np.arange(y_lo * s, y_hi * s) + 0.5)[:, None] / s - cy
    if shape == "circle":
        m = x * x + y * y <= half * half
    elif shape == "square":
        m = (np.abs(x) <= half * 0.9) & (np.abs(y) <= half * 0.9)
    elif shape == "triangle":  # apex up, base at the bottom: fills half of its bounding box
        m = (y <= half) & (y >= -half) & (np.abs(x) <= (y + half) / 2.0)
    elif shape == "star":
        m = _star(x, y, half)
    else:
        raise ValueError(shape)
    h, w = y_hi - y_lo, x_hi - x_lo
    out[y_lo:y_hi, x_lo:x_hi] = m.reshape(h, s, w, s).mean(axis=(1, 3))
    return out


def _star(x: np.ndarray, y: np.ndarray, half: float) -> np.ndarray:
    """Five-pointed star, point up; the inner radius is 0.45 of the outer one."""
    outer = half * 1.1
    ang = -np.pi / 2 + np.arange(10) * np.pi / 5
    rad = np.where(np.arange(10) % 2 == 0, outer, outer * 0.45)
    return _polygon(x, y, np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1))


def _polygon(x: np.ndarray, y: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Inside test (crossing number) for a closed polygon, vectorised over the grid."""
    xx, yy = np.broadcast_arrays(x, y)
    inside = np.zeros(xx.shape, bool)
    for (x1, y1), (x2, y2) in zip(verts, np.roll(verts, -1, axis=0)):
        crosses = (y1 > yy) != (y2 > yy)
        xint = x1 + (yy - y1) * (x2 - x1) / ((y2 - y1) if y2 != y1 else 1e-12)
        inside ^= crosses & (xx < xint)
    return inside


def render(scene: Scene, rng: np.random.Generator, size: int = SIZE, frames: int = FRAMES,
           free_start: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One clip as float32 (T, H, W, 3) in [0, 1] and its foreground coverage (T, H, W).

    ``free_start``: draw the start independently of the motion (None: with ``P_FREE_START``)."""
    if free_start is None:
        free_start = bool(rng.random() < P_FREE_START)
    scale = size / SIZE
    bg = np.asarray(BACKGROUNDS[scene.background], np.float32)
    video = np.broadcast_to(bg, (frames, size, size, 3)).copy()
    cover = np.zeros((frames, size, size), np.float32)
    step = np.asarray(_STEP[scene.motion], np.float64)
    halves = [rng.uniform(HALF_MIN, HALF_MAX) * scale for _ in scene.objects]
    lo_max = max(halves) + 0.5 * scale
    # The fastest speed that still keeps the largest object inside the frame for the whole clip.
    fit = (size - 2 * lo_max - 0.5 * scale) / (frames - 1)
    speed = 0.0 if scene.motion == "still" else min(rng.uniform(SPEED_MIN, SPEED_MAX) * scale, fit)
    travel = speed * (frames - 1)
    placed: list[tuple[float, float, float]] = []
    for obj, half in zip(scene.objects, halves):
        lo = half + 0.5 * scale
        for _ in range(100):  # rejection sampling: two objects' trajectories must not overlap
            if free_start:
                x0, y0 = lo + rng.uniform(0, size - 2 * lo), lo + rng.uniform(0, size - 2 * lo)
            else:
                x0 = lo + rng.uniform(0, size - 2 * lo - travel * abs(step[0])) + (travel if step[0] < 0 else 0)
                y0 = lo + rng.uniform(0, size - 2 * lo - travel * abs(step[1])) + (travel if step[1] < 0 else 0)
            if all(abs(x0 - px) > half + ph + scale or abs(y0 - py) > half + ph + scale for px, py, ph in placed):
                break
        placed.append((x0, y0, half))
        col = np.asarray(COLOURS[obj.colour], np.float32)
        for f in range(frames):
            m = _shape_mask(obj.shape, x0 + step[0] * speed * f, y0 + step[1] * speed * f, half, size)
            video[f] = video[f] * (1 - m[..., None]) + col * m[..., None]
            cover[f] = np.maximum(cover[f], m)
    return video, cover


def random_scene(rng: np.random.Generator, p_two: float = 0.0) -> Scene:
    """A uniformly random scene; the object colour never equals the background."""
    background = str(rng.choice(list(BACKGROUNDS)))
    allowed = [c for c in COLOURS if c != background]
    n = 2 if rng.random() < p_two else 1
    objs: list[Obj] = []
    while len(objs) < n:
        o = Obj(str(rng.choice(allowed)), str(rng.choice(SHAPES)))
        if o not in objs:
            objs.append(o)
    return Scene(tuple(objs), str(rng.choice(MOTIONS)), background)


# --- captions -------------------------------------------------------------------------------
_SHAPE_WORDS = {
    "circle": ("circle", "ball", "disc", "dot"),
    "square": ("square", "box", "block", "cube"),
    "triangle": ("triangle",),
    "star": ("star",),
}
_MOVE_WORDS = {
    "left": ("moving left", "moves left", "goes left", "slides to the left", "drifting left", "heading left", "travels leftwards"),
    "right": ("moving right", "moves right", "goes right", "slides to the right", "drifting right", "heading right", "travels rightwards"),
    "up": ("moving up", "moves up", "rises", "goes upwards", "drifting up", "floating upward", "heading up"),
    "down": ("moving down", "moves down", "falls", "goes downwards", "drifting down", "sinking downward", "heading down"),
    "still": ("standing still", "not moving", "stays still", "static", "motionless", "resting", "staying put"),
}
_BG_PHRASES = ("on a {} background", "on {}", "against a {} background", "over a {} backdrop", "on a plain {} background", "with a {} background")
_ARTICLES = ("a", "the", "one", "")
_FILLERS = ("", "", "", "small", "little", "nice", "bright", "simple")
_PREFIXES = ("", "", "", "", "a video of", "a clip of", "please render", "show me", "animation of")


def _noun_phrase(o: Obj, rng: np.random.Generator) -> str:
    words = [str(rng.choice(_ARTICLES)), str(rng.choice(_FILLERS)), o.colour, str(rng.choice(_SHAPE_WORDS[o.shape]))]
    return " ".join(w for w in words if w)


def caption(scene: Scene, rng: np.random.Generator) -> str:
    """A free phrasing of ``scene``: synonyms, articles, fillers and varied word order."""
    subject = " and ".join(_noun_phrase(o, rng) for o in scene.objects)
    move = str(rng.choice(_MOVE_WORDS[scene.motion]))
    bg = str(rng.choice(_BG_PHRASES)).format(scene.background)
    form = rng.integers(0, 5)
    if form == 0:
        text = f"{subject} {move} {bg}"
    elif form == 1:
        text = f"{bg}, {subject} {move}"
    elif form == 2:
        text = f"{subject} {bg}, {move}"
    elif form == 3:
        text = f"{scene.background} background, {subject} {move}"
    else:
        text = f"{move}: {subject} {bg}"
    prefix = str(rng.choice(_PREFIXES))
    return f"{prefix} {text}".strip()


def batch(rng: np.random.Generator, n: int, p_two: float = 0.2) -> tuple[np.ndarray, np.ndarray, list[str], list[Scene]]:
    """``n`` random clips (n, T, H, W, 3), their coverage (n, T, H, W), captions and scenes."""
    scenes = [random_scene(rng, p_two) for _ in range(n)]
    rendered = [render(s, rng) for s in scenes]
    videos = np.stack([v for v, _ in rendered])
    covers = np.stack([c for _, c in rendered])
    return videos, covers, [caption(s, rng) for s in scenes], scenes

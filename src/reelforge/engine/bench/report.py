"""A bench result: per-path medians, the ours/plain ratios, and how to print them (table or JSON)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from .measure import Run

METRICS = ("seconds_per_step", "seconds_per_video", "peak_bytes")
BASELINE = "plain"


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


@dataclass
class BenchReport:
    info: dict[str, Any]
    runs: dict[str, list[Run]] = field(default_factory=dict)

    def medians(self) -> dict[str, dict[str, float | None]]:
        return {path: {m: _median([getattr(r, m) for r in runs]) for m in METRICS} for path, runs in self.runs.items()}

    def ratios(self) -> dict[str, float | None]:
        """ours / plain per metric: above 1 means our path costs more."""
        med = self.medians()
        ours, plain = med["ours"], med[BASELINE]
        return {m: (ours[m] / plain[m] if ours[m] is not None and plain[m] else None) for m in METRICS}

    def to_json(self) -> dict[str, Any]:
        info = dict(self.info)
        if info.get("psnr_db") == float("inf"):  # JSON has no infinity
            info.update(psnr_db=None, bit_identical=True)
        elif "psnr_db" in info:
            info["bit_identical"] = False
        return {
            **info,
            "medians": self.medians(),
            "ratio": self.ratios(),
            "runs": {path: [vars(r) for r in runs] for path, runs in self.runs.items()},
        }

    def table(self) -> str:
        i = self.info
        lines = [
            f"reelforge bench: {i['model']} ({i['family']}, {i['weights']} weights) on {i['device']} {i['dtype']}, "
            f"built in {i['build_seconds']:.1f}s",
            f"request: {i['width']}x{i['height']}, {i['frames']} frames, {i['steps']} steps, guidance {i['guidance']:g}, "
            f"seed {i['seed']}; warm-up + {i['repeats']} alternating runs per path, medians",
            *([f"speed tier: {i['tier']} ({_applied(i['applied'])}); PSNR ours vs plain on the same seed: "
               f"{_db(i['psnr_db'])}"] if "tier" in i else []),
            "",
            f"{'path':<8}{'s/step':>12}{'s/video':>12}{'peak memory':>16}",
        ]
        for path, med in self.medians().items():
            lines.append(f"{path:<8}{_seconds(med['seconds_per_step']):>12}{_seconds(med['seconds_per_video']):>12}"
                         f"{_bytes(med['peak_bytes']):>16}")
        r = self.ratios()
        lines.append(f"{'ratio':<8}{_ratio(r['seconds_per_step']):>12}{_ratio(r['seconds_per_video']):>12}"
                     f"{_ratio(r['peak_bytes']):>16}   (ours / {BASELINE})")
        lines += [
            "",
            "ours:  the production adapter's generate(), with our progress callback",
            f"{BASELINE}: the same pipeline objects called directly; its only addition is a step callback "
            "that records the time",
            "s/step: mean of steps 2..N from the step-callback timestamps",
            f"memory: {i['memory']}",
        ]
        return "\n".join(lines)


def _seconds(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def _bytes(v: float | None) -> str:
    return "-" if v is None else f"{v / 2**20:,.1f} MiB"


def _ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}x"


def _applied(applied: dict) -> str:
    shown = {k: v for k, v in applied.items() if k != "speed"}
    return ", ".join(f"{k}: {v}" for k, v in shown.items()) or "nothing: plain diffusers"


def _db(v: float) -> str:
    return "inf dB (bit-identical)" if v == float("inf") else f"{v:.1f} dB"


def tier_summary(reports: list[BenchReport]) -> str:
    """One line per family for ``reelforge bench --tier`` over several models: the tier's time per
    video against plain diffusers, as a ratio and a speed-up, and its PSNR."""
    lines = [f"{'family':<12}{'model':<20}{'tier':<7}{'s/video ratio':>14}{'speed-up':>10}{'PSNR':>12}"]
    for r in reports:
        ratio, db = r.ratios()["seconds_per_video"], r.info["psnr_db"]
        lines.append(f"{r.info['family']:<12}{r.info['model']:<20}{r.info['tier']:<7}{ratio:>13.3f}x{1 / ratio:>9.2f}x"
                     f"{'inf' if db == float('inf') else f'{db:.1f}':>9} dB")
    return "\n".join(lines)

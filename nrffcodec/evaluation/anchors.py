"""The baselines of a sweep: which codecs at which presets, and the CRFs each is run at.

`--baseline-preset` takes CODEC=PRESET (repeatable: `svtav1=0 --baseline-preset svtav1=4` gives two
curves) or a bare PRESET for x264 and x265, as before SVT-AV1 joined. Without one, SVT-AV1 runs at
the preset nrff codes its own keyframes at (core.keyframes.svt_av1_preset): the curve nrff falls back to.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.keyframes import svt_av1_preset
from ..errors import InputError
from .baselines import Codec, X26x
from .points import PointRunner
from .svtav1 import SvtAv1, canonical_preset, is_preset

BASELINES = ("x264", "x265", "svtav1")
DEFAULT_PRESETS = {"x264": ("medium",), "x265": ("medium",)}  # SVT-AV1's follows nrff's: svt_av1_preset
X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
# CRF search: start at the codec's crf_start, step 4 (about 0.6x rate per step) until the curve spans
# nrff's bpp and PSNR range at both ends (within the codec's crf_range), then fill to MIN_POINTS.
CRF_STEP, MIN_POINTS = 4, 4
DEFAULT_CRFS = {"x264": (22, 27, 32, 37), "x265": (22, 27, 32, 37), "svtav1": (30, 38, 46, 54)}
METRICS = ("psnr_rgb", "psnr_yuv")


def parse_presets(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """['svtav1=4', 'slow'] -> (('svtav1', '4'), ('x264', 'slow'), ('x265', 'slow'))."""
    pairs: list[tuple[str, str]] = []
    for value in values:
        codec, sep, preset = value.partition("=")
        if not sep:
            pairs += [("x264", value), ("x265", value)]
        else:
            pairs.append((codec.strip(), preset.strip()))
    for codec, preset in pairs:
        if codec not in BASELINES:
            raise InputError(f"--baseline-preset: unknown codec {codec!r} (one of {', '.join(BASELINES)})")
        if codec == "svtav1" and not is_preset(preset):
            raise InputError(f"--baseline-preset: SVT-AV1 presets are -1..13, got {preset!r}")
        if codec != "svtav1" and preset not in X26X_PRESETS:
            raise InputError(f"--baseline-preset: {codec} presets are {', '.join(X26X_PRESETS)}; got {preset!r}")
    return tuple((c, canonical_preset(p) if c == "svtav1" else p) for c, p in pairs)


def make_baselines(
    names: Sequence[str],
    presets: Sequence[tuple[str, str]],
    crfs: Sequence[int] | None = None,
    nrff_preset: str = "medium",
) -> list[Codec]:
    """One codec per (name, preset): the presets given for a name, else its default (SVT-AV1's:
    svt_av1_preset(nrff_preset), the keyframe codec alone at nrff's own effort)."""
    unknown = [b for b in names if b not in BASELINES]
    if unknown:
        raise InputError(f"--baselines must be among {', '.join(BASELINES)}, got {', '.join(unknown)}")
    codecs: list[Codec] = []
    for name in names:
        default = (svt_av1_preset(nrff_preset),) if name == "svtav1" else DEFAULT_PRESETS[name]
        chosen = tuple(dict.fromkeys(p for c, p in presets if c == name)) or default
        codecs += [SvtAv1(p) if name == "svtav1" else X26x(name, p) for p in chosen]
    for codec in codecs:
        low, high = codec.crf_limits
        if crfs is not None and not all(low <= c <= high for c in crfs):
            raise InputError(f"--crfs must be {low}..{high} for {codec.name}, got {list(crfs)}")
    return codecs


def _covers(low: dict, high: dict, target: Sequence[dict]) -> tuple[bool, bool]:
    """Does a baseline reach at least as low (low-rate end) and as high as every target point,
    in bpp and in each PSNR?"""
    keys = ("bpp",) + METRICS
    low_ok = all(low[k] <= min(p[k] for p in target) for k in keys)
    high_ok = all(high[k] >= max(p[k] for p in target) for k in keys)
    return low_ok, high_ok


def crf_sweep(runner: PointRunner, codec: Codec, target: Sequence[dict]) -> list[dict]:
    """Points at CRFs chosen so the curve spans `target`'s (nrff's) bpp and PSNR range."""
    done: dict[int, dict] = {}
    low_crf, high_crf = codec.crf_range
    done[codec.crf_start] = runner.run(codec, codec.crf_start)
    while True:
        low_ok, high_ok = _covers(done[max(done)], done[min(done)], target)
        if not low_ok and max(done) < high_crf:
            crf = min(high_crf, max(done) + CRF_STEP)
        elif not high_ok and min(done) > low_crf:
            crf = max(low_crf, min(done) - CRF_STEP)
        else:
            break
        done[crf] = runner.run(codec, crf)
    while len(done) < MIN_POINTS:
        crfs = sorted(done)
        gaps = [(b - a, a, b) for a, b in zip(crfs, crfs[1:]) if b - a > 1]
        if not gaps:
            edge = crfs[-1] + 1 if crfs[-1] < high_crf else crfs[0] - 1
            done[edge] = runner.run(codec, edge)
            continue
        _, a, b = max(gaps)
        done[(a + b) // 2] = runner.run(codec, (a + b) // 2)
    return [done[c] for c in sorted(done)]

"""Sweep points: one (codec, setting) encoded, decoded and scored, kept in DIR/points.jsonl for reuse."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from ..core.video import Video
from ..media.files import atomic_output
from .baselines import Codec, Coded
from .metrics import measure, ms_ssim_rgb, ms_ssim_window

Log = Callable[[str], None]


@dataclasses.dataclass
class Clip:
    """The source every codec sees, and its identity for reuse."""

    name: str
    video: Video
    sha256: str

    @classmethod
    def of(cls, name: str, video: Video) -> Clip:
        return cls(name, video, video.content_sha256())

    @property
    def frames(self) -> tuple[int, int]:
        return self.video.first_frame, self.video.first_frame + self.video.frame_count

    def describe(self) -> dict:
        v = self.video
        return {
            "name": self.name,
            "width": v.width,
            "height": v.height,
            "frames": list(self.frames),
            "fps": f"{v.fps.numerator}/{v.fps.denominator}",
            "source_sha256": self.sha256,
            "ms_ssim_window": ms_ssim_window(v.height, v.width),
        }


def point_key(codec: Codec, setting: int, clip: Clip) -> str:
    return json.dumps({**codec.config(setting), "frames": list(clip.frames), "source": clip.sha256}, sort_keys=True)


def score(clip: Clip, codec: Codec, setting: int, coded: Coded) -> dict:
    """One result row: bytes of what was decoded, and every metric on the decoded frames."""
    v = clip.video
    quality = measure(v, coded.decoded)
    ms_ssim = ms_ssim_rgb(v, coded.decoded)
    return {
        "label": codec.label,
        "codec": codec.name,
        "preset": codec.preset,
        "setting_name": codec.setting_name,
        "setting": setting,
        "first_frame": clip.frames[0],
        "frames": v.frame_count,
        "width": v.width,
        "height": v.height,
        "bytes": len(coded.data),
        "bpp": 8.0 * len(coded.data) / (v.width * v.height * v.frame_count),
        **{k: val for k, val in quality.as_dict().items() if k != "frames"},
        "ms_ssim_rgb": None if ms_ssim is None else round(ms_ssim, 6),
        "encode_s": round(coded.encode_s, 3),
        "decode_s": round(coded.decode_s, 4),
        "versions": coded.versions,
        "detail": coded.detail,
    }


class PointStore:
    """DIR/points.jsonl: every finished point, one JSON object a line, the latest per key wins."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.points: dict[str, dict] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                    self.points[entry["key"]] = entry["point"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by an interrupted run

    def add(self, key: str, point: dict) -> None:
        self.points[key] = point
        with open(self.path, "a") as out:
            out.write(json.dumps({"key": key, "point": point}) + "\n")


def describe_point(point: dict) -> str:
    ms = "" if point["ms_ssim_rgb"] is None else f", MS-SSIM {point['ms_ssim_rgb']:.4f}"
    return (
        f"{point['codec']} {point['setting_name']} {point['setting']}: {point['bytes']:,} B, "
        f"{point['bpp']:.4f} bpp, PSNR-RGB {point['psnr_rgb']:.2f} dB, PSNR-YUV {point['psnr_yuv']:.2f} dB{ms} "
        f"(encode {point['encode_s']:.1f} s, decode {point['decode_s']:.2f} s)"
    )


class PointRunner:
    """Runs or reuses points of one clip and logs one line per point."""

    def __init__(self, clip: Clip, store: PointStore, force: bool, log: Log) -> None:
        self.clip, self.store, self.force, self.log = clip, store, force, log
        self.count = 0

    def keep_stream(self, key: str, data: bytes) -> str:
        """Write a point's stream under DIR/streams (compare.png decodes it again); its path relative to DIR."""
        name = f"streams/{hashlib.sha256(key.encode()).hexdigest()[:20]}.bin"
        path = self.store.path.parent / name
        path.parent.mkdir(exist_ok=True)
        with atomic_output(path) as tmp:
            tmp.write_bytes(data)
        return name

    def run(self, codec: Codec, setting: int) -> dict:
        key = point_key(codec, setting, self.clip)
        self.count += 1
        point = None if self.force else self.store.points.get(key)
        if point is not None:
            self.log(f"[{self.count}] reused {describe_point(point)}")
            return {**point, "reused": True}
        self.log(f"[{self.count}] {codec.name} {codec.setting_name} {setting} ...")
        coded = codec.code(self.clip.video, setting)
        point = score(self.clip, codec, setting, coded)
        point["stream"] = self.keep_stream(key, coded.data if coded.stored is None else coded.stored)
        self.store.add(key, point)
        self.log(f"[{self.count}] {describe_point(point)}")
        return {**point, "reused": False}

"""What an encode reports: its file's bytes and where they went, its quality measured on the decoded
file, and its times."""

from __future__ import annotations

import dataclasses

from ..core.quality import Quality


@dataclasses.dataclass(frozen=True)
class EncodeReport:
    """What an encode produced, measured on the decoded file."""

    bytes: int
    bpp: float
    quality: Quality
    width: int
    height: int
    frames: int
    gops: int
    gop_length: int  # --gop, or the pilot's choice
    keyframe_qp: int  # in the keyframe codec's own scale
    keyframe_bytes: int
    network_bytes: int
    container_bytes: int
    seconds: float
    pilot_seconds: float  # choosing the GOP length (next to nothing with --gop)
    train_seconds: float
    device: str
    notes: list[str]
    target_bytes: int | None = None  # --bitrate: the most video bytes the file could have
    min_psnr: float | None = None  # --min-psnr: the least PSNR-YUV it could have
    min_psnr_rgb: float | None = None  # --min-psnr-rgb: the least PSNR-RGB it could have
    # --bitrate, --min-psnr(-rgb): (keyframe QP, video bytes, PSNR-YUV, PSNR-RGB) of each trial encode, in order
    rate_trials: tuple[tuple[int, int, float, float], ...] = ()

    def as_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["quality"] = self.quality.as_dict()
        return out

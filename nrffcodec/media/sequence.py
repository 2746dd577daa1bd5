"""A folder of numbered images (frame_000000.png, ...) as a video: the pattern FFmpeg's image2
demuxer reads, found and checked first, so that a gap or a second sequence is one clear line
instead of a clip that silently stops early."""

from __future__ import annotations

import collections
import dataclasses
import os
import re
from fractions import Fraction
from pathlib import Path

from ..errors import InputError

# Still-image formats FFmpeg decodes; nrff decode writes png.
IMAGE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "ppm", "pgm"})
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<digits>\d+)\.(?P<ext>[A-Za-z]+)$")


@dataclasses.dataclass(frozen=True)
class ImageSequence:
    """Images `prefix` + number + `.ext` in `folder`, numbered from `first` without a gap."""

    folder: Path
    prefix: str
    ext: str
    width: int  # the numbers' least width: zero-padded to it
    first: int
    count: int

    def name(self, number: int) -> str:
        return f"{self.prefix}{number:0{self.width}d}.{self.ext}"

    @property
    def pattern(self) -> str:
        """The sequence as image2 reads it: `folder/prefix%0Nd.ext` (a % in the prefix doubled)."""
        return str(self.folder / f"{self.prefix.replace('%', '%%')}%0{self.width}d.{self.ext}")

    def open_options(self, fps: Fraction) -> dict[str, str]:
        return {"start_number": str(self.first), "framerate": f"{fps.numerator}/{fps.denominator}"}


def find_image_sequence(folder: Path) -> ImageSequence:
    """The one numbered image sequence in `folder`; InputError (one line) for none, several, a gap,
    or numbers padded to different widths."""
    groups: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    with os.scandir(folder) as entries:
        for entry in entries:
            match = _NUMBERED.match(entry.name)
            if match and not entry.name.startswith(".") and match["ext"].lower() in IMAGE_EXTENSIONS:
                groups[(match["prefix"], match["ext"])].append(match["digits"])
    if not groups:
        raise InputError(
            f"input is a folder without numbered images ({', '.join(sorted(IMAGE_EXTENSIONS))}, "
            f"named like frame_000000.png): {folder}"
        )
    if len(groups) > 1:
        kinds = ", ".join(sorted(f"{prefix}N.{ext} ({len(d)})" for (prefix, ext), d in groups.items()))
        raise InputError(f"the folder {folder} holds more than one image sequence: {kinds}; give a folder of one")
    (prefix, ext), digits = next(iter(groups.items()))
    numbers = sorted(int(d) for d in digits)
    width = min(len(d) for d in digits)
    sequence = ImageSequence(folder, prefix, ext, width, numbers[0], len(numbers))
    if odd := next((d for d in sorted(digits) if sequence.name(int(d)) != f"{prefix}{d}.{ext}"), None):
        raise InputError(
            f"{folder / f'{prefix}{odd}.{ext}'}: the images' numbers are padded to different widths "
            f"(as {sequence.name(int(odd))} and {prefix}{odd}.{ext})"
        )
    if gap := next((n + 1 for n, m in zip(numbers, numbers[1:]) if m != n + 1), None):
        raise InputError(
            f"{folder / sequence.name(gap)} is missing: the images must be numbered without a gap "
            f"({sequence.name(numbers[0])} to {sequence.name(numbers[-1])}, {len(numbers)} images)"
        )
    return sequence

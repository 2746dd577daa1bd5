"""Video in and out through PyAV: any container FFmpeg opens in, mp4/mkv/y4m/PNG out.

The codec works on 8-bit YUV 4:2:0 planes; anything else (RGB, 4:4:4, 10-bit) is converted by
FFmpeg's swscale on the way in, and the conversion is reported as a note.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from bitstream import Matrix

from .colour import upsample_chroma, yuv420_to_rgb8
from .errors import InputError, OutputError

AVCOL_SPC_BT709 = 1
AVCOL_RANGE_JPEG = 2
DEFAULT_FPS = Fraction(25, 1)
# FFmpeg renders text files as "video" through these codecs (the tty demuxer): not real video input
TEXT_ART_CODECS = {"ansi", "bintext", "xbin", "idf"}
MP4_CRF = 12


@dataclasses.dataclass
class Video:
    """Decoded 8-bit 4:2:0 frames: y [T, H, W], u and v [T, ceil(H/2), ceil(W/2)]."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    fps: Fraction = DEFAULT_FPS
    matrix: int = int(Matrix.BT601)
    full_range: bool = False
    notes: list[str] = dataclasses.field(default_factory=list)
    first_frame: int = 0  # index of y[0] in the source, for --frames

    @property
    def frame_count(self) -> int:
        return int(self.y.shape[0])

    @property
    def height(self) -> int:
        return int(self.y.shape[1])

    @property
    def width(self) -> int:
        return int(self.y.shape[2])

    def frames(self, start: int, end: int) -> "Video":
        """Frames [start, end) as a new Video sharing memory."""
        return dataclasses.replace(self, y=self.y[start:end], u=self.u[start:end], v=self.v[start:end],
                                   notes=list(self.notes), first_frame=self.first_frame + start)

    def rgb(self) -> np.ndarray:
        """uint8 RGB [T, H, W, 3] by the codec's one conversion (colour.yuv420_to_rgb8)."""
        return yuv420_to_rgb8(self.y, self.u, self.v, self.matrix, self.full_range)


def parse_frame_range(text: str | None) -> tuple[int, int | None] | None:
    """'START:END' (either side may be empty) -> (start, end); None -> None."""
    if text is None:
        return None
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start = int(parts[0]) if parts[0] else 0
        end = int(parts[1]) if parts[1] else None
    except ValueError:
        raise InputError(f"--frames must look like START:END (e.g. 0:32), got {text!r}") from None
    if start < 0 or (end is not None and end <= start):
        raise InputError(f"--frames {text}: need 0 <= START < END")
    return start, end


def plane_array(frame: av.VideoFrame, index: int) -> np.ndarray:
    """Plane `index` of a frame as a (height, width) uint8 array, line padding removed."""
    plane = frame.planes[index]
    data = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
    return data[: plane.height, : plane.width].copy()


def planes_from_frame(frame: av.VideoFrame, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, U, V of a yuv420p frame cropped to (height, width) (a coder may have padded it)."""
    ch, cw = (height + 1) // 2, (width + 1) // 2
    return plane_array(frame, 0)[:height, :width], plane_array(frame, 1)[:ch, :cw], plane_array(frame, 2)[:ch, :cw]


def _to_yuv420(frame: av.VideoFrame, notes: set[str]) -> av.VideoFrame:
    name = frame.format.name
    if name in ("yuv420p", "yuvj420p"):
        return frame
    if "10" in name or "12" in name or "16" in name:
        notes.add(f"input is {name}: coded at 8 bits (yuv420p)")
    else:
        notes.add(f"input is {name}: converted to yuv420p")
    return frame.reformat(format="yuv420p")


def read_video(path: str | os.PathLike, frames: tuple[int, int | None] | None = None) -> Video:
    """Decode `path` (any format FFmpeg opens) to 8-bit 4:2:0 planes, frames [start, end) only.

    A damaged or truncated input gives the frames that decode, with a note saying how many;
    display rotation is applied; a variable frame rate keeps every frame (see the notes).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a folder, not a video: {path}")
    start, end = frames if frames else (0, None)
    ys, us, vs, times = [], [], [], []
    notes: set[str] = set()
    damage: list[str] = []
    matrix, full_range, fps = int(Matrix.BT601), False, DEFAULT_FPS
    decoded = 0
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot open {path} as a video ({_reason(exc)}): not a video, "
                         f"or a damaged or truncated file") from None
    with container:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["no streams"]
            raise InputError(f"no video stream in {path} (it has: {', '.join(kinds)})")
        stream = container.streams.video[0]
        if stream.codec_context.name in TEXT_ART_CODECS:
            raise InputError(f"not a video file: {path} (FFmpeg reads it as text, {container.format.name})")
        stream.thread_type = "SLICE"
        declared = stream.frames  # 0 when the container does not say
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if rate and rate > 0:
            fps = Fraction(rate).limit_denominator(2**31 - 1)
        else:
            notes.add(f"no frame rate in the input: assuming {DEFAULT_FPS}")
        for frame in _frames_that_decode(container, stream, damage):
            if end is not None and decoded >= end:
                break
            if decoded >= start:
                if frame.colorspace == AVCOL_SPC_BT709:
                    matrix = int(Matrix.BT709)
                full_range = frame.color_range == AVCOL_RANGE_JPEG or frame.format.name == "yuvj420p"
                yuv = _to_yuv420(frame, notes)
                rotation = getattr(frame, "rotation", 0)  # PyAV >= 13 reads the display matrix
                y, u, v = _upright(planes_from_frame(yuv, yuv.height, yuv.width), rotation, notes)
                ys.append(y)
                us.append(u)
                vs.append(v)
                times.append(frame.time)
            decoded += 1
    if decoded == 0:
        reason = f" ({damage[0]})" if damage else ""
        raise InputError(f"no decodable video frames in {path}{reason}")
    if damage or (end is None and declared > decoded):
        of = f" of the {declared} it declares" if declared > decoded else ""
        notes.add(f"input damaged or truncated: coding the {decoded} frames that decode{of}"
                  + (f", {len(damage)} damaged packets skipped" if damage else ""))
    if start >= decoded:
        raise InputError(f"--frames {start}:{'' if end is None else end} is outside the clip ({decoded} frames)")
    if end is not None and end > decoded:
        notes.add(f"--frames end {end} is past the clip's {decoded} frames: coding {start}:{decoded}")
    if len({y.shape for y in ys}) != 1:
        raise InputError(f"frame size changes inside {path}: not supported")
    if _variable_rate(times):
        notes.add(f"variable frame rate: all {len(ys)} frames kept in order, evenly timed at the average "
                  f"{float(fps):.3f} fps (the input's timestamps are not kept)")
    return Video(np.stack(ys), np.stack(us), np.stack(vs), fps, matrix, full_range, sorted(notes), start)


def _frames_that_decode(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                        damage: list[str]) -> Iterator[av.VideoFrame]:
    """Every frame that decodes, in order: a damaged packet is skipped (its error kept in `damage`)
    instead of ending the input, and the decoder is flushed when the demuxer gives up early.

    Packet by packet and without frame threading, because frame threads drop the frames around an
    error, and a different number on each run.
    """
    try:
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
            except av.error.FFmpegError as exc:
                damage.append(_reason(exc))
    except av.error.FFmpegError as exc:
        damage.append(_reason(exc))
        with contextlib.suppress(av.error.FFmpegError):
            yield from stream.codec_context.decode(None)


def _upright(planes: tuple[np.ndarray, ...], rotation: int, notes: set[str]) -> tuple[np.ndarray, ...]:
    """Apply display-rotation metadata (counter-clockwise degrees, as FFmpeg reports it) like players do."""
    turns = round(rotation / 90)
    if rotation != 90 * turns:
        notes.add(f"rotation metadata ({rotation} degrees) is not a quarter turn: ignored")
        return planes
    if turns % 4 == 0:
        return planes
    notes.add(f"rotation metadata ({rotation} degrees) applied: frames coded upright, as players show them")
    return tuple(np.ascontiguousarray(np.rot90(p, turns)) for p in planes)


def _variable_rate(times: list[float | None]) -> bool:
    """True when the frames' timestamps are not evenly spaced (beyond timestamp rounding)."""
    known = [t for t in times if t is not None]
    if len(known) < 3:
        return False
    steps = np.diff(known)
    return float(np.ptp(steps)) > max(0.002, 0.1 * float(np.median(steps)))


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc).split(":")[0] or type(exc).__name__


# ---------------------------------------------------------------- writing


def frame_from_planes(y: np.ndarray, u: np.ndarray, v: np.ndarray, height: int | None = None,
                      width: int | None = None) -> av.VideoFrame:
    """A yuv420p frame holding the planes, edge-padded to (height, width) when given (codecs that need
    even or minimum sizes); the consumer crops back."""
    height = y.shape[0] if height is None else height
    width = y.shape[1] if width is None else width
    frame = av.VideoFrame(width, height, "yuv420p")
    for index, data in enumerate((y, u, v)):
        plane = frame.planes[index]
        data = np.pad(data, ((0, plane.height - data.shape[0]), (0, plane.width - data.shape[1])), mode="edge")
        padded = np.zeros((plane.height, plane.line_size), dtype=np.uint8)
        padded[:, : plane.width] = data
        plane.update(padded.tobytes())
    return frame


def output_kind(path: str | os.PathLike) -> str:
    """'mp4', 'mkv', 'y4m' or 'png' (a folder of PNGs) from the output path."""
    text = str(path)
    suffix = Path(text).suffix.lower()
    if suffix in (".mp4", ".mov", ".m4v"):
        return "mp4"
    if suffix == ".mkv":
        return "mkv"
    if suffix == ".y4m":
        return "y4m"
    if text.endswith(("/", os.sep)) or suffix == "" or Path(text).is_dir():
        return "png"
    raise OutputError(f"unsupported output type {suffix!r}: use .mp4, .mkv, .y4m or a folder for PNGs")


def refuse_overwrite(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """An output must never replace its own input (same path, hard link or symlink)."""
    src, dst = Path(src), Path(dst)
    try:
        same = dst.exists() and src.exists() and os.path.samefile(src, dst)
    except OSError:
        same = False
    if same or src.resolve() == dst.resolve():
        raise OutputError(f"refusing to overwrite the input {src}")


def _folder(target: Path) -> Path:
    return target.parent if str(target.parent) else Path(".")


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def check_output(path: str | os.PathLike, needed_bytes: int = 0) -> None:
    """Fail before any work when `path` cannot be written: no folder, no write access, too little space.

    Write access is tried with a nameless temporary file rather than os.access, which says yes
    to root on a read-only file system; nothing is created under the output's own name.
    """
    target = Path(path)
    parent = _folder(target)
    if not parent.is_dir():
        raise OutputError(f"output folder does not exist: {parent}")
    try:
        with tempfile.TemporaryFile(dir=parent, prefix=f".{target.name}.", suffix=".probe"):
            pass
        free = shutil.disk_usage(parent).free
    except OSError as exc:
        raise OutputError(f"output folder is not writable: {parent} ({exc.strerror or exc})") from None
    if needed_bytes > free:
        raise OutputError(f"not enough disk space in {parent} for {target.name}: about "
                          f"{human_bytes(needed_bytes)} needed, {human_bytes(free)} free")


_written: list[Path] = []


def written_outputs() -> tuple[Path, ...]:
    """Outputs this process has renamed into place, so that an interrupt can say what was written."""
    return tuple(_written)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only when the block succeeds.

    Whatever stops the block (an error, Ctrl-C, SIGTERM through the CLI) removes the temporary
    file, so the output's name only ever holds a complete file; a failing write is an OutputError.
    """
    target = Path(path)
    parent = _folder(target)
    check_output(target)
    try:
        with _temporary_beside(target, parent, is_dir) as tmp:
            yield tmp
            if is_dir and target.is_dir():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
                os.replace(target, old / "x")
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)
            _written.append(target)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _temporary_beside(target: Path, parent: Path, is_dir: bool) -> Iterator[Path]:
    """A temporary file or folder next to `target`, removed unless it was renamed away."""
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=parent)
        os.close(fd)
        tmp = Path(name)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would surprise; honour the umask like open()
    try:
        yield tmp
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise


def write_video(path: str | os.PathLike, video: Video) -> None:
    """Write by extension: .mp4 (H.264 yuv420p CRF 12; yuv444p when a side is odd), .mkv (FFV1), .y4m, PNG folder."""
    kind = output_kind(path)
    try:
        with atomic_output(path, is_dir=(kind == "png")) as tmp:
            if kind == "png":
                _write_pngs(tmp, video)
            else:
                _write_stream(tmp, kind, video)
    except av.error.FFmpegError as exc:
        raise OutputError(f"cannot write {path}: {_reason(exc)}") from None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_stream(tmp: Path, kind: str, video: Video) -> None:
    odd = video.width % 2 or video.height % 2
    settings = {
        "mp4": ("mp4", "libx264", "yuv444p" if odd else "yuv420p", {"crf": str(MP4_CRF), "preset": "medium"}),
        "mkv": ("matroska", "ffv1", "yuv420p", {}),
        "y4m": ("yuv4mpegpipe", "rawvideo", "yuv420p", {}),
    }[kind]
    fmt, codec, pix_fmt, options = settings
    with av.open(str(tmp), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=video.fps, options=options)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, pix_fmt
        stream.codec_context.time_base = 1 / video.fps
        stream.codec_context.colorspace = AVCOL_SPC_BT709 if video.matrix == Matrix.BT709 else 6
        stream.codec_context.color_range = AVCOL_RANGE_JPEG if video.full_range else 1
        for t in range(video.frame_count):
            if pix_fmt == "yuv444p":
                planes = [video.y[t], upsample_chroma(video.u[t], video.height, video.width),
                          upsample_chroma(video.v[t], video.height, video.width)]
                frame = av.VideoFrame.from_ndarray(np.stack(planes), format="yuv444p")
            else:
                frame = frame_from_planes(video.y[t], video.u[t], video.v[t])
            frame.pts = t
            frame.time_base = stream.codec_context.time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _write_pngs(folder: Path, video: Video) -> None:
    rgb = video.rgb()
    digits = max(6, len(str(video.frame_count)))
    for t in range(video.frame_count):
        encoder = av.CodecContext.create("png", "w")
        encoder.width, encoder.height, encoder.pix_fmt = video.width, video.height, "rgb24"
        frame = av.VideoFrame.from_ndarray(rgb[t], format="rgb24")
        data = b"".join(bytes(p) for p in list(encoder.encode(frame)) + list(encoder.encode(None)))
        (folder / f"frame_{t:0{digits}d}.png").write_bytes(data)


def scale_video(video: Video, width: int, height: int) -> Video:
    """Frames resized by FFmpeg's swscale (bicubic, as `ffmpeg -vf scale` does), staying 8-bit 4:2:0.

    For benchmarks that bring large clips to a stated size: scale once, then every codec is given
    the same scaled frames (write them losslessly with write_video(... .mkv) to keep them).
    """
    if width < 1 or height < 1:
        raise InputError(f"cannot scale to {width}x{height}")
    ys, us, vs = [], [], []
    for t in range(video.frame_count):
        frame = frame_from_planes(video.y[t], video.u[t], video.v[t])
        scaled = frame.reformat(width=width, height=height, format="yuv420p", interpolation="BICUBIC")
        y, u, v = planes_from_frame(scaled, height, width)
        ys.append(y)
        us.append(u)
        vs.append(v)
    note = f"scaled from {video.width}x{video.height} to {width}x{height} (swscale bicubic)"
    return dataclasses.replace(video, y=np.stack(ys), u=np.stack(us), v=np.stack(vs), notes=video.notes + [note])

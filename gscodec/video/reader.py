"""Reading video as a stream of 8-bit RGB frames, one at a time.

Sources: any file FFmpeg opens (mp4, mkv, avi, raw H.264 Annex B, y4m, ...), a folder of PNG
frames (see :mod:`gscodec.video.pngdir` for which files count and in what order), or ``"-"``
for a y4m stream on standard input (a pipe works: nothing is ever seeked).

Every frame goes through one converter, FFmpeg's swscale through PyAV's
``VideoFrame.to_ndarray(format="rgb24")``, which honours the matrix and range a stream is
tagged with (BT.601 limited range when it carries no tags). For sources that are not
8-bit RGB this means:

- more than 8 bits per sample (10-bit video, 16-bit PNG): reduced to 8 bits, a loss;
- gray: the one channel is replicated to R, G and B;
- alpha: dropped, not composited onto any background;
- a palette: expanded to its colours.

Each reader lists what applied to its source in :attr:`VideoReader.notes` and logs it
(lossy steps as warnings). Frame sizes may be odd. A PNG folder has no frame rate: 25 fps
is assumed, as FFmpeg does for raw H.264. Memory does not grow with the length of the video.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Protocol

import av
import numpy as np
from av.stream import Disposition

from gscodec.errors import InputError, RuntimeFailure
from gscodec.video import pngdir

logger = logging.getLogger(__name__)

#: Frame rate assumed for sources that carry none (a PNG folder).
DEFAULT_FPS = Fraction(25)

# FFmpeg renders text files (.txt, .nfo, ...) as video through its "tty" demuxer: refused.
_TEXT_DEMUXERS = frozenset({"tty"})


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a source before its frames are read.

    ``frame_count`` is the number of frames the reader will deliver (after ``start_frame``
    and ``frames``) when the source says how long it is, else None (a pipe, a raw stream,
    most mkv files). It is the container's own count: a damaged file may deliver fewer.
    """

    width: int
    height: int
    fps: Fraction
    frame_count: int | None
    pix_fmt: str


def to_rgb24(frame: av.VideoFrame) -> np.ndarray:
    """The one converter: a decoded frame as a C-contiguous (H, W, 3) uint8 RGB array.

    FFmpeg's swscale with PyAV's default flags, honouring the frame's colour tags. Note that
    for 4:2:0 frames of even width and height those defaults repeat each chroma sample
    instead of interpolating (swscale's fast path), which is part of what "the same
    converter" means when PSNR is compared against decoded frames.
    """
    return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))


class _FrameSource(Protocol):
    """Decoded frames of one source, before conversion to RGB, and what the source says."""

    label: str
    seen: int  # frames produced or skipped so far
    fps: Fraction
    total: int | None  # frames in the whole source, None if it does not say
    pix_fmt: str | None  # None if only the first decoded frame will tell
    notes: list[tuple[str, bool]]  # (note, lossy) about the source itself

    def frames(self, start: int) -> Iterator[av.VideoFrame]:
        """Yield the frames from index ``start`` on; the ones before are skipped cheaply."""
        ...

    def close(self) -> None:
        """Release the file handles and decoder."""
        ...


def _describe(exc: BaseException) -> str:
    """A short, one-line reason from an FFmpeg or OS error."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return " ".join(reason.split()) or type(exc).__name__


def _stream_fps(stream: av.VideoStream) -> Fraction:
    """The stream's average frame rate, PyAV's guess, or the default, whichever comes first."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return DEFAULT_FPS


class _ContainerSource:
    """Frames of the first video stream of a container FFmpeg opened."""

    def __init__(self, target: object, label: str, format_name: str | None = None) -> None:
        """Open the container and pick its first video stream (cover pictures excluded)."""
        self.label = label
        self.seen = 0
        try:
            try:
                self._container = av.open(target, mode="r", format=format_name, metadata_errors="ignore")
            except TypeError:  # PyAV 19 dropped the argument (and no longer fails on bad metadata)
                self._container = av.open(target, mode="r", format=format_name)
        except (av.FFmpegError, OSError) as exc:
            what = "a y4m stream" if format_name == "yuv4mpegpipe" else "a video file FFmpeg can read"
            raise InputError(f"cannot open {label}: {_describe(exc)}; is it {what}?") from None
        if self._container.format.name in _TEXT_DEMUXERS:
            self._container.close()
            raise InputError(f"{label} is a text file, not a video")
        streams = [s for s in self._container.streams.video if not s.disposition & Disposition.attached_pic]
        if not streams:
            self._container.close()
            raise InputError(f"{label} has no video stream")
        self._stream = streams[0]
        self._stream.thread_type = "AUTO"
        ctx = self._stream.codec_context
        self.fps = _stream_fps(self._stream)
        self.total = self._stream.frames or None  # 0 means the container does not say
        self.pix_fmt = ctx.pix_fmt
        self.notes = []
        sar = ctx.sample_aspect_ratio
        if sar and sar != 1:
            self.notes.append((f"pixels are not square (aspect {sar}); they are read as square", False))

    def frames(self, start: int) -> Iterator[av.VideoFrame]:
        """Decode every frame, dropping the first ``start`` without converting them."""
        decoded = self._container.decode(self._stream)
        while True:
            try:
                frame = next(decoded)
            except StopIteration:
                return
            except (av.FFmpegError, OSError) as exc:
                raise InputError(
                    f"cannot decode {self.label} after frame {self.seen}: {_describe(exc)}; "
                    "the file may be damaged or truncated"
                ) from None
            self.seen += 1
            if self.seen > start:
                yield frame

    def close(self) -> None:
        """Close the container (idempotent)."""
        self._container.close()


class _PngFolderSource:
    """Frames of a folder of PNG files, checked from their headers, one decoder per file."""

    def __init__(self, folder: Path, start: int) -> None:
        """List and check the frames: at least one, all PNG, all one size."""
        self.label = str(folder)
        self.seen = 0
        self._files = pngdir.list_frames(folder)
        if not self._files:
            raise InputError(f"folder {folder} holds no .png frames")
        headers = [pngdir.read_header(f) for f in self._files]
        first = headers[0]
        for path, header in zip(self._files, headers):
            if (header.width, header.height) != (first.width, first.height):
                raise InputError(
                    f"PNG frames in {folder} differ in size: {self._files[0].name} is "
                    f"{first.width}x{first.height}, {path.name} is {header.width}x{header.height}"
                )
        self.fps = DEFAULT_FPS
        self.total = len(self._files)
        self.pix_fmt = headers[min(start, len(headers) - 1)].pix_fmt
        formats = dict.fromkeys(h.pix_fmt for h in headers)  # distinct, in order of appearance
        self.notes = [note for fmt in formats for note in _conversion_notes(fmt)]
        self.notes.append((f"a PNG folder has no frame rate; {DEFAULT_FPS} fps is assumed", False))

    def frames(self, start: int) -> Iterator[av.VideoFrame]:
        """Decode the files from index ``start`` on (the ones before are not even read)."""
        self.seen = min(start, len(self._files))
        for path in self._files[start:]:
            try:
                data = path.read_bytes()
                # A fresh decoder per file: FFmpeg's PNG decoder carries state from one
                # packet to the next (for APNG) and garbles a second, unrelated image.
                decoder = av.CodecContext.create("png", "r")
                decoded = decoder.decode(av.Packet(data)) + decoder.decode(None)
            except (av.FFmpegError, OSError) as exc:
                raise InputError(f"cannot decode {path}: {_describe(exc)}; replace or remove it") from None
            if not decoded:
                raise InputError(f"cannot decode {path}: no image in it; replace or remove it")
            self.seen += 1
            yield decoded[0]

    def close(self) -> None:
        """Nothing stays open between frames."""


def _conversion_notes(pix_fmt: str) -> list[tuple[str, bool]]:
    """(note, lossy) for what converting ``pix_fmt`` to 8-bit RGB does beyond a matrix."""
    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, av.FFmpegError):
        return [(f"{pix_fmt}: unknown pixel format; FFmpeg converts it to 8-bit RGB as it can", True)]
    components = fmt.components
    notes = []
    bits = max((c.bits for c in components), default=8)
    if bits > 8:
        notes.append((f"{pix_fmt}: {bits}-bit samples are reduced to 8 bits", True))
    colour = [c for c in components if not c.is_alpha]
    if not fmt.has_palette and not fmt.is_rgb and len(colour) == 1:
        notes.append((f"{pix_fmt}: gray is replicated to R, G and B", False))
    if fmt.has_palette:
        notes.append((f"{pix_fmt}: palette colours are expanded, palette alpha is dropped", False))
    if any(c.is_alpha for c in components):
        notes.append((f"{pix_fmt}: the alpha channel is dropped", True))
    return notes


class VideoReader:
    """The frames of one source as (H, W, 3) uint8 RGB arrays, C-contiguous, one at a time.

    A context manager and a single-pass iterable; made by :func:`open_video`, which has
    already decoded the first frame, so a source that opens also yields at least one frame.
    """

    def __init__(
        self,
        source: _FrameSource,
        info: VideoInfo,
        notes: list[str],
        first: av.VideoFrame,
        remaining: Iterator[av.VideoFrame],
        limit: int | None,
    ) -> None:
        self.info = info
        #: What reading changed or assumed: bit depth, gray, alpha, pixel aspect, frame rate.
        self.notes = notes
        self._source = source
        self._first: av.VideoFrame | None = first
        self._remaining = remaining
        self._limit = limit
        self._iterated = False
        self._closed = False

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._iterated:
            raise RuntimeFailure("a VideoReader is read once; open the video again to read it again")
        self._iterated = True
        return self._generate()

    def _generate(self) -> Iterator[np.ndarray]:
        delivered = 0
        frame = self._first
        self._first = None
        try:
            while frame is not None:
                yield self._to_rgb(frame, delivered)
                delivered += 1
                if self._limit is not None and delivered >= self._limit:
                    break
                frame = next(self._remaining, None)
        finally:
            self.close()

    def _to_rgb(self, frame: av.VideoFrame, index: int) -> np.ndarray:
        """Convert one decoded frame with the one converter, checking its size."""
        if (frame.width, frame.height) != (self.info.width, self.info.height):
            raise InputError(
                f"{self._source.label}: frame {index} is {frame.width}x{frame.height}, the first was "
                f"{self.info.width}x{self.info.height}; size changes within a video are not supported"
            )
        try:
            return to_rgb24(frame)
        except (av.FFmpegError, ValueError) as exc:
            raise InputError(
                f"{self._source.label}: cannot convert {frame.format.name} to RGB: {_describe(exc)}"
            ) from None

    def close(self) -> None:
        """Release the source (idempotent); iteration stops."""
        if not self._closed:
            self._closed = True
            self._first = None
            self._source.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_video(
    source: str | os.PathLike[str], start_frame: int = 0, frames: int | None = None
) -> VideoReader:
    """Open ``source`` and position it at ``start_frame``; read at most ``frames`` frames.

    ``source`` is a video file, a folder of PNG frames, or ``"-"`` for y4m on standard
    input. Raises InputError for a missing or unreadable source, a source without video,
    and a range that holds no frame. The first frame of the range is decoded here.
    """
    if isinstance(start_frame, bool) or not isinstance(start_frame, int) or start_frame < 0:
        raise InputError(f"start frame must be a whole number >= 0, not {start_frame!r}")
    if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames < 1):
        raise InputError(f"frame count must be a whole number >= 1 (or none for all), not {frames!r}")

    src: _FrameSource
    if isinstance(source, str) and source == "-":
        stdin = sys.stdin
        if stdin is None or stdin.isatty():
            raise InputError("standard input is a terminal, not a pipe; pipe a y4m stream into it")
        src = _ContainerSource(stdin.buffer, "standard input", "yuv4mpegpipe")
    else:
        path = Path(source)
        if path.is_dir():
            src = _PngFolderSource(path, start_frame)
        elif path.exists():
            src = _ContainerSource(str(path), str(path))
        else:
            raise InputError(f"{path}: no such file or folder")

    try:
        remaining = src.frames(start_frame)
        first = next(remaining, None)
        if first is None:
            if src.seen == 0:
                raise InputError(f"{src.label} holds no video frames")
            raise InputError(
                f"start frame {start_frame} is beyond the end of {src.label} ({src.seen} frames); "
                "choose a smaller start frame"
            )
    except BaseException:
        src.close()
        raise

    pix_fmt = src.pix_fmt or first.format.name
    notes = list(src.notes)
    if not isinstance(src, _PngFolderSource):
        notes = _conversion_notes(pix_fmt) + notes
    for note, lossy in notes:
        logger.log(logging.WARNING if lossy else logging.INFO, "%s: %s", src.label, note)

    count = None
    if src.total is not None:
        # At least 1: the first frame is already decoded even if the container undercounts.
        count = max(src.total - start_frame, 1)
        if frames is not None:
            count = min(count, frames)
    info = VideoInfo(first.width, first.height, src.fps, count, pix_fmt)
    return VideoReader(src, info, [note for note, _ in notes], first, remaining, frames)

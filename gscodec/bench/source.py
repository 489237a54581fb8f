"""The source frames of a benchmark clip: decoded once, shared by every codec.

One decode of the clip (PyAV) gives, per frame, the 4:2:0 planes that the classical encoders
receive and the RGB24 reference every codec is measured against. Both come from the same
decoded frame, and the RGB reference is the frame converted by swscale with the clip's own
colour tags (matrix and range): exactly what ``frame.to_ndarray(format="rgb24")`` returns for
the source frame, which is how gscodec itself reads its input. Decoded classical frames are
converted back to RGB by the same :class:`Yuv420Converter`.

A source already in 4:2:0 8-bit (yuv420p, yuvj420p) reaches the classical encoders unchanged.
Any other source format is converted to yuv420p once, here, and only that copy feeds them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from gscodec.errors import InputError

_NATIVE_420 = {"yuv420p": 1, "yuvj420p": 2}  # pixel format -> colour range it implies (1 MPEG, 2 JPEG)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (the clip identity in the cache key)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Yuv420Converter:
    """Turns 8-bit 4:2:0 planes, shaped (H * 3 / 2, W) as PyAV packs them, into (H, W, 3) RGB24.

    ``colorspace`` and ``color_range`` are libav enum values taken from the source frame, so a
    decoded frame is interpreted exactly as the source was.
    """

    colorspace: int
    color_range: int

    def __call__(self, planes: np.ndarray) -> np.ndarray:
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.colorspace = self.colorspace
        frame.color_range = self.color_range
        return frame.to_ndarray(format="rgb24")


@dataclass
class SourceClip:
    """A frame range of one input file, decoded lazily on first use."""

    path: Path
    start_frame: int
    frames: int
    sha256: str = ""
    width: int = 0
    height: int = 0
    fps: Fraction = Fraction(25)
    pix_fmt: str = ""
    converter: Yuv420Converter | None = None
    _yuv: list[np.ndarray] = field(default_factory=list, repr=False)
    _rgb: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        """The file name, used as the clip's label in reports."""
        return self.path.name

    @classmethod
    def open(cls, path: Path | str, start_frame: int, frames: int) -> SourceClip:
        """Hash the file and read its stream header; the frames are decoded on first use."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"clip not found: {path}; give the path of a video file")
        if start_frame < 0 or frames < 1:
            raise InputError("--start-frame must be >= 0 and --frames >= 1")
        clip = cls(path=path, start_frame=start_frame, frames=frames, sha256=file_sha256(path))
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise InputError(f"{path} has no video stream; give a video file")
                stream = container.streams.video[0]
                clip.width = stream.codec_context.width
                clip.height = stream.codec_context.height
                rate = stream.average_rate or stream.guessed_rate
                clip.fps = Fraction(rate) if rate else Fraction(25)
        except av.FFmpegError as exc:
            raise InputError(f"cannot open {path}: {exc}; give a video file PyAV can read") from exc
        return clip

    def _decode(self) -> None:
        """Decode the frame range once: 4:2:0 planes for the encoders and the RGB reference."""
        if self._rgb:
            return
        end = self.start_frame + self.frames
        try:
            with av.open(str(self.path)) as container:
                for index, frame in enumerate(container.decode(video=0)):
                    if index < self.start_frame:
                        continue
                    self._add(frame)
                    if index + 1 == end:
                        break
        except av.FFmpegError as exc:
            raise InputError(f"cannot decode {self.path}: {exc}; check that the file is intact") from exc
        if len(self._rgb) < self.frames:
            available = len(self._rgb) + self.start_frame
            raise InputError(
                f"{self.name} has {available} frames, fewer than start {self.start_frame} + {self.frames}; "
                "ask for fewer frames"
            )

    def _add(self, frame: av.VideoFrame) -> None:
        name = frame.format.name
        if self.converter is None:
            self.pix_fmt = name
            self.width, self.height = frame.width, frame.height
            if self.width % 2 or self.height % 2:
                raise InputError(
                    f"{self.name} is {self.width}x{self.height}; 4:2:0 codecs need an even width and height"
                )
            if name in _NATIVE_420:
                # yuvj420p means full range whatever the tag says; otherwise keep the tag
                color_range = _NATIVE_420[name] if name == "yuvj420p" else int(frame.color_range)
                self.converter = Yuv420Converter(int(frame.colorspace), color_range)
            else:
                # converted once to BT.601 limited-range 4:2:0 (swscale's default)
                self.converter = Yuv420Converter(2, 1)
        if (frame.width, frame.height) != (self.width, self.height):
            raise InputError(f"{self.name} changes size mid-stream; give a clip with one frame size")
        rgb = frame.to_ndarray(format="rgb24")
        if name in _NATIVE_420:
            planes = frame.to_ndarray()
        else:
            planes = frame.reformat(format="yuv420p").to_ndarray()
        self._rgb.append(np.ascontiguousarray(rgb))
        self._yuv.append(np.ascontiguousarray(planes))

    @property
    def rgb(self) -> list[np.ndarray]:
        """Reference frames, (H, W, 3) uint8, one per frame of the range."""
        self._decode()
        return self._rgb

    @property
    def yuv420(self) -> list[np.ndarray]:
        """4:2:0 planes, (H * 3 / 2, W) uint8, the exact input of the classical encoders."""
        self._decode()
        return self._yuv

    def to_rgb(self, planes: np.ndarray) -> np.ndarray:
        """Convert decoded 4:2:0 planes to RGB24 the way the source was converted."""
        self._decode()
        assert self.converter is not None
        return self.converter(planes)

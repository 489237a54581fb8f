"""The benchmark's data model: what one RD point is, what a codec runner returns, what is recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gscodec.bench.source import SourceClip

GSCODEC = "gscodec"


@dataclass(frozen=True)
class PointSpec:
    """One codec at one setting: ``codec`` "libx264" with ``param`` "crf" = ``value`` "23", say.

    ``preset`` is the speed preset (classical codecs) and ``options`` any further settings that
    change the output (extra encoder options, extra gsenc arguments), as sorted (key, value) pairs.
    """

    codec: str
    param: str
    value: str
    preset: str = ""
    options: tuple[tuple[str, str], ...] = ()

    @property
    def setting(self) -> str:
        """Short label of the RD setting, e.g. ``crf=23`` or ``lambda=0.004``."""
        return f"{self.param}={self.value}"

    @property
    def label(self) -> str:
        """Codec plus preset, the curve a point belongs to (``libx264 medium``)."""
        return f"{self.codec} {self.preset}".strip()


@dataclass
class RunOutput:
    """What a runner hands back for one encode + decode of a clip.

    ``decoded`` yields the decoded frames as (H, W, 3) uint8 RGB, converted the way the
    reference was; the harness reads it once, after the timed runs. ``*_peak_rss_kib`` is
    None where the codec ran inside the benchmark process and could not be measured alone.
    """

    bitstream: Path
    decoded: Callable[[], Iterable[np.ndarray]]
    encode_s: float
    decode_s: float
    encode_peak_rss_kib: int | None = None
    decode_peak_rss_kib: int | None = None


Runner = Callable[[SourceClip, PointSpec, Path], RunOutput]
"""Turns (clip with its frame range, settings, an empty work folder) into a RunOutput."""


@dataclass
class PointResult:
    """Everything measured for one point; this is what the cache stores and the reports print."""

    clip: str
    codec: str
    preset: str
    param: str
    value: str
    width: int
    height: int
    frames: int
    start_frame: int
    fps: float
    status: str = "ok"  # "ok" or "failed"
    error: str = ""
    bytes: int = 0
    bpp: float = float("nan")
    kbps: float = float("nan")
    psnr_db: float = float("nan")
    ms_ssim: float | None = None
    encode_fps: float = float("nan")
    decode_fps: float = float("nan")
    encode_s: list[float] = field(default_factory=list)
    decode_s: list[float] = field(default_factory=list)
    encode_peak_rss_mib: float | None = None
    decode_peak_rss_mib: float | None = None
    psnr_per_frame: list[float] = field(default_factory=list)
    ms_ssim_per_frame: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    measured_utc: str = ""
    cached: bool = False

    @property
    def setting(self) -> str:
        """Short label of the RD setting, e.g. ``crf=23``."""
        return f"{self.param}={self.value}"

    @property
    def label(self) -> str:
        """Codec plus preset (the curve this point belongs to)."""
        return f"{self.codec} {self.preset}".strip()

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (NaN becomes None)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float) and value != value:
                out[key] = None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PointResult:
        """Inverse of :meth:`to_dict`; unknown keys are ignored, missing numbers become NaN."""
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        for key in ("bpp", "kbps", "psnr_db", "encode_fps", "decode_fps"):
            if kwargs.get(key) is None:
                kwargs[key] = float("nan")
        return cls(**kwargs)

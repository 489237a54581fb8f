"""Building blocks for conformance streams: a portable PRNG, synthetic Gaussians, and stream assembly.

Everything that goes into a stream is computed from integers or from IEEE 754 binary64
arithmetic on values drawn from :class:`SplitMix64`, so the bytes are the same on every
platform and numpy version (numpy's own generators do not promise stable streams across
versions). Streams the reference writer can make are written with
:class:`gscodec.bitstream.GsvWriter`; :class:`StreamBuilder` assembles the rest chunk by chunk
from the syntax tables of format_spec.md (unknown chunks, missing index, broken fields).
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from gscodec.bitstream.chunks import SIGNATURE
from gscodec.geometry import encode_points
from gscodec.model.params import ATTRIBUTES

_MASK64 = (1 << 64) - 1

# Field layouts from format_spec.md (§3 GHDR, §4 GSEG, §5 GEND, §6 gidx, §8.1 profile 0).
GHDR_FIELDS = struct.Struct("<BBBBIIIIIBBBBII")
GSEG_FIELDS = struct.Struct("<III")
GEND_FIELDS = struct.Struct("<IIQ")
GIDX_ENTRY = struct.Struct("<QII")
PROFILE0_FIELDS = struct.Struct("<IB3sI")


class SplitMix64:
    """SplitMix64 (Steele, Lea and Flood 2014) in Python integers: the same numbers everywhere."""

    def __init__(self, seed: int) -> None:
        self.state = seed & _MASK64

    def next_u64(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def uniform(self, lo: float, hi: float) -> float:
        """A float in [lo, hi) from 53 random bits."""
        return lo + (hi - lo) * ((self.next_u64() >> 11) * 2.0**-53)


def scene(seed: int, n: int, width: int, height: int, frames: int, *, speed: float = 0.4,
          margin: float = 2.0, min_scale: float = 0.4, max_scale: float | None = None) -> dict[str, np.ndarray]:
    """``n`` random moving Gaussians for a ``width`` x ``height`` segment of ``frames`` frames (float64 arrays).

    Centres fall within ``margin`` pixels around the frame, times within the segment, scales
    between ``min_scale`` and ``max_scale`` pixels (default a fifth of the larger side), colours
    slightly outside [0, 1] at times (the renderer does not clamp them), opacities mostly high.
    """
    rng = SplitMix64(seed)
    top = max_scale if max_scale is not None else max(min_scale * 1.5, 0.2 * max(width, height))
    rows: dict[str, list[list[float]]] = {a.name: [] for a in ATTRIBUTES}
    for _ in range(n):
        rows["xy"].append([rng.uniform(-margin, width + margin), rng.uniform(-margin, height + margin)])
        rows["tau"].append([rng.uniform(-0.5, frames - 0.5)])
        rows["vel"].append([rng.uniform(-speed, speed), rng.uniform(-speed, speed)])
        rows["acc"].append([rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05)])
        rows["log_scale"].append([math.log(rng.uniform(min_scale, top)), math.log(rng.uniform(min_scale, top))])
        rows["rot"].append([rng.uniform(-math.pi, math.pi)])
        rows["log_tscale"].append([math.log(rng.uniform(0.6, max(1.0, float(frames))))])
        rows["color"].append([rng.uniform(-0.1, 1.15) for _ in range(3)])
        rows["opacity"].append([rng.uniform(-0.5, 4.0)])
    return {a.name: np.array(rows[a.name], dtype=np.float64).reshape(n, a.components) for a in ATTRIBUTES}


def concat(*parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Gaussians of several sets, in the order given."""
    return {a.name: np.concatenate([p[a.name] for p in parts]).reshape(-1, a.components) for a in ATTRIBUTES}


def gaussians(rows: list[dict[str, list[float]]], defaults: dict[str, list[float]]) -> dict[str, np.ndarray]:
    """Hand-written Gaussians: each row overrides ``defaults`` (attribute name -> component values)."""
    out = {a.name: [] for a in ATTRIBUTES}
    for row in rows:
        for a in ATTRIBUTES:
            out[a.name].append(row.get(a.name, defaults[a.name]))
    return {a.name: np.array(out[a.name], dtype=np.float64).reshape(len(rows), a.components) for a in ATTRIBUTES}


@dataclass(frozen=True)
class State:
    """The decoded state a segment must give: grid points (N, 3) int64 in canonical order, f16 attributes."""

    points: np.ndarray
    attributes: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.points.shape[0])


def quantize(arrays: dict[str, np.ndarray]) -> State:
    """Profile 0 quantization written from format_spec.md §8.1, independently of the encoder.

    The grid point is the nearest integer (half to even), ``xy`` and ``tau`` keep the residual,
    and everything is ordered canonically (t, then y, then x, ties in input order).
    """
    n = int(np.asarray(arrays["xy"]).shape[0])
    cols = {a.name: np.asarray(arrays[a.name], dtype=np.float64).reshape(n, a.components) for a in ATTRIBUTES}
    grid = np.concatenate([np.round(cols["xy"]), np.round(cols["tau"])], axis=1)
    order = np.lexsort((grid[:, 0], grid[:, 1], grid[:, 2]))
    cols["xy"] = cols["xy"] - grid[:, :2]
    cols["tau"] = cols["tau"] - grid[:, 2:]
    attrs = {name: v[order].astype("<f2") for name, v in cols.items()}
    return State(grid[order].astype(np.int64), attrs)


def exact_state(points: list[list[int]], attrs: dict[str, list[list[float]]]) -> State:
    """A state given point by point, already in canonical order; float values must be exact in f16."""
    pts = np.array(points, dtype=np.int64).reshape(-1, 3)
    out = {}
    for a in ATTRIBUTES:
        v = np.array(attrs[a.name], dtype=np.float64).reshape(len(pts), a.components)
        f16 = v.astype("<f2")
        if not np.array_equal(f16.astype(np.float64), v, equal_nan=True):
            raise ValueError(f"attribute {a.name}: a value is not exact in float16")
        out[a.name] = f16
    order = np.lexsort((pts[:, 0], pts[:, 1], pts[:, 2]))
    if not np.array_equal(order, np.arange(len(pts))):
        raise ValueError("points are not in canonical order")
    return State(pts, out)


def profile0_payload(state: State, geometry: str = "builtin", reserved: bytes = b"\0\0\0",
                     geometry_data: bytes | None = None, codec: int | None = None) -> bytes:
    """A profile 0 segment payload (format_spec.md §8.1) for ``state``; overrides make broken ones."""
    codec_ids = {"builtin": 0, "gpcc": 1, "raw": 2}
    data = encode_points(state.points, geometry) if geometry_data is None else geometry_data
    cid = codec_ids[geometry] if codec is None else codec
    attrs = b"".join(np.ascontiguousarray(state.attributes[a.name], dtype="<f2").tobytes() for a in ATTRIBUTES)
    return PROFILE0_FIELDS.pack(len(state), cid, reserved, len(data)) + data + attrs


def frame_chunk(chunk_type: bytes, payload: bytes, crc: int | None = None, length: int | None = None) -> bytes:
    """length | type | payload | CRC-32, with optional wrong length or CRC (no checks: faulty streams need them)."""
    good = zlib.crc32(payload, zlib.crc32(chunk_type)) & 0xFFFFFFFF
    return (struct.pack("<I", len(payload) if length is None else length) + chunk_type + payload
            + struct.pack("<I", good if crc is None else crc))


@dataclass
class Header:
    """GHDR fields (format_spec.md §3), with the values every stream of the suite starts from."""

    width: int
    height: int
    frame_count: int
    rate_num: int
    rate_den: int
    segment_frames: int
    segment_count: int
    profile: int = 0
    version_major: int = 1
    version_minor: int = 0
    reserved: int = 0
    colour_primaries: int = 1
    transfer_characteristics: int = 13
    matrix_coefficients: int = 0
    full_range: int = 1
    extra: bytes = b""  # fields of a later minor version, appended

    def payload(self) -> bytes:
        return GHDR_FIELDS.pack(
            self.version_major, self.version_minor, self.profile, self.reserved, self.width, self.height,
            self.frame_count, self.rate_num, self.rate_den, self.colour_primaries, self.transfer_characteristics,
            self.matrix_coefficients, self.full_range, self.segment_frames, self.segment_count,
        ) + self.extra


@dataclass
class StreamBuilder:
    """Assembles a stream chunk by chunk and remembers where each segment went (for gidx and GEND)."""

    data: bytearray = field(default_factory=lambda: bytearray(SIGNATURE))
    entries: list[tuple[int, int, int]] = field(default_factory=list)  # (offset, first_frame, frame_count)
    frames: int = 0

    def chunk(self, chunk_type: bytes, payload: bytes, **wrong: int) -> int:
        """Append a chunk; return its offset. ``wrong`` may set ``crc`` or ``length``."""
        offset = len(self.data)
        self.data += frame_chunk(chunk_type, payload, **wrong)
        return offset

    def raw(self, data: bytes) -> None:
        self.data += data

    def header(self, header: Header) -> None:
        self.chunk(b"GHDR", header.payload())

    def segment(self, frame_count: int, body: bytes, index: int | None = None, first_frame: int | None = None,
                **wrong: int) -> None:
        """Append the next GSEG (index and first frame follow from the segments so far unless given)."""
        i = len(self.entries) if index is None else index
        first = self.frames if first_frame is None else first_frame
        offset = self.chunk(b"GSEG", GSEG_FIELDS.pack(i, first, frame_count) + body, **wrong)
        self.entries.append((offset, first, frame_count))
        self.frames += frame_count

    def index(self) -> int:
        payload = struct.pack("<I", len(self.entries)) + b"".join(GIDX_ENTRY.pack(*e) for e in self.entries)
        return self.chunk(b"gidx", payload)

    def end(self, index_offset: int = 0, segment_count: int | None = None, total_frames: int | None = None,
            extra: bytes = b"") -> None:
        count = len(self.entries) if segment_count is None else segment_count
        total = self.frames if total_frames is None else total_frames
        self.chunk(b"GEND", GEND_FIELDS.pack(count, total, index_offset) + extra)

    def finish(self, index: bool = True) -> bytes:
        """Append gidx (optional) and GEND, and return the stream."""
        self.end(self.index() if index else 0)
        return bytes(self.data)


def metadata_payload(entries: list[tuple[str, str]], count: int | None = None) -> bytes:
    """A gmet payload (format_spec.md §7), entries in the order given."""
    out = [struct.pack("<H", len(entries) if count is None else count)]
    for key, value in entries:
        k, v = key.encode(), value.encode()
        out += [struct.pack("<H", len(k)), k, struct.pack("<I", len(v)), v]
    return b"".join(out)

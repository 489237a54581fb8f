"""Building blocks for conformance streams: a portable PRNG, synthetic Gaussians, and stream assembly.

Everything that goes into a stream is computed from integers or from IEEE 754 binary64
arithmetic on values drawn from :class:`SplitMix64`, so the bytes are the same on every
platform and numpy version (numpy's own generators do not promise stable streams across
versions). Streams the reference writer can make are written with
:class:`gscodec.bitstream.GsvWriter`; :class:`StreamBuilder` assembles the rest chunk by chunk
from the syntax tables of format_spec.md (unknown chunks, missing index, broken fields).
"""

from __future__ import annotations

import functools
import math
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from gscodec.bitstream import profile1 as p1
from gscodec.bitstream.chunks import SIGNATURE
from gscodec.geometry import encode_points
from gscodec.model.params import ATTRIBUTES

_MASK64 = (1 << 64) - 1

# Field layouts from format_spec.md (§3 GHDR, §4 GSEG, §5 GEND, §6 gidx, §8.1 profile 0, §16.1 profile 1).
GHDR_FIELDS = struct.Struct("<BBBBIIIIIBBBBII")
GSEG_FIELDS = struct.Struct("<III")
GEND_FIELDS = struct.Struct("<IIQ")
GIDX_ENTRY = struct.Struct("<QII")
PROFILE0_FIELDS = struct.Struct("<IB3sI")
PROFILE1_FIELDS = struct.Struct("<IBBBBHHI")


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

    def integer(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi] (both included), by the remainder of a 64-bit draw."""
        return lo + self.next_u64() % (hi - lo + 1)


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


# --- profile 1 (format_spec.md §16): integer states, drawn from the PRNG ----------------------------------

P1_STEPS: tuple[int, ...] = (-8, -12, -12, -12, -12, -20, -20, -20, -16, -16, -24, -24)
"""Step exponents of the suite's profile 1 streams: steps of 1/4 (opacity), 1/8 (log scales, rotation),
1/32 (colours), 1/16 (velocities) and 1/64 (accelerations)."""
_P1_MEAN = (8, 6, 7, 5, 0, 16, 14, 12, 0, 0, 0, 0)
"""Each channel's typical symbol: opacity logit 2, temporal and spatial scales of 2 to 2.4, mid colours."""
_P1_SCALE = (22, 20, 22, 22, 35, 38, 38, 38, 25, 25, 20, 20)
"""Each channel's typical scale index (row of the tables): residuals of about 0.9 (k 20) to 8 (k 38) steps."""
_P1_SPREAD = (4, 2, 3, 3, 12, 16, 16, 16, 4, 4, 2, 2)
"""How far (in symbols) each channel's mean moves across the segment with the position features."""


@functools.lru_cache(maxsize=1)
def _cumulative_weights() -> np.ndarray:
    """(K, 2R + 2) int64: the running sums of each table row's integer weights, from 0 to 2**16."""
    from gscodec.entropy import table

    t = table().astype(np.int64)
    return np.concatenate([np.zeros((t.shape[0], 1), np.int64), np.cumsum(t, axis=1)], axis=1)


def table_residual(rng: SplitMix64, k: int) -> int:
    """A residual drawn from table row ``k`` by its own integer weights (16 random bits, no floats)."""
    from gscodec.entropy import R

    u = rng.next_u64() >> 48
    return int(np.searchsorted(_cumulative_weights()[k], u, side="right")) - 1 - R


def prior_size(n_in: int, hidden: int) -> int:
    """Bytes of a prior network with ``n_in`` inputs and hidden width ``hidden`` (format_spec.md §16.1)."""
    return 9 + 4 * n_in if hidden == 0 else 10 + 2 * hidden * n_in + 8 * hidden


def random_prior(rng: SplitMix64, c: int, hidden: int, mean: int | None = None,
                 scale: int | None = None) -> p1.PriorNet:
    """An integer prior for channel ``c`` whose mean is near ``mean`` symbols and scale index near ``scale``.

    Position features move the mean by about ``_P1_SPREAD[c]`` symbols across the segment; earlier
    channels' symbols feed it too (weights up to 1/8), so every input of the network matters.
    """
    mean = _P1_MEAN[c] if mean is None else mean
    scale = _P1_SCALE[c] if scale is None else scale
    spread = _P1_SPREAD[c]
    n_in = 3 + c
    if hidden == 0:  # o = (W2 v + b2) >> 12: 2**16 per symbol or scale level
        w2 = np.zeros((2, n_in), np.int64)
        for m in range(n_in):
            w2[0, m] = rng.integer(-64 * spread, 64 * spread) if m < 3 else rng.integer(-8192, 8192)
            w2[1, m] = rng.integer(-256, 256) if m < 3 else 0
        b2 = np.array([mean << 16, scale << 16], np.int64)
        return p1.PriorNet(n_in, 0, np.zeros((0, n_in), np.int16), np.zeros(0, np.int32), 0,
                           w2.astype(np.int16), b2.astype(np.int32), 12)
    # h = clamp((W1 v + b1) >> 4, 0, 32767), about 0 .. 12000; o = (W2 h + b2) >> 16: 2**20 per symbol or level.
    w1 = np.array([[rng.integer(-64, 64) for _ in range(n_in)] for _ in range(hidden)], np.int64)
    b1 = np.array([rng.integer(-4096, 4096) for _ in range(hidden)], np.int64)
    w2 = np.array([[rng.integer(-8 * spread, 8 * spread) for _ in range(hidden)],
                   [rng.integer(-16, 16) for _ in range(hidden)]], np.int64)
    b2 = np.array([mean << 20, scale << 20], np.int64)
    return p1.PriorNet(n_in, hidden, w1.astype(np.int16), b1.astype(np.int32), 4, w2.astype(np.int16),
                       b2.astype(np.int32), 16)


def coded_symbols(rng: SplitMix64, points: np.ndarray, nets: dict[int, p1.PriorNet],
                  residuals: dict[tuple[int, int], int] | None = None) -> np.ndarray:
    """(N, 12) int32 symbols: per coded channel, the prior's mean plus a residual drawn from the table row
    the prior picks; ``residuals`` fixes chosen ones ((Gaussian, channel) -> residual). Uncoded channels are 0."""
    fixed = residuals or {}
    q = np.zeros((points.shape[0], p1.NUM_CHANNELS), np.int64)
    features = p1.position_features(points)
    for c in sorted(nets):
        mu, k = nets[c].evaluate(p1.channel_features(features, q, c))
        r = [fixed.get((i, c), table_residual(rng, int(ki))) for i, ki in enumerate(k)]
        q[:, c] = mu + np.array(r, np.int64)
    return q.astype(np.int32)


@dataclass(frozen=True)
class CodedState:
    """The decoded state a profile 1 segment must give (format_spec.md §16.6): integers, canonical order."""

    points: np.ndarray  # (N, 3) int64
    q: np.ndarray  # (N, 12) int32
    steps: np.ndarray  # (12,) int8
    nets: dict[int, p1.PriorNet]  # by channel
    xy_shift: int
    t_shift: int
    hidden: int
    motion: p1.MotionBlock | None = None

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def payload(self, geometry: str = "builtin") -> bytes:
        """The segment payload, packed by the reference profile 1 encoder (the path gsenc takes).

        The encoder writes step exponents of -127 … 127; an exponent of -128 (legal, §16.1) is written into
        its payload afterwards (steps take no part in the coding).
        """
        steps = self.steps.astype(np.int64)
        data = p1.encode_segment(self.points, self.q, np.maximum(steps, -127), self.nets, self.xy_shift,
                                 self.t_shift, geometry, motion=self.motion)
        if np.all(steps >= -127):
            return data
        parts = CodedPayload.parse(data)
        parts.steps = steps.astype("i1").tobytes()
        return parts.join()

    def matches(self, decoded: p1.DecodedSegment) -> bool:
        """True if a decoded profile 1 segment holds exactly this state."""
        return (np.array_equal(decoded.points, self.points) and np.array_equal(decoded.q, self.q)
                and np.array_equal(decoded.steps.astype(np.int64), self.steps.astype(np.int64))
                and (decoded.xy_shift, decoded.t_shift, decoded.hidden) == (self.xy_shift, self.t_shift, self.hidden)
                and sorted(decoded.nets) == sorted(self.nets)
                and all(decoded.nets[c].to_bytes() == self.nets[c].to_bytes() for c in self.nets)
                and (decoded.motion is None) == (self.motion is None)
                and (self.motion is None or decoded.motion.to_bytes() == self.motion.to_bytes()))


def canonical(points: np.ndarray) -> np.ndarray:
    """Points sorted by (t, y, x), ties in input order (format_spec.md §9.1)."""
    pts = np.asarray(points, np.int64).reshape(-1, 3)
    return pts[np.lexsort((pts[:, 0], pts[:, 1], pts[:, 2]))]


def coded_state(seed: int, n: int, width: int, height: int, frames: int, *, xy_shift: int, t_shift: int,
                hidden: int, mask: int, steps: tuple[int, ...] = P1_STEPS, margin: int = 2) -> CodedState:
    """A random profile 1 segment: ``n`` grid points over the frame (``margin`` pixels around it) and the
    segment's frames, random integer priors for the channels of ``mask``, symbols drawn through them."""
    rng = SplitMix64(seed)
    sx, st = 1 << xy_shift, 1 << t_shift
    pts = canonical(np.array([[rng.integer(-margin * sx, (width + margin) * sx),
                               rng.integer(-margin * sx, (height + margin) * sx),
                               rng.integer(0, (frames - 1) * st)] for _ in range(n)], np.int64))
    nets = {c: random_prior(rng, c, hidden) for c in range(12) if mask >> c & 1}
    return CodedState(pts, coded_symbols(rng, pts, nets), np.array(steps, np.int8), nets, xy_shift, t_shift, hidden)


@dataclass
class CodedPayload:
    """A profile 1 payload taken apart by the syntax of format_spec.md §16.1, to break a field and rejoin it."""

    fields: list[int]  # gaussian_count, geometry_codec, xy_shift, t_shift, hidden, channel_mask, reserved,
    # geometry_size
    geometry: bytes
    steps: bytes
    channels: list[tuple[int, bytes, bytes]]  # (channel, prior bytes, residual data)
    motion: bytes = b""  # the motion block (§16.10), present when channel_mask bit 12 is set

    @classmethod
    def parse(cls, payload: bytes) -> CodedPayload:
        fields = list(PROFILE1_FIELDS.unpack_from(payload))
        hidden, mask, gsize = fields[4], fields[5], fields[7]
        pos = PROFILE1_FIELDS.size
        geometry = payload[pos : pos + gsize]
        steps = payload[pos + gsize : pos + gsize + 12]
        pos += gsize + 12
        motion = b""
        if mask & p1.MOTION_BIT:
            (frames,) = struct.unpack_from("<H", payload, pos)
            motion = payload[pos : pos + p1.MotionBlock.size_for(frames)]
            pos += len(motion)
        channels = []
        for c in range(12):
            if mask >> c & 1:
                size = prior_size(3 + c, hidden)
                prior = payload[pos : pos + size]
                (n,) = struct.unpack_from("<I", payload, pos + size)
                channels.append((c, prior, payload[pos + size + 4 : pos + size + 4 + n]))
                pos += size + 4 + n
        if pos != len(payload):
            raise ValueError("not a whole profile 1 payload")
        return cls(fields, geometry, steps, channels, motion)

    def join(self) -> bytes:
        """The payload again: the fixed fields as set (``geometry_size`` included), each ``residual_size`` from its
        data."""
        out = [PROFILE1_FIELDS.pack(*self.fields), self.geometry, self.steps, self.motion]
        for _, prior, data in self.channels:
            out += [prior, struct.pack("<I", len(data)), data]
        return b"".join(out)

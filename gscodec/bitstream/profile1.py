"""Profile 1 ("coded"): quantized Gaussians, entropy-coded with a learned fixed-point prior.

Segment payload (format_spec.md §16, "Profile 1")::

    gaussian_count   u32
    geometry_codec   u8       0 built-in octree, 1 G-PCC (tmc3), 2 raw int32, 3 sliced octree, 4 octree depth first
    xy_shift         u8       positions: x = gx * 2^-xy_shift pixels (0..8)
    t_shift          u8       tau = gt * 2^-t_shift frames (0..8)
    hidden           u8       width H of the prior's hidden layer (0: linear prior), at most 32
    channel_mask     u16      bit c set: channel c is coded; a clear bit means q_c = 0 for every Gaussian;
                              bit 12 set: the segment has a motion mode; bits 13-15 clear
    reserved         u16      written 0, ignored
    geometry_size    u32
    geometry_data    the integer grid points (gx, gy, gt), one per Gaussian
    steps            12 x i8  e_c: channel c's quantization step is 2^(e_c / 4)
    motion           only with bit 12: the shared motion mode (MotionBlock, format_spec.md §16.10)
    for each coded channel c (in CHANNELS order):
        prior        the fixed-point network of channel c (PriorNet.to_bytes)
        size         u32
        residuals    size bytes: the range-coded residuals q_c - mu_c (gscodec.entropy)

The decoded state is integers only: the grid points in canonical order (t, y, x), the symbols
``q`` (N, 12) int32, the steps and the prior's integer weights. Everything from bytes to that
state is integer arithmetic (the prior runs in fixed point, its outputs select constant
probability tables), so it is identical on every machine; only the dequantization to floats
(``q_c * 2^(e_c/4)``) and the rendering after it are floating point.

The prior of channel c sees, for every Gaussian, three position features computed from the
decoded grid points and the symbols of the channels coded before c; it predicts a mean (in
1/16 steps) and a scale index into the Laplace tables of :mod:`gscodec.entropy`. All Gaussians'
parameters of a channel are known before the channel is decoded, so each channel decodes in one
vectorised pass.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import numpy as np

from gscodec.entropy import K as SCALE_LEVELS
from gscodec.entropy import R as RESIDUAL_LIMIT
from gscodec.entropy import decode_residuals, encode_residuals
from gscodec.errors import LimitError, StreamError
from gscodec.geometry import CODEC_NAMES, MAX_POINTS, canonical_order, declared_points, decode_points, encode_points

MAX_GAUSSIANS = MAX_POINTS
_GEOMETRY_IDS = frozenset(i for i, _ in CODEC_NAMES)

CHANNELS: tuple[tuple[str, int], ...] = (
    ("opacity", 0),
    ("log_tscale", 0),
    ("log_scale", 0),
    ("log_scale", 1),
    ("rot", 0),
    ("color", 0),
    ("color", 1),
    ("color", 2),
    ("vel", 0),
    ("vel", 1),
    ("acc", 0),
    ("acc", 1),
)
"""The coded channels in coding order: (attribute, component). Positions (xy, tau) are the geometry."""

NUM_CHANNELS = len(CHANNELS)
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(name for name, _ in CHANNELS))
"""Attribute groups in coding order (for size accounting)."""

POSITION_FEATURES = 3
FEATURE_ONE = 1024
"""Position features are fixed point with this unit: the segment's extent maps to [-1024, 1024]."""
FEATURE_LIMIT = 32767
"""Symbol features and hidden activations are clamped to [-FEATURE_LIMIT, FEATURE_LIMIT] ([0, ...] after ReLU)."""
OUT_FRACTION_BITS = 4
"""The prior's outputs are fixed point with 4 fraction bits: mean in 1/16 steps, scale index in 1/16 levels."""
HIDDEN_FRACTION_BITS = 8
"""Encoder convention (not part of the format): hidden activations in units of 2^-8 (float 0..128)."""
MU_LIMIT = 1 << 20
"""Predicted means are clamped to [-MU_LIMIT, MU_LIMIT]; symbols therefore lie within MU_LIMIT + R."""
MAX_HIDDEN = 32
MAX_SHIFT = 31
WEIGHT_LIMIT = 32767
MAX_POSITION_SHIFT = 8
#: Rows per block when the priors are evaluated (bounds the decoder's working memory).
EVALUATE_BLOCK = 1 << 16
STEP_EXPONENT_DIVISOR = 4
"""Step of channel c = 2^(e_c / 4)."""

MOTION_BIT = 1 << NUM_CHANNELS
"""channel_mask bit 12: the segment carries a motion mode (format_spec.md §16.10)."""
MAX_MOTION_SHIFT = 15
"""The motion mode's path and coefficients are fixed point with at most 15 fraction bits."""
MOTION_HEAD = struct.Struct("<HBB3h")
"""The motion block's head: path frames, path_shift, coef_shift, then a, b, c."""

HEAD = struct.Struct("<IBBBBHHI")
"""The segment head: count, geometry codec, xy_shift, t_shift, hidden, channel_mask, reserved, geometry_size."""


def step_of(e: int | np.ndarray) -> np.ndarray:
    """Quantization step 2^(e/4) (float64) of a signalled step exponent."""
    return np.exp2(np.asarray(e, dtype=np.float64) / STEP_EXPONENT_DIVISOR)


def position_features(points: np.ndarray) -> np.ndarray:
    """(N, 3) int64 fixed-point features of the grid points: each axis's extent mapped to [-1024, 1024].

    f = ((2 (p - lo) - (hi - lo)) * 1024) // max(1, hi - lo), with lo, hi the axis's minimum and maximum.
    """
    p = np.asarray(points, dtype=np.int64)
    if p.shape[0] == 0:
        return np.zeros((0, POSITION_FEATURES), dtype=np.int64)
    lo = p.min(axis=0)
    span = p.max(axis=0) - lo
    return ((2 * (p - lo) - span) * FEATURE_ONE) // np.maximum(span, 1)


@dataclass(frozen=True)
class PriorNet:
    """The fixed-point prior of one channel: inputs (n_in) -> [hidden H, ReLU] -> (mean, scale index).

    With ``hidden == 0``: ``o = (W2 f + b2) >> s2``. Otherwise ``h = clamp((W1 f + b1) >> s1, 0, 32767)``
    and ``o = (W2 h + b2) >> s2``. Weights are int16 (|w| <= 32767), biases int32, shifts in 0..31; ``>>`` is an
    arithmetic (flooring) shift. ``o`` has 4 fraction bits: mean = clamp((o0 + 8) >> 4, ±2^20),
    scale index = clamp((o1 + 8) >> 4, 0, K - 1).
    """

    n_in: int
    hidden: int
    w1: np.ndarray  # (H, n_in) int16 (empty when hidden == 0)
    b1: np.ndarray  # (H,) int32
    s1: int
    w2: np.ndarray  # (2, H or n_in) int16
    b2: np.ndarray  # (2,) int32
    s2: int

    def byte_size(self) -> int:
        return self.size_for(self.n_in, self.hidden)

    @staticmethod
    def size_for(n_in: int, hidden: int) -> int:
        if hidden == 0:
            return 1 + 4 * n_in + 8
        return 2 + 2 * hidden * n_in + 4 * hidden + 4 * hidden + 8

    def to_bytes(self) -> bytes:
        if self.hidden == 0:
            return b"".join([struct.pack("<B", self.s2), self.w2.astype("<i2").tobytes(),
                             self.b2.astype("<i4").tobytes()])
        return b"".join([
            struct.pack("<BB", self.s1, self.s2),
            self.w1.astype("<i2").tobytes(), self.b1.astype("<i4").tobytes(),
            self.w2.astype("<i2").tobytes(), self.b2.astype("<i4").tobytes(),
        ])

    @classmethod
    def from_bytes(cls, data: bytes, pos: int, n_in: int, hidden: int) -> tuple[PriorNet, int]:
        size = cls.size_for(n_in, hidden)
        if pos + size > len(data):
            raise StreamError("truncated stream: profile 1 prior network cut short")
        if hidden == 0:
            s2 = data[pos]
            w2 = np.frombuffer(data, "<i2", 2 * n_in, pos + 1).reshape(2, n_in)
            b2 = np.frombuffer(data, "<i4", 2, pos + 1 + 4 * n_in)
            net = cls(n_in, 0, np.zeros((0, n_in), np.int16), np.zeros(0, np.int32), 0, w2, b2, s2)
        else:
            s1, s2 = data[pos], data[pos + 1]
            o = pos + 2
            w1 = np.frombuffer(data, "<i2", hidden * n_in, o).reshape(hidden, n_in)
            o += 2 * hidden * n_in
            b1 = np.frombuffer(data, "<i4", hidden, o)
            o += 4 * hidden
            w2 = np.frombuffer(data, "<i2", 2 * hidden, o).reshape(2, hidden)
            o += 4 * hidden
            b2 = np.frombuffer(data, "<i4", 2, o)
            net = cls(n_in, hidden, w1, b1, s1, w2, b2, s2)
        if net.s1 > MAX_SHIFT or net.s2 > MAX_SHIFT:
            raise StreamError(f"corrupt stream: prior shift {max(net.s1, net.s2)} above {MAX_SHIFT}")
        return net, pos + size

    def evaluate(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, scale index) per row of ``features`` (N, n_in) of integers: exact integer arithmetic.

        The products and sums are formed in float64 (BLAS) and are exact: inputs lie within ±32767
        (FEATURE_LIMIT, and position features within ±1024), weights within ±32767 and biases within
        ±2^31, so every partial sum is an integer below 2^36 in magnitude, well inside float64's 2^53,
        whatever the order of summation. Each shift is folded into the weights and biases it follows:
        ``(W f + b) >> s = floor(f · (W 2^-s) + b 2^-s)``, where the scaled terms are the same integers
        times a power of two, so every partial sum is still exact. The output's rounding folds in too:
        ``((x >> s2) + 8) >> 4 = floor(x 2^-(s2+4) + 1/2)`` for any integer x. Rows are taken in
        blocks, so memory stays O(block x width). ``features`` may be float64 holding integers: it is
        then used as it is, not copied.
        """
        f_all = np.asarray(features)
        n = f_all.shape[0]
        mu = np.empty(n, dtype=np.int64)
        k = np.empty(n, dtype=np.int64)
        down1 = 2.0 ** -self.s1
        w1 = self.w1.astype(np.float64).T * down1
        b1 = self.b1.astype(np.float64) * down1
        down2 = 2.0 ** -(self.s2 + OUT_FRACTION_BITS)
        w2 = self.w2.astype(np.float64).T * down2
        b2 = self.b2.astype(np.float64) * down2 + 0.5
        for a in range(0, n, EVALUATE_BLOCK):
            f = f_all[a : a + EVALUATE_BLOCK].astype(np.float64, copy=False)
            if self.hidden:
                f = f @ w1
                f += b1
                np.floor(f, out=f)
                np.clip(f, 0.0, float(FEATURE_LIMIT), out=f)
            o = f @ w2
            o += b2
            np.floor(o, out=o)
            mu[a : a + EVALUATE_BLOCK] = np.clip(o[:, 0], -MU_LIMIT, MU_LIMIT)
            k[a : a + EVALUATE_BLOCK] = np.clip(o[:, 1], 0, SCALE_LEVELS - 1)
        return mu, k

    def predict(self, pos: np.ndarray, q: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
        """(mean, scale index) of channel ``c`` for every row: :meth:`evaluate` of :func:`channel_features`,
        built a block of rows at a time (memory O(block), not O(rows x channels))."""
        n = pos.shape[0]
        mu = np.empty(n, dtype=np.int64)
        k = np.empty(n, dtype=np.int64)
        for a in range(0, n, EVALUATE_BLOCK):
            b = slice(a, a + EVALUATE_BLOCK)
            mu[b], k[b] = self.evaluate(channel_features(pos[b], q[b], c))
        return mu, k

    @classmethod
    def from_float(cls, w1: np.ndarray | None, b1: np.ndarray | None, w2: np.ndarray, b2: np.ndarray) -> PriorNet:
        """Quantize a float network (outputs: mean in steps, scale index in levels) to fixed point.

        Each layer gets the largest shift that keeps its weights within ±32767; biases are scaled alike.
        """

        def layer(w: np.ndarray, b: np.ndarray, out_scale: float) -> tuple[np.ndarray, np.ndarray, int]:
            w = np.asarray(w, np.float64) * out_scale
            b = np.asarray(b, np.float64) * out_scale
            peak = float(np.max(np.abs(w))) if w.size else 0.0
            s = MAX_SHIFT if peak == 0.0 else int(np.clip(np.floor(np.log2(WEIGHT_LIMIT / peak)), 0, MAX_SHIFT))
            while s > 0 and np.max(np.abs(np.round(w * 2.0**s)), initial=0) > WEIGHT_LIMIT:
                s -= 1
            s = min(s, _bias_shift_limit(b))
            wi = np.clip(np.round(w * 2.0**s), -WEIGHT_LIMIT, WEIGHT_LIMIT).astype(np.int16)
            bi = np.clip(np.round(b * 2.0**s), -(2**31) + 1, 2**31 - 1).astype(np.int32)
            return wi, bi, s

        out = float(1 << OUT_FRACTION_BITS)
        w2 = np.asarray(w2, np.float64)
        if w1 is None or np.asarray(w1).size == 0:
            wi, bi, s = layer(w2, b2, out)
            n_in = w2.shape[1]
            return cls(n_in, 0, np.zeros((0, n_in), np.int16), np.zeros(0, np.int32), 0, wi, bi, s)
        w1 = np.asarray(w1, np.float64)
        # Hidden activations carry HIDDEN_FRACTION_BITS fraction bits (the float activations are small
        # numbers; whole units would round most of them away); the second layer's weights undo the scale.
        hidden_one = float(1 << HIDDEN_FRACTION_BITS)
        w1i, b1i, s1 = layer(w1, b1, hidden_one)
        w2i, b2i, s2 = layer(w2 / hidden_one, b2, out)
        return cls(w1.shape[1], w1.shape[0], w1i, b1i, s1, w2i, b2i, s2)


def _bias_shift_limit(b: np.ndarray) -> int:
    peak = float(np.max(np.abs(b))) if np.asarray(b).size else 0.0
    if peak == 0.0:
        return MAX_SHIFT
    return int(np.clip(np.floor(np.log2((2**31 - 1) / peak)), 0, MAX_SHIFT))


def channel_features(pos: np.ndarray, q: np.ndarray, c: int) -> np.ndarray:
    """The prior's input for channel c: position features, then the symbols of channels 0..c-1 (clamped)."""
    sym = np.clip(q[:, :c].astype(np.int64), -FEATURE_LIMIT, FEATURE_LIMIT)
    return np.concatenate([pos, sym], axis=1)


def clamp_symbols(points: np.ndarray, q: np.ndarray, nets: dict[int, PriorNet]) -> np.ndarray:
    """Symbols the coder can carry: each q_c clamped to mu_c ± R, channel by channel (for the encoder).

    Channels without a network must be all zero (they are not coded).
    """
    q = np.array(q, dtype=np.int64, copy=True)
    pos = position_features(points)
    for c in range(NUM_CHANNELS):
        if c not in nets:
            q[:, c] = 0
            continue
        mu, _ = nets[c].predict(pos, q, c)
        q[:, c] = np.clip(q[:, c], mu - RESIDUAL_LIMIT, mu + RESIDUAL_LIMIT)
    return q.astype(np.int32)


@dataclass(frozen=True)
class MotionBlock:
    """A segment's shared motion mode as integers (format_spec.md §16.10): at frame k every centre also moves
    by (a + b vx + c vy) · P[k] with P[k] = path[k] · 2^-path_shift px and (a, b, c) = coef · 2^-coef_shift."""

    path_shift: int
    coef_shift: int
    coef: np.ndarray  # (3,) int16: a, b, c
    path: np.ndarray  # (T, 2) int16: x, y per frame

    @property
    def frames(self) -> int:
        return int(self.path.shape[0])

    def to_bytes(self) -> bytes:
        c = [int(v) for v in self.coef]
        return MOTION_HEAD.pack(self.frames, self.path_shift, self.coef_shift, *c) + \
            np.ascontiguousarray(self.path, dtype="<i2").tobytes()

    @staticmethod
    def size_for(frames: int) -> int:
        return MOTION_HEAD.size + 4 * frames

    @classmethod
    def from_bytes(cls, data: bytes, pos: int) -> tuple[MotionBlock, int]:
        if pos + MOTION_HEAD.size > len(data):
            raise StreamError("truncated stream: profile 1 motion mode cut short")
        frames, path_shift, coef_shift, a, b, c = MOTION_HEAD.unpack_from(data, pos)
        if frames == 0:
            raise StreamError("corrupt stream: a motion mode with a path of 0 frames")
        if path_shift > MAX_MOTION_SHIFT or coef_shift > MAX_MOTION_SHIFT:
            raise StreamError(f"corrupt stream: motion mode shift above {MAX_MOTION_SHIFT}")
        end = pos + cls.size_for(frames)
        if end > len(data):
            raise StreamError("truncated stream: profile 1 motion path cut short")
        path = np.frombuffer(data, "<i2", 2 * frames, pos + MOTION_HEAD.size).reshape(frames, 2).copy()
        return cls(path_shift, coef_shift, np.array([a, b, c], np.int16), path), end

    def check_frames(self, frames: int) -> None:
        """StreamError unless the path covers exactly the segment's ``frames`` frames."""
        if self.frames != frames:
            raise StreamError(f"corrupt stream: the motion path covers {self.frames} frames in a segment of {frames}")

    def mode(self, device: object = "cpu") -> object:
        """The float :class:`gscodec.model.MotionMode` (§16.7: binary64, then binary32) on ``device``."""
        import torch

        from gscodec.model.tsw import MotionMode

        path = (self.path.astype(np.float64) * 2.0**-self.path_shift).astype(np.float32)
        coef = (self.coef.astype(np.float64) * 2.0**-self.coef_shift).astype(np.float32)
        return MotionMode(torch.from_numpy(path).to(device), torch.from_numpy(coef).to(device))


@dataclass(frozen=True)
class DecodedSegment:
    """The decoded state of a profile 1 segment: integers only."""

    points: np.ndarray  # (N, 3) int64, canonical order
    q: np.ndarray  # (N, 12) int32 symbols
    steps: np.ndarray  # (12,) int8 step exponents
    nets: dict[int, PriorNet]
    xy_shift: int
    t_shift: int
    hidden: int
    geometry_codec: int
    geometry_bytes: int
    sizes: dict[str, int]  # bytes per part: head, geometry, steps, motion, prior, and each attribute group
    motion: MotionBlock | None = None

    def __len__(self) -> int:
        return int(self.points.shape[0])

    @property
    def channel_mask(self) -> int:
        return sum(1 << c for c in self.nets) | (MOTION_BIT if self.motion is not None else 0)

    def motion_mode(self, device: object = "cpu") -> object:
        """The segment's float motion mode on ``device`` (a gscodec.model.MotionMode), or None."""
        return None if self.motion is None else self.motion.mode(device)

    def gaussian_arrays(self) -> dict[str, np.ndarray]:
        """Dequantized float32 arrays named as in params.ATTRIBUTES."""
        n = len(self)
        p = self.points.astype(np.float64)
        out = {
            "xy": (p[:, :2] * 2.0**-self.xy_shift).astype(np.float32),
            "tau": (p[:, 2:3] * 2.0**-self.t_shift).astype(np.float32),
        }
        comps = {"vel": 2, "acc": 2, "log_scale": 2, "rot": 1, "log_tscale": 1, "color": 3, "opacity": 1}
        arrays = {name: np.zeros((n, k), np.float64) for name, k in comps.items()}
        steps = step_of(self.steps)
        for c, (name, j) in enumerate(CHANNELS):
            arrays[name][:, j] = self.q[:, c].astype(np.float64) * steps[c]
        out.update({name: a.astype(np.float32) for name, a in arrays.items()})
        return out

    def state_parts(self) -> list[bytes]:
        """The canonical decoded-state bytes (format_spec.md §16.6), in order."""
        head = struct.pack("<IBBBH", len(self), self.xy_shift, self.t_shift, self.hidden, self.channel_mask)
        return [head, np.ascontiguousarray(self.points, dtype="<i8").tobytes(),
                np.ascontiguousarray(self.steps, dtype="i1").tobytes(),
                *([self.motion.to_bytes()] if self.motion is not None else []),
                *(self.nets[c].to_bytes() for c in sorted(self.nets)),
                np.ascontiguousarray(self.q, dtype="<i4").tobytes()]

    def state_hash(self) -> str:
        """SHA-256 of the decoded state (format_spec.md §16.6)."""
        h = hashlib.sha256()
        for part in self.state_parts():
            h.update(part)
        return h.hexdigest()


def encode_segment(points: np.ndarray, q: np.ndarray, steps: np.ndarray, nets: dict[int, PriorNet],
                   xy_shift: int, t_shift: int, geometry: str = "builtin", motion: MotionBlock | None = None,
                   **geometry_opts: object) -> bytes:
    """Pack a quantized segment. ``points`` (N, 3) and ``q`` (N, 12) in any order (rows sorted here).

    Every coded channel's residuals must lie within ±R of the prior's mean (see :func:`clamp_symbols`);
    a channel without a network must be all zero. ``motion``: the segment's motion mode, if any.
    """
    from gscodec.bitstream.profile0 import GEOMETRY_CODECS

    codec = GEOMETRY_CODECS[geometry]
    points = np.asarray(points, dtype=np.int64).reshape(-1, 3)
    q = np.asarray(q, dtype=np.int64).reshape(-1, NUM_CHANNELS)
    n = points.shape[0]
    if n > MAX_GAUSSIANS:
        raise ValueError(f"{n} Gaussians in one segment; at most {MAX_GAUSSIANS}")
    if not (0 <= xy_shift <= MAX_POSITION_SHIFT and 0 <= t_shift <= MAX_POSITION_SHIFT):
        raise ValueError("position shifts must be 0..8")
    hidden = {net.hidden for net in nets.values()}
    if len(hidden) > 1:
        raise ValueError("all prior networks of a segment share one hidden width")
    h = hidden.pop() if hidden else 0
    if h > MAX_HIDDEN:
        raise ValueError(f"hidden width {h} above {MAX_HIDDEN}")
    steps = np.asarray(steps, dtype=np.int64)
    if steps.shape != (NUM_CHANNELS,) or np.any(steps < -128) or np.any(steps > 127):
        raise ValueError("steps must be 12 exponents within int8")
    if motion is not None:
        if not (0 <= motion.path_shift <= MAX_MOTION_SHIFT and 0 <= motion.coef_shift <= MAX_MOTION_SHIFT):
            raise ValueError(f"motion mode shifts must be 0..{MAX_MOTION_SHIFT}")
        if not 1 <= motion.frames <= 0xFFFF or motion.coef.shape != (3,):
            raise ValueError("a motion mode has a path of 1..65535 frames and 3 coefficients")
    perm = canonical_order(points)
    points, q = points[perm], q[perm]
    geometry_data = encode_points(points, codec, **geometry_opts)
    mask = sum(1 << c for c in nets) | (MOTION_BIT if motion is not None else 0)
    parts = [HEAD.pack(n, codec, xy_shift, t_shift, h, mask, 0, len(geometry_data)), geometry_data,
             steps.astype("i1").tobytes(), *([motion.to_bytes()] if motion is not None else [])]
    pos = position_features(points)
    for c in range(NUM_CHANNELS):
        if c not in nets:
            if np.any(q[:, c]):
                raise ValueError(f"channel {c} has no prior network but non-zero symbols")
            continue
        net = nets[c]
        if net.n_in != POSITION_FEATURES + c:
            raise ValueError(f"prior of channel {c} takes {net.n_in} inputs; expected {POSITION_FEATURES + c}")
        mu, k = net.predict(pos, q, c)
        r = q[:, c] - mu
        if r.size and np.max(np.abs(r)) > RESIDUAL_LIMIT:
            raise ValueError(f"channel {c}: residual beyond ±{RESIDUAL_LIMIT}; clamp the symbols first")
        data = encode_residuals(r, k)
        parts += [net.to_bytes(), struct.pack("<I", len(data)), data]
    return b"".join(parts)


def decode_segment(payload: bytes, frames: int | None = None, **geometry_opts: object) -> DecodedSegment:
    """Unpack a profile 1 payload to its integer state, checking every size before it is used.

    ``frames``: the segment's frame count (its GSEG head), which a motion path must cover exactly; None
    leaves that check to the caller (:meth:`MotionBlock.check_frames`).
    """
    if len(payload) < HEAD.size:
        raise StreamError("corrupt stream: profile 1 segment payload too short")
    n, codec, xy_shift, t_shift, hidden, mask, _reserved, geometry_size = HEAD.unpack_from(payload)
    if n > MAX_GAUSSIANS:
        raise LimitError(f"segment holds {n} Gaussians, more than the limit of {MAX_GAUSSIANS}")
    if codec not in _GEOMETRY_IDS:
        raise StreamError(f"corrupt stream: unknown geometry codec {codec}")
    if xy_shift > MAX_POSITION_SHIFT or t_shift > MAX_POSITION_SHIFT:
        raise StreamError(f"corrupt stream: position shift above {MAX_POSITION_SHIFT}")
    if hidden > MAX_HIDDEN:
        raise StreamError(f"corrupt stream: prior hidden width {hidden} above {MAX_HIDDEN}")
    if mask >> (NUM_CHANNELS + 1):
        raise StreamError(f"corrupt stream: channel mask {mask:#06x} sets reserved bits 13-15")
    pos = HEAD.size
    if pos + geometry_size + NUM_CHANNELS > len(payload):
        raise StreamError("truncated stream: profile 1 geometry or steps cut short")
    geometry_data = payload[pos : pos + geometry_size]
    declared = declared_points(geometry_data, codec)
    if declared is not None and declared != n:
        raise StreamError(f"corrupt stream: geometry holds {declared} points for {n} Gaussians")
    # Every coded channel costs at least its network and size field: check the payload can hold them
    # before decoding the geometry (a few hundred geometry bytes can code millions of points).
    coded = [c for c in range(NUM_CHANNELS) if mask >> c & 1]
    least = sum(PriorNet.size_for(POSITION_FEATURES + c, hidden) + 4 for c in coded)
    motion = None
    motion_bytes = 0
    if mask & MOTION_BIT:  # read (and checked) before the geometry: it is small and sized by its head
        motion, end = MotionBlock.from_bytes(payload, pos + geometry_size + NUM_CHANNELS)
        motion_bytes = end - (pos + geometry_size + NUM_CHANNELS)
        if frames is not None:
            motion.check_frames(frames)
    if pos + geometry_size + NUM_CHANNELS + motion_bytes + least > len(payload):
        raise StreamError("truncated stream: profile 1 segment too short for its coded channels")
    points = decode_points(geometry_data, codec, **geometry_opts)
    if points.shape != (n, 3):
        raise StreamError(f"corrupt stream: geometry holds {points.shape[0]} points for {n} Gaussians")
    pos += geometry_size
    steps = np.frombuffer(payload, "i1", NUM_CHANNELS, pos).copy()
    pos += NUM_CHANNELS + motion_bytes
    sizes = {"head": HEAD.size, "geometry": geometry_size, "steps": NUM_CHANNELS, "motion": motion_bytes, "prior": 0}
    sizes.update({g: 0 for g in GROUPS})
    q = np.zeros((n, NUM_CHANNELS), dtype=np.int32)  # |mu + r| <= 2^20 + R
    # Every channel's prior input is a prefix of one row: the position features, then the clamped symbols
    # of the channels in order (0 for a channel not coded). Held as int16 (every feature lies within
    # ±FEATURE_LIMIT) and filled in as channels decode, so no channel's input is built anew.
    features = np.zeros((n, POSITION_FEATURES + NUM_CHANNELS), dtype=np.int16)
    features[:, :POSITION_FEATURES] = position_features(points)
    nets: dict[int, PriorNet] = {}
    for c in coded:
        net, end = PriorNet.from_bytes(payload, pos, POSITION_FEATURES + c, hidden)
        sizes["prior"] += end - pos
        pos = end
        if pos + 4 > len(payload):
            raise StreamError("truncated stream: profile 1 channel size cut short")
        (size,) = struct.unpack_from("<I", payload, pos)
        pos += 4
        if pos + size > len(payload):
            raise StreamError(f"truncated stream: profile 1 channel {c} holds {size} bytes, fewer remain")
        mu, k = net.evaluate(features[:, : POSITION_FEATURES + c])
        r = decode_residuals(payload[pos : pos + size], k)
        q[:, c] = mu + r
        np.clip(q[:, c], -FEATURE_LIMIT, FEATURE_LIMIT, out=features[:, POSITION_FEATURES + c])
        sizes[CHANNELS[c][0]] += 4 + size
        pos += size
        nets[c] = net
    if pos != len(payload):
        raise StreamError(f"corrupt stream: {len(payload) - pos} bytes after the last profile 1 channel")
    return DecodedSegment(points, q, steps, nets, xy_shift, t_shift, hidden, codec,
                          geometry_size, sizes, motion)


def replace_geometry(payload: bytes, codec: int, geometry_data: bytes) -> bytes:
    """``payload`` with its geometry replaced by ``geometry_data`` of geometry codec ``codec``, the rest as it
    is. The new geometry must hold the same points, or the payload no longer decodes."""
    fields = list(HEAD.unpack_from(payload))
    rest = payload[HEAD.size + fields[-1] :]
    fields[1], fields[-1] = codec, len(geometry_data)
    return HEAD.pack(*fields) + geometry_data + rest


def peek_segment(payload: bytes) -> tuple[int, int, int]:
    """(gaussian_count, geometry_codec, geometry_size) without decoding, for gsinfo."""
    if len(payload) < HEAD.size:
        raise StreamError("corrupt stream: profile 1 segment payload too short")
    n, codec, _xs, _ts, _h, _mask, _res, geometry_size = HEAD.unpack_from(payload)
    return n, codec, geometry_size


def layout(payload: bytes) -> dict[str, int]:
    """Bytes of each part of a payload (head, geometry, steps, motion, prior, then each attribute group), without
    decoding.

    The parts add up to the payload's length; raises StreamError if they cannot.
    """
    if len(payload) < HEAD.size:
        raise StreamError("corrupt stream: profile 1 segment payload too short")
    _n, _codec, _xs, _ts, hidden, mask, _res, geometry_size = HEAD.unpack_from(payload)
    if hidden > MAX_HIDDEN or mask >> (NUM_CHANNELS + 1):
        raise StreamError("corrupt stream: profile 1 segment head out of range")
    pos = HEAD.size + geometry_size + NUM_CHANNELS
    motion = 0
    if mask & MOTION_BIT:
        motion = MotionBlock.from_bytes(payload, pos)[1] - pos
        pos += motion
    sizes = {"head": HEAD.size, "geometry": geometry_size, "steps": NUM_CHANNELS, "motion": motion, "prior": 0}
    sizes.update({g: 0 for g in GROUPS})
    for c in range(NUM_CHANNELS):
        if not mask >> c & 1:
            continue
        net = PriorNet.size_for(POSITION_FEATURES + c, hidden)
        if pos + net + 4 > len(payload):
            raise StreamError("truncated stream: profile 1 channel cut short")
        (size,) = struct.unpack_from("<I", payload, pos + net)
        sizes["prior"] += net
        sizes[CHANNELS[c][0]] += 4 + size
        pos += net + 4 + size
    if pos != len(payload):
        raise StreamError("corrupt stream: profile 1 segment parts do not add up to its payload")
    return sizes

"""Depth-first octree coder (geometry codec 4): the occupied leaves in Morton order, as gaps.

Normative description: format_spec.md §9.7 (same names as here). Every point's position relative
to the bounding box becomes one integer key by interleaving its coordinate bits level by level,
as an octree would split them, so sorting the keys walks the octree's leaves depth first. The
sorted keys are sent as gaps between neighbours: each gap's bit length (its size class) through
six adaptive binary decisions, the bit below its leading one through an adaptive context, the
rest as plain bits. Every step codes all points at once, so a cloud of 50,000 points decodes in
a few tens of milliseconds of numpy and constriction calls, several times faster than the
breadth-first octree coder (codec 0), and in about as many bytes.

The encoder chooses how the time axis interleaves with x and y (the axes' ``leads``): a lead of
k on an axis moves its bits k levels up, so that it is split earlier. It estimates each choice's
size from the gap classes' entropy, in integer arithmetic (the same choice on every machine),
and codes the best one.
"""

from __future__ import annotations

import operator
import struct
import zlib

import numpy as np

from gscodec.errors import InputError, StreamError
from gscodec.geometry._adaptive import BitDecoder, BitEncoder, ContextModel, bit_length
from gscodec.geometry._header import HEADER, check_box, check_span, read_header
from gscodec.geometry.limits import canonical_sorted

FORMAT_VERSION = 0

# HEADER (format_version, crc32, num_points) is codec 0's, but here the CRC covers num_points and all that follows.
BOUNDS = struct.Struct("<iiiIII")  # origin_x, origin_y, origin_t, extent_x, extent_y, extent_t
LEADS = struct.Struct("<BBB")  # lead_x, lead_y, lead_t

#: A lead above this is refused: keys have at most 63 bits, so larger leads only add empty levels.
MAX_LEAD = 63
#: Within a level the axes contribute their bits in this order: t, then y, then x.
AXIS_ORDER = (2, 1, 0)
#: A gap's size class (its bit length, 0 to 63) is sent as this many binary decisions.
CLASS_BITS = 6
#: Uniformly coded remainders are sent in pieces of at most this many bits.
PIECE_BITS = 16
#: Time leads the encoder tries (x and y keep lead 0), and x-y leads (with time at 0).
TIME_LEADS = tuple(range(0, 9))
SPACE_LEADS = (1, 2, 3)
#: Every (x, y, t) lead the encoder tries, in the order it tries them (the first wins a tie).
CANDIDATE_LEADS: tuple[tuple[int, int, int], ...] = (
    tuple((0, 0, t) for t in TIME_LEADS) + tuple((s, s, 0) for s in SPACE_LEADS)
)


def key_layout(bits: list[int], leads: list[int]) -> list[tuple[int, int]]:
    """The (axis, bit) of every key bit, most significant first.

    Level L holds, in AXIS_ORDER, bit L - lead_a of each axis a that has such a bit
    (0 <= L - lead_a < bits[a]); the levels run from the highest down to 0.
    """
    top = max((b + lead for b, lead in zip(bits, leads) if b > 0), default=0)
    out = []
    for level in range(top - 1, -1, -1):
        for a in AXIS_ORDER:
            j = level - leads[a]
            if 0 <= j < bits[a]:
                out.append((a, j))
    return out


def make_keys(rel: np.ndarray, layout: list[tuple[int, int]]) -> np.ndarray:
    """Morton keys (uint64) of relative positions ``rel`` (N, 3) under ``layout``."""
    key = np.zeros(rel.shape[0], dtype=np.uint64)
    one = np.uint64(1)
    for a, j in layout:
        key = (key << one) | ((rel[:, a] >> j) & 1).astype(np.uint64)
    return key


def split_keys(key: np.ndarray, layout: list[tuple[int, int]]) -> np.ndarray:
    """Inverse of :func:`make_keys`: (N, 3) int64 relative positions."""
    rel = np.zeros((key.size, 3), dtype=np.int64)
    n = len(layout)
    for i, (a, j) in enumerate(layout):
        rel[:, a] |= ((key >> np.uint64(n - 1 - i)) & np.uint64(1)).astype(np.int64) << j
    return rel


def key_gaps(points_rel: np.ndarray, layout: list[tuple[int, int]]) -> np.ndarray:
    """The gaps (uint64) between the sorted keys of relative positions, the first from 0."""
    keys = np.sort(make_keys(points_rel, layout))
    return np.diff(keys, prepend=np.uint64(0))


#: Fraction bits of the fixed-point logarithms in the size estimate.
LOG_BITS = 16


def log2_fixed(m: int) -> int:
    """floor-ish of log2(m) * 2**LOG_BITS for an integer m >= 1, in integer arithmetic only.

    The binary-logarithm recurrence (square the mantissa, take a bit when it passes 2) with a
    64-bit mantissa truncated at every step: not always the exact floor, but the same integer on
    every machine, so the encoder's choice of leads does not depend on a floating-point library.
    """
    e = m.bit_length() - 1
    precision = 64
    y = (m << precision) >> e  # m / 2**e in [1, 2), with 64 fraction bits
    out = e << LOG_BITS
    for i in range(LOG_BITS):
        y = (y * y) >> precision
        if y >= 2 << precision:
            y >>= 1
            out |= 1 << (LOG_BITS - 1 - i)
    return out


def estimated_size(gaps: np.ndarray) -> int:
    """Size estimate for choosing the leads, in units of 2**-LOG_BITS bits: the gap classes' empirical
    entropy plus their plain bits, in integer arithmetic."""
    k = bit_length(gaps)
    n = gaps.size
    log_n = log2_fixed(n)
    entropy = sum(int(c) * (log_n - log2_fixed(int(c))) for c in np.bincount(k) if c)
    return entropy + (int(np.maximum(k - 1, 0).sum()) << LOG_BITS)


def choose_leads(rel: np.ndarray, bits: list[int]) -> list[int]:
    """The leads (x, y, t) among the candidates whose gaps look cheapest (ties: the first tried)."""
    best, best_size = CANDIDATE_LEADS[0], None
    for leads in CANDIDATE_LEADS:
        size = estimated_size(key_gaps(rel, key_layout(bits, leads)))
        if best_size is None or size < best_size:
            best, best_size = leads, size
    return list(best)


def _code_gaps(coder: BitEncoder | BitDecoder, n: int, gaps: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Code ``n`` gaps (uint64): classes, refinement bits, then the plain remainder bits. Returns the gaps and
    their classes (bit lengths)."""
    classes = ContextModel(1 << CLASS_BITS)
    k_true = None if gaps is None else bit_length(gaps)
    node = np.ones(n, dtype=np.int64)
    for b in range(CLASS_BITS - 1, -1, -1):
        truth = None if k_true is None else (k_true >> b) & 1
        bit = coder.code(classes, node, truth)
        node = 2 * node + bit
    k = node - (1 << CLASS_BITS)
    # the bit below the leading one, in a context per class
    value = np.where(k > 0, np.uint64(1), np.uint64(0)).astype(np.uint64)
    refine = np.flatnonzero(k >= 2)
    if refine.size:
        shift = (k[refine] - 2).astype(np.uint64)
        truth = None if gaps is None else ((gaps[refine] >> shift) & np.uint64(1)).astype(np.int64)
        bit = coder.code(ContextModel(1 << CLASS_BITS), k[refine], truth)
        value[refine] = (value[refine] << np.uint64(1)) | bit.astype(np.uint64)
    # the r = k - 2 bits below those two, in pieces of up to PIECE_BITS, least significant piece first
    r = np.maximum(k - 2, 0)
    done = np.zeros(n, dtype=np.int64)
    low = np.zeros(n, dtype=np.uint64)
    while True:
        sel = np.flatnonzero(r > done)
        if sel.size == 0:
            break
        width = np.minimum(r[sel] - done[sel], PIECE_BITS)
        truth = None
        if gaps is not None:
            mask = (np.uint64(1) << width.astype(np.uint64)) - np.uint64(1)
            truth = ((gaps[sel] >> done[sel].astype(np.uint64)) & mask).astype(np.int64)
        piece = coder.code_uniform(truth, width)
        low[sel] |= piece.astype(np.uint64) << done[sel].astype(np.uint64)
        done[sel] += width
    return (value << r.astype(np.uint64)) | low, k


def encode_morton(points: np.ndarray, leads: list[int] | None = None) -> bytes:
    """Encode an (N, 3) int64 array of (x, y, t) points that passed :func:`check_points`.

    ``leads`` (x, y, t) fixes the axis leads; by default the encoder picks them (:func:`choose_leads`).
    """
    fixed = None if leads is None else _check_leads(leads)
    n = points.shape[0]
    if n == 0:
        return _seal(b"", 0)
    origin = points.min(axis=0)
    rel = points - origin
    extent = rel.max(axis=0)
    bits = [int(e).bit_length() for e in extent]
    chosen = choose_leads(rel, bits) if fixed is None else fixed
    return pack_morton(origin, extent, chosen, key_gaps(rel, key_layout(bits, chosen)))


def _check_leads(leads: object) -> list[int]:
    """Three integers in [0, MAX_LEAD], or an InputError that says what is wrong."""
    try:
        values = [operator.index(v) for v in leads]  # type: ignore[attr-defined]
    except TypeError:
        raise InputError(f"leads must be three integers in [0, {MAX_LEAD}], got {leads!r}") from None
    if len(values) != 3 or not all(0 <= v <= MAX_LEAD for v in values):
        raise InputError(f"leads must be three integers in [0, {MAX_LEAD}], got {leads!r}")
    return values


def _seal(body: bytes, n: int) -> bytes:
    """The header before ``body``: its CRC covers num_points and the body."""
    return HEADER.pack(FORMAT_VERSION, zlib.crc32(struct.pack("<I", n) + body), n) + body


def pack_morton(origin: np.ndarray, extent: np.ndarray, leads: list[int], gaps: np.ndarray) -> bytes:
    """A codec-4 payload of the given box, leads and key gaps (uint64), as they are: nothing is checked.

    The encoder's last step; conformance streams call it with gaps no encoder would write.
    """
    enc = BitEncoder()
    _code_gaps(enc, gaps.size, np.asarray(gaps, dtype=np.uint64))
    body = BOUNDS.pack(*(int(o) for o in origin), *(int(e) for e in extent)) + LEADS.pack(*leads)
    return _seal(body + enc.finish(), int(gaps.size))


def decode_morton(data: bytes) -> np.ndarray:
    """Decode a codec-4 payload into (N, 3) int64 points in canonical order."""
    n, body = read_header(data, FORMAT_VERSION, crc_from=5)  # the CRC covers num_points too
    if n == 0:
        return np.zeros((0, 3), dtype=np.int64)
    if len(body) < BOUNDS.size + LEADS.size:
        raise StreamError("geometry payload is truncated: the bounding box or the axis leads are missing")
    box = BOUNDS.unpack_from(body)
    leads = list(LEADS.unpack_from(body, BOUNDS.size))
    origin = np.array(box[:3], dtype=np.int64)
    extent = np.array(box[3:], dtype=np.int64)
    check_box(origin, extent)
    if max(leads) > MAX_LEAD:
        raise StreamError(f"geometry payload is corrupt: an axis lead above {MAX_LEAD} ({max(leads)})")
    bits = [int(e).bit_length() for e in extent]
    layout = key_layout(bits, leads)
    dec = BitDecoder(bytes(body[BOUNDS.size + LEADS.size :]))
    gaps, classes = _code_gaps(dec, n, None)
    if int(classes.max()) > len(layout):
        raise StreamError("geometry payload is corrupt: a gap is larger than the bounding box's key space")
    # the keys must stay below 2**len(layout): add the gaps' high and low halves apart, exactly
    half = np.uint64(32)
    total = (int((gaps >> half).sum()) << 32) + int((gaps & np.uint64(0xFFFFFFFF)).sum())
    if total >= 1 << len(layout):
        raise StreamError("geometry payload is corrupt: the gaps run past the bounding box's key space")
    dec.check_end()
    rel = split_keys(np.cumsum(gaps, dtype=np.uint64), layout)
    check_span(rel, extent)
    return canonical_sorted(rel + origin)

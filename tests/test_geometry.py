"""Geometry codecs: round trips, canonical order, determinism, corrupt payloads, limits, G-PCC wrapper."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import struct
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest

import gscodec.geometry.limits as limits_mod
from gscodec.errors import InputError, LimitError, RuntimeFailure, StreamError, UnsupportedError
from gscodec.geometry import (
    CODEC_BUILTIN,
    CODEC_GPCC,
    CODEC_MORTON,
    CODEC_RAW,
    MAX_COORD,
    MAX_EXTENT_BITS,
    _adaptive,
    canonical_order,
    codec_id,
    decode_points,
    encode_points,
    octree,
)
from gscodec.geometry.gpcc import HEADER as GPCC_HEADER
from gscodec.geometry.gpcc import read_ply, write_ply

# ---------------------------------------------------------------- test clouds


def _surface(n: int, seed: int) -> np.ndarray:
    """Points on a wavy x-y-t surface around a few blobs, like anchors of a video fit."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform([0, 0], [320, 180], (6, 2))
    b = rng.integers(0, 6, n)
    xy = np.round(centres[b] + rng.normal(0, 20, (n, 2)))
    t = np.round(12 + 8 * np.sin(xy[:, 0] / 50) * np.cos(xy[:, 1] / 30) + rng.normal(0, 1, n))
    return np.column_stack([xy, t]).astype(np.int64)


def _clouds() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    grid = np.stack(np.meshgrid(np.arange(30), np.arange(20), indexing="ij"), -1).reshape(-1, 2)
    return {
        "empty": np.zeros((0, 3), dtype=np.int64),
        "one point": np.array([[5, -7, 3]]),
        "all duplicates": np.tile([[1, 2, 3]], (700, 1)),
        "two points": np.array([[0, 0, 0], [1, 1, 1]]),
        "line x": np.column_stack([np.arange(300), np.zeros(300, int), np.zeros(300, int)]),
        "line t sparse": np.column_stack([np.zeros(40, int), np.zeros(40, int), np.arange(40) * 7]),
        "plane x-y": np.column_stack([grid, np.full(len(grid), 9)]),
        "plane x-t": np.column_stack([grid[:, 0], np.full(len(grid), -4), grid[:, 1]]),
        "random": rng.integers(0, 200, (3000, 3)),
        "random with duplicates": rng.integers(0, 12, (2500, 3)),
        "clustered": _surface(4000, 1),
        "negative": rng.integers(-MAX_COORD, -MAX_COORD + 500, (800, 3)),
        "huge": rng.integers(MAX_COORD - 900, MAX_COORD + 1, (800, 3)),
        "widest span": np.array([[-5, 0, 0], [(1 << MAX_EXTENT_BITS) - 6, 3, 1], [7, 7, 7], [7, 7, 7]]),
        "heavy duplicate": np.concatenate([rng.integers(0, 40, (500, 3)), np.tile([[3, 4, 5]], (70000, 1))]),
        "uint8 input": rng.integers(0, 255, (400, 3)).astype(np.uint8),
    }


CLOUDS = _clouds()


def _canonical(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.int64)
    return p[np.lexsort((p[:, 0], p[:, 1], p[:, 2]))]


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("codec", [CODEC_BUILTIN, CODEC_RAW])
@pytest.mark.parametrize("name", list(CLOUDS))
def test_round_trip(name: str, codec: int) -> None:
    points = CLOUDS[name]
    data = encode_points(points, codec)
    out = decode_points(data, codec)
    assert out.dtype == np.int64 and out.shape == (len(points), 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, _canonical(points))


def test_codec_names_and_ids_agree() -> None:
    p = CLOUDS["clustered"]
    assert encode_points(p) == encode_points(p, "builtin") == encode_points(p, 0)
    assert encode_points(p, "raw") == encode_points(p, CODEC_RAW)
    assert codec_id("GPCC") == CODEC_GPCC


def test_builtin_compresses_structured_clouds() -> None:
    # far below the 96 bits/point of raw int32 triples; a plane and a line cost almost nothing
    assert len(encode_points(CLOUDS["clustered"])) * 8 / 4000 < 14
    assert len(encode_points(CLOUDS["plane x-y"])) < 80
    assert len(encode_points(CLOUDS["all duplicates"])) < 60


# ---------------------------------------------------------------- canonical order


def test_canonical_order_sorts_t_then_y_then_x_and_is_stable() -> None:
    rng = np.random.default_rng(3)
    pts = rng.integers(-3, 3, (500, 3))
    perm = canonical_order(pts)
    assert sorted(perm.tolist()) == list(range(500))
    s = pts[perm]
    keys = [tuple(r) for r in s[:, ::-1].tolist()]  # (t, y, x)
    assert keys == sorted(keys)
    # stable: equal points keep their input order, so the permutation is fully determined
    np.testing.assert_array_equal(perm, np.lexsort((pts[:, 0], pts[:, 1], pts[:, 2])))


def test_canonical_order_lines_up_attributes_with_decoded_points() -> None:
    rng = np.random.default_rng(4)
    pts = rng.integers(0, 64, (1500, 3))
    attrs = np.arange(1500) * 10 + 1
    out = decode_points(encode_points(pts), CODEC_BUILTIN)
    perm = canonical_order(pts)
    np.testing.assert_array_equal(out, pts[perm])
    np.testing.assert_array_equal(attrs[perm] // 10, perm)


def test_canonical_order_wide_coordinates_use_the_lexsort_path() -> None:
    pts = np.array([[MAX_COORD, 0, 1], [-MAX_COORD, 5, 1], [0, 0, -MAX_COORD], [0, 0, -MAX_COORD]])
    np.testing.assert_array_equal(canonical_order(pts), [2, 3, 0, 1])
    assert canonical_order(np.zeros((0, 3), int)).shape == (0,)


# ---------------------------------------------------------------- determinism and format stability


def test_encoding_is_deterministic_and_independent_of_input_order() -> None:
    p = CLOUDS["random with duplicates"]
    shuffled = p[np.random.default_rng(9).permutation(len(p))]
    assert encode_points(p) == encode_points(p) == encode_points(shuffled)


def _lcg_cloud(n: int) -> np.ndarray:
    """A cloud from a fixed integer generator (independent of numpy's random streams)."""
    state = 12345
    out = []
    for _ in range(n):
        coords = []
        for span in (96, 64, 16):
            state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
            coords.append((state >> 33) % span)
        out.append(coords)
    pts = np.array(out, dtype=np.int64)
    return np.concatenate([pts, pts[:50]])  # with duplicates


def test_golden_payload_hash() -> None:
    # The builtin coder's output is normative (format_spec.md §9 ("Geometry")). If this fails, the format
    # changed: bump octree.FORMAT_VERSION and update the spec, then the expected hash.
    data = encode_points(_lcg_cloud(3000))
    assert hashlib.sha256(data).hexdigest() == GOLDEN_SHA256
    np.testing.assert_array_equal(decode_points(data, 0), _canonical(_lcg_cloud(3000)))


GOLDEN_SHA256 = "a9f2770d61a709726d1963a896a660b19114934641363cd6c987e69e458255c3"


def test_probability_weights_stay_in_range_for_extreme_counts() -> None:
    lim = _adaptive.COUNT_LIMIT
    c0 = np.array([0, lim, 0, lim, lim // 2, 0])
    c1 = np.array([0, 0, lim, lim, lim // 2, 1])
    w = _adaptive.kt_weight(c0, c1)
    assert w.min() >= 1 and w.max() <= _adaptive.PROB_ONE - 1
    model = _adaptive.ContextModel(12, group=2)
    model.coarse[:, 0], model.coarse[:, 1] = c0, c1
    model.fine[:, 0] = np.repeat(c1, 2)
    model.fine[:, 1] = np.tile([0, lim], 6)
    w = model.weights(0, 12)
    assert w.min() >= 1 and w.max() <= _adaptive.PROB_ONE - 1
    # fresh contexts start at exactly one half
    np.testing.assert_array_equal(_adaptive.ContextModel(8, group=4).pairs, np.full((8, 2), 32768.0))


def test_count_halving_keeps_contexts_within_the_limit() -> None:
    model = _adaptive.ContextModel(8, group=4)
    ctx = np.array([1] * 5000 + [2] * 3)
    bits = np.array([1] * 4000 + [0] * 1000 + [1, 0, 1], dtype=np.int32)
    model.update(ctx, bits, 0, 8)
    assert model.fine[1].sum() <= _adaptive.COUNT_LIMIT
    assert model.fine[1, 1] > 3 * model.fine[1, 0]  # proportions survive rescaling
    assert tuple(model.fine[2]) == (1, 2)
    limit = _adaptive.COUNT_LIMIT
    for total in (limit, limit + 1, 2 * limit, 2 * limit + 1, 4 * limit + 1, _adaptive.CHUNK_MAX + limit):
        counts = np.array([[total - total // 3, total // 3]])
        _adaptive._halve(counts)
        assert counts.sum() <= limit and (total <= limit) == (counts.sum() == total)
        assert counts.sum() > limit // 4
    assert model.coarse[0].sum() <= _adaptive.COUNT_LIMIT
    assert tuple(model.fine[5]) == (0, 0) and tuple(model.coarse[1]) == (0, 0)
    # the ready-made probability pair follows the counts
    w = model.weights(0, 8)
    np.testing.assert_array_equal(model.pairs[:, 1], w)
    np.testing.assert_array_equal(model.pairs[:, 0], _adaptive.PROB_ONE - w)


def test_chunks_ramp_up_then_stay_at_the_maximum() -> None:
    bounds = _adaptive.chunk_bounds(100_000)
    sizes = [b - a for a, b in bounds]
    assert bounds[0][0] == 0 and bounds[-1][1] == 100_000
    assert all(a == prev_b for (a, _), (_, prev_b) in zip(bounds[1:], bounds[:-1]))
    assert sizes[0] == _adaptive.CHUNK_MIN and max(sizes) == _adaptive.CHUNK_MAX
    assert _adaptive.chunk_bounds(0) == []


# ---------------------------------------------------------------- a second decoder, written from the spec


class _RefModel:
    """format_spec.md §9 ("Geometry"), 'Adaptive context models', one symbol at a time in plain Python."""

    def __init__(self, dec: object, size: int, group: int = 1) -> None:
        self.dec = dec
        self.n = [[0, 0] for _ in range(size)]
        self.c = [[0, 0] for _ in range(size // group)] if group > 1 else None
        self.g = group

    @staticmethod
    def _kt(n0: int, n1: int) -> int:
        return (2 * n1 + 1) * 65536 // (2 * (n0 + n1) + 2)

    def weight(self, ctx: int) -> int:
        n0, n1 = self.n[ctx]
        if self.c is None:
            return self._kt(n0, n1)
        wc = self._kt(*self.c[ctx // self.g])
        return (n1 * 65536 + _adaptive.SMOOTHING * wc) // (n0 + n1 + _adaptive.SMOOTHING)

    def call(self, ctxs: list[int]) -> list[int]:
        import constriction

        out: list[int] = []
        m = len(ctxs)
        while len(out) < m:
            s = len(out)
            size = min(m - s, min(_adaptive.CHUNK_MAX, max(_adaptive.CHUNK_MIN, _adaptive.RAMP * s)))
            chunk = ctxs[s : s + size]
            w = [self.weight(c) for c in chunk]
            probs = np.array([[65536 - x, x] for x in w], dtype=np.float64)
            bits = self.dec.decode(constriction.stream.model.Categorical(perfect=False), probs).tolist()
            for c, b in zip(chunk, bits):
                self.n[c][b] += 1
                if self.c is not None:
                    self.c[c // self.g][b] += 1
            tables = [(self.n, set(chunk))]
            if self.c is not None:
                tables.append((self.c, {c // self.g for c in chunk}))
            for table, touched in tables:
                for c in touched:
                    shift = ((max(sum(table[c]), 1) - 1) // _adaptive.COUNT_LIMIT).bit_length()
                    table[c] = [v >> shift for v in table[c]]
            out += bits
        return out


def _reference_decode(data: bytes) -> np.ndarray:
    """Decode a builtin payload following format_spec.md §9 ("Geometry") literally (slow, small clouds only)."""
    import constriction

    _, _, n = struct.unpack_from("<BII", data)
    if n == 0:
        return np.zeros((0, 3), dtype=np.int64)
    ox, oy, ot, ex, ey, et, flags = struct.unpack_from("<iiiIIIB", data, 9)
    dec = constriction.stream.queue.RangeDecoder(np.frombuffer(data[34:], dtype="<u4").astype(np.uint32))
    bits_a = [int(e).bit_length() for e in (ex, ey, et)]
    depth = max(bits_a)
    occ = _RefModel(dec, 24576, 16)
    direct_model = _RefModel(dec, 16)
    nodes = [(0, 0, 0)]
    only_child = [True]
    parent_isolated = [False]
    positions: list[tuple[int, ...]] = []
    for level in range(depth):
        split = [depth - 1 - level < b for b in bits_a]
        r = [min(depth - level, b) for b in bits_a]
        where = {q: i for i, q in enumerate(nodes)}

        def nb(q: tuple[int, ...], a: int, step: int, where: dict = where) -> int | None:
            moved = list(q)
            moved[a] += step
            return where.get(tuple(moved))

        nbs = [[nb(q, a, s) for a in range(3) for s in (-1, 1)] for q in nodes]
        num_nb = [sum(x is not None for x in row) for row in nbs]
        eligible = [i for i in range(len(nodes)) if only_child[i] and parent_isolated[i] and num_nb[i] == 0]
        direct = set()
        if eligible:
            flags_d = direct_model.call([min(depth - level - 1, 15)] * len(eligible))
            direct_nodes = [i for i, f in zip(eligible, flags_d) if f]
            direct = set(direct_nodes)
            axes = [a for a in range(3) if r[a] > 0]
            if direct_nodes:
                sizes = np.array([1 << r[a] for _ in direct_nodes for a in axes], dtype=np.int32)
                offs = iter(dec.decode(constriction.stream.model.Uniform(), sizes).tolist())
                for i in direct_nodes:
                    pos = [nodes[i][a] << r[a] for a in range(3)]
                    for a in axes:
                        pos[a] |= next(offs)
                    positions.append(tuple(pos))
        slots = [k for k in range(8) if all(split[a] or not (k >> a) & 1 for a in range(3))]
        o = [[0] * 8 for _ in nodes]
        active = [i for i in range(len(nodes)) if i not in direct]
        for k in slots:
            coded, ctxs = [], []
            for i in active:
                sib = sum(o[i][j] for j in range(k))
                if k == slots[-1] and sib == 0:
                    o[i][k] = 1
                    continue
                code = 0
                for a in range(3):
                    ab = 1 << a
                    minus, plus = nbs[i][2 * a], nbs[i][2 * a + 1]
                    if split[a] and k & ab:
                        c = o[i][k - ab] + 2 * (o[plus][k - ab] if plus is not None else 0)
                    elif split[a]:
                        c = int(minus is not None)
                    else:
                        c = int(minus is not None) + 2 * int(plus is not None)
                    code += c << (2 * a)
                coarse = (k * 64 + code) * 3 + min(sib, 2)
                coded.append(i)
                ctxs.append(coarse * 16 + ((num_nb[i] + 1) >> 1) * 4 + min(depth - level - 1, 3))
            for i, b in zip(coded, occ.call(ctxs)):
                o[i][k] = b
        children, child_only, child_piso = [], [], []
        for i in active:
            kids = [k for k in slots if o[i][k]]
            for k in kids:
                children.append(tuple(2 * nodes[i][a] + ((k >> a) & 1) if split[a] else nodes[i][a] for a in range(3)))
                child_only.append(len(kids) == 1)
                child_piso.append(num_nb[i] == 0)
        nodes, only_child, parent_isolated = children, child_only, child_piso
    positions = sorted(positions + nodes, key=lambda q: (q[2], q[1], q[0]))
    mult = [1] * len(positions)
    if flags & 1:
        mm = _RefModel(dec, 47)
        dup = [i for i, f in enumerate(mm.call([0] * len(positions))) if f]
        e = {i: 0 for i in dup}
        live = list(dup)
        for j in range(23):
            if not live:
                break
            res = mm.call([1 + j] * len(live))
            for i, b in zip(live, res):
                e[i] += b
            live = [i for i, b in zip(live, res) if b]
        v = {i: 1 for i in dup}
        for bit in range(22, -1, -1):
            sel = [i for i in dup if e[i] > bit]
            if sel:
                for i, b in zip(sel, mm.call([24 + bit] * len(sel))):
                    v[i] = 2 * v[i] + b
        for i in dup:
            mult[i] = v[i] + 1
    assert sum(mult) == n
    return np.array(
        [[q[0] + ox, q[1] + oy, q[2] + ot] for q, m in zip(positions, mult) for _ in range(m)], dtype=np.int64
    ).reshape(-1, 3)


@pytest.mark.parametrize(
    "name", ["one point", "all duplicates", "line t sparse", "plane x-t", "widest span", "two points", "empty"]
)
def test_spec_reference_decoder_agrees(name: str) -> None:
    data = encode_points(CLOUDS[name])
    np.testing.assert_array_equal(_reference_decode(data), _canonical(CLOUDS[name]))


def test_spec_reference_decoder_agrees_on_denser_clouds() -> None:
    for pts in (CLOUDS["clustered"][:1500], CLOUDS["random with duplicates"][:1200], _lcg_cloud(600)):
        data = encode_points(pts)
        np.testing.assert_array_equal(_reference_decode(data), _canonical(pts))


# ---------------------------------------------------------------- corrupt payloads


def _payload(codec: int = CODEC_BUILTIN) -> bytes:
    return encode_points(CLOUDS["clustered"], codec)


# The octree coders (codec 0 level by level, codec 4 depth first) share these; the depth-first one's own
# checks are in tests/test_geometry_morton.py.
OCTREES = [CODEC_BUILTIN, CODEC_MORTON]


@pytest.mark.parametrize("codec", OCTREES)
def test_truncated_payloads_raise_stream_error(codec: int) -> None:
    data = _payload(codec)
    for cut in list(range(0, 40)) + list(range(40, len(data), 97)):
        with pytest.raises(StreamError):
            decode_points(data[:cut], codec)


@pytest.mark.parametrize("codec", OCTREES)
def test_flipped_bytes_raise_stream_error(codec: int) -> None:
    data = bytearray(_payload(codec))
    rng = np.random.default_rng(5)
    for pos in rng.integers(0, len(data), 40).tolist() + [0, 1, 5, len(data) - 1]:
        bad = bytearray(data)
        bad[pos] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises((StreamError, UnsupportedError)):
            decode_points(bytes(bad), codec)


@pytest.mark.parametrize("codec", OCTREES)
def test_trailing_garbage_raises_stream_error(codec: int) -> None:
    data = _payload(codec)
    with pytest.raises(StreamError):
        decode_points(data + b"\0\0\0\0", codec)


def _with_crc(body: bytes, version: int = 0, n: int | None = None, original: bytes | None = None) -> bytes:
    if n is None:
        n = struct.unpack_from("<I", original, 5)[0]
    return octree.HEADER.pack(version, zlib.crc32(body), n) + body


@pytest.mark.parametrize("codec", OCTREES)
def test_damaged_body_with_valid_crc_never_escapes_as_another_error(codec: int) -> None:
    """The decoder validates what it reads even when the checksum is not there to help."""
    data = encode_points(CLOUDS["random with duplicates"][:600], codec)
    # the coded words start after the box (and codec 4's leads); codec 4's CRC also covers num_points
    words, crc_from = (octree.HEADER.size + octree.BOUNDS.size, 9) if codec == CODEC_BUILTIN else (36, 5)
    rng = np.random.default_rng(11)
    outcomes = set()
    for trial in range(60):
        bad = bytearray(data)
        for pos in rng.integers(words, len(bad), 1 + trial % 4).tolist():
            bad[pos] = int(rng.integers(0, 256))
        bad[1:5] = struct.pack("<I", zlib.crc32(bytes(bad[crc_from:])))
        try:
            out = decode_points(bytes(bad), codec)
        except StreamError:
            outcomes.add("error")
        else:
            assert out.shape == (600, 3) and out.dtype == np.int64
            outcomes.add("decoded")
    assert "error" in outcomes


def test_header_fields_are_validated() -> None:
    data = encode_points(CLOUDS["random"])
    body = data[octree.HEADER.size :]
    with pytest.raises(UnsupportedError, match="format version"):
        decode_points(_with_crc(body, version=1, original=data), 0)
    with pytest.raises(LimitError):
        decode_points(_with_crc(body, n=limits_mod.MAX_POINTS + 1), 0)
    with pytest.raises(StreamError, match="point count|positions"):
        decode_points(_with_crc(body, n=5), 0)
    box = list(octree.BOUNDS.unpack_from(body))
    rest = body[octree.BOUNDS.size :]
    for field, value, error in (
        (3, 1 << MAX_EXTENT_BITS, LimitError),  # extent too wide
        (0, MAX_COORD + 1, LimitError),  # origin beyond the coordinate limit
        (6, 0x80, StreamError),  # reserved flag bit
        (6, box[6] ^ 0x01, StreamError),  # duplicates flag flipped
    ):
        bad = list(box)
        bad[field] = value
        with pytest.raises(error):
            decode_points(_with_crc(octree.BOUNDS.pack(*bad) + rest, original=data), 0)
    with pytest.raises(StreamError):
        decode_points(_with_crc(b"", n=0) + b"x", 0)
    with pytest.raises(StreamError, match="truncated"):
        decode_points(_with_crc(body[:10], original=data), 0)


def test_raw_payload_validation() -> None:
    with pytest.raises(StreamError):
        decode_points(b"\0" * 13, CODEC_RAW)
    unordered = np.array([[0, 0, 1], [0, 0, 0]], dtype="<i4").tobytes()
    with pytest.raises(StreamError, match="canonical"):
        decode_points(unordered, CODEC_RAW)
    too_far = np.array([[0, 0, MAX_COORD + 1]], dtype="<i4").tobytes()
    with pytest.raises(LimitError):
        decode_points(too_far, CODEC_RAW)


# ---------------------------------------------------------------- limits and bad input


def test_encoder_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LimitError):
        encode_points(np.array([[0, 0, MAX_COORD + 1]]))
    with pytest.raises(LimitError):
        encode_points(np.array([[0, 0, -MAX_COORD - 1]]))
    with pytest.raises(LimitError, match="span"):
        encode_points(np.array([[0, 0, 0], [1 << MAX_EXTENT_BITS, 0, 0]]))
    with pytest.raises(LimitError):
        encode_points(np.array([[0, 0, 1 << 63]], dtype=np.uint64))
    monkeypatch.setattr(limits_mod, "MAX_POINTS", 100)
    with pytest.raises(LimitError):
        encode_points(np.zeros((101, 3), dtype=np.int64))


def test_bad_input() -> None:
    with pytest.raises(InputError, match="shape"):
        encode_points(np.zeros((4, 2), dtype=np.int64))
    with pytest.raises(InputError, match="integer"):
        encode_points(np.zeros((4, 3)))
    with pytest.raises(InputError, match="integer"):
        encode_points(np.zeros((4, 3), dtype=bool))
    with pytest.raises(InputError, match="unknown geometry codec"):
        encode_points(np.zeros((1, 3), dtype=int), "zip")
    with pytest.raises(UnsupportedError, match="codec id 7"):
        decode_points(b"", 7)
    with pytest.raises(InputError, match="option"):
        encode_points(np.zeros((1, 3), dtype=int), "builtin", level=3)
    with pytest.raises(InputError):
        codec_id(True)


# ---------------------------------------------------------------- G-PCC wrapper (a fake tmc3)

FAKE_TMC3 = r"""
import os, sys, time
import numpy as np

args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
behaviour = os.environ.get("FAKE_TMC3", "")
if behaviour == "sleep":
    time.sleep(60)
if behaviour == "fail":
    print("Error: simulated failure", file=sys.stderr)
    sys.exit(3)


def read_ply(path):
    data = open(path, "rb").read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    lines = data[:end].decode().splitlines()
    n = int([l for l in lines if l.startswith("element vertex")][0].split()[2])
    types = [l.split()[1] for l in lines if l.startswith("property")]
    assert "binary_little_endian" in lines[1], "ascii not handled by this fake"
    size = {"float32": 4, "float": 4, "float64": 8, "int32": 4}[types[0]]
    # like tmc3: a 4-byte coordinate is read as float and an 8-byte one as double, whatever the type says
    raw = np.frombuffer(data, dtype="<f4" if size == 4 else "<f8", count=3 * n, offset=end)
    return np.rint(raw.reshape(n, 3)).astype(np.int64)


if args.get("mode") == "0":
    need = {"mergeDuplicatedPoints": "0", "positionQuantizationScale": "1", "trisoupNodeSizeLog2": "0",
            "disableAttributeCoding": "1"}
    for key, value in need.items():
        if args.get(key) != value:
            print(f"Error: expected --{key}={value}", file=sys.stderr)
            sys.exit(1)
    pts = read_ply(args["uncompressedDataPath"])
    with open(args["compressedStreamPath"], "wb") as f:
        f.write(b"FAKE" + np.int64(len(pts)).tobytes() + pts.astype("<i4").tobytes())
elif args.get("mode") == "1":
    data = open(args["compressedStreamPath"], "rb").read()
    if data[:4] != b"FAKE":
        print("Error: bad bitstream", file=sys.stderr)
        sys.exit(255)
    n = int(np.frombuffer(data[4:12], dtype="<i8")[0])
    pts = np.frombuffer(data[12:], dtype="<i4").reshape(n, 3).astype(np.int64)
    pts = pts[np.random.default_rng().permutation(n)]  # tmc3 does not keep the input order
    if behaviour == "drop":
        pts = pts[1:]
    if behaviour == "nothing":
        sys.exit(0)
    head = ("ply\nformat binary_little_endian 1.0\nelement vertex %d\nproperty float64 x\nproperty float64 y\n"
            "property float64 z\nelement face 0\nproperty list uint8 int32 vertex_index\nend_header\n" % len(pts))
    with open(args["reconstructedDataPath"], "wb") as f:
        f.write(head.encode() + (pts.astype("<f8") + (0.25 if behaviour == "fraction" else 0)).tobytes())
else:
    sys.exit(1)
"""


@pytest.fixture
def fake_tmc3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An executable that behaves like tmc3 for lossless geometry (PLY in, shuffled PLY out)."""
    exe = tmp_path / "bin" / "tmc3"
    exe.parent.mkdir()
    exe.write_text(f"#!{sys.executable}\n" + FAKE_TMC3)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.delenv("FAKE_TMC3", raising=False)
    return exe


def test_gpcc_round_trip_with_fake_tmc3(fake_tmc3: Path) -> None:
    for name in ("clustered", "random with duplicates", "negative", "one point"):
        pts = CLOUDS[name]
        data = encode_points(pts, "gpcc", tmc3=fake_tmc3)
        out = decode_points(data, CODEC_GPCC, tmc3=fake_tmc3)
        np.testing.assert_array_equal(out, _canonical(pts))
    assert not any((fake_tmc3.parent.parent / "scratch").iterdir()), "temporary folders left behind"


def test_gpcc_finds_tmc3_on_path(fake_tmc3: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fake_tmc3.parent) + os.pathsep + os.environ.get("PATH", ""))
    pts = CLOUDS["random"]
    np.testing.assert_array_equal(decode_points(encode_points(pts, "gpcc"), "gpcc"), _canonical(pts))


def test_gpcc_without_tmc3_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UnsupportedError, match="tmc3"):
        encode_points(CLOUDS["random"], "gpcc")
    with pytest.raises(UnsupportedError, match="tmc3"):
        encode_points(CLOUDS["random"], "gpcc", tmc3=tmp_path / "missing")
    # an empty cloud needs no tmc3 either way
    assert decode_points(encode_points(CLOUDS["empty"], "gpcc"), "gpcc").shape == (0, 3)


def test_gpcc_failures_and_timeouts(fake_tmc3: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pts = CLOUDS["random"]
    data = encode_points(pts, "gpcc", tmc3=fake_tmc3)
    monkeypatch.setenv("FAKE_TMC3", "fail")
    with pytest.raises(RuntimeFailure, match="simulated failure"):
        encode_points(pts, "gpcc", tmc3=fake_tmc3)
    with pytest.raises(StreamError, match="simulated failure"):
        decode_points(data, "gpcc", tmc3=fake_tmc3)
    monkeypatch.setenv("FAKE_TMC3", "sleep")
    with pytest.raises(RuntimeFailure, match="did not finish"):
        encode_points(pts, "gpcc", tmc3=fake_tmc3, timeout=0.5)
    for behaviour, message in (("drop", "declares"), ("nothing", "wrote no points"), ("fraction", "non-integer")):
        monkeypatch.setenv("FAKE_TMC3", behaviour)
        with pytest.raises(StreamError, match=message):
            decode_points(data, "gpcc", tmc3=fake_tmc3)
    assert not any((fake_tmc3.parent.parent / "scratch").iterdir()), "temporary folders left behind"


def test_gpcc_corrupt_payloads(fake_tmc3: Path) -> None:
    data = encode_points(CLOUDS["random"], "gpcc", tmc3=fake_tmc3)
    for cut in (0, 5, 21, len(data) - 1):
        with pytest.raises(StreamError):
            decode_points(data[:cut], "gpcc", tmc3=fake_tmc3)
    bad = bytearray(data)
    bad[30] ^= 0x10
    with pytest.raises(StreamError, match="CRC"):
        decode_points(bytes(bad), "gpcc", tmc3=fake_tmc3)
    # a bitstream that tmc3 itself rejects (valid CRC, so tmc3 runs)
    head = data[: GPCC_HEADER.size - 4]  # all but the CRC field
    junk = b"JUNKJUNK"
    forged = head + struct.pack("<I", zlib.crc32(junk)) + junk
    with pytest.raises(StreamError, match="bad bitstream"):
        decode_points(forged, "gpcc", tmc3=fake_tmc3)


def test_ply_writer_uses_float64_and_reader_handles_tmc3_output(tmp_path: Path) -> None:
    pts = np.array([[1, 2, 3], [(1 << 30), -(1 << 30), 0]], dtype=np.int64)
    path = tmp_path / "a.ply"
    write_ply(path, pts)
    header = path.read_bytes().split(b"end_header")[0].decode()
    assert "property float64 x" in header and "int32" not in header and "double" not in header
    np.testing.assert_array_equal(read_ply(path), pts.astype(np.float64))
    ascii_ply = tmp_path / "b.ply"
    ascii_ply.write_text(
        "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nelement face 0\nproperty list uint8 int32 vertex_index\nend_header\n"
        "1.00000 2.00000 3.00000 9\n4.00000 5.00000 6.00000 9\n"
    )
    np.testing.assert_array_equal(read_ply(ascii_ply), [[1, 2, 3], [4, 5, 6]])
    truncated = tmp_path / "c.ply"
    truncated.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(StreamError, match="truncated"):
        read_ply(truncated)


@pytest.mark.skipif(shutil.which("tmc3") is None, reason="tmc3 (MPEG G-PCC reference software) is not installed")
def test_gpcc_round_trip_with_real_tmc3() -> None:
    for name in ("clustered", "random with duplicates", "negative", "line x"):
        pts = CLOUDS[name]
        out = decode_points(encode_points(pts, CODEC_GPCC), CODEC_GPCC)
        np.testing.assert_array_equal(out, _canonical(pts))

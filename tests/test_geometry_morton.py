"""Geometry codec 4 (morton, format_spec.md §9.7): round trips, the spec's second decoder, corrupt payloads."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from gscodec.errors import InputError, LimitError, StreamError, UnsupportedError
from gscodec.geometry import (
    CODEC_MORTON,
    MAX_COORD,
    MAX_EXTENT_BITS,
    _adaptive,
    codec_id,
    declared_points,
    decode_points,
    encode_points,
    morton,
)
from gscodec.geometry.limits import MAX_POINTS
from tests.test_geometry import CLOUDS, _canonical, _RefModel, _surface


@pytest.mark.parametrize("name", list(CLOUDS))
def test_round_trip(name: str) -> None:
    points = CLOUDS[name]
    data = encode_points(points, "morton")
    assert declared_points(data, CODEC_MORTON) == len(points)
    out = decode_points(data, CODEC_MORTON)
    assert out.dtype == np.int64 and out.shape == (len(points), 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, _canonical(points))


def test_name_and_id() -> None:
    assert codec_id("morton") == CODEC_MORTON == 4
    p = CLOUDS["clustered"]
    assert encode_points(p, "morton") == encode_points(p, CODEC_MORTON)


def test_widest_key_space_round_trips() -> None:
    """Three axes of 21 bits: 63-bit keys, gaps of up to 62 bits (four uniform pieces)."""
    top = (1 << MAX_EXTENT_BITS) - 1
    pts = np.array([[0, 0, 0], [top, top, top], [top, 0, 5], [1, top, 0], [top, top, top]], dtype=np.int64)
    for leads in ([0, 0, 0], [0, 0, 7], [63, 0, 0]):
        data = morton.encode_morton(pts, leads)
        np.testing.assert_array_equal(decode_points(data, CODEC_MORTON), _canonical(pts))


def test_bytes_depend_on_the_multiset_only() -> None:
    pts = CLOUDS["random with duplicates"]
    perm = np.random.default_rng(3).permutation(len(pts))
    assert encode_points(pts, "morton") == encode_points(pts[perm], "morton")


def test_every_lead_decodes_and_the_encoder_picks_the_first_smallest_estimate() -> None:
    pts = _surface(3000, 4)
    rel = pts - pts.min(axis=0)
    bits = [int(e).bit_length() for e in rel.max(axis=0)]
    sizes = []
    for leads in morton.CANDIDATE_LEADS:
        data = morton.encode_morton(pts, list(leads))
        np.testing.assert_array_equal(decode_points(data, CODEC_MORTON), _canonical(pts))
        sizes.append(morton.estimated_size(morton.key_gaps(rel, morton.key_layout(bits, list(leads)))))
    best = morton.CANDIDATE_LEADS[sizes.index(min(sizes))]
    assert tuple(morton.choose_leads(rel, bits)) == best
    assert struct.unpack_from("<BBB", encode_points(pts, "morton"), 9 + 24) == best
    assert len(set(sizes)) > 1  # the candidates really differ on this cloud


def test_the_size_estimate_is_integer_arithmetic_close_to_the_entropy() -> None:
    for m in (1, 2, 3, 5, 1000, 53078, (1 << 22) - 1, 1 << 40):
        assert abs(morton.log2_fixed(m) / 2**morton.LOG_BITS - np.log2(m)) < 1e-4
    gaps = np.random.default_rng(2).integers(0, 1 << 20, 5000).astype(np.uint64)
    k = _adaptive.bit_length(gaps)
    p = np.bincount(k)[np.bincount(k) > 0] / gaps.size
    want = -(p * np.log2(p)).sum() * gaps.size + np.maximum(k - 1, 0).sum()
    assert isinstance(morton.estimated_size(gaps), int)
    assert abs(morton.estimated_size(gaps) / 2**morton.LOG_BITS - want) < 1.0


def test_key_layout_follows_the_levels() -> None:
    # x has 3 bits, y 2, t 1; t leads by 2: levels 2..0 hold (t0 x2), (y1 x1), (y0 x0)
    assert morton.key_layout([3, 2, 1], [0, 0, 2]) == [(2, 0), (0, 2), (1, 1), (0, 1), (1, 0), (0, 0)]
    assert morton.key_layout([3, 2, 1], [0, 0, 0]) == [(0, 2), (1, 1), (0, 1), (2, 0), (1, 0), (0, 0)]
    rel = np.array([[5, 2, 1], [0, 3, 0], [7, 0, 1]])
    layout = morton.key_layout([3, 2, 1], [0, 0, 2])
    np.testing.assert_array_equal(morton.split_keys(morton.make_keys(rel, layout), layout), rel)


def test_bit_length_is_exact_at_the_edges() -> None:
    v = np.array([0, 1, 2, 3, 4, (1 << 32) - 1, 1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1], dtype=np.uint64)
    assert _adaptive.bit_length(v).tolist() == [int(x).bit_length() for x in v.tolist()]
    signed = np.array([0, 1, 5, (1 << 23) + 3, (1 << 62) + 1], dtype=np.int64)  # the octree's multiplicities
    assert _adaptive.bit_length(signed).tolist() == [int(x).bit_length() for x in signed.tolist()]


def test_about_as_small_as_level_order_on_a_clustered_cloud() -> None:
    """Within 3 % of codec 0 on this blob cloud (0.7 % larger); on a real 720p segment 1 % smaller, and 3-5 times
    faster to decode there (bench/geometry_bench.py prints both, docs/PERFORMANCE.md)."""
    pts = _surface(20000, 9)
    assert len(encode_points(pts, "morton")) <= 1.03 * len(encode_points(pts, "builtin"))


# ---------------------------------------------------------------- a second decoder, written from the spec


def _reference_decode(data: bytes) -> np.ndarray:
    """Decode a codec-4 payload following format_spec.md §9.7 literally, one symbol at a time."""
    import constriction

    _, _, n = struct.unpack_from("<BII", data)
    if n == 0:
        return np.zeros((0, 3), dtype=np.int64)
    box = struct.unpack_from("<iiiIII", data, 9)
    leads = struct.unpack_from("<BBB", data, 33)
    dec = constriction.stream.queue.RangeDecoder(np.frombuffer(data[36:], dtype="<u4").astype(np.uint32))
    bits = [int(e).bit_length() for e in box[3:]]
    layout = []
    for level in range(max(b + lead for b, lead in zip(bits, leads)) - 1, -1, -1):
        for a in (2, 1, 0):
            if 0 <= level - leads[a] < bits[a]:
                layout.append((a, level - leads[a]))
    classes, refine = _RefModel(dec, 64), _RefModel(dec, 64)
    node = [1] * n
    for _ in range(6):
        node = [2 * v + b for v, b in zip(node, classes.call(node))]
    k = [v - 64 for v in node]
    gaps = [0 if c == 0 else 1 for c in k]
    ref_ids = [i for i in range(n) if k[i] >= 2]
    for i, b in zip(ref_ids, refine.call([k[i] for i in ref_ids])):
        gaps[i] = 2 * gaps[i] + b
    low = [0] * n
    done = 0
    while True:
        ids = [i for i in range(n) if k[i] - 2 > done]
        if not ids:
            break
        for i in ids:
            width = min(16, k[i] - 2 - done)
            low[i] |= int(dec.decode(constriction.stream.model.Uniform(1 << width))) << done
        done += 16
    key = 0
    out = []
    for i in range(n):
        key += (gaps[i] << max(k[i] - 2, 0)) | low[i]
        p = [0, 0, 0]
        for pos, (a, j) in enumerate(layout):
            p[a] |= ((key >> (len(layout) - 1 - pos)) & 1) << j
        out.append([p[a] + box[a] for a in range(3)])
    assert dec.maybe_exhausted()
    return _canonical(np.array(out, dtype=np.int64))


@pytest.mark.parametrize(
    "name", ["one point", "all duplicates", "line t sparse", "plane x-t", "widest span", "two points", "empty"]
)
def test_spec_reference_decoder_agrees(name: str) -> None:
    data = encode_points(CLOUDS[name], "morton")
    np.testing.assert_array_equal(_reference_decode(data), _canonical(CLOUDS[name]))


def test_spec_reference_decoder_agrees_on_denser_clouds_and_every_lead() -> None:
    for pts, leads in ((CLOUDS["clustered"][:1500], None), (CLOUDS["random with duplicates"][:1200], [0, 0, 3]),
                       (CLOUDS["random"][:800], [2, 2, 0]), (CLOUDS["negative"][:300], [0, 5, 1])):
        data = morton.encode_morton(np.asarray(pts, dtype=np.int64), leads)
        np.testing.assert_array_equal(_reference_decode(data), _canonical(pts))


# ---------------------------------------------------------------- corrupt payloads


def _rehead(body: bytes, n: int, version: int = 0) -> bytes:
    count = struct.pack("<I", n)
    return struct.pack("<BI", version, zlib.crc32(count + body)) + count + body


def _parts(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int], np.ndarray]:
    origin = pts.min(axis=0)
    rel = pts - origin
    extent = rel.max(axis=0)
    leads = [0, 0, 1]
    return origin, extent, leads, morton.key_gaps(rel, morton.key_layout([int(e).bit_length() for e in extent], leads))


def test_header_fields_and_gaps_are_validated() -> None:
    pts = np.array([[0, 0, 0], [5, 3, 2], [2, 6, 1], [4, 1, 3]], dtype=np.int64)
    origin, extent, leads, gaps = _parts(pts)
    good = morton.pack_morton(origin, extent, leads, gaps)
    np.testing.assert_array_equal(decode_points(good, 4), _canonical(pts))
    body = good[morton.HEADER.size :]
    with pytest.raises(UnsupportedError, match="format version"):
        decode_points(_rehead(body, 4, version=1), 4)
    with pytest.raises(LimitError):
        decode_points(_rehead(body, MAX_POINTS + 1), 4)
    with pytest.raises(StreamError, match="truncated"):
        decode_points(_rehead(body[:20], 4), 4)
    with pytest.raises(StreamError, match="empty point cloud"):
        decode_points(_rehead(b"x", 0), 4)
    for o, e, error, match in (
        (origin, [1 << MAX_EXTENT_BITS, 6, 3], LimitError, "bounding box"),
        ([MAX_COORD, 0, 0], extent, LimitError, "outside"),
    ):
        with pytest.raises(error, match=match):
            decode_points(morton.pack_morton(np.array(o), np.array(e), leads, gaps), 4)
    with pytest.raises(StreamError, match="axis lead above 63"):
        decode_points(morton.pack_morton(origin, extent, [0, 64, 0], gaps), 4)
    k = len(morton.key_layout([int(e).bit_length() for e in extent], leads))
    past = gaps.copy()
    past[-1] += np.uint64(1 << k)
    with pytest.raises(StreamError, match="larger than the bounding box's key space"):
        decode_points(morton.pack_morton(origin, extent, leads, past), 4)
    run = gaps.copy()
    run[-1] += np.uint64((1 << k) - int(gaps.sum()))  # the last key lands exactly on 2**k
    with pytest.raises(StreamError, match="run past"):
        decode_points(morton.pack_morton(origin, extent, leads, run), 4)
    with pytest.raises(StreamError, match="outside the declared bounding box"):
        decode_points(morton.pack_morton(origin, extent - np.array([0, 1, 0]), leads, gaps), 4)  # y up to 6, declared 5
    with pytest.raises(StreamError, match="larger than the points"):
        decode_points(morton.pack_morton(origin, extent + np.array([1, 0, 0]), leads, gaps), 4)  # x up to 5, declared 6


@pytest.mark.parametrize("leads", [[0, 0, 64], [0, -1, 0], [0, 0], "123", [0, 0, 1.5], [0, 0, None]])
def test_bad_leads_from_the_encoder_api(leads: object) -> None:
    for pts in (np.array([[0, 0, 0], [1, 1, 1]]), np.zeros((0, 3), dtype=np.int64)):
        with pytest.raises(InputError, match="leads"):
            morton.encode_morton(pts, leads)  # type: ignore[arg-type]


def test_the_crc_covers_the_point_count() -> None:
    data = bytearray(encode_points(CLOUDS["all duplicates"], "morton"))
    data[5] ^= 1
    with pytest.raises(StreamError, match="CRC"):
        decode_points(bytes(data), CODEC_MORTON)

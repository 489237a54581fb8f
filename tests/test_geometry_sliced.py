"""Sliced geometry (codec 3, format_spec.md §9.6): round trips, a decoder written from the spec, corrupt
payloads, and the slices decoded at once in worker processes."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

import gscodec.geometry.sliced as sliced
from gscodec.bitstream.worker import WorkerPool
from gscodec.errors import InputError, LimitError, StreamError, UnsupportedError
from gscodec.geometry import CODEC_SLICED, canonical_order, declared_points, decode_points, encode_points, octree
from gscodec.geometry.limits import MAX_POINTS
from tests.test_geometry import _reference_decode


def _cloud(n: int, seed: int, span: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = rng.integers(-span // 2, span, (n, 3))
    pts[:, 2] %= 17
    return np.concatenate([pts, pts[: n // 10]])  # with duplicates


def _canonical(pts: np.ndarray) -> np.ndarray:
    return pts[canonical_order(pts)]


@pytest.fixture
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices of a few points, so that small clouds are cut too."""
    monkeypatch.setattr(sliced, "MIN_SLICE_POINTS", 5)


def _reference_sliced(data: bytes) -> np.ndarray:
    """format_spec.md §9.6 literally: the table, each slice by the §9.5 reference decoder, the union sorted."""
    version, k = struct.unpack_from("<BB", data)
    assert version == 0 and 1 <= k <= 64
    sizes = struct.unpack_from(f"<{k}I", data, 2)
    pos = 2 + 4 * k
    points: list[tuple[int, int, int]] = []
    for size in sizes:
        points += [tuple(p) for p in _reference_decode(data[pos : pos + size]).tolist()]
        pos += size
    assert pos == len(data)
    return np.array(sorted(points, key=lambda p: (p[2], p[1], p[0])), dtype=np.int64).reshape(-1, 3)


@pytest.mark.parametrize("n,slices", [(0, 4), (1, 4), (7, 3), (300, 1), (300, 4), (1000, 8)])
def test_round_trip_and_the_spec_decoder(small_slices: None, n: int, slices: int) -> None:
    pts = _cloud(n, n + slices) if n else np.zeros((0, 3), dtype=np.int64)
    data = encode_points(pts, "sliced", slices=slices)
    want = _canonical(pts)
    k = data[1]
    assert k == max(1, min(slices, len(pts) // 5))
    np.testing.assert_array_equal(decode_points(data, CODEC_SLICED), want)
    np.testing.assert_array_equal(_reference_sliced(data), want)
    assert declared_points(data, CODEC_SLICED) == len(pts)


def test_small_clouds_are_one_slice_and_large_ones_are_cut() -> None:
    assert sliced.slice_count(4095 * 4, 4) == 3
    assert sliced.slice_count(100, 8) == 1
    assert sliced.slice_count(1 << 20, 64) == 64
    with pytest.raises(InputError, match="slices must be 1 to 64"):
        encode_points(_cloud(10, 1), "sliced", slices=65)


def test_slices_hold_bands_along_x(small_slices: None) -> None:
    pts = _cloud(400, 3)
    parts = sliced.split_slices(encode_points(pts, "sliced", slices=4))
    clouds = [octree.decode_octree(p) for p in parts]
    assert [len(c) for c in clouds] == [110, 110, 110, 110]
    for a, b in zip(clouds, clouds[1:]):
        assert a[:, 0].max() <= b[:, 0].min()


def test_a_custom_slice_map_decodes_the_slices(small_slices: None) -> None:
    pts = _cloud(200, 4)
    seen: list[int] = []

    def spy(parts):  # type: ignore[no-untyped-def]
        seen.append(len(parts))
        return sliced.decode_slice_list(parts)

    np.testing.assert_array_equal(decode_points(encode_points(pts, "sliced", slices=3), 3, map_slices=spy),
                                  _canonical(pts))
    assert seen == [3]


def test_worker_processes_decode_slices_and_stay_in_step_after_an_error(small_slices: None) -> None:
    pts = _cloud(600, 5)
    data = encode_points(pts, "sliced", slices=5)
    parts = sliced.split_slices(data)
    pool = WorkerPool(2)
    try:
        np.testing.assert_array_equal(decode_points(data, 3, map_slices=pool.map_slices), _canonical(pts))
        bad = list(parts)
        bad[1] = bad[1][:-4]
        with pytest.raises(StreamError):
            pool.map_slices(bad)
        # every result of the failed call was taken: the next call gets its own
        np.testing.assert_array_equal(decode_points(data, 3, map_slices=pool.map_slices), _canonical(pts))
    finally:
        pool.close()


def _table(*slices: bytes, k: int | None = None, version: int = 0) -> bytes:
    k = len(slices) if k is None else k
    return struct.pack("<BB", version, k) + b"".join(struct.pack("<I", len(s)) for s in slices) + b"".join(slices)


def test_corrupt_payloads_are_refused() -> None:
    a = encode_points(_cloud(50, 6))
    b = encode_points(_cloud(50, 7) + 1000)
    assert decode_points(_table(a, b), 3).shape == (110, 3)
    cases = [
        (b"", StreamError, "truncated"),
        (b"\x00", StreamError, "truncated"),
        (_table(a, version=1), UnsupportedError, "format version 1"),
        (_table(k=0), StreamError, "0 slices"),
        (struct.pack("<BB", 0, 65) + b"\x00" * 300, StreamError, "65 slices"),
        (_table(a, b)[:8], StreamError, "table of slice sizes"),
        (_table(a, b) + b"\x00", StreamError, "declare"),
        (_table(a, b)[:-1], StreamError, "declare"),
        (_table(a, b"\x00\x00"), StreamError, "shorter than a geometry header"),
        (_table(a, b[:-4] + b"\x00\x00\x00\x01"), StreamError, "CRC"),
    ]
    for data, error, fragment in cases:
        with pytest.raises(error, match=fragment):
            decode_points(data, CODEC_SLICED)


def _empty_with_count(n: int) -> bytes:
    """A codec-0 header declaring ``n`` points (its body is not read before the count is checked)."""
    return octree.HEADER.pack(0, zlib.crc32(b""), n)


def test_the_point_limit_counts_every_slice_before_decoding() -> None:
    half = MAX_POINTS // 2 + 1
    data = _table(_empty_with_count(half), _empty_with_count(half))
    with pytest.raises(LimitError, match="more than"):
        decode_points(data, CODEC_SLICED)
    assert declared_points(data, CODEC_SLICED) == MAX_POINTS + 1
    assert declared_points(_table(b"\x00\x00"), CODEC_SLICED) is None


def test_the_union_of_slices_obeys_the_extent_limit() -> None:
    near = encode_points(np.array([[0, 0, 0]]))
    far = encode_points(np.array([[1 << 21, 0, 0]]))
    with pytest.raises(LimitError, match="2\\*\\*21"):
        decode_points(_table(near, far), CODEC_SLICED)

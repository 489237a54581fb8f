"""Geometry codec 2 (raw): int32 little-endian (x, y, t) triples in canonical order.

Meant for tests and debugging: no compression, trivially checked by eye or by a hex dump.
"""

from __future__ import annotations

import numpy as np

from gscodec.errors import LimitError, StreamError
from gscodec.geometry.limits import MAX_COORD, MAX_POINTS, canonical_sorted

_TRIPLE = 12  # bytes per point


def encode_raw(points: np.ndarray) -> bytes:
    """Encode (N, 3) int64 points that passed :func:`check_points` as canonical int32 triples."""
    return canonical_sorted(points).astype("<i4").tobytes()


def decode_raw(data: bytes) -> np.ndarray:
    """Decode raw triples; the payload must be exactly 12 bytes per point, in canonical order."""
    if len(data) % _TRIPLE:
        raise StreamError(f"raw geometry payload of {len(data)} bytes is not a whole number of 12-byte points")
    n = len(data) // _TRIPLE
    if n > MAX_POINTS:
        raise LimitError(f"raw geometry payload holds {n} points; the limit is {MAX_POINTS}")
    pts = np.frombuffer(data, dtype="<i4").reshape(n, 3).astype(np.int64)
    if n and int(np.abs(pts).max()) > MAX_COORD:
        raise LimitError(f"raw geometry payload has coordinates outside [-{MAX_COORD}, {MAX_COORD}]")
    if n > 1:
        t, y, x = pts[:, 2], pts[:, 1], pts[:, 0]
        dt, dy, dx = np.diff(t), np.diff(y), np.diff(x)
        ordered = (dt > 0) | ((dt == 0) & ((dy > 0) | ((dy == 0) & (dx >= 0))))
        if not ordered.all():
            raise StreamError("raw geometry payload is corrupt: points are not in canonical (t, y, x) order")
    return pts

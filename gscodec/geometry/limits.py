"""Limits every geometry codec enforces, input checks, and the canonical point order."""

from __future__ import annotations

import numpy as np

from gscodec.errors import InputError, LimitError

#: At most this many points per encode/decode call.
MAX_POINTS = 1 << 22
#: Every coordinate lies in [-MAX_COORD, MAX_COORD].
MAX_COORD = 1 << 30
#: On every axis, max - min < 2**MAX_EXTENT_BITS (so a point's octree key fits in 63 bits).
MAX_EXTENT_BITS = 21


def check_points(points: np.ndarray) -> np.ndarray:
    """Validate an encoder's input and return it as a C-contiguous (N, 3) int64 array."""
    arr = np.asarray(points)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise InputError(f"points must be an (N, 3) array of (x, y, t), got shape {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"points must have an integer dtype, got {arr.dtype}: quantize positions to the grid first")
    if arr.shape[0] > MAX_POINTS:
        raise LimitError(f"{arr.shape[0]} points in one cloud; the limit is {MAX_POINTS}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > MAX_COORD:
        raise LimitError(f"a coordinate exceeds the limit of +-{MAX_COORD}")
    out = np.ascontiguousarray(arr, dtype=np.int64)
    if out.shape[0] == 0:
        return out
    lo = out.min(axis=0)
    hi = out.max(axis=0)
    if int(lo.min()) < -MAX_COORD or int(hi.max()) > MAX_COORD:
        raise LimitError(f"a coordinate lies outside [-{MAX_COORD}, {MAX_COORD}]")
    span = hi - lo
    if int(span.max()) >= 1 << MAX_EXTENT_BITS:
        raise LimitError(
            f"the points span {int(span.max()) + 1} cells on one axis; the limit is 2**{MAX_EXTENT_BITS}: "
            "split the cloud or coarsen the grid"
        )
    return out


def canonical_order(points: np.ndarray) -> np.ndarray:
    """The stable permutation that sorts points lexicographically on t, then y, then x.

    ``points[canonical_order(points)]`` is what every codec's decoder returns, so attributes
    reordered by the same permutation line up with the decoded points.
    """
    arr = np.asarray(points)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise InputError(f"points must be an (N, 3) array of (x, y, t), got shape {arr.shape}")
    arr = arr.astype(np.int64, copy=False)
    n = arr.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    lo = arr.min(axis=0)
    span = (arr.max(axis=0) - lo + 1).astype(object)
    if span[0] * span[1] * span[2] < 1 << 63:
        rel = arr - lo
        key = (rel[:, 2] * int(span[1]) + rel[:, 1]) * int(span[0]) + rel[:, 0]
        return np.argsort(key, kind="stable")
    return np.lexsort((arr[:, 0], arr[:, 1], arr[:, 2]))


def canonical_sorted(points: np.ndarray) -> np.ndarray:
    """``points`` (N, 3) int64 in canonical order (t, then y, then x), as a new C-contiguous array."""
    return np.ascontiguousarray(points[canonical_order(points)])

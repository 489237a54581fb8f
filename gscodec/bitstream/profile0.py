"""Profile 0 ("raw"): a segment's Gaussians as a point cloud plus float16 attribute arrays.

Segment payload (format_spec.md, "Profile 0")::

    gaussian_count   u32
    geometry_codec   u8       0 built-in octree, 1 G-PCC (tmc3), 2 raw int32, 3 sliced octree, 4 octree depth first
    reserved         u8[3]    written 0, ignored
    geometry_size    u32
    geometry_data    geometry_size bytes: the integer grid points (x, y, t), one per Gaussian
    attributes       for each attribute of params.ATTRIBUTES, in that order:
                     gaussian_count x components float16, little-endian, Gaussian-major

The points come back from the geometry decoder in canonical order (t, then y, then x) and
the attribute rows follow that order. ``xy`` and ``tau`` are stored as residuals from the
grid point: x = gx + xy[0], y = gy + xy[1], tau = gt + tau (float32 arithmetic). Profile 0
has no entropy coding of attributes: it is the lossless-parameter reference of the format.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gscodec.errors import LimitError, StreamError
from gscodec.geometry import CODEC_NAMES, MAX_POINTS, canonical_order, declared_points, decode_points, encode_points
from gscodec.model.params import ATTRIBUTES, PARAMS_PER_GAUSSIAN

MAX_GAUSSIANS = MAX_POINTS
"""A decoder refuses segments with more Gaussians than this (format_spec.md, "Limits"): one
point per Gaussian, so the geometry coder's point limit."""

GEOMETRY_CODECS: dict[str, int] = {name: cid for cid, name in CODEC_NAMES}
GEOMETRY_NAMES: dict[int, str] = {v: k for k, v in GEOMETRY_CODECS.items()}

_HEAD = struct.Struct("<IB3xI")


@dataclass(frozen=True)
class DecodedSegment:
    """The decoded state of a profile 0 segment: integer grid points and raw float16 attributes."""

    points: np.ndarray  # (N, 3) int64, canonical order
    attributes: dict[str, np.ndarray]  # name -> (N, components) float16
    geometry_codec: int
    geometry_bytes: int

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def gaussian_arrays(self) -> dict[str, np.ndarray]:
        """The Gaussians as float32 arrays named as in params.ATTRIBUTES (positions restored)."""
        out = {name: arr.astype(np.float32) for name, arr in self.attributes.items()}
        grid = self.points.astype(np.float32)
        out["xy"] = grid[:, :2] + out["xy"]
        out["tau"] = grid[:, 2:3] + out["tau"]
        return out

    def state_parts(self) -> list[bytes]:
        """The canonical decoded-state bytes: points as int64 LE, then every attribute's float16 bits."""
        return [np.ascontiguousarray(self.points, dtype="<i8").tobytes(),
                *(np.ascontiguousarray(self.attributes[a.name], dtype="<f2").tobytes() for a in ATTRIBUTES)]

    def state_hash(self) -> str:
        """SHA-256 of the decoded state (:meth:`state_parts`)."""
        h = hashlib.sha256()
        for part in self.state_parts():
            h.update(part)
        return h.hexdigest()


def encode_segment(arrays: Mapping[str, np.ndarray], geometry: str = "builtin", **geometry_opts: object) -> bytes:
    """Pack Gaussians (float arrays named as in params.ATTRIBUTES) into a profile 0 payload."""
    codec = GEOMETRY_CODECS[geometry]
    n = int(np.asarray(arrays["xy"]).shape[0])
    if n > MAX_GAUSSIANS:
        raise ValueError(f"{n} Gaussians in one segment; at most {MAX_GAUSSIANS}")
    cols = {}
    for attr in ATTRIBUTES:
        a = np.asarray(arrays[attr.name], dtype=np.float64).reshape(n, attr.components)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"attribute {attr.name} has non-finite values")
        cols[attr.name] = a
    grid_xy = np.round(cols["xy"])
    grid_t = np.round(cols["tau"])
    points = np.concatenate([grid_xy, grid_t], axis=1).astype(np.int64)
    perm = canonical_order(points)
    points = points[perm]
    residual = {"xy": cols["xy"][perm] - grid_xy[perm], "tau": cols["tau"][perm] - grid_t[perm]}
    geometry_data = encode_points(points, codec, **geometry_opts)
    parts = [_HEAD.pack(n, codec, len(geometry_data)), geometry_data]
    for attr in ATTRIBUTES:
        values = residual.get(attr.name)
        if values is None:
            values = cols[attr.name][perm]
        with np.errstate(over="ignore"):
            f16 = values.astype("<f2")
        if not np.all(np.isfinite(f16)):
            raise ValueError(f"attribute {attr.name} overflows float16")
        parts.append(f16.tobytes())
    return b"".join(parts)


def decode_segment(payload: bytes, **geometry_opts: object) -> DecodedSegment:
    """Unpack a profile 0 payload, checking every size before it is used."""
    if len(payload) < _HEAD.size:
        raise StreamError("corrupt stream: profile 0 segment payload too short")
    n, codec, geometry_size = _HEAD.unpack_from(payload)
    if n > MAX_GAUSSIANS:
        raise LimitError(f"segment holds {n} Gaussians, more than the limit of {MAX_GAUSSIANS}")
    if codec not in GEOMETRY_NAMES:
        raise StreamError(f"corrupt stream: unknown geometry codec {codec}")
    attr_bytes = n * PARAMS_PER_GAUSSIAN * 2
    if _HEAD.size + geometry_size + attr_bytes != len(payload):
        raise StreamError(
            f"corrupt stream: profile 0 segment of {len(payload)} bytes does not match its {n} Gaussians "
            f"and {geometry_size} geometry bytes"
        )
    geometry_data = payload[_HEAD.size : _HEAD.size + geometry_size]
    # Checked before decoding: a few hundred geometry bytes can code millions of points.
    declared = declared_points(geometry_data, codec)
    if declared is not None and declared != n:
        raise StreamError(f"corrupt stream: geometry holds {declared} points for {n} Gaussians")
    points = decode_points(geometry_data, codec, **geometry_opts)
    if points.shape != (n, 3):
        raise StreamError(f"corrupt stream: geometry holds {points.shape[0]} points for {n} Gaussians")
    pos = _HEAD.size + geometry_size
    attributes = {}
    for attr in ATTRIBUTES:
        count = n * attr.components
        arr = np.frombuffer(payload, dtype="<f2", count=count, offset=pos).reshape(n, attr.components)
        if not np.all(np.isfinite(arr)):
            raise StreamError(f"corrupt stream: attribute {attr.name} holds a non-finite value")
        attributes[attr.name] = arr
        pos += count * 2
    return DecodedSegment(points, attributes, codec, geometry_size)


def peek_segment(payload: bytes) -> tuple[int, int, int]:
    """(gaussian_count, geometry_codec, geometry_size) without decoding, for gsinfo."""
    if len(payload) < _HEAD.size:
        raise StreamError("corrupt stream: profile 0 segment payload too short")
    return _HEAD.unpack_from(payload)

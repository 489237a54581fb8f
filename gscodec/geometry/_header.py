"""The header and bounding-box checks that the two octree payloads (codecs 0 and 4) share.

Both start with format_version u8, crc32 u32, num_points u32 and carry the points' minimum and span
(format_spec.md §9.5.1 and §9.7.1); they differ in what the CRC covers.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from gscodec.errors import LimitError, StreamError, UnsupportedError
from gscodec.geometry.limits import MAX_COORD, MAX_EXTENT_BITS, MAX_POINTS

HEADER = struct.Struct("<BII")  # format_version, crc32, num_points


def read_header(data: bytes, version: int, crc_from: int) -> tuple[int, memoryview]:
    """The point count and the bytes after the header, once the version, the CRC (of ``data[crc_from:]``)
    and the count limit are checked; an empty cloud must end there."""
    if len(data) < HEADER.size:
        raise StreamError(f"geometry payload is truncated: {len(data)} bytes, the header alone needs {HEADER.size}")
    found, crc, n = HEADER.unpack_from(data)
    if found != version:
        raise UnsupportedError(
            f"geometry payload has format version {found}; this decoder reads version {version}: upgrade gscodec"
        )
    if zlib.crc32(memoryview(data)[crc_from:]) != crc:
        raise StreamError("geometry payload is corrupt: CRC-32 mismatch (damaged or truncated data)")
    if n > MAX_POINTS:
        raise LimitError(f"geometry payload declares {n} points; the limit is {MAX_POINTS}")
    body = memoryview(data)[HEADER.size :]
    if n == 0 and len(body):
        raise StreamError("geometry payload is corrupt: data follows an empty point cloud")
    return n, body


def check_box(origin: np.ndarray, extent: np.ndarray) -> None:
    """LimitError for a declared bounding box beyond §9.2's limits."""
    if int(extent.max()) >= 1 << MAX_EXTENT_BITS:
        raise LimitError(f"geometry payload has a bounding box of 2**{MAX_EXTENT_BITS} cells or more on an axis")
    if int(np.abs(origin).max()) > MAX_COORD or int((origin + extent).max()) > MAX_COORD:
        raise LimitError(f"geometry payload has coordinates outside [-{MAX_COORD}, {MAX_COORD}]")


def check_span(rel: np.ndarray, extent: np.ndarray) -> None:
    """StreamError unless the decoded relative positions fill the declared box exactly: origin and extent are
    the points' minimum and span, not any box around them."""
    if np.any(rel.max(axis=0) > extent):
        raise StreamError("geometry payload is corrupt: a point lies outside the declared bounding box")
    if np.any(rel.min(axis=0) != 0) or np.any(rel.max(axis=0) != extent):
        raise StreamError("geometry payload is corrupt: the bounding box is larger than the points it holds")

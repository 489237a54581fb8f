"""Anchor positions as a point cloud: integer (x, y, t) grid points to bytes and back.

Five codecs share one interface and one output order (canonical: t, then y, then x, with
duplicates kept), so attributes coded in decoded order line up whichever codec carried the
positions:

- ``CODEC_BUILTIN`` (0, :func:`encode_points`' default): the octree coder in :mod:`gscodec.geometry.octree`;
- ``CODEC_GPCC`` (1): MPEG G-PCC through a user-installed ``tmc3`` binary;
- ``CODEC_RAW`` (2): int32 triples, for tests and debugging;
- ``CODEC_SLICED`` (3): the cloud in bands, each an octree payload of its own, so that several cores
  can decode one cloud (:mod:`gscodec.geometry.sliced`);
- ``CODEC_MORTON`` (4, gsenc's default): the octree depth first, its leaves as gaps between Morton keys
  (:mod:`gscodec.geometry.morton`): about as small as codec 0 and several times faster to decode.

The payload is not self-delimiting: pass :func:`decode_points` exactly the bytes that
:func:`encode_points` produced. Limits are in :mod:`gscodec.geometry.limits`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gscodec.errors import InputError, UnsupportedError
from gscodec.geometry import gpcc, morton, octree, sliced
from gscodec.geometry.gpcc import decode_gpcc, encode_gpcc
from gscodec.geometry.limits import MAX_COORD, MAX_EXTENT_BITS, MAX_POINTS, canonical_order, check_points
from gscodec.geometry.morton import decode_morton, encode_morton
from gscodec.geometry.octree import decode_octree, encode_octree
from gscodec.geometry.raw import decode_raw, encode_raw
from gscodec.geometry.sliced import SliceMap, decode_sliced, encode_sliced

CODEC_BUILTIN = 0
CODEC_GPCC = 1
CODEC_RAW = 2
CODEC_SLICED = 3
CODEC_MORTON = 4

#: Codec ids and their names, in id order.
CODEC_NAMES: tuple[tuple[int, str], ...] = (
    (CODEC_BUILTIN, "builtin"), (CODEC_GPCC, "gpcc"), (CODEC_RAW, "raw"), (CODEC_SLICED, "sliced"),
    (CODEC_MORTON, "morton"),
)

_OPTIONS = frozenset({"tmc3", "timeout", "slices", "map_slices"})


def codec_id(codec: int | str) -> int:
    """The numeric id of a codec given by id or by name ('builtin', 'gpcc', 'raw', 'sliced', 'morton')."""
    if isinstance(codec, bool):
        raise InputError(f"geometry codec must be an id or a name, got {codec!r}")
    if isinstance(codec, (int, np.integer)):
        for cid, _ in CODEC_NAMES:
            if cid == codec:
                return cid
        raise UnsupportedError(f"geometry codec id {int(codec)} is not supported by this version of gscodec")
    if isinstance(codec, str):
        for cid, name in CODEC_NAMES:
            if name == codec.lower():
                return cid
        names = ", ".join(name for _, name in CODEC_NAMES)
        raise InputError(f"unknown geometry codec {codec!r}: use one of {names}")
    raise InputError(f"geometry codec must be an id or a name, got {type(codec).__name__}")


def _check_options(opts: dict[str, Any]) -> None:
    unknown = sorted(set(opts) - _OPTIONS)
    if unknown:
        known = ", ".join(sorted(_OPTIONS))
        raise InputError(f"unknown geometry option(s) {', '.join(unknown)}: known ones are {known}")


def encode_points(points: np.ndarray, codec: int | str = "builtin", **opts: Any) -> bytes:
    """Code (N, 3) integer (x, y, t) points with a geometry codec; options: tmc3=PATH, timeout=S (G-PCC),
    slices=K (sliced, default 4); the others are ignored."""
    cid = codec_id(codec)
    _check_options(opts)
    pts = check_points(points)
    if cid == CODEC_BUILTIN:
        return encode_octree(pts)
    if cid == CODEC_MORTON:
        return encode_morton(pts)
    if cid == CODEC_GPCC:
        return encode_gpcc(pts, **{k: v for k, v in opts.items() if k in ("tmc3", "timeout")})
    if cid == CODEC_SLICED:
        return encode_sliced(pts, int(opts.get("slices", 4)))  # type: ignore[call-overload]
    return encode_raw(pts)


def declared_points(data: bytes, codec: int | str) -> int | None:
    """The point count a geometry payload declares, read from its header without decoding anything.

    A container that knows how many points to expect compares this count first, so a payload
    that codes millions of points in a few hundred bytes costs nothing when the count is wrong.
    None when the header is cut short, of an unknown version, or (raw) not whole records: the
    decoder itself then reports what is wrong.
    """
    cid = codec_id(codec)
    if cid == CODEC_RAW:
        return None if len(data) % 12 else len(data) // 12
    if cid == CODEC_SLICED:
        return sliced.declared_sliced_points(data)
    module = {CODEC_BUILTIN: octree, CODEC_MORTON: morton}.get(cid, gpcc)
    if len(data) < module.HEADER.size or data[0] != module.FORMAT_VERSION:
        return None
    fields = module.HEADER.unpack_from(data)
    return int(fields[1] if module is gpcc else fields[2])


def decode_points(data: bytes, codec: int | str, **opts: Any) -> np.ndarray:
    """Decode a geometry payload into (N, 3) int64 (x, y, t) points in canonical order.

    Options: tmc3=PATH, timeout=S (G-PCC); map_slices=F (sliced: a :data:`SliceMap` that decodes the
    slices, for example at once in worker processes); the others are ignored.
    """
    cid = codec_id(codec)
    _check_options(opts)
    data = bytes(data)
    if cid == CODEC_BUILTIN:
        return decode_octree(data)
    if cid == CODEC_MORTON:
        return decode_morton(data)
    if cid == CODEC_GPCC:
        return decode_gpcc(data, **{k: v for k, v in opts.items() if k in ("tmc3", "timeout")})
    if cid == CODEC_SLICED:
        return decode_sliced(data, opts.get("map_slices"))  # type: ignore[arg-type]
    return decode_raw(data)


__all__ = [
    "CODEC_BUILTIN",
    "CODEC_GPCC",
    "CODEC_MORTON",
    "CODEC_NAMES",
    "CODEC_RAW",
    "CODEC_SLICED",
    "MAX_COORD",
    "MAX_EXTENT_BITS",
    "MAX_POINTS",
    "SliceMap",
    "canonical_order",
    "codec_id",
    "declared_points",
    "decode_points",
    "encode_points",
]

"""Seed inputs for every input kind: the conformance streams, their payloads, and synthetic ones.

The conformance suite's streams (all three groups: the faulty ones start the fuzzer next to
the checks it should probe) are the main seeds when the source tree is present. Synthetic
streams and geometry payloads, built here from a fixed recipe, cover what a stream of the
suite may lack (dense clouds, duplicates, direct nodes, extreme coordinates) and keep the
harness working from an installed package.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import numpy as np

from gscodec.fuzz.mutate import Profile1Parts, split_stream, stream_profile

#: Where the committed conformance streams are, in a source checkout.
CONFORMANCE_STREAMS = Path(__file__).resolve().parents[2] / "conformance" / "streams"

_P0_HEAD = struct.Struct("<IB3xI")
_CODEC_KIND = {0: "builtin", 1: "gpcc", 2: "raw", 4: "morton"}


def conformance_streams(root: Path = CONFORMANCE_STREAMS) -> list[bytes]:
    """The bytes of every committed conformance stream, in name order (none outside a checkout)."""
    if not root.is_dir():
        return []
    return [p.read_bytes() for p in sorted(root.glob("*/*.gsv"))]


def _gaussians(rng: np.random.Generator, n: int, width: int, height: int, frames: int) -> dict[str, np.ndarray]:
    from gscodec.model.params import ATTRIBUTES

    out = {a.name: rng.normal(0.0, 0.5, (n, a.components)) for a in ATTRIBUTES}
    out["xy"] = rng.uniform(0, 1, (n, 2)) * [width, height]
    out["tau"] = rng.uniform(0, frames, (n, 1))
    out["log_scale"] = rng.uniform(0.0, 1.5, (n, 2))
    out["log_tscale"] = rng.uniform(0.0, 1.5, (n, 1))
    out["color"] = rng.uniform(0, 1, (n, 3))
    out["opacity"] = rng.uniform(0, 3, (n, 1))
    return out


def synthetic_streams(seed: int = 2024) -> list[bytes]:
    """A few small valid streams: builtin and raw geometry, two segments, metadata, an empty segment."""
    import io

    from gscodec.bitstream import GsvWriter, SequenceHeader, profile0

    rng = np.random.default_rng(seed)
    out = []
    for geometry, (w, h), n in (("builtin", (24, 16), 12), ("raw", (8, 6), 3), ("builtin", (5, 3), 40)):
        buf = io.BytesIO()
        header = SequenceHeader(width=w, height=h, frame_count=0, frame_rate=Fraction(25), segment_frames=3)
        with GsvWriter(buf, header, {"encoder": "fuzz-seed", "geometry": geometry}) as writer:
            writer.write_segment(3, profile0.encode_segment(_gaussians(rng, n, w, h, 3), geometry))
            writer.write_segment(2, profile0.encode_segment(_gaussians(rng, 0, w, h, 2), geometry))
        out.append(buf.getvalue())
    return out


def synthetic_clouds(seed: int = 7) -> list[np.ndarray]:
    """Point clouds that exercise the geometry coders' paths: dense, sparse, duplicates, extremes."""
    rng = np.random.default_rng(seed)
    g = np.stack(np.meshgrid(np.arange(6), np.arange(5), np.arange(4), indexing="ij"), -1).reshape(-1, 3)
    return [
        np.zeros((1, 3), np.int64),  # one point at the origin: no octree at all
        np.array([[5, 5, 5]] * 7 + [[6, 5, 5]], np.int64),  # duplicates
        g,  # a dense block: every slot occupied
        rng.integers(0, 1 << 10, (60, 3)),  # sparse: direct nodes
        np.array([[-(1 << 30), 0, 3], [-(1 << 30) + (1 << 21) - 1, 5, 3]], np.int64),  # extremes
        np.concatenate([rng.integers(0, 40, (50, 3)), rng.integers(0, 40, (10, 3))]),  # duplicates mixed in
        np.array([[0, 0, 0], [0, 0, 1 << 20]], np.int64),  # one long axis: deep tree, short axes join late
    ]


def seeds_by_kind(include_conformance: bool = True) -> dict[str, list[bytes]]:
    """Seeds for every input kind (gscodec.fuzz.targets.INPUT_KINDS), without duplicates, in a fixed order."""
    from gscodec.geometry import encode_points

    streams = (conformance_streams() if include_conformance else []) + synthetic_streams()
    kinds: dict[str, list[bytes]] = {"stream": streams, "profile0": [], "profile1": [], "builtin": [], "morton": [],
                                     "raw": [], "gpcc": []}
    for data in streams:
        _, chunks, _ = split_stream(data)
        profile = stream_profile(chunks)
        for chunk in chunks:
            if chunk.type != b"GSEG" or len(chunk.payload) < 12 + _P0_HEAD.size:
                continue
            payload = chunk.payload[12:]
            if profile == 1:
                kinds["profile1"].append(payload)
                parts = Profile1Parts.split(payload)
                codec, geometry, size = parts.head[1], parts.geometry, parts.head[7]
            else:
                kinds["profile0"].append(payload)
                _, codec, size = _P0_HEAD.unpack_from(payload)
                geometry = payload[_P0_HEAD.size : _P0_HEAD.size + size]
            if codec in _CODEC_KIND and len(geometry) == size:
                kinds[_CODEC_KIND[codec]].append(geometry)
    from gscodec.geometry.limits import check_points
    from gscodec.geometry.morton import encode_morton

    for i, cloud in enumerate(synthetic_clouds()):
        kinds["builtin"].append(encode_points(cloud, "builtin"))
        kinds["morton"].append(encode_points(cloud, "morton"))
        kinds["morton"].append(encode_morton(check_points(cloud), [i % 3, (2 * i) % 5, i % 4]))  # other leads
        kinds["raw"].append(encode_points(cloud, "raw"))
    # G-PCC payloads need tmc3 to make; its header is seeded by hand: an empty cloud, and a
    # header whose bitstream is a few arbitrary bytes (a decoder without tmc3 stops there).
    import zlib

    kinds["gpcc"] += [struct.pack("<BIiiiI", 0, 0, 0, 0, 0, zlib.crc32(b"")),
                      struct.pack("<BIiiiI", 0, 3, 1, 2, 3, zlib.crc32(b"\x00\x01\x02\x03")) + b"\x00\x01\x02\x03"]
    return {k: list(dict.fromkeys(v)) for k, v in kinds.items()}

"""Hostile inputs that claim far more than they hold, and the measurement of what they cost.

Each *claim* is a small input built by hand whose fields ask for a large amount of memory or
work (a chunk length of 1 GiB, a segment of 2^22 Gaussians with no bytes, an octree 21 levels
deep, a profile 0 segment whose geometry codes 4 million points). A conforming decoder refuses
each one before it allocates, or does work proportional to what the input holds. The
*render* cases are legal streams whose output is large by design: they measure the decoder's
time per output pixel and per Gaussian and frame, from which docs/ROBUSTNESS.md extrapolates
the cost of streams at the limits.

Run one claim in a fresh interpreter and print its cost as JSON::

    python -m gscodec.fuzz.claims NAME
"""

from __future__ import annotations

import io
import json
import resource
import struct
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from gscodec.bitstream.chunks import SIGNATURE, encode_chunk

_GHDR = struct.Struct("<BBBBIIIIIBBBBII")


def header_chunk(width: int = 16, height: int = 16, frames: int = 1, segment_frames: int = 1) -> bytes:
    """A valid GHDR chunk (profile 0, sRGB)."""
    return encode_chunk(b"GHDR", _GHDR.pack(1, 0, 0, 0, width, height, frames, 25, 1, 1, 13, 0, 1, segment_frames, 1))


def chunk_claiming(length: int = 1 << 30) -> bytes:
    """A stream whose second chunk claims ``length`` payload bytes and holds 64 (128 bytes in all)."""
    return SIGNATURE + header_chunk() + struct.pack("<I", length) + b"GSEG" + bytes(64)


def profile0_claiming(n: int = 1 << 22) -> bytes:
    """A profile 0 payload claiming ``n`` Gaussians with an empty geometry and no attribute bytes."""
    return struct.pack("<IB3xI", n, 2, 0)


def octree_claiming(n: int = 1 << 22, words: int = 16, seed: int = 0) -> bytes:
    """A builtin geometry payload: ``n`` points, extents 2^21 - 1 on every axis (21 levels), random words."""
    body = struct.pack("<iiiIIIB", 0, 0, 0, (1 << 21) - 1, (1 << 21) - 1, (1 << 21) - 1, 0)
    body += np.random.default_rng(seed).integers(0, 1 << 32, words, dtype=np.uint64).astype("<u4").tobytes()
    return struct.pack("<BII", 0, zlib.crc32(body), n) + body


def dense_cloud(shape: tuple[int, int, int]) -> np.ndarray:
    """Every grid point of a box: the cloud a range coder compresses best (bytes per million points)."""
    axes = [np.arange(s) for s in shape]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)


def geometry_bomb(shape: tuple[int, int, int] = (256, 128, 128), gaussians: int = 0) -> bytes:
    """A profile 0 payload for ``gaussians`` Gaussians whose builtin geometry codes a dense box of points.

    (256, 128, 128) is 2^22 points in 342 bytes: before the declared count was checked against
    ``gaussian_count``, decoding this 354-byte payload took 1.5 s and 420 MB before failing.
    """
    from gscodec.geometry import encode_points

    geometry = encode_points(dense_cloud(shape), "builtin")
    return struct.pack("<IB3xI", gaussians, 0, len(geometry)) + geometry + bytes(30 * gaussians)


def profile1_bomb(shape: tuple[int, int, int] = (256, 128, 128), hidden: int = 32) -> bytes:
    """A legal profile 1 payload: 2^22 Gaussians (the dense box) and all 12 channels coded, each with a prior
    of the widest hidden layer and no residual bytes at all (each residual decodes as 0 from the padding the
    range decoder reads past the end: legal, and what a near-certain prediction costs). About 10 KB: the
    most decoding work per byte that profile 1 allows (priors over 2^22 rows, 12 channels)."""
    from gscodec.bitstream import profile1

    geometry = geometry_bomb(shape)[12:]
    n = shape[0] * shape[1] * shape[2]
    mask = (1 << profile1.NUM_CHANNELS) - 1
    parts = [profile1.HEAD.pack(n, 0, 0, 0, hidden, mask, 0, len(geometry)), geometry, bytes(profile1.NUM_CHANNELS)]
    for c in range(profile1.NUM_CHANNELS):
        n_in = profile1.POSITION_FEATURES + c
        # Weights of 1, shifts of 0: every product and sum as large as the fixed-point rules let it get.
        net = profile1.PriorNet(n_in, hidden, np.ones((hidden, n_in), np.int16), np.zeros(hidden, np.int32), 0,
                                np.ones((2, hidden), np.int16), np.zeros(2, np.int32), 0)
        parts += [net.to_bytes(), struct.pack("<I", 0)]
    return b"".join(parts)


def index_claiming(count: int = 1 << 24) -> bytes:
    """A stream whose gidx chunk claims ``count`` entries and holds one."""
    index = struct.pack("<I", count) + struct.pack("<QII", 0, 0, 1)
    end = encode_chunk(b"GEND", struct.pack("<IIQ", 0, 0, 0))
    return SIGNATURE + header_chunk(frames=0) + encode_chunk(b"gidx", index) + end


def render_stream(width: int, height: int, frames: int, gaussians: int, scale: float, opacity: float = 4.0,
                  seed: int = 0) -> bytes:
    """A legal one-segment stream: ``gaussians`` Gaussians of standard deviation ``scale`` pixels, all
    visible in every frame (raw geometry, so the stream is 66 + 42 bytes per Gaussian)."""
    from gscodec.bitstream import GsvWriter, SequenceHeader, profile0
    from gscodec.model.params import ATTRIBUTES

    rng = np.random.default_rng(seed)
    arrays = {a.name: np.zeros((gaussians, a.components)) for a in ATTRIBUTES}
    arrays["xy"][:] = rng.uniform(0, 1, (gaussians, 2)) * [width, height]
    arrays["tau"][:] = frames / 2
    arrays["log_scale"][:] = np.log(scale)
    arrays["log_tscale"][:] = np.log(4.0 * frames)
    arrays["color"][:] = rng.uniform(0, 1, (gaussians, 3))
    arrays["opacity"][:] = opacity
    out = io.BytesIO()
    header = SequenceHeader(width=width, height=height, frame_count=frames, frame_rate=Fraction(25),
                            segment_frames=frames)
    with GsvWriter(out, header) as writer:
        writer.write_segment(frames, profile0.encode_segment(arrays, "raw"))
    return out.getvalue()


@dataclass(frozen=True)
class Claim:
    """A hostile input and the decoder entry point it goes to."""

    name: str
    what: str
    build: Callable[[], bytes]
    target: str  # a fuzz target name (gscodec.fuzz.targets.TARGETS)
    work: int = 0  # render cases: output pixels x frames, or Gaussians x frames (for rates)


CLAIMS: dict[str, Claim] = {c.name: c for c in (
    Claim("chunk-1GiB", "a 128-byte stream whose chunk claims 2^30 bytes", chunk_claiming, "container"),
    Claim("gaussians-2^22", "a 12-byte profile 0 payload claiming 2^22 Gaussians", profile0_claiming, "profile0"),
    Claim("octree-21-levels", "a 98-byte builtin payload claiming 2^22 points in a 2^21-cube",
          octree_claiming, "builtin"),
    Claim("geometry-bomb", "a 354-byte profile 0 payload: 0 Gaussians, geometry coding 2^22 points",
          geometry_bomb, "profile0"),
    Claim("dense-geometry", "a 342-byte builtin payload coding 2^22 points (legal: the limit, compressed)",
          lambda: geometry_bomb()[12:], "decode-builtin"),
    Claim("profile1-bomb", "a 10 KB profile 1 payload: 2^22 Gaussians, 12 channels, hidden width 32, no residual bytes",
          profile1_bomb, "profile1"),
    Claim("index-2^24", "a stream whose index claims 2^24 entries and holds one", index_claiming, "container"),
    Claim("render-pixels", "1 Gaussian over 512x512, 32 frames (per output pixel)",
          lambda: render_stream(512, 512, 32, 1, 200.0), "gsdec-render", work=512 * 512 * 32),
    Claim("render-gaussians", "16384 small Gaussians at 64x64, 32 frames (per Gaussian and frame)",
          lambda: render_stream(64, 64, 32, 16384, 0.6), "gsdec-render", work=16384 * 32),
    Claim("render-overlap", "256 frame-filling faint Gaussians at 128x128, 8 frames (per Gaussian, pixel, frame)",
          lambda: render_stream(128, 128, 8, 256, 60.0, opacity=-4.0), "gsdec-render", work=256 * 128 * 128 * 8),
)}


def _render(data: bytes) -> str:
    """Decode and render every frame of a stream, as gsdec does, without writing them anywhere."""
    from gscodec.bitstream import GsvReader
    from gscodec.decode import decode_frames

    reader = GsvReader(io.BytesIO(data))
    count = sum(1 for _ in decode_frames(reader, "cpu"))
    return f"ok frames={count}"


def measure(name: str) -> dict[str, object]:
    """Build claim ``name``, run it once, and return its outcome, seconds and peak memory growth."""
    import gscodec.decode  # noqa: F401 - imported before the baseline is taken
    from gscodec.fuzz.engine import MemoryProbe
    from gscodec.fuzz.outcome import OK, Outcome, classify
    from gscodec.fuzz.targets import TARGETS

    claim = CLAIMS[name]
    data = claim.build()
    probe = MemoryProbe()
    probe.growth()
    t0 = time.perf_counter()
    try:
        if claim.target == "gsdec-render":
            label = _render(data)
        elif claim.target == "decode-builtin":  # the decoder alone, without the fuzz target's checks
            from gscodec.geometry import decode_points

            label = f"ok points={decode_points(data, 0).shape[0]}"
        else:
            label = TARGETS[claim.target].run(data)
        outcome = Outcome(OK, label)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        outcome = classify(exc, allow_runtime=True)
    seconds = time.perf_counter() - t0
    grown = probe.growth()
    return {
        "claim": name, "what": claim.what, "bytes": len(data), "outcome": outcome.kind,
        "result": outcome.label if outcome.kind == OK else f"{outcome.label}: {outcome.message}"[:160],
        "seconds": round(seconds, 4), "peak_growth_mb": round(grown / 2**20, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "work": claim.work, "seconds_per_unit": seconds / claim.work if claim.work else None,
    }


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1])))

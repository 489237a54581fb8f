"""The catalogue of conformance streams: what each one exercises and how it is built.

Names follow ``gsv1-<group>-<NN>-<feature>``: format version 1, the group (core: every decoder
must decode it; uncommon: legal but unusual, a decoder must still decode it; faulty: a decoder
must stop with the named error), a number that never changes once committed, and the feature.
Add a stream by appending a :class:`Spec` with the next number of its group; never renumber.
"""

from __future__ import annotations

import math
import struct
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from conformance.builders import (
    GEND_FIELDS,
    GHDR_FIELDS,
    P1_STEPS,
    PROFILE1_FIELDS,
    CodedPayload,
    CodedState,
    Header,
    SplitMix64,
    State,
    StreamBuilder,
    canonical,
    coded_state,
    coded_symbols,
    concat,
    exact_state,
    gaussians,
    metadata_payload,
    profile0_payload,
    quantize,
    random_prior,
    scene,
)
from gscodec.bitstream import PROFILE_CODED, GsvWriter, SequenceHeader, profile0
from gscodec.bitstream import profile1 as p1
from gscodec.bitstream.chunks import SIGNATURE
from gscodec.geometry import CODEC_MORTON, CODEC_SLICED, decode_points, encode_points, morton
from gscodec.geometry.sliced import pack_slices
from gscodec.model.params import ATTRIBUTES


@dataclass(frozen=True)
class Built:
    """A stream's bytes and, for a valid stream, the decoded state each segment must give."""

    data: bytes
    states: list[State | CodedState] | None = None


@dataclass(frozen=True)
class Spec:
    """One conformance stream: its name (gsv1-<group>-NN-<feature>), what it tests, how to build it."""

    name: str
    description: str
    build: Callable[[], Built]
    seed: int = 0
    requires: tuple[str, ...] = ()
    error: tuple[str, str] | None = None  # faulty streams: (error class, message fragment); exit code 2

    @property
    def group(self) -> str:
        return self.name.split("-")[1]


# --- valid streams ----------------------------------------------------------------------------------


class _Unseekable:
    """A write-only sink that cannot seek, as a pipe: the writer leaves the header's counts at 0."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        pass


def _write(header: SequenceHeader, segments: list[tuple[int, dict[str, np.ndarray]]], geometry: str = "builtin",
           metadata: dict[str, str] | None = None, pipe: bool = False) -> Built:
    """A stream through the reference writer and profile 0 encoder (the path gsenc takes)."""
    sink: Any = _Unseekable() if pipe else tempfile.TemporaryFile()
    with GsvWriter(sink, header, metadata) as w:
        for frames, arrays in segments:
            w.write_segment(frames, profile0.encode_segment(arrays, geometry))
    if pipe:
        data = b"".join(sink.parts)
    else:
        sink.seek(0)
        data = sink.read()
        sink.close()
    return Built(data, [quantize(arrays) for _, arrays in segments])


def _scene_stream(width: int, height: int, rate: Fraction, seg_frames: int, lengths: list[int], n: int, seed: int,
                  geometry: str = "builtin", filled: bool = True, pipe: bool = False,
                  metadata: dict[str, str] | None = None) -> Built:
    total = sum(lengths)
    header = SequenceHeader(width, height, total if filled else 0, rate, seg_frames,
                            segment_count=len(lengths) if filled else 0)
    segs = [(f, scene(seed * 1000 + i, n, width, height, f)) for i, f in enumerate(lengths)]
    return _write(header, segs, geometry, metadata, pipe)


def _assemble(header: Header, states: list[tuple[int, State]],
              geometry: str = "builtin") -> tuple[StreamBuilder, list[State]]:
    """A StreamBuilder holding GHDR and the segments (the caller adds the rest)."""
    b = StreamBuilder()
    b.header(header)
    for frames, st in states:
        b.segment(frames, profile0_payload(st, geometry))
    return b, [st for _, st in states]


def core_single_segment() -> Built:
    meta = {"encoder": "gscodec conformance generator", "geometry": "builtin", "seed": "1"}
    return _scene_stream(32, 24, Fraction(30), 6, [6], 40, 1, metadata=meta)


def core_multi_segment() -> Built:
    return _scene_stream(32, 24, Fraction(30000, 1001), 4, [4, 4, 4, 2], 24, 2, filled=False)


def core_raw_geometry() -> Built:
    return _scene_stream(24, 16, Fraction(24000, 1001), 3, [3, 3], 20, 3, geometry="raw")


def core_unknown_length() -> Built:
    return _scene_stream(24, 16, Fraction(1), 3, [3, 1], 16, 4, filled=False, pipe=True)


def core_no_index() -> Built:
    w, h = 24, 16
    sts = [(2, quantize(scene(5000 + i, 16, w, h, 2))) for i in range(2)]
    b, states = _assemble(Header(w, h, 4, 25, 1, 2, 2), sts)
    return Built(b.finish(index=False), states)


def core_ancillary_chunks() -> Built:
    w, h = 24, 16
    sts = [quantize(scene(6000 + i, 14, w, h, 2)) for i in range(2)]
    b = StreamBuilder()
    b.header(Header(w, h, 4, 50, 1, 2, 2))
    b.chunk(b"gmet", metadata_payload([("encoder", "conformance"), ("title", "ancillary chunks: caf\u00e9 \u2713")]))
    b.chunk(b"zzzz", bytes(range(32)))
    b.chunk(b"gXtr", b"")  # ancillary: the first letter decides, whatever the others are
    b.segment(2, profile0_payload(sts[0]))
    b.chunk(b"aBCD", b"future ancillary data " * 8)
    b.chunk(b"gmet", metadata_payload([]))
    b.segment(2, profile0_payload(sts[1]))
    b.chunk(b"tIME", struct.pack("<Q", 0))
    return Built(b.finish(), sts)


def core_compositing() -> Built:
    """Hand-placed Gaussians for the rendering rules of §10: order, ties, stop rule, clamping, motion."""
    d = {"xy": [0, 0], "tau": [2], "vel": [0, 0], "acc": [0, 0], "log_scale": [1.0, 1.0], "rot": [0],
         "log_tscale": [math.log(1.5)], "color": [0.5, 0.5, 0.5], "opacity": [2.0]}
    rows = [
        # Three opaque discs on one spot, one per time: the nearest in time covers the others.
        {"xy": [8, 8], "tau": [0], "color": [1, 0, 0], "opacity": [6.0]},
        {"xy": [8, 8], "tau": [2], "color": [0, 1, 0], "opacity": [6.0]},
        {"xy": [8, 8], "tau": [4], "color": [0, 0, 1], "opacity": [6.0]},
        # Three at one time and place, alpha clamped to 0.999: the second brings T below 1e-4 (stop rule).
        {"xy": [16, 12], "color": [1, 1, 1], "opacity": [8.0], "log_tscale": [2.0]},
        {"xy": [16, 12], "color": [1, 0, 0], "opacity": [8.0], "log_tscale": [2.0]},
        {"xy": [16, 12], "color": [0, 0, 1], "opacity": [8.0], "log_tscale": [2.0]},
        # Equal |t - tau| at frame 2 (tau 1.5 and 2.5, one grid point): the lower index composites first.
        {"xy": [23, 8], "tau": [1.5], "color": [1, 1, 0], "opacity": [1.0], "log_scale": [1.2, 1.2]},
        {"xy": [23, 8], "tau": [2.5], "color": [0, 1, 1], "opacity": [1.0], "log_scale": [1.2, 1.2]},
        # Elongated and rotated; colours outside [0, 1] (clamped only at output).
        {"xy": [14, 18], "log_scale": [math.log(6), 0.0], "rot": [0.6], "log_tscale": [2.0]},
        {"xy": [27, 18], "color": [1.8, -0.5, 0.5], "log_tscale": [2.0]},
        # Motion with velocity and acceleration; a short-lived one; a point-like one (the low-pass term).
        {"xy": [6, 19], "vel": [3, -1.5], "acc": [0.5, 0.25], "log_tscale": [1.5], "color": [0.9, 0.6, 0.1]},
        {"xy": [20, 3], "tau": [4], "log_tscale": [math.log(0.4)], "color": [1, 1, 1], "opacity": [3.0]},
        {"xy": [3.5, 3.5], "log_scale": [math.log(0.05), math.log(0.05)], "color": [1, 1, 1], "opacity": [4.0],
         "log_tscale": [2.0]},
    ]
    arrays = gaussians(rows, d)
    header = SequenceHeader(32, 24, 5, Fraction(30), 5, segment_count=1)
    return _write(header, [(5, arrays)])


def uncommon_size(width: int, height: int, lengths: list[int], n: int, seed: int,
                  rate: Fraction) -> Callable[[], Built]:
    def build() -> Built:
        return _scene_stream(width, height, rate, max(lengths), lengths, n, seed)
    return build


def uncommon_max_dimension(width: int, height: int, seed: int) -> Callable[[], Built]:
    """One side at MAX_DIMENSION, the other 1: Gaussians spread along the long side."""
    def build() -> Built:
        long_side = max(width, height)
        arrays = scene(seed, 48, width, height, 2, min_scale=1.0, max_scale=40.0, margin=0.0)
        axis = 0 if width > height else 1
        arrays["xy"][:, axis] = [8 + i * (long_side - 16) / 47 for i in range(48)]  # evenly spaced, exactly
        arrays["xy"][:, 1 - axis] = 0.5
        return _write(SequenceHeader(width, height, 2, Fraction(60), 2, segment_count=1), [(2, arrays)])
    return build


def uncommon_max_segment_frames() -> Built:
    rate = Fraction(4294967295, 4294967294)  # the largest u32 numerator and denominator, coprime
    header = SequenceHeader(16, 12, 3, rate, 65535, segment_count=1)
    return _write(header, [(3, scene(7000, 12, 16, 12, 3))])


def uncommon_empty_segments() -> Built:
    """Segments with 0 Gaussians in each geometry codec (G-PCC's empty cloud needs no tmc3), then a full one."""
    w, h = 16, 12
    empty = quantize(scene(0, 0, w, h, 1))
    full = quantize(scene(8000, 10, w, h, 2))
    b = StreamBuilder()
    b.header(Header(w, h, 6, 30, 1, 2, 4))
    for frames, st, geometry in ((2, empty, "builtin"), (1, empty, "raw"), (1, empty, "gpcc"), (2, full, "builtin")):
        b.segment(frames, profile0_payload(st, geometry))
    return Built(b.finish(), [empty, empty, empty, full])


def uncommon_off_frame() -> Built:
    d = {"xy": [0, 0], "tau": [1], "vel": [0, 0], "acc": [0, 0], "log_scale": [1.0, 1.0], "rot": [0],
         "log_tscale": [1.0], "color": [0.8, 0.4, 0.2], "opacity": [3.0]}
    rows = [
        {"xy": [-1.5, 6.0], "log_scale": [1.3, 1.3]},  # centre left of the frame, half visible
        {"xy": [10.0, -2.4], "color": [0.2, 0.9, 0.3]},  # centre above the frame
        {"xy": [25.6, 17.2], "color": [0.3, 0.3, 1.0]},  # beyond the bottom-right corner
        {"xy": [-500.0, 300.0], "color": [1, 1, 1]},  # far outside: never visible
        {"xy": [-3.0, 8.0], "vel": [4.0, 0.0], "tau": [0]},  # enters from the left
        {"xy": [12.0, 8.0], "tau": [-3.0], "log_tscale": [1.6], "color": [0.9, 0.9, 0.1]},  # negative time
        {"xy": [18.0, 4.0], "tau": [7.0], "log_tscale": [1.4], "color": [0.1, 0.8, 0.8]},  # after the segment
        {"xy": [6.0, 12.0], "tau": [-40.0], "color": [1, 0, 1]},  # long gone: never active
    ]
    arrays = gaussians(rows, d)
    return _write(SequenceHeader(24, 16, 4, Fraction(25), 4, segment_count=1), [(4, arrays)])


def uncommon_duplicates() -> Built:
    w, h = 16, 12
    base = scene(9000, 8, w, h, 2)
    copies = []
    for i, count in enumerate((2, 3, 70)):
        c = scene(9100 + i, count, w, h, 2)
        c["xy"][:] = [[4.2 + 4 * i, 6.1]]  # one grid point, one exact position: ties broken by index
        c["tau"][:] = 1.0
        copies.append(c)
    seg0 = concat(base, *copies)
    same = scene(9200, 5, w, h, 2)  # every Gaussian on one grid point (an octree of depth 0)
    same["xy"] = 8.0 + (same["xy"] - [8.0, 6.0]) * 0.02  # within 0.2 of (8, 8): one grid point
    same["tau"][:] = 1.2
    header = SequenceHeader(w, h, 4, Fraction(30), 2, segment_count=2)
    return _write(header, [(2, seg0), (2, same)])


def uncommon_extreme_coordinates() -> Built:
    """Grid points at the limits: an extent of 2^21 - 1 on every axis, and coordinates at +-2^30."""
    w, h = 16, 12
    span = (1 << 21) - 1
    visible = scene(9500, 6, w, h, 1)
    far = scene(9501, 4, w, h, 1)
    far["xy"] = np.array([[-1_000_000.0, -1_000_000.0], [-1_000_000.0 + span, 5.0], [3.0, -1_000_000.0 + span],
                          [-1_000_000.0 + span, -1_000_000.0 + span]])
    far["tau"] = np.array([[-1_000_000.0], [0.0], [-1_000_000.0 + span], [7.0]])
    top = float(1 << 30)
    high = scene(9502, 3, w, h, 1)
    high["xy"] = np.array([[top, top], [top - 5.0, top - 1.0], [top, top - 7.0]])
    high["tau"] = np.array([[top], [top - 3.0], [top]])
    low = scene(9503, 3, w, h, 1)
    low["xy"] = -high["xy"]
    low["tau"] = -high["tau"]
    header = SequenceHeader(w, h, 3, Fraction(30), 1, segment_count=3)
    return _write(header, [(1, concat(visible, far)), (1, high), (1, low)])


def uncommon_extreme_attributes() -> Built:
    """float16 values at the ends of their range, subnormals and negative zero (§10.4 says what renders)."""
    big, tiny = 65504.0, 2.0**-24
    d = {"xy": [0, 0], "tau": [0], "vel": [0, 0], "acc": [0, 0], "log_scale": [1, 1], "rot": [0],
         "log_tscale": [1], "color": [0.5, 0.5, 0.5], "opacity": [2]}
    table: list[tuple[list[int], dict[str, list[float]]]] = [
        ([2, 2, 0], {"log_scale": [-big, -big], "color": [1, 1, 1], "opacity": [big]}),  # zero size: low-pass only
        ([6, 2, 0], {"log_scale": [big, big], "color": [1, 0, 0], "opacity": [4]}),  # infinite size: nothing
        ([10, 2, 0], {"opacity": [-big], "color": [0, 1, 0]}),  # opacity 0: nothing
        # Colours far outside [0, 1] on a Gaussian wider than the frame (alpha about 0.018 everywhere, so no
        # skip-threshold edge in the picture), shown at t = 0 only: R clamps to 255, G to 0 over frame 0.
        ([14, 2, 0], {"color": [big, -big, 0.5], "log_scale": [7, 7], "opacity": [-4], "log_tscale": [-8]}),
        ([18, 2, 0], {"rot": [big], "log_scale": [0.5, 0.5]}),  # huge angle, round footprint
        ([22, 2, 0], {"vel": [big, -big], "acc": [-big, big]}),  # back on the spot at t = 0 and t = 2 only
        ([2, 8, 0], {"xy": [tiny, -0.0], "vel": [tiny, -tiny], "acc": [-0.0, -0.0], "rot": [-0.0]}),  # subnormals
        ([6, 8, 1], {"log_tscale": [big], "color": [0, 0, 1]}),  # infinite temporal extent: always active
        ([10, 8, 1], {"log_tscale": [-big], "color": [1, 1, 0], "opacity": [4]}),  # zero extent: NaN opacity
        ([14, 8, 1], {"xy": [-6.0, 4.0], "tau": [0.5], "color": [0.25, 1, 0.25]}),  # residuals beyond +-0.5
        ([18, 8, 1], {"log_tscale": [-8.0], "color": [1, 0, 1], "opacity": [4]}),  # visible at t = 1 only
        ([20, 12, 2], {"log_scale": [3, -2], "rot": [0.5], "opacity": [big], "color": [0.25, 0.875, 0.875]}),
        ([2, 13, 2], {"xy": [-0.0, -0.0], "tau": [-0.0], "color": [0.875, 0.25, 0.125]}),  # negative zeros
    ]
    state = exact_state([p for p, _ in table], {a.name: [row.get(a.name, d[a.name]) for _, row in table]
                                                for a in ATTRIBUTES})
    b, states = _assemble(Header(24, 16, 3, 30, 1, 3, 1), [(3, state)])
    return Built(b.finish(), states)


def uncommon_future_minor_version() -> Built:
    sts = [(2, quantize(scene(9600 + i, 10, 16, 12, 2))) for i in range(2)]
    b, states = _assemble(Header(16, 12, 4, 30, 1, 2, 2, version_minor=255, extra=bytes(range(1, 13))), sts)
    b.end(b.index(), extra=b"\x01\x02\x03\x04\x05\x06\x07\x08")
    return Built(bytes(b.data), states)


def uncommon_reserved_fields() -> Built:
    st = quantize(scene(9700, 10, 16, 12, 2))
    b = StreamBuilder()
    b.header(Header(16, 12, 2, 30, 1, 2, 1, reserved=0xA5))
    b.segment(2, profile0_payload(st, reserved=b"\x01\x80\xff"))
    return Built(b.finish(), [st])


def uncommon_trailing_bytes() -> Built:
    st = quantize(scene(9800, 10, 16, 12, 2))
    b, states = _assemble(Header(16, 12, 2, 30, 1, 2, 1), [(2, st)])
    data = b.finish() + struct.pack("<I", 99) + b"GSEG" + b"bytes after the end chunk are not part of the stream"
    return Built(data, states)


def uncommon_no_segments() -> Built:
    b = StreamBuilder()
    b.header(Header(16, 12, 0, 30, 1, 8, 0))
    return Built(b.finish(), [])


def uncommon_many_segments() -> Built:
    segs = [(1, scene(9900 + i, 3, 8, 6, 1, min_scale=0.8, max_scale=2.5)) for i in range(40)]
    return _write(SequenceHeader(8, 6, 40, Fraction(30), 1, segment_count=40), segs)


def uncommon_colour_description() -> Built:
    sts = [(2, quantize(scene(9950, 10, 16, 12, 2)))]
    b, states = _assemble(Header(16, 12, 2, 30, 1, 2, 1, colour_primaries=9, transfer_characteristics=14,
                                 full_range=0), sts)
    return Built(b.finish(), states)


def core_profile1_motion() -> Built:
    """Segments with a motion mode (§16.10) as gsenc writes one, with its extreme shifts and values, and a
    segment without one in the same stream."""
    w, h = 32, 24
    rng = SplitMix64(1036)
    shaken = coded_state(36, 40, w, h, 4, xy_shift=2, t_shift=1, hidden=0, mask=0x0FFF)
    path = np.array([[rng.integer(-48, 48), rng.integer(-48, 48)] for _ in range(4)], np.int16)
    shaken = replace(shaken, motion=p1.MotionBlock(4, 12, np.array([4096, 410, -290], np.int16), path))
    extreme = coded_state(1036, 12, w, h, 1, xy_shift=1, t_shift=0, hidden=2, mask=0x0300)
    extreme = replace(extreme, motion=p1.MotionBlock(0, 15, np.array([-32768, 32767, -32768], np.int16),
                                                     np.array([[3, -2]], np.int16)))
    plain = coded_state(2036, 20, w, h, 3, xy_shift=2, t_shift=2, hidden=0, mask=0x0FFF)
    return _coded_stream(w, h, Fraction(30), 4, [(4, shaken, "morton"), (1, extreme, "builtin"), (3, plain, "morton")])


def uncommon_gpcc() -> Built:
    return _scene_stream(24, 16, Fraction(30), 3, [3, 2], 20, 10, geometry="gpcc")


# --- profile 1 streams (format_spec.md §16): integer states, no fitting -----------------------------------


def _coded_stream(width: int, height: int, rate: Fraction, seg_frames: int,
                  segments: list[tuple[int, CodedState, str | Callable[[CodedState], bytes]]],
                  metadata: dict[str, str] | None = None, reserved: int = 0) -> Built:
    """A profile 1 stream through the reference writer and profile 1 encoder (or, where a segment's geometry is
    a function, the payload it makes of the state); ``reserved`` is then written into every payload's reserved
    field (an encoder writes 0)."""
    header = SequenceHeader(width, height, sum(f for f, _, _ in segments), rate, seg_frames, profile=PROFILE_CODED,
                            segment_count=len(segments))
    sink = tempfile.TemporaryFile()
    with GsvWriter(sink, header, metadata) as w:
        for frames, st, geometry in segments:
            payload = geometry(st) if callable(geometry) else st.payload(geometry)
            if reserved:
                parts = CodedPayload.parse(payload)
                parts.fields[6] = reserved
                payload = parts.join()
            w.write_segment(frames, payload)
    sink.seek(0)
    data = sink.read()
    sink.close()
    return Built(data, [st for _, st, _ in segments])


def core_profile1_linear() -> Built:
    st = coded_state(31, 48, 32, 24, 4, xy_shift=2, t_shift=1, hidden=0, mask=0x0FFF)
    meta = {"encoder": "gscodec conformance generator", "geometry": "builtin", "seed": "31"}
    return _coded_stream(32, 24, Fraction(30), 4, [(4, st, "builtin")], meta)


def core_profile1_hidden() -> Built:
    sts = [coded_state(32 + 1000 * i, 30, 24, 16, 3, xy_shift=1, t_shift=2, hidden=8, mask=0x03EF) for i in range(2)]
    return _coded_stream(24, 16, Fraction(24), 3, [(3, st, "raw") for st in sts])


def core_profile1_segments() -> Built:
    """Segments that differ in everything a profile 1 segment decides for itself, empty ones included."""
    w, h = 24, 16
    rng = SplitMix64(33)
    pts = [[rng.integer(-2, w + 1), rng.integer(-2, h + 1), rng.integer(0, 1)] for _ in range(16)]
    pts += [pts[3]] * 3 + [pts[7]]  # duplicate grid points: ties keep their order (§9.1)
    nets = {c: random_prior(rng, c, 4) for c in range(12)}
    dup_points = canonical(np.array(pts, np.int64))
    dup = CodedState(dup_points, coded_symbols(rng, dup_points, nets), np.array(P1_STEPS, np.int8), nets, 0, 0, 4)
    empty = coded_state(1033, 0, w, h, 1, xy_shift=0, t_shift=0, hidden=0, mask=0)
    empty_coded = coded_state(2033, 0, w, h, 1, xy_shift=3, t_shift=5, hidden=2, mask=0x0021)
    fine = coded_state(3033, 25, w, h, 3, xy_shift=8, t_shift=8, hidden=0, mask=0x00E1)
    return _coded_stream(w, h, Fraction(25), 3, [(2, dup, "builtin"), (1, empty, "builtin"), (1, empty_coded, "raw"),
                                                 (3, fine, "builtin")])


def _sliced(slices: Callable[[np.ndarray], list[np.ndarray]]) -> Callable[[CodedState], bytes]:
    """A state's payload with its geometry as sliced geometry (§9.6): ``slices`` cuts the points into the slices."""
    def payload(st: CodedState) -> bytes:
        return p1.replace_geometry(st.payload(), CODEC_SLICED,
                                   pack_slices([encode_points(s) for s in slices(st.points)]))
    return payload


def _x_bands(k: int) -> Callable[[np.ndarray], list[np.ndarray]]:
    """Bands along x of equal point counts, as gsenc cuts them."""
    def cut(points: np.ndarray) -> list[np.ndarray]:
        order = np.argsort(points[:, 0], kind="stable")
        return [points[np.sort(ix)] for ix in np.array_split(order, k)]
    return cut


def _interleaved(points: np.ndarray) -> list[np.ndarray]:
    """Even rows, an empty slice, odd rows: slices whose boxes overlap, so that the union must be sorted."""
    return [points[0::2], points[:0], points[1::2]]


def core_profile1_sliced() -> Built:
    """Sliced geometry as gsenc writes it (bands along x), and slices an encoder may write as well."""
    w, h = 32, 24
    bands = coded_state(34, 60, w, h, 4, xy_shift=2, t_shift=1, hidden=0, mask=0x0FFF)
    mixed = coded_state(1034, 21, w, h, 2, xy_shift=1, t_shift=0, hidden=2, mask=0x00FF)
    return _coded_stream(w, h, Fraction(30), 4, [(4, bands, _sliced(_x_bands(4))), (2, mixed, _sliced(_interleaved))])


def _morton(leads: list[int] | None) -> Callable[[CodedState], bytes]:
    """A state's payload with its geometry coded depth first (§9.7), with these axis leads (None: the encoder's)."""
    def payload(st: CodedState) -> bytes:
        return p1.replace_geometry(st.payload(), CODEC_MORTON, morton.encode_morton(st.points, leads))
    return payload


def core_profile1_morton() -> Built:
    """Depth-first geometry as gsenc writes it, and with leads an encoder may choose: time first, space first."""
    w, h = 32, 24
    chosen = coded_state(35, 60, w, h, 4, xy_shift=2, t_shift=1, hidden=0, mask=0x0FFF)
    rng = SplitMix64(1035)
    pts = [[rng.integer(0, 4 * w), rng.integer(0, 4 * h), rng.integer(0, 3)] for _ in range(18)]
    pts += [pts[2]] * 2 + [pts[11]]  # duplicates: gaps of 0
    nets = {c: random_prior(rng, c, 2) for c in range(8)}
    dup_points = canonical(np.array(pts, np.int64))
    dup = CodedState(dup_points, coded_symbols(rng, dup_points, nets), np.array(P1_STEPS, np.int8), nets, 2, 0, 2)
    wide = coded_state(2035, 9, w, h, 2, xy_shift=8, t_shift=8, hidden=0, mask=0x0003)
    still = coded_state(3035, 14, w, h, 1, xy_shift=1, t_shift=3, hidden=0, mask=0x0111)  # every t is 0
    return _coded_stream(w, h, Fraction(25), 4, [(4, chosen, _morton(None)), (3, dup, _morton([0, 0, 3])),
                                                 (2, wide, _morton([2, 2, 0])), (1, still, _morton([3, 0, 1]))])


def _int_prior(c: int, hidden: int, w1: list[list[int]] | None, b1: list[int] | None, s1: int, w2: list[list[int]],
               b2: list[int], s2: int) -> p1.PriorNet:
    n_in = 3 + c
    a1 = np.array(w1 if hidden else np.zeros((0, n_in)), np.int16).reshape(hidden, n_in)
    return p1.PriorNet(n_in, hidden, a1, np.array(b1 or [], np.int32), s1, np.array(w2, np.int16).reshape(2, -1),
                       np.array(b2, np.int32), s2)


def uncommon_profile1_extremes() -> Built:
    """Priors at the ends of their arithmetic: every clamp of §16.4 reached, shifts 0 and 31, extreme weights,
    residuals of +-512, step exponents of -128 and 127, hidden width 32, a reserved field set."""
    w, h = 16, 12
    top, bottom = 2**31 - 1, -(2**31)
    rng = SplitMix64(34)
    # Segment 0, linear priors.
    pts0 = canonical(np.array([[rng.integer(-8, 8 * w + 8), rng.integer(-8, 8 * h + 8), rng.integer(0, 1)]
                               for _ in range(12)], np.int64))
    nets0 = {c: random_prior(rng, c, 0) for c in range(12)}
    for c in range(3, 12):  # later channels ignore the huge symbols of channels 0 and 1, so the frames show them
        w2 = nets0[c].w2.copy()
        w2[:, 3:5] = 0
        nets0[c] = replace(nets0[c], w2=w2)
    # mean far above +2^20 (clamped to MU_LIMIT), scale index far below 0 (clamped to 0), shift 0
    nets0[0] = _int_prior(0, 0, None, None, 0, [[32767, -32768, 32767], [-32768, -32768, -32768]], [top, bottom], 0)
    # its input q_0 ~ 2^20 is clamped to 32767; mean far below -2^20, scale index far above 63
    nets0[1] = _int_prior(1, 0, None, None, 0, [[0, 0, 0, -32768], [0, 0, 0, 32767]], [bottom, top], 0)
    # shift 31: the sums become 0 or -1 (floor), so the mean and scale index are 0
    nets0[2] = _int_prior(2, 0, None, None, 0, [[-32768, 32767, -32768, 32767, 0], [32767, 0, 0, 0, -1]],
                          [bottom, -1], 31)
    q0 = coded_symbols(rng, pts0, nets0, {(0, 0): 512, (1, 0): -512, (2, 1): 512, (3, 1): -512})
    steps0 = list(P1_STEPS)
    steps0[0], steps0[1], steps0[5] = -127, -128, 127  # 2^-31.75, 2^-32, 2^31.75 (red far beyond 1: clamped at output)
    seg0 = CodedState(pts0, q0, np.array(steps0, np.int8), nets0, 3, 0, 0)
    # Segment 1, hidden width 32: activations clamped at 32767 and at 0 (ReLU).
    hid = 32
    pts1 = canonical(np.array([[rng.integer(-2, w + 2), rng.integer(-2, h + 2), rng.integer(0, 8)]
                               for _ in range(10)], np.int64))
    nets1 = {c: random_prior(rng, c, hid) for c in range(12)}
    w1 = [[32767] * 3, [-32768] * 3] + [[rng.integer(-64, 64) for _ in range(3)] for _ in range(hid - 2)]
    b1 = [top, bottom] + [rng.integer(-4096, 4096) for _ in range(hid - 2)]
    w2 = [[4096, 32767] + [rng.integer(-16, 16) for _ in range(hid - 2)], [0] * hid]
    nets1[0] = _int_prior(0, hid, w1, b1, 0, w2, [0, 22 << 20], 20)
    q1 = coded_symbols(rng, pts1, nets1, {(0, 0): 512, (1, 0): -512})
    steps1 = list(P1_STEPS)
    steps1[11] = -128
    seg1 = CodedState(pts1, q1, np.array(steps1, np.int8), nets1, 0, 3, hid)
    return _coded_stream(w, h, Fraction(30), 2, [(2, seg0, "builtin"), (2, seg1, "builtin")], reserved=0xBEEF)


# --- faulty streams -----------------------------------------------------------------------------------

_FW, _FH = 16, 12


def _faulty_states() -> list[State]:
    return [quantize(scene(20000 + i, 6, _FW, _FH, 2)) for i in range(2)]


def _faulty_header(**fields: int) -> Header:
    values: dict[str, Any] = {"width": _FW, "height": _FH, "frame_count": 4, "rate_num": 25, "rate_den": 1,
                              "segment_frames": 2, "segment_count": 2}
    values.update(fields)
    return Header(**values)


def _faulty(header: Header | None = None, bodies: list[bytes] | None = None, *, index: bool = True,
            between: Callable[[StreamBuilder], None] | None = None,
            segment: Callable[[StreamBuilder, int, bytes], None] | None = None,
            end: Callable[[StreamBuilder, int], None] | None = None) -> bytes:
    """The base faulty-suite stream (16x12, two segments of 2 frames, 6 Gaussians each) with hooks to break it."""
    sts = _faulty_states()
    bodies = bodies if bodies is not None else [profile0_payload(st) for st in sts]
    b = StreamBuilder()
    b.header(header or _faulty_header())
    for i, body in enumerate(bodies):
        if segment is not None:
            segment(b, i, body)
        else:
            b.segment(2, body)
        if i == 0 and between is not None:
            between(b)
    offset = b.index() if index else 0
    if end is not None:
        end(b, offset)
    else:
        b.end(offset)
    return bytes(b.data)


def _base() -> bytes:
    return _faulty()


def _second_segment_offset(data: bytes) -> int:
    pos, seen = len(SIGNATURE), 0
    while True:
        (length,) = struct.unpack_from("<I", data, pos)
        if data[pos + 4 : pos + 8] == b"GSEG":
            seen += 1
            if seen == 2:
                return pos
        pos += 12 + length


def _payload_with(state_index: int, **kw: Any) -> list[bytes]:
    sts = _faulty_states()
    return [profile0_payload(st, **kw) if i == state_index else profile0_payload(st) for i, st in enumerate(sts)]


def _tamper_attributes(name: str, gaussian: int, component: int, value: int) -> list[bytes]:
    """The second segment with one f16 attribute value replaced by the bit pattern ``value``."""
    bodies = _payload_with(1)
    body = bytearray(bodies[1])
    n, _, _, gsize = struct.unpack_from("<IB3sI", body)
    pos = 0
    for a in ATTRIBUTES:
        if a.name == name:
            pos += gaussian * a.components + component
            break
        pos += n * a.components
    struct.pack_into("<H", body, 12 + gsize + 2 * pos, value)
    bodies[1] = bytes(body)
    return bodies


def _second_length(length: Callable[[int], int]) -> Callable[[StreamBuilder, int, bytes], None]:
    """A segment hook giving the second GSEG a wrong chunk_length (``length`` of the right one)."""
    def segment(b: StreamBuilder, i: int, body: bytes) -> None:
        if i:
            b.segment(2, body, length=length(12 + len(body)))
        else:
            b.segment(2, body)
    return segment


def _bad_index(b: StreamBuilder, offset: int) -> None:
    b.chunk(b"gidx", struct.pack("<I", 3) + bytes(32))
    b.end(0)


def _octree(mutate: Callable[[bytearray], None], fix_crc: bool = True, extra: bytes = b"") -> list[bytes]:
    """The second segment's builtin geometry payload changed by ``mutate``, its inner CRC-32 recomputed or not."""
    st = _faulty_states()[1]
    geo = bytearray(encode_points(st.points, "builtin") + extra)
    mutate(geo)
    if fix_crc:
        struct.pack_into("<I", geo, 1, zlib.crc32(bytes(geo[9:])))
    return _payload_with(1, geometry_data=bytes(geo))


def _f(name: str, description: str, build: Callable[[], bytes], error: str, fragment: str) -> Spec:
    return Spec(name, description, lambda: Built(build()), error=(error, fragment))


def _set_field(struct_fmt: str, offset: int, value: int) -> Callable[[bytearray], None]:
    def mutate(b: bytearray) -> None:
        struct.pack_into(struct_fmt, b, offset, value)
    return mutate


def _missing_header() -> bytes:
    data = _base()
    start = len(SIGNATURE)
    (length,) = struct.unpack_from("<I", data, start)
    return SIGNATURE + data[start + 12 + length :]


def _short_header() -> bytes:
    b = StreamBuilder()
    b.chunk(b"GHDR", _faulty_header().payload()[:20])
    return bytes(b.data)


def _tamper_crc(chunk_no: int) -> bytes:
    """Break the CRC of the ``chunk_no``-th chunk (0 = GHDR)."""
    data = bytearray(_base())
    pos = len(SIGNATURE)
    for _ in range(chunk_no):
        pos += 12 + struct.unpack_from("<I", data, pos)[0]
    length = struct.unpack_from("<I", data, pos)[0]
    data[pos + 8 + length // 2] ^= 0x10
    return bytes(data)


def _raw_points(x_last: int | None = None) -> bytes:
    """The second faulty segment's points as raw geometry, the last point's x optionally replaced."""
    pts = _faulty_states()[1].points.copy()
    if x_last is not None:
        pts[-1, 0] = x_last  # the last point stays last in canonical order
    return pts.astype("<i4").tobytes()


def _raw_swapped() -> bytes:
    pts = _faulty_states()[1].points.astype("<i4").copy()
    pts[[0, 1]] = pts[[1, 0]]
    return pts.tobytes()


# Profile 1 faulty streams: the base is two valid profile 1 segments (16x12, 6 Gaussians, hidden width 2, all
# 12 channels coded); the second segment's payload is broken, the chunk CRCs stay valid.


def _coded_faulty_states() -> list[CodedState]:
    return [coded_state(21000 + i, 6, _FW, _FH, 2, xy_shift=1, t_shift=1, hidden=2, mask=0x0FFF) for i in range(2)]


def _with_motion(frames: int, path_shift: int, coef_shift: int,
                 cut: int | None = None) -> Callable[[CodedPayload], bytes | None]:
    """Give the payload a motion mode of ``frames`` frames with these shifts (channel_mask bit 12 set); with
    ``cut``, the payload ends ``cut`` bytes after the steps."""
    def change(p: CodedPayload) -> bytes | None:
        p.fields[5] |= p1.MOTION_BIT
        p.motion = struct.pack("<HBB3h", frames, path_shift, coef_shift, 4096, 0, 0) + \
            struct.pack(f"<{2 * frames}h", *range(2 * frames))
        if cut is None:
            return None
        return p.join()[: PROFILE1_FIELDS.size + len(p.geometry) + 12 + cut]
    return change


def _coded_faulty(change: Callable[[CodedPayload], bytes | None]) -> bytes:
    """The profile 1 base with its second payload taken apart and changed: ``change`` edits the parts in place
    (and returns None to rejoin them) or returns the bytes to use."""
    first, second = (st.payload() for st in _coded_faulty_states())
    parts = CodedPayload.parse(second)
    body = change(parts)
    return _faulty(_faulty_header(profile=PROFILE_CODED), bodies=[first, parts.join() if body is None else body])


def _set_coded_field(index: int, value: int) -> Callable[[CodedPayload], None]:
    def change(p: CodedPayload) -> None:
        p.fields[index] = value
    return change


def _edit_channel(channel: int, edit: Callable[[bytes], bytes],
                  prior: Callable[[bytes], bytes] | None = None) -> Callable[[CodedPayload], None]:
    """Replace channel ``channel``'s residual data (and, optionally, its prior bytes) by an edit of them."""
    def change(p: CodedPayload) -> None:
        p.channels = [(c, prior(pb) if prior is not None and c == channel else pb, edit(d) if c == channel else d)
                      for c, pb, d in p.channels]
    return change


def _cut_last_channel(p: CodedPayload) -> bytes:
    """The payload without its last 2 bytes, inside the last channel's residual data (its residual_size says more)."""
    return p.join()[:-2]


def _sliced_geometry(edit: Callable[[list[bytes]], tuple[int, list[int] | None, list[bytes]]]
                     ) -> Callable[[CodedPayload], None]:
    """The payload's geometry as two slices of sliced geometry (§9.6), then ``edit`` gives the slice count, the
    table of sizes (None: the slices' true sizes) and the slices to write."""
    def change(p: CodedPayload) -> None:
        points = decode_points(p.geometry, p.fields[1])
        count, sizes, parts = edit([encode_points(points[:3]), encode_points(points[3:])])
        p.geometry = pack_slices(parts, count, sizes)
        p.fields[1], p.fields[7] = CODEC_SLICED, len(p.geometry)
    return change


_MortonParts = tuple[np.ndarray, np.ndarray, list[int], np.ndarray]  # origin, extent, leads, gaps


def _morton_geometry(edit: Callable[[np.ndarray, np.ndarray, list[int], np.ndarray], _MortonParts]
                     ) -> Callable[[CodedPayload], None]:
    """The payload's geometry coded depth first (§9.7) with leads (0, 0, 1), after ``edit`` changed its origin,
    extent, leads or gaps."""
    def change(p: CodedPayload) -> None:
        points = decode_points(p.geometry, p.fields[1])
        origin = points.min(axis=0)
        extent = points.max(axis=0) - origin
        leads = [0, 0, 1]
        layout = morton.key_layout([int(e).bit_length() for e in extent], leads)
        gaps = morton.key_gaps(points - origin, layout)
        p.geometry = morton.pack_morton(*edit(origin, extent, leads, gaps))
        p.fields[1], p.fields[7] = CODEC_MORTON, len(p.geometry)
    return change


def _gaps_past_key_space(origin: np.ndarray, extent: np.ndarray, leads: list[int], gaps: np.ndarray) -> _MortonParts:
    """The last gap grown so that the last key is 2**K, one past the largest key of the box."""
    k = sum(int(e).bit_length() for e in extent)
    gaps = gaps.copy()
    gaps[-1] += np.uint64((1 << k) - int(gaps.sum()))
    return origin, extent, leads, gaps


def _extent_one_short(origin: np.ndarray, extent: np.ndarray, leads: list[int], gaps: np.ndarray) -> _MortonParts:
    """extent_x one smaller (its bit length, and so the keys, unchanged): the largest x lies outside the box."""
    assert (int(extent[0]) - 1).bit_length() == int(extent[0]).bit_length()
    return origin, extent - np.array([1, 0, 0]), leads, gaps


def _class_beyond_key_space(origin: np.ndarray, extent: np.ndarray, leads: list[int], gaps: np.ndarray
                            ) -> _MortonParts:
    """The last gap grown by 2**K: its size class K + 1 exceeds the key's K bits."""
    gaps = gaps.copy()
    gaps[-1] += np.uint64(1 << sum(int(e).bit_length() for e in extent))
    return origin, extent, leads, gaps


def _extent_one_long(origin: np.ndarray, extent: np.ndarray, leads: list[int], gaps: np.ndarray) -> _MortonParts:
    """extent_x one larger (its bit length, and so the keys, unchanged): no point reaches the box's far side."""
    assert (int(extent[0]) + 1).bit_length() == int(extent[0]).bit_length()
    return origin, extent + np.array([1, 0, 0]), leads, gaps


def _morton_version(p: CodedPayload) -> None:
    _morton_geometry(lambda *parts: parts)(p)
    p.geometry = b"\x01" + p.geometry[1:]  # the CRC does not cover format_version


def _morton_words_left(p: CodedPayload) -> None:
    _morton_geometry(lambda *parts: parts)(p)
    body = p.geometry[5:] + bytes(8)  # num_points onwards, then two words no symbol needs
    p.geometry = p.geometry[:1] + struct.pack("<I", zlib.crc32(body)) + body
    p.fields[7] = len(p.geometry)


def _one_fewer(part: bytes) -> bytes:
    """A codec-0 payload of the same points but the last."""
    return encode_points(decode_points(part, 0)[:-1])


def _cut_into_priors(p: CodedPayload) -> bytes:
    """The payload cut 10 bytes into the first prior: far too short for 12 priors and their size fields."""
    return p.join()[: PROFILE1_FIELDS.size + len(p.geometry) + 12 + 10]

FAULTY: list[Spec] = [
    _f("gsv1-faulty-01-truncated-mid-chunk", "The stream ends inside the payload of its second segment.",
       lambda: _base()[: _second_segment_offset(_base()) + 40], "StreamError", "truncated stream"),
    _f("gsv1-faulty-02-truncated-at-chunk-boundary",
       "The stream ends cleanly after its last segment chunk: no gidx, no GEND.",
       lambda: _faulty(index=False, end=lambda b, o: None), "StreamError", "without an end chunk"),
    _f("gsv1-faulty-03-truncated-signature", "Only the first 5 bytes of the signature.",
       lambda: SIGNATURE[:5], "StreamError", "truncated stream"),
    _f("gsv1-faulty-04-empty-file", "A file of 0 bytes.", lambda: b"", "StreamError", "empty input"),
    _f("gsv1-faulty-05-not-a-gsv-stream", "A PNG signature and a chunk: not a .gsv stream.",
       lambda: b"\x89PNG\r\n\x1a\n" + _base()[8:], "StreamError", "not a .gsv stream"),
    _f("gsv1-faulty-06-damaged-signature",
       "The signature's CR LF became LF (a text-mode transfer), the rest unchanged.",
       lambda: SIGNATURE.replace(b"\r\n", b"\n") + _base()[8:], "StreamError", "damaged .gsv signature"),
    _f("gsv1-faulty-07-bad-crc-segment", "One payload byte of the first GSEG changed; its CRC-32 no longer matches.",
       lambda: _tamper_crc(1), "StreamError", "CRC mismatch in chunk GSEG"),
    _f("gsv1-faulty-08-bad-crc-header", "One payload byte of GHDR changed; its CRC-32 no longer matches.",
       lambda: _tamper_crc(0), "StreamError", "CRC mismatch in chunk GHDR"),
    _f("gsv1-faulty-09-unknown-critical-chunk",
       "A critical chunk of an unknown type (GXTN) between the segments: the decoder must stop.",
       lambda: _faulty(between=lambda b: b.chunk(b"GXTN", b"needs a newer decoder")),
       "UnsupportedError", "unknown critical chunk 'GXTN'"),
    _f("gsv1-faulty-10-invalid-chunk-type", "A chunk type with a digit (G5EG): not four ASCII letters.",
       lambda: _faulty(between=lambda b: b.chunk(b"G5EG", b"x")), "StreamError", "invalid chunk type"),
    _f("gsv1-faulty-11-unsupported-version-2", "version_major 2.",
       lambda: _faulty(_faulty_header(version_major=2)), "UnsupportedError", "unsupported .gsv version 2.0"),
    _f("gsv1-faulty-12-unsupported-version-0", "version_major 0.",
       lambda: _faulty(_faulty_header(version_major=0)), "UnsupportedError", "unsupported .gsv version 0.0"),
    _f("gsv1-faulty-13-unsupported-profile", "profile 255 (reserved).",
       lambda: _faulty(_faulty_header(profile=255)), "UnsupportedError", "unsupported profile 255"),
    _f("gsv1-faulty-14-chunk-length-beyond-file",
       "The second GSEG's chunk_length claims 5000 bytes more than the file holds.",
       lambda: _faulty(segment=_second_length(lambda n: n + 5000)),
       "StreamError", "truncated stream: the payload of chunk GSEG"),
    _f("gsv1-faulty-15-chunk-length-beyond-limit", "A chunk_length of 2^30 + 1 (MAX_CHUNK_LENGTH is 2^30).",
       lambda: _faulty(segment=_second_length(lambda n: (1 << 30) + 1)),
       "LimitError", "more than the limit of 1073741824"),
    _f("gsv1-faulty-16-gaussian-count-beyond-limit", "gaussian_count 2^22 + 1 (MAX_GAUSSIANS is 2^22).",
       lambda: _faulty(bodies=[_payload_with(1)[0], struct.pack("<I", (1 << 22) + 1) + _payload_with(1)[1][4:]]),
       "LimitError", "more than the limit of 4194304"),
    _f("gsv1-faulty-17-segment-count-beyond-limit", "GHDR segment_count 2^24 + 1 (the limit is 2^24).",
       lambda: _faulty(_faulty_header(segment_count=(1 << 24) + 1)), "LimitError", "segment count 16777217"),
    _f("gsv1-faulty-18-width-beyond-limit", "width 16385 (MAX_DIMENSION is 16384).",
       lambda: _faulty(_faulty_header(width=16385)), "LimitError", "frame size 16385x12"),
    _f("gsv1-faulty-19-height-zero", "height 0.",
       lambda: _faulty(_faulty_header(height=0)), "LimitError", "frame size 16x0"),
    _f("gsv1-faulty-20-frame-count-beyond-limit", "GHDR frame_count 2^31 (the limit is 2^31 - 1).",
       lambda: _faulty(_faulty_header(frame_count=1 << 31)), "LimitError", "frame count 2147483648"),
    _f("gsv1-faulty-21-segment-frames-zero", "segment_frames 0.",
       lambda: _faulty(_faulty_header(segment_frames=0)), "StreamError", "segment_frames 0"),
    _f("gsv1-faulty-22-segment-frames-beyond-limit", "segment_frames 65536 (the limit is 65535).",
       lambda: _faulty(_faulty_header(segment_frames=65536)), "StreamError", "segment_frames 65536"),
    _f("gsv1-faulty-23-frame-rate-zero", "frame_rate_den 0.",
       lambda: _faulty(_faulty_header(rate_den=0)), "StreamError", "frame rate 25/0"),
    _f("gsv1-faulty-24-full-range-invalid", "full_range 2 (only 0 and 1 are defined).",
       lambda: _faulty(_faulty_header(full_range=2)), "StreamError", "full_range flag 2"),
    _f("gsv1-faulty-25-metadata-entries-beyond-limit", "A gmet chunk claiming 257 entries (the limit is 256).",
       lambda: _faulty(between=lambda b: b.chunk(b"gmet", metadata_payload([("a", "b")], count=257))),
       "LimitError", "more than 256"),
    _f("gsv1-faulty-26-metadata-malformed", "A gmet entry whose value runs past the end of its chunk.",
       lambda: _faulty(between=lambda b: b.chunk(b"gmet", metadata_payload([("key", "value")])[:-2])),
       "StreamError", "metadata"),
    _f("gsv1-faulty-27-segment-index-gap", "The second segment has segment_index 2 instead of 1.",
       lambda: _faulty(segment=lambda b, i, body: b.segment(2, body, index=2 * i)),
       "StreamError", "segment 2 found where segment 1 was expected"),
    _f("gsv1-faulty-28-first-frame-gap", "The second segment starts at frame 3 instead of 2.",
       lambda: _faulty(segment=lambda b, i, body: b.segment(2, body, first_frame=3 * i)),
       "StreamError", "starts at frame 3, expected 2"),
    _f("gsv1-faulty-29-segment-without-frames", "A segment with frame_count 0.",
       lambda: _faulty(segment=lambda b, i, body: b.segment(0 if i else 2, body)), "StreamError", "has 0 frames"),
    _f("gsv1-faulty-30-segment-longer-than-nominal", "A segment of 3 frames where segment_frames is 2.",
       lambda: _faulty(_faulty_header(frame_count=5), segment=lambda b, i, body: b.segment(3 if i else 2, body)),
       "StreamError", "has 3 frames (1..2 allowed)"),
    _f("gsv1-faulty-31-segment-past-header-frames", "GHDR frame_count 3; the second segment runs to frame 4.",
       lambda: _faulty(_faulty_header(frame_count=3)), "StreamError", "runs past the 3 frames"),
    _f("gsv1-faulty-32-frame-count-mismatch", "GHDR frame_count 6; the stream holds 4 frames.",
       lambda: _faulty(_faulty_header(frame_count=6)), "StreamError", "header declares 6 frames"),
    _f("gsv1-faulty-33-end-segment-count-mismatch", "GEND segment_count 3; the stream holds 2 segments.",
       lambda: _faulty(end=lambda b, o: b.end(o, segment_count=3)), "StreamError", "end chunk says 3 segments"),
    _f("gsv1-faulty-34-end-total-frames-mismatch", "GEND total_frames 5; the segments hold 4 frames.",
       lambda: _faulty(end=lambda b, o: b.chunk(b"GEND", GEND_FIELDS.pack(2, 5, o))),
       "StreamError", "2 segments / 5 frames"),
    _f("gsv1-faulty-35-end-chunk-too-short", "A GEND payload of 10 bytes (it has 16).",
       lambda: _faulty(end=lambda b, o: b.chunk(b"GEND", GEND_FIELDS.pack(2, 4, o)[:10])),
       "StreamError", "end chunk (GEND) too short"),
    _f("gsv1-faulty-36-missing-header", "The first chunk is a GSEG: GHDR is missing.",
       _missing_header, "StreamError", "first chunk is GSEG, expected GHDR"),
    _f("gsv1-faulty-37-second-header", "A second GHDR between the segments.",
       lambda: _faulty(between=lambda b: b.header(_faulty_header())), "StreamError", "second sequence header"),
    _f("gsv1-faulty-38-header-too-short", f"A GHDR payload of 20 bytes (version 1.0 has {GHDR_FIELDS.size}).",
       _short_header, "StreamError", "sequence header (GHDR) has 20 bytes"),
    _f("gsv1-faulty-39-index-size-mismatch", "A gidx chunk whose entry_count (3) does not match its size.",
       lambda: _faulty(index=False, end=_bad_index), "StreamError", "index chunk size"),
    _f("gsv1-faulty-40-payload-size-mismatch", "A profile 0 payload one byte longer than its counts say.",
       lambda: _faulty(bodies=[_payload_with(1)[0], _payload_with(1)[1] + b"\0"]),
       "StreamError", "does not match its 6 Gaussians"),
    _f("gsv1-faulty-41-payload-too-short", "A profile 0 payload of 8 bytes (its fixed fields need 12).",
       lambda: _faulty(bodies=[_payload_with(1)[0], bytes(8)]), "StreamError", "profile 0 segment payload too short"),
    _f("gsv1-faulty-42-attribute-nan", "A colour value is a float16 NaN (0x7E00).",
       lambda: _faulty(bodies=_tamper_attributes("color", 1, 2, 0x7E00)), "StreamError",
       "attribute color holds a non-finite value"),
    _f("gsv1-faulty-43-attribute-infinity", "A log_scale value is float16 -infinity (0xFC00).",
       lambda: _faulty(bodies=_tamper_attributes("log_scale", 1, 1, 0xFC00)), "StreamError",
       "attribute log_scale holds a non-finite value"),
    _f("gsv1-faulty-44-geometry-codec-reserved", "geometry_codec 7 (reserved).",
       lambda: _faulty(bodies=_payload_with(1, codec=7)), "StreamError", "unknown geometry codec 7"),
    _f("gsv1-faulty-45-geometry-crc-mismatch",
       "Builtin geometry with a flipped coded bit and its inner CRC-32 left stale (the chunk CRC is valid).",
       lambda: _faulty(bodies=_octree(lambda g: g.__setitem__(-1, g[-1] ^ 1), fix_crc=False)),
       "StreamError", "geometry payload is corrupt: CRC-32 mismatch"),
    _f("gsv1-faulty-46-geometry-data-after-last-symbol",
       "Builtin geometry with two coded words appended; both CRCs valid, so only the decoder's end check sees it.",
       lambda: _faulty(bodies=_octree(lambda g: None, extra=b"\x55\xaa\x55\xaa\xaa\x55\xaa\x55")),
       "StreamError", "range-coded data continues past the last symbol"),
    _f("gsv1-faulty-47-geometry-point-count-mismatch",
       "Builtin geometry whose num_points (7) exceeds the positions its octree codes (6); CRCs valid.",
       lambda: _faulty(bodies=_octree(_set_field("<I", 5, 7))), "StreamError",
       "geometry holds 7 points for 6 Gaussians"),
    _f("gsv1-faulty-48-geometry-extent-beyond-limit", "Builtin geometry with extent_x 2^21 (must be below 2^21).",
       lambda: _faulty(bodies=_octree(_set_field("<I", 9 + 12, 1 << 21))), "LimitError", "2**21 cells"),
    _f("gsv1-faulty-49-geometry-version-unsupported", "Builtin geometry with format_version 1.",
       lambda: _faulty(bodies=_octree(_set_field("<B", 0, 1))), "UnsupportedError", "format version 1"),
    _f("gsv1-faulty-50-geometry-reserved-flags", "Builtin geometry with reserved flag bit 1 set.",
       lambda: _faulty(bodies=_octree(_set_field("<B", 9 + 24, 0x02))), "StreamError", "reserved flag bits"),
    _f("gsv1-faulty-51-geometry-more-points-than-gaussians",
       "Builtin geometry holding 7 points for a segment of 6 Gaussians.",
       lambda: _faulty(bodies=_payload_with(1, geometry_data=encode_points(
           np.concatenate([_faulty_states()[1].points, [[99, 99, 9]]]), "builtin"))),
       "StreamError", "geometry holds 7 points for 6 Gaussians"),
    _f("gsv1-faulty-52-raw-geometry-out-of-order", "Raw geometry whose first two points are swapped.",
       lambda: _faulty(bodies=_payload_with(1, geometry="raw", geometry_data=_raw_swapped())),
       "StreamError", "not in canonical (t, y, x) order"),
    _f("gsv1-faulty-53-raw-geometry-partial-record", "Raw geometry of 73 bytes: not a whole number of points.",
       lambda: _faulty(bodies=_payload_with(1, geometry="raw", geometry_data=_raw_points() + b"\0")),
       "StreamError", "not a whole number of 12-byte points"),
    _f("gsv1-faulty-54-raw-coordinate-beyond-limit", "Raw geometry with x = 2^30 + 1 (MAX_COORD is 2^30).",
       lambda: _faulty(bodies=_payload_with(1, geometry="raw", geometry_data=_raw_points(x_last=(1 << 30) + 1))),
       "LimitError", "coordinates outside"),
    _f("gsv1-faulty-55-gpcc-crc-mismatch", "An empty G-PCC geometry payload whose CRC-32 is wrong (no tmc3 needed).",
       lambda: _faulty(bodies=[_payload_with(1)[0], struct.pack("<IB3sI", 0, 1, bytes(3), 21)
                               + struct.pack("<BIiiiI", 0, 0, 0, 0, 0, 1)]),
       "StreamError", "G-PCC geometry payload is corrupt: CRC-32 mismatch"),
    _f("gsv1-faulty-56-truncated-in-chunk-header", "The stream ends 6 bytes into the second segment's chunk header.",
       lambda: _base()[: _second_segment_offset(_base()) + 6], "StreamError", "truncated stream: a chunk header"),
    _f("gsv1-faulty-57-geometry-truncated", "A builtin geometry payload of 5 bytes (its header needs 9).",
       lambda: _faulty(bodies=_payload_with(1, geometry_data=b"\0\0\0\0\0")), "StreamError",
       "geometry payload is truncated"),
    _f("gsv1-faulty-58-p1-channel-truncated",
       "Profile 1: the payload ends 2 bytes before the end of the last channel's residual data (residual_size says "
       "more).",
       lambda: _coded_faulty(_cut_last_channel), "StreamError", "truncated stream: profile 1 channel 11 holds"),
    _f("gsv1-faulty-59-p1-residuals-invalid",
       "Profile 1: channel 0's residual data starts with two 0xFFFFFFFF words, which no range encoder writes "
       "(the first quantile is 2^24).",
       lambda: _coded_faulty(_edit_channel(0, lambda d: b"\xff" * 8 + d[8:])), "StreamError",
       "the range-coded data is invalid"),
    _f("gsv1-faulty-60-p1-residuals-past-end",
       "Profile 1: two zero words appended to channel 3's residual data (residual_size updated): data left after "
       "its last residual.",
       lambda: _coded_faulty(_edit_channel(3, lambda d: d + bytes(8))), "StreamError",
       "range-coded data continues past the last residual"),
    _f("gsv1-faulty-61-p1-residuals-partial-word",
       "Profile 1: channel 5's residual data 2 bytes longer (residual_size updated): not a whole number of words.",
       lambda: _coded_faulty(_edit_channel(5, lambda d: d + b"\0\0")), "StreamError",
       "not a whole number of 32-bit words"),
    _f("gsv1-faulty-62-p1-hidden-width-beyond-limit", "Profile 1: hidden 33 (at most 32).",
       lambda: _coded_faulty(_set_coded_field(4, 33)), "StreamError", "prior hidden width 33 above 32"),
    _f("gsv1-faulty-63-p1-channel-mask-reserved-bit", "Profile 1: channel_mask 0x2fff, setting reserved bit 13.",
       lambda: _coded_faulty(_set_coded_field(5, 0x2FFF)), "StreamError", "sets reserved bits 13-15"),
    _f("gsv1-faulty-64-p1-bytes-after-last-channel", "Profile 1: 3 bytes after the last channel's residual data.",
       lambda: _coded_faulty(lambda p: p.join() + b"\x01\x02\x03"), "StreamError",
       "3 bytes after the last profile 1 channel"),
    _f("gsv1-faulty-65-p1-position-shift-beyond-limit", "Profile 1: xy_shift 9 (at most 8).",
       lambda: _coded_faulty(_set_coded_field(2, 9)), "StreamError", "position shift above 8"),
    _f("gsv1-faulty-66-p1-prior-shift-beyond-limit", "Profile 1: channel 0's prior has s2 = 32 (at most 31).",
       lambda: _coded_faulty(_edit_channel(0, lambda d: d, prior=lambda pb: pb[:1] + b"\x20" + pb[2:])),
       "StreamError", "prior shift 32 above 31"),
    _f("gsv1-faulty-67-p1-gaussian-count-mismatch",
       "Profile 1: gaussian_count 7 for a builtin geometry of 6 points.",
       lambda: _coded_faulty(_set_coded_field(0, 7)), "StreamError", "geometry holds 6 points for 7 Gaussians"),
    _f("gsv1-faulty-68-p1-too-short-for-channels",
       "Profile 1: the payload ends 10 bytes into the first of its 12 priors.",
       lambda: _coded_faulty(_cut_into_priors), "StreamError", "too short for its coded channels"),
    _f("gsv1-faulty-69-p1-gaussian-count-beyond-limit", "Profile 1: gaussian_count 2^22 + 1 (MAX_GAUSSIANS is 2^22).",
       lambda: _coded_faulty(_set_coded_field(0, (1 << 22) + 1)), "LimitError", "more than the limit of 4194304"),
    _f("gsv1-faulty-70-p1-geometry-beyond-payload",
       "Profile 1: geometry_size 5000, beyond the payload.",
       lambda: _coded_faulty(_set_coded_field(7, 5000)), "StreamError", "profile 1 geometry or steps cut short"),
    _f("gsv1-faulty-71-p1-payload-too-short", "Profile 1: a payload of 10 bytes (its fixed fields need 16).",
       lambda: _coded_faulty(lambda p: p.join()[:10]), "StreamError", "profile 1 segment payload too short"),
    _f("gsv1-faulty-72-p1-geometry-codec-reserved", "Profile 1: geometry_codec 5 (reserved).",
       lambda: _coded_faulty(_set_coded_field(1, 5)), "StreamError", "unknown geometry codec 5"),
    _f("gsv1-faulty-73-p1-sliced-sizes-beyond-geometry",
       "Profile 1, sliced geometry (§9.6): the table of slice sizes declares one byte more than follows it.",
       lambda: _coded_faulty(_sliced_geometry(lambda parts: (len(parts), [len(p) for p in parts[:-1]]
                                                            + [len(parts[-1]) + 1], parts))),
       "StreamError", "slices declare"),
    _f("gsv1-faulty-74-p1-sliced-no-slices", "Profile 1, sliced geometry: slice_count 0.",
       lambda: _coded_faulty(_sliced_geometry(lambda parts: (0, [], []))), "StreamError", "0 slices"),
    _f("gsv1-faulty-75-p1-sliced-points-short",
       "Profile 1, sliced geometry: the slices hold one point fewer than gaussian_count (the last slice lost a "
       "point).",
       lambda: _coded_faulty(_sliced_geometry(lambda parts: (len(parts), None, parts[:-1] + [_one_fewer(parts[-1])]))),
       "StreamError", "geometry holds 5 points for 6 Gaussians"),
    _f("gsv1-faulty-76-p1-morton-gaps-past-key-space",
       "Profile 1, depth-first geometry (§9.7): the gaps add up to 2^K, one past the largest key the box holds.",
       lambda: _coded_faulty(_morton_geometry(_gaps_past_key_space)), "StreamError", "run past"),
    _f("gsv1-faulty-77-p1-morton-point-outside-box",
       "Profile 1, depth-first geometry: extent_x one short of the largest x (the keys are unchanged).",
       lambda: _coded_faulty(_morton_geometry(_extent_one_short)), "StreamError", "outside the declared bounding box"),
    _f("gsv1-faulty-78-p1-morton-lead-above-63", "Profile 1, depth-first geometry: lead_y 64.",
       lambda: _coded_faulty(_morton_geometry(lambda o, e, leads, g: (o, e, [0, 64, 1], g))), "StreamError",
       "axis lead above 63"),
    _f("gsv1-faulty-79-p1-morton-class-beyond-key-space",
       "Profile 1, depth-first geometry: the last gap's size class is K + 1, beyond the key's K bits.",
       lambda: _coded_faulty(_morton_geometry(_class_beyond_key_space)), "StreamError",
       "larger than the bounding box's key space"),
    _f("gsv1-faulty-80-p1-morton-box-larger-than-points",
       "Profile 1, depth-first geometry: extent_x one larger than the points' span (the keys are unchanged).",
       lambda: _coded_faulty(_morton_geometry(_extent_one_long)), "StreamError", "larger than the points it holds"),
    _f("gsv1-faulty-81-p1-morton-format-version", "Profile 1, depth-first geometry: format_version 1.",
       lambda: _coded_faulty(_morton_version), "UnsupportedError", "format version 1"),
    _f("gsv1-faulty-82-p1-morton-words-left-over",
       "Profile 1, depth-first geometry: two zero words after the last coded symbol (CRC and sizes updated).",
       lambda: _coded_faulty(_morton_words_left), "StreamError", "continues past the last symbol"),
    _f("gsv1-faulty-83-p1-motion-path-frames-mismatch",
       "Profile 1: a motion mode (§16.10) whose path covers 3 frames, in a segment of 2.",
       lambda: _coded_faulty(_with_motion(3, 4, 12)), "StreamError", "covers 3 frames in a segment of 2"),
    _f("gsv1-faulty-84-p1-motion-path-of-no-frames", "Profile 1: a motion mode with path_frames 0.",
       lambda: _coded_faulty(_with_motion(0, 4, 12)), "StreamError", "a path of 0 frames"),
    _f("gsv1-faulty-85-p1-motion-shift-above-15", "Profile 1: a motion mode with path_shift 16.",
       lambda: _coded_faulty(_with_motion(2, 16, 12)), "StreamError", "motion mode shift above 15"),
    _f("gsv1-faulty-86-p1-motion-mode-cut-short",
       "Profile 1: channel_mask bit 12 set and the payload ending 6 bytes after the steps.",
       lambda: _coded_faulty(_with_motion(2, 4, 12, cut=6)), "StreamError", "motion mode cut short"),
    _f("gsv1-faulty-87-p1-motion-path-cut-short",
       "Profile 1: a motion mode of 2 frames and the payload ending 4 bytes into its path.",
       lambda: _coded_faulty(_with_motion(2, 4, 12, cut=14)), "StreamError", "motion path cut short"),
]


CORE: list[Spec] = [
    Spec("gsv1-core-01-single-segment",
         "One segment of 6 frames, 32x24 at 30 fps, builtin geometry, gmet metadata, header counts filled in, "
         "seek index present.", core_single_segment, seed=1),
    Spec("gsv1-core-02-multi-segment",
         "Four segments of 4, 4, 4 and 2 frames (the last one shorter), 32x24 at 30000/1001 fps, builtin geometry; "
         "written to a seekable file, so the writer filled in the header's counts at the end.",
         core_multi_segment, seed=2),
    Spec("gsv1-core-03-raw-geometry", "Two segments of 3 frames, 24x16 at 24000/1001 fps, geometry codec 2 (raw).",
         core_raw_geometry, seed=3),
    Spec("gsv1-core-04-unknown-length",
         "Written to a pipe: GHDR frame_count and segment_count are 0 (unknown); GEND carries the totals. "
         "Segments of 3 and 1 frames, 24x16 at 1/1 fps.", core_unknown_length, seed=4),
    Spec("gsv1-core-05-no-index", "No gidx chunk (GEND index_offset 0): a seeking reader must scan the chunks. "
         "Two segments, 24x16 at 25 fps.", core_no_index, seed=5),
    Spec("gsv1-core-06-ancillary-chunks",
         "Unknown ancillary chunks (zzzz, gXtr with an empty payload, aBCD, tIME) after the header, between and "
         "after segments, which a decoder must skip; two gmet chunks, one with UTF-8 text, one with 0 entries.",
         core_ancillary_chunks, seed=6),
    Spec("gsv1-core-07-compositing",
         "Hand-placed Gaussians for the rendering rules (format_spec.md §10): stacked opaque discs (nearest in "
         "time first, stop rule), an equal-|t - tau| tie broken by index, a rotated elongated footprint, colours "
         "outside [0, 1], velocity and acceleration, a short temporal window, a point-like Gaussian (low-pass).",
         core_compositing, seed=7),
    Spec("gsv1-core-08-profile1-linear",
         "Profile 1 (format_spec.md §16): one segment of 48 Gaussians, 32x24, 4 frames, builtin geometry, "
         "xy_shift 2 and t_shift 1, linear priors (hidden 0), all 12 channels coded.", core_profile1_linear, seed=31),
    Spec("gsv1-core-09-profile1-hidden",
         "Profile 1: two segments of 30 Gaussians, 24x16, raw geometry, xy_shift 1 and t_shift 2, priors with a "
         "hidden layer of 8, channel_mask 0x03ef (rot and both accelerations not coded: their symbols are 0).",
         core_profile1_hidden, seed=32),
    Spec("gsv1-core-10-profile1-segments",
         "Profile 1: four segments that differ in shifts (0/0, 3/5, 8/8), hidden width (4, 0, 2, 0), channel mask "
         "and geometry codec; duplicate grid points; an empty segment with no channel coded and one whose two coded "
         "channels carry priors but no residual data.", core_profile1_segments, seed=33),
    Spec("gsv1-core-11-profile1-sliced",
         "Profile 1 with sliced geometry (geometry codec 3, format_spec.md §9.6): 60 Gaussians in 4 bands along x, "
         "as gsenc cuts them; then 21 Gaussians in slices of the even rows, none and the odd rows, whose boxes "
         "overlap (the union is sorted into canonical order).", core_profile1_sliced, seed=34),
    Spec("gsv1-core-12-profile1-morton",
         "Profile 1 with depth-first geometry (geometry codec 4, format_spec.md §9.7): 60 Gaussians with the axis "
         "leads gsenc chooses; 21 with duplicate points and time leading by 3 levels; 9 on the finest grid "
         "(shifts 8/8) with x and y leading by 2; 14 in one frame (t of extent 0) with leads x 3, y 0, t 1.",
         core_profile1_morton, seed=35),
    Spec("gsv1-core-13-profile1-motion",
         "Profile 1 with motion modes (format_spec.md §16.10): 40 Gaussians over 4 frames whose centres also move "
         "along a path (1/16 px) scaled by a + b vx + c vy (a = 1, b = 0.1, c = -0.07); one frame with the shifts 0 "
         "and 15 and coefficients of -32768 and 32767; then a segment without a mode.", core_profile1_motion,
         seed=36),
]

UNCOMMON: list[Spec] = [
    Spec("gsv1-uncommon-01-size-1x1", "A 1x1 frame, 3 frames, 5 Gaussians.",
         uncommon_size(1, 1, [3], 5, 11, Fraction(30)), seed=11),
    Spec("gsv1-uncommon-02-size-3x5", "A 3x5 frame (narrower than high), segments of 2 and 2 frames.",
         uncommon_size(3, 5, [2, 2], 8, 12, Fraction(30)), seed=12),
    Spec("gsv1-uncommon-03-size-17x11", "An odd size that is no multiple of any tile size: 17x11, segments of 3 "
         "and 2 frames, 24000/1001 fps.", uncommon_size(17, 11, [3, 2], 20, 13, Fraction(24000, 1001)), seed=13),
    Spec("gsv1-uncommon-04-max-width", "width 16384 (MAX_DIMENSION) and height 1, 2 frames.",
         uncommon_max_dimension(16384, 1, 14), seed=14),
    Spec("gsv1-uncommon-05-max-height", "width 1 and height 16384 (MAX_DIMENSION), 2 frames.",
         uncommon_max_dimension(1, 16384, 15), seed=15),
    Spec("gsv1-uncommon-06-max-segment-frames",
         "segment_frames 65535 (the limit) with one segment of 3 frames; frame rate 4294967295/4294967294, the "
         "largest u32 values.", uncommon_max_segment_frames, seed=16),
    Spec("gsv1-uncommon-07-empty-segments",
         "Segments with 0 Gaussians in each geometry codec: builtin, raw, and G-PCC (an empty G-PCC cloud has no "
         "tmc3 bitstream, so it decodes without tmc3); they render black. Then a segment with Gaussians.",
         uncommon_empty_segments, seed=17),
    Spec("gsv1-uncommon-08-off-frame-negative",
         "Gaussians with centres off the frame and at negative coordinates, entering from outside, with tau before "
         "and after the segment (negative grid t).", uncommon_off_frame, seed=18),
    Spec("gsv1-uncommon-09-duplicate-positions",
         "Gaussians sharing grid points and exact positions (multiplicities 2, 3 and 70; ties composited by index), "
         "and a segment whose Gaussians all share one grid point (an octree of depth 0).",
         uncommon_duplicates, seed=19),
    Spec("gsv1-uncommon-10-extreme-coordinates",
         "Grid points spanning 2^21 - 1 (the extent limit) on every axis next to visible ones, and segments at "
         "+2^30 and -2^30 (MAX_COORD) on every axis, which render black.", uncommon_extreme_coordinates, seed=20),
    Spec("gsv1-uncommon-11-extreme-attributes",
         "float16 attributes at the ends of their range (+-65504), subnormals and negative zeros; sizes and temporal "
         "extents that overflow to 0 or infinity, an opacity that becomes NaN (contributes nothing, §10.4), residuals "
         "beyond +-0.5.", uncommon_extreme_attributes, seed=21),
    Spec("gsv1-uncommon-12-future-minor-version",
         "version 1.255 with 12 unknown bytes appended to GHDR and 8 to GEND: a 1.x decoder ignores them.",
         uncommon_future_minor_version, seed=22),
    Spec("gsv1-uncommon-13-reserved-fields-set",
         "Reserved fields not 0 (GHDR reserved 0xA5, profile 0 reserved bytes 01 80 ff). An encoder must not write "
         "this, a decoder must ignore it.", uncommon_reserved_fields, seed=23),
    Spec("gsv1-uncommon-14-trailing-bytes", "Bytes after GEND, shaped like a chunk: not part of the stream.",
         uncommon_trailing_bytes, seed=24),
    Spec("gsv1-uncommon-15-no-segments", "GHDR, an empty gidx and GEND: a stream of 0 segments and 0 frames.",
         uncommon_no_segments, seed=25),
    Spec("gsv1-uncommon-16-many-segments", "40 segments of 1 frame each (segment_frames 1), 8x6.",
         uncommon_many_segments, seed=26),
    Spec("gsv1-uncommon-17-colour-description",
         "Colour fields other than the default (colour_primaries 9, transfer_characteristics 14, full_range 0): "
         "they describe the output, they do not change the decoded samples.", uncommon_colour_description, seed=27),
    Spec("gsv1-uncommon-18-gpcc-geometry", "Geometry codec 1 (MPEG G-PCC through tmc3): two segments, 24x16.",
         uncommon_gpcc, seed=28, requires=("tmc3",)),
    Spec("gsv1-uncommon-19-profile1-prior-extremes",
         "Profile 1 priors at the ends of their integer arithmetic: means clamped to +-2^20, scale indices clamped "
         "to 0 and 63, symbol inputs clamped to 32767, hidden activations clamped to 0 and 32767 (hidden width 32), "
         "prior shifts 0, 20 and 31 with weights of -32768 and 32767 and i32 extreme biases, residuals of +-512, "
         "step exponents -128, -127 and 127, and reserved 0xbeef.", uncommon_profile1_extremes, seed=34),
]

SPECS: list[Spec] = CORE + UNCOMMON + FAULTY

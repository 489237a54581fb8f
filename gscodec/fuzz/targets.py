"""Fuzz targets: each takes untrusted bytes, runs one decoder entry point, and checks what comes out.

A target's ``run`` returns a short summary of a successful decode (part of the outcome's
signature, so keep its values few: counts are bucketed) or raises. Post-conditions that a
successful return must meet raise :class:`~gscodec.fuzz.outcome.ContractViolation`.

Input kinds (what the seeds and the mutator produce for a target):

- ``stream``: a whole .gsv stream;
- ``profile0``: one profile 0 segment payload (format_spec.md §8.1);
- ``profile1``: one profile 1 segment payload (§16);
- ``builtin``, ``morton``, ``raw``, ``gpcc``: one geometry payload of that codec (§9).

A new profile adds a payload kind, a mutator for it (:mod:`gscodec.fuzz.mutate`) and a target
here; the stream-level targets reach it through :func:`gscodec.decode.decode_segment_state`
without change.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gscodec.errors import GscodecError, RuntimeFailure, StreamError
from gscodec.fuzz.outcome import ContractViolation
from gscodec.geometry import MAX_COORD, MAX_EXTENT_BITS, MAX_POINTS

#: Input kinds, in the order the mutator knows them.
INPUT_KINDS: tuple[str, ...] = ("stream", "profile0", "profile1", "builtin", "morton", "raw", "gpcc")

#: The gsdec targets render at most this many pixels per frame; larger frames are decoded to
#: their state only (rendering cost is measured separately: see docs/ROBUSTNESS.md).
GSDEC_MAX_FRAME_PIXELS = 1 << 16
#: ... and at most this many pixels in all (frames x width x height), through ``--frames``.
GSDEC_PIXEL_BUDGET = 1 << 18

MiB = 1 << 20


@dataclass(frozen=True)
class Target:
    """One entry point under test and the budgets an input may use there."""

    name: str
    kind: str  # input kind, one of INPUT_KINDS
    run: Callable[[bytes], str]
    description: str
    allow_runtime: bool = False  # whether a RuntimeFailure (exit 1) is a documented outcome here
    time_budget: Callable[[bytes], float] = lambda data: 1.0 + 100e-6 * len(data)
    memory_budget: Callable[[bytes], int] = lambda data: 96 * MiB + 32 * len(data)
    process: bool = False  # runs a subprocess per input: slow, not for the long in-process loops


def _bucket(n: int) -> str:
    """0, 1, 2, 3-9, 10-99, ... : few distinct values for a summary."""
    return str(n) if n < 3 else f"{10 ** (len(str(n)) - 1)}+" if n >= 10 else "3+"


def check_points(points: np.ndarray, builtin: bool) -> None:
    """Post-conditions of every geometry decoder (format_spec.md §9.1, §9.2)."""
    if not isinstance(points, np.ndarray) or points.dtype != np.int64 or points.ndim != 2 or points.shape[1] != 3:
        raise ContractViolation(f"decoded points are not an (N, 3) int64 array: {getattr(points, 'shape', None)}")
    n = points.shape[0]
    if n > MAX_POINTS:
        raise ContractViolation(f"decoded {n} points, more than MAX_POINTS")
    if n == 0:
        return
    if int(np.abs(points).max()) > MAX_COORD:
        raise ContractViolation("decoded a coordinate beyond MAX_COORD")
    if builtin and int((points.max(axis=0) - points.min(axis=0)).max()) >= 1 << MAX_EXTENT_BITS:
        raise ContractViolation("decoded points span 2**21 cells or more")
    t, y, x = points[:, 2], points[:, 1], points[:, 0]
    dt, dy, dx = np.diff(t), np.diff(y), np.diff(x)
    if not ((dt > 0) | ((dt == 0) & ((dy > 0) | ((dy == 0) & (dx >= 0))))).all():
        raise ContractViolation("decoded points are not in canonical (t, y, x) order")


# --- payload-level targets ------------------------------------------------------------------------


def run_geometry(codec: int, canonical: bool = False) -> Callable[[bytes], str]:
    """A target body decoding one geometry payload of ``codec`` and checking the points.

    With ``canonical``, a successful decode must also re-encode to the same bytes: format_spec.md
    §9.5.8 makes the builtin payload a function of the point multiset, and this finds payloads
    the decoder accepts although no encoder writes them (not a safety matter: see
    docs/ROBUSTNESS.md).
    """
    from gscodec.geometry import CODEC_BUILTIN, CODEC_MORTON, decode_points, encode_points

    def run(data: bytes) -> str:
        points = decode_points(data, codec)
        check_points(points, codec in (CODEC_BUILTIN, CODEC_MORTON))
        if canonical and encode_points(points, codec) != data:
            raise ContractViolation("decoded a non-canonical payload (re-encoding gives other bytes)")
        dup = bool(np.any(np.all(np.diff(points, axis=0) == 0, axis=1)))  # canonical order: duplicates adjacent
        return f"ok points={_bucket(points.shape[0])} dup={dup}"

    return run


def run_profile0(data: bytes) -> str:
    """Decode a profile 0 payload to its state and to float Gaussians, checking both."""
    from gscodec.bitstream.profile0 import decode_segment
    from gscodec.model.params import ATTRIBUTES

    state = decode_segment(data)
    n = len(state)
    check_points(state.points, state.geometry_codec == 0)
    for attr in ATTRIBUTES:
        arr = state.attributes[attr.name]
        if arr.shape != (n, attr.components) or not np.all(np.isfinite(arr)):
            raise ContractViolation(f"attribute {attr.name} has shape {arr.shape} or non-finite values")
    arrays = state.gaussian_arrays()
    if arrays["xy"].shape != (n, 2):
        raise ContractViolation("gaussian_arrays() lost rows")
    state.state_hash()
    return f"ok gaussians={_bucket(n)} codec={state.geometry_codec}"


def run_profile1(data: bytes) -> str:
    """Decode a profile 1 payload to its integer state and to float Gaussians, checking both.

    Post-conditions (format_spec.md §16): every symbol within ±R of its channel's prediction,
    uncoded channels zero, the parts' sizes adding up to the payload, finite Gaussians.
    """
    from gscodec.bitstream import profile1
    from gscodec.entropy.tables import R

    state = profile1.decode_segment(data)
    n = len(state)
    check_points(state.points, state.geometry_codec == 0)
    if state.q.shape != (n, profile1.NUM_CHANNELS) or state.q.dtype != np.int32:
        raise ContractViolation(f"symbols of shape {state.q.shape} and type {state.q.dtype}")
    if sum(state.sizes.values()) != len(data) or profile1.layout(data) != state.sizes:
        raise ContractViolation("the parts' sizes do not add up to the payload")
    pos = profile1.position_features(state.points)
    q = state.q
    for c in range(profile1.NUM_CHANNELS):
        if c not in state.nets:
            if np.any(q[:, c]):
                raise ContractViolation(f"uncoded channel {c} holds symbols")
            continue
        mu, _ = state.nets[c].predict(pos, q, c)
        if n and int(np.max(np.abs(q[:, c] - mu))) > R:
            raise ContractViolation(f"channel {c}: a symbol beyond ±{R} of its prediction")
    arrays = state.gaussian_arrays()
    if any(a.shape[0] != n or not np.all(np.isfinite(a)) for a in arrays.values()):
        raise ContractViolation("gaussian_arrays() lost rows or holds non-finite values")
    import torch

    if state.motion is not None:  # §16.10: a path of at least one frame, finite values, a block of 10 + 4 T bytes
        mode = state.motion_mode()
        if mode.frames < 1 or not (bool(torch.isfinite(mode.path).all()) and bool(torch.isfinite(mode.coef).all())):
            raise ContractViolation("the motion mode has no frames or non-finite values")
        if state.sizes["motion"] != 10 + 4 * mode.frames:
            raise ContractViolation("the motion block's size does not match its path")
    state.state_hash()
    return f"ok gaussians={_bucket(n)} codec={state.geometry_codec} channels={_bucket(len(state.nets))}"


# --- stream-level targets -------------------------------------------------------------------------


def run_container(data: bytes) -> str:
    """Parse a whole stream: header, every chunk and segment frame, the index, the end chunk."""
    from gscodec.bitstream import GsvReader

    reader = GsvReader(io.BytesIO(data))
    count = frames = 0
    for seg in reader.segments():
        count += 1
        frames += seg.frame_count
    if reader.end != (count, frames):
        raise ContractViolation(f"reader ended with end={reader.end}, read {count} segments / {frames} frames")
    return (f"ok segments={_bucket(count)} index={reader.index is not None} meta={bool(reader.metadata)} "
            f"ancillary={bool(reader.unknown_ancillary)}")


def run_stream(data: bytes) -> str:
    """Decode a whole stream to its decoded state (every segment), as gsdec --verify hashes it."""
    import hashlib

    from gscodec.bitstream import GsvReader, profile1
    from gscodec.cli.gsdec import state_parts
    from gscodec.decode import decode_segment_state

    reader = GsvReader(io.BytesIO(data))
    count = gaussians = 0
    for seg in reader.segments():
        state = decode_segment_state(reader.header, seg)
        canonical = b"".join(state_parts(state))
        if isinstance(state, profile1.DecodedSegment):  # format_spec.md §16.6: the bytes its state hash hashes
            if hashlib.sha256(canonical).hexdigest() != state.state_hash():
                raise ContractViolation("canonical state bytes are not the bytes of the profile 1 state hash")
        elif len(canonical) != 54 * len(state):
            raise ContractViolation("canonical state bytes are not 54 bytes per Gaussian")
        count += 1
        gaussians += len(state)
    return f"ok segments={_bucket(count)} gaussians={_bucket(gaussians)}"


_scratch: Path | None = None


def scratch_file(name: str) -> Path:
    """A path in a per-process scratch folder (removed at exit), for targets that need a file."""
    global _scratch
    if _scratch is None:
        _scratch = Path(tempfile.mkdtemp(prefix="gscodec-fuzz-"))
        atexit.register(shutil.rmtree, _scratch, True)
    return _scratch / name


def run_seek(data: bytes) -> str:
    """The seeking path: GEND at the end of the file, then gidx, then each indexed segment (at most 8)."""
    from gscodec.bitstream import read_index, read_segment_at

    path = scratch_file("seek.gsv")
    path.write_bytes(data)
    _, entries = read_index(path)
    for entry in entries[:8]:
        read_segment_at(path, entry)
    return f"ok entries={_bucket(len(entries))}"


def run_gsinfo(data: bytes) -> str:
    """gsinfo's description of a stream, as a table and as JSON."""
    from gscodec.cli.gsinfo import describe, render_table

    path = scratch_file("info.gsv")
    path.write_bytes(data)
    info = describe(str(path))
    render_table(info)
    json.dumps(info)
    return f"ok segments={_bucket(len(info['segments']))}"


def declared_frame(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, frame_count) from a stream's GHDR if it is where a valid stream has it."""
    if len(data) < 32 or data[12:16] != b"GHDR":
        return None
    return struct.unpack_from("<III", data, 20)


def frame_window(data: bytes) -> str | None | bool:
    """The ``--frames`` option that keeps a gsdec run within the pixel budget.

    None: decode everything; ``"0:K"``: the first K frames; False: the frames are too large
    to render here (the stream is then decoded to its state only).
    """
    size = declared_frame(data)
    if size is None:
        return None
    width, height, frame_count = size
    pixels = max(1, width * height)
    if pixels > GSDEC_MAX_FRAME_PIXELS:
        return False
    k = max(1, GSDEC_PIXEL_BUDGET // pixels)
    if zlib.crc32(data) % 4 == 0:  # a window that starts later: segments before it are skipped
        return f"2:{k + 2}"
    return None if 0 < frame_count <= k else f"0:{k}"


_FRAME_FILE = re.compile(r"frame_\d{4,}\.png")


def run_gsdec(data: bytes) -> str:
    """gsdec's command path in-process (options -> decode -> run_command), into a fresh folder.

    Checks what a user sees: the exit status, a single ``gsdec: error: ...`` line on failure
    and nothing on success (-q), no Python warning, nothing left behind on failure, and on
    success a folder holding exactly the decoded frames under the names gsdec gives them
    (the stream never chooses a file name).
    """
    from gscodec.cli.common import run_command
    from gscodec.cli.gsdec import DecodeOptions, decode

    window = frame_window(data)
    if window is False:
        return run_stream(data).replace("ok", "ok state-only", 1)
    caught: list[BaseException] = []
    written: list[int] = []
    # The output kind varies with the input (PNG frames mostly; y4m; H.264 in mkv at both qualities).
    name, quality = _OUTPUTS[zlib.crc32(data[::7]) % len(_OUTPUTS)]
    with tempfile.TemporaryDirectory(prefix="gscodec-fuzz-gsdec-") as tmp:
        src = Path(tmp, "in.gsv")
        src.write_bytes(data)
        out = Path(tmp, name)
        opts = DecodeOptions(str(src), str(out), "cpu", window or None, quality, None, True, 0)

        def body() -> int:
            try:
                written.append(decode(opts))
            except Exception as exc:
                caught.append(exc)
                raise
            return written[-1]

        err = io.StringIO()
        code = 0
        with warnings.catch_warnings(record=True) as seen, contextlib.redirect_stderr(err):
            warnings.simplefilter("always")
            try:
                run_command("gsdec", 0, body)
            except SystemExit as exc:
                code = int(exc.code or 0)
        left = sorted(p.name for p in Path(tmp).iterdir() if p.name != "in.gsv")
        names = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    text = err.getvalue()
    if seen:
        w = seen[0]
        raise ContractViolation(f"gsdec let a {w.category.__name__} through: {str(w.message)[:120]}")
    if code == 0:
        frames_ok = name != "frames" or (len(names) == written[0] and all(_FRAME_FILE.fullmatch(n) for n in names))
        if left != [name] or not frames_ok:
            raise ContractViolation(f"gsdec succeeded but left {left} with {len(names)} files for {written} frames")
        if text:
            raise ContractViolation(f"gsdec -q printed on success: {text[:120]!r}")
        return f"ok frames={_bucket(written[0])} window={window is not None}"
    if left:
        raise ContractViolation(f"gsdec failed (exit {code}) but left {left} behind")
    if text.count("\n") != 1 or not text.startswith("gsdec: error: "):
        if caught and not isinstance(caught[0], GscodecError):
            raise caught[0]
        raise ContractViolation(f"gsdec exit {code} printed {text[:160]!r}")
    if not caught:
        raise ContractViolation(f"gsdec exited {code} without an exception: {text.strip()[:120]}")
    if isinstance(caught[0], RuntimeFailure) and "out of memory" not in str(caught[0]):
        raise ContractViolation(f"gsdec failed at run time on a stream it accepted: {caught[0]}")
    raise caught[0]


#: (output name, quality) for run_gsdec, chosen by a hash of the input.
_OUTPUTS: tuple[tuple[str, str], ...] = (("frames", "lossless"), ("frames", "lossless"), ("frames", "lossless"),
                                         ("out.y4m", "lossless"), ("out.mkv", "lossless"), ("out.mkv", "high"))


class ExitStatus(GscodecError):
    """A subprocess's documented failure, rebuilt from its exit status and its one-line message."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def run_gsdec_process(data: bytes) -> str:
    """gsdec as a real subprocess: exit status, stderr and the files it leaves (slow: a new interpreter)."""
    window = frame_window(data)
    if window is False:
        return run_stream(data).replace("ok", "ok state-only", 1)
    with tempfile.TemporaryDirectory(prefix="gscodec-fuzz-proc-") as tmp:
        src = Path(tmp, "in.gsv")
        src.write_bytes(data)
        out = Path(tmp, "out.y4m")
        args = [sys.executable, "-m", "gscodec.cli.gsdec", str(src), "-o", str(out), "--device", "cpu", "-q"]
        if window:
            args += ["--frames", window]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
        left = sorted(p.name for p in Path(tmp).iterdir() if p.name != "in.gsv")
    err = proc.stderr
    if proc.returncode < 0:
        raise ContractViolation(f"gsdec was killed by signal {-proc.returncode}: {err.strip()[-200:]}")
    if "Traceback" in err or "internal error" in err:
        raise ContractViolation(f"gsdec exit {proc.returncode}, traceback or internal error: {err.strip()[-200:]}")
    if proc.returncode == 0:
        if left != ["out.y4m"] or err:
            raise ContractViolation(f"gsdec succeeded but left {left} and printed {err[:120]!r}")
        return f"ok window={window is not None}"
    if proc.returncode not in (1, 2) or left or err.count("\n") != 1 or not err.startswith("gsdec: error: "):
        raise ContractViolation(f"gsdec exit {proc.returncode}, left {left}, printed {err[:160]!r}")
    raise ExitStatus(err.strip().removeprefix("gsdec: error: "), proc.returncode)


def run_canary(data: bytes) -> str:
    """A target with planted failures, one per leading marker, so tests can check that the engine
    reports each kind of finding (a quiet campaign is only worth something if a loud one is heard)."""
    import os
    import signal
    import time

    if data.startswith(b"KEY"):
        return {}["missing"]
    if data.startswith(b"HANG"):
        time.sleep(60)
    if data.startswith(b"HOG"):
        block = np.ones(160 * MiB, dtype=np.uint8)  # touched: resident
        return f"ok {int(block[::4096].sum())}"
    if data.startswith(b"SLOW"):
        time.sleep(0.3)
    if data.startswith(b"LINES"):
        raise StreamError("corrupt stream:\nsecond line")
    if data.startswith(b"RUNTIME"):
        raise RuntimeFailure("the device went away")
    if data.startswith(b"WRONG"):
        raise ContractViolation("returned points out of order")
    if data.startswith(b"ABORT"):
        os.abort()
    if data.startswith(b"STUCK"):  # stuck where the watchdog cannot reach, as inside native code
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        time.sleep(60)
    if data.startswith(b"BAD"):
        raise StreamError("corrupt stream: bad data")
    return "ok"


def _geometry_memory(data: bytes) -> int:
    # Standalone geometry is bounded by its point count, not its size: a few hundred bytes of
    # builtin payload may code MAX_POINTS points (format_spec.md §9.2: ~210 bytes per point).
    return 96 * MiB + 256 * MAX_POINTS


def _geometry_time(data: bytes) -> float:
    return 10.0


def _make_targets() -> dict[str, Target]:
    from gscodec.geometry import CODEC_BUILTIN, CODEC_GPCC, CODEC_MORTON, CODEC_RAW

    targets = [
        Target("container", "stream", run_container, "GsvReader over a whole stream: chunks, header, segments, end"),
        Target("seek", "stream", run_seek, "read_index and read_segment_at: the seeking path through gidx"),
        Target("gsinfo", "stream", run_gsinfo, "gsinfo's describe() and table"),
        Target("stream", "stream", run_stream, "every segment decoded to its state (profiles 0 and 1, geometry)"),
        Target("gsdec", "stream", run_gsdec, "gsdec's command path in-process, PNG frames out", allow_runtime=True,
               time_budget=lambda data: 5.0 + 100e-6 * len(data)),
        Target("gsdec-process", "stream", run_gsdec_process, "gsdec as a real subprocess, y4m out",
               allow_runtime=True, time_budget=lambda data: 60.0, process=True),
        Target("profile0", "profile0", run_profile0, "a profile 0 segment payload to its state and Gaussians"),
        Target("profile1", "profile1", run_profile1,
               "a profile 1 segment payload to its integer state (priors, range-coded residuals) and Gaussians"),
        Target("builtin", "builtin", run_geometry(CODEC_BUILTIN), "decode_points, codec 0 (octree)",
               time_budget=_geometry_time, memory_budget=_geometry_memory),
        Target("builtin-canonical", "builtin", run_geometry(CODEC_BUILTIN, canonical=True),
               "decode_points, codec 0, and the payload must be the one the encoder writes for those points",
               time_budget=_geometry_time, memory_budget=_geometry_memory),
        Target("morton", "morton", run_geometry(CODEC_MORTON), "decode_points, codec 4 (octree depth first)",
               time_budget=_geometry_time, memory_budget=_geometry_memory),
        Target("raw", "raw", run_geometry(CODEC_RAW), "decode_points, codec 2 (raw int32)"),
        Target("gpcc", "gpcc", run_geometry(CODEC_GPCC), "decode_points, codec 1 (G-PCC header; tmc3 if on PATH)",
               allow_runtime=True, time_budget=_geometry_time, memory_budget=_geometry_memory),
    ]
    targets.append(Target("canary", "stream", run_canary, "planted failures, for testing the harness",
                          time_budget=lambda data: 0.2, memory_budget=lambda data: 64 * MiB))
    return {t.name: t for t in targets}


TARGETS: dict[str, Target] = _make_targets()


def resolve_target(spec: str) -> Target:
    """A target by name, or ``module:attribute`` for one defined elsewhere (tests plant some)."""
    if ":" in spec:
        import importlib

        module, _, attr = spec.partition(":")
        target = getattr(importlib.import_module(module), attr)
        if not isinstance(target, Target):
            raise TypeError(f"{spec} is not a Target")
        return target
    return TARGETS[spec]

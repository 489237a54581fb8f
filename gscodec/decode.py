"""Decoding: a .gsv stream to frames, one segment at a time (what gsdec runs).

Memory holds one segment's Gaussians and one batch of rendered frames, whatever the length
of the video. The path from bytes to the decoded state (profile payload -> integer points and
attribute symbols) is exact; rendering the state to pixels is floating point (format_spec.md).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import BinaryIO

import numpy as np
import torch

from gscodec.bitstream import PROFILE_CODED, PROFILE_RAW, GsvReader, Segment, SequenceHeader, profile0, profile1
from gscodec.bitstream.worker import WorkerPool, WorkerStartError
from gscodec.errors import InputError, LimitError, RuntimeFailure, StreamError, UnsupportedError
from gscodec.geometry.sliced import decode_slice_list

logger = logging.getLogger(__name__)

RENDER_BATCH = 8
"""Most frames rendered per call to the rasterizer."""

RENDER_BATCH_PIXELS = 1 << 23
"""Most pixels (frames x width x height) per call, at least one frame: the CPU rasterizer
holds about 50 bytes per pixel of a call, so a batch stays near 400 MB whatever the frame
size a stream declares (one 16384 x 16384 frame still needs about 13 GB)."""

DEFAULT_MAX_PIXELS = 1 << 36
"""Default bound on the output of one decode, in pixels (frames x width x height of the frames
requested): 68,719,476,736, e.g. 33,140 frames of 1920x1080 (9.2 minutes at 60 fps, 23 minutes at
24 fps). A stream's size does not bound its output: 194 bytes can declare 65,535 frames of
16384x16384 (1.8e13 pixels). 0 means no limit."""

DEFAULT_MAX_SEGMENT_WORK = 1 << 32
"""Default bound on one segment's render work, in Gaussians x frames rendered: 2^22 Gaussians (the
format's most per segment, twice the largest preset budget of 2,000,000) over 1024 frames (32 times
gsenc's default segment length), so every stream the presets write passes. 0 means no limit."""


def open_input(path: str | os.PathLike[str]) -> BinaryIO:
    """A binary stream for a .gsv path, or standard input for ``-``."""
    if str(path) == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a .gsv file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None


def decode_segment_state(header: SequenceHeader, segment: Segment,
                         **geometry_opts: object) -> profile0.DecodedSegment | profile1.DecodedSegment:
    """Bytes to the decoded (integer and float16) state of one segment."""
    if header.profile == PROFILE_RAW:
        return profile0.decode_segment(segment.payload, **geometry_opts)
    if header.profile == PROFILE_CODED:
        return profile1.decode_segment(segment.payload, segment.frame_count, **geometry_opts)
    raise UnsupportedError(f"profile {header.profile} is not supported by this decoder")


def render_segment(state: profile0.DecodedSegment | profile1.DecodedSegment, width: int, height: int,
                   device: str = "cpu",
                   first: int = 0, last: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """Render segment-local frames ``first .. last-1`` of a decoded segment: ``(k, (H, W, 3) uint8)``."""
    from gscodec.model.tsw import Gaussians
    from gscodec.render import render_frames, to_host, to_uint8

    g = Gaussians.from_arrays(state.gaussian_arrays(), device=device)
    mode = state.motion_mode(device) if isinstance(state, profile1.DecodedSegment) else None
    backend = "cuda" if device.startswith("cuda") else "cpu"
    batch = max(1, min(RENDER_BATCH, RENDER_BATCH_PIXELS // (width * height)))
    for b in range(first, last, batch):
        ks = list(range(b, min(b + batch, last)))
        try:
            with torch.no_grad():
                images = render_frames(g, [float(k) for k in ks], width, height, backend=backend, mode=mode)
                frames = to_host(to_uint8(images))
        except RuntimeError as exc:  # torch reports a failed allocation as a RuntimeError
            if not _out_of_memory(exc):
                raise
            raise RuntimeFailure(
                f"out of memory rendering {len(ks)} frame(s) of {width}x{height} with {len(state)} Gaussians"
            ) from None
        yield from zip(ks, frames, strict=True)


def _out_of_memory(exc: RuntimeError) -> bool:
    """True for torch's allocation failures (CPU allocator or CUDA), which carry no class of their own on the CPU."""
    text = str(exc)
    return isinstance(exc, torch.OutOfMemoryError) or "can't allocate memory" in text or "out of memory" in text


@dataclass
class DecodeStats:
    segments_decoded: int = 0
    frames_written: int = 0


class _Ahead:
    """A call run on a daemon thread: :meth:`result` waits for it and returns its value or raises its error.

    It only ever decodes a payload already in memory (the input is read on the consumer's thread),
    so it holds no lock on the input; a daemon thread, not an executor, so that a consumer that
    stops early does not wait at exit for a decode it no longer needs.
    """

    def __init__(self, fn: Callable[[], object]) -> None:
        self._done = threading.Event()
        self._value: object = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, args=(fn,), name="gsdec-entropy", daemon=True).start()

    def _run(self, fn: Callable[[], object]) -> None:
        try:
            self._value = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the consumer's thread, which raises it
            self._error = e
        finally:
            self._done.set()

    def result(self) -> object:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


def prefetch_default(device: str) -> bool:
    """Whether :func:`decode_frames` prefetches by default on ``device``: on a CUDA device only."""
    return str(device).startswith("cuda")


MAX_DEFAULT_WORKERS = 8
"""Most entropy-decoding processes :func:`default_workers` picks."""


def default_workers() -> int:
    """Entropy-decoding processes for a stream of several segments on a GPU: half the CPU cores this
    process may use, at most MAX_DEFAULT_WORKERS; fewer than two means none (one thread decodes ahead)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    n = min(MAX_DEFAULT_WORKERS, cores // 2)
    return n if n >= 2 else 1


class _Done:
    """A handle for work already done (or refused): ``result()`` returns its value or raises its error."""

    def __init__(self, value: object = None, error: BaseException | None = None) -> None:
        self._value, self._error = value, error

    def result(self) -> object:
        if self._error is not None:
            raise self._error
        return self._value


def decode_frames(
    reader: GsvReader,
    device: str = "cpu",
    start: int = 0,
    stop: int | None = None,
    stats: DecodeStats | None = None,
    on_segment: Callable[[Segment], None] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_segment_work: int = DEFAULT_MAX_SEGMENT_WORK,
    prefetch: bool | None = None,
    workers: int | None = None,
    **geometry_opts: object,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, frame)`` for frames ``start .. stop-1``: (H, W, 3) uint8 RGB.

    ``max_pixels`` bounds the frames x width x height produced and ``max_segment_work`` each
    segment's Gaussians x frames rendered (0: no limit); beyond them, LimitError before the
    first segment (or, for a header without a frame count, the segment that crosses it) is decoded.

    With ``prefetch`` the next segment is read (before the current one renders, on the caller's
    thread) and entropy-decoded on a second thread while the frames of the current one are rendered
    and consumed, so a stream of several segments decodes at the pace of the slower of the two
    rather than of their sum. None (the default) turns it on for a CUDA device, where the CPU is
    otherwise idle while the GPU renders; on the CPU the rasterizer keeps the cores busy and there
    is nothing to overlap. Reading one segment ahead delays a live pipe's frames by a segment, so
    gsdec leaves it off for standard input.

    ``workers`` (with ``prefetch``; None: :func:`default_workers` on a CUDA device, else 1) above 1
    decodes the segments after the first of a profile 1 stream in that many child processes
    (:mod:`gscodec.bitstream.worker`), as many segments read and decoded ahead at once: a stream of
    many segments renders at the GPU's pace rather than one core's. The first segment decodes on the
    thread, so that the first frames do not wait for the processes to start; only the slices of its
    geometry, when it is sliced (format_spec.md §9.6), go to the processes, all at once, when they are
    running: they are started as decoding begins unless the header says the stream has one segment,
    which never starts them.

    Frames, errors and their order are the same either way: an error in a segment is raised after the
    frames before it. Memory holds the current segment's state and those decoded ahead (one, or
    ``workers``).
    """
    prefetch = prefetch_default(device) if prefetch is None else prefetch
    if not prefetch:
        workers = 0
    elif workers is None:  # by default, processes only beside a GPU: on the CPU the rasterizer wants the cores
        workers = default_workers() if prefetch_default(device) else 1
    if workers < 0:
        raise InputError(f"workers {workers}: must be 0 or more")
    h = reader.header
    check_limit_values(max_pixels, max_segment_work)
    wanted = requested_frames(h, start, stop)
    if wanted is not None:
        check_output_pixels(h, wanted, max_pixels)
    segments = iter(reader.segments())
    produced = 0

    def next_job() -> tuple[Segment, int, int, int] | None:
        """Read up to the next segment with frames to render, its limits checked; None after the last one."""
        nonlocal produced
        for seg in segments:
            lo, hi = seg.first_frame, seg.first_frame + seg.frame_count
            if stop is not None and lo >= stop:
                return None
            if hi <= start:
                continue
            first = max(start, lo) - lo
            last = (min(stop, hi) if stop is not None else hi) - lo
            if wanted is None:
                produced += last - first
                check_output_pixels(h, produced, max_pixels, through=seg.segment_index)
            return seg, lo, first, last
        return None

    def decode(job: tuple[Segment, int, int, int], **opts: object) -> profile0.DecodedSegment | profile1.DecodedSegment:
        seg, _, first, last = job
        return bounded_segment_state(h, seg, last - first, max_segment_work, **geometry_opts, **opts)

    def map_slices(parts: Sequence[bytes]) -> list[np.ndarray]:
        """The slices of the first segment's sliced geometry, decoded at once in the worker processes."""
        nonlocal pool, depth
        if pool is None or not pool.started or len(parts) < 2:  # never started for the slices alone
            return decode_slice_list(parts)
        try:
            return pool.map_slices(parts)
        except WorkerStartError as e:
            logger.warning("%s; decoding on a thread instead", e)
            pool, depth = None, 1
            return decode_slice_list(parts)

    if not prefetch:
        while (job := next_job()) is not None:
            seg, lo, first, last = job
            yield from _render_job(decode(job), h, device, lo, first, last)
            _segment_done(seg, stats, on_segment)
        return

    # Decoding ahead: ``pending`` holds the segments read (on this thread) and being decoded, in order.
    pool = WorkerPool(workers) if workers > 1 and h.profile == PROFILE_CODED else None
    depth = pool.size if pool is not None else 1
    if pool is not None and h.segment_count != 1:  # a stream of several segments will use them: start them now,
        try:                                        # so that they are ready for the first segment's slices
            pool.start()
        except WorkerStartError as e:
            logger.warning("%s; decoding one segment ahead on a thread instead", e)
            pool, depth = None, 1
    pending: deque[tuple[tuple[Segment, int, int, int], object]] = deque()
    deferred: Exception | None = None  # an error reading the stream, raised after the frames before it
    exhausted = False

    def submit(job: tuple[Segment, int, int, int]) -> object:
        nonlocal pool, depth
        seg, _, first, last = job
        if pool is None:
            return _Ahead(partial(decode, job))
        if not pending and seg is first_segment:  # its slices, if any, decode at once in the processes
            return _Ahead(partial(decode, job, map_slices=map_slices))
        try:
            check_declared_work(h, seg, last - first, max_segment_work)  # before the payload leaves
        except LimitError as e:
            return _Done(error=e)
        try:
            return pool.submit(seg.payload, {**geometry_opts, "frames": seg.frame_count})
        except WorkerStartError as e:  # no processes here (a sandbox, a limit): decode on the thread instead
            logger.warning("%s; decoding one segment ahead on a thread instead", e)
            pool.close()
            pool, depth = None, 1
            return _Ahead(partial(decode, job))

    def fill() -> None:
        nonlocal deferred, exhausted
        while not exhausted and deferred is None and len(pending) < depth:
            try:
                job = next_job()
            except Exception as e:  # noqa: BLE001 - raised after the frames of the segments read before it
                deferred = e
                return
            if job is None:
                exhausted = True
                return
            pending.append((job, submit(job)))

    first_segment: Segment | None = None
    try:
        try:
            job = next_job()
        except Exception as e:  # noqa: BLE001
            job, deferred = None, e
        if job is not None:
            first_segment = job[0]
            pending.append((job, submit(job)))
        while pending:
            job, handle = pending.popleft()
            state = handle.result()  # type: ignore[attr-defined]
            seg, lo, first, last = job
            check_segment_work(seg, len(state), last - first, max_segment_work)
            fill()  # the segments after it are read here and decode while this one renders
            yield from _render_job(state, h, device, lo, first, last)
            del state  # the states held are this one's and those decoding ahead
            _segment_done(seg, stats, on_segment)
        if deferred is not None:
            raise deferred
    finally:
        if pool is not None:
            pool.close()


def _render_job(state: profile0.DecodedSegment | profile1.DecodedSegment, h: SequenceHeader, device: str,
                lo: int, first: int, last: int) -> Iterator[tuple[int, np.ndarray]]:
    for k, frame in render_segment(state, h.width, h.height, device, first, last):
        yield lo + k, frame


def _segment_done(seg: Segment, stats: DecodeStats | None, on_segment: Callable[[Segment], None] | None) -> None:
    if stats is not None:
        stats.segments_decoded += 1
    if on_segment is not None:
        on_segment(seg)


def check_limit_values(max_pixels: int, max_segment_work: int) -> None:
    """Refuse negative limits (0 is no limit)."""
    for name, value in (("--max-pixels", max_pixels), ("--max-segment-work", max_segment_work)):
        if value < 0:
            raise InputError(f"{name} {value}: must be 0 (no limit) or a positive count")


def requested_frames(header: SequenceHeader, start: int = 0, stop: int | None = None) -> int | None:
    """How many of frames ``start .. stop-1`` the stream holds, from its header; None when the
    header leaves the frame count open (0). The container checks the segments against it."""
    if header.frame_count == 0:
        return None
    end = header.frame_count if stop is None else min(stop, header.frame_count)
    return max(0, end - start)


def check_output_pixels(header: SequenceHeader, frames: int, max_pixels: int, through: int | None = None) -> None:
    """LimitError when ``frames`` frames of the header's size exceed ``max_pixels`` (0: no limit).

    ``through``: the frame count is not in the header and ``frames`` is the running total of the
    frames requested up to segment ``through``, which is then refused before it is decoded.
    """
    pixels = frames * header.width * header.height
    if max_pixels == 0 or pixels <= max_pixels:
        return
    what = ("the stream asks for" if through is None else
            f"the stream's header gives no frame count, and its segments up to {through} ask for")
    raise LimitError(
        f"{what} {frames:,} frames of {header.width}x{header.height}, {pixels:,} output pixels, more than the "
        f"limit of {max_pixels:,}; decode fewer frames (--frames), or if you trust the stream raise the limit "
        f"(--max-pixels {pixels}, or 0 for none)"
    )


def segment_gaussians(header: SequenceHeader, segment: Segment) -> int | None:
    """The Gaussian count a segment's payload declares, read without decoding it; None where the
    profile has no such head, or the head is invalid (decoding the segment reports that)."""
    profile = {PROFILE_RAW: profile0, PROFILE_CODED: profile1}.get(header.profile)
    if profile is None:
        return None
    try:
        n = profile.peek_segment(segment.payload)[0]
    except StreamError:
        return None
    return n if n <= profile.MAX_GAUSSIANS else None


def check_segment_work(segment: Segment, gaussians: int, frames: int, max_work: int) -> None:
    """LimitError when rendering ``frames`` frames of ``gaussians`` Gaussians exceeds ``max_work`` (0: no limit)."""
    work = gaussians * frames
    if max_work == 0 or work <= max_work:
        return
    raise LimitError(
        f"segment {segment.segment_index} asks to render {gaussians:,} Gaussians over {frames:,} frames, "
        f"{work:,} Gaussian-frames, more than the limit of {max_work:,} per segment; if you trust the stream "
        f"raise the limit (--max-segment-work {work}, or 0 for none)"
    )


def bounded_segment_state(header: SequenceHeader, segment: Segment, frames: int, max_work: int,
                          **geometry_opts: object) -> profile0.DecodedSegment | profile1.DecodedSegment:
    """decode_segment_state for a segment of which ``frames`` frames will be rendered, refused with
    LimitError beyond ``max_work`` Gaussian-frames: from the payload's head before its geometry is
    decoded where the profile declares a count there, and from the decoded state in any case."""
    check_declared_work(header, segment, frames, max_work)
    state = decode_segment_state(header, segment, **geometry_opts)
    check_segment_work(segment, len(state), frames, max_work)
    return state


def check_declared_work(header: SequenceHeader, segment: Segment, frames: int, max_work: int) -> None:
    """The check of :func:`bounded_segment_state` that needs no decoding: LimitError when the Gaussian
    count the payload's head declares (where the profile has one) exceeds ``max_work`` over ``frames``."""
    declared = segment_gaussians(header, segment)
    if declared is not None:
        check_segment_work(segment, declared, frames, max_work)

"""Decoding: a .gsv stream to frames, one segment at a time (what gsdec runs).

Memory holds one segment's Gaussians and one batch of rendered frames, whatever the length
of the video. The path from bytes to the decoded state (profile payload -> integer points and
attribute symbols) is exact; rendering the state to pixels is floating point (format_spec.md).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import torch

from gscodec.bitstream import PROFILE_RAW, GsvReader, Segment, SequenceHeader, profile0
from gscodec.errors import InputError, RuntimeFailure, UnsupportedError

RENDER_BATCH = 8
"""Most frames rendered per call to the rasterizer."""

RENDER_BATCH_PIXELS = 1 << 23
"""Most pixels (frames x width x height) per call, at least one frame: the CPU rasterizer
holds about 50 bytes per pixel of a call, so a batch stays near 400 MB whatever the frame
size a stream declares (one 16384 x 16384 frame still needs about 13 GB)."""


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


def decode_segment_state(header: SequenceHeader, segment: Segment, **geometry_opts: object) -> profile0.DecodedSegment:
    """Bytes to the decoded (integer and float16) state of one segment."""
    if header.profile == PROFILE_RAW:
        return profile0.decode_segment(segment.payload, **geometry_opts)
    raise UnsupportedError(f"profile {header.profile} is not supported by this decoder")


def render_segment(state: profile0.DecodedSegment, width: int, height: int, device: str = "cpu",
                   first: int = 0, last: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """Render segment-local frames ``first .. last-1`` of a decoded segment: ``(k, (H, W, 3) uint8)``."""
    from gscodec.model.tsw import Gaussians
    from gscodec.render import render_frames, to_uint8

    g = Gaussians.from_arrays(state.gaussian_arrays(), device=device)
    backend = "cuda" if device.startswith("cuda") else "cpu"
    batch = max(1, min(RENDER_BATCH, RENDER_BATCH_PIXELS // (width * height)))
    for b in range(first, last, batch):
        ks = list(range(b, min(b + batch, last)))
        try:
            with torch.no_grad():
                images = render_frames(g, [float(k) for k in ks], width, height, backend=backend)
                frames = to_uint8(images).cpu().numpy()
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


def decode_frames(
    reader: GsvReader,
    device: str = "cpu",
    start: int = 0,
    stop: int | None = None,
    stats: DecodeStats | None = None,
    on_segment: Callable[[Segment], None] | None = None,
    **geometry_opts: object,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, frame)`` for frames ``start .. stop-1``: (H, W, 3) uint8 RGB."""
    h = reader.header
    for seg in reader.segments():
        lo, hi = seg.first_frame, seg.first_frame + seg.frame_count
        if stop is not None and lo >= stop:
            break
        if hi <= start:
            continue
        state = decode_segment_state(h, seg, **geometry_opts)
        first = max(start, lo) - lo
        last = (min(stop, hi) if stop is not None else hi) - lo
        for k, frame in render_segment(state, h.width, h.height, device, first, last):
            yield lo + k, frame
        if stats is not None:
            stats.segments_decoded += 1
        if on_segment is not None:
            on_segment(seg)

"""Encoding: frames to a .gsv stream, one closed segment at a time (what gsenc runs).

The input streams through: only the frames of the segment being fitted are held in memory.
After each segment is packed, the encoder decodes the packed bytes again and renders them,
so the quality it reports is that of the stream a decoder will see.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gscodec import __version__
from gscodec.bitstream import PROFILE_CODED, PROFILE_RAW, GsvWriter, SequenceHeader, profile0, profile1
from gscodec.bitstream.container import MAX_DIMENSION
from gscodec.errors import InputError, RuntimeFailure
from gscodec.geometry.sliced import MAX_SLICES

if TYPE_CHECKING:
    from gscodec.fit.rd import RDState


@dataclass(frozen=True)
class EncodeSettings:
    """Everything gsenc decides, as plain values (the CLI only parses into this)."""

    input: str
    output: str
    lam: float = 0.004
    start_frame: int = 0
    frames: int | None = None
    segment_frames: int = 32
    device: str = "cpu"
    seed: int = 0
    preset: str = "medium"
    iterations: int | None = None
    gaussians: int | None = None
    geometry: str = "morton"
    tmc3: str | None = None
    geometry_slices: int = 4
    """Slices of each segment's positions with ``geometry="sliced"`` (format_spec.md §9.6)."""
    profile: int = PROFILE_CODED
    test_decode: bool = True
    pilot: bool = True
    """Profile 1 without ``gaussians``: size the fit by a short pilot (gscodec.fit.rd.pilot_budget)."""
    xy_shift: int = 2
    t_shift: int = 3
    motion_mode: str = "auto"
    """Profile 1's shared motion mode (format_spec.md §16.10): ``on`` in every segment of 3 or more frames,
    ``off``, or ``auto``: learned, then kept where its path strays from a straight line
    (gscodec.fit.motion.WOBBLE_MIN)."""


MOTION_MODES = ("auto", "on", "off")


@dataclass
class SegmentReport:
    index: int
    first_frame: int
    frames: int
    gaussians: int
    bytes: int
    geometry_bytes: int
    psnr: float
    seconds: float
    motion: bool = False


@dataclass
class EncodeReport:
    width: int = 0
    height: int = 0
    frames: int = 0
    bytes: int = 0
    seconds: float = 0.0
    segments: list[SegmentReport] = field(default_factory=list)

    @property
    def bpp(self) -> float:
        return self.bytes * 8 / max(1, self.width * self.height * self.frames)

    @property
    def psnr(self) -> float:
        """Mean RGB PSNR over frames (segments weighted by their frame count)."""
        if not self.segments:
            return 0.0
        return sum(s.psnr * s.frames for s in self.segments) / sum(s.frames for s in self.segments)


def _segments(frames: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Group a frame stream into arrays of ``size`` frames (the last may be shorter)."""
    buf: list[np.ndarray] = []
    for frame in frames:
        buf.append(frame)
        if len(buf) == size:
            yield np.stack(buf)
            buf = []
    if buf:
        yield np.stack(buf)


def check_output_path(output: str, input: str) -> None:
    """Refuse an output that cannot be written or that would replace the input (or a frame of it)."""
    out = Path(output)
    if out.is_dir():
        raise InputError(f"-o {output}: is a directory; give a file name such as out.gsv")
    if not out.parent.exists():
        raise InputError(f"-o {output}: the folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise InputError(f"-o {output}: the folder {out.parent} is not writable; choose another output folder")
    if input == "-" or not out.exists():
        return
    src = Path(input)
    if src.exists() and (out.resolve() == src.resolve() or os.path.samefile(out, src)):
        raise InputError("the output would overwrite the input")
    if src.is_dir() and out.resolve().parent == src.resolve() and out.suffix.lower() == ".png":
        raise InputError(f"-o {output}: the output would overwrite a frame of the input folder {input}")


def reconstruct(payload: bytes, width: int, height: int, frame_count: int, device: str, profile: int = PROFILE_RAW,
                expected: RDState | None = None, **geometry_opts: object) -> np.ndarray:
    """Decode a packed segment exactly as gsdec does and render its frames: (T, H, W, 3) uint8.

    With ``expected`` (the integer state the encoder packed), the decoded state must equal it,
    or RuntimeFailure: a stream that would not decode to what was encoded is never reported as good.
    """
    from gscodec.decode import render_segment

    if profile == PROFILE_CODED:
        state = profile1.decode_segment(payload, frame_count, **geometry_opts)
        if expected is not None:
            check_decoded_state(state, expected)
    else:
        state = profile0.decode_segment(payload, **geometry_opts)
    return np.stack([frame for _, frame in render_segment(state, width, height, device, 0, frame_count)])


def check_decoded_state(state: profile1.DecodedSegment, expected: RDState) -> None:
    """Raise RuntimeFailure unless a decoded profile 1 segment holds exactly the encoder's integer state."""
    from gscodec.geometry import canonical_order

    perm = canonical_order(np.asarray(expected.points, dtype=np.int64))
    same = (
        np.array_equal(state.points, expected.points[perm])
        and np.array_equal(state.q, expected.q[perm])
        and np.array_equal(state.steps.astype(np.int64), np.asarray(expected.steps, dtype=np.int64))
        and sorted(state.nets) == sorted(expected.nets)
        and all(state.nets[c].to_bytes() == expected.nets[c].to_bytes() for c in expected.nets)
        and (state.motion is None) == (expected.motion is None)
        and (state.motion is None or state.motion.to_bytes() == expected.motion.to_bytes())
    )
    if not same:
        raise RuntimeFailure("test decode failed: the written segment does not decode to the encoded state "
                             "(please report this as a bug, with the input and options)")


def _pack(index: int, pack: Callable[..., bytes], *args: object, **kwargs: object) -> bytes:
    try:
        return pack(*args, **kwargs)
    except ValueError as exc:
        raise RuntimeFailure(f"segment {index}: could not pack the fitted Gaussians ({exc})") from exc


def encode(
    s: EncodeSettings,
    on_segment_start: Callable[[int, int], None] | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
    on_segment_done: Callable[[SegmentReport], None] | None = None,
) -> EncodeReport:
    """Encode ``s.input`` to ``s.output``. The output appears only when the whole stream is written."""
    from gscodec.fit import fit_segment, make_config
    from gscodec.fit.motion import WOBBLE_MIN, MotionTrainer, fold_straight_part, wobble
    from gscodec.fit.rd import default_rd_config, pilot_budget, pilot_steps, rd_budget, rd_train
    from gscodec.metrics import psnr_rgb
    from gscodec.video import open_video

    if s.profile not in (PROFILE_RAW, PROFILE_CODED):
        raise InputError(f"--profile {s.profile}: choose 0 (raw) or 1 (coded)")
    if not (0 <= s.xy_shift <= profile1.MAX_POSITION_SHIFT and 0 <= s.t_shift <= profile1.MAX_POSITION_SHIFT):
        raise InputError(f"position precision: shifts must be 0..{profile1.MAX_POSITION_SHIFT}")
    if s.segment_frames < 1 or s.segment_frames > 65535:
        raise InputError(f"--segment-frames {s.segment_frames}: must be 1..65535")
    if s.lam < 0:
        raise InputError(f"--lambda {s.lam}: must be >= 0")
    if s.motion_mode not in MOTION_MODES:
        raise InputError(f"--motion-mode {s.motion_mode}: choose one of {', '.join(MOTION_MODES)}")
    check_output_path(s.output, s.input)
    geometry_opts: dict[str, object] = {"tmc3": s.tmc3} if s.tmc3 else {}
    if s.geometry == "sliced":
        if not 1 <= s.geometry_slices <= MAX_SLICES:
            raise InputError(f"--slices {s.geometry_slices}: must be 1..{MAX_SLICES}")
        geometry_opts["slices"] = s.geometry_slices
    t_start = time.perf_counter()
    report = EncodeReport()
    with open_video(s.input, start_frame=s.start_frame, frames=s.frames) as video:
        info = video.info
        if info.width > MAX_DIMENSION or info.height > MAX_DIMENSION:
            raise InputError(
                f"{s.input}: frames of {info.width}x{info.height} exceed the format's limit of {MAX_DIMENSION} "
                "pixels per side; scale the video down first"
            )
        report.width, report.height = info.width, info.height
        header = SequenceHeader(
            width=info.width,
            height=info.height,
            frame_count=0,  # filled in when the stream is complete
            frame_rate=Fraction(info.fps),
            segment_frames=s.segment_frames,
            profile=s.profile,
        )
        metadata = {
            "encoder": f"gscodec {__version__}",
            "preset": s.preset,
            "seed": str(s.seed),
            "lambda": repr(s.lam),
            "geometry": s.geometry,
            **({"motion_mode": s.motion_mode} if s.profile == PROFILE_CODED else {}),
        }
        with GsvWriter(s.output, header, metadata) as writer:
            for seg_frames in _segments(iter(video), s.segment_frames):
                index = len(report.segments)
                t_seg = time.perf_counter()
                n_frames = seg_frames.shape[0]
                if on_segment_start:
                    on_segment_start(index, n_frames)
                config = make_config(s.preset, iterations=s.iterations, gaussians=s.gaussians, seed=s.seed + index,
                                     width=info.width, height=info.height, frames=n_frames, device=s.device)
                if s.profile == PROFILE_CODED and s.gaussians is None:  # the rate sets the count: fewer for larger λ
                    config = config.replace(gaussians=rd_budget(config.gaussians, s.lam, info.width * info.height))
                total = config.iterations
                rd_config = None
                if s.profile == PROFILE_CODED:
                    rd_config = default_rd_config(s.lam, info.width, info.height, n_frames, config.iterations,
                                                  seed=s.seed + index, frames_per_step=config.frames_per_step,
                                                  motion_degree=config.motion_degree)
                    rd_config = replace(rd_config, xy_shift=s.xy_shift, t_shift=s.t_shift)
                    total += rd_config.iterations
                pilot_rd = rd_config if s.gaussians is None and s.pilot else None  # the RD stage a pilot runs
                start = 0 if pilot_rd is None else sum(pilot_steps(config.iterations, pilot_rd.iterations))
                total += start

                def fit_progress(step: int, _total: int, psnr: float, offset: int = 0, total: int = total) -> None:
                    if on_step is not None:
                        on_step(offset + step, total, psnr)

                # A motion mode needs 3 frames to be more than the Gaussians' own linear motion.
                with_motion = s.profile == PROFILE_CODED and s.motion_mode != "off" and n_frames >= 3
                if pilot_rd is not None:  # learn how many Gaussians the pruning keeps, and fit about that many
                    budget, _ = pilot_budget(seg_frames, config, pilot_rd, device=s.device, progress=fit_progress,
                                             motion=with_motion)
                    config = config.replace(gaussians=budget)
                trainer = MotionTrainer(n_frames) if with_motion else None
                gaussians = fit_segment(seg_frames, config, device=s.device,
                                        progress=partial(fit_progress, offset=start), motion=trainer)
                if trainer is not None and s.motion_mode == "auto" and \
                        wobble(trainer.mode(), gaussians.vel) < WOBBLE_MIN:
                    # A path this straight is the Gaussians' linear motion: its straight part moves into
                    # each Gaussian's position and velocity, and the RD stage adapts to the rest.
                    gaussians = fold_straight_part(trainer.mode(), gaussians)
                    trainer = None
                if rd_config is None:
                    payload = _pack(index, profile0.encode_segment, gaussians.to_arrays(), s.geometry,
                                    **geometry_opts)
                    expected = None
                else:
                    state = rd_train(seg_frames, gaussians, rd_config, device=s.device,
                                     progress=partial(fit_progress, offset=start + config.iterations), motion=trainer)
                    payload = _pack(index, profile1.encode_segment, state.points, state.q, state.steps, state.nets,
                                    state.xy_shift, state.t_shift, s.geometry, motion=state.motion, **geometry_opts)
                    expected = state
                seg = writer.write_segment(n_frames, payload)
                psnr = float("nan")
                if s.test_decode:
                    recon = reconstruct(payload, info.width, info.height, n_frames, s.device, s.profile,
                                        expected, **geometry_opts)
                    psnr = float(np.mean([psnr_rgb(a, b) for a, b in zip(seg_frames, recon)]))
                module = profile1 if s.profile == PROFILE_CODED else profile0
                n, _, gbytes = module.peek_segment(payload)
                seg_report = SegmentReport(index, seg.first_frame, n_frames, n, seg.chunk_size, gbytes, psnr,
                                           time.perf_counter() - t_seg, motion=expected is not None and
                                           expected.motion is not None)
                report.segments.append(seg_report)
                report.frames += n_frames
                if on_segment_done:
                    on_segment_done(seg_report)
            if report.frames == 0:
                raise InputError(f"{s.input}: no frames to encode in the selected range")
        report.bytes = Path(s.output).stat().st_size
    report.seconds = time.perf_counter() - t_start
    return report

"""The benchmark run: plan the points, run (or reuse) each one, measure it against the source.

For every clip the same decoded source frames are the reference of every codec; every decoded
frame is measured (a missing, extra or resized frame fails the point); the rate is the whole
bitstream file; encode and decode times are medians over ``repeats`` runs after ``warmup``
runs, and every run must produce the same number of bytes (a difference is reported).

With ``jobs`` > 1 up to that many gscodec points run at once (each is a gsenc and a gsdec child
process), while the classical points run one after another beside them: a curve takes a fraction
of the time on a machine the single processes leave idle (a large GPU), but the points' speeds and
peak memory are those of processes sharing the machine, so the report says so and the cache keeps
such points apart from single runs.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fractions import Fraction
from itertools import zip_longest
from pathlib import Path
from typing import Any

import av
import torch

import gscodec
from gscodec.bench import classical
from gscodec.bench import gscodec_runner as gsrun
from gscodec.bench.cache import PointCache
from gscodec.bench.machine import machine_fingerprint, machine_info
from gscodec.bench.points import GSCODEC, PointResult, PointSpec, Runner
from gscodec.bench.source import SourceClip
from gscodec.errors import GscodecError, InputError, RuntimeFailure
from gscodec.metrics import ClipMetrics

BENCH_VERSION = 1
"""Bump when a change to the harness changes what a cached number means."""

DEFAULT_CODECS = ("libx264", "libx265", "libsvtav1", GSCODEC)
DEFAULT_LAMBDAS = (0.001, 0.004, 0.016, 0.064)


@dataclass
class BenchConfig:
    """Everything a run depends on; the command line only fills this in."""

    clips: list[Path]
    frames: int = 32
    start_frame: int = 0
    codecs: Sequence[str] = DEFAULT_CODECS
    presets: dict[str, str] = field(default_factory=dict)  # codec -> preset
    values: dict[str, list[str]] = field(default_factory=dict)  # codec -> CRF list
    lambdas: Sequence[float] = DEFAULT_LAMBDAS
    gsenc_args: Sequence[str] = ()
    repeats: int = 3
    warmup: int = 1
    ms_ssim: bool = True
    fps: Fraction | None = None  # frame rate declared to the classical encoders; None: the clip's own
    out_dir: Path = Path("bench-out")
    cache_dir: Path | None = None
    timeout_s: float | None = None
    command: str = ""
    jobs: int = 1  # gscodec points run at once

    def validate(self) -> None:
        """Reject settings that cannot give meaningful numbers."""
        if not self.clips:
            raise InputError("no clips given; name at least one video file")
        names = [Path(p).name for p in self.clips]
        for name in names:
            if names.count(name) > 1:
                raise InputError(f"two clips are named {name}; reports label clips by file name, so rename one")
        if self.frames < 1 or self.start_frame < 0:
            raise InputError("--frames must be >= 1 and --start-frame >= 0")
        if self.repeats < 1 or self.warmup < 0:
            raise InputError("--repeats must be >= 1 and --warmup >= 0")
        if self.jobs < 1:
            raise InputError("--jobs must be >= 1")
        for codec in self.codecs:
            if codec != GSCODEC and codec not in classical.CLASSICAL_CODECS:
                known = ", ".join([*classical.CLASSICAL_CODECS, GSCODEC])
                raise InputError(f"unknown codec {codec!r}; choose from {known}")
        if GSCODEC in self.codecs and not self.lambdas:
            raise InputError("gscodec needs at least one --lambda value")
        if any(lam <= 0 for lam in self.lambdas):
            raise InputError("--lambda values must be positive")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record of the settings, stored beside the results."""
        return {
            "clips": [str(p) for p in self.clips],
            "frames": self.frames,
            "start_frame": self.start_frame,
            "codecs": list(self.codecs),
            "presets": dict(self.presets),
            "values": {k: list(v) for k, v in self.values.items()},
            "lambdas": list(self.lambdas),
            "gsenc_args": list(self.gsenc_args),
            "repeats": self.repeats,
            "warmup": self.warmup,
            "ms_ssim": self.ms_ssim,
            "fps": str(self.fps) if self.fps else None,
            "timeout_s": self.timeout_s,
            "command": self.command,
            "jobs": self.jobs,
        }


@dataclass
class BenchRun:
    """The outcome of a run: every point, the notes (skipped codecs, anomalies), where it ran."""

    config: BenchConfig
    machine: dict[str, Any]
    clips: list[SourceClip] = field(default_factory=list)
    points: list[PointResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[PointResult]:
        """Points that did not produce numbers."""
        return [p for p in self.points if p.status != "ok"]


ProgressHook = Callable[[str], None]


def software_identity(machine: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What identifies the software behind each kind of point, taken once per run."""
    return {
        GSCODEC: {"gscodec": gscodec.__version__, "code": gsrun.code_fingerprint(), "torch": torch.__version__},
        "classical": {"av": av.__version__, "ffmpeg_libs": machine.get("ffmpeg_libs")},
    }


def point_key(
    clip: SourceClip,
    spec: PointSpec,
    config: BenchConfig,
    machine: dict[str, Any],
    software: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The cache key of one point: anything that can change its numbers."""
    key: dict[str, Any] = {
        "bench": BENCH_VERSION,
        "clip_sha256": clip.sha256,
        "start_frame": clip.start_frame,
        "frames": clip.frames,
        "codec": spec.codec,
        "preset": spec.preset,
        "param": spec.param,
        "value": spec.value,
        "options": [list(o) for o in spec.options],
        "repeats": config.repeats,
        "warmup": config.warmup,
        "ms_ssim": config.ms_ssim,
        "machine": machine_fingerprint(machine),
    }
    if config.jobs > 1:  # speeds measured side by side are not single-run speeds
        key["jobs"] = config.jobs
    if spec.codec == GSCODEC:
        key["software"] = software[GSCODEC]
    else:
        key["fps"] = str(clip.fps)  # x264 and x265 rate control depend on the declared rate
        key["software"] = software["classical"]
    return key


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def measure_point(
    clip: SourceClip, spec: PointSpec, runner: Runner, config: BenchConfig, workroot: Path
) -> PointResult:
    """Run one point warmup + repeats times and measure the last run's decoded frames."""
    result = PointResult(
        clip=clip.name, codec=spec.codec, preset=spec.preset, param=spec.param, value=spec.value,
        width=clip.width, height=clip.height, frames=clip.frames, start_frame=clip.start_frame,
        fps=float(clip.fps), measured_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )  # fmt: skip
    sizes: list[int] = []
    enc_rss: list[int] = []
    dec_rss: list[int] = []
    runs = config.warmup + config.repeats
    last = None
    for i in range(runs):
        workdir = workroot / f"run{i}"
        out = runner(clip, spec, workdir)
        sizes.append(out.bitstream.stat().st_size)
        if i >= config.warmup:
            result.encode_s.append(out.encode_s)
            result.decode_s.append(out.decode_s)
        if out.encode_peak_rss_kib is not None:
            enc_rss.append(out.encode_peak_rss_kib)
        if out.decode_peak_rss_kib is not None:
            dec_rss.append(out.decode_peak_rss_kib)
        if last is not None:
            shutil.rmtree(workroot / f"run{i - 1}", ignore_errors=True)
        last = out
    assert last is not None
    if len(set(sizes)) > 1:
        result.notes.append(
            f"bitstream size differed between runs ({', '.join(map(str, sizes))} bytes); the last run is measured"
        )

    metrics = ClipMetrics(ms_ssim=config.ms_ssim)
    count = 0
    for ref, decoded in zip_longest(clip.rgb, last.decoded()):
        if decoded is None:
            raise RuntimeFailure(f"decoder returned {count} frames, expected {clip.frames}")
        if ref is None:
            raise RuntimeFailure(f"decoder returned more than the {clip.frames} frames encoded")
        if decoded.shape != ref.shape:
            raise RuntimeFailure(
                f"decoded frame {count} is {decoded.shape[1]}x{decoded.shape[0]}, source is {clip.width}x{clip.height}"
            )
        metrics.add(ref, decoded)
        count += 1

    pixels = clip.width * clip.height * clip.frames
    result.bytes = sizes[-1]
    result.bpp = result.bytes * 8 / pixels
    result.kbps = result.bytes * 8 * float(clip.fps) / clip.frames / 1000
    result.psnr_db = metrics.mean_psnr()
    result.ms_ssim = metrics.mean_ms_ssim()
    result.psnr_per_frame = list(metrics.psnr_db)
    result.ms_ssim_per_frame = list(metrics.ms_ssim_values)
    result.encode_fps = clip.frames / _median(result.encode_s)
    result.decode_fps = clip.frames / _median(result.decode_s)
    result.encode_peak_rss_mib = round(max(enc_rss) / 1024, 1) if enc_rss else None
    result.decode_peak_rss_mib = round(max(dec_rss) / 1024, 1) if dec_rss else None
    return result


def plan_points(config: BenchConfig, gscodec_available: Callable[[], str | None]) -> tuple[list[PointSpec], list[str]]:
    """The points every clip gets, and a note for every codec that is skipped."""
    specs: list[PointSpec] = []
    notes: list[str] = []
    for codec in config.codecs:
        if codec == GSCODEC:
            reason = gscodec_available()
            if reason:
                notes.append(f"gscodec: skipped ({reason})")
                continue
            specs += gsrun.gscodec_points(config.lambdas, config.gsenc_args)
        else:
            reason = classical.unavailable_reason(codec)
            if reason:
                notes.append(f"{codec}: skipped ({reason})")
                continue
            specs += classical.default_points(codec, config.presets.get(codec), config.values.get(codec))
    return specs, notes


def run_bench(
    config: BenchConfig,
    *,
    classical_runner: Runner = classical.run_classical,
    gscodec_runner: Runner | None = None,
    gscodec_available: Callable[[], str | None] | None = None,
    progress: Any = None,
) -> BenchRun:
    """Run every point of every clip (reusing cached ones) and return what was measured.

    ``gscodec_runner`` replaces the gsenc/gsdec child processes (tests inject a fake one);
    ``progress`` is an object with ``start(total)`` and ``advance(description)`` (or None).
    """
    config.validate()
    if gscodec_available is None:
        gscodec_available = (lambda: None) if gscodec_runner is not None else gsrun.unavailable_reason
    runners: dict[str, Runner] = {GSCODEC: gscodec_runner or gsrun.GscodecRunner(timeout_s=config.timeout_s)}
    run = BenchRun(config=config, machine=machine_info())
    specs, run.notes = plan_points(config, gscodec_available)
    cache = PointCache(config.cache_dir)
    software = software_identity(run.machine)
    for path in config.clips:
        clip = SourceClip.open(path, config.start_frame, config.frames)
        if config.fps is not None:
            clip.fps = config.fps
        run.clips.append(clip)
    if progress is not None:
        progress.start(len(specs) * len(run.clips))
    config.out_dir.mkdir(parents=True, exist_ok=True)
    if config.jobs > 1:
        run.notes.append(
            f"up to {config.jobs} gscodec points ran at once (--jobs {config.jobs}), beside the classical ones: "
            "speeds and peak memory are those of processes sharing the machine, not of single runs"
        )
        for clip in run.clips:
            _ = clip.rgb  # decode the reference once, before threads share it

    def measure(clip: SourceClip, spec: PointSpec, key: dict[str, Any]) -> PointResult:
        runner = runners.get(spec.codec, classical_runner)
        with tempfile.TemporaryDirectory(dir=config.out_dir, prefix=".work-") as work:
            try:
                result = measure_point(clip, spec, runner, config, Path(work))
            except (GscodecError, OSError, av.FFmpegError) as exc:
                result = PointResult(
                    clip=clip.name, codec=spec.codec, preset=spec.preset, param=spec.param,
                    value=spec.value, width=clip.width, height=clip.height, frames=clip.frames,
                    start_frame=clip.start_frame, fps=float(clip.fps), status="failed", error=str(exc),
                )  # fmt: skip
        cache.store(key, result)
        return result

    plan = [(clip, spec, point_key(clip, spec, config, run.machine, software)) for clip in run.clips for spec in specs]
    slots: list[PointResult | Future[PointResult] | None] = [None] * len(plan)
    with ThreadPoolExecutor(max_workers=config.jobs) as pool:
        try:
            for i, (clip, spec, key) in enumerate(plan):
                slots[i] = cache.load(key)
                if slots[i] is None and config.jobs > 1 and spec.codec == GSCODEC:
                    slots[i] = pool.submit(measure, clip, spec, key)  # runs while the rest are measured here
            for i, (clip, spec, key) in enumerate(plan):
                if isinstance(slots[i], Future):
                    continue
                if progress is not None:
                    progress.advance(f"{clip.name} {spec.label} {spec.setting}")
                if slots[i] is None:
                    slots[i] = measure(clip, spec, key)
            for i, (clip, spec, _key) in enumerate(plan):
                slot = slots[i]
                if isinstance(slot, Future):
                    slots[i] = slot.result()
                    if progress is not None:
                        progress.advance(f"{clip.name} {spec.label} {spec.setting} (finished)")
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    run.points = [slot for slot in slots if isinstance(slot, PointResult)]
    return run

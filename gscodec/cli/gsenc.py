"""gsenc: fit Gaussian splats to a video and write a .gsv stream."""

from __future__ import annotations

import click

from gscodec.cli.common import (
    Progress,
    check_interrupted,
    device_option,
    log,
    quiet_option,
    resolve_device,
    run_command,
    verbose_option,
)
from gscodec.encode import EncodeReport, EncodeSettings, SegmentReport


class _SegmentBars:
    """One progress bar per segment, sized by the fitting loop's step count on its first report."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.label = "fitting"
        self._ctx = None
        self._advance = None

    def start(self, index: int, frames: int) -> None:
        check_interrupted()
        self.close()
        self.label = f"segment {index} ({frames} frames)"

    def step(self, step: int, total: int, psnr: float) -> None:
        check_interrupted()  # after every fitting step: an interrupt a library swallowed still stops the fit
        if not self.progress.enabled:
            return
        if self._ctx is None:
            self._ctx = self.progress.task(self.label, total)
            self._advance = self._ctx.__enter__()
        self._advance(1, f"{psnr:5.2f} dB" if psnr == psnr else "")

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(None, None, None)
            self._ctx = None


def run(settings: EncodeSettings, quiet: bool) -> EncodeReport:
    """Encode with progress output; returns the report that was printed."""
    from gscodec.encode import encode

    settings = EncodeSettings(**{**settings.__dict__, "device": resolve_device(settings.device)})
    log(quiet, f"gsenc: {settings.input} -> {settings.output} (profile {settings.profile}, lambda {settings.lam:g}, "
                      f"preset {settings.preset}, device {settings.device})")
    bars = _SegmentBars(Progress(not quiet))

    def on_segment_done(seg: SegmentReport) -> None:
        bars.close()
        log(quiet, f"  segment {seg.index}: frames {seg.first_frame}-{seg.first_frame + seg.frames - 1}, "
                   f"{seg.gaussians} Gaussians, {seg.bytes} bytes, {seg.psnr:.2f} dB, {seg.seconds:.1f} s"
                   f"{', motion mode' if seg.motion else ''}")

    try:
        report = encode(settings, bars.start, bars.step, on_segment_done)
    finally:
        bars.close()
    log(quiet, f"wrote {settings.output}: {report.frames} frames {report.width}x{report.height}, {report.bytes} bytes, "
               f"{report.bpp:.4f} bpp, {report.psnr:.2f} dB RGB PSNR, {report.seconds:.1f} s")
    return report


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("input", metavar="INPUT", type=str)
@click.option("-o", "--output", required=True, metavar="OUT.gsv", help="The stream to write.")
@click.option("--lambda", "lam", type=float, default=0.004, show_default=True, metavar="L",
              help="Rate-distortion trade-off: weight of the rate (bits per pixel) against the distortion (MSE "
                   "of RGB in [0, 1]). Larger = smaller file, lower quality: each fourfold increase about halves "
                   "the file. It also sizes the fit (fewer Gaussians for larger values). Useful range about 0.0005 "
                   "to 0.1. Profile 0 stores parameters raw and ignores it.")
@click.option("--profile", type=click.IntRange(0, 1), default=1, show_default=True, metavar="P",
              help="1: quantized attributes entropy-coded with a learned prior (the codec); "
                   "0: raw float16 parameters (a lossless-parameter reference, large files).")
@click.option("--frames", type=click.IntRange(min=1), default=None, metavar="N", help="Encode at most N frames.")
@click.option("--start-frame", type=click.IntRange(min=0), default=0, show_default=True, metavar="S",
              help="Skip the first S frames.")
@click.option("--segment-frames", type=click.IntRange(1, 65535), default=32, show_default=True, metavar="K",
              help="Frames per closed segment (a segment decodes on its own).")
@click.option("--preset", type=click.Choice(["fast", "medium", "slow"]), default="medium", show_default=True,
              help="Effort: how long to fit each segment.")
@click.option("--iterations", type=click.IntRange(min=1), default=None, metavar="N",
              help="Optimiser steps per segment (overrides the preset).")
@click.option("--gaussians", type=click.IntRange(min=1), default=None, metavar="N",
              help="Most Gaussians per segment (overrides the budget the preset and --lambda give).")
@click.option("--pilot/--no-pilot", default=True, show_default=True,
              help="Profile 1 without --gaussians: a short first fit and rate-distortion pass (about a quarter "
                   "more time) learns how many Gaussians the segment keeps, and the fit is sized to it.")
@click.option("--geometry", type=click.Choice(["morton", "builtin", "sliced", "gpcc", "raw"]), default="morton",
              show_default=True,
              help="Point-cloud coder for Gaussian positions: the built-in octree coded depth first (morton: "
                   "the fastest to decode) or level by level (builtin); the latter in --slices bands that a "
                   "decoder with several cores decodes at once (sliced, about 0.5 % larger); MPEG G-PCC (needs "
                   "tmc3); or raw.")
@click.option("--motion-mode", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
              help="Profile 1: a displacement shared by all Gaussians of a segment, each in its own measure, that "
                   "follows a shaking camera (about 140 bytes a segment). auto learns it and keeps it where the "
                   "path it learned is not a straight line; on keeps it in every segment of 3 or more frames.")
@click.option("--slices", "geometry_slices", type=click.IntRange(1, 64), default=4, show_default=True, metavar="K",
              help="Bands of positions per segment with --geometry sliced (each at least 4096 points).")
@click.option("--tmc3", metavar="PATH", default=None, help="The tmc3 binary for --geometry gpcc (default: on PATH).")
@device_option
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (CPU fits are reproducible).")
@click.option("--test-decode/--no-test-decode", default=True, show_default=True,
              help="Decode each packed segment again, check it decodes to exactly what was encoded, and report "
                   "the PSNR a decoder will see.")
@quiet_option
@verbose_option
def main(input: str, output: str, lam: float, profile: int, frames: int | None, start_frame: int, segment_frames: int,
         preset: str, iterations: int | None, gaussians: int | None, pilot: bool, geometry: str, motion_mode: str,
         geometry_slices: int, tmc3: str | None, device: str, seed: int, test_decode: bool, quiet: bool,
         verbose: int) -> None:
    """Encode INPUT (a video file FFmpeg opens, a folder of PNG frames, or - for y4m on stdin) to OUT.gsv.

    \b
    Examples:
      gsenc input.mp4 -o out.gsv --lambda 0.004
      gsenc clip.264 -o out.gsv --frames 32 --preset fast --device cpu
      ffmpeg -i in.mkv -f yuv4mpegpipe - | gsenc - -o out.gsv
    """
    settings = EncodeSettings(input=input, output=output, lam=lam, start_frame=start_frame, frames=frames,
                              segment_frames=segment_frames, device=device, seed=seed, preset=preset,
                              iterations=iterations, gaussians=gaussians, geometry=geometry, tmc3=tmc3,
                              geometry_slices=geometry_slices, test_decode=test_decode, profile=profile, pilot=pilot,
                              motion_mode=motion_mode)
    run_command("gsenc", verbose, lambda: run(settings, quiet))


if __name__ == "__main__":
    main()

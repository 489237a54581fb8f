"""gsdec: decode a .gsv stream to frames (a PNG folder, a .y4m file, an .mp4, or y4m on stdout)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import click

from gscodec.cli.common import (
    Progress,
    device_option,
    log,
    parse_frame_range,
    quiet_option,
    resolve_device,
    run_command,
    verbose_option,
)
from gscodec.errors import InputError


@dataclass(frozen=True)
class DecodeOptions:
    input: str
    output: str
    device: str
    frames: str | None
    quality: str
    tmc3: str | None
    quiet: bool
    verbose: int


def decode(opts: DecodeOptions) -> int:
    """Decode ``opts.input`` into ``opts.output``; returns the number of frames written."""
    from gscodec.bitstream import GsvReader
    from gscodec.decode import DecodeStats, decode_frames, open_input
    from gscodec.video import open_writer

    start, stop = parse_frame_range(opts.frames)
    device = resolve_device(opts.device)
    geometry_opts = {"tmc3": opts.tmc3} if opts.tmc3 else {}
    to_stdout = opts.output == "-"
    quiet = opts.quiet or to_stdout and not opts.verbose
    t0 = time.perf_counter()
    stream = open_input(opts.input)
    try:
        reader = GsvReader(stream)
        h = reader.header
        total = h.frame_count or None
        if total is not None and start >= total:
            raise InputError(f"--frames {opts.frames}: the stream has {total} frames (0:{total})")
        want = None if total is None else (min(stop, total) if stop is not None else total) - start
        log(quiet, f"{opts.input}: {h.width}x{h.height}, {h.frame_count or '?'} frames at "
                   f"{float(h.frame_rate):.3f} fps, profile {h.profile}; decoding on {device}")
        stats = DecodeStats()
        progress = Progress(not quiet)
        with open_writer(opts.output, h.width, h.height, h.frame_rate, quality=opts.quality) as writer, \
                progress.task("decoding", want) as advance:
            for _, frame in decode_frames(reader, device, start, stop, stats, **geometry_opts):
                writer.write(frame)
                stats.frames_written += 1
                advance(1)
            if stats.frames_written == 0:
                raise InputError(f"--frames {opts.frames}: no frame of the stream lies in that range")
    finally:
        if opts.input != "-":
            stream.close()
    dt = time.perf_counter() - t0
    log(quiet, f"wrote {stats.frames_written} frames to {opts.output} in {dt:.2f} s "
               f"({stats.frames_written / max(dt, 1e-9):.1f} fps)")
    return stats.frames_written


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("input", metavar="IN.gsv", type=str)
@click.option("-o", "--output", required=True, metavar="OUT",
              help="A folder (PNG frames frame_0001.png ...), a .y4m or .mp4 file, or - for y4m on stdout.")
@device_option
@click.option("--frames", metavar="A:B", default=None, help="Decode only frames A..B-1 (zero-based), e.g. 0:32.")
@click.option("--quality", type=click.Choice(["lossless", "high"]), default="lossless", show_default=True,
              help="For .mp4 output: lossless, or high-quality 4:2:0.")
@click.option("--tmc3", metavar="PATH", default=None, help="The tmc3 binary, for streams whose geometry is G-PCC.")
@quiet_option
@verbose_option
def main(input: str, output: str, device: str, frames: str | None, quality: str, tmc3: str | None,
         quiet: bool, verbose: int) -> None:
    """Decode IN.gsv (or - for standard input) to frames.

    \b
    Examples:
      gsdec out.gsv -o frames/          PNG frames frame_0001.png, ...
      gsdec out.gsv -o out.y4m
      gsdec out.gsv -o - | ffplay -     play while decoding
    """
    opts = DecodeOptions(input, output, device, frames, quality, tmc3, quiet, verbose)
    run_command("gsdec", verbose, lambda: decode(opts))


if __name__ == "__main__":
    main()

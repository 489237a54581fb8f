"""gsdec: decode a .gsv stream to frames (a PNG folder, a .y4m file, an .mp4, or y4m on stdout).

``--verify FILE.md5`` checks the decode against MD5s of the decoded state and of the frames
(the conformance suite ships one such file per stream). The file holds md5sum-style lines,
``<32 hex digits>  <name>``, with ``#`` comments; the names are

- ``stream.state``: MD5 over, for each segment in order, the byte length of its canonical
  decoded state as u64 little-endian followed by those bytes;
- ``segment-<i>.state``: MD5 of segment i's canonical decoded state (format_spec.md §8.1:
  the points as i64 LE in canonical order, then each attribute's f16 array in table order);
- ``frame-<k>.rgb24``: MD5 of frame k's 8-bit samples, row by row, R G B per pixel.

Every line present is checked and must be produced by the decode; names left out are not
checked (a file with only state lines checks the exact part and leaves rendering alone).

A stream's size does not bound the work to render it (194 bytes can declare 1.8e13 output
pixels), so ``--max-pixels`` bounds the frames x width x height a decode produces and
``--max-segment-work`` each segment's Gaussians x frames rendered; a stream beyond them is
refused (exit 2) before anything is decoded or written (docs/ROBUSTNESS.md).
"""

from __future__ import annotations

import hashlib
import re
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from gscodec.cli.common import (
    Progress,
    check_interrupted,
    device_option,
    log,
    parse_frame_range,
    quiet_option,
    resolve_device,
    run_command,
    verbose_option,
)
from gscodec.errors import InputError, VerifyError

if TYPE_CHECKING:
    import numpy as np

    from gscodec.bitstream import GsvReader
    from gscodec.bitstream.profile0 import DecodedSegment
    from gscodec.bitstream.profile1 import DecodedSegment as CodedSegment


DEFAULT_MAX_PIXELS = 1 << 36
"""gscodec.decode.DEFAULT_MAX_PIXELS (repeated here so that ``gsdec --help`` does not import torch)."""
DEFAULT_MAX_SEGMENT_WORK = 1 << 32
"""gscodec.decode.DEFAULT_MAX_SEGMENT_WORK."""


@dataclass(frozen=True)
class DecodeOptions:
    input: str
    output: str | None
    device: str
    frames: str | None
    quality: str
    tmc3: str | None
    quiet: bool
    verbose: int
    verify: str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS  # 0: no limit
    max_segment_work: int = DEFAULT_MAX_SEGMENT_WORK  # 0: no limit
    jobs: int | None = None  # entropy-decoding processes on a GPU; None: decode_frames' default


STREAM_STATE = "stream.state"
_MD5_LINE = re.compile(r"([0-9a-fA-F]{32}) [ *](\S+)")
_MD5_NAME = re.compile(r"(?:segment-(\d+)\.state|frame-(\d+)\.rgb24)")


def segment_state_name(index: int) -> str:
    return f"segment-{index:04d}.state"


def frame_name(index: int) -> str:
    return f"frame-{index:06d}.rgb24"


def state_parts(state: DecodedSegment | CodedSegment) -> list[bytes]:
    """A segment's canonical decoded-state bytes (format_spec.md §8.1, §16.6), the bytes ``state_hash()`` hashes."""
    return state.state_parts()


def digest_frames(reader: GsvReader, device: str, digest: dict[str, str], max_pixels: int = DEFAULT_MAX_PIXELS,
                  max_segment_work: int = DEFAULT_MAX_SEGMENT_WORK,
                  **geometry_opts: object) -> Iterator[tuple[int, np.ndarray]]:
    """Decode the whole stream, as decode_frames does (with its limits), filling ``digest`` (md5-file
    name -> MD5) on the way."""
    from gscodec.decode import (
        bounded_segment_state,
        check_limit_values,
        check_output_pixels,
        render_segment,
        requested_frames,
    )

    h = reader.header
    check_limit_values(max_pixels, max_segment_work)
    wanted = requested_frames(h)
    if wanted is not None:
        check_output_pixels(h, wanted, max_pixels)
    produced = 0
    stream_md5 = hashlib.md5()
    for seg in reader.segments():
        if wanted is None:
            produced += seg.frame_count
            check_output_pixels(h, produced, max_pixels, through=seg.segment_index)
        state = bounded_segment_state(h, seg, seg.frame_count, max_segment_work, **geometry_opts)
        parts = state_parts(state)
        seg_md5 = hashlib.md5()
        stream_md5.update(struct.pack("<Q", sum(len(p) for p in parts)))
        for p in parts:
            seg_md5.update(p)
            stream_md5.update(p)
        digest[segment_state_name(seg.segment_index)] = seg_md5.hexdigest()
        for k, frame in render_segment(state, h.width, h.height, device, 0, seg.frame_count):
            digest[frame_name(seg.first_frame + k)] = hashlib.md5(frame.tobytes()).hexdigest()
            yield seg.first_frame + k, frame
    digest[STREAM_STATE] = stream_md5.hexdigest()


def format_md5_file(digest: dict[str, str], title: str) -> str:
    """The text of an md5 file for ``digest``: a comment line, the stream state, segments, then frames."""
    def order(name: str) -> tuple[int, int]:
        m = _MD5_NAME.fullmatch(name)
        return (0, 0) if m is None else (1, int(m[1])) if m[1] is not None else (2, int(m[2]))

    lines = [f"# {title}"] + [f"{digest[n]}  {n}" for n in sorted(digest, key=order)]
    return "\n".join(lines) + "\n"


def read_md5_file(path: str) -> dict[str, str]:
    """Parse an md5 file (format in the module docstring) into canonical name -> lower-case MD5."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--verify {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _MD5_LINE.fullmatch(line.strip())
        n = None if m is None else _MD5_NAME.fullmatch(m[2])
        if m is None or (n is None and m[2] != STREAM_STATE):
            raise InputError(f"--verify {path}, line {number}: expected '<md5>  stream.state', "
                             "'<md5>  segment-N.state' or '<md5>  frame-N.rgb24'")
        name = STREAM_STATE if n is None else segment_state_name(int(n[1])) if n[1] else frame_name(int(n[2]))
        if name in out:
            raise InputError(f"--verify {path}, line {number}: {name} is listed twice")
        out[name] = m[1].lower()
    if not out:
        raise InputError(f"--verify {path}: the file lists no MD5s")
    return out


def check_digest(expected: dict[str, str], got: dict[str, str], path: str) -> str:
    """Compare a decode's digest with an md5 file's lines; raise VerifyError naming what differs."""
    bad = [name for name in expected if got.get(name) != expected[name]]
    if bad:
        states_ok = not any(name.endswith(".state") for name in bad)
        shown = ", ".join(n + (" (not in the stream)" if n not in got else "") for n in bad[:4])
        more = f" and {len(bad) - 4} more" if len(bad) > 4 else ""
        hint = ("; the decoded state matches, so the renderer differs (conformance allows rounding differences "
                "within a tolerance)") if states_ok else ""
        raise VerifyError(f"verification against {path} failed: {len(bad)} of {len(expected)} MD5s differ: "
                             f"{shown}{more}{hint}")
    return f"verified against {path}: all {len(expected)} MD5s match"


def decode(opts: DecodeOptions) -> int:
    """Decode ``opts.input`` into ``opts.output`` (and/or check it against ``opts.verify``); returns frames decoded."""
    from contextlib import nullcontext

    from gscodec.bitstream import GsvReader
    from gscodec.decode import DecodeStats, check_limit_values, check_output_pixels, decode_frames, open_input
    from gscodec.video import open_writer

    if opts.output is None and opts.verify is None:
        raise InputError("no output: give -o OUT, or --verify FILE.md5 to check the stream without writing frames")
    if opts.verify is not None and opts.frames is not None:
        raise InputError("--verify checks the whole stream: leave out --frames")
    check_limit_values(opts.max_pixels, opts.max_segment_work)
    expected = read_md5_file(opts.verify) if opts.verify is not None else None
    start, stop = parse_frame_range(opts.frames)
    device = resolve_device(opts.device)
    geometry_opts = {"tmc3": opts.tmc3} if opts.tmc3 else {}
    to_stdout = opts.output == "-"
    quiet = opts.quiet or to_stdout and not opts.verbose
    t0 = time.perf_counter()
    digest: dict[str, str] = {}
    stream = open_input(opts.input)
    try:
        reader = GsvReader(stream)
        h = reader.header
        total = h.frame_count or None
        if total is not None and start >= total:
            raise InputError(f"--frames {opts.frames}: the stream has {total} frames (0:{total})")
        want = None if total is None else (min(stop, total) if stop is not None else total) - start
        if want is not None:  # before anything is decoded or an output opened
            check_output_pixels(h, want, opts.max_pixels)
        log(quiet, f"{opts.input}: {h.width}x{h.height}, {h.frame_count or '?'} frames at "
                   f"{float(h.frame_rate):.3f} fps, profile {h.profile}; decoding on {device}")
        stats = DecodeStats()
        progress = Progress(not quiet)
        limits = {"max_pixels": opts.max_pixels, "max_segment_work": opts.max_segment_work}
        frames = (digest_frames(reader, device, digest, **limits, **geometry_opts) if expected is not None
                  else decode_frames(reader, device, start, stop, stats, **limits,
                                     prefetch=False if opts.input == "-" else None, workers=opts.jobs,
                                     **geometry_opts))
        writer_cm = (open_writer(opts.output, h.width, h.height, h.frame_rate, quality=opts.quality)
                     if opts.output is not None else nullcontext(None))
        with writer_cm as writer, progress.task("decoding", want) as advance:
            for _, frame in frames:
                check_interrupted()
                if writer is not None:
                    writer.write(frame)
                stats.frames_written += 1
                advance(1)
            if stats.frames_written == 0 and expected is None:
                if opts.frames:
                    raise InputError(f"--frames {opts.frames}: no frame of the stream lies in that range")
                raise InputError(f"{opts.input}: the stream holds no frames; there is nothing to write")
    finally:
        if opts.input != "-":
            stream.close()
    dt = time.perf_counter() - t0
    what = f"wrote {stats.frames_written} frames to {opts.output}" if opts.output is not None else \
        f"decoded {stats.frames_written} frames"
    log(quiet, f"{what} in {dt:.2f} s ({stats.frames_written / max(dt, 1e-9):.1f} fps)")
    if expected is not None:
        log(opts.quiet, check_digest(expected, digest, str(opts.verify)))
    return stats.frames_written


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("input", metavar="IN.gsv", type=str)
@click.option("-o", "--output", default=None, metavar="OUT",
              help="A folder (PNG frames frame_0001.png ...), a .y4m or .mp4 file, or - for y4m on stdout. "
                   "Optional with --verify.")
@device_option
@click.option("--frames", metavar="A:B", default=None, help="Decode only frames A..B-1 (zero-based), e.g. 0:32.")
@click.option("--quality", type=click.Choice(["lossless", "high"]), default="lossless", show_default=True,
              help="For .mp4 output: lossless, or high-quality 4:2:0.")
@click.option("--tmc3", metavar="PATH", default=None, help="The tmc3 binary, for streams whose geometry is G-PCC.")
@click.option("--verify", metavar="FILE.md5", default=None,
              help="Check the decoded state and frames against an md5 file (exit 1 on a mismatch).")
@click.option("--max-pixels", type=click.IntRange(min=0), default=DEFAULT_MAX_PIXELS, metavar="N",
              help="Refuse (exit 2, before decoding) a stream whose requested frames exceed N output pixels "
                   "(frames x width x height). Default 2^36 = 68,719,476,736: e.g. 33,140 frames of 1920x1080, "
                   "9.2 minutes at 60 fps. 0: no limit.")
@click.option("--max-segment-work", type=click.IntRange(min=0), default=DEFAULT_MAX_SEGMENT_WORK, metavar="N",
              help="Refuse a segment whose Gaussians x frames to render exceed N, before decoding it. "
                   "Default 2^32: 2^22 Gaussians (the format's most) over 1024 frames. 0: no limit.")
@click.option("--jobs", type=click.IntRange(min=1), default=None, metavar="N",
              help="On a GPU, decode up to N segments ahead at once, each in its own process, while the GPU "
                   "renders. Default: half the CPU cores, at most 8; 1: one segment ahead, on a thread. "
                   "(On the CPU, and from standard input, segments decode one after the other.)")
@quiet_option
@verbose_option
def main(input: str, output: str | None, device: str, frames: str | None, quality: str, tmc3: str | None,
         verify: str | None, max_pixels: int, max_segment_work: int, jobs: int | None, quiet: bool,
         verbose: int) -> None:
    """Decode IN.gsv (or - for standard input) to frames.

    \b
    Examples:
      gsdec out.gsv -o frames/          PNG frames frame_0001.png, ...
      gsdec out.gsv -o out.y4m
      gsdec out.gsv -o - | ffplay -     play while decoding
      gsdec s.gsv --verify s.md5        check against expected MD5s, write nothing
    """
    opts = DecodeOptions(input, output, device, frames, quality, tmc3, quiet, verbose, verify, max_pixels,
                         max_segment_work, jobs)
    run_command("gsdec", verbose, lambda: decode(opts))


if __name__ == "__main__":
    main()

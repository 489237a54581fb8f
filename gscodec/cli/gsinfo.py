"""gsinfo: describe a .gsv stream — its header, each segment's frames and bytes, bits per pixel."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import click

from gscodec.cli.common import run_command, verbose_option


@dataclass(frozen=True)
class InfoOptions:
    input: str
    as_json: bool
    verbose: int


def describe(path: str) -> dict[str, Any]:
    """Read the whole stream (validating every chunk) and summarise it as a plain dict."""
    from gscodec.bitstream import PROFILE_RAW, PROFILES, GsvReader
    from gscodec.bitstream.profile0 import GEOMETRY_NAMES, peek_segment
    from gscodec.decode import open_input

    stream = open_input(path)
    try:
        reader = GsvReader(stream)
        h = reader.header
        segments = []
        for seg in reader.segments():
            row: dict[str, Any] = {
                "index": seg.segment_index,
                "first_frame": seg.first_frame,
                "frames": seg.frame_count,
                "bytes": seg.chunk_size,
                "bpp": seg.chunk_size * 8 / (h.width * h.height * seg.frame_count),
            }
            if h.profile == PROFILE_RAW:
                n, codec, gbytes = peek_segment(seg.payload)
                row.update(
                    gaussians=n,
                    geometry_codec=GEOMETRY_NAMES.get(codec, f"unknown ({codec})"),
                    geometry_bytes=gbytes,
                    geometry_bits_per_point=(gbytes * 8 / n) if n else 0.0,
                )
            segments.append(row)
        assert reader.end is not None
        total_bytes = os.path.getsize(path) if path != "-" else None
        frames = reader.end[1]
    finally:
        if path != "-":
            stream.close()
    if total_bytes is None:
        total_bytes = reader.end and sum(s["bytes"] for s in segments)  # lower bound for a pipe
    c = h.colour
    return {
        "file": path,
        "version": f"{h.version_major}.{h.version_minor}",
        "profile": h.profile,
        "profile_name": PROFILES.get(h.profile, "?"),
        "width": h.width,
        "height": h.height,
        "frame_count": frames,
        "frame_rate": f"{h.frame_rate.numerator}/{h.frame_rate.denominator}",
        "fps": float(h.frame_rate),
        "segment_frames": h.segment_frames,
        "segment_count": len(segments),
        "colour": {"colour_primaries": c.colour_primaries, "transfer_characteristics": c.transfer_characteristics,
                   "matrix_coefficients": c.matrix_coefficients, "full_range": c.full_range},
        "metadata": reader.metadata,
        "unknown_ancillary_chunks": reader.unknown_ancillary,
        "bytes": total_bytes,
        "bpp": total_bytes * 8 / (h.width * h.height * frames) if frames else 0.0,
        "kbps": total_bytes * 8 * float(h.frame_rate) / frames / 1000 if frames else 0.0,
        "segments": segments,
    }


def render_table(info: dict[str, Any]) -> str:
    """The human-readable form of :func:`describe`'s result."""
    lines = [
        f"{info['file']}: gscodec stream, version {info['version']}, "
        f"profile {info['profile']} ({info['profile_name']})",
        f"  size         {info['width']}x{info['height']}",
        f"  frames       {info['frame_count']} at {info['frame_rate']} fps ({info['fps']:.3f})",
        f"  segments     {info['segment_count']} of up to {info['segment_frames']} frames",
        f"  bytes        {info['bytes']}  ({info['bpp']:.5f} bpp, {info['kbps']:.1f} kbit/s)",
    ]
    for key, value in sorted(info["metadata"].items()):
        lines.append(f"  {key:<12} {value}")
    has_geo = any("gaussians" in s for s in info["segments"])
    head = f"  {'seg':>4} {'frames':>11} {'bytes':>10} {'bpp':>9}"
    if has_geo:
        head += f" {'gaussians':>10} {'geometry':>9} {'geo bytes':>10} {'bits/pt':>8}"
    lines += ["", head]
    for s in info["segments"]:
        frames = f"{s['first_frame']}-{s['first_frame'] + s['frames'] - 1}"
        row = f"  {s['index']:>4} {frames:>11} {s['bytes']:>10} {s['bpp']:>9.5f}"
        if has_geo:
            row += (f" {s['gaussians']:>10} {s['geometry_codec']:>9} {s['geometry_bytes']:>10}"
                    f" {s['geometry_bits_per_point']:>8.2f}")
        lines.append(row)
    return "\n".join(lines)


def info(opts: InfoOptions) -> None:
    data = describe(opts.input)
    click.echo(json.dumps(data, indent=2) if opts.as_json else render_table(data))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("input", metavar="IN.gsv", type=str)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@verbose_option
def main(input: str, as_json: bool, verbose: int) -> None:
    """Show the header, the segments (frames, bytes, Gaussians, geometry) and the bits per pixel of IN.gsv."""
    opts = InfoOptions(input, as_json, verbose)
    run_command("gsinfo", verbose, lambda: info(opts))


if __name__ == "__main__":
    main()

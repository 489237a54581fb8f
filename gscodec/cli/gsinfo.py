"""gsinfo: describe a .gsv stream — its header, each segment's frames and bytes, bits per pixel, and where
every byte of the file goes.

The whole-file breakdown counts each byte once: the signature, every chunk's framing (length, type,
CRC: 12 bytes), the payloads of the header, metadata, index, end and unknown ancillary chunks, each
segment chunk's segment header (12 bytes), the segment payloads split into their parts (profile 0:
head, geometry, attributes; profile 1: head, geometry, steps, priors and each attribute group, a
group's bytes being its channels' residual_size fields and range-coded data, format_spec.md
§16.1), and any bytes after the end chunk. The parts add up to the file's size; from standard
input, the stream is read up to its end chunk and that is what is counted.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

import click

from gscodec.cli.common import run_command, verbose_option

CHUNK_FRAMING = 12
"""Bytes of a chunk besides its payload: chunk_length (u32), chunk_type (4 bytes), chunk_crc (u32)."""
SEGMENT_HEADER = 12
"""Bytes at the start of a GSEG payload before the segment payload: segment_index, first_frame, frame_count."""
PROFILE0_HEAD = 12
"""Bytes of a profile 0 payload's fixed fields: gaussian_count, geometry_codec, reserved, geometry_size."""
_SIGNATURE = 8
_CHUNK_HEAD = struct.Struct("<I4s")

CONTAINER_PARTS: tuple[tuple[str, str], ...] = (
    ("signature", "signature"),
    ("GHDR", "header chunk payload (GHDR)"),
    ("gmet", "metadata chunk payloads (gmet)"),
    ("gidx", "index chunk payload (gidx)"),
    ("GEND", "end chunk payload (GEND)"),
    ("ancillary", "other ancillary chunk payloads"),
    ("framing", "chunk framing (length, type, CRC)"),
    ("segment headers", "segment headers (in GSEG)"),
    ("after end", "bytes after the end chunk"),
)
"""Keys and descriptions of the container's rows in the whole-file breakdown, in order."""


@dataclass(frozen=True)
class InfoOptions:
    input: str
    as_json: bool
    verbose: int


class ChunkTally:
    """A read-only view of a stream that notes each chunk's type and payload length as a reader passes over it.

    It follows the chunk framing (signature, then length | type | payload | CRC) in the bytes read,
    without keeping them, so it works on pipes and costs nothing extra. Only the framing is parsed
    here; the reader behind it checks lengths, types and CRCs.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.position = 0
        self.chunks: list[tuple[str, int]] = []  # (type, payload length), in stream order
        self._head = bytearray()
        self._skip = _SIGNATURE

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._see(data)
        return data

    def _see(self, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            if self._skip:
                take = min(self._skip, len(data) - pos)
                self._skip -= take
                pos += take
                continue
            take = min(_CHUNK_HEAD.size - len(self._head), len(data) - pos)
            self._head += data[pos : pos + take]
            pos += take
            if len(self._head) == _CHUNK_HEAD.size:
                length, chunk_type = _CHUNK_HEAD.unpack(self._head)
                self.chunks.append((chunk_type.decode("latin-1"), length))
                self._skip = length + 4  # the payload and the CRC
                self._head.clear()
        self.position += len(data)


def _bpp(nbytes: int, pixels: int) -> float:
    return nbytes * 8 / pixels if pixels else 0.0


def _profile0_parts(payload: bytes) -> dict[str, int]:
    """Bytes of a profile 0 payload's parts (format_spec.md §8.1): its fixed fields, geometry, attributes."""
    from gscodec.bitstream.profile0 import peek_segment
    from gscodec.errors import StreamError

    _, _, gbytes = peek_segment(payload)
    head = PROFILE0_HEAD
    if head + gbytes > len(payload):
        raise StreamError("corrupt stream: a profile 0 segment's geometry_size runs past its payload")
    return {"head": head, "geometry": gbytes, "attributes": len(payload) - head - gbytes}


def describe(path: str) -> dict[str, Any]:
    """Read the whole stream (validating every chunk) and summarise it as a plain dict."""
    from gscodec.bitstream import PROFILE_CODED, PROFILE_RAW, PROFILES, GsvReader, profile0, profile1
    from gscodec.bitstream.profile0 import GEOMETRY_NAMES
    from gscodec.decode import open_input

    stream = open_input(path)
    try:
        tally = ChunkTally(stream)
        reader = GsvReader(tally)
        h = reader.header
        pixels = h.width * h.height
        segments = []
        payload_parts: dict[str, int] = {}
        for seg in reader.segments():
            seg_pixels = pixels * seg.frame_count
            row: dict[str, Any] = {
                "index": seg.segment_index,
                "first_frame": seg.first_frame,
                "frames": seg.frame_count,
                "bytes": seg.chunk_size,
                "bpp": _bpp(seg.chunk_size, seg_pixels),
            }
            module = profile1 if h.profile == PROFILE_CODED else profile0
            n, codec, gbytes = module.peek_segment(seg.payload)
            row.update(
                gaussians=n,
                geometry_codec=GEOMETRY_NAMES.get(codec, f"unknown ({codec})"),
                geometry_bytes=gbytes,
                geometry_bits_per_point=(gbytes * 8 / n) if n else 0.0,
            )
            if h.profile == PROFILE_RAW:
                parts = _profile0_parts(seg.payload)
            else:
                parts = profile1.layout(seg.payload)
                framed = {"chunk": CHUNK_FRAMING + SEGMENT_HEADER, **parts}
                row["parts"] = framed
                row["parts_bpp"] = {k: _bpp(v, seg_pixels) for k, v in framed.items()}
            for key, value in parts.items():
                payload_parts[key] = payload_parts.get(key, 0) + value
            segments.append(row)
        assert reader.end is not None
        consumed = tally.position
        # A pipe (or any input that is not a regular file) is counted through GEND: what the reader took.
        total_bytes = os.path.getsize(path) if path != "-" and os.path.isfile(path) else consumed
        frames = reader.end[1]
    finally:
        if path != "-":
            stream.close()
    c = h.colour
    file_pixels = pixels * frames
    container = _container_parts(tally.chunks, len(segments), total_bytes - consumed)
    breakdown = [{"part": key, "group": "container", "bytes": container[key]} for key, _ in CONTAINER_PARTS]
    breakdown += [{"part": key, "group": "segment payloads", "bytes": value} for key, value in payload_parts.items()]
    for entry in breakdown:
        entry["bpp"] = _bpp(entry["bytes"], file_pixels)
        entry["percent"] = 100.0 * entry["bytes"] / total_bytes if total_bytes else 0.0
    counted = sum(e["bytes"] for e in breakdown)
    if counted != total_bytes:  # every byte has its part; a difference is a bug here, not in the stream
        raise RuntimeError(f"gsinfo counted {counted} bytes of {total_bytes}")
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
        "bpp": _bpp(total_bytes, file_pixels),
        "kbps": total_bytes * 8 * float(h.frame_rate) / frames / 1000 if frames else 0.0,
        "segments": segments,
        "chunks": len(tally.chunks),
        "breakdown": breakdown,
    }


def _container_parts(chunks: list[tuple[str, int]], segments: int, after_end: int) -> dict[str, int]:
    """Bytes of each container row of the breakdown, from the chunks read (type, payload length)."""
    parts = {key: 0 for key, _ in CONTAINER_PARTS}
    parts["signature"] = _SIGNATURE
    for chunk_type, length in chunks:
        parts["framing"] += CHUNK_FRAMING
        if chunk_type == "GSEG":
            continue  # its payload is the segment header plus the segment payload, counted by their parts
        parts[chunk_type if chunk_type in ("GHDR", "gmet", "gidx", "GEND") else "ancillary"] += length
    parts["segment headers"] = SEGMENT_HEADER * segments
    parts["after end"] = after_end
    return parts


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
    with_parts = [s for s in info["segments"] if "parts" in s]
    if with_parts:
        names = list(with_parts[0]["parts"])
        widths = [max(len(n), 9) for n in names]
        columns = f"  {'seg':>4} " + " ".join(f"{n:>{w}}" for n, w in zip(names, widths, strict=True))
        for title, key, fmt in (("bytes", "parts", "d"), ("bits per pixel", "parts_bpp", ".5f")):
            lines += ["", f"  segment parts, {title} (chunk: its framing and segment header)", columns]
            for s in with_parts:
                lines.append(f"  {s['index']:>4} " + " ".join(
                    f"{s[key][n]:>{w}{fmt}}" for n, w in zip(names, widths, strict=True)))
    labels = dict(CONTAINER_PARTS)
    width = max(len(label) for label in labels.values())
    lines += ["", f"  {'whole file':<{width}} {'bytes':>10} {'bpp':>9} {'%':>6}"]
    group = "container"
    for e in info["breakdown"]:
        if e["group"] != group:
            group = e["group"]
            lines.append(f"  {group}, summed over the segments:")
        label = labels[e["part"]] if e["group"] == "container" else f"  {e['part']}"
        if e["part"] == "framing":
            label = f"chunk framing ({info['chunks']} chunks x 12)"
        lines.append(f"  {label:<{width}} {e['bytes']:>10} {e['bpp']:>9.5f} {e['percent']:>6.2f}")
    total = sum(e["bytes"] for e in info["breakdown"])
    lines.append(f"  {'total':<{width}} {total:>10} {info['bpp']:>9.5f} {100.0 if total else 0.0:>6.2f}")
    return "\n".join(lines)


def info(opts: InfoOptions) -> None:
    data = describe(opts.input)
    click.echo(json.dumps(data, indent=2) if opts.as_json else render_table(data))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("input", metavar="IN.gsv", type=str)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@verbose_option
def main(input: str, as_json: bool, verbose: int) -> None:
    """Show the header, the segments (frames, bytes, Gaussians, geometry), the bits per pixel of IN.gsv, and
    where its bytes go (container, and each part of the segment payloads)."""
    opts = InfoOptions(input, as_json, verbose)
    run_command("gsinfo", verbose, lambda: info(opts))


if __name__ == "__main__":
    main()

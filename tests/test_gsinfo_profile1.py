"""gsinfo on profile 1 streams: each segment's parts (format_spec.md §16.1) in bytes and bits per pixel, and a
whole-file breakdown that accounts for every byte, checked against an independent walk over the chunks."""

from __future__ import annotations

import io
import json
import struct
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from gscodec.bitstream import PROFILE_CODED, GsvWriter, SequenceHeader
from gscodec.bitstream import profile1 as p1
from gscodec.cli import gsinfo
from gscodec.cli.gsinfo import ChunkTally, describe, render_table
from tests.test_profile1 import random_state as shared_random_state

REPO = Path(__file__).resolve().parents[1]
W, H = 40, 24
PART_NAMES = ["chunk", "head", "geometry", "steps", "motion", "prior", *p1.GROUPS]


def random_state(n: int, hidden: int, seed: int, coded: tuple[int, ...]):
    """One segment's state on this file's frame size (tests/test_profile1.py builds it)."""
    return shared_random_state(n, hidden, seed, coded, extent=(4 * W, 4 * H, 6), correlated=False)


def write_stream(path: Path, metadata: dict[str, str] | None = None, trailing: bytes = b"") -> list[bytes]:
    """Three profile 1 segments (hidden priors, an empty one, linear priors with some channels uncoded)."""
    segments = [
        (3, random_state(80, 4, 1, tuple(range(12))), 2, 1, "builtin"),
        (1, random_state(0, 0, 2, ()), 0, 0, "raw"),
        (2, random_state(50, 0, 3, (0, 1, 5, 6, 7)), 1, 2, "raw"),
    ]
    header = SequenceHeader(W, H, 6, Fraction(25), 3, profile=PROFILE_CODED)
    payloads = []
    with GsvWriter(path, header, metadata) as w:
        for frames, (points, q, steps, nets), xs, ts, geometry in segments:
            payloads.append(p1.encode_segment(points, q, steps, nets, xs, ts, geometry))
            w.write_segment(frames, payloads[-1])
    if trailing:
        with open(path, "ab") as f:
            f.write(trailing)
    return payloads


def walk_chunks(data: bytes) -> list[tuple[bytes, int]]:
    """(type, payload length) of every chunk through GEND, read straight from the bytes (format_spec.md §2.2)."""
    pos, out = 8, []
    while True:
        length, kind = struct.unpack_from("<I4s", data, pos)
        out.append((kind, length))
        pos += 12 + length
        if kind == b"GEND":
            return out


def by_part(info: dict) -> dict[str, int]:
    return {e["part"]: e["bytes"] for e in info["breakdown"]}


@pytest.fixture
def stream(tmp_path: Path) -> tuple[Path, list[bytes]]:
    path = tmp_path / "coded.gsv"
    return path, write_stream(path, {"encoder": "test", "note": "profile 1"})


def test_segment_parts_match_the_payload_layout(stream) -> None:
    path, payloads = stream
    info = describe(str(path))
    assert info["profile"] == 1 and info["profile_name"] == "coded" and info["segment_count"] == 3
    for seg, payload in zip(info["segments"], payloads, strict=True):
        assert list(seg["parts"]) == PART_NAMES
        assert seg["parts"] == {"chunk": 24, **p1.layout(payload)}
        assert sum(seg["parts"].values()) == seg["bytes"] == 24 + len(payload)
        pixels = W * H * seg["frames"]
        assert seg["parts_bpp"] == {k: v * 8 / pixels for k, v in seg["parts"].items()}
        assert seg["gaussians"] == p1.peek_segment(payload)[0]
        assert seg["geometry_bytes"] == seg["parts"]["geometry"]
    empty = info["segments"][1]
    assert empty["gaussians"] == 0 and empty["parts"]["prior"] == 0 and empty["geometry_codec"] == "raw"
    linear = info["segments"][2]
    assert linear["parts"]["rot"] == linear["parts"]["vel"] == linear["parts"]["acc"] == 0  # not coded
    assert linear["parts"]["color"] > 3 * 4  # three coded channels, each with its size field and data


def test_whole_file_breakdown_adds_up_and_matches_the_chunks(stream) -> None:
    path, payloads = stream
    data = path.read_bytes()
    info = describe(str(path))
    parts = by_part(info)
    assert sum(parts.values()) == info["bytes"] == len(data)
    chunks = walk_chunks(data)
    payload_of = {kind: sum(n for k, n in chunks if k == kind) for kind in (b"GHDR", b"gmet", b"gidx", b"GEND")}
    assert parts["signature"] == 8
    assert parts["GHDR"] == payload_of[b"GHDR"] == 36
    assert parts["gmet"] == payload_of[b"gmet"] > 0
    assert parts["gidx"] == payload_of[b"gidx"] == 4 + 16 * 3
    assert parts["GEND"] == payload_of[b"GEND"] == 16
    assert parts["framing"] == 12 * len(chunks) and info["chunks"] == len(chunks)
    assert parts["segment headers"] == 12 * 3 and parts["ancillary"] == parts["after end"] == 0
    layouts = [p1.layout(p) for p in payloads]
    for key in ["head", "geometry", "steps", "motion", "prior", *p1.GROUPS]:
        assert parts[key] == sum(lay[key] for lay in layouts)
    assert parts["head"] == 16 * 3 and parts["steps"] == 12 * 3
    frames_pixels = W * H * 6
    for e in info["breakdown"]:
        assert e["bpp"] == pytest.approx(e["bytes"] * 8 / frames_pixels)
    assert sum(e["percent"] for e in info["breakdown"]) == pytest.approx(100.0)
    assert sum(e["bpp"] for e in info["breakdown"]) == pytest.approx(info["bpp"])


def test_bytes_after_the_end_chunk_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "tail.gsv"
    write_stream(path, trailing=b"not part of the stream")
    info = describe(str(path))
    assert by_part(info)["after end"] == len(b"not part of the stream")
    assert sum(by_part(info).values()) == info["bytes"] == path.stat().st_size


def test_table_and_json_through_the_command(stream) -> None:
    path, payloads = stream
    r = CliRunner().invoke(gsinfo.main, [str(path)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = r.output
    assert "profile 1 (coded)" in out and "segment parts, bytes" in out and "segment parts, bits per pixel" in out
    assert "chunk framing (" in out and "segment payloads, summed over the segments:" in out
    for name in PART_NAMES[1:]:
        assert name in out
    total = next(line for line in out.splitlines() if line.strip().startswith("total"))
    assert total.split()[1] == str(path.stat().st_size)
    lines = out.splitlines()
    row0 = lines[next(i for i, ln in enumerate(lines) if "segment parts, bytes" in ln) + 2]  # after the column names
    assert [int(v) for v in row0.split()[1:]] == list({"chunk": 24, **p1.layout(payloads[0])}.values())
    info = json.loads(CliRunner().invoke(gsinfo.main, [str(path), "--json"], catch_exceptions=False).output)
    assert sum(e["bytes"] for e in info["breakdown"]) == path.stat().st_size
    assert info["segments"][0]["parts"] == {"chunk": 24, **p1.layout(payloads[0])}


def test_standard_input_counts_the_stream_through_its_end_chunk(tmp_path: Path) -> None:
    path = tmp_path / "pipe.gsv"
    write_stream(path, trailing=b"junk after the end")
    data = path.read_bytes()
    r = CliRunner().invoke(gsinfo.main, ["-", "--json"], input=data, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["bytes"] == len(data) - len(b"junk after the end")  # a pipe is read up to GEND only
    assert sum(e["bytes"] for e in info["breakdown"]) == info["bytes"] and by_part(info)["after end"] == 0


def test_profile0_streams_keep_their_rows_and_gain_the_breakdown() -> None:
    """Every valid conformance stream, both profiles: the breakdown adds up to the file size exactly."""
    for side in sorted((REPO / "conformance" / "streams").glob("[cu]*/*.json")):
        meta = json.loads(side.read_text())
        if meta["expect"] != "decode" or meta["requires"]:
            continue
        gsv = side.with_suffix(".gsv")
        info = describe(str(gsv))
        parts = by_part(info)
        assert sum(parts.values()) == gsv.stat().st_size, gsv.name
        assert parts["framing"] == 12 * len(walk_chunks(gsv.read_bytes())), gsv.name
        for seg in info["segments"]:
            if info["profile"] == 0:
                assert set(seg) == {"index", "first_frame", "frames", "bytes", "bpp", "gaussians", "geometry_codec",
                                    "geometry_bytes", "geometry_bits_per_point"}
            else:
                assert sum(seg["parts"].values()) == seg["bytes"]
        render_table(info)
    core = describe(str(REPO / "conformance" / "streams" / "core" / "gsv1-core-06-ancillary-chunks.gsv"))
    assert by_part(core)["ancillary"] > 0 and by_part(core)["attributes"] > 0
    tail = describe(str(REPO / "conformance" / "streams" / "uncommon" / "gsv1-uncommon-14-trailing-bytes.gsv"))
    assert by_part(tail)["after end"] > 0


def test_corrupt_profile1_payload_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.gsv"
    points, q, steps, nets = random_state(20, 0, 4, (0, 1))
    payload = p1.encode_segment(points, q, steps, nets, 0, 0) + b"\0"  # one byte its parts do not account for
    with GsvWriter(path, SequenceHeader(W, H, 1, Fraction(25), 1, profile=PROFILE_CODED)) as w:
        w.write_segment(1, payload)
    r = CliRunner().invoke(gsinfo.main, [str(path)])
    assert r.exit_code == 2
    assert "corrupt stream" in r.output and len(r.output.strip().splitlines()) == 1


@pytest.mark.parametrize("block", [1, 3, 7, 4096])
def test_chunk_tally_follows_the_framing_whatever_the_read_sizes(block: int, stream) -> None:
    path, _ = stream
    data = path.read_bytes()
    tally = ChunkTally(io.BytesIO(data))
    while tally.read(block):
        pass
    assert [(k.encode("latin-1"), n) for k, n in tally.chunks] == walk_chunks(data)
    assert tally.position == len(data)

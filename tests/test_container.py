"""The .gsv container: round trips (file, memory, pipe), every corruption class, limits, index."""

from __future__ import annotations

import io
import os
import struct
import threading
from fractions import Fraction
from pathlib import Path

import pytest

from gscodec.bitstream import (
    SIGNATURE,
    ChunkReader,
    GsvReader,
    GsvWriter,
    SequenceHeader,
    encode_chunk,
    read_index,
    read_segment_at,
)
from gscodec.bitstream.container import _END, GEND, GHDR, GIDX, GSEG, encode_metadata
from gscodec.errors import LimitError, StreamError, UnsupportedError

HEADER = SequenceHeader(width=64, height=48, frame_count=0, frame_rate=Fraction(30000, 1001), segment_frames=4)
PAYLOADS = [bytes(range(37)), b"", b"\xff" * 1000]
FRAMES = [4, 4, 2]


class Pipe(io.RawIOBase):
    """A non-seekable stream that hands out at most ``step`` bytes per read, like a pipe."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        self._data, self._pos, self._step = data, 0, step

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, n: int = -1) -> bytes:
        n = self._step if n < 0 else min(n, self._step)
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out


def make_stream(metadata: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with GsvWriter(buf, HEADER, metadata) as w:
        for frames, payload in zip(FRAMES, PAYLOADS):
            w.write_segment(frames, payload)
    return buf.getvalue()


def read_all(stream) -> tuple[GsvReader, list]:
    reader = GsvReader(stream)
    return reader, list(reader.segments())


def chunk_offsets(data: bytes) -> list[int]:
    offsets, pos = [], len(SIGNATURE)
    while pos < len(data):
        offsets.append(pos)
        (length,) = struct.unpack_from("<I", data, pos)
        pos += 12 + length
    return offsets


def test_round_trip_memory_and_header_fixup() -> None:
    data = make_stream({"encoder": "gscodec test"})
    reader, segs = read_all(io.BytesIO(data))
    assert reader.header.width == 64 and reader.header.height == 48
    assert reader.header.frame_rate == Fraction(30000, 1001)
    # The writer had a seekable stream, so it filled in the totals.
    assert reader.header.frame_count == 10 and reader.header.segment_count == 3
    assert [s.payload for s in segs] == PAYLOADS
    assert [(s.first_frame, s.frame_count) for s in segs] == [(0, 4), (4, 4), (8, 2)]
    assert reader.end == (3, 10)
    assert reader.metadata == {"encoder": "gscodec test"}
    assert reader.index is not None and [e.first_frame for e in reader.index] == [0, 4, 8]


def test_round_trip_non_seekable_in_and_out() -> None:
    class WriteOnly(io.RawIOBase):
        def __init__(self) -> None:
            self.buf = bytearray()

        def writable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def write(self, b) -> int:
            self.buf += bytes(b)
            return len(b)

    out = WriteOnly()
    with GsvWriter(out, HEADER) as w:
        for frames, payload in zip(FRAMES, PAYLOADS):
            w.write_segment(frames, payload)
    reader, segs = read_all(Pipe(bytes(out.buf), step=5))
    assert reader.header.frame_count == 0  # unknown when written: the end chunk carries it
    assert reader.end == (3, 10)
    assert [s.payload for s in segs] == PAYLOADS


def test_round_trip_through_os_pipe() -> None:
    data = make_stream()
    r, w = os.pipe()

    def feed() -> None:
        with os.fdopen(w, "wb") as f:
            for i in range(0, len(data), 13):
                f.write(data[i : i + 13])

    t = threading.Thread(target=feed)
    t.start()
    with os.fdopen(r, "rb") as f:
        _, segs = read_all(f)
    t.join()
    assert [s.payload for s in segs] == PAYLOADS


def test_writer_is_atomic(tmp_path: Path) -> None:
    dest = tmp_path / "out.gsv"
    with pytest.raises(RuntimeError):
        with GsvWriter(dest, HEADER) as w:
            w.write_segment(4, b"abc")
            raise RuntimeError("encoder failed")
    assert list(tmp_path.iterdir()) == []
    with GsvWriter(dest, HEADER) as w:
        w.write_segment(4, b"abc")
    assert [p.name for p in tmp_path.iterdir()] == ["out.gsv"]
    assert read_all(open(dest, "rb"))[1][0].payload == b"abc"


def test_writer_rejects_frame_count_mismatch(tmp_path: Path) -> None:
    header = SequenceHeader(64, 48, 9, Fraction(25), 4)
    with pytest.raises(ValueError):
        with GsvWriter(tmp_path / "x.gsv", header) as w:
            w.write_segment(4, b"")
    assert list(tmp_path.iterdir()) == []


def test_truncation_at_every_chunk_boundary_and_byte() -> None:
    data = make_stream()
    for cut in range(len(data)):
        with pytest.raises(StreamError):
            read_all(io.BytesIO(data[:cut]))
    for cut in chunk_offsets(data):
        with pytest.raises(StreamError, match="truncated|no sequence header"):
            read_all(Pipe(data[:cut]))


def test_every_flipped_byte_is_caught() -> None:
    data = make_stream()
    for pos in range(len(data)):
        damaged = bytearray(data)
        damaged[pos] ^= 0x10
        with pytest.raises(StreamError):  # StreamError covers LimitError and UnsupportedError too
            read_all(io.BytesIO(bytes(damaged)))


def test_bad_crc_names_the_chunk() -> None:
    data = bytearray(make_stream())
    seg_at = chunk_offsets(bytes(data))[1]
    data[seg_at + 12] ^= 1  # first payload byte of the first segment
    with pytest.raises(StreamError, match="CRC mismatch in chunk GSEG"):
        read_all(io.BytesIO(bytes(data)))


def test_signature_damage_is_explained() -> None:
    data = make_stream()
    with pytest.raises(StreamError, match="binary mode"):
        GsvReader(io.BytesIO(data.replace(b"\r\n", b"\n", 1)))
    with pytest.raises(StreamError, match="not a .gsv"):
        GsvReader(io.BytesIO(b"RIFF" + data[4:]))
    with pytest.raises(StreamError, match="empty"):
        GsvReader(io.BytesIO(b""))


def _stream_with(chunks: list[bytes]) -> bytes:
    return SIGNATURE + encode_chunk(GHDR, HEADER.encode()) + b"".join(chunks)


def _end(segments: int, frames: int) -> bytes:
    return encode_chunk(GEND, _END.pack(segments, frames, 0))


def _seg(index: int, first: int, count: int, payload: bytes = b"") -> bytes:
    return encode_chunk(GSEG, struct.pack("<III", index, first, count) + payload)


def test_unknown_chunks() -> None:
    anc = encode_chunk(b"zzzz", b"whatever")
    reader, segs = read_all(io.BytesIO(_stream_with([_seg(0, 0, 4), anc, _end(1, 4)])))
    assert len(segs) == 1 and reader.unknown_ancillary == ["zzzz"]
    with pytest.raises(UnsupportedError, match="unknown critical chunk 'ZZZZ'"):
        read_all(io.BytesIO(_stream_with([encode_chunk(b"ZZZZ", b""), _end(0, 0)])))


def test_absurd_length_is_refused_before_reading() -> None:
    head = struct.pack("<I4s", 0xFFFFFFF0, GSEG)
    with pytest.raises(LimitError, match="more than the limit"):
        read_all(io.BytesIO(_stream_with([head])))
    # A plausible length on a short stream: read in bounded blocks, then reported as truncated.
    head = struct.pack("<I4s", 500_000_000, GSEG)
    with pytest.raises(StreamError, match="truncated"):
        read_all(Pipe(_stream_with([head, b"x" * 100]), step=4096))


def test_invalid_chunk_type() -> None:
    with pytest.raises(StreamError, match="invalid chunk type"):
        read_all(io.BytesIO(_stream_with([struct.pack("<I4s", 0, b"G$EG") + b"\0" * 4])))


@pytest.mark.parametrize(
    "fields, error, match",
    [
        ({"version_major": 2}, UnsupportedError, "unsupported .gsv version 2.0"),
        ({"profile": 9}, UnsupportedError, "unsupported profile 9"),
        ({"width": 0}, LimitError, "frame size"),
        ({"height": 20000}, LimitError, "frame size"),
        ({"frame_rate": Fraction(0, 1)}, StreamError, "frame rate"),
        ({"segment_frames": 0}, StreamError, "segment_frames"),
    ],
)
def test_header_field_validation(fields: dict, error: type, match: str) -> None:
    values = {**HEADER.__dict__, **fields}
    rate = values.pop("frame_rate")
    header = SequenceHeader(frame_rate=Fraction(1), **values)
    payload = bytearray(header.encode())
    struct.pack_into("<II", payload, 16, rate.numerator, rate.denominator if rate.numerator else 1)
    if rate.numerator == 0:
        struct.pack_into("<I", payload, 16, 0)
    data = SIGNATURE + encode_chunk(GHDR, bytes(payload)) + _end(0, 0)
    with pytest.raises(error, match=match):
        read_all(io.BytesIO(data))


def test_minor_version_extension_is_accepted() -> None:
    payload = SequenceHeader(**{**HEADER.__dict__, "version_minor": 7}).encode() + b"future fields"
    reader, _ = read_all(io.BytesIO(SIGNATURE + encode_chunk(GHDR, payload) + _end(0, 0)))
    assert reader.header.version_minor == 7


@pytest.mark.parametrize(
    "chunks, match",
    [
        ([_seg(1, 0, 4), _end(1, 4)], "segment 1 found where segment 0"),
        ([_seg(0, 3, 4), _end(1, 4)], "starts at frame 3"),
        ([_seg(0, 0, 5), _end(1, 5)], "has 5 frames"),
        ([_seg(0, 0, 0), _end(1, 0)], "has 0 frames"),
        ([_seg(0, 0, 4), _end(2, 4)], "end chunk says 2 segments"),
        ([_seg(0, 0, 4)], "without an end chunk"),
        ([encode_chunk(GHDR, HEADER.encode()), _end(0, 0)], "second sequence header"),
        ([encode_chunk(GEND, b"\0")], "GEND\\) too short"),
        ([encode_chunk(GSEG, b"\0" * 5), _end(1, 4)], "too short"),
        ([encode_chunk(b"gmet", b"\x05\x00"), _end(0, 0)], "metadata"),
        ([encode_chunk(GIDX, b"\x01\0\0\0"), _end(0, 0)], "index chunk"),
    ],
)
def test_structure_violations(chunks: list[bytes], match: str) -> None:
    with pytest.raises(StreamError, match=match):
        read_all(io.BytesIO(_stream_with(chunks)))


def test_first_chunk_must_be_header() -> None:
    with pytest.raises(StreamError, match="expected GHDR"):
        GsvReader(io.BytesIO(SIGNATURE + _end(0, 0)))
    with pytest.raises(StreamError, match="no sequence header"):
        GsvReader(io.BytesIO(SIGNATURE))


def test_header_frame_count_checked_against_end() -> None:
    header = SequenceHeader(64, 48, 8, Fraction(25), 4)
    data = SIGNATURE + encode_chunk(GHDR, header.encode()) + _seg(0, 0, 4) + _end(1, 4)
    with pytest.raises(StreamError, match="declares 8 frames"):
        read_all(io.BytesIO(data))


def test_metadata_round_trip_and_limits() -> None:
    meta = {"encoder": "gscodec 0.1", "lambda": "0.004", "ünïcode": "✓"}
    reader, _ = read_all(io.BytesIO(make_stream(meta)))
    assert reader.metadata == meta
    bad = encode_chunk(b"gmet", struct.pack("<H", 1000))
    with pytest.raises(LimitError):
        read_all(io.BytesIO(_stream_with([bad, _end(0, 0)])))
    assert encode_metadata({}) == b"\0\0"


def test_index_seeking(tmp_path: Path) -> None:
    path = tmp_path / "s.gsv"
    path.write_bytes(make_stream())
    header, entries = read_index(path)
    assert header.frame_count == 10
    assert [(e.first_frame, e.frame_count) for e in entries] == [(0, 4), (4, 4), (8, 2)]
    assert read_segment_at(path, entries[2]).payload == PAYLOADS[2]


def test_index_fallback_scan_without_index(tmp_path: Path) -> None:
    path = tmp_path / "s.gsv"
    path.write_bytes(_stream_with([_seg(0, 0, 4, b"p"), _end(1, 4)]))
    _, entries = read_index(path)
    assert [(e.first_frame, e.frame_count) for e in entries] == [(0, 4)]
    assert read_segment_at(path, entries[0]).payload == b"p"


def test_chunk_reader_resume_reads_mid_stream() -> None:
    data = make_stream()
    at = chunk_offsets(data)[1]
    f = io.BytesIO(data)
    f.seek(at)
    chunk = ChunkReader.resume(f, at).read_chunk()
    assert chunk is not None and chunk.type == GSEG and chunk.offset == at

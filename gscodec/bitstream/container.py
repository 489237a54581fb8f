"""The .gsv container: sequence header, segments, end chunk, optional index (format_spec.md).

Chunk order in a stream::

    SIGNATURE  GHDR  [ancillary]*  (GSEG [ancillary]*)*  [gidx]  GEND

Every integer is little-endian. Field names are those of format_spec.md.
"""

from __future__ import annotations

import errno
import os
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, NoReturn

from gscodec.bitstream.chunks import SIGNATURE, Chunk, ChunkReader, encode_chunk
from gscodec.errors import InputError, LimitError, RuntimeFailure, StreamError, UnsupportedError

VERSION_MAJOR = 1
VERSION_MINOR = 0

# Chunk types (format_spec.md, "Chunk types").
GHDR = b"GHDR"
GSEG = b"GSEG"
GEND = b"GEND"
GIDX = b"gidx"
GMET = b"gmet"

# Profiles (format_spec.md, "Profiles"). An explicit table: ids never come from dict order.
PROFILE_RAW = 0
PROFILE_CODED = 1
PROFILES: dict[int, str] = {PROFILE_RAW: "raw", PROFILE_CODED: "coded"}

# Limits a decoder enforces (format_spec.md, "Limits").
MAX_DIMENSION = 16384
MAX_FRAMES = (1 << 31) - 1
MAX_SEGMENT_FRAMES = 65535
MAX_SEGMENTS = 1 << 24
MAX_METADATA_ENTRIES = 256

_HEADER = struct.Struct("<BBBBIIIIIBBBBII")
_SEGMENT_HEAD = struct.Struct("<III")
_END = struct.Struct("<IIQ")
_INDEX_ENTRY = struct.Struct("<QII")


@dataclass(frozen=True)
class ColourDescription:
    """Colour description with ITU-T H.273 code points. The default is sRGB, full range, RGB."""

    colour_primaries: int = 1  # BT.709 / sRGB
    transfer_characteristics: int = 13  # sRGB (IEC 61966-2-1)
    matrix_coefficients: int = 0  # identity: samples are R, G, B
    full_range: int = 1


@dataclass(frozen=True)
class SequenceHeader:
    """Payload of the GHDR chunk."""

    width: int
    height: int
    frame_count: int  # 0 = not known when the header was written; GEND carries the total
    frame_rate: Fraction
    segment_frames: int  # nominal frames per segment; the last segment may be shorter
    profile: int = PROFILE_RAW
    colour: ColourDescription = field(default_factory=ColourDescription)
    segment_count: int = 0  # 0 = not known when the header was written
    version_major: int = VERSION_MAJOR
    version_minor: int = VERSION_MINOR

    def encode(self) -> bytes:
        c = self.colour
        return _HEADER.pack(
            self.version_major,
            self.version_minor,
            self.profile,
            0,
            self.width,
            self.height,
            self.frame_count,
            self.frame_rate.numerator,
            self.frame_rate.denominator,
            c.colour_primaries,
            c.transfer_characteristics,
            c.matrix_coefficients,
            c.full_range,
            self.segment_frames,
            self.segment_count,
        )

    @classmethod
    def decode(cls, payload: bytes) -> SequenceHeader:
        if len(payload) < 2:
            raise StreamError("corrupt stream: sequence header (GHDR) too short")
        major, minor = payload[0], payload[1]
        if major != VERSION_MAJOR:
            raise UnsupportedError(
                f"unsupported .gsv version {major}.{minor}: this decoder reads version {VERSION_MAJOR}.x"
            )
        if len(payload) < _HEADER.size:
            raise StreamError(f"corrupt stream: sequence header (GHDR) has {len(payload)} bytes, needs {_HEADER.size}")
        # A later minor version may append fields: they are ignored (format_spec.md, "Versioning").
        (
            _,
            _,
            profile,
            reserved,
            width,
            height,
            frame_count,
            rate_num,
            rate_den,
            primaries,
            transfer,
            matrix,
            full_range,
            segment_frames,
            segment_count,
        ) = _HEADER.unpack_from(payload)
        if profile not in PROFILES:
            raise UnsupportedError(f"unsupported profile {profile} (this decoder knows {sorted(PROFILES)})")
        if not (1 <= width <= MAX_DIMENSION and 1 <= height <= MAX_DIMENSION):
            raise LimitError(f"frame size {width}x{height} outside 1..{MAX_DIMENSION}")
        if frame_count > MAX_FRAMES:
            raise LimitError(f"frame count {frame_count} exceeds {MAX_FRAMES}")
        if rate_num == 0 or rate_den == 0:
            raise StreamError(f"corrupt stream: frame rate {rate_num}/{rate_den}")
        if not 1 <= segment_frames <= MAX_SEGMENT_FRAMES:
            raise StreamError(f"corrupt stream: segment_frames {segment_frames} outside 1..{MAX_SEGMENT_FRAMES}")
        if segment_count > MAX_SEGMENTS:
            raise LimitError(f"segment count {segment_count} exceeds {MAX_SEGMENTS}")
        if full_range > 1:
            raise StreamError(f"corrupt stream: full_range flag {full_range}")
        del reserved  # reserved: written 0, ignored by decoders
        return cls(
            width=width,
            height=height,
            frame_count=frame_count,
            frame_rate=Fraction(rate_num, rate_den),
            segment_frames=segment_frames,
            profile=profile,
            colour=ColourDescription(primaries, transfer, matrix, full_range),
            segment_count=segment_count,
            version_major=major,
            version_minor=minor,
        )


@dataclass(frozen=True)
class Segment:
    """A GSEG chunk: which frames it covers and its profile-defined payload."""

    segment_index: int
    first_frame: int
    frame_count: int
    payload: bytes
    offset: int = -1  # byte offset of the chunk in the stream, when read

    def encode(self) -> bytes:
        return _SEGMENT_HEAD.pack(self.segment_index, self.first_frame, self.frame_count) + self.payload

    @classmethod
    def decode(cls, chunk: Chunk) -> Segment:
        if len(chunk.payload) < _SEGMENT_HEAD.size:
            raise StreamError(f"corrupt stream: segment chunk at byte {chunk.offset} too short")
        index, first, count = _SEGMENT_HEAD.unpack_from(chunk.payload)
        return cls(index, first, count, chunk.payload[_SEGMENT_HEAD.size :], chunk.offset)

    @property
    def chunk_size(self) -> int:
        """Bytes the segment's chunk takes in the file."""
        return 12 + _SEGMENT_HEAD.size + len(self.payload)


@dataclass(frozen=True)
class IndexEntry:
    """One row of the gidx chunk: where a segment's chunk starts and the frames it covers."""

    offset: int
    first_frame: int
    frame_count: int


def encode_metadata(entries: dict[str, str]) -> bytes:
    """gmet payload: entry count u16, then (key_len u16, key, value_len u32, value) in UTF-8."""
    out = [struct.pack("<H", len(entries))]
    for key in sorted(entries):
        k, v = key.encode(), entries[key].encode()
        out += [struct.pack("<H", len(k)), k, struct.pack("<I", len(v)), v]
    return b"".join(out)


def decode_metadata(payload: bytes) -> dict[str, str]:
    """Inverse of :func:`encode_metadata`; raises StreamError on malformed data."""
    try:
        (count,) = struct.unpack_from("<H", payload, 0)
        if count > MAX_METADATA_ENTRIES:
            raise LimitError(f"metadata chunk has {count} entries, more than {MAX_METADATA_ENTRIES}")
        pos, out = 2, {}
        for _ in range(count):
            (klen,) = struct.unpack_from("<H", payload, pos)
            key = payload[pos + 2 : pos + 2 + klen]
            pos += 2 + klen
            (vlen,) = struct.unpack_from("<I", payload, pos)
            value = payload[pos + 4 : pos + 4 + vlen]
            if len(key) != klen or len(value) != vlen:
                raise StreamError("corrupt stream: metadata entry runs past its chunk")
            pos += 4 + vlen
            out[key.decode()] = value.decode()
        return out
    except (struct.error, UnicodeDecodeError) as exc:
        raise StreamError(f"corrupt stream: malformed metadata chunk ({exc})") from None


class GsvReader:
    """Reads a .gsv stream chunk by chunk; works on pipes. Holds one segment at a time.

    Usage::

        reader = GsvReader(stream)
        reader.header            # SequenceHeader
        for segment in reader.segments(): ...
        reader.end               # (segment_count, frame_count) once the GEND chunk was read
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._chunks = ChunkReader(stream)
        first = self._chunks.read_chunk()
        if first is None:
            raise StreamError("truncated stream: no sequence header after the signature")
        if first.type != GHDR:
            raise StreamError(f"corrupt stream: first chunk is {first.type.decode()}, expected GHDR")
        self.header = SequenceHeader.decode(first.payload)
        self.metadata: dict[str, str] = {}
        self.index: list[IndexEntry] | None = None
        self.end: tuple[int, int] | None = None
        self.unknown_ancillary: list[str] = []
        self._consumed = False

    def segments(self) -> Iterator[Segment]:
        """Yield the segments in stream order, validating their sequence; stops after GEND."""
        if self._consumed:
            raise RuntimeError("segments() can be iterated once")
        self._consumed = True
        expected_index, expected_first = 0, 0
        for chunk in self._chunks:
            if chunk.type == GSEG:
                seg = Segment.decode(chunk)
                if seg.segment_index != expected_index:
                    raise StreamError(
                        f"corrupt stream: segment {seg.segment_index} found where segment {expected_index} was expected"
                    )
                if seg.first_frame != expected_first:
                    raise StreamError(
                        f"corrupt stream: segment {seg.segment_index} starts at frame {seg.first_frame}, "
                        f"expected {expected_first}"
                    )
                if not 1 <= seg.frame_count <= self.header.segment_frames:
                    raise StreamError(
                        f"corrupt stream: segment {seg.segment_index} has {seg.frame_count} frames "
                        f"(1..{self.header.segment_frames} allowed)"
                    )
                if self.header.frame_count and expected_first + seg.frame_count > self.header.frame_count:
                    raise StreamError(
                        f"corrupt stream: segment {seg.segment_index} runs past the {self.header.frame_count} frames "
                        "the header declares"
                    )
                if expected_index >= MAX_SEGMENTS:
                    raise LimitError(f"more than {MAX_SEGMENTS} segments")
                expected_index += 1
                expected_first += seg.frame_count
                yield seg
            elif chunk.type == GEND:
                if len(chunk.payload) < _END.size:
                    raise StreamError("corrupt stream: end chunk (GEND) too short")
                seg_count, frame_count, _index_offset = _END.unpack_from(chunk.payload)
                if seg_count != expected_index or frame_count != expected_first:
                    raise StreamError(
                        f"corrupt stream: end chunk says {seg_count} segments / {frame_count} frames, "
                        f"the stream holds {expected_index} / {expected_first}"
                    )
                if self.header.frame_count and frame_count != self.header.frame_count:
                    raise StreamError(
                        f"truncated stream: header declares {self.header.frame_count} frames, stream ends after "
                        f"{frame_count}"
                    )
                self.end = (seg_count, frame_count)
                return
            elif chunk.type == GHDR:
                raise StreamError(f"corrupt stream: second sequence header at byte {chunk.offset}")
            elif chunk.type == GIDX:
                self.index = decode_index(chunk.payload)
            elif chunk.type == GMET:
                self.metadata.update(decode_metadata(chunk.payload))
            elif chunk.critical:
                raise UnsupportedError(
                    f"unknown critical chunk {chunk.type.decode()!r} at byte {chunk.offset}: "
                    "the stream needs a newer decoder"
                )
            else:
                self.unknown_ancillary.append(chunk.type.decode())  # skipped, as the spec says
        raise StreamError(
            f"truncated stream: ended after {expected_index} segments ({expected_first} frames) without an end chunk"
        )


def decode_index(payload: bytes) -> list[IndexEntry]:
    if len(payload) < 4:
        raise StreamError("corrupt stream: index chunk too short")
    (count,) = struct.unpack_from("<I", payload)
    if count > MAX_SEGMENTS or len(payload) != 4 + count * _INDEX_ENTRY.size:
        raise StreamError("corrupt stream: index chunk size does not match its entry count")
    return [IndexEntry(*_INDEX_ENTRY.unpack_from(payload, 4 + i * _INDEX_ENTRY.size)) for i in range(count)]


def encode_index(entries: list[IndexEntry]) -> bytes:
    return struct.pack("<I", len(entries)) + b"".join(
        _INDEX_ENTRY.pack(e.offset, e.first_frame, e.frame_count) for e in entries
    )


class GsvWriter:
    """Writes a .gsv stream segment by segment.

    To a path, the stream goes to a temporary file beside it that is renamed into place by
    :meth:`close` (or on a clean exit from the ``with`` block); on an error the temporary is
    removed, so no partial file is ever left. When the output is seekable, the header's
    frame and segment counts are filled in at the end.
    """

    def __init__(self, dest: str | os.PathLike[str] | BinaryIO, header: SequenceHeader,
                 metadata: dict[str, str] | None = None) -> None:
        self._path: Path | None = None
        self._tmp: str | None = None
        self._closed = False
        if isinstance(dest, (str, os.PathLike)):
            self._path = Path(dest)
            try:
                fd, self._tmp = tempfile.mkstemp(prefix=f".{self._path.name}.", suffix=".part",
                                                 dir=self._path.parent or ".")
            except OSError as exc:
                folder = self._path.parent or Path(".")
                if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                    raise InputError(f"cannot write {dest}: folder {folder} is not writable "
                                     f"({_reason(exc)}); choose another output folder") from None
                raise RuntimeFailure(f"cannot create {dest}: {_reason(exc)}") from None
            self._stream: BinaryIO = os.fdopen(fd, "w+b")
        else:
            self._stream = dest
        self.header = header
        self._index: list[IndexEntry] = []
        self._frames = 0
        self._pos = 0
        self._write(SIGNATURE)
        self._header_pos = self._pos
        self._write(encode_chunk(GHDR, header.encode()))
        if metadata:
            self._write(encode_chunk(GMET, encode_metadata(metadata)))

    def _write(self, data: bytes) -> None:
        try:
            self._stream.write(data)
        except OSError as exc:
            self._fail(exc)
        self._pos += len(data)

    def _fail(self, exc: OSError) -> NoReturn:
        """An I/O error (a full disk, a device error): drop the temporary and say so in one line."""
        self.abort()
        where = self._path if self._path is not None else "the output"
        kept = "; nothing was written" if self._path is not None else ""
        raise RuntimeFailure(f"cannot write {where}: {_reason(exc)}{kept}") from None

    def write_segment(self, first_frame_count: int, payload: bytes) -> Segment:
        """Append the next segment (covering ``first_frame_count`` frames) and return it."""
        if not 1 <= first_frame_count <= self.header.segment_frames:
            raise ValueError(f"segment of {first_frame_count} frames; 1..{self.header.segment_frames} allowed")
        seg = Segment(len(self._index), self._frames, first_frame_count, payload, self._pos)
        self._index.append(IndexEntry(self._pos, self._frames, first_frame_count))
        self._write(encode_chunk(GSEG, seg.encode()))
        self._frames += first_frame_count
        return seg

    @property
    def bytes_written(self) -> int:
        return self._pos

    def close(self) -> None:
        """Write the index and end chunk, fix up the header if possible, and commit the file."""
        if self._closed:
            return
        self._closed = True
        if self.header.frame_count and self.header.frame_count != self._frames:
            self.abort()
            raise ValueError(f"header declares {self.header.frame_count} frames, {self._frames} were written")
        index_offset = self._pos
        self._write(encode_chunk(GIDX, encode_index(self._index)))
        self._write(encode_chunk(GEND, _END.pack(len(self._index), self._frames, index_offset)))
        try:
            if self._stream.seekable() and (self.header.frame_count == 0 or self.header.segment_count == 0):
                fixed = SequenceHeader(**{**self.header.__dict__, "frame_count": self._frames,
                                          "segment_count": len(self._index)})
                end = self._stream.tell()
                self._stream.seek(self._header_pos - self._pos + end)
                self._stream.write(encode_chunk(GHDR, fixed.encode()))
                self._stream.seek(end)
                self.header = fixed
            self._stream.flush()
            if self._path is not None and self._tmp is not None:
                os.fsync(self._stream.fileno())
                self._stream.close()
                os.replace(self._tmp, self._path)
                self._tmp = None
        except OSError as exc:
            self._fail(exc)

    def abort(self) -> None:
        """Drop the output: remove the temporary file (for a path)."""
        self._closed = True
        if self._tmp is not None:
            try:
                self._stream.close()  # may flush buffered bytes, and fail again on a full disk
            except OSError:
                pass
            try:
                os.unlink(self._tmp)
            except FileNotFoundError:
                pass
            self._tmp = None

    def __enter__(self) -> GsvWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _reason(exc: OSError) -> str:
    """A one-line reason from an OS error."""
    return exc.strerror or str(exc) or type(exc).__name__


def read_index(path: str | os.PathLike[str]) -> tuple[SequenceHeader, list[IndexEntry]]:
    """Seek-based access: read the header and the segment index of a .gsv file.

    Uses the GEND chunk at the end of the file (fixed size) to find the gidx chunk; if there
    is no index, falls back to scanning the chunks.
    """
    with open(path, "rb") as f:
        header = GsvReader(f).header
        f.seek(0, os.SEEK_END)
        size = f.tell()
        end_size = 12 + _END.size
        if size >= end_size:
            f.seek(size - end_size)
            tail = f.read(end_size)
            if tail[4:8] == GEND:
                _, _, index_offset = _END.unpack_from(tail, 8)
                if index_offset < size - end_size:
                    f.seek(index_offset)
                    head = f.read(8)
                    if len(head) == 8 and head[4:8] == GIDX:
                        f.seek(index_offset)
                        chunk = ChunkReader.resume(f, index_offset).read_chunk()
                        if chunk is not None:
                            return header, decode_index(chunk.payload)
        f.seek(0)
        reader2 = GsvReader(f)
        entries = [IndexEntry(s.offset, s.first_frame, s.frame_count) for s in reader2.segments()]
        return reader2.header, entries


def read_segment_at(path: str | os.PathLike[str], entry: IndexEntry) -> Segment:
    """Read the one segment an index entry points at (for seeking)."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if entry.offset > size:  # a u64 from the file: past the end, or beyond what seek() takes
            raise StreamError(f"corrupt stream: the index points at byte {entry.offset}, past the end of the file")
        f.seek(entry.offset)
        chunk = ChunkReader.resume(f, entry.offset).read_chunk()
    if chunk is None or chunk.type != GSEG:
        raise StreamError(f"corrupt stream: the index points at byte {entry.offset}, where no segment starts")
    seg = Segment.decode(chunk)
    if (seg.first_frame, seg.frame_count) != (entry.first_frame, entry.frame_count):
        raise StreamError(f"corrupt stream: index entry and segment at byte {entry.offset} disagree")
    return seg

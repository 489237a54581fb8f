"""Chunk framing of the .gsv container: signature, then chunks of length | type | payload | CRC-32.

Everything here is specified in format_spec.md ("Container"). A chunk is::

    chunk_length  u32 LE   number of payload bytes
    chunk_type    4 bytes  ASCII letters; first letter upper case = critical, lower case = ancillary
    payload       chunk_length bytes
    chunk_crc     u32 LE   CRC-32 (ISO-HDLC, as zlib.crc32) of chunk_type followed by payload

The reader works on any binary stream, seekable or not (a pipe), and checks every length
against :data:`MAX_CHUNK_LENGTH` before it reads. Payloads are read in bounded blocks, so a
stream that claims a huge chunk and then ends costs no more memory than it actually holds.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from gscodec.errors import LimitError, StreamError

SIGNATURE: bytes = b"\x89GSV\r\n\x1a\n"
"""Eight bytes: a high-bit byte (7-bit channels), the name, CR LF and LF (line-ending
conversion), and Ctrl-Z (stops a DOS ``type``), as in PNG."""

MAX_CHUNK_LENGTH: int = 1 << 30
"""A decoder refuses any chunk whose payload is longer than this (1 GiB)."""

_READ_BLOCK = 1 << 20
_HEAD = struct.Struct("<I4s")
_CRC = struct.Struct("<I")


@dataclass(frozen=True)
class Chunk:
    """One chunk as read from a stream. ``offset`` is the position of its length field."""

    type: bytes
    payload: bytes
    offset: int

    @property
    def critical(self) -> bool:
        return is_critical(self.type)

    @property
    def size(self) -> int:
        """Bytes the chunk takes in the file, framing included."""
        return len(self.payload) + 12


def is_critical(chunk_type: bytes) -> bool:
    """Critical chunk types start with an upper-case letter (bit 5 of the first byte clear)."""
    return (chunk_type[0] & 0x20) == 0


def valid_type(chunk_type: bytes) -> bool:
    """A chunk type is four ASCII letters (A-Z, a-z)."""
    return len(chunk_type) == 4 and all(65 <= c <= 90 or 97 <= c <= 122 for c in chunk_type)


def chunk_crc(chunk_type: bytes, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(chunk_type)) & 0xFFFFFFFF


def encode_chunk(chunk_type: bytes, payload: bytes) -> bytes:
    """Frame ``payload`` as a chunk of type ``chunk_type``."""
    if not valid_type(chunk_type):
        raise ValueError(f"invalid chunk type {chunk_type!r}")
    if len(payload) > MAX_CHUNK_LENGTH:
        raise ValueError(f"chunk payload of {len(payload)} bytes exceeds {MAX_CHUNK_LENGTH}")
    return _HEAD.pack(len(payload), chunk_type) + payload + _CRC.pack(chunk_crc(chunk_type, payload))


class ChunkReader:
    """Reads the signature, then chunk after chunk, from a binary stream (seekable or not)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.position = 0
        signature = self._read_exact(len(SIGNATURE), "the file signature", allow_eof=True)
        if signature is None or len(signature) == 0:
            raise StreamError("empty input: not a .gsv stream")
        if signature != SIGNATURE:
            if signature[1:4] == SIGNATURE[1:4]:
                raise StreamError(
                    "damaged .gsv signature (line endings or 8-bit characters were altered in transfer); "
                    "copy the file in binary mode"
                )
            raise StreamError("not a .gsv stream (bad signature)")

    @classmethod
    def resume(cls, stream: BinaryIO, position: int) -> ChunkReader:
        """A reader for a stream already positioned at a chunk boundary (``position``), for seeking."""
        reader = cls.__new__(cls)
        reader._stream = stream
        reader.position = position
        return reader

    def _read_exact(self, n: int, what: str, allow_eof: bool = False) -> bytes | None:
        """Read exactly ``n`` bytes in bounded blocks. At a clean end of stream, return None if allowed."""
        parts: list[bytes] = []
        got = 0
        while got < n:
            block = self._stream.read(min(n - got, _READ_BLOCK))
            if not block:
                break
            parts.append(block)
            got += len(block)
        data = b"".join(parts)
        self.position += got
        if got < n:
            if allow_eof and got == 0:
                return None
            raise StreamError(f"truncated stream: {what} at byte {self.position - got} needs {n} bytes, {got} left")
        return data

    def read_chunk(self) -> Chunk | None:
        """The next chunk, or None at a clean end of stream (no bytes left at a chunk boundary)."""
        offset = self.position
        head = self._read_exact(_HEAD.size, "a chunk header", allow_eof=True)
        if head is None:
            return None
        length, chunk_type = _HEAD.unpack(head)
        if not valid_type(chunk_type):
            raise StreamError(f"corrupt stream: invalid chunk type {chunk_type!r} at byte {offset}")
        if length > MAX_CHUNK_LENGTH:
            raise LimitError(
                f"chunk {chunk_type.decode()} at byte {offset} claims {length} bytes, more than the limit of "
                f"{MAX_CHUNK_LENGTH}"
            )
        payload = self._read_exact(length, f"the payload of chunk {chunk_type.decode()}")
        assert payload is not None
        crc_bytes = self._read_exact(_CRC.size, f"the CRC of chunk {chunk_type.decode()}")
        assert crc_bytes is not None
        (crc,) = _CRC.unpack(crc_bytes)
        if crc != chunk_crc(chunk_type, payload):
            raise StreamError(f"corrupt stream: CRC mismatch in chunk {chunk_type.decode()} at byte {offset}")
        return Chunk(chunk_type, payload, offset)

    def __iter__(self) -> Iterator[Chunk]:
        while True:
            chunk = self.read_chunk()
            if chunk is None:
                return
            yield chunk

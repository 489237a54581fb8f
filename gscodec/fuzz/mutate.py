"""Structure-aware mutation of .gsv streams and payloads, driven by a seeded numpy Generator.

Plain byte flips rarely get past a CRC-32, and the format has two layers of them (every chunk,
and the builtin and G-PCC geometry payloads inside a segment). So most mutations here parse
what they mutate, change a field, a chunk or a payload, and write it back with lengths and
CRCs fixed up, which lets them reach the checks behind the CRCs; a fraction of them leave a
CRC stale or a length wrong on purpose, and a fraction are plain byte havoc. All choices come
from one ``numpy.random.Generator``: a campaign with the same seed makes the same inputs.

The layers, outermost first (format_spec.md): stream (signature, chunks of length | type |
payload | CRC), chunk payloads (GHDR, GSEG, GEND, gidx, gmet fields), profile 0 segment
payloads (§8.1), profile 1 segment payloads (§16: head, step exponents, each channel's prior
network, size field and range-coded residuals), geometry payloads (§9: builtin with its inner
CRC, raw records, G-PCC header).
A new profile adds a payload mutator and an entry in :attr:`Mutator.payload`.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gscodec.bitstream.chunks import SIGNATURE, chunk_crc
from gscodec.bitstream.profile1 import HEAD as _P1_HEAD
from gscodec.bitstream.profile1 import MOTION_BIT as _P1_MOTION_BIT
from gscodec.bitstream.profile1 import MOTION_HEAD as _MOTION_HEAD
from gscodec.bitstream.profile1 import NUM_CHANNELS as _P1_CHANNELS
from gscodec.bitstream.profile1 import POSITION_FEATURES, MotionBlock, PriorNet

#: Values a length, count or dimension field often breaks on.
INTERESTING_32: tuple[int, ...] = (
    0, 1, 2, 3, 4, 7, 8, 12, 15, 16, 255, 256, 4095, 65535, 65536, 16383, 16384, 16385,
    (1 << 21) - 1, 1 << 21, (1 << 22) - 1, 1 << 22, (1 << 22) + 1, (1 << 24) - 1, 1 << 24, (1 << 24) + 1,
    (1 << 30) - 1, 1 << 30, (1 << 30) + 1, (1 << 31) - 1, 1 << 31, 0xFFFFFFFE, 0xFFFFFFFF,
)  # fmt: skip
INTERESTING_8: tuple[int, ...] = (0, 1, 2, 3, 7, 0x1F, 0x20, 0x40, 0x41, 0x5A, 0x61, 0x7A, 0x7F, 0x80, 0xFE, 0xFF)
#: float16 bit patterns: infinities, NaNs, the largest finite, subnormals, signed zero, big logs.
F16_SPECIAL: tuple[int, ...] = (
    0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFE00, 0x7BFF, 0xFBFF, 0x0001, 0x8001, 0x0400, 0x8000, 0x0000,
    0x3C00, 0xBC00, 0x4B00, 0xCB00, 0x5640, 0xD640, 0x4C00, 0x7800,
)  # fmt: skip
#: Chunk types to insert: the known ones, unknown ancillary and critical ones, invalid ones.
CHUNK_TYPES: tuple[bytes, ...] = (b"GHDR", b"GSEG", b"GEND", b"gidx", b"gmet", b"zzzz", b"ZZZZ", b"gSEG", b"GSEg",
                                  b"Gs3G", b"\x00\x00\x00\x00")

_U32 = struct.Struct("<I")
_GHDR_FIELDS = ((0, "<B"), (1, "<B"), (2, "<B"), (3, "<B"), (4, "<I"), (8, "<I"), (12, "<I"), (16, "<I"),
                (20, "<I"), (24, "<B"), (25, "<B"), (26, "<B"), (27, "<B"), (28, "<I"), (32, "<I"))
_GSEG_FIELDS = ((0, "<I"), (4, "<I"), (8, "<I"))
_GEND_FIELDS = ((0, "<I"), (4, "<I"), (8, "<Q"))
_P0_HEAD = struct.Struct("<IB3sI")
_OCTREE_FIELDS = ((5, "<I"), (9, "<i"), (13, "<i"), (17, "<i"), (21, "<I"), (25, "<I"), (29, "<I"), (33, "<B"))
_OCTREE_HEAD = 9  # format_version u8, crc32 u32, num_points u32
_MORTON_FIELDS = ((5, "<I"), (9, "<i"), (13, "<i"), (17, "<i"), (21, "<I"), (25, "<I"), (29, "<I"), (33, "<B"),
                  (34, "<B"), (35, "<B"))
_MORTON_HEAD = 36  # as the octree's header, the bounding box without flags, then three u8 leads
_GPCC_HEAD = struct.Struct("<BIiiiI")
_P1_FIELDS = ((0, "<I"), (4, "<B"), (5, "<B"), (6, "<B"), (7, "<B"), (8, "<H"), (10, "<H"), (12, "<I"))
_MOTION_FIELDS = ((0, "<H"), (2, "<B"), (3, "<B"), (4, "<h"), (6, "<h"), (8, "<h"))
_U16 = struct.Struct("<H")
#: int16 weight and int32 bias patterns a fixed-point network breaks on (overflow, sign, zero).
W16_SPECIAL: tuple[int, ...] = (0, 1, -1, 32767, -32767, -32768, 16384, -16384, 255, 256)
B32_SPECIAL: tuple[int, ...] = (0, 1, -1, (1 << 31) - 1, -(1 << 31), 1 << 30, -(1 << 30), 1 << 24, -(1 << 24), 8, -8)


def _net_size(c: int, hidden: int) -> int:
    """Bytes of channel c's prior network (format_spec.md §16.3)."""
    return PriorNet.size_for(POSITION_FEATURES + c, hidden)


@dataclass
class Profile1Parts:
    """A profile 1 payload cut into its parts, leniently (``tail``: bytes the head does not account for)."""

    head: list[int]
    geometry: bytes
    steps: bytes
    channels: list[tuple[int, bytes, bytes]]  # (channel, network bytes, residual data)
    tail: bytes
    motion: bytes = b""  # the motion block (§16.10), when the mask's bit 12 is set

    @classmethod
    def split(cls, payload: bytes) -> Profile1Parts | None:
        if len(payload) < _P1_HEAD.size:
            return None
        head = list(_P1_HEAD.unpack_from(payload))
        hidden, mask, gsize = head[4], head[5], head[7]
        pos = _P1_HEAD.size
        geometry = payload[pos : pos + gsize]
        pos += len(geometry)
        steps = payload[pos : pos + _P1_CHANNELS]
        pos += len(steps)
        motion = b""
        if mask & _P1_MOTION_BIT and pos + 2 <= len(payload):
            (frames,) = _U16.unpack_from(payload, pos)
            motion = payload[pos : pos + MotionBlock.size_for(frames)]
            pos += len(motion)
        channels = []
        for c in range(_P1_CHANNELS):
            if not mask >> c & 1:
                continue
            net = _net_size(c, hidden)
            if pos + net + 4 > len(payload):
                break
            (size,) = _U32.unpack_from(payload, pos + net)
            data = payload[pos + net + 4 : pos + net + 4 + size]
            channels.append((c, payload[pos : pos + net], data))
            pos += net + 4 + len(data)
        return cls(head, geometry, steps, channels, payload[pos:], motion)

    def join(self, fix: bool = True) -> bytes:
        """The payload; with ``fix``, the geometry size, channel mask and residual sizes made to match."""
        head = list(self.head)
        if fix:
            head[7] = len(self.geometry)
            head[5] = sum(1 << c for c, _, _ in self.channels if 0 <= c < 16) & 0xFFFF
            head[5] = head[5] | _P1_MOTION_BIT if self.motion else head[5] & ~_P1_MOTION_BIT
        parts = [_P1_HEAD.pack(*head), self.geometry, self.steps, self.motion]
        for _c, net, data in self.channels:
            parts += [net, _U32.pack(len(data)), data]
        return b"".join(parts) + self.tail


@dataclass
class Chunk:
    """A chunk as the mutator sees it: its type, its payload, and whether to write a valid CRC."""

    type: bytes
    payload: bytes
    good_crc: bool = True
    length: int | None = None  # None: the true payload length


def split_stream(data: bytes) -> tuple[bytes, list[Chunk], bytes]:
    """Leniently cut a stream into (signature, chunks, trailing bytes); never raises.

    A chunk whose length runs past the end, or any bytes after GEND, become the tail.
    """
    head = data[:8]
    chunks: list[Chunk] = []
    pos = 8
    while pos + 12 <= len(data):
        (length,) = _U32.unpack_from(data, pos)
        ctype = data[pos + 4 : pos + 8]
        if pos + 12 + length > len(data):
            break
        payload = data[pos + 8 : pos + 8 + length]
        (crc,) = _U32.unpack_from(data, pos + 8 + length)
        chunks.append(Chunk(ctype, payload, crc == chunk_crc(ctype, payload)))
        pos += 12 + length
        if ctype == b"GEND":
            break
    return head, chunks, data[pos:]


def join_stream(head: bytes, chunks: list[Chunk], tail: bytes) -> bytes:
    """Write chunks back, with true lengths and valid CRCs unless a chunk says otherwise."""
    out = [head]
    for c in chunks:
        length = len(c.payload) if c.length is None else c.length
        crc = chunk_crc(c.type, c.payload) if c.good_crc else chunk_crc(c.type, c.payload) ^ 0x5A5A5A5A
        out += [_U32.pack(length & 0xFFFFFFFF), c.type, c.payload, _U32.pack(crc)]
    out.append(tail)
    return b"".join(out)


class Mutator:
    """Makes mutants of seeds. ``donor(kind)`` returns another input of that kind, for splicing."""

    def __init__(self, rng: np.random.Generator, donor: Callable[[str], bytes] | None = None) -> None:
        self.rng = rng
        self._donor = donor
        self.payload: dict[str, Callable[[bytes], bytes]] = {
            "stream": self.stream,
            "profile0": self.profile0,
            "profile1": self.profile1,
            "builtin": self.builtin,
            "morton": self.morton,
            "raw": self.raw,
            "gpcc": self.gpcc,
        }

    # -- small helpers ---------------------------------------------------------------------------

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def pick(self, seq: tuple | list):  # noqa: ANN201 - any element type
        return seq[int(self.rng.integers(len(seq)))]

    def below(self, n: int) -> int:
        """A random integer in [0, n), 0 when n <= 0."""
        return int(self.rng.integers(n)) if n > 0 else 0

    def donor(self, kind: str) -> bytes:
        return self._donor(kind) if self._donor is not None else b""

    def u32(self) -> int:
        """An interesting 32-bit value, sometimes a random one or a small one."""
        r = self.rng.random()
        if r < 0.6:
            return self.pick(INTERESTING_32)
        if r < 0.8:
            return self.below(64)
        return int(self.rng.integers(1 << 32))

    def edit_field(self, data: bytes, fields: tuple[tuple[int, str], ...]) -> bytes:
        """Set one fixed-layout field (offset, struct format) to an interesting or nearby value."""
        usable = [(o, f) for o, f in fields if o + struct.calcsize(f) <= len(data)]
        if not usable:
            return self.havoc(data)
        off, fmt = self.pick(usable)
        size = struct.calcsize(fmt)
        (old,) = struct.unpack_from(fmt, data, off)
        bits = 8 * size
        r = self.rng.random()
        if r < 0.45:
            new = self.u32() if size >= 4 else self.pick(INTERESTING_8)
        elif r < 0.8:
            new = old + int(self.rng.integers(-3, 4))
        else:
            new = int(self.rng.integers(1 << min(bits, 63)))
        if fmt[-1].islower():  # signed
            new = ((new + (1 << (bits - 1))) % (1 << bits)) - (1 << (bits - 1))
        else:
            new %= 1 << bits
        return data[:off] + struct.pack(fmt, new) + data[off + size :]

    # -- byte havoc -------------------------------------------------------------------------------

    def havoc(self, data: bytes, rounds: int | None = None) -> bytes:
        """Generic byte mutations, stacked: flips, interesting values, insertions, deletions, splices."""
        buf = bytearray(data)
        for _ in range(rounds if rounds is not None else 1 + self.below(4)):
            op = self.below(10)
            n = len(buf)
            if op == 0 and n:
                buf[self.below(n)] ^= 1 << self.below(8)
            elif op == 1 and n:
                buf[self.below(n)] = self.pick(INTERESTING_8)
            elif op == 2 and n >= 4:
                at = self.below(n - 3)
                buf[at : at + 4] = _U32.pack(self.u32())
            elif op == 3 and n:
                at = self.below(n)
                buf[at] = (buf[at] + int(self.rng.integers(-16, 17))) & 0xFF
            elif op == 4:
                at = self.below(n + 1)
                buf[at:at] = self.rng.integers(0, 256, 1 + self.below(16), dtype=np.uint8).tobytes()
            elif op == 5 and n:
                at = self.below(n)
                del buf[at : at + 1 + self.below(min(64, n - at))]
            elif op == 6 and n:
                at = self.below(n)
                size = 1 + self.below(min(64, n - at))
                buf[at:at] = buf[at : at + size]
            elif op == 7 and n:
                buf = buf[: self.below(n)]
            elif op == 8:
                other = self.donor("stream")
                if other:
                    a = self.below(len(other))
                    piece = other[a : a + 1 + self.below(256)]
                    at = self.below(n + 1)
                    buf[at : at + self.below(len(piece) + 1)] = piece
            elif op == 9 and n >= 2:
                a, b = sorted((self.below(n), self.below(n)))
                buf[a:b] = bytes(reversed(buf[a:b]))
        return bytes(buf)

    # -- streams ----------------------------------------------------------------------------------

    def stream(self, data: bytes) -> bytes:
        """Mutate a whole stream: mostly chunk- and field-aware with CRCs fixed, sometimes raw havoc."""
        if self.chance(0.12):
            return self.havoc(data)
        head, chunks, tail = split_stream(data)
        for _ in range(1 + self.below(3)):
            chunks, tail = self._stream_op(chunks, tail)
        if self.chance(0.02):
            head = self.havoc(head, 1)
        out = join_stream(head, chunks, tail)
        if self.chance(0.05):
            out = out[: self.below(len(out) + 1)]  # truncation anywhere, a pipe that broke
        return out

    def _stream_op(self, chunks: list[Chunk], tail: bytes) -> tuple[list[Chunk], bytes]:
        chunks = list(chunks)
        op = self.below(100)
        if not chunks:
            op = 90
        if op < 40:  # the payload of a segment
            segs = [i for i, c in enumerate(chunks) if c.type == b"GSEG"] or list(range(len(chunks)))
            i = self.pick(segs)
            c = chunks[i]
            if c.type == b"GSEG" and len(c.payload) >= 12 and self.chance(0.8):
                inner = self.profile1 if stream_profile(chunks) == 1 else self.profile0
                payload = c.payload[:12] + inner(c.payload[12:])
            else:
                payload = self.edit_field(c.payload, _GSEG_FIELDS)
            chunks[i] = Chunk(c.type, payload)
        elif op < 62:  # a field of a known chunk
            i = self.below(len(chunks))
            c = chunks[i]
            layout = {b"GHDR": _GHDR_FIELDS, b"GSEG": _GSEG_FIELDS, b"GEND": _GEND_FIELDS}.get(c.type)
            if layout is not None:
                payload = self.edit_field(c.payload, layout)
            elif c.type == b"gidx":
                payload = self._index(c.payload)
            elif c.type == b"gmet":
                payload = self._metadata(c.payload)
            else:
                payload = self.havoc(c.payload)
            chunks[i] = Chunk(c.type, payload)
        elif op < 70:  # drop, duplicate, swap or move chunks
            i, j = self.below(len(chunks)), self.below(len(chunks))
            what = self.below(4)
            if what == 0:
                del chunks[i]
            elif what == 1:
                chunks.insert(j, chunks[i])
            elif what == 2:
                chunks[i], chunks[j] = chunks[j], chunks[i]
            else:
                chunks.insert(j, chunks.pop(i))
        elif op < 78:  # a chunk from another stream
            _, other, _ = split_stream(self.donor("stream"))
            if other:
                chunks.insert(self.below(len(chunks) + 1), self.pick(other))
        elif op < 84:  # a new chunk of some type
            payload = self.rng.integers(0, 256, self.below(48), dtype=np.uint8).tobytes()
            chunks.insert(self.below(len(chunks) + 1), Chunk(self.pick(CHUNK_TYPES), payload))
        elif op < 88:  # a chunk type's letters
            i = self.below(len(chunks))
            c = chunks[i]
            t = bytearray(c.type)
            t[self.below(4)] ^= 0x20 if self.chance(0.7) else 1 << self.below(8)
            chunks[i] = Chunk(bytes(t), c.payload)
        elif op < 92:  # a stale CRC or a lying length
            i = self.below(len(chunks)) if chunks else 0
            if chunks:
                c = chunks[i]
                if self.chance(0.5):
                    chunks[i] = Chunk(c.type, c.payload, good_crc=False)
                else:
                    chunks[i] = Chunk(c.type, c.payload, length=self.u32())
        elif op < 96:  # the bytes after the chunks
            tail = self.havoc(tail) if tail and self.chance(0.5) else tail + self.rng.integers(
                0, 256, self.below(32), dtype=np.uint8).tobytes()
        else:  # payload havoc in any chunk
            i = self.below(len(chunks))
            c = chunks[i]
            chunks[i] = Chunk(c.type, self.havoc(c.payload))
        return chunks, tail

    def _index(self, payload: bytes) -> bytes:
        """Mutate a gidx payload: its count, an entry's fields, whole entries."""
        r = self.below(4)
        if r == 0 or len(payload) < 20:
            return self.edit_field(payload, ((0, "<I"),))
        entry = 4 + 16 * self.below((len(payload) - 4) // 16)
        if r == 1:
            return payload[:entry] + self.edit_field(payload[entry : entry + 16], ((0, "<Q"), (8, "<I"), (12, "<I"))) \
                + payload[entry + 16 :]
        if r == 2:
            return payload[:entry] + payload[entry + 16 :]
        return payload + payload[entry : entry + 16]

    def _metadata(self, payload: bytes) -> bytes:
        """Mutate a gmet payload: counts, lengths, UTF-8, or key/value text a file system would care about."""
        r = self.below(3)
        if r == 0:
            return self.edit_field(payload, ((0, "<H"),))
        if r == 1:
            key = self.pick((b"../../escape", b"/etc/passwd", b"frame_0001.png", b"\xff\xfe", b"a" * 300, b""))
            value = self.pick((b"../x", b"\x00\x01", b"\xc3\x28", b"v" * 1000, b""))
            return (struct.pack("<H", 1) + struct.pack("<H", len(key)) + key + _U32.pack(len(value)) + value)
        return self.havoc(payload)

    # -- profile 0 payloads -----------------------------------------------------------------------

    def profile0(self, payload: bytes) -> bytes:
        """Mutate a profile 0 payload: counts with the attribute bytes fixed up, geometry, float16 values."""
        if len(payload) < _P0_HEAD.size or self.chance(0.08):
            return self.havoc(payload)
        n, codec, reserved, gsize = _P0_HEAD.unpack_from(payload)
        geometry = payload[_P0_HEAD.size : _P0_HEAD.size + gsize]
        attrs = payload[_P0_HEAD.size + gsize :]
        op = self.below(100)
        fix_size = self.chance(0.9)
        if op < 40:  # the geometry, in its codec's terms
            kind = {0: "builtin", 1: "gpcc", 2: "raw", 4: "morton"}.get(codec, "builtin")
            geometry = self.payload[kind](geometry)
            if kind == "raw" and self.chance(0.5):  # keep count and payload consistent
                n = len(geometry) // 12
                attrs = self._fit_attributes(attrs, n)
        elif op < 55:  # the Gaussian count, with attribute bytes to match (usually)
            n = self.u32() if self.chance(0.5) else max(0, n + int(self.rng.integers(-2, 3)))
            n %= 1 << 32
            if self.chance(0.8):
                attrs = self._fit_attributes(attrs, n)
        elif op < 62:
            codec = self.pick((0, 1, 2, 3, 4, 7, 255))
        elif op < 66:
            reserved = bytes(self.rng.integers(0, 256, 3, dtype=np.uint8))
        elif op < 72:
            gsize = self.u32()
            fix_size = False
        elif op < 92:  # float16 attribute values
            attrs = self._float16(attrs)
        else:  # geometry from another payload (and its count)
            other = self.donor("profile0")
            if len(other) >= _P0_HEAD.size:
                on, ocodec, _, og = _P0_HEAD.unpack_from(other)
                codec, geometry = ocodec, other[_P0_HEAD.size : _P0_HEAD.size + og]
                if self.chance(0.7):
                    n, attrs = on, self._fit_attributes(attrs, on)
        if fix_size:
            gsize = len(geometry)
        return _P0_HEAD.pack(n, codec, reserved, gsize) + geometry + attrs

    def _fit_attributes(self, attrs: bytes, n: int) -> bytes:
        """Attribute bytes for n Gaussians (30 each): cut, or extended with plausible float16 values."""
        want = 30 * n
        if want > 1 << 24:  # do not build huge inputs; the count stays, the bytes do not match
            return attrs
        if len(attrs) >= want:
            return attrs[:want]
        extra = (want - len(attrs)) // 2
        values = self.rng.normal(0.0, 1.0, extra).astype("<f2").tobytes()
        return attrs + values

    def _float16(self, attrs: bytes) -> bytes:
        """Set float16 values: specials (NaN, infinities), big logs (huge or tiny splats), random finite ones."""
        arr = bytearray(attrs)
        count = len(arr) // 2
        if not count:
            return attrs
        for _ in range(1 + self.below(4)):
            i = self.below(count)
            r = self.rng.random()
            if r < 0.5:
                value = self.pick(F16_SPECIAL)
            elif r < 0.8:
                value = int(np.array(self.rng.normal(0.0, 8.0), dtype="<f2").view("<u2"))
            else:
                value = int(self.rng.integers(1 << 16))
            arr[2 * i : 2 * i + 2] = struct.pack("<H", value)
        return bytes(arr)

    # -- profile 1 payloads -----------------------------------------------------------------------

    def _motion(self, block: bytes) -> bytes:
        """A motion block (format_spec.md §16.10) mutated: a new one, none, a head field at a boundary, path
        words changed, or cut short."""
        if not block or self.chance(0.15):
            frames = self.pick((1, 2, 3, 4, 32, 0, 65535))
            head = _MOTION_HEAD.pack(frames, self.pick((0, 8, 15, 16, 255)), self.pick((0, 12, 15, 16)),
                                     *(int(v) for v in self.rng.integers(-32768, 32768, 3)))
            return head + self.rng.integers(0, 256, 4 * min(frames, 64), dtype=np.uint8).tobytes()
        what = self.below(4)
        if what == 0:
            return b""
        if what == 1:
            return self.edit_field(block[:_MOTION_HEAD.size], _MOTION_FIELDS) + block[_MOTION_HEAD.size :]
        if what == 2:
            data = bytearray(block)
            i = self.below(len(data))
            data[i] = self.pick((0, 0x7F, 0x80, 0xFF))
            return bytes(data)
        return block[: self.below(len(block))]

    def profile1(self, payload: bytes) -> bytes:
        """Mutate a profile 1 payload part by part, with sizes and the channel mask fixed up (usually).

        Head fields at boundary values; the geometry in its codec's terms; step exponents; a prior
        network's shifts, weights and biases (int16/int32 extremes, overflow-prone values); a
        channel's residual words (flipped, replaced, inserted, deleted, truncated, swapped with
        another channel's or spliced from another payload); channels dropped, duplicated or added.
        """
        parts = Profile1Parts.split(payload)
        if parts is None or self.chance(0.06):
            return self.havoc(payload)
        fix = self.chance(0.9)
        op = self.below(100)
        if op < 16:  # a head field
            head = self.edit_field(_P1_HEAD.pack(*parts.head), _P1_FIELDS)
            parts.head = list(_P1_HEAD.unpack(head))
            fix = fix and self.chance(0.5)  # a changed mask or size must sometimes survive
        elif op < 30:  # the geometry, in its codec's terms (and the count with it, sometimes)
            kind = {0: "builtin", 1: "gpcc", 2: "raw", 4: "morton"}.get(parts.head[1], "builtin")
            parts.geometry = self.payload[kind](parts.geometry)
            if kind == "raw" and self.chance(0.5):
                parts.head[0] = len(parts.geometry) // 12
        elif op < 36 and self.chance(0.4):  # the motion block: added, dropped, a field or the path changed
            parts.motion = self._motion(parts.motion)
        elif op < 36:  # step exponents
            steps = bytearray(parts.steps)
            if steps:
                steps[self.below(len(steps))] = self.pick((0, 1, 0x7F, 0x80, 0x81, 0xFF, 0x40, 0xC0))
            parts.steps = bytes(steps)
        elif op < 56 and parts.channels:  # a prior network
            i = self.below(len(parts.channels))
            c, net, data = parts.channels[i]
            parts.channels[i] = (c, self._network(net, parts.head[4]), data)
        elif op < 80 and parts.channels:  # residual words
            i = self.below(len(parts.channels))
            c, net, data = parts.channels[i]
            parts.channels[i] = (c, net, self._words(data))
        elif op < 88 and parts.channels:  # whole channels
            chans = list(parts.channels)
            what = self.below(4)
            i = self.below(len(chans))
            if what == 0:
                del chans[i]
            elif what == 1 and len(chans) >= 2:
                j = self.below(len(chans))
                (ci, ni, di), (cj, nj, dj) = chans[i], chans[j]
                chans[i], chans[j] = (ci, ni, dj), (cj, nj, di)  # residuals under the other channel's model
            elif what == 2:
                chans.insert(i, chans[i])  # the mask cannot say it: the payload runs long
            else:
                free = [c for c in range(_P1_CHANNELS) if c not in {x[0] for x in chans}]
                if free:
                    c = self.pick(free)
                    net = self.rng.integers(0, 256, _net_size(c, parts.head[4]), dtype=np.uint8).tobytes()
                    chans.append((c, net, b""))
                    chans.sort(key=lambda x: x[0])
            parts.channels = chans
        elif op < 94:  # the Gaussian count alone
            count = self.u32() if self.chance(0.5) else parts.head[0] + int(self.rng.integers(-2, 3))
            parts.head[0] = count % (1 << 32)
        else:  # a part from another payload: its geometry and count, or a channel's residuals
            other = Profile1Parts.split(self.donor("profile1"))
            if other is not None:
                if self.chance(0.5) or not (other.channels and parts.channels):
                    parts.head[0], parts.head[1], parts.geometry = other.head[0], other.head[1], other.geometry
                else:
                    i = self.below(len(parts.channels))
                    c, net, _ = parts.channels[i]
                    parts.channels[i] = (c, net, self.pick(other.channels)[2])
        if self.chance(0.03):
            parts.tail += bytes(1 + self.below(8))
        return parts.join(fix)

    def _network(self, net: bytes, hidden: int) -> bytes:
        """One prior network with a shift, a weight or a bias set to a value fixed-point code breaks on."""
        buf = bytearray(net)
        shifts = 1 if hidden == 0 else 2
        if not buf:
            return net
        what = self.below(4)
        if what == 0:
            buf[self.below(min(shifts, len(buf)))] = self.pick((0, 1, 15, 16, 30, 31, 32, 63, 255))
        elif what == 1 and len(buf) > shifts + 1:  # an int16 (weights, or half a bias: both are worth it)
            at = shifts + 2 * self.below((len(buf) - shifts) // 2)
            buf[at : at + 2] = struct.pack("<h", self.pick(W16_SPECIAL))
        elif what == 2 and len(buf) >= 8:  # one of the last biases
            at = len(buf) - 4 * (1 + self.below(2))
            buf[at : at + 4] = struct.pack("<i", self.pick(B32_SPECIAL))
        else:
            buf = bytearray(self.havoc(bytes(buf), 1))
            buf = buf[: len(net)] + bytes(max(0, len(net) - len(buf)))  # keep the size: the layout is fixed
        return bytes(buf)

    def _words(self, data: bytes, burst: int = 2, partial: bool = True) -> bytes:
        """Range-coded words: a bit flipped, a word replaced, up to ``burst`` words inserted or deleted,
        truncated, (with ``partial``) a partial word, or byte havoc."""
        words = bytearray(data)
        n = len(words) // 4
        what = self.below(7 if partial else 6)
        if what == 0 and words:
            words[self.below(len(words))] ^= 1 << self.below(8)
        elif what == 1 and n:
            at = 4 * self.below(n)
            words[at : at + 4] = _U32.pack(self.pick((0, 0xFFFFFFFF, 1 << 24, (1 << 24) - 1, 1 << 31, self.u32())))
        elif what == 2:
            at = 4 * self.below(n + 1)
            words[at:at] = self.rng.integers(0, 256, 4 * (1 + self.below(burst)), dtype=np.uint8).tobytes()
        elif what == 3 and n:
            at = 4 * self.below(n)
            del words[at : at + 4 * (1 + self.below(burst))]
        elif what == 4:
            words = words[: 4 * self.below(n + 1)]
        elif what == 5 and partial:
            words += bytes(1 + self.below(3))  # not a whole number of words
        else:
            words = bytearray(self.havoc(bytes(words)))
        return bytes(words)

    # -- geometry payloads ------------------------------------------------------------------------

    def builtin(self, data: bytes) -> bytes:
        """Mutate a builtin (octree) payload: header fields or coded words, then fix the inner CRC (usually).

        The reference coder's CRC covers the bytes after num_points (format_spec.md §9.5.1)."""
        return self._octree_like(data, "builtin", _OCTREE_FIELDS, _OCTREE_HEAD + 25, crc_from=_OCTREE_HEAD)

    def morton(self, data: bytes) -> bytes:
        """Mutate a depth-first (codec 4) payload: header fields, leads or coded words, then fix its CRC (usually),
        which covers num_points and all that follows (format_spec.md §9.7.1)."""
        return self._octree_like(data, "morton", _MORTON_FIELDS, _MORTON_HEAD, crc_from=5)

    def _octree_like(self, data: bytes, kind: str, fields: tuple[tuple[int, str], ...], head: int,
                     crc_from: int) -> bytes:
        """Codecs 0 and 4 share the header (version, CRC, count, box) before their range-coded words at ``head``."""
        if len(data) < _OCTREE_HEAD or self.chance(0.06):
            return self.havoc(data)
        op = self.below(100)
        if op < 35:
            data = self.edit_field(data, fields)
        elif op < 40:
            data = self.edit_field(data, ((0, "<B"),))
        elif op < 85:  # the range-coded words
            data = data[:head] + self._words(data[head:], burst=4, partial=False)
        else:  # words from another cloud under this header, or the other way round
            other = self.donor(kind)
            if len(other) > head:
                data = data[:head] + other[head:] if self.chance(0.5) else other[:head] + data[head:]
        if self.chance(0.9) and len(data) >= _OCTREE_HEAD:
            data = data[:1] + _U32.pack(zlib.crc32(data[crc_from:])) + data[5:]
        return data

    def raw(self, data: bytes) -> bytes:
        """Mutate raw records: coordinates at the limits, order, whole records, partial records."""
        if self.chance(0.1):
            return self.havoc(data)
        pts = np.frombuffer(data[: len(data) // 12 * 12], dtype="<i4").reshape(-1, 3).copy()
        op = self.below(6)
        n = pts.shape[0]
        if op == 0 and n:
            v = self.pick((0, 1, -1, 1 << 30, -(1 << 30), (1 << 30) + 1, -(1 << 30) - 1, (1 << 31) - 1, -(1 << 31),
                           1 << 21, -(1 << 21)))
            pts[self.below(n), self.below(3)] = v
        elif op == 1 and n >= 2:
            i, j = self.below(n), self.below(n)
            pts[[i, j]] = pts[[j, i]]
        elif op == 2 and n:
            pts = np.delete(pts, self.below(n), axis=0)
        elif op == 3 and n:
            i = self.below(n)
            pts = np.insert(pts, i, pts[i], axis=0)
        elif op == 4 and n:
            i, a = self.below(n), self.below(3)
            pts[i, a] = np.int32((int(pts[i, a]) + int(self.rng.integers(-2, 3)) + (1 << 31)) % (1 << 32) - (1 << 31))
        else:
            return data + bytes(1 + self.below(11))
        return pts.astype("<i4").tobytes()

    def gpcc(self, data: bytes) -> bytes:
        """Mutate a G-PCC payload's header (CRC fixed up usually) or its bitstream bytes."""
        if len(data) < _GPCC_HEAD.size or self.chance(0.1):
            return self.havoc(data)
        fields = ((0, "<B"), (1, "<I"), (5, "<i"), (9, "<i"), (13, "<i"))
        if self.chance(0.5):
            data = self.edit_field(data, fields)
        else:
            data = data[: _GPCC_HEAD.size] + self.havoc(data[_GPCC_HEAD.size :])
        if self.chance(0.9):
            data = data[:17] + _U32.pack(zlib.crc32(data[21:])) + data[21:]
        return data

    def mutate(self, kind: str, data: bytes) -> bytes:
        """One mutant of ``data``, an input of ``kind`` (see gscodec.fuzz.targets.INPUT_KINDS)."""
        return self.payload[kind](data)


def stream_profile(chunks: list[Chunk]) -> int | None:
    """The profile a stream's sequence header names (byte 2 of GHDR), or None without one."""
    for c in chunks:
        if c.type == b"GHDR" and len(c.payload) > 2:
            return c.payload[2]
    return None


def stream_with_signature(chunks: list[Chunk]) -> bytes:
    """A stream made of ``chunks`` after the real signature (for building inputs by hand)."""
    return join_stream(SIGNATURE, chunks, b"")

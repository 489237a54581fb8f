"""Geometry codec 1: MPEG G-PCC through the reference encoder/decoder binary ``tmc3``.

tmc3 runs as a subprocess in a temporary folder that is always removed. It gets a binary PLY
with float64 coordinates (a binary int32 PLY is silently misread by tmc3), keeps duplicate
points (``--mergeDuplicatedPoints=0``) and codes geometry losslessly. tmc3 returns points in
its own traversal order, so decoded points are put into canonical order.

Payload: format_version u8, num_points u32, origin_x/y/t i32, crc32 u32 of the tmc3
bitstream, then the tmc3 bitstream (absent when num_points is 0). Coordinates are sent to
tmc3 relative to the origin, so they stay small whatever the input's offset.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import numpy as np

from gscodec.errors import LimitError, RuntimeFailure, StreamError, UnsupportedError
from gscodec.geometry.limits import MAX_COORD, MAX_POINTS, canonical_sorted

FORMAT_VERSION = 0
HEADER = struct.Struct("<BIiiiI")  # format_version, num_points, origin x, y, t, crc32 of the tmc3 bitstream
DEFAULT_TIMEOUT = 600.0
PathLike = str | os.PathLike[str]
#: Largest decoded PLY read back: a generous header plus MAX_POINTS rows of up to 256 bytes.
_MAX_PLY_BYTES = 65536 + MAX_POINTS * 256

#: Lossless geometry only, with duplicates kept (research/tmc3.md, section 6, config B).
ENCODE_FLAGS = (
    "--mergeDuplicatedPoints=0",
    "--positionQuantizationScale=1",
    "--trisoupNodeSizeLog2=0",
    "--disableAttributeCoding=1",
    "--neighbourAvailBoundaryLog2=8",
    "--intra_pred_max_node_size_log2=6",
    "--inferredDirectCodingMode=1",
    "--maxNumQtBtBeforeOt=4",
    "--minQtbtSizeLog2=0",
    "--planarEnabled=1",
    "--planarModeIdcmUse=0",
)

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip


def find_tmc3(tmc3: PathLike | None = None) -> str:
    """Path of the tmc3 binary: the one given, else the one on PATH."""
    if tmc3 is not None:
        path = Path(tmc3)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise UnsupportedError(f"G-PCC geometry needs the tmc3 binary, but {str(tmc3)!r} is not an executable file")
        return str(path)
    found = shutil.which("tmc3")
    if found is None:
        raise UnsupportedError("G-PCC geometry needs the tmc3 binary: put it on PATH or pass --tmc3 PATH")
    return found


def write_ply(path: Path, points: np.ndarray) -> None:
    """Write (N, 3) points as a binary little-endian PLY with float64 x, y, z."""
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {points.shape[0]}\n"
        "property float64 x\nproperty float64 y\nproperty float64 z\nend_header\n"
    )
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(np.ascontiguousarray(points, dtype="<f8").tobytes())


def _ply_header(data: bytes) -> tuple[str, list[tuple[str, int, list[tuple[str, str]]]], int]:
    """Parse a PLY header: (format, [(element, count, [(property, numpy type or 'list')])], body offset)."""
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise StreamError("tmc3 wrote a decoded file that is not a PLY file")
    body = data.find(b"\n", end) + 1
    fmt = ""
    elements: list[tuple[str, int, list[tuple[str, str]]]] = []
    for line in data[:end].decode("ascii", "replace").splitlines()[1:]:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format" and len(words) == 3:
            fmt = words[1]
        elif words[0] == "element" and len(words) == 3 and words[2].isdigit():
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property" and elements and len(words) >= 3:
            kind = "list" if words[1] == "list" else _PLY_TYPES.get(words[1], "")
            if not kind:
                raise StreamError(f"tmc3's decoded PLY has an unknown property type: {line.strip()!r}")
            elements[-1][2].append((words[-1], kind))
        else:
            raise StreamError(f"tmc3's decoded PLY has a malformed header line: {line.strip()!r}")
    return fmt, elements, body


def read_ply(path: Path) -> np.ndarray:
    """Read x, y, z of the vertex element (the first element) of a PLY file as (N, 3) float64."""
    data = Path(path).read_bytes()
    fmt, elements, body = _ply_header(data)
    if not elements or elements[0][0] != "vertex":
        raise StreamError("tmc3's decoded PLY does not start with a vertex element")
    _, count, props = elements[0]
    names = [name for name, _ in props]
    if not all(c in names for c in "xyz") or any(kind == "list" for _, kind in props):
        raise StreamError("tmc3's decoded PLY vertex element lacks x, y, z or has list properties")
    if count > MAX_POINTS:
        raise LimitError(f"tmc3 decoded {count} points; the limit is {MAX_POINTS}")
    if fmt == "ascii":
        rows = data[body:].split(b"\n", count)[:count]
        try:
            table = np.array([[float(v) for v in r.split()[: len(props)]] for r in rows], dtype=np.float64)
        except ValueError:
            raise StreamError("tmc3's decoded PLY has a malformed ascii vertex row") from None
        if table.shape != (count, len(props)):
            raise StreamError("tmc3's decoded PLY is truncated")
        return np.stack([table[:, names.index(c)] for c in "xyz"], axis=1)
    if fmt not in ("binary_little_endian", "binary_big_endian"):
        raise StreamError(f"tmc3's decoded PLY has an unknown format {fmt!r}")
    order = "<" if fmt == "binary_little_endian" else ">"
    dtype = np.dtype([(name, order + kind) for name, kind in props])
    if len(data) - body < dtype.itemsize * count:
        raise StreamError("tmc3's decoded PLY is truncated")
    rec = np.frombuffer(data, dtype=dtype, count=count, offset=body)
    return np.stack([rec[c].astype(np.float64) for c in "xyz"], axis=1)


def _run(args: list[str], cwd: str, timeout: float, what: str, failure: type[Exception]) -> None:
    """Run tmc3; a non-zero exit raises ``failure`` with tmc3's last words, a timeout RuntimeFailure."""
    try:
        proc = subprocess.run(args, cwd=cwd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeFailure(f"tmc3 {what} did not finish within {timeout:g} s; pass a longer timeout") from None
    except OSError as exc:
        raise RuntimeFailure(f"could not run tmc3 ({args[0]}): {exc.strerror or exc}") from None
    if proc.returncode != 0:
        text = (proc.stderr or proc.stdout or b"").decode("utf-8", "replace").strip().splitlines()
        last = text[-1].strip() if text else "no message"
        raise failure(f"tmc3 {what} failed with exit code {proc.returncode}: {last}")


def encode_gpcc(points: np.ndarray, tmc3: PathLike | None = None, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """Encode (N, 3) int64 points that passed :func:`check_points` with tmc3."""
    n = points.shape[0]
    if n == 0:
        return HEADER.pack(FORMAT_VERSION, 0, 0, 0, 0, zlib.crc32(b""))
    exe = find_tmc3(tmc3)
    origin = points.min(axis=0)
    with tempfile.TemporaryDirectory(prefix="gscodec-tmc3-") as tmp:
        src = Path(tmp, "in.ply")
        bin_path = Path(tmp, "out.bin")
        write_ply(src, points - origin)
        args = [exe, "--mode=0", f"--uncompressedDataPath={src}", f"--compressedStreamPath={bin_path}", *ENCODE_FLAGS]
        _run(args, tmp, timeout, "encoding", RuntimeFailure)
        if not bin_path.is_file():
            raise RuntimeFailure("tmc3 encoding exited normally but wrote no bitstream")
        stream = bin_path.read_bytes()
    return HEADER.pack(FORMAT_VERSION, n, *(int(o) for o in origin), zlib.crc32(stream)) + stream


def decode_gpcc(data: bytes, tmc3: PathLike | None = None, timeout: float = DEFAULT_TIMEOUT) -> np.ndarray:
    """Decode a codec-1 payload with tmc3 into (N, 3) int64 points in canonical order."""
    if len(data) < HEADER.size:
        raise StreamError(f"G-PCC geometry payload is truncated: {len(data)} bytes, its header needs {HEADER.size}")
    version, n, ox, oy, ot, crc = HEADER.unpack_from(data)
    if version != FORMAT_VERSION:
        raise UnsupportedError(
            f"G-PCC geometry payload has format version {version}; this decoder reads {FORMAT_VERSION}: upgrade gscodec"
        )
    stream = data[HEADER.size :]
    if zlib.crc32(stream) != crc:
        raise StreamError("G-PCC geometry payload is corrupt: CRC-32 mismatch (damaged or truncated data)")
    if n > MAX_POINTS:
        raise LimitError(f"G-PCC geometry payload declares {n} points; the limit is {MAX_POINTS}")
    origin = np.array([ox, oy, ot], dtype=np.int64)
    if int(np.abs(origin).max()) > MAX_COORD:
        raise LimitError(f"G-PCC geometry payload has an origin outside [-{MAX_COORD}, {MAX_COORD}]")
    if n == 0:
        if stream:
            raise StreamError("G-PCC geometry payload is corrupt: data follows an empty point cloud")
        return np.zeros((0, 3), dtype=np.int64)
    if not stream:
        raise StreamError("G-PCC geometry payload is truncated: the tmc3 bitstream is missing")
    exe = find_tmc3(tmc3)
    with tempfile.TemporaryDirectory(prefix="gscodec-tmc3-") as tmp:
        bin_path = Path(tmp, "in.bin")
        out = Path(tmp, "out.ply")
        bin_path.write_bytes(stream)
        args = [exe, "--mode=1", f"--compressedStreamPath={bin_path}", f"--reconstructedDataPath={out}"]
        _run(args, tmp, timeout, "decoding", StreamError)
        if not out.is_file():
            raise StreamError("tmc3 decoding exited normally but wrote no points: the G-PCC bitstream is corrupt")
        if out.stat().st_size > _MAX_PLY_BYTES:
            raise LimitError(f"tmc3 decoded more points than the limit of {MAX_POINTS}: corrupt G-PCC bitstream")
        xyz = read_ply(out)
    if xyz.shape[0] != n:
        raise StreamError(f"tmc3 decoded {xyz.shape[0]} points but the payload declares {n}: corrupt G-PCC bitstream")
    if not np.all(np.isfinite(xyz)) or np.any(np.abs(xyz) > MAX_COORD):
        raise StreamError("tmc3 decoded coordinates out of range: corrupt G-PCC bitstream")
    ints = np.rint(xyz)
    if np.any(ints != xyz):
        raise StreamError("tmc3 decoded non-integer coordinates: the G-PCC bitstream is not lossless geometry")
    pts = ints.astype(np.int64) + origin
    if int(np.abs(pts).max()) > MAX_COORD:
        raise LimitError(f"G-PCC geometry decodes to coordinates outside [-{MAX_COORD}, {MAX_COORD}]")
    return canonical_sorted(pts)

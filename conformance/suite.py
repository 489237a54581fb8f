"""What the generator and the runner share: where the suite lives, its files, and how a stream is checked.

Valid streams are decoded through gsdec's ``--verify`` path (:func:`gscodec.cli.gsdec.digest_frames`),
faulty ones through gsdec's command path (options -> ``run_command``), so the suite tests what users run.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
STREAMS = ROOT / "streams"
MANIFEST = ROOT / "manifest.json"
GROUPS: tuple[str, ...] = ("core", "uncommon", "faulty")
SUITE_VERSION = 1

REFERENCE_LAYOUT = "all frames of the stream stacked top to bottom: width x (height * frames), 8-bit RGB"


@dataclass(frozen=True)
class Tolerance:
    """How far a renderer's 8-bit output may be from the reference frames (format_spec.md §10.6).

    Over all samples of the stream: |difference| <= ``max_abs_diff`` everywhere and <= 1 at all
    but ``max_fraction_above_1`` of the samples; per frame, PSNR >= ``min_psnr_db``. 48 dB is
    what the two other rules allow at worst (0.1 % of samples off by 4, the rest by 1: 48.07 dB).
    """

    max_abs_diff: int = 4
    max_fraction_above_1: float = 0.001
    min_psnr_db: float = 48.0

    def as_json(self) -> dict[str, Any]:
        return {"max_abs_diff": self.max_abs_diff, "max_fraction_above_1": self.max_fraction_above_1,
                "min_psnr_db": self.min_psnr_db}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Tolerance:
        return cls(int(d["max_abs_diff"]), float(d["max_fraction_above_1"]), float(d["min_psnr_db"]))


@dataclass(frozen=True)
class FrameComparison:
    """Decoded frames against the reference frames."""

    ok: bool
    exact: bool
    max_abs_diff: int
    samples_above_1: int
    samples: int
    min_psnr_db: float  # inf when every frame is identical
    reason: str


def compare_frames(got: np.ndarray, ref: np.ndarray, tol: Tolerance) -> FrameComparison:
    """Check (F, H, W, 3) uint8 frames against the reference within ``tol``."""
    if got.shape != ref.shape:
        return FrameComparison(False, False, 255, got.size, got.size, 0.0,
                               f"decoded frames have shape {got.shape}, the reference {ref.shape}")
    diff = np.abs(got.astype(np.int16) - ref.astype(np.int16))
    samples = int(diff.size)
    max_abs = int(diff.max()) if samples else 0
    above = int(np.count_nonzero(diff > 1))
    psnr = math.inf
    for d in diff:
        mse = float(np.mean(d.astype(np.float64) ** 2)) if d.size else 0.0
        if mse > 0:
            psnr = min(psnr, 10.0 * math.log10(255.0**2 / mse))
    allowed = math.floor(tol.max_fraction_above_1 * samples)
    reasons = []
    if max_abs > tol.max_abs_diff:
        reasons.append(f"max difference {max_abs} > {tol.max_abs_diff}")
    if above > allowed:
        reasons.append(f"{above} samples differ by more than 1 (at most {allowed} allowed)")
    if psnr < tol.min_psnr_db:
        reasons.append(f"PSNR {psnr:.2f} dB < {tol.min_psnr_db} dB")
    return FrameComparison(not reasons, max_abs == 0, max_abs, above, samples, psnr, "; ".join(reasons))


def frame_names(names: Any) -> list[str]:
    """The ``frame-<k>.rgb24`` entries of a digest (or md5 file), in frame order."""
    return sorted((k for k in names if k.startswith("frame-")), key=lambda k: int(k[6:].split(".")[0]))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --- reference frames as PNG: 8-bit RGB, filter "Sub" on every row, one IDAT -----------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def encode_png(image: np.ndarray) -> bytes:
    """A (H, W, 3) uint8 image as PNG (filter type 1 on every row, zlib level 9)."""
    h, w, _ = image.shape
    rows = image.reshape(h, w * 3).astype(np.int16)
    left = np.zeros_like(rows)
    left[:, 3:] = rows[:, :-3]
    filtered = ((rows - left) % 256).astype(np.uint8)
    raw = np.concatenate([np.ones((h, 1), np.uint8), filtered], axis=1).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return _PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(raw, 9)) + \
        _png_chunk(b"IEND", b"")


def decode_png(data: bytes) -> np.ndarray:
    """Read an 8-bit RGB, non-interlaced PNG whose rows use filter types 0 (None), 1 (Sub) or 2 (Up)."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    pos, idat, size = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if (depth, colour, interlace) != (8, 2, 0):
                raise ValueError("reference PNGs are 8-bit RGB, not interlaced")
            size = (h, w)
        elif kind == b"IDAT":
            idat.append(body)
    if size is None:
        raise ValueError("PNG without IHDR")
    h, w = size
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(h, 1 + w * 3)
    out = np.zeros((h, w * 3), np.uint8)
    for i in range(h):
        kind, row = int(raw[i, 0]), raw[i, 1:]
        if kind == 0:
            out[i] = row
        elif kind == 1:
            out[i] = (np.cumsum(row.reshape(w, 3).astype(np.int64), axis=0) % 256).reshape(-1)
        elif kind == 2:
            out[i] = (row.astype(np.int64) + (out[i - 1] if i else 0)) % 256
        else:
            raise ValueError(f"PNG filter type {kind} is not used by the suite")
    return out.reshape(h, w, 3)


# --- decoding a stream the way gsdec does ---------------------------------------------------------


@dataclass
class Decoded:
    """What a valid stream decodes to: the MD5 digest (md5-file names), frames and per-segment details."""

    header: Any
    digest: dict[str, str]
    frames: np.ndarray  # (F, H, W, 3) uint8
    segments: list[dict[str, Any]]
    metadata: dict[str, str]
    skipped_chunks: list[str]  # unknown ancillary chunk types, in stream order
    has_index: bool


def decode_stream(path: Path, device: str = "cpu") -> Decoded:
    """Decode ``path`` through gsdec's --verify path, then describe each segment (SHA-256 state hash of §8.1)."""
    from gscodec.bitstream import GsvReader
    from gscodec.bitstream.profile0 import GEOMETRY_NAMES
    from gscodec.cli.gsdec import digest_frames, segment_state_name
    from gscodec.decode import decode_segment_state

    digest: dict[str, str] = {}
    with open(path, "rb") as f:
        reader = GsvReader(f)
        h = reader.header
        frames = [frame for _, frame in digest_frames(reader, device, digest)]
    segments = []
    with open(path, "rb") as f:
        reader = GsvReader(f)
        for seg in reader.segments():
            state = decode_segment_state(h, seg)
            segments.append({
                "index": seg.segment_index, "first_frame": seg.first_frame, "frame_count": seg.frame_count,
                "gaussians": len(state), "geometry_codec": GEOMETRY_NAMES[state.geometry_codec],
                "state_md5": digest[segment_state_name(seg.segment_index)], "state_sha256": state.state_hash(),
            })
    stack = np.stack(frames) if frames else np.zeros((0, h.height, h.width, 3), np.uint8)
    return Decoded(h, digest, stack, segments, dict(reader.metadata), list(reader.unknown_ancillary),
                   reader.index is not None)


def seek_states(path: Path) -> list[str]:
    """The segments' SHA-256 state hashes, read by seeking: GEND -> gidx (or a chunk scan without one) -> GSEG."""
    from gscodec.bitstream import read_index, read_segment_at
    from gscodec.decode import decode_segment_state

    header, entries = read_index(path)
    return [decode_segment_state(header, read_segment_at(path, e)).state_hash() for e in entries]


@dataclass(frozen=True)
class Failure:
    """How gsdec ended on a stream: exit code, error class (None on success), its one stderr line."""

    exit_code: int
    error_class: str | None
    message: str
    output_left: bool


def run_gsdec(path: Path, device: str = "cpu") -> Failure:
    """Run gsdec's command path (options, decode, run_command) in-process, writing y4m to a temporary folder."""
    from gscodec.cli.common import run_command
    from gscodec.cli.gsdec import DecodeOptions, decode

    caught: list[BaseException] = []

    def body() -> int:
        try:
            return decode(opts)
        except Exception as exc:
            caught.append(exc)
            raise

    err = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="gsv-conformance-") as tmp:
        out = Path(tmp, "out.y4m")
        opts = DecodeOptions(input=str(path), output=str(out), device=device, frames=None, quality="lossless",
                             tmc3=None, quiet=True, verbose=0)
        code = 0
        with contextlib.redirect_stderr(err):
            try:
                run_command("gsdec", 0, body)
            except SystemExit as exc:
                code = int(exc.code or 0)
        left = any(Path(tmp).iterdir())
    name = type(caught[0]).__name__ if caught else None
    return Failure(code, name, err.getvalue().strip(), left)

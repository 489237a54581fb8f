"""Folders of PNG frames: which files are frames, in what order, and what each one holds.

Frames are the files ending in ``.png`` (any case) directly inside the folder; hidden files,
other files and subfolders are ignored. They are sorted by name, with runs of digits compared
as numbers, so ``f2.png`` comes before ``f10.png`` (for zero-padded names such as ours this
is plain alphabetical order). Sizes and pixel formats come from each file's IHDR chunk, so a
folder is checked without decoding a single image.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

from gscodec.errors import InputError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Names gscodec writes: ``frame_0001.png``, ... (at least 4 digits, counting from 1).
OUR_FRAME_NAME = re.compile(r"frame_\d{4,}\.png")

# (colour type, bit depth) -> the FFmpeg pixel format its PNG decoder produces.
_PIX_FMT: dict[tuple[int, int], str] = {
    (0, 1): "monob",
    (0, 2): "gray",
    (0, 4): "gray",
    (0, 8): "gray",
    (0, 16): "gray16be",
    (2, 8): "rgb24",
    (2, 16): "rgb48be",
    (3, 1): "pal8",
    (3, 2): "pal8",
    (3, 4): "pal8",
    (3, 8): "pal8",
    (4, 8): "ya8",
    (4, 16): "ya16be",
    (6, 8): "rgba",
    (6, 16): "rgba64be",
}


@dataclass(frozen=True)
class PngHeader:
    """What a PNG's IHDR says: size, and the pixel format FFmpeg decodes it to."""

    width: int
    height: int
    pix_fmt: str


def frame_name(index: int) -> str:
    """The file name of frame ``index`` (counting from 1) in a folder gscodec writes."""
    return f"frame_{index:04d}.png"


def _natural_key(name: str) -> list[tuple[int, int | str]]:
    """Sort key comparing digit runs as numbers and everything else as text."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name)]


def list_frames(folder: Path) -> list[Path]:
    """The PNG frames of ``folder`` in frame order (see the module docstring)."""
    try:
        names = [
            entry.name
            for entry in folder.iterdir()
            if entry.name.lower().endswith(".png") and not entry.name.startswith(".") and entry.is_file()
        ]
    except OSError as exc:
        raise InputError(f"cannot list folder {folder}: {exc.strerror or exc}") from None
    return [folder / name for name in sorted(names, key=_natural_key)]


def read_header(path: Path) -> PngHeader:
    """Parse the signature and IHDR of one PNG file; InputError if it is not a PNG."""
    try:
        with path.open("rb") as stream:
            head = stream.read(33)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(head) < 33 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise InputError(f"{path} is not a PNG file; remove it from the frame folder")
    width, height, depth, colour_type = struct.unpack(">IIBB", head[16:26])
    pix_fmt = _PIX_FMT.get((colour_type, depth))
    if pix_fmt is None or width == 0 or height == 0:
        raise InputError(
            f"{path} has an invalid PNG header (colour type {colour_type}, depth {depth}, "
            f"{width}x{height}); re-save it as an ordinary PNG"
        )
    return PngHeader(width, height, pix_fmt)


def looks_like_ours(folder: Path) -> bool:
    """True if every entry of ``folder`` is a frame file named the way gscodec names them."""
    try:
        return all(entry.is_file() and OUR_FRAME_NAME.fullmatch(entry.name) for entry in folder.iterdir())
    except OSError:
        return False

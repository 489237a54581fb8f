"""Entropy coding of profile 1: constant Laplace tables, the range coder over them, and a float twin.

``laplace_bits`` (the torch twin) is loaded on first use, so importing this package, or
:mod:`gscodec.entropy.coder`, does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gscodec.entropy.coder import decode_residuals, encode_residuals, estimate_bits
from gscodec.entropy.tables import (
    B_MIN,
    LEVELS_PER_OCTAVE,
    PROB_BITS,
    K,
    R,
    index_for_scale,
    info_bits,
    row_entropy_bits,
    scale_of,
    table,
)

if TYPE_CHECKING:
    from gscodec.entropy.twin import laplace_bits

__all__ = [
    "B_MIN",
    "K",
    "LEVELS_PER_OCTAVE",
    "PROB_BITS",
    "R",
    "decode_residuals",
    "encode_residuals",
    "estimate_bits",
    "index_for_scale",
    "info_bits",
    "laplace_bits",
    "row_entropy_bits",
    "scale_of",
    "table",
]


def __getattr__(name: str) -> Any:
    if name == "laplace_bits":
        from gscodec.entropy.twin import laplace_bits

        return laplace_bits
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

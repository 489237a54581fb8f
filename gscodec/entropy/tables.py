"""The constant residual probability tables of profile 1, shipped with the decoder.

A residual ``r = q - mu`` in [-R, R] is coded with row ``k`` (the *scale index*, in [0, K)) of
one constant table: ``table()[k, r + R]`` is the integer weight of ``r``, each weight >= 1 and
each row summing to exactly ``2**PROB_BITS``, so ``P(r | k) = weight / 2**PROB_BITS``. Row ``k``
approximates a zero-mean Laplace distribution of scale ``scale_of(k)`` (in residual units),
``B_MIN * 2**(k / LEVELS_PER_OCTAVE)``: from 0.04 (almost every residual 0) to about 246.

The weights are computed once by :mod:`gscodec.entropy.make_tables` and stored as little-endian
uint16 in ``laplace_k64_r512.bin`` next to this module. Loading checks the file's SHA-256
against :data:`DATA_SHA256`, so every decoder codes with exactly the same integers whatever
its floating-point library does.
"""

from __future__ import annotations

import functools
import hashlib
import math
from importlib import resources
from pathlib import Path

import numpy as np

#: Number of scale levels (rows); a scale index lies in [0, K).
K = 64
#: Residual support is [-R, R]: 2R + 1 = 1025 entries per row.
R = 512
#: Scale of row 0, in residual units.
B_MIN = 0.04
#: Rows per doubling of the scale.
LEVELS_PER_OCTAVE = 5
#: Each row's weights sum to 2**PROB_BITS.
PROB_BITS = 16

DATA_NAME = "laplace_k64_r512.bin"
DATA_FILE = Path(__file__).with_name(DATA_NAME)
#: SHA-256 of the data file: K * (2R + 1) little-endian uint16, row-major.
DATA_SHA256 = "b35def6a828bd3354261758b87d480dbbed8c4b0d70381683db6f071282f102b"


def scale_of(k: float) -> float:
    """The Laplace scale ``B_MIN * 2**(k / LEVELS_PER_OCTAVE)`` of scale index ``k`` (residual units)."""
    return B_MIN * 2.0 ** (k / LEVELS_PER_OCTAVE)


def index_for_scale(b: float) -> int:
    """The scale index whose scale is nearest to ``b`` in the log domain, clamped to [0, K).

    ``b <= 0`` gives 0; NaN is a ValueError. Halfway cases round up.
    """
    b = float(b)
    if math.isnan(b):
        raise ValueError("scale is NaN")
    if b <= 0:
        return 0
    x = LEVELS_PER_OCTAVE * math.log2(b / B_MIN)
    if x <= 0:
        return 0
    if x >= K - 1:
        return K - 1
    return int(math.floor(x + 0.5))


@functools.lru_cache(maxsize=1)
def table() -> np.ndarray:
    """The weights (K, 2R + 1) uint16 (read-only): ``table()[k, r + R]`` is the weight of residual r in row k.

    Raises RuntimeError if the packaged data file is missing or its SHA-256 is not the pinned one.
    """
    try:
        data = resources.files(__package__).joinpath(DATA_NAME).read_bytes()
    except OSError as e:
        raise RuntimeError(
            f"the entropy table file {DATA_NAME} is missing from the installation: reinstall gscodec"
        ) from e
    digest = hashlib.sha256(data).hexdigest()
    if digest != DATA_SHA256:
        raise RuntimeError(
            f"the entropy table file {DATA_NAME} is damaged (sha256 {digest[:16]}..., expected {DATA_SHA256[:16]}...): "
            "reinstall gscodec"
        )
    t = np.frombuffer(data, dtype="<u2").astype(np.uint16).reshape(K, 2 * R + 1)
    t.setflags(write=False)
    return t


@functools.lru_cache(maxsize=1)
def info_bits() -> np.ndarray:
    """Information content (K, 2R + 1) float64 in bits of every table entry: ``-log2(weight / 2**PROB_BITS)``."""
    bits = PROB_BITS - np.log2(table().astype(np.float64))
    bits.setflags(write=False)
    return bits


@functools.lru_cache(maxsize=1)
def row_entropy_bits() -> np.ndarray:
    """Entropy (K,) float64 in bits per symbol of each table row (of the quantised weights, not the Laplace)."""
    p = table().astype(np.float64) / float(1 << PROB_BITS)
    h = (p * info_bits()).sum(axis=1)
    h.setflags(write=False)
    return h

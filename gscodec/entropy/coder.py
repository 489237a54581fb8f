"""Range coding of integer residuals with the constant Laplace tables of profile 1.

Every residual ``r`` in [-R, R] is coded as the symbol ``r + R`` with row ``k`` of
:func:`gscodec.entropy.tables.table`, where ``k`` is the residual's scale index, known to both
sides. Coding order: the residuals are grouped by scale index in ascending order and, within a
group, kept in array order; each group is one call into one constriction range coder
(``constriction.stream.queue.RangeEncoder``, 32-bit words, 24-bit probabilities) with one
model. The stream is the coder's words as little-endian bytes; no residual gives no bytes.

Why the models are the same on every machine
--------------------------------------------
Row k's weights ``w_0 .. w_{n-1}`` (integers >= 1, summing to 2**16, n = 2R + 1 = 1025) are
handed to ``constriction.stream.model.Categorical(p, perfect=False)`` as the float64 array
``p_i = w_i / 2**16``. Each ``p_i`` is exact (an integer below 2**16 times a power of two).
For such an array constriction builds its fixed-point model with
``from_floating_point_probabilities_fast`` (precision 24), which computes:

- ``normalization = p_0 + p_1 + ... + p_{n-1}``, summed left to right. Every partial sum is a
  multiple of 2**-16 no larger than 1, so it is exact and the total is exactly 1.0;
- ``scale = (2**24 - n) / normalization = 16776191.0``, exact;
- for each symbol i, ``cdf_i = trunc(c_i * scale) + i`` with ``c_i = p_0 + ... + p_{i-1}``
  (exact, as above). ``c_i * scale = C_i * 16776191 / 2**16`` with the integer
  ``C_i = w_0 + ... + w_{i-1} <= 2**16``: the product of the integers is below 2**41, so the
  float64 product is exact and its truncation to an unsigned integer is
  ``floor(C_i * 16776191 / 2**16)``.

So the model's left cumulatives are ``cdf_i = floor(C_i * (2**24 - n) / 2**16) + i`` and its last
symbol ends at 2**24: a function of the integer weights alone, evaluated without any rounding,
identical on every IEEE 754 machine. (The perfect=True path would instead run a float search
with ``log1p``, which is not guaranteed to be correctly rounded everywhere; it is not used.)
Symbol i's fixed-point probability is ``(cdf_{i+1} - cdf_i) / 2**24``, within a factor
``1 - n / 2**24`` plus one unit of 2**-24 of ``w_i / 2**16``: :func:`estimate_bits`, which
uses the table weights, is the coded size to within about 1e-4 bits per symbol. The tests
probe every symbol boundary of all K models through the decoder and find exactly these
cumulatives.
"""

from __future__ import annotations

import functools

import constriction
import numpy as np

from gscodec.entropy.tables import PROB_BITS, K, R, info_bits, table
from gscodec.errors import StreamError


@functools.lru_cache(maxsize=1)
def _models() -> tuple[constriction.stream.model.Categorical, ...]:
    """The K constriction models, row k of the table as exact probabilities ``w / 2**16``."""
    p = table().astype(np.float64) / float(1 << PROB_BITS)
    return tuple(constriction.stream.model.Categorical(np.ascontiguousarray(p[k]), perfect=False) for k in range(K))


def _check_index(index: np.ndarray | list[int], n: int | None = None) -> np.ndarray:
    """``index`` as a 1-D uint8 array after checking it holds integers in [0, K) (and ``n`` of them)."""
    idx = np.asarray(index)
    if idx.ndim != 1:
        raise ValueError("scale indices must be a 1-D array")
    if n is not None and idx.size != n:
        raise ValueError(f"got {n} residuals but {idx.size} scale indices")
    if idx.size == 0:
        return np.zeros(0, dtype=np.uint8)
    if not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"scale indices must be integers, not {idx.dtype}")
    if int(idx.min()) < 0 or int(idx.max()) >= K:
        raise ValueError(f"scale indices must lie in [0, {K})")
    return idx.astype(np.uint8)


def _check_residuals(residuals: np.ndarray | list[int]) -> np.ndarray:
    """``residuals`` as a 1-D int32 array after checking they are integers in [-R, R]."""
    res = np.asarray(residuals)
    if res.ndim != 1:
        raise ValueError("residuals must be a 1-D array")
    if res.size == 0:
        return np.zeros(0, dtype=np.int32)
    if not np.issubdtype(res.dtype, np.integer):
        raise ValueError(f"residuals must be integers, not {res.dtype}")
    if int(res.min()) < -R or int(res.max()) > R:
        raise ValueError(f"residuals must lie in [-{R}, {R}]")
    return res.astype(np.int32)


def _groups(idx: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """The coding order and its groups: ``order`` (m,) and (k, start, stop) spans of ``order`` per used index k."""
    order = np.argsort(idx, kind="stable")  # uint8 keys: a radix sort, stable keeps array order in a group
    counts = np.bincount(idx, minlength=K)
    stops = np.cumsum(counts)
    return order, [(int(k), int(stops[k] - counts[k]), int(stops[k])) for k in np.flatnonzero(counts)]


def encode_residuals(residuals: np.ndarray, index: np.ndarray) -> bytes:
    """Range-code ``residuals`` (m,) ints in [-R, R], residual i with table row ``index[i]`` in [0, K).

    Returns the stream (a multiple of 4 bytes; empty for m = 0). Raises ValueError for residuals
    or indices out of range, non-integer arrays, or arrays of different lengths.
    """
    res = _check_residuals(residuals)
    idx = _check_index(index, res.size)
    if res.size == 0:
        return b""
    order, groups = _groups(idx)
    symbols = res[order] + R
    models = _models()
    enc = constriction.stream.queue.RangeEncoder()
    for k, start, stop in groups:
        enc.encode(symbols[start:stop], models[k])
    return enc.get_compressed().astype("<u4").tobytes()


def decode_residuals(data: bytes, index: np.ndarray) -> np.ndarray:
    """Decode the ``index.size`` residuals (int32, in [-R, R]) that :func:`encode_residuals` coded with ``index``.

    Raises StreamError if ``data`` is not a whole number of 32-bit words, is invalid for the
    models, or continues past the last residual by two words or more (a single trailing word
    only fills the zero padding the range decoder assumes after the data, so it goes unnoticed).
    Corrupt data that stays valid decodes to wrong residuals. ``index`` itself is checked like the
    encoder's (ValueError): it is the decoder's own computation, not stream data.
    """
    idx = _check_index(index)
    if len(data) % 4:
        raise StreamError("truncated stream: residual data's length is not a whole number of 32-bit words")
    if idx.size == 0:
        if data:
            raise StreamError("corrupt stream: residual data holds bytes but codes no residuals")
        return np.zeros(0, dtype=np.int32)
    words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
    order, groups = _groups(idx)
    symbols = np.empty(idx.size, dtype=np.int32)
    models = _models()
    try:
        dec = constriction.stream.queue.RangeDecoder(words)
        for k, start, stop in groups:
            symbols[start:stop] = dec.decode(models[k], stop - start)
        exhausted = dec.maybe_exhausted()
    except (AssertionError, ValueError, RuntimeError, OverflowError, TypeError):
        raise StreamError("corrupt stream: residual data: the range-coded data is invalid") from None
    if not exhausted:
        raise StreamError("corrupt stream: residual data: range-coded data continues past the last residual")
    out = np.empty(idx.size, dtype=np.int32)
    out[order] = symbols - R
    return out


def estimate_bits(residuals: np.ndarray, index: np.ndarray) -> float:
    """Information content in bits of ``residuals`` under their table rows: sum of ``-log2(w / 2**16)``.

    The coded size in bits (``8 * len(encode_residuals(...))``) exceeds it by less than 33 bits
    (the last, partly used word and about one bit the range coder needs to end its interval),
    give or take about 1e-4 bits per residual from the fixed-point models. Same checks as
    :func:`encode_residuals`.
    """
    res = _check_residuals(residuals)
    idx = _check_index(index, res.size)
    if res.size == 0:
        return 0.0
    return float(info_bits()[idx, res + R].sum())

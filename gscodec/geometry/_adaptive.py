"""Adaptive binary context models with integer counts, and the range coder that uses them.

Every probability handed to constriction is ``w / 65536`` for an integer ``w`` in [1, 65535]
computed from integer counts, passed as the float64 pair ``(65536 - w, w)``. constriction's
``Categorical(perfect=False)`` turns that pair into 24-bit fixed-point weights,
``P(0) = floor((65536 - w) * (2**24 - 2) / 65536) + 1``; each operand and the product are exact
in IEEE 754 double precision, so encoder and decoder build identical models on any machine.

Symbols are coded in chunks: all symbols of a chunk use the probabilities the counts gave at
the start of the chunk, then the counts absorb the whole chunk. That keeps the per-symbol work
inside numpy and constriction while the models still adapt.
"""

from __future__ import annotations

import constriction
import numpy as np

from gscodec.errors import StreamError

#: Probabilities are multiples of 2**-PROB_BITS.
PROB_BITS = 16
PROB_ONE = 1 << PROB_BITS
#: A context whose count total exceeds this has both counts shifted right until it does not.
COUNT_LIMIT = 255
#: Weight of the coarse estimate when it smooths a fine context's counts.
SMOOTHING = 16
#: The first chunk of a coding call holds CHUNK_MIN symbols; each later chunk holds RAMP times
#: as many symbols as the call has coded so far, at most CHUNK_MAX.
CHUNK_MIN = 32
CHUNK_MAX = 8192
RAMP = 2

_BINARY = constriction.stream.model.Categorical(perfect=False)
_UNIFORM = constriction.stream.model.Uniform()


def chunk_bounds(m: int) -> list[tuple[int, int]]:
    """The [start, stop) chunks that a coding call of ``m`` symbols is split into."""
    bounds = []
    start = 0
    while start < m:
        stop = min(m, start + min(CHUNK_MAX, max(CHUNK_MIN, RAMP * start)))
        bounds.append((start, stop))
        start = stop
    return bounds


def bit_length(v: np.ndarray) -> np.ndarray:
    """Exact bit length (int64) of every non-negative value of ``v`` (unsigned or signed integers; 0 for 0)."""
    rest = np.asarray(v).astype(np.uint64)
    out = np.zeros(rest.shape, dtype=np.int64)
    for step in (32, 16, 8, 4, 2, 1):
        big = rest >= (np.uint64(1) << np.uint64(step))
        out += np.where(big, step, 0)
        rest = np.where(big, rest >> np.uint64(step), rest)
    return out + (rest > 0)


def kt_weight(c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """Round-down Krichevsky-Trofimov estimate of P(1) in units of 2**-16.

    With both counts at most COUNT_LIMIT the result lies in [128, 65535]: no clamping needed.
    """
    return ((2 * c1 + 1) << PROB_BITS) // (2 * (c0 + c1) + 2)


#: _SHIFTS[(total - 1) // COUNT_LIMIT] is the bit length of the index: the rescaling shift.
#: A context gains at most CHUNK_MAX counts per chunk, which bounds the index.
_SHIFTS = np.array([i.bit_length() for i in range((CHUNK_MAX + COUNT_LIMIT) // COUNT_LIMIT + 1)])


def _halve(counts: np.ndarray) -> None:
    """Rescale rows of ``counts`` (k, 2) whose total exceeds COUNT_LIMIT: both counts >> s.

    s is the smallest shift with total <= COUNT_LIMIT * 2**s, so the rescaled total is within
    the limit; rows within the limit get s = 0.
    """
    total = counts[:, 0] + counts[:, 1]
    shift = _SHIFTS[np.maximum(total - 1, 0) // COUNT_LIMIT]
    counts >>= shift[:, None]


class ContextModel:
    """A table of adaptive binary contexts holding integer counts (zeros, ones).

    With ``group`` > 1 every ``group`` consecutive contexts also share a coarse context, and a
    fine context's counts are smoothed toward its coarse estimate: a rarely seen fine context
    borrows from its coarse parent. The probability pair of every context is kept ready in
    ``pairs``; an update recomputes it only over the window of contexts the chunk used.
    """

    def __init__(self, size: int, group: int = 1) -> None:
        if size % group:
            raise ValueError("size must be a multiple of group")
        self.group = group
        self.fine = np.zeros((size, 2), dtype=np.int64)  # (size, [zeros, ones])
        self.coarse = np.zeros((size // group, 2), dtype=np.int64) if group > 1 else None
        self.pairs = np.empty((size, 2), dtype=np.float64)  # (size, [weight of 0, weight of 1])
        self._refresh(0, size)

    def weights(self, lo: int, hi: int) -> np.ndarray:
        """P(1) of contexts lo..hi-1 in units of 2**-16, each in [1, 65535]."""
        f = self.fine[lo:hi]
        if self.coarse is None:
            return kt_weight(f[:, 0], f[:, 1])
        c = self.coarse[lo // self.group : hi // self.group]
        wc = np.repeat(kt_weight(c[:, 0], c[:, 1]), self.group)
        return ((f[:, 1] << PROB_BITS) + SMOOTHING * wc) // (f[:, 0] + f[:, 1] + SMOOTHING)

    def _refresh(self, lo: int, hi: int) -> None:
        w = self.weights(lo, hi)
        self.pairs[lo:hi, 0] = PROB_ONE - w
        self.pairs[lo:hi, 1] = w

    def window(self, ctx: np.ndarray) -> tuple[int, int]:
        """A range lo..hi-1 of contexts, aligned to the group size, that holds all of ``ctx``."""
        g = self.group
        return int(ctx.min()) // g * g, (int(ctx.max()) // g + 1) * g

    def update(self, ctx: np.ndarray, bits: np.ndarray, lo: int, hi: int) -> None:
        """Absorb the coded ``bits`` of contexts ``ctx`` (within lo..hi-1), then rescale crowded contexts."""
        g = self.group
        hist = np.bincount(2 * (ctx - lo) + bits, minlength=2 * (hi - lo)).reshape(-1, 2)
        fine = self.fine[lo:hi]
        fine += hist
        _halve(fine)
        if self.coarse is not None:
            coarse = self.coarse[lo // g : hi // g]
            coarse += np.add.reduceat(hist, np.arange(0, hi - lo, g), axis=0)
            _halve(coarse)
        self._refresh(lo, hi)


class BitEncoder:
    """Codes symbols into a constriction range coder (32-bit words, 24-bit probabilities)."""

    def __init__(self) -> None:
        self._enc = constriction.stream.queue.RangeEncoder()

    def code(self, model: ContextModel, ctx: np.ndarray, bits: np.ndarray | None) -> np.ndarray:
        """Encode ``bits`` (m,) in contexts ``ctx`` (m,) and return them as int32."""
        assert bits is not None
        bits = np.ascontiguousarray(bits, dtype=np.int32)
        if bits.size == 0:
            return bits
        lo, hi = model.window(ctx)
        for start, stop in chunk_bounds(bits.size):
            c = ctx[start:stop]
            b = bits[start:stop]
            self._enc.encode(b, _BINARY, model.pairs[c])
            model.update(c, b, lo, hi)
        return bits

    def code_uniform(self, values: np.ndarray | None, nbits: np.ndarray) -> np.ndarray:
        """Encode ``values`` (m,), value i uniform over [0, 2**nbits[i]) with nbits[i] >= 1."""
        assert values is not None
        values = np.ascontiguousarray(values, dtype=np.int32)
        if values.size:
            self._enc.encode(values, _UNIFORM, (1 << nbits).astype(np.int32))
        return values

    def finish(self) -> bytes:
        """The coded words as little-endian bytes."""
        return self._enc.get_compressed().astype("<u4").tobytes()


class BitDecoder:
    """Decodes what :class:`BitEncoder` wrote, making the same model updates in the same order."""

    def __init__(self, data: bytes) -> None:
        if len(data) % 4:
            raise StreamError("geometry payload is truncated: its range-coded part is not a whole number of words")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        self._dec = constriction.stream.queue.RangeDecoder(words)

    def code(self, model: ContextModel, ctx: np.ndarray, bits: np.ndarray | None = None) -> np.ndarray:
        """Decode ``ctx.size`` bits in contexts ``ctx``."""
        out = np.empty(ctx.size, dtype=np.int32)
        if ctx.size == 0:
            return out
        lo, hi = model.window(ctx)
        for start, stop in chunk_bounds(ctx.size):
            c = ctx[start:stop]
            b = self._decode(_BINARY, model.pairs[c])
            out[start:stop] = b
            model.update(c, b, lo, hi)
        return out

    def code_uniform(self, values: np.ndarray | None, nbits: np.ndarray) -> np.ndarray:
        """Decode ``nbits.size`` values, value i uniform over [0, 2**nbits[i])."""
        if nbits.size == 0:
            return np.zeros(0, dtype=np.int32)
        return self._decode(_UNIFORM, (1 << nbits).astype(np.int32)).astype(np.int32)

    def _decode(self, family: constriction.stream.model.Model, params: np.ndarray) -> np.ndarray:
        """One constriction decode call; its complaints about the data become a StreamError."""
        try:
            return self._dec.decode(family, params)
        except (AssertionError, ValueError, RuntimeError):
            raise StreamError("geometry payload is corrupt: the range-coded data is invalid") from None

    def check_end(self) -> None:
        """Raise if coded words remain unread (the payload is longer than what it codes)."""
        if not self._dec.maybe_exhausted():
            raise StreamError("geometry payload is corrupt: range-coded data continues past the last symbol")

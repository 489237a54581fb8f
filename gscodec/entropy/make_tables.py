"""Generate the constant residual probability tables of profile 1.

Run ``python -m gscodec.entropy.make_tables`` to (re)write the data file next to this module,
or ``python -m gscodec.entropy.make_tables --check`` to verify that the shipped file matches
what this generator computes on this machine.

Row ``k`` is a zero-mean Laplace distribution of scale ``b_k = B_MIN * 2**(k / LEVELS_PER_OCTAVE)``
discretised to the integers ``r`` in [-R, R]: bin ``r`` holds the mass of [r - 0.5, r + 0.5], and
the tails beyond +-(R + 0.5) are folded into the end bins. The masses are quantised to integer
weights, each at least 1, that sum to exactly ``2**PROB_BITS``:

1. ``t_r = p_r * (2**PROB_BITS - (2R + 1))`` and ``w_r = floor(t_r) + 1``;
2. the weight still missing, ``2**PROB_BITS - sum(w)`` (in [0, 2R]), is handed out one unit
   each to the bins with the largest fractional parts ``t_r - floor(t_r)``, ties to the lowest
   index (the largest-remainder method).

All arithmetic is float64 with ``math.exp``/``math.expm1`` on scalars. The decoder never runs
this: it loads the file, whose SHA-256 is pinned in :mod:`gscodec.entropy.tables`.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from pathlib import Path

import numpy as np

from gscodec.entropy.tables import (
    B_MIN,
    DATA_FILE,
    DATA_SHA256,
    LEVELS_PER_OCTAVE,
    PROB_BITS,
    K,
    R,
    scale_of,
)


def laplace_masses(b: float) -> np.ndarray:
    """Masses (2R + 1,) float64 of the integer bins -R..R of a zero-mean Laplace of scale ``b``, tails folded.

    For r >= 1 the bin mass is ``0.5 * exp(-(r - 0.5) / b) * (1 - exp(-1 / b))``; the end bin R
    holds everything beyond R - 0.5, ``0.5 * exp(-(R - 0.5) / b)``; the centre bin holds
    ``1 - exp(-0.5 / b)``. The row is symmetric by construction and normalised to sum 1.
    """
    if not b > 0:
        raise ValueError("scale must be positive")
    one_bin = -math.expm1(-1.0 / b)
    half = np.empty(R + 1, dtype=np.float64)  # r = 0..R
    half[0] = -math.expm1(-0.5 / b)
    for r in range(1, R):
        half[r] = 0.5 * math.exp(-(r - 0.5) / b) * one_bin
    half[R] = 0.5 * math.exp(-(R - 0.5) / b)
    p = np.concatenate([half[:0:-1], half])
    return p / math.fsum(p.tolist())


def quantise(p: np.ndarray, bits: int = PROB_BITS) -> np.ndarray:
    """Integer weights (n,) int64, each >= 1, summing to exactly ``2**bits``, close to ``p * 2**bits``.

    ``p`` (n,) float64 must be non-negative and sum to 1 (within rounding); n < 2**bits.
    """
    n = p.size
    total = 1 << bits
    t = p * float(total - n)
    base = np.floor(t)
    w = base.astype(np.int64) + 1
    missing = total - int(w.sum())
    if not 0 <= missing < n:
        raise ValueError("probabilities do not sum to 1")
    frac = t - base
    order = np.lexsort((np.arange(n), -frac))  # largest fraction first, then lowest index
    w[order[:missing]] += 1
    return w


def build_table() -> np.ndarray:
    """The full table (K, 2R + 1) of uint16 weights; each row sums to exactly 2**PROB_BITS."""
    rows = [quantise(laplace_masses(scale_of(k))) for k in range(K)]
    table = np.stack(rows)
    assert table.min() >= 1 and table.max() < (1 << PROB_BITS)
    assert np.all(table.sum(axis=1) == 1 << PROB_BITS)
    return table.astype(np.uint16)


def table_bytes() -> bytes:
    """The data file's content: the table row-major as little-endian uint16."""
    return build_table().astype("<u2").tobytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gscodec.entropy.make_tables",
        description=f"Write the Laplace residual tables (K={K}, R={R}, B_MIN={B_MIN}, "
        f"{LEVELS_PER_OCTAVE} levels per octave).",
    )
    parser.add_argument("--out", type=Path, default=DATA_FILE, help="where to write (default: the packaged file)")
    parser.add_argument("--check", action="store_true", help="only compare with the packaged file; exit 1 if different")
    args = parser.parse_args(argv)
    data = table_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if args.check:
        same = DATA_FILE.is_file() and DATA_FILE.read_bytes() == data
        print(f"sha256 {digest} ({'matches' if same else 'DIFFERS from'} {DATA_FILE.name}, pinned {DATA_SHA256})")
        return 0 if same and digest == DATA_SHA256 else 1
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data)} bytes, sha256 {digest})")
    if digest != DATA_SHA256:
        print("note: this differs from the pinned DATA_SHA256 in gscodec/entropy/tables.py", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Profile 1 residual coder benchmark: encode/decode throughput and size against the information content.

Residuals (seed 12345): N symbols, scale index uniform over [0, K), each residual a rounded
Laplace sample of its index's scale clipped to [-R, R]. Prints symbols per second for
``encode_residuals`` and ``decode_residuals`` (median of --repeat runs, wall clock), the coded
bits per symbol and the overhead over ``estimate_bits``.

Usage: python bench/entropy_bench.py [--n N] [--repeat N] [--max-index K]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from gscodec.entropy import B_MIN, LEVELS_PER_OCTAVE, K, R, decode_residuals, encode_residuals, estimate_bits

SEED = 12345


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="symbols per run (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the median is reported (default 5)")
    parser.add_argument("--max-index", type=int, default=K, help=f"indices drawn from [0, this) (default {K})")
    args = parser.parse_args()

    rng = np.random.default_rng(SEED)
    index = rng.integers(0, min(args.max_index, K), args.n)
    scale = B_MIN * 2.0 ** (index / LEVELS_PER_OCTAVE)
    res = np.clip(np.rint(rng.laplace(0.0, scale)), -R, R).astype(np.int32)

    encode_residuals(res[:1000], index[:1000])  # builds the tables and models once
    enc_s, dec_s = [], []
    data = b""
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        data = encode_residuals(res, index)
        t1 = time.perf_counter()
        out = decode_residuals(data, index)
        t2 = time.perf_counter()
        assert np.array_equal(out, res)
        enc_s.append(t1 - t0)
        dec_s.append(t2 - t1)

    est = estimate_bits(res, index)
    bits = 8 * len(data)
    print(f"symbols          {args.n:,} (indices in [0, {min(args.max_index, K)}), seed {SEED})")
    print(f"encode           {args.n / statistics.median(enc_s) / 1e6:8.2f} M symbols/s (median of {args.repeat})")
    print(f"decode           {args.n / statistics.median(dec_s) / 1e6:8.2f} M symbols/s (median of {args.repeat})")
    print(f"size             {bits / args.n:8.4f} bits/symbol ({len(data):,} bytes)")
    print(f"estimate_bits    {est / args.n:8.4f} bits/symbol (overhead {bits - est:+.1f} bits)")


if __name__ == "__main__":
    main()

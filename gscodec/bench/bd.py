"""Bjøntegaard delta metrics: BD-rate (percent) and BD-PSNR (dB) between two RD curves.

Two interpolations, both in the log-rate domain (natural log; the base cancels out):

* ``"cubic"``: VCEG-M33 (Bjøntegaard, 2001). One cubic polynomial is least-squares fitted
  through each curve's points and integrated exactly over the interval where the curves overlap.
* ``"pchip"``: the piecewise cubic Hermite interpolation of the JCT-VC/JVET common-test-condition
  spreadsheets (JCTVC-L1100, JVET-T2010), also used by CompressAI-style tooling: Fritsch-Carlson
  slopes (weighted harmonic mean inside, the shape-preserving three-point formula at the ends),
  integrated exactly, segment by segment.

BD-rate integrates log-rate as a function of PSNR over the common PSNR range and reports
``(exp(mean difference) - 1) * 100``: negative means the test curve needs fewer bits for the
same quality. BD-PSNR integrates PSNR as a function of log-rate over the common rate range:
positive means the test curve has higher quality at the same rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gscodec.errors import InputError

METHODS = ("cubic", "pchip")


def _prepare(rate: Sequence[float], quality: Sequence[float], method: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one curve and return (log rate, quality) as float64 arrays."""
    if method not in METHODS:
        raise InputError(f"unknown BD interpolation {method!r}; use one of {', '.join(METHODS)}")
    r = np.asarray(rate, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if r.ndim != 1 or r.shape != q.shape:
        raise InputError(f"{name}: rates and qualities must be two lists of the same length")
    need = 4 if method == "cubic" else 2
    if r.size < need:
        raise InputError(f"{name}: {method} BD needs at least {need} RD points, got {r.size}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q))):
        raise InputError(f"{name}: RD points must be finite numbers")
    if np.any(r <= 0):
        raise InputError(f"{name}: rates must be positive")
    if min(np.unique(r).size, np.unique(q).size) < need:
        raise InputError(f"{name}: {method} BD needs {need} distinct rates and qualities; some RD points coincide")
    return np.log(r), q


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson derivatives at the knots (x strictly increasing)."""
    h = np.diff(x)
    delta = np.diff(y) / h
    n = x.size
    d = np.zeros(n)
    if n == 2:
        d[:] = delta[0]
        return d
    for k in range(1, n - 1):
        if delta[k - 1] * delta[k] > 0:
            w1 = 2 * h[k] + h[k - 1]
            w2 = h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])
    d[0] = _pchip_end(h[0], h[1], delta[0], delta[1])
    d[-1] = _pchip_end(h[-1], h[-2], delta[-1], delta[-2])
    return d


def _pchip_end(h1: float, h2: float, del1: float, del2: float) -> float:
    """One-sided, shape-preserving three-point slope at an end knot."""
    d = ((2 * h1 + h2) * del1 - h1 * del2) / (h1 + h2)
    if np.sign(d) != np.sign(del1):
        return 0.0
    if np.sign(del1) != np.sign(del2) and abs(d) > abs(3 * del1):
        return 3 * del1
    return float(d)


def _pchip_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Exact integral over [lo, hi] (inside [x0, xn]) of the PCHIP interpolant through (x, y)."""
    d = _pchip_slopes(x, y)
    total = 0.0
    for k in range(x.size - 1):
        a, b = max(lo, x[k]), min(hi, x[k + 1])
        if b <= a:
            continue
        h = x[k + 1] - x[k]
        delta = (y[k + 1] - y[k]) / h
        # y(s) = y_k + d_k s + c2 s^2 + c3 s^3 with s = x - x_k
        c2 = (3 * delta - 2 * d[k] - d[k + 1]) / h
        c3 = (d[k] - 2 * delta + d[k + 1]) / (h * h)

        def prim(s: float, k: int = k, c2: float = c2, c3: float = c3) -> float:
            return y[k] * s + d[k] * s**2 / 2 + c2 * s**3 / 3 + c3 * s**4 / 4

        total += prim(b - x[k]) - prim(a - x[k])
    return total


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str, name: str) -> float:
    """Integral over [lo, hi] of the curve y(x) interpolated with ``method``."""
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if method == "cubic":
        poly = np.polyint(np.polyfit(x, y, 3))
        return float(np.polyval(poly, hi) - np.polyval(poly, lo))
    if np.any(np.diff(x) <= 0):
        raise InputError(
            f"{name}: two RD points share the same value on the integration axis; pchip needs distinct values"
        )
    return _pchip_integral(x, y, lo, hi)


def _overlap(a: np.ndarray, b: np.ndarray, what: str) -> tuple[float, float]:
    lo = max(float(a.min()), float(b.min()))
    hi = min(float(a.max()), float(b.max()))
    if hi <= lo:
        raise InputError(f"the two RD curves do not overlap in {what}; BD metrics need a common range")
    return lo, hi


def _mean_gap(x_anchor: np.ndarray, y_anchor: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
              axis: str, method: str) -> float:
    """Mean of y_test - y_anchor over the overlap of the two curves' x ranges (integrals over x)."""
    lo, hi = _overlap(x_anchor, x_test, axis)
    ia = _integral(x_anchor, y_anchor, lo, hi, method, "anchor")
    it = _integral(x_test, y_test, lo, hi, method, "test")
    return (it - ia) / (hi - lo)


def bd_rate(
    rate_anchor: Sequence[float],
    psnr_anchor: Sequence[float],
    rate_test: Sequence[float],
    psnr_test: Sequence[float],
    method: str = "pchip",
) -> float:
    """Average bit-rate difference of the test curve against the anchor at equal quality, in percent."""
    lra, qa = _prepare(rate_anchor, psnr_anchor, method, "anchor")
    lrt, qt = _prepare(rate_test, psnr_test, method, "test")
    return float((np.exp(_mean_gap(qa, lra, qt, lrt, "quality", method)) - 1.0) * 100.0)


def bd_psnr(
    rate_anchor: Sequence[float],
    psnr_anchor: Sequence[float],
    rate_test: Sequence[float],
    psnr_test: Sequence[float],
    method: str = "pchip",
) -> float:
    """Average quality difference (dB for PSNR) of the test curve against the anchor at equal rate."""
    lra, qa = _prepare(rate_anchor, psnr_anchor, method, "anchor")
    lrt, qt = _prepare(rate_test, psnr_test, method, "test")
    return float(_mean_gap(lra, qa, lrt, qt, "rate", method))

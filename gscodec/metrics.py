"""Picture-quality metrics used by the benchmark and the tests: RGB PSNR and MS-SSIM.

Both take one frame pair at a time as ``(H, W, 3)`` uint8 RGB arrays (8 bits per sample,
peak 255). :class:`ClipMetrics` accumulates frame pairs and reports clip means, the way
DESIGN.md ("Measuring") defines them: the mean over frames of the per-frame value.

Conventions, fixed here so every number the project publishes means the same thing:

* PSNR is over all R, G and B samples of a frame together (one MSE for the frame).
  Identical frames give ``+inf``; a clip mean replaces each infinite (or larger) value by
  :data:`PSNR_CAP_DB` before averaging, so one lossless frame cannot make a clip infinite.
* MS-SSIM is Wang, Simoncelli and Bovik (2003): 5 scales, weights
  (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), an 11-tap Gaussian window with sigma 1.5 applied
  without padding ("valid"), K1 = 0.01, K2 = 0.03, dynamic range 255, a 2x2 mean filter and
  decimation between scales (an odd row or column is first mirrored, as in Wang's MATLAB code
  and TensorFlow's ``ssim_multiscale``). It is computed on each of R, G and B separately and
  the three values are averaged, as TensorFlow and pytorch_msssim do for RGB input. Negative
  contrast-structure or SSIM terms are clamped to 0 before the weighted product (both of those
  implementations do the same).
* Frames too small for 5 scales (the coarsest scale must be at least 11 pixels on its short
  side, so 5 scales need about 161 pixels) use as many scales as fit, with the first weights
  renormalised to sum to 1: a 176x144 QCIF frame gets 4 scales. A frame under 11 pixels on a
  side gets single-scale SSIM with the window cut to the largest odd size that fits.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from gscodec.errors import InputError

PSNR_PEAK = 255.0
PSNR_CAP_DB = 100.0
"""Clip means use min(frame PSNR, PSNR_CAP_DB); an identical frame counts as 100 dB."""

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

_C1 = (SSIM_K1 * PSNR_PEAK) ** 2
_C2 = (SSIM_K2 * PSNR_PEAK) ** 2
_SHIFT = 128.0  # samples are centred before the moments are filtered (float32 precision)
_BAND = 32  # output rows per band in _ssim_cs


def _check_pair(ref: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a frame pair: same shape, (H, W, 3), uint8."""
    ref = np.asarray(ref)
    test = np.asarray(test)
    if ref.shape != test.shape:
        raise InputError(f"frame shapes differ: {ref.shape} vs {test.shape}; compare frames of one size")
    if ref.ndim != 3 or ref.shape[2] != 3 or ref.shape[0] < 1 or ref.shape[1] < 1:
        raise InputError(f"expected an (H, W, 3) RGB frame, got shape {ref.shape}")
    if ref.dtype != np.uint8 or test.dtype != np.uint8:
        raise InputError(f"expected 8-bit frames (uint8), got {ref.dtype} and {test.dtype}")
    return ref, test


def psnr_rgb(ref: np.ndarray, test: np.ndarray) -> float:
    """PSNR in dB of one 8-bit RGB frame against its reference; ``inf`` when they are identical."""
    ref, test = _check_pair(ref, test)
    diff = ref.astype(np.int32) - test.astype(np.int32)
    sse = int(np.einsum("ijk,ijk->", diff, diff, dtype=np.int64))
    if sse == 0:
        return math.inf
    mse = sse / diff.size
    return 10.0 * math.log10(PSNR_PEAK * PSNR_PEAK / mse)


def _gauss_1d(size: int, sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian of odd length ``size`` centred on its middle tap."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(coords**2) / (2.0 * sigma * sigma))
    return (g / g.sum()).to(torch.float32)


def ms_ssim_scales(height: int, width: int) -> int:
    """How many MS-SSIM scales a frame of this size gets (0 means single-scale, cut window)."""
    side = min(height, width)
    if side < SSIM_WINDOW:
        return 0
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS):
        side = (side + 1) // 2
        if side < SSIM_WINDOW:
            break
        scales += 1
    return scales


def _filter_valid(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """Separable filtering with the 1-D window along W then H, no padding ("valid").

    x: (N, H, W) -> (N, H - k + 1, W - k + 1). Written as k shifted multiply-adds, which on a
    CPU is faster than a grouped convolution for these thin kernels.
    """
    k = win.numel()
    taps = [float(v) for v in win]
    w_out = x.shape[-1] - k + 1
    h_out = x.shape[-2] - k + 1
    rows = x[..., 0:w_out] * taps[0]
    for i in range(1, k):
        rows.add_(x[..., i : i + w_out], alpha=taps[i])
    out = rows[..., 0:h_out, :] * taps[0]
    for i in range(1, k):
        out.add_(rows[..., i : i + h_out, :], alpha=taps[i])
    return out


def _moments(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Gaussian-filtered means, variances and covariance of x and y (valid filtering).

    x, y: (C, H, W) float32, already centred by _SHIFT. Returns tensors of (C, H', W').
    """
    c = x.shape[0]
    out = _filter_valid(torch.cat([x, y, x * x, y * y, x * y], dim=0), win)  # (5C, H', W')
    mx, my, exx, eyy, exy = out.split(c, dim=0)
    return mx, my, exx - mx * mx, eyy - my * my, exy - mx * my


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean SSIM and mean contrast-structure term; x, y are (C, H, W) centred.

    Works through bands of _BAND output rows so the intermediate maps stay in cache (several
    times faster on large frames than filtering the whole frame at once).
    """
    k = win.numel()
    h_out = x.shape[1] - k + 1
    ssim_sum = torch.zeros(x.shape[0], dtype=torch.float64)
    cs_sum = torch.zeros(x.shape[0], dtype=torch.float64)
    for r0 in range(0, h_out, _BAND):
        r1 = min(h_out, r0 + _BAND)
        mx, my, vx, vy, cxy = _moments(x[:, r0 : r1 + k - 1], y[:, r0 : r1 + k - 1], win)
        cs_map = (2.0 * cxy + _C2) / (vx + vy + _C2)
        mx += _SHIFT
        my += _SHIFT
        lum = (2.0 * mx * my + _C1) / (mx * mx + my * my + _C1)
        cs_sum += cs_map.sum(dim=(1, 2), dtype=torch.float64)
        ssim_sum += (lum * cs_map).sum(dim=(1, 2), dtype=torch.float64)
    count = h_out * (x.shape[2] - k + 1)
    return ssim_sum / count, cs_sum / count


def _downsample(x: torch.Tensor) -> torch.Tensor:
    """2x2 mean then decimation; an odd last row/column is mirrored first. x: (C, H, W)."""
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = F.pad(x[None], (0, w % 2, 0, h % 2), mode="replicate")[0]
    return F.avg_pool2d(x[None], kernel_size=2, stride=2)[0]


@contextmanager
def _single_thread() -> Iterator[None]:
    """Run torch ops on one thread, restoring the caller's setting afterwards.

    MS-SSIM works band by band on small tensors; handing each op to a thread pool costs more
    than it saves, and on a busy machine it made a 176x176 frame 100 times slower (0.01 s ->
    1 s). One thread keeps a 1080p frame at about 0.3 s whatever else is running.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def ms_ssim_rgb(ref: np.ndarray, test: np.ndarray) -> float:
    """MS-SSIM of one 8-bit RGB frame against its reference, averaged over R, G and B (see module doc)."""
    ref, test = _check_pair(ref, test)
    h, w = ref.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(ref.transpose(2, 0, 1))).to(torch.float32) - _SHIFT
    y = torch.from_numpy(np.ascontiguousarray(test.transpose(2, 0, 1))).to(torch.float32) - _SHIFT
    scales = ms_ssim_scales(h, w)
    with torch.no_grad(), _single_thread():
        if scales == 0:
            size = min(h, w)
            size -= 1 - size % 2  # largest odd size that fits
            ssim, _ = _ssim_cs(x, y, _gauss_1d(size, SSIM_SIGMA))
            return float(ssim.clamp(min=0.0).mean())
        weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], dtype=torch.float64)
        weights = weights / weights.sum()
        win = _gauss_1d(SSIM_WINDOW, SSIM_SIGMA)
        terms = []
        for level in range(scales):
            ssim, cs = _ssim_cs(x, y, win)
            if level < scales - 1:
                terms.append(cs)
                # the 2x2 mean commutes with the centring shift, so centred samples are fine
                x = _downsample(x)
                y = _downsample(y)
            else:
                terms.append(ssim)
        stacked = torch.stack(terms).to(torch.float64).clamp(min=0.0)  # (scales, C)
        per_channel = torch.prod(stacked ** weights[:, None], dim=0)
        return float(per_channel.mean())


@dataclass
class ClipMetrics:
    """Streaming accumulator: feed frame pairs with :meth:`add`, read clip means at the end.

    Per-frame values are kept (they are small) so reports can show them; PSNR values are
    stored capped at :data:`PSNR_CAP_DB`.
    """

    ms_ssim: bool = True
    psnr_db: list[float] = field(default_factory=list)
    ms_ssim_values: list[float] = field(default_factory=list)

    def add(self, ref: np.ndarray, test: np.ndarray) -> None:
        """Measure one decoded frame against its source frame."""
        self.psnr_db.append(min(psnr_rgb(ref, test), PSNR_CAP_DB))
        if self.ms_ssim:
            self.ms_ssim_values.append(ms_ssim_rgb(ref, test))

    @property
    def frames(self) -> int:
        """Number of frame pairs measured so far."""
        return len(self.psnr_db)

    def mean_psnr(self) -> float:
        """Mean over frames of the capped RGB PSNR, in dB."""
        if not self.psnr_db:
            raise InputError("no frames were measured; give at least one frame pair")
        return float(np.mean(self.psnr_db))

    def mean_ms_ssim(self) -> float | None:
        """Mean over frames of the RGB MS-SSIM, or None when MS-SSIM is switched off."""
        if not self.ms_ssim:
            return None
        if not self.ms_ssim_values:
            raise InputError("no frames were measured; give at least one frame pair")
        return float(np.mean(self.ms_ssim_values))

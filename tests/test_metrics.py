"""RGB PSNR and MS-SSIM (gscodec.metrics) against values derived by hand and an independent
float64 implementation of the Wang et al. (2003) definition written here from the paper."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gscodec.errors import InputError
from gscodec.metrics import (
    MS_SSIM_WEIGHTS,
    PSNR_CAP_DB,
    ClipMetrics,
    ms_ssim_rgb,
    ms_ssim_scales,
    psnr_rgb,
)

C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2


def _smooth_frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A natural-looking test frame: gradients, a disc and mild texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    disc = ((yy - h / 2) ** 2 + (xx - w / 3) ** 2 < (min(h, w) / 4) ** 2) * 60.0
    base = np.stack([xx / w * 180 + disc, yy / h * 160 + 40, (xx + yy) / (h + w) * 120 + 60 - disc / 2], axis=-1)
    base += rng.normal(0, 6, base.shape)
    return np.clip(np.rint(base), 0, 255).astype(np.uint8)


def _noisy(frame: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(frame + rng.normal(0, sigma, frame.shape)), 0, 255).astype(np.uint8)


# --- PSNR ---------------------------------------------------------------------------------


def test_psnr_by_hand() -> None:
    ref = np.zeros((4, 4, 3), np.uint8)
    test = ref.copy()
    test[1, 2, 0] = 10  # one sample off by 10 among 48: MSE = 100 / 48
    assert psnr_rgb(ref, test) == pytest.approx(10 * math.log10(255**2 * 48 / 100), abs=1e-12)
    # every sample off by one: MSE = 1, PSNR = 20 log10(255) = 48.1308 dB
    assert psnr_rgb(ref, ref + 1) == pytest.approx(48.13080360867909, abs=1e-12)


def test_psnr_identical_is_inf_and_symmetric() -> None:
    frame = _smooth_frame(20, 30)
    assert psnr_rgb(frame, frame) == math.inf
    other = _noisy(frame, 5)
    assert psnr_rgb(frame, other) == psnr_rgb(other, frame)


def test_psnr_no_uint8_wraparound() -> None:
    ref = np.full((2, 2, 3), 255, np.uint8)
    test = np.zeros((2, 2, 3), np.uint8)
    assert psnr_rgb(ref, test) == pytest.approx(0.0, abs=1e-12)  # MSE = 255^2


def test_clip_mean_caps_identical_frames() -> None:
    ref = np.zeros((4, 4, 3), np.uint8)
    clip = ClipMetrics(ms_ssim=False)
    clip.add(ref, ref)
    clip.add(ref, ref + 1)
    assert clip.frames == 2
    assert clip.psnr_db[0] == PSNR_CAP_DB
    assert clip.mean_psnr() == pytest.approx((PSNR_CAP_DB + 48.13080360867909) / 2)
    assert clip.mean_ms_ssim() is None


def test_bad_frames_are_input_errors() -> None:
    a = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(InputError):
        psnr_rgb(a, np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(InputError):
        ms_ssim_rgb(a, a.astype(np.float32))
    with pytest.raises(InputError):
        psnr_rgb(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8))
    with pytest.raises(InputError):
        ClipMetrics().mean_psnr()


# --- MS-SSIM ------------------------------------------------------------------------------


def test_scale_count_follows_frame_size() -> None:
    assert ms_ssim_scales(1080, 1920) == 5
    assert ms_ssim_scales(161, 161) == 5  # 161 -> 81 -> 41 -> 21 -> 11
    assert ms_ssim_scales(160, 300) == 4  # coarsest would be 10 < 11
    assert ms_ssim_scales(144, 176) == 4  # QCIF
    assert ms_ssim_scales(48, 64) == 3
    assert ms_ssim_scales(11, 11) == 1
    assert ms_ssim_scales(10, 40) == 0  # single-scale SSIM with a cut window


@pytest.mark.parametrize(("h", "w", "scales"), [(176, 176, 5), (144, 176, 4)])
def test_constant_frames_match_the_closed_form(h: int, w: int, scales: int) -> None:
    # Flat frames: every contrast-structure term is exactly 1 and the luminance term is
    # (2ab + C1) / (a^2 + b^2 + C1) at the coarsest scale, so MS-SSIM = l ** w_last.
    a, b = 100, 110
    ref = np.full((h, w, 3), a, np.uint8)
    test = np.full((h, w, 3), b, np.uint8)
    lum = (2 * a * b + C1) / (a * a + b * b + C1)
    weights = MS_SSIM_WEIGHTS[:scales]
    expected = lum ** (weights[-1] / sum(weights))
    assert ms_ssim_rgb(ref, test) == pytest.approx(expected, abs=1e-6)


def test_identical_frames_give_one() -> None:
    for shape in [(176, 200, 3), (48, 64, 3), (7, 5, 3), (1, 1, 3)]:
        frame = _smooth_frame(*shape[:2])
        assert ms_ssim_rgb(frame, frame) == pytest.approx(1.0, abs=1e-9)


def test_decreases_monotonically_with_noise() -> None:
    ref = _smooth_frame(176, 176)
    values = [ms_ssim_rgb(ref, _noisy(ref, s)) for s in (1, 3, 8, 20, 50)]
    assert all(earlier > later for earlier, later in zip(values, values[1:]))
    assert 0.0 <= values[-1] < values[0] < 1.0


def test_inverted_frame_is_clamped_to_zero() -> None:
    ref = _smooth_frame(64, 64)
    assert ms_ssim_rgb(ref, 255 - ref) == 0.0  # negative structure terms clamp to 0


# Independent float64 implementation straight from the definition: explicit 2-D Gaussian
# windows over every valid position, 2x2 means with the last odd row/column mirrored.


def _ref_ssim_terms(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    coords = np.arange(11) - 5.0
    g = np.exp(-(coords**2) / (2 * 1.5**2))
    window = np.outer(g, g) / np.outer(g, g).sum()

    def filt(img: np.ndarray) -> np.ndarray:
        views = np.lib.stride_tricks.sliding_window_view(img, (11, 11))
        return np.einsum("ijkl,kl->ij", views, window)

    mx, my = filt(x), filt(y)
    vx, vy = filt(x * x) - mx * mx, filt(y * y) - my * my
    cxy = filt(x * y) - mx * my
    cs = (2 * cxy + C2) / (vx + vy + C2)
    lum = (2 * mx * my + C1) / (mx * mx + my * my + C1)
    return float((lum * cs).mean()), float(cs.mean())


def _ref_down(img: np.ndarray) -> np.ndarray:
    h, w = img.shape
    img = np.pad(img, ((0, h % 2), (0, w % 2)), mode="symmetric")
    return (img[0::2, 0::2] + img[1::2, 0::2] + img[0::2, 1::2] + img[1::2, 1::2]) / 4


def _ref_ms_ssim(ref: np.ndarray, test: np.ndarray, scales: int) -> float:
    weights = np.array(MS_SSIM_WEIGHTS[:scales]) / sum(MS_SSIM_WEIGHTS[:scales])
    per_channel = []
    for ch in range(3):
        x = ref[..., ch].astype(np.float64)
        y = test[..., ch].astype(np.float64)
        value = 1.0
        for level in range(scales):
            ssim, cs = _ref_ssim_terms(x, y)
            term = ssim if level == scales - 1 else cs
            value *= max(term, 0.0) ** weights[level]
            x, y = _ref_down(x), _ref_down(y)
        per_channel.append(value)
    return float(np.mean(per_channel))


@pytest.mark.parametrize(("h", "w", "sigma"), [(171, 165, 12), (144, 176, 6), (48, 64, 25)])
def test_matches_an_independent_float64_implementation(h: int, w: int, sigma: float) -> None:
    ref = _smooth_frame(h, w, seed=3)
    test = _noisy(ref, sigma, seed=4)
    expected = _ref_ms_ssim(ref, test, ms_ssim_scales(h, w))
    assert ms_ssim_rgb(ref, test) == pytest.approx(expected, abs=2e-6)


def test_tiny_frames_still_work() -> None:
    ref = _smooth_frame(8, 6)
    value = ms_ssim_rgb(ref, _noisy(ref, 20))
    assert 0.0 <= value < 1.0


def test_clip_metrics_means_over_frames() -> None:
    ref = _smooth_frame(48, 64)
    tests = [_noisy(ref, s, seed=s) for s in (2, 10)]
    clip = ClipMetrics()
    for t in tests:
        clip.add(ref, t)
    assert clip.mean_psnr() == pytest.approx(np.mean([psnr_rgb(ref, t) for t in tests]))
    assert clip.mean_ms_ssim() == pytest.approx(np.mean([ms_ssim_rgb(ref, t) for t in tests]))

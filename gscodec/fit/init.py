"""Initial Gaussians from the frames: placed where the picture has detail, coloured from its pixels.

Each Gaussian gets a home frame (its tau spread evenly over the segment) and a position drawn from
that frame with probability proportional to a mix of the local gradient magnitude and a uniform
share, so edges and texture get many small Gaussians and flat areas a few large ones. The footprint
follows the local density of Gaussians (the expected count per pixel of those visible at a frame),
and the velocity is the optical flow at the Gaussian's position, when a flow is given.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from gscodec.fit.config import FitConfig
from gscodec.fit.flow import FlowField
from gscodec.model.params import ATTRIBUTES
from gscodec.model.tsw import MotionMode

_SQRT_2PI = math.sqrt(2.0 * math.pi)


DEFAULT_TSCALE: float = 4.0
"""Initial temporal sigma in frames (shorter segments use half their length)."""


def default_tscale(frames: int) -> float:
    """Initial temporal sigma (frames) when the config leaves it at 0: DEFAULT_TSCALE, at most half the segment."""
    return max(0.5, min(DEFAULT_TSCALE, frames / 2.0))


STILL_STD: float = 0.02
"""A pixel is still when the standard deviation of its luma over the segment (in [0, 1]) is below this."""


def still_map(frames: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels of a (T, H, W, 3) uint8 segment whose luma barely changes over it.

    The luma is the mean of R, G and B; its standard deviation over the frames is accumulated one frame
    at a time (memory O(H W), not O(T H W)).
    """
    total = np.zeros(frames.shape[1:3], dtype=np.float64)
    squares = np.zeros_like(total)
    for frame in frames:
        luma = frame.astype(np.float32).mean(axis=-1, dtype=np.float32) / np.float32(255.0)
        total += luma
        squares += np.square(luma, dtype=np.float64)
    t = max(len(frames), 1)
    var = np.maximum(squares / t - np.square(total / t), 0.0)
    return var < STILL_STD**2


def detail_map(frame: np.ndarray) -> np.ndarray:
    """Local detail of an (H, W, 3) uint8 frame: the gradient magnitude of R, G and B, summed and blurred. (H, W)."""
    f = frame.astype(np.float32) / 255.0
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    # Not cv2.magnitude: it rounds about a third of its elements differently (a fused multiply-add)
    # depending on its output buffer's alignment in memory, so CPU fits differed between runs.
    mag = np.sqrt(gx * gx + gy * gy).sum(axis=-1)
    return cv2.GaussianBlur(mag, (0, 0), sigmaX=1.0, borderType=cv2.BORDER_REFLECT)


def _stable_sum(a: np.ndarray) -> float:
    """The sum of a float array, added in order (a sequential cumulative sum).

    Not ``a.sum()``: numpy's SIMD pairwise sum depends on the array's alignment in memory, which
    varies from one allocation to the next, so the same values could sum to results a unit in the
    last place apart and, through the placement's cumulative sum, move a Gaussian to another pixel:
    a CPU fit would not repeat itself bit for bit. (math.fsum is exact too, but took 50 ms a 720p
    frame, 1.6 s of a 32-frame initialisation.)
    """
    flat = np.asarray(a, dtype=np.float64).ravel()
    return float(np.cumsum(flat)[-1]) if flat.size else 0.0


def placement_density(frame: np.ndarray, detail_mix: float) -> np.ndarray:
    """Probability of each pixel of a frame receiving a Gaussian: (H, W) float64 summing to 1."""
    d = detail_map(frame).astype(np.float64)
    total = _stable_sum(d)
    if not total > 0:
        return np.full(d.shape, 1.0 / d.size)
    return d * ((1.0 - detail_mix) / total) + detail_mix / d.size


def _path_velocity(path: np.ndarray) -> np.ndarray:
    """(T, 2) a path's motion per frame at each frame, estimated as FlowField.velocity_at estimates the
    picture's: the mean of the step to the next frame and the step from the previous one."""
    steps = np.diff(path, axis=0)
    if steps.shape[0] == 0:
        return np.zeros_like(path)
    ahead = np.concatenate([steps, steps[-1:]])  # the last frame has only the step into it
    behind = np.concatenate([steps[:1], steps])
    return 0.5 * (ahead + behind)


def initial_gaussians(
    frames: np.ndarray, count: int, config: FitConfig, rng: np.random.Generator, flow: FlowField | None = None,
    mode: MotionMode | None = None,
) -> dict[str, np.ndarray]:
    """``count`` Gaussians for a (T, H, W, 3) uint8 segment, as float32 arrays named as in params.ATTRIBUTES.

    With ``mode`` (the segment's shared motion, format_spec.md §10.3) each Gaussian is placed so that it
    is, with the mode's displacement added, where its sample was at its home frame, and (with a flow
    and motion_degree >= 1) the mode's own motion there is taken off the flow's velocity, so that the
    two together move as the flow says.
    """
    t, h, w = frames.shape[:3]
    # Home frames: tau stratified over [-0.5, T - 0.5), one stratum per Gaussian, order shuffled.
    tau = (np.arange(count) + rng.random(count)) * (t / count) - 0.5
    tau = rng.permutation(tau)
    home = np.clip(np.floor(tau + 0.5), 0, t - 1).astype(np.int64)

    tscale = config.init_tscale if config.init_tscale > 0 else default_tscale(t)

    x = np.empty(count)
    y = np.empty(count)
    color = np.empty((count, 3))
    local = np.empty(count)  # placement probability of the pixel the Gaussian sits on
    for k in range(t):
        idx = np.flatnonzero(home == k)
        if idx.size == 0:
            continue
        p = placement_density(frames[k], config.detail_mix).ravel()
        cdf = np.cumsum(p)
        pix = np.minimum(np.searchsorted(cdf, rng.random(idx.size) * cdf[-1], side="right"), p.size - 1)
        i, j = np.divmod(pix, w)
        x[idx] = j + rng.random(idx.size)
        y[idx] = i + rng.random(idx.size)
        color[idx] = frames[k, i, j].astype(np.float64) / 255.0
        local[idx] = p[pix]

    # Gaussians seen at one frame, each weighted by its temporal fall-off: count / T * sqrt(2 pi) sigma_t.
    tscales = np.full(count, tscale)
    per_frame = count / t * min(float(t), _SQRT_2PI * tscale)
    if config.still_tscale > 0 and t > 1:
        # Gaussians on still pixels live long: a still region is then drawn once, not once every few frames.
        still = still_map(frames)[np.clip(y.astype(np.int64), 0, h - 1), np.clip(x.astype(np.int64), 0, w - 1)]
        tscales[still] = max(tscale, config.still_tscale * t)
        per_frame = _stable_sum(np.minimum(float(t), _SQRT_2PI * tscales)) / t
    density = np.maximum(per_frame * local, 1e-12)  # Gaussians per pixel around each one
    sigma = np.clip(config.init_scale / np.sqrt(density), 0.5, max(h, w) / 2.0)

    vel = np.zeros((count, 2))
    moving = flow is not None and config.motion_degree >= 1
    if moving:
        vel = flow.velocity_at(home, x, y).astype(np.float64)
    offset = np.zeros((count, 2))
    if mode is not None:
        path = mode.path.detach().double().cpu().numpy()
        coef = mode.coef.detach().double().cpu().numpy()
        # The renderer scales the path by s = a + (b, c) . v with v the Gaussian's own velocity, which is
        # the flow's f less s times the path's motion d here: s = (a + (b, c) . f) / (1 + (b, c) . d).
        s = coef[0] + vel @ coef[1:]
        if moving:
            d = _path_velocity(path)[home]
            den = 1.0 + d @ coef[1:]
            s = np.where(np.abs(den) > 1e-3, s / np.where(den == 0.0, 1.0, den), s)
            vel = vel - s[:, None] * d
        offset = s[:, None] * path[home]
    # The sample came from the home frame; move it to where the Gaussian is at its own tau.
    dt = (tau - home)[:, None]
    xy = np.stack([x, y], axis=1) + vel * dt - offset

    op = config.init_opacity
    arrays = {
        "xy": xy,
        "tau": tau[:, None],
        "vel": vel,
        "acc": np.zeros((count, 2)),
        "log_scale": np.repeat(np.log(sigma)[:, None], 2, axis=1),
        "rot": rng.uniform(-math.pi / 2, math.pi / 2, size=(count, 1)),
        "log_tscale": np.log(tscales)[:, None],
        "color": color,
        "opacity": np.full((count, 1), math.log(op / (1.0 - op)) if op < 1.0 else 8.0),
    }
    return {a.name: arrays[a.name].astype(np.float32) for a in ATTRIBUTES}

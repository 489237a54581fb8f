"""Optical flow between neighbouring frames with OpenCV's DIS (no learned weights), and its reliability.

The fitting loop uses it twice: to start each Gaussian with the velocity of the content it sits
on, and as a guidance loss that pulls a Gaussian's frame-to-frame displacement towards the flow
where the flow is reliable (forward and backward flow agree).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

MIN_FLOW_SIDE: tuple[int, int] = (8, 12)
"""DIS needs at least 8 pixels on the short side and 12 on the long side; smaller frames get no flow."""

MAX_THREADS: int = 8
"""Frame pairs whose flow is computed at the same time (OpenCV releases the GIL)."""

MIN_SHIFT_SAMPLES: int = 16
"""Trusted flow vectors a frame pair needs for FlowField.global_shift to give it a shift other than 0."""

CONSISTENCY_SIGMA: float = 1.0
"""Forward-backward disagreement (pixels) at which a flow vector's weight falls to exp(-1/2)."""


@dataclass(frozen=True)
class FlowField:
    """Flow of a T-frame segment (T >= 2), in pixels, x then y.

    ``forward[k]`` maps frame k to k + 1 (content at p in frame k is at p + forward[k](p) in frame k + 1);
    ``backward[k]`` maps frame k + 1 to k. ``weight[k]`` in [0, 1] says how much ``forward[k]`` is trusted.
    """

    forward: np.ndarray  # (T-1, H, W, 2) float32
    backward: np.ndarray  # (T-1, H, W, 2) float32
    weight: np.ndarray  # (T-1, H, W) float32

    def velocity_at(self, frame: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Velocity (pixels per frame) at pixel-centre positions (x, y) of integer frames: (n, 2).

        The central estimate averages the forward flow and the negated backward flow into the frame;
        the first and last frames have only one of the two.
        """
        t_minus_1 = self.forward.shape[0]
        h, w = self.forward.shape[1:3]
        j = np.clip(np.floor(x).astype(np.int64), 0, w - 1)
        i = np.clip(np.floor(y).astype(np.int64), 0, h - 1)
        k = np.asarray(frame, dtype=np.int64)
        total = np.zeros((k.shape[0], 2), dtype=np.float32)
        count = np.zeros((k.shape[0], 1), dtype=np.float32)
        has_next = k < t_minus_1
        kn = np.minimum(k, t_minus_1 - 1)
        total += np.where(has_next[:, None], self.forward[kn, i, j], 0.0)
        count += has_next[:, None]
        has_prev = k > 0
        kp = np.maximum(k - 1, 0)
        total -= np.where(has_prev[:, None], self.backward[kp, i, j], 0.0)
        count += has_prev[:, None]
        return total / np.maximum(count, 1.0)

    def global_shift(self, stride: int = 4) -> np.ndarray:
        """(T-1, 2): how far the picture as a whole moves from each frame to the next, pixels.

        The median, x and y apart, of the trusted finite forward vectors (weight at least 1/2) on a grid of
        every ``stride``-th pixel (of every pixel where that grid would hold fewer than 16 x MIN_SHIFT_SAMPLES);
        0 for a pair with fewer than MIN_SHIFT_SAMPLES, or 1 % of the grid, of them (a cut, a blur).
        """
        if stride < 1:
            raise ValueError("global_shift needs a stride of at least 1")
        h, w = self.forward.shape[1:3]
        if ((h + stride - 1) // stride) * ((w + stride - 1) // stride) < 16 * MIN_SHIFT_SAMPLES:
            stride = 1
        pairs = self.forward.shape[0]
        fwd = self.forward[:, ::stride, ::stride].reshape(pairs, -1, 2)
        trusted = (self.weight[:, ::stride, ::stride].reshape(pairs, -1) >= 0.5) & np.isfinite(fwd).all(axis=-1)
        need = max(MIN_SHIFT_SAMPLES, 0.01 * fwd.shape[1])
        out = np.zeros((pairs, 2))
        for k in range(pairs):
            if trusted[k].sum() >= need:
                out[k] = np.median(fwd[k][trusted[k]], axis=0)
        return out


def _gray(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    g = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    if size is not None:
        g = cv2.resize(g, size, interpolation=cv2.INTER_AREA)
    return g


def _upscale(flow: np.ndarray, width: int, height: int) -> np.ndarray:
    """A flow computed on a smaller frame, resized to width x height with vectors rescaled."""
    h, w = flow.shape[:2]
    if (w, h) == (width, height):
        return flow
    out = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= width / w
    out[..., 1] *= height / h
    return out


def consistency(forward: np.ndarray, backward: np.ndarray, sigma: float = CONSISTENCY_SIGMA) -> np.ndarray:
    """exp(-|F(p) + B(p + F(p))|^2 / (2 sigma^2)): 1 where following the flow there and back returns to p."""
    h, w = forward.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = gx + forward[..., 0]
    map_y = gy + forward[..., 1]
    back = cv2.remap(backward, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    err = np.sum((forward + back) ** 2, axis=-1)
    inside = (map_x >= -0.5) & (map_x <= w - 0.5) & (map_y >= -0.5) & (map_y <= h - 0.5)
    return (np.exp(-0.5 * err / (sigma * sigma)) * inside).astype(np.float32)


def dis_flow(frames: np.ndarray, max_side: int = 640) -> FlowField | None:
    """DIS flow (OpenCV's medium preset) between each pair of neighbouring frames of (T, H, W, 3) uint8 RGB.

    Frames larger than ``max_side`` on the long side are scaled down for the flow and the result is
    scaled back up. Returns None for a single frame, or frames smaller than MIN_FLOW_SIDE.
    """
    t, h, w = frames.shape[:3]
    if t < 2:
        return None
    scale = min(1.0, max_side / max(h, w))
    size = None
    if scale < 1.0:
        size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    fw, fh = size if size is not None else (w, h)
    if min(fw, fh) < MIN_FLOW_SIDE[0] or max(fw, fh) < MIN_FLOW_SIDE[1]:
        return None
    grays = [_gray(f, size) for f in frames]
    forward = np.empty((t - 1, h, w, 2), dtype=np.float32)
    backward = np.empty((t - 1, h, w, 2), dtype=np.float32)
    weight = np.empty((t - 1, h, w), dtype=np.float32)

    def pair(k: int) -> None:
        # One DIS object per call: they are not shared between threads. Each pair is computed on
        # its own, so the result does not depend on how the pairs are scheduled.
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        forward[k] = _upscale(dis.calc(grays[k], grays[k + 1], None), w, h)
        backward[k] = _upscale(dis.calc(grays[k + 1], grays[k], None), w, h)
        weight[k] = consistency(forward[k], backward[k])

    workers = max(1, min(t - 1, os.cpu_count() or 1, MAX_THREADS))
    if workers == 1:
        for k in range(t - 1):
            pair(k)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(pair, range(t - 1)))
    return FlowField(forward, backward, weight)

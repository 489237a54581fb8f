"""Learning a segment's shared motion mode (format_spec.md §16.10) beside the Gaussians.

A handheld camera shakes the whole picture along one path, but each part of it in its own measure.
Linear motion per Gaussian cannot follow the shake, so without the mode the fit spends Gaussians on
it. With the mode, every centre also moves by s · P(k) at frame k, where P is one learned path of
frames x 2 values and s = a + b · vx + c · vy comes from each Gaussian's own velocity, with a, b, c
learned once per segment: about 140 bytes per segment and nothing per Gaussian. On flower (a 256x160
crop, 32 frames, CPU, the whole codec) it gained about 0.7 dB at equal rate, on carphone about 2 dB;
on bikes (a fixed camera) nothing. The fit starts the path from the shake the optical flow sees
(:func:`shake_path`), which gained flower's crop another 0.8 dB (docs/RATE_DISTORTION.md, "Camera shake").

:class:`MotionTrainer` holds the path and coefficients with their optimiser; the float fit and the RD
stage both step it, so its moments carry over from one to the other. :func:`quantize_mode` turns
the result into the integers the stream carries, and :func:`wobble` measures how far the path strays
from a straight line (a straight path is the Gaussians' own linear motion, which the mode cannot
improve on): gsenc drops the mode of a segment whose path hardly strays.
"""

from __future__ import annotations

import numpy as np
import torch

from gscodec.bitstream.profile1 import MAX_MOTION_SHIFT, MotionBlock
from gscodec.errors import RuntimeFailure
from gscodec.fit.flow import FlowField
from gscodec.model.params import ATTRIBUTE_NAMES
from gscodec.model.tsw import Gaussians, MotionMode

LR_PATH = 0.05
"""Adam's step for the path, px (constant: the shake is learned afresh while the Gaussians move)."""
LR_COEF = 0.01
"""Adam's step for a, b, c."""
WOBBLE_MIN = 0.2
"""gsenc keeps the mode of a segment whose path strays at least this far (RMS, px, times the median
coefficient) from its best straight line. On the CPU (preset medium, λ 0.004's budget, the fit's path),
learned from zero: a flower crop 0.51 px and carphone 0.35, both about +0.7 and +2 dB with the mode;
bikes 0.11 px (16 frames, preset fast), where the mode gained nothing. Started from the flow's shake
(shake_path): the flower crop 3.39 px, carphone 0.54, bikes 0.09, so the same choices; bikes over 32
frames (with a cut) 0.205 px from the flow and 0.196 from zero, at the same rate and within 0.04 dB."""


class MotionTrainer:
    """A segment's motion mode being learned: path (T, 2) from zero (the fit sets it to :func:`shake_path`
    before the first step, see :meth:`start_from`), (a, b, c) from (1, 0, 0)."""

    def __init__(self, frames: int, device: torch.device | str = "cpu") -> None:
        if frames < 1:
            raise ValueError("a motion mode needs at least one frame")
        self.path = torch.zeros(frames, 2, device=device, requires_grad=True)
        self.coef = torch.tensor([1.0, 0.0, 0.0], device=device, requires_grad=True)
        self._opt = self._optimizer()
        self.steps = 0
        """Adam steps taken so far."""

    def start_from(self, path: np.ndarray) -> None:
        """Set the path (T, 2) before the first step, e.g. to :func:`shake_path` of the segment's flow."""
        if self.steps:
            raise RuntimeError("the motion mode's path can only be set before its first step")
        values = np.asarray(path, np.float32)
        if values.shape != tuple(self.path.shape):
            raise ValueError(f"a path of shape {values.shape} for a mode of shape {tuple(self.path.shape)}")
        with torch.no_grad():
            self.path.copy_(torch.from_numpy(values))

    def _optimizer(self) -> torch.optim.Adam:
        return torch.optim.Adam([{"params": [self.path], "lr": LR_PATH}, {"params": [self.coef], "lr": LR_COEF}])

    def to(self, device: torch.device | str) -> MotionTrainer:
        """Move to ``device`` (the fit's), moments included; returns self."""
        dev = torch.device(device)
        if self.path.device.type == dev.type and (dev.index is None or self.path.device.index == dev.index):
            return self
        state = self._opt.state_dict()
        self.path = self.path.detach().to(dev).requires_grad_(True)
        self.coef = self.coef.detach().to(dev).requires_grad_(True)
        self._opt = self._optimizer()
        self._opt.load_state_dict(state)  # moves the moments to the parameters' device
        return self

    def mode(self) -> MotionMode:
        """The mode as it is now (differentiable with respect to the path and coefficients)."""
        return MotionMode(self.path, self.coef)

    def step(self) -> None:
        """One Adam step with the gradients the last backward pass left (none: nothing to do)."""
        if self.path.grad is None and self.coef.grad is None:
            return
        self._opt.step()
        self._opt.zero_grad(set_to_none=True)
        self.steps += 1


def _straight_line(path: np.ndarray) -> np.ndarray:
    """(2, 2) least-squares line of a (T, 2) path: rows (offset, slope per frame); the slope is 0 for T = 1."""
    k = np.arange(path.shape[0], dtype=np.float64)
    if path.shape[0] < 2:
        return np.stack([path.mean(axis=0), np.zeros(2)])
    basis = np.stack([np.ones_like(k), k], axis=1)
    line, *_ = np.linalg.lstsq(basis, path, rcond=None)
    return line


def shake_path(flow: FlowField) -> np.ndarray:
    """(T, 2) a path to start the mode from: where the picture as a whole is at each frame (the running sum
    of :meth:`FlowField.global_shift`) less its best straight line, which the Gaussians' own velocities
    carry. The fit then starts with every Gaussian following the shake instead of having to learn it
    Gaussian by Gaussian from zero (an Adam step moves the path only LR_PATH)."""
    shift = flow.global_shift()
    where = np.concatenate([np.zeros((1, 2)), np.cumsum(shift, axis=0)])
    line = _straight_line(where)
    return where - (line[0] + np.arange(where.shape[0])[:, None] * line[1])


def fold_straight_part(mode: MotionMode, g: Gaussians) -> Gaussians:
    """The Gaussians rendered without ``mode`` as they were with its best straight line: each Gaussian i
    (coefficient s_i) moves by s_i (alpha + beta k) at frame k, which is s_i (alpha + beta tau_i) at its
    own time plus s_i beta per frame after it: added to its position and velocity exactly."""
    line = torch.from_numpy(_straight_line(mode.path.detach().double().cpu().numpy())).to(g.device, torch.float32)
    s = mode.detach().to(g.device).factors(g.vel)[:, None]
    return Gaussians(**{**{n: getattr(g, n).detach() for n in ATTRIBUTE_NAMES},
                        "xy": g.xy.detach() + s * (line[0] + line[1] * g.tau.detach()),
                        "vel": g.vel.detach() + s * line[1]})


def wobble(mode: MotionMode, velocities: torch.Tensor | np.ndarray) -> float:
    """RMS distance (px) of the path from its least-squares straight line, times the median |coefficient|
    of the Gaussians with these velocities (N, 2): how far the mode moves a typical Gaussian beyond
    what linear motion could."""
    path = mode.path.detach().double().cpu().numpy()
    line = _straight_line(path)
    rest = path - (line[0] + np.arange(path.shape[0])[:, None] * line[1])
    rms = float(np.sqrt(np.mean(np.sum(rest * rest, axis=1))))
    coef = mode.coef.detach().double().cpu().numpy()
    vel = np.asarray(velocities.detach().cpu() if isinstance(velocities, torch.Tensor) else velocities, np.float64)
    s = coef[0] + vel.reshape(-1, 2) @ coef[1:] if vel.size else np.array([coef[0]])
    return rms * float(np.median(np.abs(s)))


def _fixed(values: np.ndarray, most: int) -> tuple[int, np.ndarray]:
    """(shift, integers): the largest shift <= ``most`` with every round(v * 2^shift) within int16."""
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    shift = most
    while shift > 0 and round(peak * 2.0**shift) > 32767:
        shift -= 1
    return shift, np.clip(np.round(values * 2.0**shift), -32767, 32767).astype(np.int64)


def quantize_mode(mode: MotionMode) -> MotionBlock:
    """The stream's integers for ``mode``: the path on a grid of 2^-path_shift px and a, b, c on one of
    2^-coef_shift, each shift the finest (at most MAX_MOTION_SHIFT) that keeps every value within int16."""
    path = mode.path.detach().double().cpu().numpy()
    coef = mode.coef.detach().double().cpu().numpy()
    if not (np.isfinite(path).all() and np.isfinite(coef).all()):
        raise RuntimeFailure("the motion mode's training diverged (non-finite values); encode with --motion-mode off")
    path_shift, p = _fixed(path, MAX_MOTION_SHIFT)
    coef_shift, c = _fixed(coef, MAX_MOTION_SHIFT)
    return MotionBlock(path_shift, coef_shift, c.astype(np.int16), p.astype(np.int16))

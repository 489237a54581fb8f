"""TSW (toast-like sliding window) Gaussians and their projection to one frame.

A Gaussian lives in (x, y, t): a centre ``xy`` at time ``tau`` that moves with ``vel`` and
``acc``, an x-y footprint (``log_scale``, ``rot``), a temporal extent ``log_tscale``, a colour
and an opacity logit. Frame t shows the Gaussians whose window contains t; each is splatted
with its x-y covariance and composited nearest-in-time first. The rules are normative and
written down in format_spec.md §10 ("Rendering"); this module is the reference for steps 1 to 3 (window,
motion, covariance, opacity), which both rasterizers share.

Everything here is plain differentiable PyTorch and runs on whatever device the tensors are
on, so the fitting loop, the CPU rasterizer and the CUDA rasterizer all start from the same
:func:`project_frames`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import Tensor

from gscodec.errors import InputError
from gscodec.model.params import ATTRIBUTE_NAMES, ATTRIBUTES

WINDOW_SIGMAS: float = 3.0
"""A Gaussian is active at t iff |t - tau| <= WINDOW_SIGMAS * exp(log_tscale)."""

LOW_PASS: float = 0.3
"""Added to both diagonal entries of every 2-D covariance, in px^2 (gsplat's eps2d)."""

_COMPONENTS: dict[str, int] = {a.name: a.components for a in ATTRIBUTES}


@dataclass
class Gaussians:
    """One tensor per ``params.ATTRIBUTES`` name, each of shape (N, components), float32.

    Field order equals the attribute table's order (checked at import time below).
    """

    xy: Tensor  # (N, 2)
    tau: Tensor  # (N, 1)
    vel: Tensor  # (N, 2)
    acc: Tensor  # (N, 2)
    log_scale: Tensor  # (N, 2)
    rot: Tensor  # (N, 1)
    log_tscale: Tensor  # (N, 1)
    color: Tensor  # (N, 3)
    opacity: Tensor  # (N, 1)

    def __post_init__(self) -> None:
        n = None
        for name in ATTRIBUTE_NAMES:
            t = getattr(self, name)
            if not isinstance(t, Tensor):
                raise InputError(f"Gaussian attribute {name!r} must be a torch tensor, got {type(t).__name__}")
            k = _COMPONENTS[name]
            if t.dim() != 2 or t.shape[1] != k:
                raise InputError(f"Gaussian attribute {name!r} has shape {tuple(t.shape)}; expected (N, {k})")
            if n is None:
                n = t.shape[0]
            elif t.shape[0] != n:
                raise InputError(
                    f"Gaussian attribute {name!r} has {t.shape[0]} rows but {ATTRIBUTE_NAMES[0]!r} has {n}"
                )

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], device: torch.device | str = "cpu") -> Gaussians:
        """Build from numpy arrays named as in ``params.ATTRIBUTES`` (any float dtype; stored as float32).

        Raises InputError for a missing or unknown name, a wrong shape, or a non-finite value,
        so that a damaged parameter set never reaches a rasterizer.
        """
        missing = [name for name in ATTRIBUTE_NAMES if name not in arrays]
        unknown = sorted(set(arrays) - set(ATTRIBUTE_NAMES))
        if missing or unknown:
            raise InputError(f"Gaussian arrays: missing {missing}, unknown {unknown}; expected {list(ATTRIBUTE_NAMES)}")
        tensors = {}
        for name in ATTRIBUTE_NAMES:
            a = np.asarray(arrays[name])
            if a.ndim == 1 and _COMPONENTS[name] == 1:
                a = a[:, None]
            a = a.astype(np.float32, copy=False)
            if not np.isfinite(a).all():
                raise InputError(f"Gaussian attribute {name!r} has non-finite values (NaN or infinity)")
            tensors[name] = torch.from_numpy(np.ascontiguousarray(a)).to(device)
        return cls(**tensors)

    @classmethod
    def empty(cls, device: torch.device | str = "cpu") -> Gaussians:
        """Zero Gaussians (a valid, renderable set: it renders black)."""
        return cls(**{n: torch.zeros(0, _COMPONENTS[n], device=device) for n in ATTRIBUTE_NAMES})

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Float32 numpy copies, named and shaped as in ``params.ATTRIBUTES`` ((N, components))."""
        return {n: getattr(self, n).detach().to("cpu", torch.float32).numpy().copy() for n in ATTRIBUTE_NAMES}

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    @property
    def device(self) -> torch.device:
        """The device of the tensors (that of ``xy``)."""
        return self.xy.device

    def to(self, device: torch.device | str) -> Gaussians:
        """A copy on ``device`` (autograd-connected, like ``Tensor.to``)."""
        return Gaussians(**{n: getattr(self, n).to(device) for n in ATTRIBUTE_NAMES})

    def tensors(self) -> list[Tensor]:
        """The attribute tensors in ``params.ATTRIBUTES`` order (e.g. for an optimizer)."""
        return [getattr(self, n) for n in ATTRIBUTE_NAMES]

    def subset(self, index: Tensor) -> Gaussians:
        """The Gaussians picked by a boolean mask (N,) or an index tensor, in that order."""
        return Gaussians(**{n: getattr(self, n)[index] for n in ATTRIBUTE_NAMES})


if tuple(f.name for f in fields(Gaussians)) != ATTRIBUTE_NAMES:  # pragma: no cover - guards the table
    raise ImportError("Gaussians fields differ from params.ATTRIBUTES")


@dataclass
class Splats2D:
    """The Gaussians active at given times, after motion and projection (packed, one row per splat).

    Rows are ordered by frame, then by Gaussian index (the order of ``ids``).
    """

    means: Tensor  # (M, 2) centre in pixels at the frame's time
    covs: Tensor  # (M, 3) covariance entries xx, xy, yy in px^2, low-pass term included
    colors: Tensor  # (M, 3) RGB, 1.0 = 255, unclamped
    opacities: Tensor  # (M,) peak opacity at the frame's time, temporal fall-off included
    depths: Tensor  # (M,) |t - tau|, the compositing key
    ids: Tensor  # (M,) int64 index into the Gaussians
    frames: Tensor  # (M,) int64 index into the requested times (all zero for project())

    def __len__(self) -> int:
        return int(self.means.shape[0])


def covariances(g: Gaussians) -> Tensor:
    """Per-Gaussian 2-D covariance R diag(exp(log_scale))^2 R^T + LOW_PASS * I as (N, 3): xx, xy, yy."""
    var = torch.exp(2.0 * g.log_scale)  # (N, 2)
    c = torch.cos(g.rot[:, 0])
    s = torch.sin(g.rot[:, 0])
    vx, vy = var[:, 0], var[:, 1]
    xx = c * c * vx + s * s * vy + LOW_PASS
    xy = c * s * (vx - vy)
    yy = s * s * vx + c * c * vy + LOW_PASS
    return torch.stack([xx, xy, yy], dim=-1)


@dataclass
class MotionMode:
    """A displacement shared by every Gaussian of a segment (format_spec.md §10.3, §16.10): at frame k each
    active Gaussian's centre also moves by s · path[k], with s = a + b · vx + c · vy from its own velocity.

    One camera shake moves the whole picture, but each Gaussian in its own measure (a distant background
    less than a near subject): the coefficients a, b, c (once per segment) let its velocity say how much.
    The mode is defined at the frames 0 .. len(path) - 1 only.
    """

    path: Tensor  # (T, 2) px
    coef: Tensor  # (3,) a, b (per px/frame of vx), c (per px/frame of vy)

    def __post_init__(self) -> None:
        if not isinstance(self.path, Tensor) or not isinstance(self.coef, Tensor):
            raise InputError("a motion mode's path and coefficients must be torch tensors")
        if self.path.dim() != 2 or self.path.shape[1] != 2 or self.path.shape[0] < 1:
            raise InputError(f"a motion mode's path has shape {tuple(self.path.shape)}; expected (T, 2), T >= 1")
        if tuple(self.coef.shape) != (3,):
            raise InputError(f"a motion mode has coefficients of shape {tuple(self.coef.shape)}; expected (3,)")

    @property
    def frames(self) -> int:
        return int(self.path.shape[0])

    def to(self, device: torch.device | str) -> MotionMode:
        return MotionMode(self.path.to(device), self.coef.to(device))

    def detach(self) -> MotionMode:
        return MotionMode(self.path.detach(), self.coef.detach())

    def check_times(self, ts: Sequence[float] | Tensor) -> None:
        """InputError for a time between frames or outside 0 .. frames - 1 (the mode has no value there).

        Checked on the host: pass a list where the times are at hand (a tensor on a GPU is copied back,
        which waits for the GPU)."""
        t = ts.detach().cpu() if isinstance(ts, Tensor) else torch.as_tensor(ts, dtype=torch.float64)
        t = t.reshape(-1).double()
        if t.numel() and (bool((torch.round(t) != t).any()) or float(t.min()) < 0 or float(t.max()) >= self.frames):
            raise InputError(f"a segment with a motion mode renders only the frames 0..{self.frames - 1}, "
                             f"at whole times; asked for {t.tolist()}")

    def factors(self, vel: Tensor) -> Tensor:
        """(N,) each Gaussian's share s = a + b · vx + c · vy of the path, from velocities (N, 2).

        The velocity enters as a value, not as a path for gradients: training moves the coefficients
        and the path, and a Gaussian's velocity only through its own motion.
        """
        coef = self.coef.to(vel.dtype)
        return coef[0] + vel.detach() @ coef[1:]

    def shifts(self, g: Gaussians, ids: Tensor, frame: Tensor) -> Tensor:
        """(M, 2) displacements of Gaussians ``ids`` at frame indices ``frame`` (M,)."""
        return self.factors(g.vel[ids])[:, None] * self.path.to(g.xy.dtype)[frame]


def active_pairs(g: Gaussians, ts: Tensor) -> tuple[Tensor, Tensor]:
    """(frame index, Gaussian index) of every Gaussian active at each time in ``ts`` (T,).

    Membership is a hard cut, not differentiable: |t - tau| <= WINDOW_SIGMAS * exp(log_tscale).
    """
    with torch.no_grad():
        tau = g.tau[:, 0].detach()
        half = WINDOW_SIGMAS * torch.exp(g.log_tscale[:, 0].detach())
        d = ts[:, None] - tau[None, :]  # (T, N)
        frames, ids = torch.nonzero(d.abs() <= half[None, :], as_tuple=True)
    return frames, ids


def project_frames(g: Gaussians, ts: Sequence[float] | Tensor, mode: MotionMode | None = None) -> Splats2D:
    """Project the Gaussians to every time in ``ts`` at once (packed rows, ``frames`` says which).

    With ``mode`` (the segment's shared motion mode) every centre also moves by the mode's displacement;
    the times must then be whole frames within the mode's path. Differentiable with respect to every
    attribute except through window membership (and the mode's path and coefficients, if they require it).
    """
    if mode is not None:
        mode.check_times(ts)
    t = torch.as_tensor(ts, dtype=torch.float32, device=g.device).reshape(-1)  # (T,)
    frames, ids = active_pairs(g, t)
    cov = covariances(g)  # (N, 3)
    peak = torch.sigmoid(g.opacity[:, 0])  # (N,)
    d = t[frames] - g.tau[ids, 0]  # (M,)
    dd = d[:, None]
    means = g.xy[ids] + g.vel[ids] * dd + 0.5 * g.acc[ids] * (dd * dd)
    if mode is not None:
        means = means + mode.to(g.device).shifts(g, ids, torch.round(t).long()[frames])
    sigma_t = torch.exp(g.log_tscale[ids, 0])
    z = d / sigma_t
    opacities = peak[ids] * torch.exp(-0.5 * z * z)
    return Splats2D(
        means=means,
        covs=cov[ids],
        colors=g.color[ids],
        opacities=opacities,
        depths=d.detach().abs(),
        ids=ids,
        frames=frames,
    )


def project(g: Gaussians, t: float, mode: MotionMode | None = None) -> Splats2D:
    """The Gaussians active at segment-local time ``t`` (frame k at t = k), projected to 2-D."""
    return project_frames(g, [float(t)], mode)

"""What the fitting loop needs to know: one frozen :class:`FitConfig`, and presets that size it to a segment.

Units: positions in pixels, time in frames, colours with 1.0 = 255. Learning rates are Adam step
sizes in those units (Adam's step is about the learning rate whatever the gradient's scale), so
they do not depend on the frame size. Where a setting is a fraction, it is a fraction of the fit's
progress: steps done over ``iterations``, or elapsed time over ``seconds`` when that is set.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

from gscodec.errors import InputError

LOSSES: tuple[str, ...] = ("l1_ssim", "mse")


@dataclass(frozen=True)
class FitConfig:
    """Every knob of :func:`gscodec.fit.fit_segment`, with the defaults the presets start from."""

    iterations: int
    """Optimiser steps for the segment (each renders ``frames_per_step`` frames)."""
    gaussians: int
    """Budget: the most Gaussians the segment may end with."""
    seed: int = 0
    """Seeds numpy and torch; a CPU fit is bit-for-bit reproducible given the seed."""
    seconds: float | None = None
    """Optional wall-clock budget: the fit stops when it is spent, and the schedule follows elapsed time."""

    # What one step looks at and how it scores it.
    frames_per_step: int = 1
    """Frames rendered and scored per step (clipped to the segment's length)."""
    loss: str = "l1_ssim"
    """``"l1_ssim"``: (1 - w) L1 + w (1 - SSIM) with w = ``ssim_weight``; ``"mse"``: mean squared error."""
    ssim_weight: float = 0.2

    # Motion model.
    motion_degree: int = 1
    """Polynomial degree of each centre's motion: 0 static (vel, acc held at 0), 1 linear (acc held at 0), 2."""

    # Initialisation from the frames.
    init_fraction: float = 1.0
    """Gaussians placed at the start, as a fraction of the budget; densification may grow the rest.

    The whole budget from the start measured better than 70 % plus growth (carphone, 8 frames:
    42.26 against 41.99 dB after 1600 steps, 37.94 against 37.01 after 400).
    """
    detail_mix: float = 0.1
    """Share of the placement density that is uniform; the rest follows the local gradient magnitude.

    0.1 against 0.25 at equal rate (bench/rd_ablation.py, gsenc's budget for λ): flower 32 frames (H100)
    +0.1 dB at λ 0.001 and 0.004, carphone 16 frames (CPU) +0.08 dB at λ 0.004. 0 measured about alike
    (flower +0.13 at λ 0.001, carphone +0.13) but leaves flat areas only to Gaussians placed elsewhere.
    """
    init_scale: float = 0.9
    """Initial footprint sigma = init_scale / sqrt(local Gaussians per pixel)."""
    init_tscale: float = 0.0
    """Initial temporal sigma in frames; 0 picks init.default_tscale(frames)."""
    still_tscale: float = 0.75
    """Initial temporal sigma, as a fraction of the segment's frames, of Gaussians placed on still pixels
    (whose luma varies over the segment by less than init.STILL_STD); 0 gives them init_tscale like the rest.
    Against 0, at λ 0.004 and equal rate (bench/rd_ablation.py, CPU): parking 16 frames +1.1 dB, bikes 16
    frames +0.5 dB, carphone 32 frames +0.2 dB (docs/RATE_DISTORTION.md, "Still pixels")."""
    init_opacity: float = 0.6
    """Initial peak opacity."""

    # Optical flow (OpenCV DIS): initial velocities, and a guidance loss early in the fit.
    flow: bool = True
    flow_weight: float = 0.002
    """Weight of the mean L1 (pixels) between a Gaussian's frame-to-frame displacement and the flow there.

    The flow as initial velocity is worth about 0.5 dB on carphone; the loss term on top measured neutral.
    """
    flow_until: float = 0.5
    """The flow loss fades out linearly and is off after this fraction of the fit."""
    flow_max_side: int = 640
    """Flow is computed on frames scaled down to at most this many pixels on the long side."""
    shake_start: bool = True
    """With a motion mode, start its path from the shake the flow sees (fit.motion.shake_path) rather than 0."""

    # Adam learning rates (start values) and their decay.
    lr_xy: float = 0.1
    lr_tau: float = 0.01
    lr_vel: float = 0.01
    lr_acc: float = 0.001
    lr_scale: float = 0.08
    lr_rot: float = 0.05
    lr_tscale: float = 0.03
    lr_color: float = 0.01
    lr_opacity: float = 0.1
    lr_final: float = 0.05
    """Motion learning rates (xy, tau, vel, acc) decay exponentially to this fraction of their start."""
    lr_final_other: float = 0.2
    """The other learning rates decay exponentially to this fraction of their start."""

    # Densification and pruning.
    densify_from: float = 0.04
    densify_until: float = 0.6
    densify_events: int = 12
    """Densify/prune events, spread evenly over [densify_from, densify_until] of the fit."""
    grow_fraction: float = 0.0
    """An event adds at most this fraction of the current count (within the budget). 0: events only prune."""
    relocate_fraction: float = 0.0
    """At the budget, an event also retires this fraction of the weakest Gaussians to make room."""
    prune_opacity: float = 0.01
    """Gaussians whose peak opacity falls below this are removed."""
    split_sigma: float = 1.5
    """A chosen Gaussian wider than this (pixels, larger axis) is split in two; a smaller one is cloned."""

    def __post_init__(self) -> None:
        _check_config(self)

    def replace(self, **changes: object) -> FitConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


def _check_config(c: FitConfig) -> None:
    """Raise InputError naming the first field that is out of range."""

    def bad(name: str, why: str) -> InputError:
        return InputError(f"fit setting {name}={getattr(c, name)!r}: {why}")

    if not isinstance(c.iterations, int) or c.iterations < 1:
        raise bad("iterations", "must be an integer >= 1")
    if not isinstance(c.gaussians, int) or c.gaussians < 1:
        raise bad("gaussians", "must be an integer >= 1")
    if c.seconds is not None and not c.seconds > 0:
        raise bad("seconds", "must be > 0 or None")
    if c.frames_per_step < 1:
        raise bad("frames_per_step", "must be >= 1")
    if c.loss not in LOSSES:
        raise bad("loss", f"choose one of {', '.join(LOSSES)}")
    if c.motion_degree not in (0, 1, 2):
        raise bad("motion_degree", "must be 0, 1 or 2")
    for name in ("init_fraction", "init_opacity"):
        if not 0.0 < getattr(c, name) <= 1.0:
            raise bad(name, "must be in (0, 1]")
    for name in ("detail_mix", "ssim_weight", "flow_until", "densify_from", "densify_until", "lr_final",
                 "lr_final_other", "grow_fraction", "relocate_fraction", "prune_opacity"):
        if not 0.0 <= getattr(c, name) <= 1.0:
            raise bad(name, "must be in [0, 1]")
    for f in fields(c):
        if f.name.startswith("lr_") and not getattr(c, f.name) >= 0.0:
            raise bad(f.name, "must be >= 0")
    if c.init_scale <= 0 or c.init_tscale < 0 or c.still_tscale < 0 or c.split_sigma <= 0 or c.flow_weight < 0:
        raise InputError("fit settings init_scale and split_sigma must be > 0, init_tscale, still_tscale and "
                         "flow_weight >= 0")
    if c.densify_events < 0 or c.flow_max_side < 16:
        raise InputError("fit settings densify_events must be >= 0 and flow_max_side >= 16")


@dataclass(frozen=True)
class Preset:
    """How a preset sizes a fit: Gaussians per pixel of the segment, and how often each frame is visited.

    budget = pixels_per_frame * frames ** time_exponent / pixels_per_gaussian (the frames of a segment
    share most of their content, so the budget grows slower than the frame count), and
    iterations = epochs * frames / frames_per_step. Frames per step depend on the device: on the CPU a
    step costs about its frame count, and one frame per step gives the most quality per second; on a
    GPU a step has a fixed cost that several frames share (measured: 4 frames per step beat 1 by 1 dB
    in a 60 s fit of flower_1280x720). On a GPU the epochs are ``cuda_epoch_factor`` times ``epochs``.

    Why more epochs on a GPU: the encode-time target (a 32-frame 720p segment in 120 s on one H100)
    leaves room for them, and they pay at every rate. Flower 1280x720, 32 frames, H100, preset medium,
    bench/rd_ablation.py with gsenc's budget for λ (the fit, and so the RD stage, twice as long): 38.77
    against 38.23 dB at 7 % more rate at λ 0.001, 36.21 against 35.67 dB at λ 0.004, about +0.3 dB at
    equal rate; 8 frames per step in place of 4 gained about half as much.
    """

    pixels_per_gaussian: float
    time_exponent: float
    epochs: float
    max_gaussians: int
    frames_per_step_cpu: int = 1
    frames_per_step_cuda: int = 4
    cuda_epoch_factor: float = 2.0


PRESET_TABLE: dict[str, Preset] = {
    "fast": Preset(pixels_per_gaussian=16.0, time_exponent=0.5, epochs=20.0, max_gaussians=400_000),
    "medium": Preset(pixels_per_gaussian=8.0, time_exponent=0.5, epochs=60.0, max_gaussians=1_000_000),
    "slow": Preset(pixels_per_gaussian=4.0, time_exponent=0.5, epochs=200.0, max_gaussians=2_000_000),
}


def _factory(name: str) -> Callable[..., FitConfig]:
    def make(width: int, height: int, frames: int, seed: int = 0, device: str = "cpu") -> FitConfig:
        return make_config(name, seed=seed, width=width, height=height, frames=frames, device=device)

    make.__doc__ = f"The {name!r} preset for a width x height segment of the given frame count."
    return make


PRESETS: dict[str, Callable[..., FitConfig]] = {name: _factory(name) for name in PRESET_TABLE}
"""Preset name -> factory(width, height, frames, seed=0, device="cpu") -> FitConfig."""


def make_config(
    preset: str = "medium",
    iterations: int | None = None,
    gaussians: int | None = None,
    seed: int = 0,
    width: int = 1280,
    height: int = 720,
    frames: int = 32,
    device: str = "cpu",
    **overrides: object,
) -> FitConfig:
    """The preset's config for a width x height segment of ``frames`` frames; explicit values win.

    ``device`` is where the fit will run ("cpu", "cuda" or "cuda:N"): it picks the frames per step.
    ``overrides`` sets any other :class:`FitConfig` field (for benchmarks and experiments).
    """
    if preset not in PRESET_TABLE:
        raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESET_TABLE)}")
    for name, v in (("width", width), ("height", height), ("frames", frames)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"fit {name} must be a positive integer, got {v!r}")
    p = PRESET_TABLE[preset]
    on_gpu = str(device).startswith("cuda")
    per_step = int(overrides.pop("frames_per_step", p.frames_per_step_cuda if on_gpu else p.frames_per_step_cpu))
    per_step = max(1, min(per_step, frames))
    if gaussians is None:
        gaussians = int(round(width * height * frames**p.time_exponent / p.pixels_per_gaussian))
        gaussians = max(16, min(p.max_gaussians, gaussians))
    if iterations is None:
        epochs = p.epochs * (p.cuda_epoch_factor if on_gpu else 1.0)
        iterations = max(1, int(math.ceil(epochs * frames / per_step)))
    known = {f.name for f in fields(FitConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InputError(f"unknown fit settings {unknown}")
    values: dict[str, object] = {"frames_per_step": per_step}
    values.update(overrides)
    return FitConfig(iterations=iterations, gaussians=gaussians, seed=seed, **values)  # type: ignore[arg-type]

"""The fitting loop: Gaussians for one segment of frames, by gradient descent through the rasterizer.

Outline of :func:`fit_segment`:

1. Optical flow (DIS) between neighbouring frames, when the segment has more than one frame.
2. Initial Gaussians from the frames (:mod:`gscodec.fit.init`): placed by detail, coloured from
   the pixels, velocities from the flow.
3. Steps: render ``frames_per_step`` frames (an epoch-wise shuffled order, so every frame is seen
   equally often), score them (L1 + SSIM or MSE, plus the flow guidance early on), and update the
   Gaussians visible in those frames with per-attribute Adam; learning rates decay exponentially.
4. Densify/prune events in the first part of the fit (:mod:`gscodec.fit.densify`).
5. After every step the values are kept in ranges where float16 (the stream's storage) is exact
   enough: the fitted Gaussians survive the profile 0 round trip.

On the CPU the fit is reproducible bit for bit given ``config.seed`` (seeded generators,
deterministic algorithms, a fixed thread count). With ``config.seconds`` the fit follows the
clock and is not.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from gscodec.errors import InputError
from gscodec.fit.config import FitConfig
from gscodec.fit.densify import densify_and_prune
from gscodec.fit.flow import FlowField, dis_flow
from gscodec.fit.init import initial_gaussians
from gscodec.fit.loss import flow_loss, photometric
from gscodec.fit.motion import MotionTrainer, shake_path
from gscodec.fit.optim import RowAdam
from gscodec.model.params import ATTRIBUTE_NAMES
from gscodec.model.tsw import Gaussians, project_frames

Progress = Callable[[int, int, float], None]
"""progress(step, total, psnr_estimate): called after every step; psnr is NaN until a frame was scored."""

Observer = Callable[[int, float, Gaussians], None]
"""observe(step, seconds, gaussians): the current Gaussians (detached views, do not modify) after a step."""

MOTION_NAMES = ("xy", "tau", "vel", "acc")
"""Attributes whose learning rate follows the motion schedule (decay to ``lr_final``)."""


def check_frames(frames: object) -> np.ndarray:
    """The segment as a (T, H, W, 3) uint8 array, or InputError saying what is wrong with it."""
    if not isinstance(frames, np.ndarray):
        raise InputError(f"frames must be a numpy array, got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[3] != 3 or min(frames.shape[:3]) < 1:
        raise InputError(f"frames must have shape (T, H, W, 3) with T, H, W >= 1; got {frames.shape}")
    if frames.dtype != np.uint8:
        raise InputError(f"frames must be uint8 RGB, got {frames.dtype}")
    return np.ascontiguousarray(frames)


def _device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise InputError(f"unknown device {device!r}; use cpu or cuda") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda was asked for but no CUDA GPU is available; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device {device!r} is not supported; use cpu or cuda")
    return dev


CPU_THREADS: int = 1
"""torch intra-op threads during a CPU fit. The CPU rasterizer runs many small tensor operations, and
with two threads each one waits for both: on a busy 2-core machine 120 steps of carphone took 698 s
with two threads and 27 s with one. A fixed count also keeps results independent of the core count."""


@contextlib.contextmanager
def _cpu_setup(dev: torch.device) -> Iterator[None]:
    """For a CPU fit: deterministic algorithms and CPU_THREADS threads (previous settings restored after)."""
    if dev.type != "cpu":
        yield
        return
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(CPU_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def _flow_tensor(flow: FlowField, dev: torch.device) -> Tensor:
    """(T-1, 3, H, W): forward flow x, y and its weight, for grid sampling on the device."""
    f = np.concatenate([flow.forward, flow.weight[..., None]], axis=-1)  # (T-1, H, W, 3)
    return torch.from_numpy(f).to(dev).permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def _clamp(params: dict[str, Tensor], width: int, height: int, frames: int) -> None:
    """Keep every attribute finite and in a modest range (float16 storage, stable optimisation)."""
    side = float(max(width, height))
    xy = params["xy"]
    xy[:, 0].clamp_(-0.5 * width, 1.5 * width)
    xy[:, 1].clamp_(-0.5 * height, 1.5 * height)
    params["tau"].clamp_(-2.0, frames + 1.0)
    params["vel"].clamp_(-side, side)
    params["acc"].clamp_(-side / 8, side / 8)
    params["log_scale"].clamp_(math.log(0.1), math.log(2 * side))
    rot = params["rot"]
    rot.sub_(math.pi * torch.round(rot / math.pi))  # an ellipse repeats every pi
    params["log_tscale"].clamp_(math.log(0.2), math.log(4.0 * max(frames, 1)))
    params["color"].clamp_(-0.5, 1.5)
    params["opacity"].clamp_(-10.0, 10.0)


def _gaussians(params: dict[str, Tensor]) -> Gaussians:
    return Gaussians(**{n: params[n] for n in ATTRIBUTE_NAMES})


class _FrameOrder:
    """Frames to render, in epochs: each epoch is a fresh seeded shuffle of all frames."""

    def __init__(self, frames: int, rng: np.random.Generator) -> None:
        self.frames = frames
        self.rng = rng
        self.queue: list[int] = []

    def take(self, n: int) -> list[int]:
        out: list[int] = []
        while len(out) < n:
            if not self.queue:
                self.queue = self.rng.permutation(self.frames).tolist()
            k = self.queue.pop()
            if k not in out:
                out.append(k)
            else:  # the epoch boundary repeated a frame; put it back for later
                self.queue.insert(0, k)
        return sorted(out)


def fit_segment(
    frames: np.ndarray,
    config: FitConfig,
    device: str = "cpu",
    progress: Progress | None = None,
    *,
    backend: str = "auto",
    observe: Observer | None = None,
    motion: MotionTrainer | None = None,
) -> Gaussians:
    """Fit Gaussians to one segment: ``frames`` (T, H, W, 3) uint8 RGB, frame k at t = k.

    Returns at most ``config.gaussians`` Gaussians, detached, on ``device``. ``backend`` is the
    rasterizer (gscodec.render: auto, cpu or cuda); ``observe`` sees the Gaussians after every
    step with the seconds since the fit started (benchmarks take snapshots with it). With
    ``motion`` (a :class:`gscodec.fit.motion.MotionTrainer` of the segment's frame count) the
    segment has a shared motion mode, learned here beside the Gaussians (in place).
    """
    frames = check_frames(frames)
    dev = _device(device)
    if motion is not None and motion.path.shape[0] != frames.shape[0]:
        raise InputError(f"a motion mode of {motion.path.shape[0]} frames for a segment of {frames.shape[0]}")
    with _cpu_setup(dev):
        return _fit(frames, config, dev, progress, backend, observe, motion)


def _fit(frames: np.ndarray, c: FitConfig, dev: torch.device, progress: Progress | None, backend: str,
         observe: Observer | None, motion: MotionTrainer | None = None) -> Gaussians:
    from gscodec.render import rasterize

    t_start = time.perf_counter()
    t_count, height, width = frames.shape[:3]
    rng = np.random.default_rng(c.seed)
    torch.manual_seed(c.seed)
    gen = torch.Generator().manual_seed(c.seed)

    use_flow = c.flow and c.motion_degree >= 1 and t_count > 1
    flow = dis_flow(frames, c.flow_max_side) if use_flow else None
    count = max(1, min(c.gaussians, int(round(c.init_fraction * c.gaussians))))
    if motion is not None and flow is not None and c.shake_start and motion.steps == 0:
        motion.start_from(shake_path(flow))  # the shake the flow sees, for the mode to refine
    init = initial_gaussians(frames, count, c, rng, flow, motion.mode() if motion is not None else None)
    trainable = {
        "xy", "tau", "log_scale", "rot", "log_tscale", "color", "opacity",
        *(("vel",) if c.motion_degree >= 1 else ()),
        *(("acc",) if c.motion_degree >= 2 else ()),
    }
    params = {n: torch.from_numpy(init[n]).to(dev).requires_grad_(n in trainable) for n in ATTRIBUTE_NAMES}
    flow_t = _flow_tensor(flow, dev) if flow is not None and c.flow_weight > 0 else None
    del flow
    target_u8 = torch.from_numpy(frames).to(dev)
    base_lr = {n: getattr(c, "lr_" + {"log_scale": "scale", "log_tscale": "tscale"}.get(n, n)) for n in ATTRIBUTE_NAMES}
    opt = RowAdam({n: p for n, p in params.items() if n in trainable})

    per_step = min(c.frames_per_step, t_count)
    order = _FrameOrder(t_count, rng)
    events = np.linspace(c.densify_from, c.densify_until, c.densify_events).tolist() if c.densify_events else []
    grad_sum = torch.zeros(count, device=dev)
    seen = torch.zeros(count, device=dev)
    seen_frames: set[int] = set()
    frame_mse = np.full(t_count, np.nan)

    if motion is not None:
        motion.to(dev)
    step = 0
    frac = 0.0
    while frac < 1.0:
        ts_list = order.take(per_step)
        ts = torch.tensor(ts_list, dtype=torch.float32, device=dev)
        g = _gaussians(params)
        mode = motion.mode() if motion is not None else None
        splats = project_frames(g, ts_list, mode)  # the list: a mode checks it without waiting for the GPU
        splats.means.retain_grad()
        image = rasterize(splats, per_step, width, height, backend=backend)
        target = target_u8[ts_list].float() / 255.0
        loss = photometric(image, target, c.loss, c.ssim_weight)
        if flow_t is not None and frac < c.flow_until:
            w = c.flow_weight * (1.0 - frac / c.flow_until)
            loss = loss + w * flow_loss(g, splats, ts, flow_t, width, height, mode)
        opt.zero_grad()
        loss.backward()
        if motion is not None:
            motion.step()

        with torch.no_grad():
            n_rows = params["xy"].shape[0]
            grad = splats.means.grad
            gnorm = grad.norm(dim=-1) if grad is not None else torch.zeros(len(splats), device=dev)
            hit = (gnorm > 0).float()
            grad_sum.index_add_(0, splats.ids, gnorm)
            seen.index_add_(0, splats.ids, hit)
            visible = torch.zeros(n_rows, device=dev).index_add_(0, splats.ids, hit) > 0
            seen_frames.update(ts_list)
            mse = ((image.detach().clamp(0, 1) - target) ** 2).mean(dim=(1, 2, 3)).tolist()
            frame_mse[ts_list] = mse

        lrs = {n: base_lr[n] * (c.lr_final if n in MOTION_NAMES else c.lr_final_other) ** frac for n in trainable}
        opt.step(lrs, visible)
        _clamp(params, width, height, t_count)
        step += 1
        frac = step / c.iterations
        if c.seconds is not None:
            frac = max(frac, (time.perf_counter() - t_start) / c.seconds)

        while events and frac >= events[0] and frac < 1.0:
            events.pop(0)
            new, res = densify_and_prune(
                {n: params[n] for n in ATTRIBUTE_NAMES}, grad_sum, seen, len(seen_frames) == t_count, c,
                c.gaussians, gen,
            )
            params = {n: new[n].requires_grad_(n in trainable) for n in ATTRIBUTE_NAMES}
            opt.keep(res.keep)
            opt.append(res.added)
            opt.rebind({n: p for n, p in params.items() if n in trainable})
            n_now = params["xy"].shape[0]
            grad_sum = torch.zeros(n_now, device=dev)
            seen = torch.zeros(n_now, device=dev)
            seen_frames = set()

        if observe is not None:
            observe(step, time.perf_counter() - t_start, Gaussians(**{n: params[n].detach() for n in ATTRIBUTE_NAMES}))
        if progress is not None:
            done = frame_mse[~np.isnan(frame_mse)]
            psnr = float(np.mean(-10.0 * np.log10(np.maximum(done, 1e-10)))) if done.size else float("nan")
            progress(step, c.iterations, psnr)

    return Gaussians(**{n: params[n].detach().clone() for n in ATTRIBUTE_NAMES})

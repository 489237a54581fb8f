"""Rate-distortion training for profile 1: quantization-aware fine-tuning with a learned prior.

Starts from the Gaussians the float fit produced and minimises ``D + lambda * R``:

* D is the mean squared error of the rendered frames (RGB in [0, 1]); PSNR follows it directly.
* R is the estimated rate in bits per pixel of the segment: for every Gaussian the bits its 12
  attribute symbols cost under the prior (:func:`gscodec.entropy.twin.laplace_bits`) plus a fixed
  estimate of its geometry bits, summed and divided by the segment's pixel count.

What is learned besides the Gaussians: one quantization step per channel (``2^(e/4)``, e continuous
here and rounded for the last phase) and the prior: per channel a small network, the float twin of
:class:`gscodec.bitstream.profile1.PriorNet`, that predicts each symbol's mean and scale index from
the position features and the symbols of the channels coded before it.

Schedule (fractions of ``iterations``): additive uniform noise stands in for rounding until
``noise_until``; after that the steps are frozen at their signalled (rounded) values and rounding is
hard, with straight-through gradients.

Pruning: every Gaussian's peak opacity is multiplied by a gate fixed at 1. Near an optimum the
first-order change of the distortion were a Gaussian removed (gate 1 -> 0) vanishes, so its worth is
the second-order (Gauss-Newton) term, sum over pixels of (d image / d gate)^2 / values, estimated
without per-pixel Jacobians as E[(v . d image / d gate)^2] for random signs v (one extra backward
pass per step), plus the first-order term (the fit minimised another loss, so the MSE's gradient is
not zero). Checked against real removals (carphone, 4 frames, 40 single Gaussians): correlation
0.998, the real change 1.03 times the estimate (median); removing the 20 % of least worth at once
cost 1.5 times the sum of their estimates. Its running mean over the frames rendered is the Gaussian's worth; at
``prune_events`` even intervals the Gaussians whose worth is below what they cost (``lambda * bits /
pixels``) are removed, at most ``prune_fraction`` of them per event, the least worth first: the ones
that do not pay for their bits go. :func:`finalize` turns the result into the integer state profile
1 codes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from gscodec.bitstream import profile1 as p1
from gscodec.entropy import LEVELS_PER_OCTAVE
from gscodec.fit.motion import MotionTrainer, quantize_mode
from gscodec.model.params import ATTRIBUTE_NAMES
from gscodec.model.tsw import Gaussians, project_frames

if TYPE_CHECKING:
    from gscodec.fit.config import FitConfig

INITIAL_STEP_EXPONENTS: dict[str, int] = {
    "opacity": -12, "log_tscale": -16, "log_scale": -16, "rot": -20, "color": -24, "vel": -16, "acc": -24,
}
"""Starting step exponents e (step 2^(e/4)): 1/8 for opacity logits, 1/64 for colours, and so on."""


@dataclass(frozen=True)
class RDConfig:
    """Settings of the rate-distortion stage."""

    lam: float = 0.004
    """Weight of the rate (bits per pixel) against the distortion (MSE of RGB in [0, 1])."""
    iterations: int = 500
    frames_per_step: int = 1
    seed: int = 0
    xy_shift: int = 2
    """Positions are coded on a grid of 2^-xy_shift pixels."""
    t_shift: int = 3
    """Times (tau) are coded on a grid of 2^-t_shift frames. Short-lived Gaussians need fine times:
    carphone, 4 frames, no rate term: 33.2 dB with (xy, t) shifts (1, 1), 33.5 with (2, 1), 34.7 with
    (1, 3), 35.3 with (2, 3) and 35.9 with (4, 4) (the float fit: 35.9), geometry 4.3, 5.2, 5.1, 5.9
    and 7.9 KB."""
    hidden: int = 8
    """Hidden width of each channel's prior network (0: linear)."""
    geometry_bits: float = 12.0
    """Estimated geometry bits per Gaussian, charged in the rate term (the geometry is coded losslessly)."""
    noise_until: float = 0.95
    """Fraction of the stage trained with noise in place of rounding; hard rounding after it. 0.95 against
    0.85 on carphone (16 frames, preset medium, CPU, bench/rd_ablation.py, one fit per λ budget): +0.12 dB
    at λ 0.001, +0.08 at 0.004 and +0.09 at 0.016, the rate within 0.3 %; even on bikes (16 frames, preset fast)."""
    prune_events: int = 6
    probe_every: int = 1
    """The worth of the Gaussians (one more backward pass through the rasterizer) is sampled every this many
    steps; it is not sampled after the last pruning event, nor without a rate term (nothing is pruned then).
    Fewer samples make the worth noisier and the pruning removes more: carphone, 16 frames, preset medium,
    λ 0.004 (CPU, bench/rd_ablation.py, one fit): every step 0.2436 bpp at 31.57 dB; every 2nd 0.2219 bpp
    at 31.20 dB (about even at equal rate, the stage 14 % faster); every 4th 0.1954 bpp at 30.42 dB
    (about -0.4 dB at equal rate)."""
    motion_degree: int = 1
    lr_scale: float = 0.25
    """The attributes' learning rates are the float fit's final ones; this scales them. Larger helps only
    a fit stopped short (carphone 8 frames, preset fast: +0.6 dB with 2.0); after a medium-preset fit 2.0
    lost 0.23 dB and 1.0 was even (carphone 16 frames, λ 0.004, bench/rd_ablation.py)."""
    lr_steps: float = 0.05
    lr_prior: float = 0.02
    prior_refit_steps: int = 1000
    """Adam steps of the prior's refit on the final symbols (:func:`refit_prior`; 0: the trained twin as is)."""
    prior_scaled_outputs: int = 0
    """1: the prior twin's outputs are normalised like its inputs (:class:`PriorTwin`)."""
    prune_fraction: float = 0.3
    """Most of the Gaussians one pruning event removes. lr_prior (was 0.005), noise_until (was 0.7) and
    prune_fraction (was 0.2) were measured together on carphone with bench/rd_ablation.py: +0.03 to +0.29 dB
    at equal rate over λ 0.001-0.024, and on bikes the old cap no longer binds at every λ (the table is in
    docs/RATE_DISTORTION.md, "The RD stage's learning rates, noise phase and pruning cap")."""


@dataclass
class RDState:
    """What :func:`finalize` produces: the integer state of one profile 1 segment, plus statistics."""

    points: np.ndarray  # (N, 3) int64 grid points
    q: np.ndarray  # (N, 12) int32 symbols
    steps: np.ndarray  # (12,) int step exponents
    nets: dict[int, p1.PriorNet]
    xy_shift: int
    t_shift: int
    estimated_bits: float
    motion: p1.MotionBlock | None = None
    """The segment's motion mode, quantized, if it has one."""


def _output_scale(sym_scale: Tensor, scaled: bool) -> Tensor:
    """(12, 2) units of the twin's outputs per channel: (the channel's scale, one octave) or (1, 1)."""
    ones = torch.ones_like(sym_scale)
    return torch.stack([sym_scale, ones * LEVELS_PER_OCTAVE] if scaled else [ones, ones], dim=1)


class PriorTwin(torch.nn.Module):
    """Float twin of the fixed-point prior: one small network per coded channel.

    Inputs are normalised inside the twin (position features / 1024, symbols / a per-channel scale),
    and with ``scaled_outputs`` so are the outputs (the mean in units of the channel's scale, the scale
    index in octaves): every weight is then of order one, so Adam's steps of a fixed size move means of
    tens of steps (colour predicted from colour) as readily as small ones. :meth:`to_fixed_point` folds
    both normalisations into the weights.
    """

    def __init__(self, channels: list[int], hidden: int, sym_scale: Tensor, mean0: Tensor, level0: Tensor,
                 gen: torch.Generator, scaled_outputs: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.hidden = hidden
        self.register_buffer("sym_scale", sym_scale)
        self.register_buffer("out_scale", _output_scale(sym_scale, scaled_outputs))
        self.w1 = torch.nn.ParameterList()
        self.b1 = torch.nn.ParameterList()
        self.w2 = torch.nn.ParameterList()
        self.b2 = torch.nn.ParameterList()
        for c in channels:
            n_in = p1.POSITION_FEATURES + c
            if hidden:
                self.w1.append(torch.nn.Parameter(torch.randn(hidden, n_in, generator=gen) / math.sqrt(n_in)))
                self.b1.append(torch.nn.Parameter(torch.full((hidden,), 0.1)))
                self.w2.append(torch.nn.Parameter(torch.zeros(2, hidden)))
            else:
                self.w2.append(torch.nn.Parameter(torch.zeros(2, n_in)))
            self.b2.append(torch.nn.Parameter(torch.stack([mean0[c], level0[c]]) / self.out_scale[c]))

    def inputs(self, pos: Tensor, u: Tensor, c: int) -> Tensor:
        sym = u[:, :c].clamp(-p1.FEATURE_LIMIT, p1.FEATURE_LIMIT) / self.sym_scale[:c]
        return torch.cat([pos / p1.FEATURE_ONE, sym], dim=1)

    def rescaled(self, scaled_outputs: bool) -> PriorTwin:
        """A copy computing the same function with its outputs normalised (or not): only how the last
        layer's weights are counted changes, and with it how fast Adam moves the outputs."""
        out = copy.deepcopy(self)
        new = _output_scale(self.sym_scale, scaled_outputs)
        with torch.no_grad():
            for i, c in enumerate(self.channels):
                ratio = self.out_scale[c] / new[c]
                out.w2[i].mul_(ratio[:, None])
                out.b2[i].mul_(ratio)
            out.out_scale.copy_(new)
        return out

    def forward(self, pos: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        """(mean in steps, scale index), each (N, len(channels)): every coded channel at once.

        Channel c's network sees the position features and the symbols of channels 0..c-1. All of them
        are evaluated as one batched product, channel c's weights padded with zeros over the inputs it
        does not see, so a step costs a few large operations instead of a few per channel.
        """
        f = self.inputs(pos, u, p1.NUM_CHANNELS)  # (N, 3 + 12)
        width = f.shape[1]

        def padded(ws: torch.nn.ParameterList) -> Tensor:
            return torch.stack([torch.nn.functional.pad(w, (0, width - w.shape[1])) for w in ws])

        if self.hidden:
            h = torch.relu(torch.einsum("nk,chk->nch", f, padded(self.w1)) + torch.stack(list(self.b1)))
            o = torch.einsum("nch,cjh->ncj", h, torch.stack(list(self.w2)))
        else:
            o = torch.einsum("nk,cjk->ncj", f, padded(self.w2))
        o = (o + torch.stack(list(self.b2))) * self.out_scale[self.channels]
        return o[..., 0], o[..., 1]

    def to_fixed_point(self) -> dict[int, p1.PriorNet]:
        nets = {}
        for i, c in enumerate(self.channels):
            norm = torch.cat([torch.full((p1.POSITION_FEATURES,), float(p1.FEATURE_ONE)), self.sym_scale[:c].cpu()])
            norm = norm.double().numpy()
            out = self.out_scale[c].detach().cpu().double().numpy()
            b2 = self.b2[i].detach().cpu().double().numpy() * out
            w2 = self.w2[i].detach().cpu().double().numpy() * out[:, None]
            if self.hidden:
                w1 = self.w1[i].detach().cpu().double().numpy() / norm[None, :]
                b1 = self.b1[i].detach().cpu().double().numpy()
                nets[c] = p1.PriorNet.from_float(w1, b1, w2, b2)
            else:
                nets[c] = p1.PriorNet.from_float(None, None, w2 / norm[None, :], b2)
        return nets


def _channel_values(params: dict[str, Tensor]) -> Tensor:
    """(N, 12) attribute values in profile 1's channel order."""
    return torch.stack([params[name][:, j] for name, j in p1.CHANNELS], dim=1)


def _position_features(grid: Tensor) -> Tensor:
    """Float version of profile1.position_features for (N, 3) grid coordinates (continuous here)."""
    lo = grid.detach().min(dim=0).values
    span = (grid.detach().max(dim=0).values - lo).clamp(min=1.0)
    return (2.0 * (grid - lo) - span) * p1.FEATURE_ONE / span


def rd_train(
    frames: np.ndarray,
    gaussians: Gaussians,
    config: RDConfig,
    device: str = "cpu",
    progress: Callable[[int, int, float], None] | None = None,
    backend: str = "auto",
    motion: MotionTrainer | None = None,
) -> RDState:
    """Fine-tune ``gaussians`` (the float fit of ``frames``) for rate and distortion; return the integer state.

    ``motion``: the segment's motion mode as the fit left it; trained on here, and quantized into the state.
    """
    from gscodec.entropy.twin import laplace_bits
    from gscodec.render import rasterize

    dev = torch.device(device)
    c = config
    t_count, height, width = frames.shape[:3]
    pixels = float(t_count * height * width)
    gen = torch.Generator().manual_seed(c.seed)
    rng = np.random.default_rng(c.seed)
    torch.manual_seed(c.seed)

    params = {n: getattr(gaussians, n).detach().to(dev).clone() for n in ATTRIBUTE_NAMES}
    fixed_zero = {"acc"} if c.motion_degree < 2 else set()
    if c.motion_degree < 1:
        fixed_zero.add("vel")
    coded = [i for i, (name, _) in enumerate(p1.CHANNELS) if name not in fixed_zero]
    for name in fixed_zero:
        params[name].zero_()
    trainable = [n for n in ATTRIBUTE_NAMES if n not in fixed_zero]
    for n in trainable:
        params[n].requires_grad_(True)
    n0 = params["xy"].shape[0]
    worth = torch.zeros(n0, device=dev)
    worth_n = torch.zeros(n0, device=dev)
    e = torch.tensor([float(INITIAL_STEP_EXPONENTS[name]) for name, _ in p1.CHANNELS], device=dev,
                     requires_grad=True)

    with torch.no_grad():
        u0 = _channel_values(params) / torch.exp2(e / 4)
        scale = u0.std(dim=0).clamp(min=1.0)
        mean0 = u0.mean(dim=0)
        from gscodec.entropy import B_MIN

        level0 = (LEVELS_PER_OCTAVE * torch.log2((scale / math.sqrt(2.0)) / B_MIN)).clamp(0, p1.SCALE_LEVELS - 1)
    twin = PriorTwin(coded, c.hidden, scale.cpu(), mean0.cpu(), level0.cpu(), gen,
                     scaled_outputs=bool(c.prior_scaled_outputs)).to(dev)

    base_lr = {"xy": 0.1 * 0.05, "tau": 0.01 * 0.05, "vel": 0.01 * 0.05, "acc": 0.001 * 0.05,
               "log_scale": 0.08 * 0.2, "rot": 0.05 * 0.2, "log_tscale": 0.03 * 0.2, "color": 0.01 * 0.2,
               "opacity": 0.1 * 0.2}
    groups = [{"params": [params[n]], "lr": base_lr[n] * c.lr_scale, "name": n} for n in trainable]
    groups += [{"params": [e], "lr": c.lr_steps, "name": "steps"},
               {"params": list(twin.parameters()), "lr": c.lr_prior, "name": "prior"}]
    opt = torch.optim.Adam(groups, eps=1e-15)
    if motion is not None:
        motion.to(dev)
    pos_step = torch.tensor([2.0**-c.xy_shift, 2.0**-c.xy_shift, 2.0**-c.t_shift], device=dev)
    target_u8 = torch.from_numpy(frames).to(dev)
    # Steps after which the pruning runs; without a rate term nothing is pruned.
    prune_at = {int(round(c.iterations * (k + 1) / (c.prune_events + 1))) for k in range(c.prune_events)
                } if c.lam > 0 else set()
    last_prune = max(prune_at, default=0)
    per_step = max(1, min(c.frames_per_step, t_count))
    order = rng.permutation(t_count).tolist()
    frozen = False
    last_rate = float("nan")

    for step in range(c.iterations):
        hard = step >= c.noise_until * c.iterations
        if hard and not frozen:
            with torch.no_grad():
                e.copy_(torch.round(e).clamp(-127, 127))
            e.requires_grad_(False)
            frozen = True
        if len(order) < per_step:
            order += rng.permutation(t_count).tolist()
        ts_list = sorted(order[:per_step])
        del order[:per_step]

        step_sizes = torch.exp2(e / 4)
        values = _channel_values(params)
        grid = torch.cat([params["xy"], params["tau"]], dim=1) / pos_step
        u = values / step_sizes
        if hard:
            u = u + (torch.round(u) - u).detach()
            grid = grid + (torch.round(grid) - grid).detach()
        else:
            u = u + torch.rand(u.shape, device=dev, generator=None) - 0.5
            grid = grid + torch.rand(grid.shape, device=dev) - 0.5
        u = torch.where(torch.tensor([i in coded for i in range(p1.NUM_CHANNELS)], device=dev), u,
                        torch.zeros_like(u))
        deq = u * step_sizes
        probing = step < last_prune and step % max(1, c.probe_every) == 0
        gate = torch.ones(values.shape[0], device=dev, requires_grad=probing)

        # Rate: the prior's bits for every coded symbol, plus the geometry estimate, per Gaussian.
        pos = _position_features(torch.round(grid).detach() if hard else grid.detach())
        mu, level = twin(pos, u)
        # As coded: the mean rounded to whole steps, the scale index within the tables (straight-through).
        mu = mu + (torch.round(mu) - mu).detach()
        level = level.clamp(0.0, p1.SCALE_LEVELS - 1.0)
        bits = c.geometry_bits + laplace_bits(u[:, coded] - mu, level).sum(dim=1)
        rate = bits.sum() / pixels

        # Distortion: render the Gaussians that are on, with their dequantized attributes.
        attrs = {name: torch.zeros_like(params[name]) for name in ATTRIBUTE_NAMES}
        cols = {name: [None] * params[name].shape[1] for name in ATTRIBUTE_NAMES}
        for i, (name, j) in enumerate(p1.CHANNELS):
            cols[name][j] = deq[:, i]
        for name in ATTRIBUTE_NAMES:
            if name in ("xy", "tau"):
                continue
            attrs[name] = torch.stack(cols[name], dim=1)
        qpos = grid * pos_step
        attrs["xy"], attrs["tau"] = qpos[:, :2], qpos[:, 2:3]
        # The gate scales the peak opacity: opacity' = sigmoid(o) * gate, gate = 1.
        peak = (torch.sigmoid(attrs["opacity"][:, 0]) * gate).clamp(1e-6, 1.0 - 1e-6)
        attrs["opacity"] = (torch.log(peak) - torch.log1p(-peak))[:, None]
        g = Gaussians(**{n: attrs[n] for n in ATTRIBUTE_NAMES})
        mode = motion.mode() if motion is not None else None
        image = rasterize(project_frames(g, ts_list, mode), len(ts_list), width, height, backend=backend)
        target = target_u8[ts_list].float() / 255.0
        mse = ((image - target) ** 2).mean()
        loss = mse + c.lam * rate
        opt.zero_grad(set_to_none=True)
        if probing:
            signs = torch.randint(0, 2, image.shape, device=dev, dtype=torch.float32) * 2.0 - 1.0
            (probe,) = torch.autograd.grad((image * signs).sum(), gate, retain_graph=True)
        loss.backward()
        opt.step()
        if motion is not None:
            motion.step()
        with torch.no_grad():
            for name in fixed_zero:
                params[name].zero_()
            rot = params["rot"]
            rot.sub_(math.pi * torch.round(rot / math.pi))
        last_rate = float(rate.detach())
        with torch.no_grad():
            # Distortion increase were the Gaussian removed (Gauss-Newton), per value of the step's frames.
            # Second-order Taylor estimate of the change in MSE for gate 1 -> 0: the Gauss-Newton curvature
            # term plus minus the gradient (the fit minimised another loss, so the gradient is not zero).
            if probing:
                worth += probe**2 / image.numel() - gate.grad
                worth_n += 1.0
            bits_now = bits.detach()

        if step + 1 in prune_at:
            with torch.no_grad():
                margin = worth / worth_n.clamp(min=1.0) - c.lam * bits_now / pixels
                losers = torch.nonzero(margin < 0).flatten()
                most = int(c.prune_fraction * margin.shape[0])
                if losers.numel() > most:
                    losers = losers[torch.argsort(margin[losers])[:most]]
                keep = torch.ones_like(margin, dtype=torch.bool)
                keep[losers] = False
            if not bool(keep.all()):
                params, opt = _prune(params, opt, keep, trainable)
            worth = torch.zeros(int(keep.sum()), device=dev)
            worth_n = torch.zeros_like(worth)
        if progress is not None:
            psnr = -10.0 * math.log10(max(float(mse.detach()), 1e-10))
            progress(step + 1, c.iterations, psnr)

    state = finalize(params, e, twin, c, last_rate * pixels)
    if motion is not None:
        state.motion = quantize_mode(motion.mode())
    return state


def _prune(params: dict[str, Tensor], opt: torch.optim.Adam, keep: Tensor,
           trainable: list[str]) -> tuple[dict[str, Tensor], torch.optim.Adam]:
    """Drop the rows where ``keep`` is false from the parameters and Adam's moments."""
    for group in opt.param_groups:
        if group["name"] not in trainable:
            continue
        old = group["params"][0]
        new = old.detach()[keep].clone().requires_grad_(True)
        state = opt.state.pop(old, None)
        if state:
            opt.state[new] = {k: (v[keep].clone() if torch.is_tensor(v) and v.dim() > 0 else v)
                              for k, v in state.items()}
        group["params"][0] = new
        params[group["name"]] = new
    for name in params:
        if name not in trainable:
            params[name] = params[name][keep].detach().clone()
    return params, opt


@torch.no_grad()
def finalize(params: dict[str, Tensor], e: Tensor, twin: PriorTwin, c: RDConfig, estimated_bits: float) -> RDState:
    """The integer state: the Gaussians rounded to their grids and steps, with the fixed-point prior."""
    xy = params["xy"].detach().cpu().double().numpy()
    tau = params["tau"].detach().cpu().double().numpy()
    points = np.concatenate([np.round(xy * 2.0**c.xy_shift), np.round(tau * 2.0**c.t_shift)], axis=1)
    points = points.astype(np.int64)
    steps = np.clip(np.round(e.detach().cpu().double().numpy()), -127, 127).astype(np.int64)
    values = _channel_values({n: params[n].detach().cpu().double() for n in ATTRIBUTE_NAMES}).numpy()
    q = np.round(values / p1.step_of(steps)[None, :]).astype(np.int64)
    q[:, [i for i in range(p1.NUM_CHANNELS) if i not in twin.channels]] = 0
    nets, q = refit_prior(twin, points, q, c.prior_refit_steps)
    # Channels that ended all zero are not coded.
    nets = {ch: net for ch, net in nets.items() if np.any(q[:, ch])}
    return RDState(points, q.astype(np.int32), steps, nets, c.xy_shift, c.t_shift, estimated_bits)


def refit_prior(twin: PriorTwin, points: np.ndarray, q: np.ndarray,
                steps: int, lr: float = 0.05) -> tuple[dict[int, p1.PriorNet], np.ndarray]:
    """The fixed-point prior for the final symbols ``q``, and ``q`` clamped to what it can code.

    The twin was trained on noisy, then rounded, moving symbols; the symbols coded are fixed once the
    stage ends, so a copy of the twin, with its outputs normalised (:meth:`PriorTwin.rescaled`), is
    trained on exactly them for ``steps`` full-batch Adam steps (inputs as the decoder forms them: the
    integer position features and symbols). Each channel then
    keeps whichever fixed-point network, the trained twin's or the refitted one's, codes its symbols in
    fewer bits, so the refit never costs rate. Channels are taken in coding order, because the clamp
    of an earlier channel's symbols changes the later channels' inputs.
    """
    from gscodec.entropy import R, estimate_bits
    from gscodec.entropy.twin import laplace_bits

    candidates = [twin.to_fixed_point()]
    if steps > 0 and q.shape[0] > 0:
        fresh = twin.rescaled(True)  # normalised outputs: means of tens of steps are reached in few steps
        dev = fresh.sym_scale.device
        pos = torch.from_numpy(p1.position_features(points)).float().to(dev)
        u = torch.from_numpy(np.asarray(q, dtype=np.float32)).to(dev)
        opt = torch.optim.Adam(fresh.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=0.1 * lr)
        with torch.enable_grad():  # finalize runs under no_grad
            for _ in range(steps):
                mu, level = fresh(pos, u)
                mu = mu + (torch.round(mu) - mu).detach()
                bits = laplace_bits(u[:, fresh.channels] - mu, level.clamp(0.0, p1.SCALE_LEVELS - 1.0)).sum()
                opt.zero_grad(set_to_none=True)
                (bits / u.shape[0]).backward()
                opt.step()
                sched.step()
        candidates.append(fresh.to_fixed_point())
    q = np.array(q, dtype=np.int64, copy=True)
    pos_i = p1.position_features(points)
    nets: dict[int, p1.PriorNet] = {}
    for ch in twin.channels:
        best = None
        for cand in candidates:
            mu, k = cand[ch].predict(pos_i, q, ch)
            r = np.clip(q[:, ch] - mu, -R, R)
            bits = estimate_bits(r, k)
            if best is None or bits < best[0]:
                best = (bits, cand[ch], mu)
        _, nets[ch], mu = best
        q[:, ch] = np.clip(q[:, ch], mu - R, mu + R)
    return nets, q


#: λ at which a frame of BUDGET_REFERENCE_PIXELS keeps the preset's whole budget; above it the budget
#: shrinks as sqrt(LAMBDA_FULL_BUDGET / λ).
LAMBDA_FULL_BUDGET = 0.00025
#: The fewest Gaussians a λ-scaled budget asks for.
MIN_RD_BUDGET = 64
#: Frames of up to this many pixels (176x144) get the λ rule alone; larger ones a smaller share of the preset's budget.
BUDGET_REFERENCE_PIXELS = 176 * 144
#: The share falls as (pixels / BUDGET_REFERENCE_PIXELS) ** -BUDGET_SIZE_EXPONENT.
BUDGET_SIZE_EXPONENT = 0.2


def rd_budget(preset_budget: int, lam: float, frame_pixels: int = BUDGET_REFERENCE_PIXELS) -> int:
    """The float fit's Gaussian budget for a profile 1 encode at ``lam``: a share of the preset's.

    The share is min(1, sqrt(LAMBDA_FULL_BUDGET / λ) * min(1, (frame_pixels / BUDGET_REFERENCE_PIXELS) ** -0.2)):
    frames up to 176x144 get the λ rule alone.

    Why λ: the count of Gaussians is what sets the rate (each costs 40-70 bits), and fitting the
    count the rate calls for beats fitting many and pruning them. Flower 1280x720, 32 frames, H100,
    λ 0.004 (bench/rd_ablation.py): the preset's 651,670 Gaussians pruned to 170,832 gave 0.293 bpp
    at 35.06 dB; a fit of 160,000 kept whole gave 0.288 bpp at 37.30 dB, and pruned to 62,105 0.127
    bpp at 35.44 dB. The count the pruning settled on fell as about λ^-0.5, so the budget follows
    sqrt(1 / λ).

    Why the frame size: the preset's budget grows with the pixels (one Gaussian per 8 pixels of a
    frame), the rate a picture needs more slowly, so larger frames fitted far more Gaussians than
    their pruning kept (bikes 640x272: 6.4 times as many; carphone 176x144: 2 times). Measured on
    the H100 with the RD stage after fits of 0.6 times the λ rule's budget, against the λ rule alone,
    at equal rate (docs/RATE_DISTORTION.md, "The fit's budget"): flower +0.3 dB at λ 0.001, 0.004
    and 0.016 (0.37 and 0.61 times alike at 0.004), bikes +0.8 dB at λ 0.004 and +1.2 dB at 0.016,
    carphone -0.2 dB; hence no reduction at carphone's size and 0.49 of the λ rule at 720p.
    """
    size = min(1.0, (max(int(frame_pixels), 1) / BUDGET_REFERENCE_PIXELS) ** -BUDGET_SIZE_EXPONENT)
    share = min(1.0, math.sqrt(LAMBDA_FULL_BUDGET / lam) * size) if lam > 0 else 1.0
    if share >= 1.0:
        return preset_budget
    return max(min(preset_budget, MIN_RD_BUDGET), int(round(preset_budget * share)))


#: The pilot runs this share of the fit's steps and of the RD stage's.
PILOT_SHARE = 0.25
#: The fit's budget is at most this many times the Gaussians the pilot kept.
PILOT_RATIO = 3.0


def pilot_budget(frames: np.ndarray, fit_config: FitConfig, rd_config: RDConfig, device: str = "cpu",
                 ratio: float = PILOT_RATIO, progress: Callable[[int, int, float], None] | None = None,
                 motion: bool = False) -> tuple[int, int]:
    """(budget, kept): min(the fit's budget, ``ratio`` x the Gaussians kept by a short fit and RD stage).

    The pilot fits ``fit_config`` and runs the RD stage ``rd_config`` for PILOT_SHARE of their steps
    each (no prior refit: it changes no count), with a motion mode of its own if ``motion``, and counts what
    the pruning kept; ``progress`` sees
    the pilot's steps, fit then RD, as one run of :func:`pilot_steps` steps.

    Why: how many Gaussians the pruning keeps depends on the content, and fitting about that many
    beats fitting many more and pruning them. Bikes, 32 frames, preset fast, λ 0.004, CPU
    (bench/rd_ablation.py, equal rate against a fit of the frame-size rule's 10,466; the pilot kept
    2,041 of them where the full stage kept 2,738): fits of 6,280 (about 3 x 2,041) +0.30 dB, of
    5,102 (2.5 x) +0.54 dB. But a ratio of 2.5 cost carphone (16 frames, preset fast) 0.2 dB, while
    at 3 the cap does not bind there; flower's pruning keeps 60 % of the rule's fit, so its budget
    stays too (docs/RATE_DISTORTION.md, "The fit's budget and the frame size").
    """
    from gscodec.fit.loop import fit_segment

    fit_steps, rd_steps = pilot_steps(fit_config.iterations, rd_config.iterations)
    total = fit_steps + rd_steps

    def report(offset: int) -> Callable[[int, int, float], None] | None:
        if progress is None:
            return None
        return lambda step, _total, psnr: progress(offset + step, total, psnr)

    short = fit_config.replace(iterations=fit_steps)
    trainer = MotionTrainer(frames.shape[0]) if motion else None
    fitted = fit_segment(frames, short, device=device, progress=report(0), motion=trainer)
    stage = replace(rd_config, iterations=rd_steps, prior_refit_steps=0)
    kept = int(rd_train(frames, fitted, stage, device=device, progress=report(fit_steps),
                        motion=trainer).points.shape[0])
    return min(fit_config.gaussians, max(1, round(ratio * kept))), kept


def pilot_steps(fit_iterations: int, rd_iterations: int) -> tuple[int, int]:
    """The pilot's fit and RD steps for a fit and RD stage of these lengths."""
    return max(1, round(fit_iterations * PILOT_SHARE)), max(1, round(rd_iterations * PILOT_SHARE))


def default_rd_config(lam: float, width: int, height: int, frames: int, fit_iterations: int, seed: int = 0,
                      frames_per_step: int = 1, motion_degree: int = 1) -> RDConfig:
    """The RD stage gsenc runs after a fit of ``fit_iterations`` steps: as many steps again.

    The pruning removes a share of the Gaussians at each event and the survivors need steps to take
    over their work: on carphone (8 frames, preset fast, CPU, bench/rd_ablation.py) the stage with
    half the fit's steps gave 27.41 dB at 0.208 bpp (λ 0.004) and 24.92 dB at 0.142 bpp (λ 0.016);
    with as many steps as the fit, 28.27 dB at 0.228 bpp and 26.57 dB at 0.147 bpp (0.5 and 1.5 dB
    better at equal rate); three times as many gained another 0.2 and 0.9 dB.
    """
    pixels = width * height * frames
    hidden = 8 if pixels >= 4_000_000 else 0
    return replace(RDConfig(), lam=lam, iterations=max(1, fit_iterations), seed=seed,
                   frames_per_step=frames_per_step, hidden=hidden, motion_degree=motion_degree)

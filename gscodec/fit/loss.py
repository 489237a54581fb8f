"""Training losses: photometric (L1 + SSIM, or MSE) and the optical-flow guidance term.

The SSIM here is a training surrogate (zero-padded 11-tap Gaussian window, as 3DGS uses); the
published numbers come from gscodec.metrics.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from gscodec.model.tsw import Gaussians, MotionMode, Splats2D

_C1 = 0.01**2
_C2 = 0.03**2


@functools.lru_cache(maxsize=8)
def _window(device: torch.device, size: int = 11, sigma: float = 1.5) -> Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return (g / g.sum()).to(device)


def _blur(x: Tensor, win: Tensor) -> Tensor:
    """Separable Gaussian filter of (B, C, H, W), zero padded to the same size."""
    c = x.shape[1]
    k = win.numel()
    x = F.conv2d(x, win.view(1, 1, 1, k).expand(c, 1, 1, k), padding=(0, k // 2), groups=c)
    return F.conv2d(x, win.view(1, 1, k, 1).expand(c, 1, k, 1), padding=(k // 2, 0), groups=c)


def _moments(a: Tensor, b: Tensor, stacked: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Blurred a, b, a², b² and ab of two (B, H, W, C) images, each (B, C, H, W).

    ``stacked``: the five maps in one pair of convolutions over a contiguous (B, 5C, H, W) stack:
    fewer kernel launches, and cuDNN's channels-first grouped kernel (its channels-last one, which
    the permuted views of the other path get, took 0.3 ms a call at 720p on an H100). On the CPU
    the separate channels-last blurs measured faster (oneDNN), so ssim() stacks on a GPU only.
    """
    win = _window(a.device)
    if stacked:
        stack = torch.cat([a, b, a * a, b * b, a * b], dim=3).permute(0, 3, 1, 2).contiguous()
        mx, my, exx, eyy, exy = _blur(stack, win).split(a.shape[-1], dim=1)
        return mx, my, exx, eyy, exy
    x = a.permute(0, 3, 1, 2)
    y = b.permute(0, 3, 1, 2)
    return _blur(x, win), _blur(y, win), _blur(x * x, win), _blur(y * y, win), _blur(x * y, win)


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """Mean SSIM of two (B, H, W, 3) images with values near [0, 1] (a scalar tensor, differentiable)."""
    mx, my, exx, eyy, exy = _moments(a, b, stacked=a.is_cuda)
    sxx = exx - mx * mx
    syy = eyy - my * my
    sxy = exy - mx * my
    num = (2 * mx * my + _C1) * (2 * sxy + _C2)
    den = (mx * mx + my * my + _C1) * (sxx + syy + _C2)
    return (num / den).mean()


def photometric(render: Tensor, target: Tensor, kind: str, ssim_weight: float) -> Tensor:
    """Loss between rendered and target frames, (B, H, W, 3) each: ``"l1_ssim"`` or ``"mse"``."""
    if kind == "mse":
        return F.mse_loss(render, target)
    l1 = (render - target).abs().mean()
    if ssim_weight == 0:
        return l1
    return (1.0 - ssim_weight) * l1 + ssim_weight * (1.0 - ssim(render, target))


def flow_loss(
    g: Gaussians,
    splats: Splats2D,
    ts: Tensor,  # (B,) frame times of the rendered batch (integers)
    flow: Tensor,  # (T-1, 3, H, W): forward flow x, y (pixels) and its weight
    width: int,
    height: int,
    mode: MotionMode | None = None,
) -> Tensor:
    """Weighted mean L1 (pixels) between each visible splat's displacement to the next frame and the flow.

    The displacement of a Gaussian from t to t + 1 is vel + acc (d + 1/2), d = t - tau. Only the motion
    parameters receive a gradient: where the splat is sampled, its opacity (the weight) and d are held fixed.
    """
    t_of_row = ts[splats.frames]  # (M,)
    frame = t_of_row.round().long()
    ok = frame < flow.shape[0]
    if not bool(ok.any()):
        return torch.zeros((), device=flow.device)
    rows = torch.nonzero(ok, as_tuple=True)[0]
    ids = splats.ids[rows]
    with torch.no_grad():
        pos = splats.means[rows].detach()  # (R, 2) pixels
        grid = torch.stack([2.0 * pos[:, 0] / width - 1.0, 2.0 * pos[:, 1] / height - 1.0], dim=-1)
        f = frame[rows]
        sample = torch.empty(rows.numel(), 3, device=flow.device)
        # One grid_sample per frame of the batch (B is small).
        for k in torch.unique(f).tolist():
            sel = torch.nonzero(f == k, as_tuple=True)[0]
            s = F.grid_sample(flow[k : k + 1], grid[sel].view(1, 1, -1, 2), mode="bilinear",
                              padding_mode="zeros", align_corners=False)
            sample[sel] = s[0, :, 0, :].t()
        inside = (pos[:, 0] >= 0) & (pos[:, 0] <= width) & (pos[:, 1] >= 0) & (pos[:, 1] <= height)
        w = sample[:, 2] * splats.opacities[rows].detach() * inside
        d = (t_of_row[rows] - g.tau[ids, 0]).detach()
    disp = g.vel[ids] + g.acc[ids] * (d + 0.5)[:, None]
    if mode is not None:  # the shared mode moves the splat by s (P[k+1] - P[k]) as well (k + 1 < T: rows with flow)
        step = mode.path[f + 1] - mode.path[f]
        disp = disp + mode.factors(g.vel[ids])[:, None] * step
    err = (disp - sample[:, :2]).abs().sum(-1)
    return (w * err).sum() / w.sum().clamp(min=1e-6)

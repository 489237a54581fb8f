"""What both rasterizers share: the compositing constants, conics and the tile culling boxes.

The culling box never changes a picture: it is drawn around the ellipse outside which a splat's
alpha is below ALPHA_MIN, where the compositing rule skips it anyway. So the tile size and the
box are implementation choices, and two rasterizers that use different ones still agree.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

ALPHA_MIN: float = 1.0 / 255.0
"""Contributions with alpha below this are skipped (gsplat's ALPHA_THRESHOLD)."""

ALPHA_MAX: float = 0.999
"""alpha = min(ALPHA_MAX, ...), as gsplat's rasterize_to_pixels clamps it."""

T_MIN: float = 1e-4
"""Compositing stops before a splat that would bring transmittance to T_MIN or below."""

TILE_SIZE: int = 16

_BOX_MARGIN: float = 1.001
"""Relative slack on the culling radius, so float rounding never drops a contribution."""

_COORD_LIMIT: float = float(1 << 24)
"""Means and radii are clamped to this before integer tile arithmetic (no overflow)."""


def conics(covs: Tensor) -> Tensor:
    """Inverse covariances (M, 3) as a, b, c with Sigma^-1 = [[a, b], [b, c]] (gsplat's conic layout)."""
    xx, xy, yy = covs.unbind(-1)
    inv_det = 1.0 / (xx * yy - xy * xy)
    return torch.stack([yy * inv_det, -xy * inv_det, xx * inv_det], dim=-1)


@torch.no_grad()
def splat_radii(means: Tensor, covs: Tensor, opacities: Tensor) -> Tensor:
    """Half-extents (M, 2) int32 in pixels of the box holding every pixel centre with alpha >= ALPHA_MIN.

    alpha >= ALPHA_MIN needs o * exp(-q/2) >= ALPHA_MIN, i.e. the Mahalanobis distance q <= 2 ln(o / ALPHA_MIN),
    whose ellipse has x half-width sqrt(q_max * xx). A splat that can never reach ALPHA_MIN, or whose
    numbers are not finite, gets radius 0 (culled): it contributes nothing by the compositing rule.
    """
    xx, xy, yy = covs.unbind(-1)
    o = opacities.clamp(max=1.0)
    q_max = 2.0 * torch.log(o / ALPHA_MIN)
    ok = (o >= ALPHA_MIN) & torch.isfinite(means).all(-1) & torch.isfinite(covs).all(-1)
    ok &= (xx > 0) & (yy > 0) & (xx * yy - xy * xy > 0) & torch.isfinite(opacities)
    q_max = torch.where(ok, q_max, torch.zeros_like(q_max))
    r = torch.sqrt(q_max[:, None] * torch.stack([xx, yy], dim=-1).clamp(min=0.0)) * _BOX_MARGIN
    r = torch.nan_to_num(r, nan=0.0, posinf=_COORD_LIMIT).clamp(max=_COORD_LIMIT)
    r = torch.ceil(r).to(torch.int32)
    return torch.where(ok[:, None] & (r > 0).all(-1, keepdim=True), r, torch.zeros_like(r))


@torch.no_grad()
def tile_ranges(means: Tensor, radii: Tensor, tile_size: int, tiles_x: int, tiles_y: int) -> Tensor:
    """Tile rectangle (M, 4) int64 x0, x1, y0, y1 (x1, y1 exclusive) of each splat's box, clipped to the frame.

    A splat with radius 0 gets an empty rectangle.
    """
    m = torch.nan_to_num(means.detach(), nan=0.0).clamp(-_COORD_LIMIT, _COORD_LIMIT).double()
    r = radii.double()
    lo = torch.floor((m - r) / tile_size)
    hi = torch.ceil((m + r) / tile_size)
    x0 = lo[:, 0].clamp(0, tiles_x).long()
    x1 = hi[:, 0].clamp(0, tiles_x).long()
    y0 = lo[:, 1].clamp(0, tiles_y).long()
    y1 = hi[:, 1].clamp(0, tiles_y).long()
    empty = (radii <= 0).any(-1) | (x1 <= x0) | (y1 <= y0)
    x1 = torch.where(empty, x0, x1)
    y1 = torch.where(empty, y0, y1)
    return torch.stack([x0, x1, y0, y1], dim=-1)


def tiles_for(width: int, height: int, tile_size: int = TILE_SIZE) -> tuple[int, int]:
    """Number of tiles across and down a width x height frame."""
    return math.ceil(width / tile_size), math.ceil(height / tile_size)

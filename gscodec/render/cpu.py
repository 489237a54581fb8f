"""The pure-PyTorch tile rasterizer: the reference for the compositing rule, differentiable for fitting.

It is what a machine without a GPU decodes with, what CI tests and what CPU fitting trains
through. It runs on whatever device the splats are on.

How it stays fast and bounded in memory:

1. Each splat's culling box (common.splat_radii) is cut into square tiles (TILE pixels); every
   (tile, splat) intersection becomes one row, sorted by tile with a stable sort after a stable sort by depth,
   so a tile's splats come out in (depth, Gaussian index) order.
2. Tiles are processed in chunks of tiles with similar splat counts, padded to the chunk's
   largest count: one batch of tensor operations per chunk, (tiles, pixels, splats) shaped,
   instead of a Python loop over tiles. A chunk holds at most ``chunk_elems`` pixel-splat pairs.
3. Transmittance is a cumulative product; the skip rule (alpha < ALPHA_MIN) sets alpha to 0 and
   the stop rule (transmittance would fall to T_MIN or below) is a prefix mask. The backward pass
   is written by hand (_Composite); without gradients the work happens in place.
4. When one call has very many intersections (huge splats, many frames) the tile rows are split
   into bands of at most ``isect_budget`` intersections, handled one after another.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gscodec.model.tsw import Splats2D
from gscodec.render.common import ALPHA_MAX, ALPHA_MIN, T_MIN, conics, splat_radii, tile_ranges, tiles_for

TILE: int = 8
"""Tile edge in pixels. Smaller than gsplat's 16: fewer wasted pixel-splat pairs (about 1.5x faster at
176x144 and 1280x720). The picture does not depend on it."""

CHUNK_ELEMS: int = 1 << 18
"""Default bound on pixel-splat pairs evaluated in one batch (1 MB per float tensor: stays in cache)."""

ISECT_BUDGET: int = 1 << 22
"""Default bound on tile-splat intersections held at once."""

# Float32 thresholds for F.threshold (which keeps x where x > threshold): "alpha >= ALPHA_MIN" is
# "alpha > the float32 just below ALPHA_MIN"; "T > T_MIN" and "sigma >= 0" compare as gsplat does.
_BELOW_ALPHA_MIN: float = float(np.nextafter(np.float32(ALPHA_MIN), np.float32(0.0)))
_T_MIN_F32: float = float(np.float32(T_MIN))
_NEG_TINY: float = -float(np.finfo(np.float32).tiny)


def rasterize(
    splats: Splats2D,
    n_frames: int,
    width: int,
    height: int,
    tile_size: int = TILE,
    chunk_elems: int = CHUNK_ELEMS,
    isect_budget: int = ISECT_BUDGET,
) -> Tensor:
    """Composite packed splats into ``n_frames`` images (n_frames, height, width, 3), unclamped, black background.

    ``splats.frames`` selects the image of each row; rows must be ordered by frame, then Gaussian index
    (as project_frames makes them), which fixes the tie-break between equal depths.
    """
    dev = splats.means.device
    tiles_x, tiles_y = tiles_for(width, height, tile_size)
    n_tiles = tiles_x * tiles_y
    pix = tile_size * tile_size
    # Everything a tile needs per splat, in one table, so each batch gathers once.
    attrs = torch.cat([splats.means, conics(splats.covs), splats.opacities[:, None], splats.colors], dim=1)  # (M, 9)

    radii = splat_radii(splats.means, splats.covs, splats.opacities)
    rect = tile_ranges(splats.means, radii, tile_size, tiles_x, tiles_y)  # (M, 4)
    with torch.no_grad():
        nx = rect[:, 1] - rect[:, 0]
        # Global tile rows: frame * tiles_y + row, so all frames share one tile numbering.
        row0 = splats.frames * tiles_y + rect[:, 2]
        row1 = splats.frames * tiles_y + rect[:, 3]
        live = (nx > 0) & (row1 > row0)
        order = torch.argsort(splats.depths, stable=True)
        order = order[live[order]]  # live splats, by (depth, packed row)
        bands = _row_bands(row0[order], row1[order], nx[order], n_frames * tiles_y, isect_budget)

    tile_ids: list[Tensor] = []
    tile_rgb: list[Tensor] = []
    for r_lo, r_hi in bands:
        with torch.no_grad():
            s_idx, g_tile = _intersections(order, row0, row1, rect[:, 0], nx, r_lo, r_hi, tiles_x)
            if s_idx.numel() == 0:
                continue
            g_tile, perm = torch.sort(g_tile, stable=True)
            s_idx = s_idx[perm]
            tiles, counts = torch.unique_consecutive(g_tile, return_counts=True)
            starts = torch.cumsum(counts, 0) - counts
        for sel in _chunks(counts, pix, chunk_elems):
            t_ids = tiles[sel]
            rgb = _composite_tiles(attrs, s_idx, starts[sel], counts[sel], t_ids, n_tiles, tiles_x, tile_size)
            tile_ids.append(t_ids)
            tile_rgb.append(rgb)

    if tile_ids:
        ids = torch.cat(tile_ids)
        rgb = torch.cat(tile_rgb)
        # Differentiable scatter of the rendered tiles into an all-black tile grid.
        grid = torch.zeros(n_frames * n_tiles, tile_size, tile_size, 3, device=dev, dtype=rgb.dtype)
        grid = grid.index_put((ids,), rgb)
    else:
        grid = torch.zeros(n_frames * n_tiles, tile_size, tile_size, 3, device=dev, dtype=splats.colors.dtype)
    img = grid.reshape(n_frames, tiles_y, tiles_x, tile_size, tile_size, 3).permute(0, 1, 3, 2, 4, 5)
    img = img.reshape(n_frames, tiles_y * tile_size, tiles_x * tile_size, 3)
    return img[:, :height, :width]


def _row_bands(row0: Tensor, row1: Tensor, nx: Tensor, n_rows: int, budget: int) -> list[tuple[int, int]]:
    """Split global tile rows [0, n_rows) into bands holding at most ``budget`` intersections each.

    A single row over budget still forms its own band (it cannot be split further).
    """
    if row0.numel() == 0 or n_rows == 0:
        return []
    diff = torch.zeros(n_rows + 1, dtype=torch.int64, device=row0.device)
    diff.index_add_(0, row0, nx)
    diff.index_add_(0, row1, -nx)
    per_row = torch.cumsum(diff[:-1], 0)
    total = int(per_row.sum())
    if total <= budget:
        return [(0, n_rows)]
    per_row = per_row.tolist()
    bands: list[tuple[int, int]] = []
    start, acc = 0, 0
    for r, c in enumerate(per_row):
        if acc > 0 and acc + c > budget:
            bands.append((start, r))
            start, acc = r, 0
        acc += c
    bands.append((start, n_rows))
    return bands


def _intersections(
    order: Tensor, row0: Tensor, row1: Tensor, x0: Tensor, nx: Tensor, r_lo: int, r_hi: int, tiles_x: int
) -> tuple[Tensor, Tensor]:
    """(splat index, global tile id) of every intersection within global rows [r_lo, r_hi), in ``order``."""
    a = row0[order].clamp(min=r_lo)
    b = row1[order].clamp(max=r_hi)
    keep = b > a
    sel = order[keep]
    a, b = a[keep], b[keep]
    w = nx[sel]
    n = (b - a) * w
    total = int(n.sum())
    if total == 0:
        empty = torch.zeros(0, dtype=torch.int64, device=order.device)
        return empty, empty
    rep = torch.repeat_interleave(torch.arange(sel.numel(), device=order.device), n, output_size=total)
    k = torch.arange(total, device=order.device) - (torch.cumsum(n, 0) - n)[rep]
    wr = w[rep]
    row = a[rep] + torch.div(k, wr, rounding_mode="floor")
    col = x0[sel][rep] + torch.remainder(k, wr)
    return sel[rep], row * tiles_x + col


def _chunks(counts: Tensor, pix: int, chunk_elems: int) -> list[Tensor]:
    """Group tiles into batches of similar splat count: indices into ``counts`` per batch.

    Tiles are taken by decreasing count; a batch ends when it would exceed ``chunk_elems`` pixel-splat
    pairs or when a tile's count falls below half the batch's largest (bounding the padding waste).
    """
    sorted_counts, idx = torch.sort(counts, descending=True, stable=True)
    c = sorted_counts.tolist()
    out: list[Tensor] = []
    i, n = 0, len(c)
    while i < n:
        k_max = c[i]
        cap = max(1, chunk_elems // (k_max * pix))
        j = i + 1
        while j < n and j - i < cap and 2 * c[j] >= k_max:
            j += 1
        out.append(idx[i:j])
        i = j
    return out


def _composite_tiles(
    attrs: Tensor,  # (M, 9) per splat: x, y, conic a, b, c, opacity, r, g, b
    s_idx: Tensor,  # (n_isects,) splat index per intersection, tile-major
    starts: Tensor,  # (B,) first intersection of each tile
    counts: Tensor,  # (B,) intersections of each tile
    t_ids: Tensor,  # (B,) global tile id
    n_tiles: int,
    tiles_x: int,
    ts: int,
) -> Tensor:
    """Render B tiles: (B, ts, ts, 3). The splats of a tile are composited in the order of ``s_idx``."""
    dev = attrs.device
    with torch.no_grad():
        k = int(counts.max())
        ar = torch.arange(k, device=dev)
        pad = ar[None, :] < counts[:, None]  # (B, K)
        pos = (starts[:, None] + ar[None, :]).clamp_(max=s_idx.numel() - 1)
        sid = s_idx[pos.view(-1)]  # (B*K,)
        local = torch.remainder(t_ids, n_tiles)
        off = torch.arange(ts, device=dev, dtype=attrs.dtype) + 0.5
        px = (torch.remainder(local, tiles_x) * ts).to(attrs.dtype)[:, None] + off  # (B, ts) pixel centres x
        py = (torch.div(local, tiles_x, rounding_mode="floor") * ts).to(attrs.dtype)[:, None] + off  # (B, ts)

    a = attrs.index_select(0, sid).view(-1, k, 9)  # (B, K, 9)
    op = a[..., 5] * pad  # padding gets opacity 0, so the skip rule drops it
    args = (a[..., 0], a[..., 1], a[..., 2], a[..., 3], a[..., 4], op, a[..., 6:9])
    if torch.is_grad_enabled() and attrs.requires_grad:
        rgb = _Composite.apply(*args, px, py)
    else:
        with torch.no_grad():
            rgb = _composite(*args, px, py, for_backward=False)[0]
    return rgb.reshape(-1, ts, ts, 3)


def _composite(
    mx: Tensor,  # (B, K) splat centre x
    my: Tensor,  # (B, K) splat centre y
    ca: Tensor,  # (B, K) conic a (inverse covariance xx)
    cb: Tensor,  # (B, K) conic b (xy)
    cc: Tensor,  # (B, K) conic c (yy)
    op: Tensor,  # (B, K) opacity
    col: Tensor,  # (B, K, 3)
    px: Tensor,  # (B, X) pixel centres x of each tile
    py: Tensor,  # (B, Y) pixel centres y of each tile
    for_backward: bool,
) -> tuple[Tensor, ...]:
    """Front-to-back compositing of B tiles of Y x X pixels against K splats each: rgb (B, Y*X, 3).

    Per-pair tensors are (B, Y, X, K): the splat axis innermost keeps the loops long and the
    cumulative product contiguous. With ``for_backward`` it also returns what _Composite.backward
    needs (dx, dy, G, alpha, T, kept); otherwise it works in place as far as it can (the decoder's
    path). The skip and stop rules are applied with threshold/clamp arithmetic rather than boolean
    masks, which are several times slower on a CPU.
    """
    dx = mx[:, None, :] - px[:, :, None]  # (B, X, K)
    dy = my[:, None, :] - py[:, :, None]  # (B, Y, K)
    # sigma = 0.5 (a dx^2 + c dy^2) + b dx dy, built from its x, y and cross parts: (B, Y, X, K).
    sig = (0.5 * ca[:, None, :] * dx * dx)[:, None, :, :] + (0.5 * cc[:, None, :] * dy * dy)[:, :, None, :]
    sig.addcmul_((cb[:, None, :] * dy)[:, :, None, :], dx[:, None, :, :])
    F.threshold_(sig, _NEG_TINY, math.inf)  # sigma < 0 (only from rounding) is skipped, as gsplat does
    g = sig.neg_().exp_()  # G = exp(-sigma)
    alpha = g * op[:, None, None, :] if for_backward else g.mul_(op[:, None, None, :])
    alpha.clamp_(max=ALPHA_MAX)
    F.threshold_(alpha, _BELOW_ALPHA_MIN, 0.0)  # the skip rule: alpha < ALPHA_MIN counts as 0
    t_after = torch.cumprod(1.0 - alpha, dim=-1)  # transmittance after each splat
    # The stop rule: 1 while the transmittance after a splat stays above T_MIN, then 0 for good.
    kept = F.threshold(t_after, _T_MIN_F32, 0.0).mul_(2.0 / _T_MIN_F32).clamp_(max=1.0)
    w = torch.empty_like(alpha) if for_backward else alpha
    if for_backward:
        w[..., 0] = alpha[..., 0]
    torch.mul(alpha[..., 1:], t_after[..., :-1], out=w[..., 1:])  # alpha_k * T before k
    w.mul_(kept)
    b, y, x, k = w.shape
    # (3, K) x (K, P) per tile is faster than (P, K) x (K, 3) here.
    rgb = torch.bmm(col.transpose(1, 2), w.view(b, y * x, k).transpose(1, 2)).transpose(1, 2)  # (B, Y*X, 3)
    if not for_backward:
        return (rgb,)
    return rgb, dx, dy, g, alpha, t_after, kept


class _Composite(torch.autograd.Function):
    """_composite with a hand-written backward (about 1.6x faster than autograd through it, less memory).

    Gradients, for pixel colour C = sum_k w_k c_k with w_k = alpha_k T_k (kept splats only):
    dC/dc_k = w_k; dC/dalpha_k = T_k c_k - sum_{j>k} w_j c_j / (1 - alpha_k); alpha = min(ALPHA_MAX, o G)
    with G = exp(-sigma), so below the clamp dalpha/do = G and dalpha/dsigma = -o G.
    """

    @staticmethod
    def forward(ctx, mx, my, ca, cb, cc, op, col, px, py):  # type: ignore[override]
        rgb, dx, dy, g, alpha, t_after, kept = _composite(mx, my, ca, cb, cc, op, col, px, py, True)
        ctx.save_for_backward(dx, dy, ca, cb, cc, op, col, g, alpha, t_after, kept)
        return rgb

    @staticmethod
    def backward(ctx, g_rgb):  # type: ignore[override]
        dx, dy, ca, cb, cc, op, col, g, alpha, t_after, kept = ctx.saved_tensors
        b, y, x, k = alpha.shape
        t_kept = torch.empty_like(t_after)  # T before each splat, zero where compositing had stopped
        t_kept[..., 0] = 1.0
        t_kept[..., 1:] = t_after[..., :-1]
        t_kept.mul_(kept)
        w = alpha * t_kept
        g_rgb = g_rgb.contiguous()  # (B, Y*X, 3)
        g_col = torch.bmm(w.view(b, y * x, k).transpose(1, 2), g_rgb)  # (B, K, 3)
        g_w = torch.bmm(g_rgb, col.transpose(1, 2)).view(b, y, x, k)  # dL/dw
        behind = torch.cumsum(w.mul_(g_w), dim=-1)
        total = behind[..., -1:].clone()
        behind.neg_().add_(total)  # sum over the later splats of w_j dL/dw_j
        behind.div_(1.0 - alpha)
        g_alpha = g_w.mul_(t_kept).sub_(behind)
        # Skipped splats (alpha 0) and clamped ones (alpha = ALPHA_MAX) pass no gradient to o and sigma:
        # alpha (ALPHA_MAX - alpha) is 0 for both and at least about 2e-10 otherwise.
        passes = (ALPHA_MAX - alpha).mul_(alpha).mul_(1e30).clamp_(max=1.0)
        g_alpha.mul_(passes).mul_(g)  # now dL/do per pixel
        g_op = g_alpha.sum((1, 2))
        g_s = g_alpha.mul_(op[:, None, None, :])  # -dL/dsigma
        hx = g_s.sum(1)  # (B, X, K)
        hy = g_s.sum(2)  # (B, Y, K)
        sxy = (g_s.mul_(dx[:, None, :, :]).sum(2) * dy).sum(1)
        sx, sxx = (hx * dx).sum(1), (hx * dx * dx).sum(1)
        sy, syy = (hy * dy).sum(1), (hy * dy * dy).sum(1)
        g_mx = -(ca * sx + cb * sy)
        g_my = -(cc * sy + cb * sx)
        return g_mx, g_my, -0.5 * sxx, -sxy, -0.5 * syy, g_op, g_col, None, None

"""The CUDA rasterizer: gsplat's tile intersection and rasterize_to_pixels, fed our 2-D splats directly.

gsplat is an optional dependency and is imported only here, only when this path runs. The splats
of many frames go to gsplat in one packed call (one image per frame), so rendering a segment
costs a few kernel launches, not a Python loop over frames. gsplat composites with the same
rules as cpu.py (alpha clamp, skip and stop thresholds, front-to-back order); the tests hold the
two against each other, images and gradients.
"""

from __future__ import annotations

import math
import re
from types import ModuleType

import torch
from torch import Tensor

from gscodec.errors import InputError, RuntimeFailure
from gscodec.model.tsw import Splats2D
from gscodec.render.common import TILE_SIZE, conics, splat_radii, tile_ranges, tiles_for

ISECT_BUDGET: int = 1 << 28
"""Most tile-splat intersections sent to gsplat in one call (gsplat indexes them with int32)."""


def load_gsplat() -> ModuleType:
    """Import gsplat and make sure its CUDA extension is built (the first call may compile it)."""
    try:
        import gsplat
    except ImportError as e:
        raise InputError(f"the cuda backend needs gsplat ({e}); install it: pip install 'gscodec[cuda]'") from e
    version = tuple(int(v) for v in re.findall(r"\d+", getattr(gsplat, "__version__", "0"))[:2])
    if version < (1, 5):
        raise InputError(
            f"the cuda backend needs gsplat 1.5 or later, found {gsplat.__version__}; "
            "upgrade it: pip install 'gscodec[cuda]'"
        )
    try:
        from gsplat.cuda import _backend
    except Exception as e:  # a failed JIT build raises whatever the compiler toolchain raised
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RuntimeFailure(f"gsplat could not build its CUDA extension ({first}); use the cpu backend") from e
    if getattr(_backend, "_C", None) is None:
        raise RuntimeFailure(
            "gsplat could not build or load its CUDA extension (is nvcc installed?); use the cpu backend"
        )
    return gsplat


def rasterize(
    splats: Splats2D,
    n_frames: int,
    width: int,
    height: int,
    tile_size: int = TILE_SIZE,
    isect_budget: int = ISECT_BUDGET,
) -> Tensor:
    """Composite packed splats on the GPU into (n_frames, height, width, 3), unclamped, black background.

    Same contract as cpu.rasterize; differentiable through gsplat's backward kernel.
    """
    gsplat = load_gsplat()
    dev = splats.means.device
    tiles_x, tiles_y = tiles_for(width, height, tile_size)
    con = conics(splats.covs)
    radii = splat_radii(splats.means, splats.covs, splats.opacities)  # (M, 2) int32
    groups = _frame_groups(splats, radii, n_frames, tile_size, tiles_x, tiles_y, isect_budget)

    out: list[Tensor] = []
    for f0, f1, r0, r1 in groups:
        nf = f1 - f0
        if r1 == r0:
            out.append(torch.zeros(nf, height, width, 3, device=dev, dtype=splats.colors.dtype))
            continue
        means = splats.means[r0:r1].contiguous()
        image_ids = (splats.frames[r0:r1] - f0).contiguous()
        _, isect_ids, flatten_ids = gsplat.isect_tiles(
            means.detach(),
            radii[r0:r1].contiguous(),
            splats.depths[r0:r1].detach().float().contiguous(),
            tile_size,
            tiles_x,
            tiles_y,
            packed=True,
            n_images=nf,
            image_ids=image_ids,
            gaussian_ids=splats.ids[r0:r1].contiguous(),
        )
        offsets = gsplat.isect_offset_encode(isect_ids, nf, tiles_x, tiles_y)  # (nf, tiles_y, tiles_x)
        rgb, _ = gsplat.rasterize_to_pixels(
            means,
            con[r0:r1].contiguous(),
            splats.colors[r0:r1].contiguous(),
            splats.opacities[r0:r1].contiguous(),
            width,
            height,
            tile_size,
            offsets,
            flatten_ids,
            packed=True,
        )
        out.append(rgb.reshape(nf, height, width, 3))
    if not out:
        return torch.zeros(n_frames, height, width, 3, device=dev, dtype=splats.colors.dtype)
    return out[0] if len(out) == 1 else torch.cat(out, dim=0)


def _frame_groups(
    splats: Splats2D, radii: Tensor, n_frames: int, tile_size: int, tiles_x: int, tiles_y: int, budget: int
) -> list[tuple[int, int, int, int]]:
    """Consecutive frame ranges (f0, f1) and their packed row ranges (r0, r1), one gsplat call each.

    A group holds at most ``budget`` intersections (a single frame over budget forms its own group)
    and few enough images that gsplat's 32-bit image|tile key prefix does not overflow.
    """
    if n_frames <= 1:  # one frame is one group: no need to count (and wait for) its intersections
        return [(0, n_frames, 0, len(splats))] if n_frames else []
    tile_bits = int(math.floor(math.log2(tiles_x * tiles_y))) + 1
    max_images = 1 << max(0, 31 - tile_bits)
    with torch.no_grad():
        rect = tile_ranges(splats.means, radii, tile_size, tiles_x, tiles_y)
        per_splat = (rect[:, 1] - rect[:, 0]) * (rect[:, 3] - rect[:, 2])
        per_frame = torch.zeros(n_frames, dtype=torch.int64, device=splats.means.device)
        per_frame.index_add_(0, splats.frames, per_splat)
        rows = torch.bincount(splats.frames, minlength=n_frames)
        stats = torch.stack([per_frame, rows]).tolist()
    isects, rows_per_frame = stats
    groups: list[tuple[int, int, int, int]] = []
    f0, r0, acc, r = 0, 0, 0, 0
    for f in range(n_frames):
        if f > f0 and (acc + isects[f] > budget or f - f0 >= max_images):
            groups.append((f0, f, r0, r))
            f0, r0, acc = f, r, 0
        acc += isects[f]
        r += rows_per_frame[f]
    groups.append((f0, n_frames, r0, r))
    return groups

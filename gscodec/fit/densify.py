"""Densify and prune: grow Gaussians where the picture still pulls hardest on them, drop those that do nothing.

Between two events the loop sums, for every Gaussian, the norm of the loss gradient with respect
to its 2-D centre in each frame it was rendered in, and counts those frames. At an event:

1. Prune: Gaussians whose peak opacity fell below ``prune_opacity``, with non-finite values, or
   (when every frame was rendered since the last event) that reached no pixel at all.
2. At the budget, retire ``relocate_fraction`` of the weakest (lowest peak opacity) to make room, so
   the count stays within the budget while capacity still moves to where it is needed.
3. Grow: the Gaussians with the largest mean gradient norm (a ranking, so no threshold depends on
   the frame size) are split in two along their longer axis when wider than ``split_sigma``, or
   cloned with their opacity shared between the two copies when smaller.

The survivors keep their rows and order; new Gaussians are appended (the optimiser's state follows
with :meth:`RowAdam.keep` and :meth:`RowAdam.append`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from gscodec.fit.config import FitConfig

SPLIT_MAJOR: float = 1.6
"""A split child's longer axis is the parent's divided by this (3DGS's factor)."""
SPLIT_MINOR: float = 1.2
"""A split child's shorter axis is the parent's divided by this."""
SPLIT_OFFSET: float = 0.5
"""Split children sit this many parent sigmas either side of the centre, along the longer axis."""
CLONE_JITTER: float = 0.1
"""A clone is moved by this many sigmas in a random direction, so that the two copies can separate."""


@dataclass
class DensifyResult:
    """What an event did: the rows kept (bool mask over the old rows) and how many rows were appended."""

    keep: Tensor
    added: int
    pruned: int
    split: int
    cloned: int


@torch.no_grad()
def densify_and_prune(
    params: dict[str, Tensor],
    grad_sum: Tensor,  # (N,) sum over rendered frames of |dL/d centre|
    seen: Tensor,  # (N,) frames in which the Gaussian reached some pixel
    all_frames_seen: bool,
    config: FitConfig,
    budget: int,
    gen: torch.Generator,
) -> tuple[dict[str, Tensor], DensifyResult]:
    """One densify/prune event. Returns new detached parameter tensors (survivors first, then new rows)."""
    n = grad_sum.shape[0]
    dev = grad_sum.device
    peak = torch.sigmoid(params["opacity"][:, 0])
    finite = torch.ones(n, dtype=torch.bool, device=dev)
    for p in params.values():
        finite &= torch.isfinite(p).all(dim=1)
    drop = (peak < config.prune_opacity) | ~finite
    if all_frames_seen:
        drop |= seen == 0
    pruned = int(drop.sum())

    avg = torch.where(seen > 0, grad_sum / seen.clamp(min=1), torch.zeros_like(grad_sum))
    avg = torch.where(drop, torch.full_like(avg, -1.0), avg)
    want = int(math.ceil(config.grow_fraction * n))
    room = budget - (n - pruned)
    if room < want and config.relocate_fraction > 0:
        # Retire the weakest survivors (lowest peak opacity) so that some capacity can move.
        retire = min(int(math.ceil(config.relocate_fraction * n)), want - max(room, 0), n - pruned)
        if retire > 0:
            score = torch.where(drop, torch.full_like(peak, 2.0), peak)
            weakest = torch.argsort(score, stable=True)[:retire]
            drop[weakest] = True
            avg[weakest] = -1.0
            room += retire
    grow = max(0, min(want, room))
    grow = min(grow, int((avg > 0).sum()))

    chosen = torch.argsort(-avg, stable=True)[:grow] if grow > 0 else torch.zeros(0, dtype=torch.long, device=dev)
    sigma = torch.exp(params["log_scale"][chosen])  # (G, 2)
    wide = sigma.max(dim=1).values > config.split_sigma
    split_ids = chosen[wide]
    clone_ids = chosen[~wide]

    keep = ~drop
    keep[split_ids] = False  # a split parent is replaced by its two children
    new_rows: list[dict[str, Tensor]] = []
    if split_ids.numel():
        new_rows.extend(_split(params, split_ids))
    clone_opacity = None
    if clone_ids.numel():
        # Two copies of opacity o' composite to about the parent's o: 1 - (1 - o')^2 = o.
        o = peak[clone_ids].clamp(max=0.999)
        o2 = (1.0 - torch.sqrt(1.0 - o)).clamp(min=1e-4)
        clone_opacity = torch.log(o2 / (1.0 - o2))[:, None]
        new_rows.append(_clone(params, clone_ids, clone_opacity, gen))

    out: dict[str, Tensor] = {}
    for name, p in params.items():
        base = p.detach().clone()
        if clone_opacity is not None and name == "opacity":
            base[clone_ids] = clone_opacity
        parts = [base[keep]] + [rows[name] for rows in new_rows]
        out[name] = torch.cat(parts) if len(parts) > 1 else parts[0]
    added = sum(int(r["xy"].shape[0]) for r in new_rows)
    result = DensifyResult(keep=keep, added=added, pruned=pruned, split=int(split_ids.numel()),
                           cloned=int(clone_ids.numel()))
    return out, result


def _axes(params: dict[str, Tensor], ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Unit vector of the longer footprint axis, and the longer and shorter log sigmas, of rows ``ids``."""
    rot = params["rot"][ids, 0]
    ls = params["log_scale"][ids]
    major_is_1 = ls[:, 1] > ls[:, 0]
    angle = rot + major_is_1 * (math.pi / 2)
    u = torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)
    return u, ls.max(dim=1).values, ls.min(dim=1).values


def _split(params: dict[str, Tensor], ids: Tensor) -> list[dict[str, Tensor]]:
    """Two children per parent, either side of its centre along the longer axis, each narrower."""
    u, log_major, _ = _axes(params, ids)
    offset = (SPLIT_OFFSET * torch.exp(log_major))[:, None] * u
    ls = params["log_scale"][ids]
    major_is_1 = ls[:, 1] > ls[:, 0]
    shrink = torch.stack([
        torch.where(major_is_1, torch.full_like(ls[:, 0], math.log(SPLIT_MINOR)),
                    torch.full_like(ls[:, 0], math.log(SPLIT_MAJOR))),
        torch.where(major_is_1, torch.full_like(ls[:, 1], math.log(SPLIT_MAJOR)),
                    torch.full_like(ls[:, 1], math.log(SPLIT_MINOR))),
    ], dim=-1)
    children = []
    for sign in (1.0, -1.0):
        rows = {name: p[ids].detach().clone() for name, p in params.items()}
        rows["xy"] = rows["xy"] + sign * offset
        rows["log_scale"] = ls - shrink
        children.append(rows)
    return children


def _clone(params: dict[str, Tensor], ids: Tensor, opacity: Tensor, gen: torch.Generator) -> dict[str, Tensor]:
    """A copy of each parent, nudged a little, sharing the parent's opacity."""
    rows = {name: p[ids].detach().clone() for name, p in params.items()}
    angle = torch.rand(ids.numel(), generator=gen).to(ids.device) * (2 * math.pi)
    sigma = torch.exp(params["log_scale"][ids]).mean(dim=1)
    rows["xy"] = rows["xy"] + (CLONE_JITTER * sigma)[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], -1)
    rows["opacity"] = opacity
    return rows

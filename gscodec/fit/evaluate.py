"""Measuring a fit: render a segment, its PSNR, and the float16 round trip the stream applies.

The profile 0 payload stores ``xy`` and ``tau`` as an integer grid point plus a float16 residual
and every other attribute as float16 (gscodec.bitstream.profile0); :func:`float16_roundtrip`
applies exactly that rounding, so the PSNR after it is what a decoder will show.
"""

from __future__ import annotations

import numpy as np
import torch

from gscodec.metrics import psnr_rgb
from gscodec.model.params import ATTRIBUTE_NAMES
from gscodec.model.tsw import Gaussians, MotionMode

RENDER_CHUNK: int = 8
"""Frames rendered per rasterizer call when evaluating."""

_GRID_ATTRIBUTES = ("xy", "tau")


def float16_roundtrip(g: Gaussians) -> Gaussians:
    """The Gaussians as profile 0 stores them: xy, tau as integer grid + float16 residual, the rest float16."""
    out = {}
    for name in ATTRIBUTE_NAMES:
        a = getattr(g, name).detach().double()
        if name in _GRID_ATTRIBUTES:
            grid = torch.round(a)
            a = grid + (a - grid).to(torch.float16).double()
        else:
            a = a.to(torch.float16).double()
        out[name] = a.float()
    return Gaussians(**out)


@torch.no_grad()
def render_segment(g: Gaussians, frames: int, width: int, height: int, backend: str = "auto",
                   chunk: int = RENDER_CHUNK, mode: MotionMode | None = None) -> np.ndarray:
    """Frames 0 .. frames-1 rendered and converted as the decoder does: (T, H, W, 3) uint8 (``mode``: the
    segment's motion mode, if any)."""
    from gscodec.render import render_frames, to_uint8

    out = []
    for b in range(0, frames, chunk):
        ts = [float(k) for k in range(b, min(b + chunk, frames))]
        out.append(to_uint8(render_frames(g, ts, width, height, backend=backend, mode=mode)).cpu().numpy())
    return np.concatenate(out)


def segment_psnr(g: Gaussians, frames: np.ndarray, backend: str = "auto") -> float:
    """Mean over frames of the RGB PSNR (peak 255) of the rendered segment against (T, H, W, 3) uint8 ``frames``."""
    t, h, w = frames.shape[:3]
    recon = render_segment(g, t, w, h, backend=backend)
    return float(np.mean([psnr_rgb(a, b) for a, b in zip(frames, recon)]))

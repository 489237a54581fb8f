"""Fitting: TSW Gaussians for a segment of frames (initialisation, Adam, densify/prune, flow guidance).

``make_config`` sizes a fit from a preset and the segment's dimensions; ``fit_segment`` runs it.
"""

from gscodec.fit.config import PRESET_TABLE, PRESETS, FitConfig, Preset, make_config
from gscodec.fit.evaluate import float16_roundtrip, render_segment, segment_psnr
from gscodec.fit.loop import Observer, Progress, fit_segment

__all__ = [
    "PRESETS",
    "PRESET_TABLE",
    "FitConfig",
    "Observer",
    "Preset",
    "Progress",
    "fit_segment",
    "float16_roundtrip",
    "make_config",
    "render_segment",
    "segment_psnr",
]

"""The attributes of one TSW Gaussian, in the order the bitstream stores them.

This table is normative: format_spec.md ("Gaussian attributes") uses the same names, and the
profile 0 payload stores the attributes in exactly this order. Never derive the order from a
dict; extend the table only together with the specification.

Coordinates: x to the right and y down, in pixels, with pixel (column j, row i) covering
[j, j+1) x [i, i+1), so its centre is (j + 0.5, i + 0.5). Time t is in frames, counted from
the first frame of the segment (frame k of a segment sits at t = k). One frame step equals one
pixel step.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attribute:
    """One per-Gaussian attribute: its name, number of components and meaning."""

    name: str
    components: int
    meaning: str


ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("xy", 2, "centre (x, y) in pixels at time tau"),
    Attribute("tau", 1, "time of the centre, in frames from the segment's first frame"),
    Attribute("vel", 2, "velocity of the centre, pixels per frame"),
    Attribute("acc", 2, "acceleration of the centre, pixels per frame squared"),
    Attribute("log_scale", 2, "natural log of the two standard deviations of the x-y footprint, pixels"),
    Attribute("rot", 1, "rotation of the footprint's first axis from the x axis, radians"),
    Attribute("log_tscale", 1, "natural log of the temporal standard deviation, frames"),
    Attribute("color", 3, "RGB colour, 1.0 = 255, not clamped"),
    Attribute("opacity", 1, "opacity logit: peak opacity is sigmoid(opacity)"),
)

ATTRIBUTE_NAMES: tuple[str, ...] = tuple(a.name for a in ATTRIBUTES)
PARAMS_PER_GAUSSIAN: int = sum(a.components for a in ATTRIBUTES)

"""A differentiable float twin of the residual tables, for training.

:func:`laplace_bits` gives the bits a residual would cost under a discretised zero-mean Laplace
of scale ``B_MIN * 2**(s / LEVELS_PER_OCTAVE)`` with a *continuous* scale index ``s``:
``-log2(max(2**-16, CDF(r + 0.5) - CDF(r - 0.5)))``. At integer ``s`` and integer ``|r| < R`` it
tracks the integer table row ``s`` (which quantises the same masses to 16-bit weights, at least
1 each) to within a few hundredths of a bit wherever the weight is large; unlike the table it
does not fold the tails beyond +-R into the end bins.

Kept apart from :mod:`gscodec.entropy.coder` so that decoding never imports torch.
"""

from __future__ import annotations

import math

import torch

from gscodec.entropy.tables import B_MIN, LEVELS_PER_OCTAVE, PROB_BITS

_LN2 = math.log(2.0)


def laplace_bits(residual: torch.Tensor, scale_index: torch.Tensor) -> torch.Tensor:
    """Bits per element (broadcast shape of the inputs, float) of ``residual`` under the Laplace of ``scale_index``.

    ``residual`` is in residual units (any real value), ``scale_index`` a real scale index
    (0 is scale B_MIN; each LEVELS_PER_OCTAVE doubles it). The result lies in [0, PROB_BITS]
    and is differentiable in both inputs with finite gradients everywhere (zero where the
    2**-16 floor is active).

    Stable closed forms, with ``a = |r|`` and ``b`` the scale:

    - ``a >= 0.5``: ``log P = log(1/2) - (a - 0.5) / b + log(-expm1(-1 / b))`` (no underflow for
      large ``a`` or tiny ``b``);
    - ``a < 0.5``: ``P = -(expm1(-(0.5 + r) / b) + expm1(-(0.5 - r) / b)) / 2`` (no cancellation
      for large ``b``).

    Each branch only sees inputs inside its own domain, so the unused branch cannot feed NaN
    or infinite gradients through ``torch.where``.
    """
    r, s = torch.broadcast_tensors(residual, scale_index)
    dtype = torch.promote_types(torch.promote_types(r.dtype, s.dtype), torch.get_default_dtype())
    r = r.to(dtype)
    s = s.to(dtype)
    b = B_MIN * torch.exp2(s / LEVELS_PER_OCTAVE)
    a = r.abs()
    tail = a >= 0.5

    a_tail = torch.where(tail, a, torch.full_like(a, 0.5))
    log_tail = math.log(0.5) - (a_tail - 0.5) / b + torch.log(-torch.expm1(-1.0 / b))

    r_mid = torch.where(tail, torch.zeros_like(r), r)
    p_mid = -0.5 * (torch.expm1(-(0.5 + r_mid) / b) + torch.expm1(-(0.5 - r_mid) / b))
    log_mid = torch.log(p_mid)

    log_p = torch.where(tail, log_tail, log_mid)
    return torch.clamp(-log_p / _LN2, min=0.0, max=float(PROB_BITS))

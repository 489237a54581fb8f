"""Adam over per-Gaussian rows, with one learning rate per attribute, that survives densification.

Two differences from torch.optim.Adam, both because Gaussians come and go and are seen only
in some frames:

* Only the rows of Gaussians that were visible in the step are updated (moments, step counts and
  values); an unseen Gaussian does not drift on stale momentum.
* Bias correction uses each row's own step count, so a Gaussian born by densification gets
  properly sized first steps instead of the tiny ones a shared late step count would give.

Rows can be selected (:meth:`RowAdam.keep`) and appended (:meth:`RowAdam.append`) together with
the parameters they belong to.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor


class RowAdam:
    """Adam over a dict of (N, k) leaf tensors that share their rows."""

    def __init__(self, params: Mapping[str, Tensor], betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-15) -> None:
        self.params = dict(params)
        self.b1, self.b2 = betas
        self.eps = eps
        first = next(iter(self.params.values()))
        self.steps = torch.zeros(first.shape[0], device=first.device)
        self.m = {k: torch.zeros_like(p) for k, p in self.params.items()}
        self.v = {k: torch.zeros_like(p) for k, p in self.params.items()}

    @torch.no_grad()
    def step(self, lrs: Mapping[str, float], rows: Tensor) -> None:
        """One Adam step for the rows where ``rows`` (N,) bool is true, with ``lrs[name]`` per parameter.

        Parameters without a gradient, or with a learning rate of 0, are left as they are.
        """
        self.steps += rows
        sel = rows[:, None]
        n = self.steps.clamp(min=1.0)[:, None]
        bc1 = 1.0 - self.b1**n
        bc2 = 1.0 - self.b2**n
        for name, p in self.params.items():
            lr = lrs.get(name, 0.0)
            if p.grad is None or lr == 0.0:
                continue
            g = p.grad
            m = torch.where(sel, self.m[name] * self.b1 + (1.0 - self.b1) * g, self.m[name])
            v = torch.where(sel, self.v[name] * self.b2 + (1.0 - self.b2) * g * g, self.v[name])
            self.m[name] = m
            self.v[name] = v
            update = (m / bc1) / ((v / bc2).sqrt() + self.eps)
            p.sub_(torch.where(sel, lr * update, torch.zeros_like(update)))

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None

    @torch.no_grad()
    def keep(self, index: Tensor) -> None:
        """Keep only the rows ``index`` (bool mask or indices) of the moments and step counts."""
        self.steps = self.steps[index]
        self.m = {k: m[index] for k, m in self.m.items()}
        self.v = {k: v[index] for k, v in self.v.items()}

    @torch.no_grad()
    def append(self, count: int) -> None:
        """Add ``count`` fresh rows (zero moments, zero steps) at the end."""
        self.steps = torch.cat([self.steps, self.steps.new_zeros(count)])
        self.m = {k: torch.cat([m, m.new_zeros(count, *m.shape[1:])]) for k, m in self.m.items()}
        self.v = {k: torch.cat([v, v.new_zeros(count, *v.shape[1:])]) for k, v in self.v.items()}

    def rebind(self, params: Mapping[str, Tensor]) -> None:
        """Point at new parameter tensors after rows were selected or appended (same names, same rows)."""
        self.params = dict(params)

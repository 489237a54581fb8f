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
    """Adam over a dict of (N, k) leaf tensors that share their rows.

    The moments of all parameters live side by side in one (N, sum of k) tensor, so a step is a few
    operations over all attributes at once rather than a dozen per attribute: on a GPU a fit step is
    bound by how many operations the CPU issues, not by their size. Each element sees the same
    arithmetic as per-attribute Adam would give it.
    """

    def __init__(self, params: Mapping[str, Tensor], betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-15) -> None:
        self.params = dict(params)
        self.b1, self.b2 = betas
        self.eps = eps
        first = next(iter(self.params.values()))
        self.steps = torch.zeros(first.shape[0], device=first.device)
        self._cols: dict[str, tuple[int, int]] = {}
        at = 0
        for name, p in self.params.items():
            self._cols[name] = (at, at + p.shape[1])
            at += p.shape[1]
        self._m = first.new_zeros(first.shape[0], at)
        self._v = first.new_zeros(first.shape[0], at)

    @property
    def m(self) -> dict[str, Tensor]:
        """First moments per parameter (views)."""
        return {k: self._m[:, a:b] for k, (a, b) in self._cols.items()}

    @property
    def v(self) -> dict[str, Tensor]:
        """Second moments per parameter (views)."""
        return {k: self._v[:, a:b] for k, (a, b) in self._cols.items()}

    @torch.no_grad()
    def step(self, lrs: Mapping[str, float], rows: Tensor) -> None:
        """One Adam step for the rows where ``rows`` (N,) bool is true, with ``lrs[name]`` per parameter.

        Parameters without a gradient, or with a learning rate of 0, are left as they are (values and moments).
        """
        self.steps += rows
        active = [k for k, p in self.params.items() if p.grad is not None and lrs.get(k, 0.0) != 0.0]
        if not active:
            return
        width = self._m.shape[1]
        n = self.steps.clamp(min=1.0)[:, None]
        bc1 = 1.0 - self.b1**n
        bc2 = 1.0 - self.b2**n
        lr = [0.0] * width
        for k in active:
            a, b = self._cols[k]
            lr[a:b] = [float(lrs[k])] * (b - a)
        if len(active) == len(self.params):
            g = torch.cat([self.params[k].grad for k in self._cols], dim=1)  # type: ignore[misc]
            sel = rows[:, None]
        else:
            g = self._m.new_zeros(self._m.shape)
            on = torch.zeros(width, dtype=torch.bool)
            for k in active:
                a, b = self._cols[k]
                g[:, a:b] = self.params[k].grad
                on[a:b] = True
            sel = rows[:, None] & on.to(rows.device)[None, :]
        self._m = torch.where(sel, self._m * self.b1 + (1.0 - self.b1) * g, self._m)
        self._v = torch.where(sel, self._v * self.b2 + (1.0 - self.b2) * g * g, self._v)
        update = (self._m / bc1) / ((self._v / bc2).sqrt() + self.eps)
        lr_t = torch.tensor(lr, dtype=update.dtype).to(update.device, non_blocking=True)
        delta = torch.where(sel, lr_t * update, torch.zeros_like(update))
        for k in active:
            a, b = self._cols[k]
            self.params[k].sub_(delta[:, a:b])

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None

    @torch.no_grad()
    def keep(self, index: Tensor) -> None:
        """Keep only the rows ``index`` (bool mask or indices) of the moments and step counts."""
        self.steps = self.steps[index]
        self._m = self._m[index]
        self._v = self._v[index]

    @torch.no_grad()
    def append(self, count: int) -> None:
        """Add ``count`` fresh rows (zero moments, zero steps) at the end."""
        self.steps = torch.cat([self.steps, self.steps.new_zeros(count)])
        self._m = torch.cat([self._m, self._m.new_zeros(count, self._m.shape[1])])
        self._v = torch.cat([self._v, self._v.new_zeros(count, self._v.shape[1])])

    def rebind(self, params: Mapping[str, Tensor]) -> None:
        """Point at new parameter tensors after rows were selected or appended (same names, same rows)."""
        params = dict(params)
        if {k: p.shape[1] for k, p in params.items()} != {k: b - a for k, (a, b) in self._cols.items()}:
            raise ValueError("rebind: the parameters' names and widths must stay the same")
        if any(p.shape[0] != self._m.shape[0] for p in params.values()):
            raise ValueError(f"rebind: the parameters must have the moments' {self._m.shape[0]} rows")
        self.params = params

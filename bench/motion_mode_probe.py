"""Probe: would a motion mode shared by all Gaussians, each in its own measure, help the fit?

    python bench/motion_mode_probe.py CLIP --mode base|shared|mode|modes2|quadratic [--lambda 0.004]

Fits a segment as gsenc would at λ's budget (preset medium, on the CPU), without densification so
that the Gaussians stay the same rows, and prints the float PSNR of the fit. The modes:

- ``base``: the fit as it is (each centre moves linearly);
- ``shared``: every centre also moves by P(t), one learned per-frame displacement (frames x 2);
- ``mode``: every centre moves by s_i * P(t), with a learned coefficient s_i per Gaussian;
- ``modes2``: two such paths and two coefficients per Gaussian;
- ``quadratic``: the fit's own acceleration term (``motion_degree`` 2) instead.

The path and the coefficients are not part of the format: this wraps ``project_frames`` in the fit
loop and in the renderer, and steps their own Adam optimiser at each step. docs/RATE_DISTORTION.md
("Camera shake") has the figures on flower.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

MODES = ("base", "shared", "mode", "modes2", "quadratic")


class MotionModes:
    """P (k, frames, 2) and s (Gaussians, k), learned beside the fit: centre += sum_j s_ij P_j(t)."""

    def __init__(self, frames: int, k: int, learn_s: bool, lr_path: float = 0.05, lr_s: float = 0.01) -> None:
        self.path = torch.zeros(k, frames, 2, requires_grad=True)
        self.path_opt = torch.optim.Adam([self.path], lr=lr_path)
        self.learn_s = learn_s
        self.lr_s = lr_s
        self.s: torch.Tensor | None = None
        self.s_opt: torch.optim.Optimizer | None = None

    def wrap(self, project):  # noqa: ANN001, ANN201 - wraps gscodec.model.tsw.project_frames
        def projected(g, ts):  # noqa: ANN001, ANN202
            splats = project(g, ts)
            n = g.xy.shape[0]
            if self.s is None or self.s.shape[0] != n:
                self.s = torch.ones(n, self.path.shape[0], requires_grad=self.learn_s)
                self.s_opt = torch.optim.Adam([self.s], lr=self.lr_s) if self.learn_s else None
            if self.path.grad is not None:  # the previous step's gradients: take its step now
                self.path_opt.step()
                self.path_opt.zero_grad()
                if self.s_opt is not None:
                    self.s_opt.step()
                    self.s_opt.zero_grad()
            t = torch.as_tensor(ts, dtype=torch.float32).reshape(-1)
            frame = t[splats.frames].long()
            shift = (self.s[splats.ids][:, :, None] * self.path[:, frame].permute(1, 0, 2)).sum(1)
            splats.means = splats.means + (shift if g.xy.requires_grad else shift.detach())
            return splats

        return projected


def probe(frames: np.ndarray, mode: str, lam: float, iterations: int | None = None) -> dict[str, object]:
    """Fit ``frames`` (T, H, W, 3) uint8 in ``mode``; returns the Gaussians, the fit's PSNR and seconds."""
    import gscodec.fit.loop as loop
    import gscodec.render as render
    from gscodec.fit import fit_segment, make_config, render_segment
    from gscodec.fit.rd import rd_budget
    from gscodec.metrics import psnr_rgb

    if mode not in MODES:
        raise SystemExit(f"motion_mode_probe: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    torch.manual_seed(0)
    t, h, w = frames.shape[:3]
    config = make_config("medium", width=w, height=h, frames=t, device="cpu", iterations=iterations)
    config = config.replace(gaussians=max(1, round(rd_budget(config.gaussians, lam, w * h))), densify_events=0)
    if mode == "quadratic":
        config = config.replace(motion_degree=2)
    saved = loop.project_frames, render.project_frames
    modes = None
    if mode in ("shared", "mode", "modes2"):
        modes = MotionModes(t, 2 if mode == "modes2" else 1, learn_s=mode != "shared")
        loop.project_frames = render.project_frames = modes.wrap(saved[0])
    try:
        t0 = time.perf_counter()
        fitted = fit_segment(frames, config, device="cpu")
        seconds = time.perf_counter() - t0
        recon = render_segment(fitted, t, w, h)
    finally:
        loop.project_frames, render.project_frames = saved
    psnr = float(np.mean([psnr_rgb(a, b) for a, b in zip(frames, recon, strict=True)]))
    out: dict[str, object] = {"mode": mode, "gaussians": len(fitted), "psnr": psnr, "seconds": seconds}
    if modes is not None and modes.s is not None:
        out["s_quantiles"] = np.quantile(modes.s.detach().numpy(), [0.05, 0.25, 0.5, 0.75, 0.95]).round(2).tolist()
    return out


def main(argv: list[str] | None = None) -> int:
    from gscodec.video import open_video

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clip")
    ap.add_argument("--mode", choices=MODES, default="base")
    ap.add_argument("--lambda", dest="lam", type=float, default=0.004, help="λ whose budget gsenc would fit")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--iterations", type=int, default=None, help="fit steps (default: the preset's)")
    args = ap.parse_args(argv)
    with open_video(args.clip, frames=args.frames) as video:
        frames = np.stack(list(video))
    r = probe(frames, args.mode, args.lam, args.iterations)
    extra = f", coefficients (5/25/50/75/95 %) {r['s_quantiles']}" if "s_quantiles" in r else ""
    print(f"motion_mode_probe: {args.clip} mode {r['mode']}: {r['gaussians']} Gaussians, fit {r['psnr']:.2f} dB, "
          f"{r['seconds']:.0f} s{extra}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

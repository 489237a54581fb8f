"""Probe: would a motion mode shared by all Gaussians, each in its own measure, help the fit?

    python bench/motion_mode_probe.py CLIP --mode base|shared|mode|modes2|velocity|quadratic [--lambda 0.004]
    python bench/motion_mode_probe.py CLIP --mode velocity --coded -- [bench/rd_ablation.py arguments]

Fits a segment as gsenc would at λ's budget (preset medium, on the CPU), without densification so
that the Gaussians stay the same rows, and prints the float PSNR of the fit. The modes:

- ``base``: the fit as it is (each centre moves linearly);
- ``shared``: every centre also moves by P(t), one learned per-frame displacement (frames x 2);
- ``mode``: every centre moves by s_i * P(t), with a learned coefficient s_i per Gaussian;
- ``modes2``: two such paths and two coefficients per Gaussian;
- ``velocity``: one path, each Gaussian's coefficient a + b vx + c vy from its own velocity (a, b, c
  learned once per segment): nothing more to code per Gaussian;
- ``quadratic``: the fit's own acceleration term (``motion_degree`` 2) instead.

The ``velocity`` mode is now part of the format and of gsenc (format_spec.md §16.10, gscodec/fit/motion.py;
``bench/rd_ablation.py --motion-mode on`` measures it through the codec); this probe stays for the other
modes. It wraps ``project_frames`` in the fit loop and in the renderer, and steps their own Adam optimiser
at each step. With ``--coded`` (modes
``base``, ``shared`` and ``velocity``, whose coefficients do not follow the rows) it runs
``bench/rd_ablation.py`` instead, with the wrapper in the fit (densification included), the RD stage and
the decoder's renderer, so the PSNR is that of the coded segment; the path and a, b, c would add about
70 numbers per segment to the stream, which the printed rate does not count. docs/RATE_DISTORTION.md
("Camera shake") has the figures on flower.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

MODES = ("base", "shared", "mode", "modes2", "velocity", "quadratic")


class MotionModes:
    """P (k, frames, 2) and the coefficients, learned beside the fit: centre += sum_j s_ij P_j(t).

    The coefficients s are one row per Gaussian (k columns), all 1 unless ``learn_s``; with ``velocity``
    they are a + b vx + c vy from each Gaussian's velocity, (a, b, c) learned (k = 1).
    """

    def __init__(self, frames: int, k: int, learn_s: bool, velocity: bool = False, lr_path: float = 0.05,
                 lr_s: float = 0.01) -> None:
        self.frames, self.k = frames, k
        self.learn_s = learn_s
        self.velocity = velocity
        self.lr_path, self.lr_s = lr_path, lr_s
        self.path = torch.zeros(k, frames, 2, requires_grad=True)
        self.path_opt = torch.optim.Adam([self.path], lr=lr_path)
        self.s: torch.Tensor | None = torch.tensor([1.0, 0.0, 0.0], requires_grad=True) if velocity else None
        self.s_opt: torch.optim.Optimizer | None = torch.optim.Adam([self.s], lr=lr_s) if velocity else None

    def to(self, device: torch.device) -> None:
        """Move the learned values (and their optimisers, afresh) to ``device``: the fit's device."""
        if self.path.device == device:
            return
        self.path = self.path.detach().to(device).requires_grad_(True)
        self.path_opt = torch.optim.Adam([self.path], lr=self.lr_path)
        if self.s is not None:
            self.s = self.s.detach().to(device).requires_grad_(self.velocity or self.learn_s)
            self.s_opt = torch.optim.Adam([self.s], lr=self.lr_s) if (self.velocity or self.learn_s) else None

    def coefficients(self, g) -> torch.Tensor:  # noqa: ANN001 - a gscodec.model.tsw.Gaussians
        """(Gaussians, k) coefficients for ``g``."""
        if self.velocity:
            assert self.s is not None
            return (self.s[0] + g.vel.detach() @ self.s[1:])[:, None]
        n = g.xy.shape[0]
        if self.s is None or self.s.shape[0] != n:  # new rows (densification): start again from 1
            self.s = torch.ones(n, self.path.shape[0], device=g.xy.device, requires_grad=self.learn_s)
            self.s_opt = torch.optim.Adam([self.s], lr=self.lr_s) if self.learn_s else None
        return self.s

    def wrap(self, project):  # noqa: ANN001, ANN201 - wraps gscodec.model.tsw.project_frames
        def projected(g, ts, mode=None):  # noqa: ANN001, ANN202
            splats = project(g, ts, mode)
            self.to(g.xy.device)
            training = torch.is_grad_enabled() and (g.xy.requires_grad or g.vel.requires_grad)
            if training and self.path.grad is not None:  # the previous step's gradients: take its step now
                self.path_opt.step()
                self.path_opt.zero_grad()
                if self.s_opt is not None:
                    self.s_opt.step()
                    self.s_opt.zero_grad()
            coef = self.coefficients(g)  # after the step: the values this step trains
            t = torch.as_tensor(ts, dtype=torch.float32, device=splats.means.device).reshape(-1)
            frame = t[splats.frames].long()
            shift = (coef[splats.ids][:, :, None] * self.path[:, frame].permute(1, 0, 2)).sum(1)
            splats.means = splats.means + (shift if training else shift.detach())
            return splats

        return projected


def _patched(modes: MotionModes | None, with_rd: bool = False):  # noqa: ANN202
    """Context: the fit loop's (and the RD stage's) and the renderer's project_frames wrapped by ``modes``."""
    import contextlib

    import gscodec.fit.loop as loop
    import gscodec.fit.rd as rd
    import gscodec.render as render

    @contextlib.contextmanager
    def patch():  # noqa: ANN202
        saved = loop.project_frames, rd.project_frames, render.project_frames
        if modes is not None:
            wrapped = modes.wrap(saved[0])
            loop.project_frames = render.project_frames = wrapped
            if with_rd:
                rd.project_frames = wrapped
        try:
            yield
        finally:
            loop.project_frames, rd.project_frames, render.project_frames = saved

    return patch()


def _modes_for(mode: str, frames: int) -> MotionModes | None:
    if mode in ("shared", "mode", "modes2", "velocity"):
        return MotionModes(frames, 2 if mode == "modes2" else 1, learn_s=mode in ("mode", "modes2"),
                           velocity=mode == "velocity")
    return None


def probe(frames: np.ndarray, mode: str, lam: float, iterations: int | None = None) -> dict[str, object]:
    """Fit ``frames`` (T, H, W, 3) uint8 in ``mode``; returns the Gaussians, the fit's PSNR and seconds."""
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
    modes = _modes_for(mode, t)
    with _patched(modes):
        t0 = time.perf_counter()
        fitted = fit_segment(frames, config, device="cpu")
        seconds = time.perf_counter() - t0
        recon = render_segment(fitted, t, w, h)
    psnr = float(np.mean([psnr_rgb(a, b) for a, b in zip(frames, recon, strict=True)]))
    out: dict[str, object] = {"mode": mode, "gaussians": len(fitted), "psnr": psnr, "seconds": seconds}
    if modes is not None and modes.velocity and modes.s is not None:
        out["velocity_coefficients"] = modes.s.detach().numpy().round(3).tolist()
    elif modes is not None and modes.s is not None:
        out["s_quantiles"] = np.quantile(modes.s.detach().numpy(), [0.05, 0.25, 0.5, 0.75, 0.95]).round(2).tolist()
    return out


def coded(clip: str, mode: str, frames: int, rd_args: list[str]) -> int:
    """bench/rd_ablation.py CLIP --frames FRAMES RD_ARGS with ``mode`` wrapped into the fit, the RD stage and the
    renderer (only for modes whose coefficients do not follow the Gaussians' rows)."""
    import importlib.util
    from pathlib import Path

    if mode not in ("base", "shared", "velocity"):
        raise SystemExit(f"motion_mode_probe: --coded takes the modes base, shared and velocity, not {mode!r}")
    spec = importlib.util.spec_from_file_location("rd_ablation", Path(__file__).with_name("rd_ablation.py"))
    ablation = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(ablation)  # type: ignore[union-attr]
    modes = _modes_for(mode, frames)
    with _patched(modes, with_rd=True):
        rc = ablation.main([clip, "--frames", str(frames), *rd_args])
    if modes is not None and modes.velocity and modes.s is not None:
        print(f"motion_mode_probe: coefficients a, b, c {modes.s.detach().numpy().round(3).tolist()}")
    return int(rc or 0)


def main(argv: list[str] | None = None) -> int:
    from gscodec.video import open_video

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clip")
    ap.add_argument("--mode", choices=MODES, default="base")
    ap.add_argument("--lambda", dest="lam", type=float, default=0.004, help="λ whose budget gsenc would fit")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--iterations", type=int, default=None, help="fit steps (default: the preset's)")
    ap.add_argument("--coded", action="store_true",
                    help="run bench/rd_ablation.py on CLIP with the arguments after --, the mode wrapped in (modes "
                         "base, shared, velocity)")
    args, rest = ap.parse_known_args(argv)
    rest = [a for a in rest if a != "--"]
    if args.coded:
        return coded(args.clip, args.mode, args.frames, ["--lambda", str(args.lam), *rest])  # --lambda is read here
    if rest:
        ap.error(f"unrecognized arguments: {' '.join(rest)} (bench/rd_ablation.py's arguments go after --coded --)")
    with open_video(args.clip, frames=args.frames) as video:
        frames = np.stack(list(video))
    r = probe(frames, args.mode, args.lam, args.iterations)
    extra = f", coefficients (5/25/50/75/95 %) {r['s_quantiles']}" if "s_quantiles" in r else ""
    extra += f", coefficients a, b, c {r['velocity_coefficients']}" if "velocity_coefficients" in r else ""
    print(f"motion_mode_probe: {args.clip} mode {r['mode']}: {r['gaussians']} Gaussians, fit {r['psnr']:.2f} dB, "
          f"{r['seconds']:.0f} s{extra}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fitting benchmark: fit one segment of a clip, print PSNR against fitting time and a final summary line.

    python bench/fit_bench.py CLIP [--frames 32] [--device cpu|cuda|auto] [--seconds S | --iterations N]
                                   [--preset medium] [--gaussians N] [--every 5] [--set name=value ...]

The curve is measured on snapshots of the Gaussians taken while the fit runs (every ``--every``
seconds of fitting) and evaluated after it, so evaluation never counts as fitting time. Fitting
time includes everything fit_segment does (optical flow, initialisation, steps); on a GPU a short
warm-up fit runs first so that gsplat's one-off compilation is not counted. PSNR is the mean over
frames of the RGB PSNR (peak 255) of the decoder's 8-bit output; "fp16" is the same after the
float16 round trip of the stored parameters (profile 0).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import fields

import numpy as np
import torch

from gscodec.errors import GscodecError, InputError
from gscodec.fit import FitConfig, fit_segment, float16_roundtrip, make_config, render_segment
from gscodec.metrics import psnr_rgb
from gscodec.model.params import ATTRIBUTE_NAMES
from gscodec.model.tsw import Gaussians


def read_frames(path: str, count: int, start: int = 0) -> np.ndarray:
    """Frames start .. start+count-1 of a clip as (T, H, W, 3) uint8 RGB, through the project's reader."""
    from gscodec.video import open_video

    with open_video(path, start_frame=start, frames=count) as video:
        return np.stack(list(video))


def _parse_value(text: str, kind: object) -> object:
    if text.lower() in ("none", "null"):
        return None
    if kind in (bool, "bool"):
        return text.lower() in ("1", "true", "yes", "on")
    if kind in (int, "int"):
        return int(text)
    if kind in (float, "float", "float | None"):
        return float(text)
    return text


def overrides(pairs: list[str]) -> dict[str, object]:
    """``name=value`` strings to FitConfig field values of the right type."""
    types = {f.name: f.type for f in fields(FitConfig)}
    out: dict[str, object] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in types:
            raise InputError(f"--set {pair}: unknown fit setting {name!r}")
        out[name] = _parse_value(value, types[name])
    return out


@torch.no_grad()
def psnr_on_device(g: Gaussians, target: torch.Tensor, backend: str) -> float:
    """Mean over frames of RGB PSNR (peak 255) of the 8-bit render; target (T, H, W, 3) uint8 on g's device."""
    from gscodec.render import render_frames, to_uint8

    t, h, w = target.shape[:3]
    values = []
    for b in range(0, t, 8):
        ts = [float(k) for k in range(b, min(b + 8, t))]
        img = to_uint8(render_frames(g, ts, w, h, backend=backend)).double()
        mse = ((img - target[b : b + len(ts)].double()) ** 2).mean(dim=(1, 2, 3))
        values.extend((10.0 * torch.log10(255.0**2 / mse.clamp(min=1e-10))).tolist())
    return float(np.mean(values))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--seconds", type=float, default=None, help="wall-clock fitting budget")
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--gaussians", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--every", type=float, default=5.0, help="seconds between curve points")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                    help="any FitConfig field, e.g. --set motion_degree=2 --set loss=mse")
    ap.add_argument("--backend", default="auto", choices=["auto", "cpu", "cuda"], help="rasterizer")
    ap.add_argument("--label", default="", help="a tag printed on the result line")
    args = ap.parse_args(argv)

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    frames = read_frames(args.clip, args.frames, args.start)
    t, h, w = frames.shape[:3]
    extra = overrides(args.sets)
    if args.seconds is not None:
        extra["seconds"] = args.seconds
    iterations = args.iterations
    if args.seconds is not None and iterations is None:
        iterations = 10**9  # the clock ends the fit
    cfg = make_config(args.preset, iterations=iterations, gaussians=args.gaussians, seed=args.seed,
                      width=w, height=h, frames=t, device=device, **extra)
    name = os.path.basename(args.clip)
    length = f"{cfg.seconds:.0f} s" if cfg.seconds else f"{cfg.iterations} steps"
    print(f"# {name}: {t} frames {w}x{h}, device {device}, preset {args.preset}, budget {cfg.gaussians} Gaussians, "
          f"{length}, "
          f"{cfg.frames_per_step} frames/step, loss {cfg.loss}, motion degree {cfg.motion_degree}", flush=True)

    backend = args.backend
    if device == "cuda":
        warm = make_config("fast", iterations=20, gaussians=2000, width=64, height=48, frames=2)
        t0 = time.perf_counter()
        try:
            fit_segment(frames[:2, :48, :64].copy(), warm, device=device, backend=backend)
        except Exception as e:  # noqa: BLE001 - report and measure with the PyTorch rasterizer instead
            if backend == "cpu":
                raise
            print(f"# the {backend} rasterizer failed ({type(e).__name__}: {e}); using the PyTorch one on the GPU")
            backend = "cpu"
        torch.cuda.synchronize()
        print(f"# warm-up (gsplat build/load): {time.perf_counter() - t0:.1f} s", flush=True)

    snaps: list[tuple[float, int, Gaussians]] = []
    marks = [args.every * (i + 1) for i in range(100000)] if args.every > 0 else []
    state = {"step": 0}

    def observe(step: int, seconds: float, g: Gaussians) -> None:
        state["step"] = step
        if marks and seconds >= marks[0]:
            while marks and seconds >= marks[0]:
                marks.pop(0)
            snaps.append((seconds, step, Gaussians(**{n: getattr(g, n).clone() for n in ATTRIBUTE_NAMES})))

    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    g = fit_segment(frames, cfg, device=device, backend=backend, observe=observe)
    if device == "cuda":
        torch.cuda.synchronize()
    fit_s = time.perf_counter() - t0

    target = torch.from_numpy(frames).to(device)
    print("# seconds  step  gaussians  psnr_dB", flush=True)
    for sec, step, sg in snaps:
        print(f"{sec:9.1f} {step:5d} {len(sg):10d} {psnr_on_device(sg, target, backend):8.2f}", flush=True)
    recon = render_segment(g, t, w, h, backend=backend)
    psnr = float(np.mean([psnr_rgb(a, b) for a, b in zip(frames, recon)]))
    recon16 = render_segment(float16_roundtrip(g), t, w, h, backend=backend)
    psnr16 = float(np.mean([psnr_rgb(a, b) for a, b in zip(frames, recon16)]))
    print(f"{fit_s:9.1f} {state['step']:5d} {len(g):10d} {psnr:8.2f}  (final)")
    print(f"RESULT {args.label} clip={name} frames={t} size={w}x{h} device={device} preset={args.preset} "
          f"gaussians={len(g)} steps={state['step']} fit_s={fit_s:.1f} psnr={psnr:.3f} psnr_fp16={psnr16:.3f} "
          f"backend={backend} sets={','.join(args.sets) or '-'}", flush=True)
    if not math.isfinite(psnr):
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except GscodecError as e:
        print(f"fit_bench: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)

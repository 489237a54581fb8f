"""Rate-distortion stage ablation: fit a segment once, then run the RD stage with several settings.

    python bench/rd_ablation.py CLIP [--frames 32] [--device cuda] [--preset medium]
        [--gaussians 0,150000] [--variant NAME:key=value,key=value ...] [--fit-setting KEY=VALUE ...]
        [--json out.json]

For each fit budget in ``--gaussians`` (0: the preset's, or with ``--lambda-budget`` the one gsenc
fits at ``--lambda``) the float fit runs once; then every
``--variant`` (``RDConfig`` fields over gsenc's defaults for the segment, e.g.
``strong:lam=0.016,prune_fraction=0.4``) runs the RD stage on a copy of that fit, packs the
segment exactly as gsenc does, decodes the packed bytes and renders them as gsdec does. Printed per
run: the Gaussians kept, the payload's bytes and bits per pixel, the decoded RGB PSNR, the float
fit's PSNR, the RD stage's seconds, and the share of the bytes in each part (geometry, prior, each
attribute group). Bits per pixel here count the segment payload only (the container adds about
100 bytes per stream). This is how the RD stage's settings are chosen; RD curves against other
codecs come from ``python -m gscodec.bench``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import fields, replace

import numpy as np


def typed_settings(cls: type, pairs: list[str], option: str, kind: str) -> dict[str, object]:
    """``key=value`` strings to values of the dataclass ``cls``'s fields (str, bool (0/1, true/false), int or
    float, as the field is typed)."""
    types = {f.name: f.type for f in fields(cls)}
    values: dict[str, object] = {}
    for pair in filter(None, pairs):
        key, _, value = pair.partition("=")
        if key not in types:
            raise SystemExit(f"rd_ablation: {option} {pair}: unknown {kind} setting {key!r} (one of {sorted(types)})")
        kind_of = types[key]
        if kind_of in (str, "str"):
            values[key] = value
        elif kind_of in (bool, "bool"):
            if value.lower() not in ("0", "1", "true", "false"):
                raise SystemExit(f"rd_ablation: {option} {pair}: {key} takes 0, 1, true or false")
            values[key] = value.lower() in ("1", "true")
        else:
            values[key] = int(value) if kind_of in (int, "int") else float(value)
    return values


def parse_variant(text: str) -> tuple[str, dict[str, object]]:
    """``NAME:key=value,...`` to (name, RDConfig field values); a bare ``NAME`` changes nothing."""
    from gscodec.fit.rd import RDConfig

    name, _, rest = text.partition(":")
    return name or "default", typed_settings(RDConfig, rest.split(","), "--variant", "RD")


def parse_fit_settings(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` strings to FitConfig field values."""
    from gscodec.fit.config import FitConfig

    return typed_settings(FitConfig, pairs, "--fit-setting", "fit")


def pilot_budget(frames: np.ndarray, config, args: argparse.Namespace, values: dict[str, object]) -> int:
    """gsenc's pilot (gscodec.fit.rd.pilot_budget) with ratio ``args.pilot`` and the first variant's RD settings."""
    from gscodec.fit.rd import default_rd_config
    from gscodec.fit.rd import pilot_budget as pilot

    t, h, w = frames.shape[:3]
    t0 = time.perf_counter()
    rd = default_rd_config(values.get("lam", args.lam), w, h, t, config.iterations,
                           frames_per_step=config.frames_per_step, motion_degree=config.motion_degree)
    budget, kept = pilot(frames, config, replace(rd, **values), device=args.device, ratio=args.pilot,
                         motion=args.motion_mode == "on")
    print(f"pilot: a quarter of the steps of a {config.gaussians} fit kept {kept} Gaussians -> budget {budget}, "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    return budget


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--iterations", type=int, default=None, help="fit iterations (default: the preset's)")
    ap.add_argument("--gaussians", default="0", help="comma-separated fit budgets; 0 is the preset's")
    ap.add_argument("--lambda-budget", action="store_true",
                    help="scale a 0 budget by --lambda as gsenc does (gscodec.fit.rd.rd_budget)")
    ap.add_argument("--budget-scale", type=float, default=1.0,
                    help="with --lambda-budget, multiply gsenc's budget by this (e.g. 0.6)")
    ap.add_argument("--pilot", type=float, default=0.0, metavar="RATIO",
                    help="first fit and run the RD stage at a quarter of the steps, then cap the budget at "
                         "RATIO times the Gaussians that pilot kept (0: no pilot)")
    ap.add_argument("--lambda", dest="lam", type=float, default=0.004, help="λ of variants that do not set one")
    ap.add_argument("--variant", action="append", default=[], help="NAME:key=value,... (repeatable)")
    ap.add_argument("--fit-setting", action="append", default=[], metavar="KEY=VALUE",
                    help="a FitConfig field for the float fit, e.g. init_tscale=12 (repeatable)")
    ap.add_argument("--motion-mode", choices=("off", "on"), default="off",
                    help="on: the segment has a motion mode (format_spec.md §16.10), learned by the fit and the RD "
                         "stage and counted in the rate (every variant starts from the fit's)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    import torch

    from gscodec.bitstream import PROFILE_CODED, profile1
    from gscodec.encode import reconstruct
    from gscodec.fit import fit_segment, make_config, render_segment
    from gscodec.fit.motion import MotionTrainer, wobble
    from gscodec.fit.rd import default_rd_config, rd_budget, rd_train
    from gscodec.metrics import psnr_rgb
    from gscodec.model.tsw import Gaussians
    from gscodec.video import open_video

    with open_video(args.clip, frames=args.frames) as video:
        frames = np.stack(list(video))
    t, h, w = frames.shape[:3]
    pixels = t * h * w
    variants = [parse_variant(v) for v in (args.variant or ["default"])]
    rows = []
    print(f"rd_ablation: {args.clip} {w}x{h}x{t} on {args.device}, preset {args.preset}", flush=True)
    for budget in [int(b) for b in args.gaussians.split(",")]:
        config = make_config(args.preset, iterations=args.iterations, gaussians=budget or None, width=w, height=h,
                             frames=t, device=args.device)
        if not budget and args.lambda_budget:
            scaled = rd_budget(config.gaussians, args.lam, w * h) * args.budget_scale
            config = config.replace(gaussians=max(1, round(scaled)))
        config = config.replace(**parse_fit_settings(args.fit_setting))
        if args.pilot > 0:
            config = config.replace(gaussians=pilot_budget(frames, config, args, variants[0][1]))
        t0 = time.perf_counter()
        trainer = MotionTrainer(t) if args.motion_mode == "on" else None
        fitted = fit_segment(frames, config, device=args.device, motion=trainer)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        fit_s = time.perf_counter() - t0
        arrays = fitted.to_arrays()
        recon = render_segment(fitted, t, w, h, mode=trainer.mode().detach() if trainer is not None else None)
        fit_psnr = float(np.mean([psnr_rgb(a, b) for a, b in zip(frames, recon, strict=True)]))
        mode_note = f", motion mode wobble {wobble(trainer.mode(), fitted.vel):.3f} px" if trainer is not None else ""
        print(f"fit: {config.gaussians} budget -> {len(arrays['xy'])} Gaussians, {fit_psnr:.2f} dB, "
              f"{fit_s:.1f} s{mode_note}", flush=True)
        for name, values in variants:
            rd = default_rd_config(values.get("lam", args.lam), w, h, t, config.iterations,
                                   frames_per_step=config.frames_per_step, motion_degree=config.motion_degree)
            rd = replace(rd, **values)
            t0 = time.perf_counter()
            state = rd_train(frames, Gaussians.from_arrays(arrays, args.device), rd, device=args.device,
                             motion=copy.deepcopy(trainer))
            rd_s = time.perf_counter() - t0
            payload = profile1.encode_segment(state.points, state.q, state.steps, state.nets, state.xy_shift,
                                              state.t_shift, motion=state.motion)
            decoded = reconstruct(payload, w, h, t, args.device, PROFILE_CODED, state)
            psnr = float(np.mean([psnr_rgb(a, b) for a, b in zip(frames, decoded, strict=True)]))
            sizes = profile1.layout(payload)
            row = {"clip": args.clip, "budget": config.gaussians, "fit_gaussians": len(arrays["xy"]),
                   "fit_psnr": fit_psnr, "fit_seconds": fit_s, "variant": name, "lam": rd.lam,
                   "settings": values, "gaussians": int(state.points.shape[0]), "bytes": len(payload),
                   "bpp": 8 * len(payload) / pixels, "estimated_bpp": state.estimated_bits / pixels,
                   "psnr": psnr, "rd_seconds": rd_s, "steps": [int(s) for s in state.steps],
                   "parts": {k: v for k, v in sizes.items() if v}}
            rows.append(row)
            if args.json:  # after every run: a run cut short keeps what it measured
                with open(args.json, "w") as f:
                    json.dump(rows, f, indent=1)
            shares = " ".join(f"{k} {100 * v / len(payload):.0f}%" for k, v in sizes.items()
                              if v and k not in ("head", "steps"))
            print(f"  {name:<14} λ {rd.lam:<7g} {row['gaussians']:>8} G  {row['bpp']:.4f} bpp "
                  f"(est {row['estimated_bpp']:.4f})  {psnr:6.2f} dB  {rd_s:5.1f} s  "
                  f"{8 * len(payload) / max(1, row['gaussians']):.1f} bits/G | {shares}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where a training step's time goes: the fit's steps and the RD stage's, timed and profiled.

    python bench/step_profile.py CLIP [--frames 32] [--device cuda] [--gaussians 80000] [--lambda 0.004]
                                      [--steps 120] [--profile-steps 40] [--top 25] [--set NAME=VALUE ...]

Runs gsenc's fit (preset medium, sized for the device) and RD stage for ``--steps`` steps each and
prints the wall time per step; then runs ``--profile-steps`` more of each under torch.profiler and
prints the operators with the most self time on the device and on the CPU, and how busy the device
was (its summed kernel time over the wall time). A device that is busy a small share of the time
is waiting for Python: fewer, larger operations would speed the step up; a busy one is limited by
its kernels. The first steps (gsplat's build or load, allocator warm-up) are not timed.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import torch
from fit_bench import overrides, read_frames

from gscodec.errors import GscodecError
from gscodec.fit import fit_segment, make_config
from gscodec.fit.rd import default_rd_config, rd_train


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(device: str, fn: object) -> tuple[float, object]:
    _sync(device)
    t0 = time.perf_counter()
    out = fn()  # type: ignore[operator]
    _sync(device)
    return time.perf_counter() - t0, out


def _table(prof: torch.profiler.profile, device: str, top: int, wall: float, label: str) -> None:
    events = prof.key_averages()
    on_gpu = device.startswith("cuda")
    if on_gpu:
        busy = sum(e.self_device_time_total for e in events) / 1e6
        print(f"# {label}: device busy {busy:.2f} s of {wall:.2f} s wall ({100 * busy / max(wall, 1e-9):.0f} %)")
        print(events.table(sort_by="self_cuda_time_total", row_limit=top))
    print(events.table(sort_by="self_cpu_time_total", row_limit=top))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--gaussians", type=int, default=80_000)
    ap.add_argument("--lambda", dest="lam", type=float, default=0.004)
    ap.add_argument("--steps", type=int, default=120, help="timed steps of each stage")
    ap.add_argument("--profile-steps", type=int, default=40, help="profiled steps of each stage (0: none)")
    ap.add_argument("--top", type=int, default=25, help="operators listed per table")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                    help="any FitConfig field")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("step_profile: --device cuda but no CUDA GPU is available")

    frames = read_frames(args.clip, args.frames)
    t, h, w = frames.shape[:3]
    base = make_config(args.preset, gaussians=args.gaussians, width=w, height=h, frames=t, device=args.device,
                       **overrides(args.sets))
    rd_base = default_rd_config(args.lam, w, h, t, base.iterations, frames_per_step=base.frames_per_step,
                                motion_degree=base.motion_degree)
    print(f"# {args.clip}: {t} frames {w}x{h}, {args.device}, {base.gaussians} Gaussians, "
          f"{base.frames_per_step} frames per step, λ {args.lam}", flush=True)

    warm_s, _ = _timed(args.device, lambda: fit_segment(frames, base.replace(iterations=5), device=args.device))
    print(f"# warm-up: {warm_s:.1f} s", flush=True)

    fit_cfg = base.replace(iterations=args.steps)
    fit_s, fitted = _timed(args.device, lambda: fit_segment(frames, fit_cfg, device=args.device))
    rd_cfg = replace(rd_base, iterations=args.steps, prior_refit_steps=0)
    rd_s, _ = _timed(args.device, lambda: rd_train(frames, fitted, rd_cfg, device=args.device))
    print(f"fit: {args.steps} steps in {fit_s:.2f} s, {1000 * fit_s / args.steps:.1f} ms per step (flow and "
          "initialisation included)")
    print(f"rd:  {args.steps} steps in {rd_s:.2f} s, {1000 * rd_s / args.steps:.1f} ms per step", flush=True)

    if args.profile_steps > 0:
        acts = [torch.profiler.ProfilerActivity.CPU]
        if args.device == "cuda":
            acts.append(torch.profiler.ProfilerActivity.CUDA)
        for label, run in (
            ("fit", lambda: fit_segment(frames, base.replace(iterations=args.profile_steps), device=args.device)),
            ("rd", lambda: rd_train(frames, fitted, replace(rd_cfg, iterations=args.profile_steps),
                                    device=args.device)),
        ):
            with torch.profiler.profile(activities=acts) as prof:
                wall, _ = _timed(args.device, run)
            print(f"\n=== {label}: {args.profile_steps} steps under the profiler, {wall:.2f} s")
            _table(prof, args.device, args.top, wall, label)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except GscodecError as e:
        print(f"step_profile: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)

"""Rasterizer speed on synthetic scenes: one frame forward, forward + backward, and a segment's frames per second.

    python bench/render_bench.py --device cpu
    python bench/render_bench.py --device cuda --json out/render_bench.json

Scenes are random but sized like fitted ones: N Gaussians spread over the frame with footprints
chosen so that they cover it a few times over. "single" scenes have all N Gaussians active at
the rendered time (the worst case for one frame); the "segment" scene spreads N Gaussians over
32 frames and renders all 32 in one render_frames call, as the decoder does.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gscodec.model import Gaussians, project_frames  # noqa: E402
from gscodec.render import rasterize, render_frame, render_frames  # noqa: E402

SINGLE = [("qcif", 176, 144, 2_000), ("720p", 1280, 720, 20_000), ("720p", 1280, 720, 100_000)]
SEGMENT = [("720p", 1280, 720, 100_000, 32), ("720p", 1280, 720, 100_000, 8), ("1080p", 1920, 1080, 100_000, 32)]


def scene(n: int, width: int, height: int, frames: float, seed: int = 0) -> Gaussians:
    """N random Gaussians; with frames == 0 all sit at t = 0, else tau spreads over [0, frames)."""
    gen = torch.Generator().manual_seed(seed)
    active = n if frames == 0 else n * min(1.0, 12.0 / max(frames, 1.0))  # expected active per frame
    sigma0 = 0.6 * math.sqrt(width * height / active)

    def u(*shape: int, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
        return torch.rand(*shape, generator=gen) * (hi - lo) + lo

    return Gaussians(
        xy=u(n, 2) * torch.tensor([float(width), float(height)]),
        tau=u(n, 1, lo=-0.5, hi=0.5) if frames == 0 else u(n, 1, hi=frames),
        vel=0.5 * torch.randn(n, 2, generator=gen),
        acc=0.05 * torch.randn(n, 2, generator=gen),
        log_scale=u(n, 2, lo=math.log(sigma0 / 2), hi=math.log(sigma0 * 2)),
        rot=u(n, 1, hi=2 * math.pi),
        log_tscale=u(n, 1, lo=math.log(2.0), hi=math.log(4.0)) if frames == 0 else u(n, 1, lo=0.0, hi=math.log(2.0)),
        color=u(n, 3),
        opacity=u(n, 1, lo=-1.0, hi=4.0),
    )


CLOCK: Callable[[], float] = time.perf_counter


def timed(fn: Callable[[], object], device: str, repeats: int, warmup: int) -> float:
    """Median time of ``fn`` in seconds on CLOCK (synchronizing the GPU around each run)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = CLOCK()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(CLOCK() - t0)
    return statistics.median(times)


def bench_single(name: str, w: int, h: int, n: int, device: str, repeats: int, warmup: int) -> dict:
    """One frame with all N Gaussians active: forward without grad, and forward + backward."""
    backend = "cuda" if device == "cuda" else "cpu"
    g = scene(n, w, h, frames=0).to(device)
    params = [p.requires_grad_(True) for p in g.tensors()]
    m = len(project_frames(g, [0.0]))

    def fwd() -> None:
        with torch.no_grad():
            render_frame(g, 0.0, w, h, backend=backend)

    def fwd_bwd() -> None:
        for p in params:
            p.grad = None
        render_frame(g, 0.0, w, h, backend=backend).square().mean().backward()

    tf = timed(fwd, device, repeats, warmup)
    tb = timed(fwd_bwd, device, repeats, warmup)
    return {
        "test": f"{name} {w}x{h} frame",
        "gaussians": n,
        "active": m,
        "frames": 1,
        "forward_ms": 1e3 * tf,
        "fwd_bwd_ms": 1e3 * tb,
        "fps": 1.0 / tf,
    }


def bench_segment(name: str, w: int, h: int, n: int, frames: int, device: str, repeats: int, warmup: int) -> list[dict]:
    """N Gaussians over a 32-frame segment; ``frames`` frames per render_frames call, no grad.

    Two rows: the whole call (projection + rasterization), and rasterization of the projected splats alone.
    """
    backend = "cuda" if device == "cuda" else "cpu"
    g = scene(n, w, h, frames=32).to(device)
    ts = [float(k) for k in range(frames)]
    splats = project_frames(g, ts)
    m = len(splats) / frames

    def seg() -> None:
        with torch.no_grad():
            render_frames(g, ts, w, h, backend=backend)

    def raster() -> None:
        with torch.no_grad():
            rasterize(splats, frames, w, h, backend=backend)

    rows = []
    for what, fn in (("segment", seg), ("raster only", raster)):
        tf = timed(fn, device, repeats, warmup)
        rows.append(
            {
                "test": f"{name} {w}x{h} {what}",
                "gaussians": n,
                "active": round(m),
                "frames": frames,
                "forward_ms": 1e3 * tf,
                "fwd_bwd_ms": float("nan"),
                "fps": frames / tf,
            }
        )
    return rows


def run(device: str, repeats: int, quick: bool) -> list[dict]:
    warmup = 3 if device == "cuda" else 1
    rows = [bench_single(*cfg, device, repeats, warmup) for cfg in (SINGLE[:1] if quick else SINGLE)]
    if not quick:
        # A CPU renders a few frames of the first segment scene only.
        for name, w, h, n, frames in SEGMENT if device == "cuda" else [SEGMENT[0][:4] + (4,)]:
            rows += bench_segment(name, w, h, n, frames, device, max(3, repeats // 2), warmup)
    return rows


def table(rows: list[dict], device: str) -> str:
    head = (
        f"{'render (' + device + ')':<28}{'N':>8}{'active/fr':>10}{'frames':>7}{'fwd ms':>10}"
        f"{'fwd+bwd ms':>12}{'fps':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['test']:<28}{r['gaussians']:>8}{r['active']:>10}{r['frames']:>7}{r['forward_ms']:>10.2f}"
            f"{r['fwd_bwd_ms']:>12.2f}{r['fps']:>9.1f}"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per test (default 3 on cpu, 20 on cuda)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--quick", action="store_true", help="only the smallest test")
    ap.add_argument(
        "--clock",
        choices=["wall", "process"],
        default="wall",
        help="process = CPU time of this process: steadier on a busy machine (use with --threads 1)",
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    global CLOCK
    CLOCK = time.process_time if args.clock == "process" else time.perf_counter
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda needs a CUDA GPU")
    repeats = args.repeats or (20 if args.device == "cuda" else 3)
    rows = run(args.device, repeats, args.quick)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "device": args.device,
                    "torch_threads": torch.get_num_threads(),
                    "clock": args.clock,
                    "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
                    "rows": rows,
                },
                indent=2,
            )
        )
    print(table(rows, args.device))


if __name__ == "__main__":
    main()

"""Geometry coder benchmark: bits per point and speed on anchor-like point clouds.

Prints one row per cloud and codec (builtin: the octree level by level, codec 0; morton: depth
first, codec 4; both by default, timed side by side in one run): points, payload bytes,
bits/point, the figure tmc3 (MPEG G-PCC reference software, release v23, lossless CTC octree
settings) reached on a cloud of the same recipe, the ratio, and encode/decode points per second
(median of --repeat runs, wall clock).

Clouds (seed 12345):
  random-*     unique uniform points in a 1024^3 cube
  surface-*    unique points on an x-y-t height field in 1920x1080x60: 40 Gaussian blobs in
               (x, y), t = 30 + 22 sin(x/310) cos(y/190) + N(0, 1), rounded. The blob widths
               behind tmc3's figures were not recorded, so two widths are shown; compare ratios
               on these rows with that in mind, or run tmc3 itself (--tmc3, --write-ply).
  video-50k    50,000 distinct (x, y, t) cells of a W x H x 32 volume drawn with probability
               proportional to the image gradient magnitude of 32 frames: where the Gaussians of a
               video fit sit. Frames come from --video (any file PyAV opens) or, by default, from a
               synthetic 1280x720 moving texture.

  stream-*     the positions of the first segment of a gscodec stream (--stream FILE.gsv): a real
               segment's Gaussians.

Usage: python bench/geometry_bench.py [--quick] [--repeat N] [--codecs builtin,morton] [--stream FILE.gsv]
                                      [--video FILE] [--tmc3 PATH] [--write-ply DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gscodec.geometry import CODEC_GPCC, CODEC_NAMES, canonical_order, codec_id, decode_points, encode_points
from gscodec.geometry.gpcc import write_ply

SEED = 12345
#: tmc3 v23, lossless geometry, CTC octree settings (research/tmc3.md): bits per point.
TMC3_BITS = {
    "random-20k": 17.69,
    "random-200k": 14.19,
    "surface-20k": 10.20,
    "surface-200k": 6.12,
    "surface-wide-20k": 10.20,
    "surface-wide-200k": 6.12,
}


def _unique_rows(pts: np.ndarray) -> np.ndarray:
    """Rows of ``pts`` without repeats, in first-seen order."""
    _, first = np.unique(pts, axis=0, return_index=True)
    return pts[np.sort(first)]


def random_cube(n: int, seed: int = SEED, size: int = 1024) -> np.ndarray:
    """``n`` unique uniform integer points in [0, size)^3."""
    rng = np.random.default_rng(seed)
    pts = np.zeros((0, 3), dtype=np.int64)
    while len(pts) < n:
        pts = _unique_rows(np.concatenate([pts, rng.integers(0, size, (n, 3))]))
    return pts[:n]


def surface(n: int, sigma: tuple[float, float], seed: int = SEED) -> np.ndarray:
    """``n`` unique points on the x-y-t height field described in the module docstring."""
    w, h, blobs = 1920, 1080, 40
    rng = np.random.default_rng(seed)
    cx = rng.uniform(0, w, blobs)
    cy = rng.uniform(0, h, blobs)
    s = rng.uniform(sigma[0], sigma[1], blobs)
    pts = np.zeros((0, 3), dtype=np.int64)
    while len(pts) < n:
        b = rng.integers(0, blobs, n)
        x = np.round(cx[b] + s[b] * rng.standard_normal(n))
        y = np.round(cy[b] + s[b] * rng.standard_normal(n))
        keep = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        x, y = x[keep], y[keep]
        t = np.round(30 + 22 * np.sin(x / 310) * np.cos(y / 190) + rng.standard_normal(x.size))
        pts = _unique_rows(np.concatenate([pts, np.column_stack([x, y, t]).astype(np.int64)]))
    return pts[:n]


def _gradient(gray: np.ndarray) -> np.ndarray:
    """Gradient magnitude of a float32 image (central differences)."""
    gy, gx = np.gradient(gray)
    return np.hypot(gx, gy)


def _frames_from_file(path: str, count: int) -> list[np.ndarray]:
    import av  # only needed for --video

    frames = []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="gray").astype(np.float32))
            if len(frames) == count:
                break
    return frames


def _synthetic_frames(count: int, w: int = 1280, h: int = 720, seed: int = SEED) -> list[np.ndarray]:
    """A moving texture: drifting discs and stripes over a smooth background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    discs = [(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(20, 120), rng.uniform(-6, 6), rng.uniform(-3, 3))
             for _ in range(40)]  # fmt: skip
    frames = []
    for f in range(count):
        img = 80 + 40 * np.sin(xx / 97 + f / 9) * np.cos(yy / 61)
        img += 30 * (np.sin((xx + 3 * f) / 7) > 0.6) * (yy < h / 3)
        for cx, cy, r, vx, vy in discs:
            img += 60 * ((xx - cx - vx * f) ** 2 + (yy - cy - vy * f) ** 2 < r * r)
        frames.append(img.astype(np.float32))
    return frames


def video_like(n: int = 50_000, video: str | None = None, frames: int = 32, seed: int = SEED) -> np.ndarray:
    """``n`` distinct (x, y, t) cells drawn with probability proportional to gradient magnitude."""
    imgs = _frames_from_file(video, frames) if video else _synthetic_frames(frames)
    density = np.stack([_gradient(g) for g in imgs]).astype(np.float64) + 1e-3  # (T, H, W)
    p = density.ravel() / density.sum()
    idx = np.random.default_rng(seed).choice(p.size, size=n, replace=False, p=p)
    t, y, x = np.unravel_index(idx, density.shape)
    return np.column_stack([x, y, t]).astype(np.int64)


def stream_points(path: str) -> np.ndarray:
    """The decoded grid positions of the first segment of a gscodec stream."""
    from gscodec.bitstream import PROFILE_CODED, profile0, profile1
    from gscodec.bitstream.container import read_index, read_segment_at

    header, index = read_index(path)
    if not index:
        raise SystemExit(f"{path}: the stream has no segment")
    segment = read_segment_at(path, index[0])
    module = profile1 if header.profile == PROFILE_CODED else profile0
    return np.asarray(module.decode_segment(segment.payload).points, dtype=np.int64)


def _median_times(fns: dict[int, Callable[[], object]], repeat: int) -> dict[int, float]:
    """Median wall time of each function over ``repeat`` rounds, every round running all of them in turn."""
    times: dict[int, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the 20k and 50k clouds")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per cloud (median reported)")
    parser.add_argument("--codecs", default="builtin,morton", help="geometry codecs to compare, by name")
    parser.add_argument("--stream", action="append", default=[], metavar="FILE.gsv",
                        help="also code the positions of a stream's first segment (repeatable)")
    parser.add_argument("--video", help="clip for the video-like cloud (default: synthetic frames)")
    parser.add_argument("--tmc3", help="tmc3 binary: also code every cloud with G-PCC (default: tmc3 on PATH)")
    parser.add_argument("--write-ply", type=Path, help="folder to write every cloud to as a PLY file")
    args = parser.parse_args()

    clouds: dict[str, Callable[[], np.ndarray]] = {
        "random-20k": lambda: random_cube(20_000),
        "surface-20k": lambda: surface(20_000, (20, 80)),
        "surface-wide-20k": lambda: surface(20_000, (30, 150)),
        "video-50k": lambda: video_like(50_000, args.video),
    }
    for path in args.stream:
        clouds[f"stream-{Path(path).stem}"] = lambda path=path: stream_points(path)
    codecs = [codec_id(name.strip()) for name in args.codecs.split(",") if name.strip()]
    names = dict(CODEC_NAMES)
    if not args.quick:
        clouds.update({
            "random-200k": lambda: random_cube(200_000),
            "surface-200k": lambda: surface(200_000, (20, 80)),
            "surface-wide-200k": lambda: surface(200_000, (30, 150)),
        })  # fmt: skip
    tmc3 = args.tmc3 or shutil.which("tmc3")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"median of {args.repeat} runs; load average {load:.1f}")
    head = f"{'cloud':24s} {'codec':8s} {'points':>8s} {'bytes':>8s} {'bits/pt':>8s} {'tmc3':>6s} {'ratio':>6s}"
    head += f" {'enc pt/s':>10s} {'dec pt/s':>10s}"
    if tmc3:
        head += f" {'gpcc b/pt':>9s}"
    print(head)
    for name, make in clouds.items():
        pts = make()
        if args.write_ply:
            args.write_ply.mkdir(parents=True, exist_ok=True)
            write_ply(args.write_ply / f"{name}.ply", pts)
        want = pts[canonical_order(pts)]
        payloads = {c: encode_points(pts, c) for c in codecs}
        for c, data in payloads.items():
            if not np.array_equal(decode_points(data, c), want):
                raise SystemExit(f"{name}: codec {names[c]} decoded points that differ from the input")
        # side by side: each timed run codes with every codec in turn, so load changes hit them alike
        enc = _median_times({c: (lambda c=c, p=pts: encode_points(p, c)) for c in codecs}, args.repeat)
        dec = _median_times({c: (lambda c=c, d=data: decode_points(d, c)) for c, data in payloads.items()},
                            args.repeat)
        gpcc = ""
        if tmc3:
            g = encode_points(pts, CODEC_GPCC, tmc3=tmc3)
            if not np.array_equal(decode_points(g, CODEC_GPCC, tmc3=tmc3), want):
                raise SystemExit(f"{name}: G-PCC decoded points differ from the input")
            gpcc = f" {len(g) * 8 / len(pts):9.3f}"
        for c, data in payloads.items():
            bpp = len(data) * 8 / len(pts)
            ref = TMC3_BITS.get(name)
            ref_s = f"{ref:6.2f}" if ref else f"{'-':>6s}"
            ratio_s = f"{bpp / ref:6.3f}" if ref else f"{'-':>6s}"
            row = f"{name:24s} {names[c]:8s} {len(pts):8d} {len(data):8d} {bpp:8.3f} {ref_s} {ratio_s}"
            row += f" {len(pts) / enc[c]:10.0f} {len(pts) / dec[c]:10.0f}"
            print(row + gpcc, flush=True)


if __name__ == "__main__":
    main()

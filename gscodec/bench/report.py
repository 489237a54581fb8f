"""Benchmark outputs: CSV and JSON of every point, per-frame CSV, a Markdown report, RD plots.

BD-rate and BD-PSNR of gscodec against each classical curve are computed here (both the
VCEG-M33 cubic fit and PCHIP) when a clip has at least :data:`MIN_BD_POINTS` gscodec points
and as many anchor points. The anchor is the classical codec: a negative BD-rate means gscodec
needs fewer bits than that codec for the same PSNR.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gscodec.bench.bd import bd_psnr, bd_rate
from gscodec.bench.harness import BenchRun
from gscodec.bench.points import GSCODEC, PointResult
from gscodec.errors import InputError

MIN_BD_POINTS = 4

CSV_COLUMNS = (
    "clip", "width", "height", "frames", "start_frame", "fps", "codec", "preset", "param", "value",
    "status", "bytes", "bpp", "kbps", "psnr_db", "ms_ssim", "encode_fps", "decode_fps",
    "encode_peak_rss_mib", "decode_peak_rss_mib", "measured_utc", "cached", "error", "notes",
)  # fmt: skip


def _ok(points: Iterable[PointResult]) -> list[PointResult]:
    return [p for p in points if p.status == "ok" and math.isfinite(p.bpp) and p.bpp > 0 and math.isfinite(p.psnr_db)]


def _curves(points: Iterable[PointResult]) -> dict[str, list[PointResult]]:
    """Points grouped by curve label (codec + preset), each sorted by rate."""
    curves: dict[str, list[PointResult]] = {}
    for p in points:
        curves.setdefault(p.label, []).append(p)
    return {label: sorted(ps, key=lambda p: p.bpp) for label, ps in curves.items()}


def _clip_names(run: BenchRun) -> list[str]:
    names: list[str] = []
    for p in run.points:
        if p.clip not in names:
            names.append(p.clip)
    return names


def bd_summary(run: BenchRun) -> list[dict[str, Any]]:
    """BD figures of gscodec against every classical curve, per clip (empty when too few points)."""
    rows: list[dict[str, Any]] = []
    for clip in _clip_names(run):
        curves = _curves(_ok(p for p in run.points if p.clip == clip))
        test = curves.get(GSCODEC, [])
        if len(test) < MIN_BD_POINTS:
            continue
        for label, anchor in curves.items():
            if label == GSCODEC or len(anchor) < MIN_BD_POINTS:
                continue
            row: dict[str, Any] = {
                "clip": clip,
                "anchor": label,
                "anchor_points": len(anchor),
                "test_points": len(test),
            }
            args = (
                [p.bpp for p in anchor],
                [p.psnr_db for p in anchor],
                [p.bpp for p in test],
                [p.psnr_db for p in test],
            )
            for method in ("cubic", "pchip"):
                for name, fn in (("bd_rate_pct", bd_rate), ("bd_psnr_db", bd_psnr)):
                    try:
                        row[f"{name}_{method}"] = fn(*args, method=method)
                    except InputError as exc:
                        row[f"{name}_{method}"] = None
                        row.setdefault("note", str(exc))
            rows.append(row)
    return rows


def write_csv(run: BenchRun, path: Path) -> None:
    """One row per point (clip means)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for p in run.points:
            row = {k: v for k, v in p.to_dict().items() if k in CSV_COLUMNS}
            row["notes"] = "; ".join(p.notes)
            writer.writerow(row)


def write_frames_csv(run: BenchRun, path: Path) -> None:
    """One row per decoded frame of every point."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["clip", "codec", "preset", "setting", "frame", "psnr_db", "ms_ssim"])
        for p in _ok(run.points):
            for i, psnr in enumerate(p.psnr_per_frame):
                ms = p.ms_ssim_per_frame[i] if i < len(p.ms_ssim_per_frame) else ""
                writer.writerow(
                    [
                        p.clip,
                        p.codec,
                        p.preset,
                        p.setting,
                        p.start_frame + i,
                        f"{psnr:.4f}",
                        ms if ms == "" else f"{ms:.6f}",
                    ]
                )


def write_json(run: BenchRun, path: Path) -> None:
    """Machine, settings, notes, BD figures and every point with its per-frame values."""
    payload = {
        "machine": run.machine,
        "config": run.config.to_dict(),
        "notes": run.notes,
        "bd": bd_summary(run),
        "points": [p.to_dict() for p in run.points],
    }
    path.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n")


def _fmt(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def _fmt_signed(value: float | None, digits: int) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:+.{digits}f}"


def markdown(run: BenchRun, plots: dict[str, Path] | None = None, relative_to: Path | None = None) -> str:
    """The Markdown report: where and how it was measured, a table per clip, BD figures, notes."""
    m = run.machine
    c = run.config
    gpus = ", ".join(m.get("gpus") or []) or "none"
    libs = m.get("ffmpeg_libs") or {}
    lines = [
        "# gscodec benchmark",
        "",
        f"- Date (UTC): {m.get('date_utc')}; gscodec {m.get('gscodec')}, commit `{m.get('git_commit') or 'unknown'}`",
        f"- Machine: {m.get('cpu')} ({m.get('cpu_count')} logical CPUs, {m.get('memory_gib')} GiB), "
        f"GPU: {gpus}; {m.get('os')}",
        f"- Software: Python {m.get('python')}, torch {m.get('torch')}, numpy {m.get('numpy')}, "
        f"PyAV {m.get('av')} (libavcodec {libs.get('libavcodec', '?')})",
        f"- Frames {c.start_frame}..{c.start_frame + c.frames - 1} of each clip; timings are medians of "
        f"{c.repeats} run(s) after {c.warmup} warm-up run(s); MS-SSIM {'on' if c.ms_ssim else 'off'}",
    ]
    if c.gsenc_args:
        lines.append(f"- Extra gsenc arguments: `{' '.join(c.gsenc_args)}`")
    if c.command:
        lines.append(f"- Command: `{c.command}`")
    reused = [p for p in run.points if p.cached]
    if reused:
        oldest = min(p.measured_utc for p in reused) or "unknown"
        lines.append(
            f"- {len(reused)} of {len(run.points)} points reused from the cache (same settings, software and "
            f"machine; oldest measured {oldest})"
        )
    bd_rows = bd_summary(run)
    for clip in _clip_names(run):
        points = [p for p in run.points if p.clip == clip]
        first = points[0]
        lines += [
            "",
            f"## {clip} ({first.width}x{first.height}, {first.frames} frames from {first.start_frame}, "
            f"{first.fps:.3f} fps)",
            "",
            "| codec | setting | bpp | kbps | PSNR (dB) | MS-SSIM | enc fps | dec fps | enc peak MiB | dec peak MiB |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for p in points:
            if p.status != "ok":
                lines.append(f"| {p.label} | {p.setting} | failed: {p.error} | | | | | | | |")
                continue
            lines.append(
                f"| {p.label} | {p.setting} | {_fmt(p.bpp, 5)} | {_fmt(p.kbps, 1)} | {_fmt(p.psnr_db, 3)} | "
                f"{_fmt(p.ms_ssim, 5)} | {_fmt(p.encode_fps, 1)} | {_fmt(p.decode_fps, 1)} | "
                f"{_fmt(p.encode_peak_rss_mib, 0)} | {_fmt(p.decode_peak_rss_mib, 0)} |"
            )
        rows = [r for r in bd_rows if r["clip"] == clip]
        if rows:
            lines += [
                "",
                "gscodec against each anchor (negative BD-rate: gscodec needs fewer bits for the same PSNR):",
                "",
                "| anchor | BD-rate cubic | BD-PSNR cubic | BD-rate PCHIP | BD-PSNR PCHIP |",
                "| --- | ---: | ---: | ---: | ---: |",
            ]
            for r in rows:
                lines.append(
                    f"| {r['anchor']} | {_fmt_signed(r['bd_rate_pct_cubic'], 1)} % | "
                    f"{_fmt_signed(r['bd_psnr_db_cubic'], 2)} dB | "
                    f"{_fmt_signed(r['bd_rate_pct_pchip'], 1)} % | {_fmt_signed(r['bd_psnr_db_pchip'], 2)} dB |"
                )
                if r.get("note"):
                    lines.append(f"| | {r['note']} | | | |")
        if plots and clip in plots:
            target = plots[clip]
            if relative_to is not None:
                target = target.relative_to(relative_to)
            lines += ["", f"![RD curves of {clip}]({target.as_posix()})"]
    notes = list(run.notes)
    notes += [f"{p.clip} {p.label} {p.setting}: {n}" for p in run.points for n in p.notes]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def write_plots(run: BenchRun, folder: Path) -> dict[str, Path]:
    """One PNG per clip, PSNR against bpp (log scale) for every curve; needs matplotlib.

    Raises ImportError when matplotlib is missing (the caller turns that into a note).
    """
    from matplotlib.figure import Figure  # optional dependency (the "bench" extra)
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda value, _pos: f"{value:g}")

    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for clip in _clip_names(run):
        curves = _curves(_ok(p for p in run.points if p.clip == clip))
        if not curves:
            continue
        fig = Figure(figsize=(6.4, 4.8))
        ax = fig.subplots()
        for label, points in curves.items():
            ax.plot([p.bpp for p in points], [p.psnr_db for p in points], marker="o", label=label)
        first = next(iter(curves.values()))[0]
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("bits per pixel (whole file)")
        ax.set_ylabel("RGB PSNR (dB)")
        ax.set_title(f"{clip}, {first.width}x{first.height}, {first.frames} frames")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = folder / f"{Path(clip).stem}.png"
        fig.savefig(path, dpi=110)
        written[clip] = path
    return written


def write_reports(run: BenchRun, out_dir: Path) -> dict[str, Path]:
    """Write every output into ``out_dir``; returns the paths by kind. Plots are skipped (with a
    note added to the run) when matplotlib is not installed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "csv": out_dir / "results.csv",
        "frames_csv": out_dir / "frames.csv",
        "json": out_dir / "results.json",
        "markdown": out_dir / "results.md",
    }
    plots: dict[str, Path] = {}
    try:
        plots = write_plots(run, out_dir / "plots")
    except ImportError:
        run.notes.append("plots: skipped (matplotlib is not installed; pip install 'gscodec[bench]')")
    write_csv(run, paths["csv"])
    write_frames_csv(run, paths["frames_csv"])
    write_json(run, paths["json"])
    paths["markdown"].write_text(markdown(run, plots, relative_to=out_dir))
    for clip, path in plots.items():
        paths[f"plot:{clip}"] = path
    return paths

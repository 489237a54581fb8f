"""``python -m gscodec.bench``: the command line of the benchmark harness.

The click function only parses options into a :class:`~gscodec.bench.harness.BenchConfig`;
:func:`main` runs it and turns errors into one-line messages and exit codes.
"""

from __future__ import annotations

import os
import shlex
import sys
from fractions import Fraction
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from gscodec.bench.classical import CLASSICAL_CODECS
from gscodec.bench.harness import DEFAULT_CODECS, DEFAULT_LAMBDAS, BenchConfig, run_bench
from gscodec.bench.report import write_reports
from gscodec.errors import GscodecError, InputError


class _RichProgress:
    """Adapter from the harness's progress hook to a rich progress bar on stderr."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None
        self.current = False  # a point is in progress

    def start(self, total: int) -> None:
        self.task = self.progress.add_task("starting", total=total)

    def advance(self, description: str) -> None:
        """Called as each point starts: the previous one is finished."""
        assert self.task is not None
        if self.current:
            self.progress.advance(self.task)
        self.current = True
        self.progress.update(self.task, description=escape(description))

    def finish(self) -> None:
        if self.task is not None:
            if self.current:
                self.progress.advance(self.task)
            self.progress.update(self.task, description="done")


def _split_list(values: tuple[str, ...]) -> list[str]:
    """Accept both repeated options and comma-separated lists."""
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _codec_map(items: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        codec, sep, value = item.partition("=")
        if not sep or codec not in CLASSICAL_CODECS or not value:
            raise InputError(
                f"{option} takes CODEC=VALUE with CODEC one of {', '.join(CLASSICAL_CODECS)}; got {item!r}"
            )
        out[codec] = value
    return out


def _parse_fps(text: str | None) -> Fraction | None:
    if text is None:
        return None
    try:
        fps = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise InputError(f"--fps takes a number or a ratio such as 30000/1001; got {text!r}") from None
    if fps <= 0:
        raise InputError("--fps must be positive")
    return fps


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("clips", nargs=-1, type=click.Path(path_type=Path))
@click.option("--frames", "-n", default=32, show_default=True, help="Frames per clip.")
@click.option("--start-frame", "-s", default=0, show_default=True, help="First frame (0-based).")
@click.option(
    "--codecs", "-c", multiple=True,
    help=f"Codecs to run, comma-separated or repeated [default: {','.join(DEFAULT_CODECS)}].",
)  # fmt: skip
@click.option(
    "--lambda", "-l", "lambdas", multiple=True,
    help=f"gscodec lambda values, comma-separated or repeated [default: {','.join(map(str, DEFAULT_LAMBDAS))}].",
)  # fmt: skip
@click.option(
    "--preset",
    multiple=True,
    metavar="CODEC=PRESET",
    help="Encoder preset, e.g. libx264=slow (default medium; libsvtav1 8).",
)
@click.option(
    "--crf", multiple=True, metavar="CODEC=V1,V2,..", help="CRF list of a classical codec, e.g. libx264=20,25,30,35."
)
@click.option("--gsenc-arg", multiple=True, help="Extra argument passed to gsenc (repeat for several).")
@click.option("--repeats", default=3, show_default=True, help="Timed runs per point (median reported).")
@click.option("--warmup", default=1, show_default=True, help="Untimed runs before the timed ones.")
@click.option("--ms-ssim/--no-ms-ssim", default=True, show_default=True, help="Compute MS-SSIM (slow on large frames).")
@click.option(
    "--fps",
    default=None,
    help="Frame rate declared to the classical encoders; x264/x265 rate control depends on it "
    "[default: the clip's own].",
)
@click.option(
    "--out",
    "-o",
    "out_dir",
    default=Path("bench-out"),
    show_default=True,
    type=click.Path(path_type=Path),
    help="Output folder.",
)
@click.option(
    "--cache", "cache_dir", default=None, type=click.Path(path_type=Path), help="Cache folder [default: OUT/cache]."
)
@click.option("--no-cache", is_flag=True, help="Measure every point again and store nothing.")
@click.option("--timeout", default=None, type=float, help="Seconds after which a gsenc/gsdec process is stopped.")
@click.option(
    "--jobs", "-j", default=1, show_default=True, type=click.IntRange(min=1),
    help="gscodec points run at once (gsenc/gsdec pairs; the classical points run beside them). Quicker on a "
    "large GPU, but the speeds are then not single-run figures (the report says so).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def cli(
    clips: tuple[Path, ...],
    frames: int,
    start_frame: int,
    codecs: tuple[str, ...],
    lambdas: tuple[str, ...],
    preset: tuple[str, ...],
    crf: tuple[str, ...],
    gsenc_arg: tuple[str, ...],
    repeats: int,
    warmup: int,
    ms_ssim: bool,
    fps: str | None,
    out_dir: Path,
    cache_dir: Path | None,
    no_cache: bool,
    timeout: float | None,
    jobs: int,
    quiet: bool,
) -> None:
    """Rate-distortion and speed of gscodec against x264, x265 and SVT-AV1 on the same frames.

    Writes results.csv, results.json, frames.csv, results.md and plots/ into the output folder.
    A re-run with the same arguments reuses the points already in the cache.
    """
    try:
        lambda_values = [float(v) for v in _split_list(lambdas)] or list(DEFAULT_LAMBDAS)
    except ValueError:
        raise InputError(f"--lambda takes numbers; got {', '.join(lambdas)}") from None
    crf_map = {k: [x for x in v.split(",") if x] for k, v in _codec_map(crf, "--crf").items()}
    config = BenchConfig(
        clips=list(clips),
        frames=frames,
        start_frame=start_frame,
        codecs=_split_list(codecs) or list(DEFAULT_CODECS),
        presets=_codec_map(preset, "--preset"),
        values=crf_map,
        lambdas=lambda_values,
        gsenc_args=list(gsenc_arg),
        repeats=repeats,
        warmup=warmup,
        ms_ssim=ms_ssim,
        fps=_parse_fps(fps),
        out_dir=out_dir,
        cache_dir=None if no_cache else (cache_dir or out_dir / "cache"),
        timeout_s=timeout,
        jobs=jobs,
        command=" ".join(shlex.quote(a) for a in ["python", "-m", "gscodec.bench", *sys.argv[1:]]),
    )
    config.validate()
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, disable=quiet, transient=False,
    )  # fmt: skip
    hook = _RichProgress(progress)
    with progress:
        run = run_bench(config, progress=hook)
        hook.finish()
    paths = write_reports(run, out_dir)
    for note in run.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    for p in run.failed:
        console.print(f"failed: {p.clip} {p.label} {p.setting}: {p.error}", markup=False, highlight=False)
    console.print(f"wrote {paths['markdown']}, {paths['csv']}, {paths['json']}", markup=False, highlight=False)
    if run.failed:
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input, 1 for failures)."""
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner per encode otherwise
    try:
        cli.main(args=argv, prog_name="python -m gscodec.bench", standalone_mode=False)
    except GscodecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        print("error: interrupted; finished points are in the cache, re-run to resume", file=sys.stderr)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SystemExit as exc:
        return int(exc.code or 0)
    except Exception as exc:  # a bug: one line for the user rather than a traceback
        print(
            f"error: unexpected failure ({type(exc).__name__}: {exc}); please report it with the command line",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

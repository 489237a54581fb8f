"""What the three command-line tools share: exit codes, messages, progress, device choice.

Exit codes: 0 success, 1 run-time failure, 2 usage or bad input (click's own usage errors
also exit with 2). Every failure prints one line, ``<tool>: error: <what is wrong>``; the
traceback is shown only with ``-v``.
"""

from __future__ import annotations

import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import click

from gscodec.errors import GscodecError, InputError

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Interrupted(BaseException):
    """What SIGINT raises while :func:`run_command` runs, in place of KeyboardInterrupt.

    A KeyboardInterrupt that lands in torch's lazy imports (``torch.use_deterministic_algorithms``
    imports torch._inductor, seconds of work at the start of a fit) was sometimes lost, so the
    fit went on, and sometimes ended the process by SIGINT (status -2) instead of exit 130.
    So the handler raises this class instead, and counts the interrupt: :func:`check_interrupted`
    raises again at the next checkpoint (every fitting step, every decoded frame).
    """


_interrupts = 0


def check_interrupted() -> None:
    """Raise :class:`Interrupted` if SIGINT arrived during this command: a checkpoint for long loops."""
    if _interrupts:
        raise Interrupted()


def _on_sigint(signum: int, frame: object) -> None:
    global _interrupts
    _interrupts += 1
    raise Interrupted()


@contextmanager
def _sigint_handler() -> Iterator[None]:
    """Route SIGINT to _on_sigint for the duration (main thread only; an ignored SIGINT stays ignored)."""
    global _interrupts
    _interrupts = 0
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) in (
            signal.SIG_IGN, None):
        yield
        return
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_command(tool: str, verbose: int, body: Callable[[], T]) -> T:
    """Run ``body``; turn every failure into a one-line message and the documented exit code."""
    try:
        with _sigint_handler():
            return body()
    except (KeyboardInterrupt, Interrupted):
        click.echo(f"{tool}: interrupted; no output was written", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except GscodecError as exc:
        if verbose > 1:
            traceback.print_exc()
        click.echo(f"{tool}: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        # The reader of our standard output went away (e.g. `gsdec ... -o - | head`).
        sys.stderr.close()
        sys.exit(EXIT_FAILURE)
    except MemoryError:
        click.echo(f"{tool}: error: out of memory; try fewer frames per segment or a smaller input", err=True)
        sys.exit(EXIT_FAILURE)
    except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into a clean exit
        if verbose:
            traceback.print_exc()
        click.echo(f"{tool}: internal error: {type(exc).__name__}: {exc} (run with -vv for details)", err=True)
        sys.exit(EXIT_FAILURE)


def resolve_device(choice: str) -> str:
    """Map ``auto|cpu|cuda`` to a torch device name; ``cuda`` without a GPU is an input error."""
    import torch

    if choice == "cpu":
        return "cpu"
    has_cuda = torch.cuda.is_available()
    if choice == "cuda" and not has_cuda:
        raise InputError("--device cuda was asked for, but no CUDA GPU is available (use --device cpu or auto)")
    return "cuda" if has_cuda else "cpu"


def parse_frame_range(text: str | None) -> tuple[int, int | None]:
    """Parse ``a:b`` (frames a .. b-1, zero-based; either end may be left out) or ``a``."""
    if text is None or text == "":
        return 0, None
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            start = int(a) if a else 0
            stop = int(b) if b else None
        else:
            start = int(text)
            stop = start + 1
    except ValueError:
        raise InputError(f"--frames {text!r}: expected a:b, e.g. 0:32 or 10: or :5") from None
    if start < 0 or (stop is not None and stop <= start):
        raise InputError(f"--frames {text!r}: the range is empty or negative")
    return start, stop


class Progress:
    """A rich progress bar on standard error, or nothing when quiet or not on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._progress = None
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._progress = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Callable[..., None]]:
        """Yield ``advance(n=1, status="")``; a no-op without a bar."""
        if self._progress is None:
            yield lambda n=1, status="": None
            return
        with self._progress:
            tid = self._progress.add_task(description, total=total, status="")

            def advance(n: int = 1, status: str = "") -> None:
                assert self._progress is not None
                self._progress.update(tid, advance=n, status=status)

            yield advance


def log(quiet: bool, message: str) -> None:
    """An informational line on standard error, unless quiet."""
    if not quiet:
        click.echo(message, err=True)


verbose_option = click.option("-v", "--verbose", count=True, help="More detail; -vv shows tracebacks.")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar or informational output.")
device_option = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where to compute: the GPU if present (auto), or force one.",
)

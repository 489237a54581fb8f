"""What one fuzz input ends in, and whether that is allowed (the decoder's robustness contract).

Every input must end in a decoded result or in one of the documented errors: a
:class:`~gscodec.errors.GscodecError` whose exit code is 2 (corrupt, truncated, unsupported,
beyond a limit), or a :class:`~gscodec.errors.RuntimeFailure` (exit 1) where a target
documents one (out of memory while rendering, a tmc3 run that times out). Its message is one
non-empty line. Anything else is a *finding*: another exception type, a broken post-condition
(:class:`ContractViolation`), an input that runs past its time budget (:class:`Hang`) or its
memory budget, or a worker process that dies.
"""

from __future__ import annotations

import functools
import re
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from gscodec.errors import GscodecError

#: Outcome kinds. "ok" and "error" keep the contract; every other kind is a finding.
OK = "ok"
ERROR = "error"
CRASH = "crash"
HANG = "hang"
SLOW = "slow"
MEMORY = "memory"
DIED = "died"
KINDS: tuple[str, ...] = (OK, ERROR, CRASH, HANG, SLOW, MEMORY, DIED)

_PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # .../gscodec
_FUZZ_DIR = Path(__file__).resolve().parent


class ContractViolation(Exception):
    """A target's post-condition failed: the code returned, but what it returned is wrong."""


class Hang(BaseException):
    """Raised by the watchdog when an input exceeds its time budget.

    A BaseException, so that no ``except Exception`` in the code under test swallows it.
    """


@dataclass(frozen=True)
class Outcome:
    """The result of one execution: its kind, a label, a one-line message and where it was raised."""

    kind: str
    label: str  # "ok ..." summary for a decode, else the exception's class name
    message: str = ""
    where: str = ""  # "geometry/octree.py:312": the innermost gscodec frame that raised
    seconds: float = 0.0
    detail: str = ""  # the traceback, for findings

    @property
    def is_finding(self) -> bool:
        return self.kind not in (OK, ERROR)

    @property
    def signature(self) -> str:
        """Identifies the outcome up to the numbers and quoted values in its message.

        Two inputs with one signature took the same way out of the decoder; a new signature
        is what makes the engine keep an input in its corpus.
        """
        if self.kind == OK:
            return self.label
        return f"{self.kind}:{self.label}:{normalize(self.message)}@{self.where}"


def normalize(message: str) -> str:
    """A message with its variable parts (numbers, quoted values) replaced by placeholders."""
    text = _QUOTED.sub("'…'", message)
    text = re.sub(r"0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:e[-+]?\d+)?", "#", text)
    text = _OTHER_CHUNK_TYPE.sub("TYPE", text)  # "first chunk is Qxzw": one outcome, not one per spelling
    return text[:200]


_QUOTED = re.compile(r"b?'(?:[^'\\]|\\.)*'" + r'|b?"(?:[^"\\]|\\.)*"')  # reprs in either quote style
_OTHER_CHUNK_TYPE = re.compile(r"(?<=chunk )(?!GHDR|GSEG|GEND|gidx|gmet)[A-Za-z]{4}\b|(?<=chunk is )[A-Za-z]{4}\b")


@functools.lru_cache(maxsize=1024)
def _package_path(filename: str) -> str | None:
    """``filename`` relative to the gscodec package, or None outside it (and inside this fuzz package)."""
    path = Path(filename).resolve()
    if _FUZZ_DIR in path.parents:
        return None
    try:
        return path.relative_to(_PACKAGE_ROOT).as_posix()
    except ValueError:
        return None


def raised_at(tb: TracebackType | None) -> str:
    """``path:line`` (relative to the gscodec package) of the innermost gscodec frame of a traceback."""
    where = ""
    for frame, line in traceback.walk_tb(tb):
        rel = _package_path(frame.f_code.co_filename)
        if rel is not None:
            where = f"{rel}:{line}"
    return where


def classify(exc: BaseException, allow_runtime: bool, seconds: float = 0.0) -> Outcome:
    """The outcome of an execution that raised ``exc``, judged against the contract."""
    name = type(exc).__name__
    message = str(exc)
    where = raised_at(exc.__traceback__)
    if isinstance(exc, Hang):
        return Outcome(HANG, name, message, where, seconds)
    if isinstance(exc, MemoryError):
        return Outcome(MEMORY, name, message or "MemoryError", where, seconds, _format(exc))
    if isinstance(exc, GscodecError) and not isinstance(exc, ContractViolation):
        if not message.strip() or "\n" in message.strip():
            return Outcome(CRASH, name, f"message is not one line: {message!r}"[:300], where, seconds, _format(exc))
        if exc.exit_code == 2 or allow_runtime:
            return Outcome(ERROR, name, message, where, seconds)
        return Outcome(CRASH, name, f"undocumented exit-1 error: {message}", where, seconds, _format(exc))
    return Outcome(CRASH, name, " ".join(message.split())[:300], where, seconds, _format(exc))


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))

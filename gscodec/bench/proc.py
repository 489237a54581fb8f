"""Run a command and measure it: wall time and the peak resident memory of that command alone.

Linux charges a child's ``ru_maxrss`` with the high-water mark of the address space it
``exec``-ed from, so a child started straight from a benchmark process holding gigabytes of
frames would report those gigabytes. Commands therefore start through this module run as a
tiny launcher (``python -m gscodec.bench.proc RESULT.json -- CMD ...``): the launcher starts
CMD, waits for it with ``os.wait4`` and writes CMD's own wall time and rusage to RESULT.json.
The launcher's own footprint (a bare interpreter, about 10 MiB) is the floor of what it can report.

Only the standard library is imported here, so the launcher starts fast.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessStats:
    """What one measured run of a command cost."""

    returncode: int
    wall_s: float
    peak_rss_kib: int
    user_s: float
    sys_s: float


def _launch(result_path: str, cmd: list[str]) -> int:
    """Launcher body: run ``cmd`` with inherited stdio, record its cost, return its exit status."""
    t0 = time.perf_counter()
    try:
        child = subprocess.Popen(cmd)
    except OSError as exc:
        print(f"error: cannot start {cmd[0]}: {exc}", file=sys.stderr)
        return 127
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)  # already reaped by wait4
    stats = {
        "returncode": child.returncode,
        "wall_s": wall,
        "peak_rss_kib": int(usage.ru_maxrss),  # kilobytes on Linux
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
    }
    Path(result_path).write_text(json.dumps(stats))
    return child.returncode if child.returncode >= 0 else 128 - child.returncode


def run_measured(
    cmd: list[str],
    log_path: Path,
    timeout_s: float | None = None,
    env: dict[str, str] | None = None,
) -> ProcessStats:
    """Run ``cmd`` through the launcher, its stdout and stderr going to ``log_path``.

    Raises TimeoutError (after killing the command's process group) when it runs past
    ``timeout_s``, and RuntimeError when the launcher leaves no measurement behind.
    """
    result_path = log_path.with_suffix(".rusage.json")
    result_path.unlink(missing_ok=True)
    launcher = [sys.executable, "-m", "gscodec.bench.proc", str(result_path), "--", *cmd]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(launcher, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher leads its own session: only its tree
            proc.wait()
            raise TimeoutError(f"{cmd[0]} ran longer than {timeout_s:g} s") from None
    if not result_path.is_file():
        raise RuntimeError(f"no measurement from the launcher (exit status {proc.returncode}); see {log_path}")
    data = json.loads(result_path.read_text())
    return ProcessStats(
        returncode=int(data["returncode"]),
        wall_s=float(data["wall_s"]),
        peak_rss_kib=int(data["peak_rss_kib"]),
        user_s=float(data["user_s"]),
        sys_s=float(data["sys_s"]),
    )


def main(argv: list[str]) -> int:
    """Entry point of the launcher: ``RESULT.json -- CMD ...``."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m gscodec.bench.proc RESULT.json -- CMD [ARG ...]", file=sys.stderr)
        return 2
    return _launch(argv[0], argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

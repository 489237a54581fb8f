"""The fuzzing engine: run mutants through a target under a watchdog, keep what is new, record findings.

One campaign per target: the seeds run first, then batches of mutants of corpus entries. An
input whose outcome signature (kind, exception class, message up to its numbers, and the
line that raised it) was not seen before joins the corpus, and so does a traced input that
reached a new line of gscodec (coverage guidance on a sample of executions, through
``sys.settrace``). Everything random comes from ``numpy.random.default_rng([seed, n])``: the
same seed and budget give the same inputs.

Budgets per input (the robustness contract, :mod:`gscodec.fuzz.outcome`):

- time: a watchdog (SIGALRM) raises :class:`Hang` after ``timeout`` seconds; an input that
  finishes but takes longer than its target's ``time_budget`` is a ``slow`` finding;
- memory: the peak resident set of an input (Linux: VmHWM, reset through
  ``/proc/self/clear_refs``) beyond its target's ``memory_budget`` is a ``memory`` finding;
  in a worker process, an address-space limit also turns a runaway allocation into a
  MemoryError instead of a machine out of memory;
- a worker process that dies (a signal, an abort, the OOM killer) is a ``died`` finding, and
  one that stops answering is killed and reported as a ``hang``.

:class:`InProcess` runs inputs in the calling process (fast; what CI uses);
:class:`WorkerPool` runs them in a child process (isolates interpreter crashes; what the long
campaign uses).
"""

from __future__ import annotations

import hashlib
import inspect
import multiprocessing as mp
import os
import resource
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from gscodec.fuzz.mutate import Mutator
from gscodec.fuzz.outcome import DIED, ERROR, HANG, MEMORY, OK, SLOW, Hang, Outcome, classify
from gscodec.fuzz.targets import Target, resolve_target

Line = tuple[str, int]

_PACKAGE = Path(__file__).resolve().parents[1]
_FUZZ = Path(__file__).resolve().parent
#: Inputs faster than this cannot have touched much memory: their peak is not read (it costs a syscall).
_MEMORY_PROBE_AFTER = 1e-3


# --- measuring ---------------------------------------------------------------------------------


class MemoryProbe:
    """Peak resident memory of this process since the last reset (Linux), else the lifetime peak."""

    def __init__(self) -> None:
        self.resettable = os.path.exists("/proc/self/status") and os.access("/proc/self/clear_refs", os.W_OK)
        self.baseline = self.current()[1]
        self.highest = self.baseline

    @staticmethod
    def current() -> tuple[int, int]:
        """(peak, current) resident bytes."""
        try:
            with open("/proc/self/status", encoding="ascii") as f:
                fields = dict(line.split(":", 1) for line in f if line.startswith(("VmHWM", "VmRSS")))
            return int(fields["VmHWM"].split()[0]) * 1024, int(fields["VmRSS"].split()[0]) * 1024
        except (OSError, KeyError, ValueError):
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            return peak, peak

    def growth(self) -> int:
        """Peak minus the resident size at the last reset, then reset: what the inputs since then added."""
        peak, now = self.current()
        self.highest = max(self.highest, peak)
        grown = peak - self.baseline
        if self.resettable:
            try:
                with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
                    f.write("5")
            except OSError:
                self.resettable = False
        self.baseline = now if self.resettable else max(self.baseline, peak)
        return grown


class LineTracer:
    """Lines of gscodec (outside this package) executed while active: ``sys.settrace`` coverage."""

    def __init__(self) -> None:
        self.lines: set[Line] = set()
        self._prefix = str(_PACKAGE) + os.sep
        self._skip = str(_FUZZ) + os.sep
        self._wanted: dict[str, bool] = {}

    def _call(self, frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
        name = frame.f_code.co_filename
        wanted = self._wanted.get(name)
        if wanted is None:
            wanted = self._wanted[name] = name.startswith(self._prefix) and not name.startswith(self._skip)
        return self._line if wanted else None

    def _line(self, frame: FrameType, event: str, arg: object) -> Callable[..., Any]:
        if event == "line":
            self.lines.add((frame.f_code.co_filename, frame.f_lineno))
        return self._line

    def __enter__(self) -> LineTracer:
        sys.settrace(self._call)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(None)


def executable_lines(files: Iterable[str], functions: dict[str, tuple[str, ...]] | None = None) -> dict[str, set[int]]:
    """The lines of each Python file that carry code (the denominator of line coverage).

    With ``functions`` (file -> qualified-name prefixes), only the lines of the functions and
    classes named there count: the decoder's side of a module that also holds its encoder.
    """
    out: dict[str, set[int]] = {}
    for name in files:
        try:
            code = compile(Path(name).read_text(encoding="utf-8"), name, "exec")
        except (OSError, SyntaxError):
            continue
        wanted = None if functions is None else functions.get(name)
        lines: set[int] = set()
        stack = [code]
        while stack:
            c = stack.pop()
            function = bool(c.co_flags & inspect.CO_OPTIMIZED)  # not a module or class body (import time)
            if function and (wanted is None or c.co_qualname.startswith(wanted)):
                lines.update(line for _, _, line in c.co_lines() if line is not None and line != c.co_firstlineno)
            stack.extend(k for k in c.co_consts if hasattr(k, "co_lines"))
        out[name] = lines
    return out


# --- executing ---------------------------------------------------------------------------------


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang("input exceeded its time budget (watchdog)")


def execute(target: Target, data: bytes, timeout: float | None, probe: MemoryProbe | None,
            tracer: LineTracer | None = None) -> Outcome:
    """Run one input and judge it: the contract, the watchdog, the time and memory budgets."""
    watchdog = timeout is not None and threading.current_thread() is threading.main_thread()
    if watchdog:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    t0 = time.perf_counter()
    try:
        if tracer is not None:
            with tracer:
                label = target.run(data)
        else:
            label = target.run(data)
        outcome = Outcome(OK, label)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - judging every way out is the point
        outcome = classify(exc, target.allow_runtime)
    finally:
        if watchdog:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    seconds = time.perf_counter() - t0
    outcome = Outcome(outcome.kind, outcome.label, outcome.message, outcome.where, seconds, outcome.detail)
    if outcome.kind not in (OK, ERROR):
        return outcome
    if probe is not None and seconds > _MEMORY_PROBE_AFTER:
        grown = probe.growth()
        budget = target.memory_budget(data)
        if grown > budget:
            return Outcome(MEMORY, outcome.label, f"peak memory grew by {grown >> 20} MiB, budget {budget >> 20} MiB "
                           f"for {len(data)} bytes ({outcome.kind}: {outcome.message})"[:300], outcome.where, seconds)
    budget_s = target.time_budget(data)
    if seconds > budget_s and tracer is None:  # tracing slows Python code several times over
        return Outcome(SLOW, outcome.label, f"{seconds:.2f} s, budget {budget_s:.2f} s for {len(data)} bytes "
                       f"({outcome.kind}: {outcome.message})"[:300], outcome.where, seconds)
    return outcome


@dataclass
class BatchResult:
    """Outcomes of a batch, the lines each traced input reached first, and the executor's peak memory."""

    outcomes: list[Outcome]
    new_lines: list[int]  # per input: how many lines it added to the executor's coverage (0 untraced)
    peak_rss: int


class InProcess:
    """Runs inputs in this process. The watchdog needs the main thread (else it is off)."""

    def __init__(self, timeout: float | None = 20.0) -> None:
        self.timeout = timeout
        self.probe = MemoryProbe()
        self.lines: set[Line] = set()

    def run(self, spec: str | Target, inputs: list[bytes], traced: list[bool] | None = None) -> BatchResult:
        target = spec if isinstance(spec, Target) else resolve_target(spec)
        outcomes, gained = [], []
        for i, data in enumerate(inputs):
            tracer = LineTracer() if traced and traced[i] else None
            outcomes.append(execute(target, data, self.timeout, self.probe, tracer))
            new = tracer.lines - self.lines if tracer else set()
            self.lines |= new
            gained.append(len(new))
        self.probe.growth()
        return BatchResult(outcomes, gained, self.probe.highest)

    def close(self) -> None:
        """Nothing to release."""


def _worker(conn: Any, current: Any, started: Any, timeout: float, headroom: int | None, preload: bool) -> None:
    """A worker process: import the targets, limit the address space, run batches until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    if preload:  # import everything heavy (torch) before the address-space baseline is taken
        import gscodec.cli.gsdec  # noqa: F401
        import gscodec.decode  # noqa: F401

    if headroom is not None:
        size = _address_space()
        if size:
            resource.setrlimit(resource.RLIMIT_AS, (size + headroom, resource.RLIM_INFINITY))
    probe = MemoryProbe()
    lines: set[Line] = set()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent went away
            return
        if message is None:
            return
        spec, inputs, traced = message
        target = resolve_target(spec)
        outcomes, gained = [], []
        for i, data in enumerate(inputs):
            current.value = i
            started.value = time.monotonic()
            tracer = LineTracer() if traced[i] else None
            outcomes.append(execute(target, data, timeout, probe, tracer))
            new = tracer.lines - lines if tracer else set()
            lines |= new
            gained.append(len(new))
        started.value = 0.0
        probe.growth()
        conn.send((outcomes, gained, probe.highest, sorted(lines) if any(traced) else None))


def _address_space() -> int:
    """This process's virtual size in bytes (Linux), or 0 when unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class WorkerPool:
    """Runs inputs in one spawned child process, restarting it when an input kills or hangs it."""

    def __init__(self, timeout: float = 20.0, headroom: int | None = 4 << 30, grace: float = 10.0,
                 preload: bool = True) -> None:
        self.timeout = timeout
        self.headroom = headroom  # address space the worker may add to what it has after its imports
        self.grace = grace  # how much longer than ``timeout`` an input may go unanswered before a kill
        self.preload = preload
        self.lines: set[Line] = set()
        self.restarts = 0
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._peak = 0

    def _start(self) -> None:
        self._conn, child = self._ctx.Pipe()
        self._current = self._ctx.Value("i", 0, lock=False)
        self._started = self._ctx.Value("d", 0.0, lock=False)
        self._proc = self._ctx.Process(target=_worker, args=(child, self._current, self._started, self.timeout,
                                                             self.headroom, self.preload), daemon=True)
        self._proc.start()
        child.close()

    def _stop(self, kill: bool) -> None:
        if self._proc is None:
            return
        if kill:
            self._proc.kill()
        else:
            try:
                self._conn.send(None)
            except OSError:
                pass
        self._proc.join(30)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        self._conn.close()
        self._proc = None

    def run(self, spec: str | Target, inputs: list[bytes], traced: list[bool] | None = None) -> BatchResult:
        if isinstance(spec, Target):
            raise TypeError("a WorkerPool takes targets by name or 'module:attribute'")
        traced = traced or [False] * len(inputs)
        outcomes: list[Outcome] = []
        gained: list[int] = []
        start = 0
        while start < len(inputs):
            if self._proc is None:
                self._start()
            self._conn.send((spec, inputs[start:], traced[start:]))
            reply, failed = self._wait()
            if reply is not None:
                got, new, peak, lines = reply
                outcomes += got
                gained += new
                self._peak = max(self._peak, peak)
                if lines is not None:
                    self.lines |= {(a, b) for a, b in lines}
                break
            # The worker died or hung on input start + i: report it, re-run what it had done after.
            i = self._current.value
            outcomes_lost = inputs[start : start + i]
            self._stop(kill=True)
            self.restarts += 1
            if outcomes_lost:
                redo = self.run(spec, outcomes_lost, traced[start : start + i])
                outcomes += redo.outcomes
                gained += redo.new_lines
            outcomes.append(failed)
            gained.append(0)
            start += i + 1
        return BatchResult(outcomes, gained, self._peak)

    def _wait(self) -> tuple[tuple | None, Outcome]:
        """The worker's reply, or (None, the outcome to record for the input it was running)."""
        while True:
            if self._conn.poll(0.25):
                try:
                    return self._conn.recv(), Outcome(OK, "")
                except (EOFError, OSError):
                    pass
            if not self._proc.is_alive():
                code = self._proc.exitcode
                why = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit {code}"
                return None, Outcome(DIED, "WorkerDied", f"the worker process died ({why})")
            began = self._started.value
            if began and time.monotonic() - began > self.timeout + self.grace:
                return None, Outcome(HANG, "WorkerHung", f"no answer {self.timeout + self.grace:.0f} s after the "
                                     "input started (stuck outside Python: the watchdog could not interrupt it)")

    def close(self) -> None:
        self._stop(kill=False)


# --- the campaign --------------------------------------------------------------------------------


@dataclass
class Finding:
    """An input that broke the contract, with its outcome and how often its signature came up."""

    target: str
    outcome: Outcome
    data: bytes
    count: int = 1

    def save(self, folder: Path) -> Path:
        """Write the input (``.bin``) and its outcome (``.txt``); returns the input's path."""
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(self.data).hexdigest()[:12]
        base = folder / f"{self.target}-{self.outcome.kind}-{digest}"
        base.with_suffix(".bin").write_bytes(self.data)
        o = self.outcome
        base.with_suffix(".txt").write_text(
            f"target: {self.target}\nkind: {o.kind}\nlabel: {o.label}\nmessage: {o.message}\nwhere: {o.where}\n"
            f"seconds: {o.seconds:.3f}\nseen: {self.count}\nbytes: {len(self.data)}\n\n{o.detail}", encoding="utf-8")
        return base.with_suffix(".bin")


@dataclass
class TargetReport:
    """What a campaign did on one target."""

    target: str
    execs: int = 0
    seconds: float = 0.0
    signatures: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    findings: dict[str, Finding] = field(default_factory=dict)
    corpus: int = 0
    seeds: int = 0
    traced: int = 0
    peak_rss: int = 0
    slowest: float = 0.0

    @property
    def exec_per_s(self) -> float:
        return self.execs / self.seconds if self.seconds else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target, "execs": self.execs, "seconds": round(self.seconds, 2),
            "exec_per_s": round(self.exec_per_s, 1), "distinct_outcomes": len(self.signatures),
            "kinds": dict(self.kinds), "findings": len(self.findings), "corpus": self.corpus, "seeds": self.seeds,
            "traced": self.traced, "peak_rss_mb": round(self.peak_rss / 2**20, 1), "slowest_s": round(self.slowest, 3),
            "finding_signatures": sorted(self.findings),
        }


@dataclass(frozen=True)
class CampaignConfig:
    """How long and how to fuzz one target."""

    execs: int
    seed: int = 0
    batch_seconds: float = 0.5  # batches are sized to take about this long
    trace_every: int = 0  # trace one execution in this many for coverage guidance (0: never)
    max_corpus: int = 4096


class Campaign:
    """Fuzzes targets one after another with one executor; ``seeds`` maps input kinds to seed inputs."""

    def __init__(self, executor: InProcess | WorkerPool, seeds: dict[str, list[bytes]],
                 on_progress: Callable[[TargetReport], None] | None = None, progress_every: float = 10.0) -> None:
        self.executor = executor
        self.seeds = seeds
        self.on_progress = on_progress
        self.progress_every = progress_every

    def run(self, spec: str | Target, config: CampaignConfig) -> tuple[TargetReport, list[bytes]]:
        """Fuzz one target for ``config.execs`` executions; returns its report and final corpus."""
        target = spec if isinstance(spec, Target) else resolve_target(spec)
        rng = np.random.default_rng([config.seed, sum(target.name.encode())])
        seeds = list(self.seeds.get(target.kind, []))
        corpus = list(seeds)
        pools = {k: list(v) for k, v in self.seeds.items()}

        def donor(kind: str) -> bytes:
            pool = pools.get(kind) or [b""]
            return pool[int(rng.integers(len(pool)))]

        mutator = Mutator(rng, donor)
        report = TargetReport(target.name, seeds=len(seeds))
        started = time.perf_counter()
        last_progress = started
        batch = 4
        pending = corpus[: config.execs]  # the seeds run first, unmutated (within the budget)
        while report.execs < config.execs:
            if pending:
                inputs, pending = pending[:batch], pending[batch:]
            else:
                inputs = [mutator.mutate(target.kind, self._choose(rng, corpus, len(seeds)))
                          for _ in range(min(batch, config.execs - report.execs))]
            traced = [bool(config.trace_every) and int(rng.integers(config.trace_every)) == 0 for _ in inputs]
            t0 = time.perf_counter()
            result = self.executor.run(spec, inputs, traced)
            dt = time.perf_counter() - t0
            batch = int(min(4096, max(1, batch * min(4.0, max(0.25, config.batch_seconds / max(dt, 1e-6))))))
            for data, outcome, gained, was_traced in zip(inputs, result.outcomes, result.new_lines, traced):
                report.execs += 1
                report.traced += was_traced
                report.kinds[outcome.kind] += 1
                report.slowest = max(report.slowest, outcome.seconds)
                sig = outcome.signature
                fresh = sig not in report.signatures
                report.signatures[sig] += 1
                if outcome.is_finding:
                    if sig in report.findings:
                        report.findings[sig].count += 1
                    else:
                        report.findings[sig] = Finding(target.name, outcome, data)
                if (fresh or gained) and data not in corpus:
                    corpus.append(data)
                    pools.setdefault(target.kind, []).append(data)
                    if len(corpus) > config.max_corpus:
                        del corpus[len(seeds) + int(rng.integers(len(corpus) - len(seeds)))]
            report.peak_rss = max(report.peak_rss, result.peak_rss)
            report.seconds = time.perf_counter() - started
            report.corpus = len(corpus)
            if self.on_progress and time.perf_counter() - last_progress > self.progress_every:
                last_progress = time.perf_counter()
                self.on_progress(report)
        return report, corpus

    @staticmethod
    def _choose(rng: np.random.Generator, corpus: list[bytes], n_seeds: int) -> bytes:
        """A parent for the next mutant: half the time one of the newest entries, else any."""
        if len(corpus) > n_seeds and rng.random() < 0.5:
            recent = corpus[max(n_seeds, len(corpus) - 64) :]
            return recent[int(rng.integers(len(recent)))]
        return corpus[int(rng.integers(len(corpus)))]


def minimize(executor: InProcess | WorkerPool, spec: str | Target, data: bytes, signature: str,
             max_execs: int = 1000) -> bytes:
    """A shorter input with the same outcome signature: delete ever smaller byte ranges while it holds."""
    best = data
    execs = 0
    size = max(1, len(best) // 2)
    while size >= 1 and execs < max_execs:
        at = 0
        progressed = False
        while at < len(best) and execs < max_execs:
            candidate = best[:at] + best[at + size :]
            execs += 1
            if executor.run(spec, [candidate]).outcomes[0].signature == signature:
                best = candidate
                progressed = True
            else:
                at += size
        if not progressed:
            size //= 2
    return best


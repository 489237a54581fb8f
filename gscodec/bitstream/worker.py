"""Entropy decoding of profile 1 segments in child processes, so that several segments decode at once.

A segment's entropy decoding (octree, fixed-point priors, range decoder) is sequential and runs on one
CPU core; on a GPU it takes several times as long as rendering the segment. Segments are coded
independently, so a stream of many segments can have several decoded at once, each in its own process,
and render at the GPU's pace instead of one core's.

``python -m gscodec.bitstream.worker`` is one such process. It reads jobs from standard input and
writes results to standard output, in order, each message a pickle preceded by its length (8 bytes,
little-endian): a job is ``(kind, payload, geometry_opts)``, a result ``(True, value)`` or
``(False, exception)``. Kind ``"segment"`` decodes a profile 1 payload to its ``DecodedSegment``;
kind ``"octree"`` decodes one slice of sliced geometry (a codec-0 payload, format_spec.md §9.6) to its
points, so that the slices of one segment decode at once. End of input ends it. It imports numpy and
constriction, not torch, so it starts in a fraction of a second. The messages pass only between
gscodec and the processes it started: the stream's bytes travel inside a job as bytes, never as a
pickle.

:class:`WorkerPool` is the parent's side.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from gscodec.errors import RuntimeFailure

if TYPE_CHECKING:
    import numpy as np

LENGTH = struct.Struct("<Q")

#: Environment for a worker: one thread for numpy's BLAS (a worker is one core's work; several at once
#: must not each start a thread per core).
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def read_message(stream: BinaryIO) -> object | None:
    """The next message on ``stream``, or None at its end (or a message cut short by it)."""
    head = stream.read(LENGTH.size)
    if len(head) < LENGTH.size:
        return None
    (size,) = LENGTH.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        return None
    return pickle.loads(body)


def write_message(stream: BinaryIO, message: object) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(LENGTH.pack(len(body)))
    stream.write(body)
    stream.flush()


def _result(kind: str, payload: bytes, geometry_opts: dict[str, object]) -> tuple[bool, object]:
    """What a job gives: the decoded state or points, or the error that decoding raised (as a picklable
    exception)."""
    from gscodec.bitstream import profile1
    from gscodec.geometry.octree import decode_octree

    try:
        if kind == "octree":
            return True, decode_octree(payload)
        return True, profile1.decode_segment(payload, **geometry_opts)
    except Exception as e:  # noqa: BLE001 - handed to the parent, which raises it in the segment's place
        try:
            pickle.dumps(e)
        except Exception:  # noqa: BLE001 - an exception that does not pickle travels as its text
            return False, RuntimeFailure(f"decoding a segment failed: {type(e).__name__}: {e}")
        return False, e


def main() -> int:
    # An interrupt (Ctrl-C reaches the whole process group) is the parent's to handle: it stops the
    # workers itself. A worker that took it would print a traceback and leave its segment undone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Results go to a private copy of standard output; anything printed (a library's warning, a
    # subprocess's chatter) goes to standard error and cannot corrupt the messages.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    inp = sys.stdin.buffer
    import gscodec.bitstream.profile1  # noqa: F401 - the decoders load now, while the parent reads the stream
    while True:
        job = read_message(inp)
        if job is None:
            return 0
        kind, payload, geometry_opts = job
        write_message(out, _result(kind, payload, geometry_opts))


class _Worker:
    """One child process, a thread that writes it its jobs (so that submitting never waits for the child
    to start or to finish the job before) and a thread that drains its results as they come (so that
    the child never blocks writing a result while a job is being written to it)."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[2])  # the directory holding the gscodec package
        env = dict(os.environ, **_ONE_THREAD)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gscodec.bitstream.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )
        self._results: queue.SimpleQueue[object | None] = queue.SimpleQueue()
        self._jobs: queue.SimpleQueue[tuple[str, bytes, dict[str, object]] | None] = queue.SimpleQueue()
        threading.Thread(target=self._drain, name="gsdec-worker-results", daemon=True).start()
        threading.Thread(target=self._feed, name="gsdec-worker-jobs", daemon=True).start()

    def _feed(self) -> None:
        assert self.proc.stdin is not None
        while (job := self._jobs.get()) is not None:
            try:
                write_message(self.proc.stdin, job)
            except (BrokenPipeError, OSError, ValueError):
                return  # the worker is gone (or closed): its results end, and result() says so

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        while True:
            try:
                message = read_message(self.proc.stdout)
            except Exception:  # noqa: BLE001 - a garbled message ends the worker's results like its exit
                message = None
            self._results.put(message)
            if message is None:
                return

    def submit(self, kind: str, payload: bytes, geometry_opts: dict[str, object]) -> None:
        self._jobs.put((kind, payload, geometry_opts))

    def result(self) -> object:
        message = self._results.get()
        if message is None:
            self._results.put(None)  # every later result() sees the end too
            code = self.proc.poll()
            raise RuntimeFailure(
                "an entropy-decoding worker process ended unexpectedly"
                + (f" (exit status {code})" if code is not None else "")
                + "; decode with --jobs 1 to decode on one core"
            )
        ok, value = message  # type: ignore[misc]
        if ok:
            return value
        raise value  # type: ignore[misc]

    def close(self) -> None:
        self._jobs.put(None)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


class WorkerStartError(RuntimeFailure):
    """The worker processes could not be started (no decoding was handed to them)."""


class WorkerPool:
    """``size`` worker processes, started on first use, that decode profile 1 payloads; jobs go to them in
    turn and their results come back in the order the jobs were submitted (:meth:`submit` returns a
    handle whose ``result()`` waits for it). With at most ``size`` jobs outstanding, as the decoder keeps
    it, every job finds its worker idle. :meth:`close` kills the processes (a consumer that stops early
    does not wait for decodes it no longer needs)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.size = size
        self._workers: list[_Worker] = []
        self._next = 0

    @property
    def started(self) -> bool:
        return bool(self._workers)

    def start(self) -> None:
        """Start the processes now (they load their decoders while the caller goes on); a no-op once started."""
        if not self._workers:
            try:
                self._workers = [_Worker() for _ in range(self.size)]
            except OSError as e:
                self.close()
                raise WorkerStartError(f"could not start entropy-decoding worker processes: {e}") from None

    def submit(self, payload: bytes, geometry_opts: dict[str, object], kind: str = "segment") -> _Handle:
        """Decode a profile 1 payload (``kind="segment"``) or a codec-0 geometry payload (``"octree"``)."""
        self.start()
        worker = self._workers[self._next]
        self._next = (self._next + 1) % self.size
        worker.submit(kind, payload, geometry_opts)
        return _Handle(worker)

    def map_slices(self, parts: Sequence[bytes]) -> list[np.ndarray]:
        """Decode the slices of sliced geometry at once, one per worker in turn (a ``SliceMap``)."""
        handles = [self.submit(bytes(p), {}, kind="octree") for p in parts]
        results: list[np.ndarray] = []
        error: BaseException | None = None
        for h in handles:  # every result is taken, so that the next job's result is the next one read
            try:
                results.append(h.result())  # type: ignore[arg-type]
            except Exception as e:  # noqa: BLE001 - the first slice's error is raised once all are in
                error = error or e
        if error is not None:
            raise error
        return results

    def close(self) -> None:
        for w in self._workers:
            w.close()
        self._workers = []


class _Handle:
    def __init__(self, worker: _Worker) -> None:
        self._worker = worker

    def result(self) -> object:
        return self._worker.result()


if __name__ == "__main__":
    raise SystemExit(main())

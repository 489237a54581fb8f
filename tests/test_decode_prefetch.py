"""decode_frames' prefetch (the next segment entropy-decoded on a second thread while the current one renders,
or the next few in worker processes) gives the same frames, the same errors and the same order as decoding
one segment after the other."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import gscodec.bitstream.worker as worker
from gscodec.bitstream import GsvReader
from gscodec.decode import DecodeStats, _Ahead, decode_frames, default_workers
from gscodec.errors import GscodecError, RuntimeFailure, StreamError

STREAMS = sorted((Path(__file__).resolve().parent.parent / "conformance" / "streams").glob("*/*.gsv"))


def _run(data: bytes, prefetch: bool, **kw: object) -> tuple[list[tuple[int, str]], str | None, DecodeStats]:
    """(frame index, MD5) of every frame yielded, then the error raised (type and message) if any."""
    stats = DecodeStats()
    out: list[tuple[int, str]] = []
    error = None
    try:
        reader = GsvReader(io.BytesIO(data))
        for k, frame in decode_frames(reader, "cpu", stats=stats, prefetch=prefetch, **kw):  # type: ignore[arg-type]
            out.append((k, hashlib.md5(frame.tobytes()).hexdigest()))
    except GscodecError as e:
        error = f"{type(e).__name__}: {e}"
    return out, error, stats


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem)
def test_prefetch_decodes_every_conformance_stream_as_the_sequential_decoder(path: Path) -> None:
    data = path.read_bytes()
    seq = _run(data, prefetch=False)
    for workers in (1, 3):
        pre = _run(data, prefetch=True, workers=workers)
        assert pre[0] == seq[0]  # the same frames, in the same order (also the ones before an error)
        assert pre[1] == seq[1]  # the same error, raised after the same frames
        assert pre[2].segments_decoded == seq[2].segments_decoded


class _PoolSpy:
    """Records the worker pools decode_frames starts, and the payloads each was given."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import gscodec.decode

        self.pools: list[worker.WorkerPool] = []
        self.submitted = 0
        self.slices = 0
        spy = self

        class Pool(worker.WorkerPool):
            def __init__(self, size: int) -> None:
                super().__init__(size)
                spy.pools.append(self)

            def submit(self, payload: bytes, geometry_opts: dict[str, object],  # type: ignore[no-untyped-def]
                       kind: str = "segment"):
                if kind == "segment":
                    spy.submitted += 1
                else:
                    spy.slices += 1
                return super().submit(payload, geometry_opts, kind)

        monkeypatch.setattr(gscodec.decode, "WorkerPool", Pool)


def _spied_runs(monkeypatch: pytest.MonkeyPatch, name: str, workers: int) -> tuple[_PoolSpy, tuple, tuple]:
    """The conformance stream named ``name`` decoded one segment after the other, then with ``workers`` processes
    (spied on); the frames and errors must agree."""
    data = next(p for p in STREAMS if name in p.name).read_bytes()
    spy = _PoolSpy(monkeypatch)
    seq = _run(data, prefetch=False)
    pre = _run(data, prefetch=True, workers=workers)
    assert pre[:2] == seq[:2] and pre[1] is None
    return spy, seq, pre


def test_worker_processes_decode_the_segments_after_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    spy, seq, _ = _spied_runs(monkeypatch, "profile1-segments", 3)
    assert seq[2].segments_decoded == 4
    assert spy.submitted == seq[2].segments_decoded - 1  # all but the first, which the thread decodes
    assert len(spy.pools) == 1 and not spy.pools[0]._workers  # the processes are gone at the end
    # a faulty second segment: its error comes from a worker, after the first segment's frames
    faulty = [p for p in STREAMS if "-p1-" in p.name]
    assert faulty
    worker_errors = 0
    for path in faulty:
        before = spy.submitted
        frames, error, _ = _run(path.read_bytes(), prefetch=True, workers=2)
        if spy.submitted > before and frames and error:
            worker_errors += 1
    assert worker_errors >= 5


def test_a_stream_of_one_segment_starts_no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    one = [p for p in STREAMS if "profile1" in p.name and _run(p.read_bytes(), False)[2].segments_decoded == 1]
    assert one
    spy = _PoolSpy(monkeypatch)
    _run(one[0].read_bytes(), prefetch=True, workers=4)
    assert spy.submitted == 0 and spy.slices == 0
    assert not spy.pools[0]._workers


def test_the_slices_of_the_first_segment_decode_at_once_in_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    spy, seq, _ = _spied_runs(monkeypatch, "profile1-sliced", 2)
    assert seq[2].segments_decoded == 2
    assert spy.slices == 4  # the first segment's four slices; the second segment went to a worker whole
    assert spy.submitted == 1


def test_slices_decode_on_the_thread_when_no_worker_starts(monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    import gscodec.decode

    class NoProcesses(worker.WorkerPool):
        def start(self) -> None:
            raise worker.WorkerStartError("could not start entropy-decoding worker processes: not here")

    monkeypatch.setattr(gscodec.decode, "WorkerPool", NoProcesses)
    data = next(p for p in STREAMS if "profile1-sliced" in p.name).read_bytes()
    with caplog.at_level("WARNING"):
        assert _run(data, prefetch=True, workers=3)[:2] == _run(data, prefetch=False)[:2]
    assert "on a thread instead" in caplog.text


def test_a_consumer_that_stops_early_kills_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    path = next(p for p in STREAMS if "profile1-segments" in p.name)
    spy = _PoolSpy(monkeypatch)
    gen = decode_frames(GsvReader(io.BytesIO(path.read_bytes())), "cpu", prefetch=True, workers=2)
    next(gen)
    procs = []
    while not procs:  # the workers start once the first segment is decoded and the next ones are read
        next(gen)
        procs = [w.proc for w in spy.pools[0]._workers]
    t0 = time.perf_counter()
    gen.close()
    assert time.perf_counter() - t0 < 5.0
    assert all(p.poll() is not None for p in procs)


def test_a_worker_that_dies_is_reported_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    path = next(p for p in STREAMS if "profile1-segments" in p.name)
    spy = _PoolSpy(monkeypatch)
    gen = decode_frames(GsvReader(io.BytesIO(path.read_bytes())), "cpu", prefetch=True, workers=2)
    next(gen)
    while not spy.pools[0]._workers:
        next(gen)
    for w in spy.pools[0]._workers:
        os.kill(w.proc.pid, signal.SIGKILL)
    with pytest.raises(RuntimeFailure, match="worker process ended unexpectedly.*--jobs 1"):
        for _ in gen:
            pass


def test_workers_that_cannot_start_leave_the_decoding_to_the_thread(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(self) -> None:  # type: ignore[no-untyped-def]
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(worker._Worker, "__init__", refuse)
    path = next(p for p in STREAMS if "profile1-segments" in p.name)
    data = path.read_bytes()
    with caplog.at_level("WARNING"):
        pre = _run(data, prefetch=True, workers=3)
    assert pre[:2] == _run(data, prefetch=False)[:2] and pre[2].segments_decoded == 4
    assert "could not start entropy-decoding worker processes" in caplog.text and "on a thread" in caplog.text


def test_worker_protocol_round_trip_and_errors() -> None:
    from gscodec.bitstream import profile1

    path = next(p for p in STREAMS if "profile1" in p.name and "segments" in p.name)
    seg = next(iter(GsvReader(io.BytesIO(path.read_bytes())).segments()))
    pool = worker.WorkerPool(2)
    try:
        good = pool.submit(seg.payload, {})
        bad = pool.submit(seg.payload[:-3], {})
        again = pool.submit(seg.payload, {})
        state = good.result()
        assert state.state_hash() == profile1.decode_segment(seg.payload).state_hash()
        with pytest.raises(StreamError) as err:
            bad.result()
        with pytest.raises(StreamError) as ref:
            profile1.decode_segment(seg.payload[:-3])
        assert str(err.value) == str(ref.value)  # the worker's error, as the decoder in this process words it
        assert again.result().state_hash() == state.state_hash()
    finally:
        pool.close()
    # an error that does not pickle comes back as its text
    ok, value = worker._result("segment", b"", {"no_such_option": lambda: None})
    assert not ok and isinstance(value, (GscodecError, TypeError))


def test_an_interrupt_is_left_to_the_parent(capfd: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C reaches every process of the group: a worker ignores it (no traceback of its own) and
    goes on; the parent stops the workers when it stops."""
    path = next(p for p in STREAMS if "profile1-segments" in p.name)
    seg = next(iter(GsvReader(io.BytesIO(path.read_bytes())).segments()))
    pool = worker.WorkerPool(1)
    try:
        first = pool.submit(seg.payload, {}).result()
        os.kill(pool._workers[0].proc.pid, signal.SIGINT)
        time.sleep(0.2)
        assert pool.submit(seg.payload, {}).result().state_hash() == first.state_hash()
    finally:
        pool.close()
    assert "Traceback" not in capfd.readouterr().err


def test_a_worker_decodes_without_importing_torch() -> None:
    """A worker starts in a fraction of a second because it imports numpy and constriction only."""
    import subprocess
    import sys

    path = next(p for p in STREAMS if "profile1-segments" in p.name)
    code = (
        "import io, sys\n"
        "from gscodec.bitstream import GsvReader\n"
        "import gscodec.bitstream.worker as w\n"
        f"seg = next(iter(GsvReader(open({str(path)!r}, 'rb')).segments()))\n"
        "ok, state = w._result(\"segment\", seg.payload, {})\n"
        "print(ok, len(state), 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "True" and int(out[1]) > 0 and out[2] == "False"


def test_worker_processes_by_default_on_a_gpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import gscodec.decode

    monkeypatch.setattr(gscodec.decode, "default_workers", lambda: 3)
    spy = _PoolSpy(monkeypatch)
    path = next(p for p in STREAMS if "profile1-segments" in p.name)
    _run(path.read_bytes(), prefetch=True)  # on the CPU: the thread, whatever the cores
    assert not spy.pools and spy.submitted == 0
    assert _run(path.read_bytes(), prefetch=True, workers=3)[1] is None and spy.submitted == 3


def test_default_workers_leave_half_the_cores() -> None:
    n = default_workers()
    assert 1 <= n <= 8
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    assert n == 1 or n == min(8, cores // 2)


def test_the_conformance_suite_exercises_errors_after_frames() -> None:
    """The comparison above covers an error that comes after frames were yielded (the ordering case)."""
    cases = [_run(p.read_bytes(), prefetch=True) for p in STREAMS]
    assert any(frames and error for frames, error, _ in cases)
    assert sum(1 for _, error, s in cases if error is None and s.segments_decoded > 1) >= 2


@pytest.mark.parametrize("rng", [(0, None), (3, 7), (5, 6), (1, 100)])
def test_prefetch_with_a_frame_range(rng: tuple[int, int | None]) -> None:
    multi = [p for p in STREAMS if "multi-segment" in p.name or "profile1-segments" in p.name]
    assert multi
    for path in multi:
        data = path.read_bytes()
        start, stop = rng
        seq = _run(data, False, start=start, stop=stop)
        for workers in (1, 3):
            pre = _run(data, True, start=start, stop=stop, workers=workers)
            assert pre[:2] == seq[:2] and pre[2].segments_decoded == seq[2].segments_decoded


class _WatchedInput(io.BytesIO):
    """A stream that records which threads read it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.readers: set[str] = set()

    def read(self, *args: object) -> bytes:  # type: ignore[override]
        self.readers.add(threading.current_thread().name)
        return super().read(*args)  # type: ignore[arg-type]

    def readinto(self, b: object) -> int:  # type: ignore[override]
        self.readers.add(threading.current_thread().name)
        return super().readinto(b)  # type: ignore[arg-type]


def test_only_the_consumers_thread_reads_the_input() -> None:
    """The worker decodes payloads already read: it never holds the input (a blocked read of standard
    input on a daemon thread aborted the interpreter at exit)."""
    path = next(p for p in STREAMS if "many-segments" in p.name)
    watched = _WatchedInput(path.read_bytes())
    seen: set[str] = set()
    for _ in decode_frames(GsvReader(watched), "cpu", prefetch=True):
        seen.update(t.name for t in threading.enumerate())
    assert "gsdec-entropy" in seen  # the prefetch ran
    assert watched.readers == {threading.current_thread().name}


def test_a_consumer_that_stops_early_does_not_wait_for_the_next_segment() -> None:
    path = next(p for p in STREAMS if "profile1-segments" in p.name)
    gen = decode_frames(GsvReader(io.BytesIO(path.read_bytes())), "cpu", prefetch=True)
    k, frame = next(gen)
    assert k == 0 and frame.dtype == np.uint8
    t0 = time.perf_counter()
    gen.close()
    assert time.perf_counter() - t0 < 5.0


def test_prefetch_is_on_by_default_on_cuda_only_and_off_for_standard_input(monkeypatch) -> None:
    from click.testing import CliRunner

    import gscodec.decode
    from gscodec.cli import gsdec
    from gscodec.decode import prefetch_default

    assert prefetch_default("cuda") and prefetch_default("cuda:1")
    assert not prefetch_default("cpu")
    calls: list[object] = []
    real = gscodec.decode.decode_frames

    def spy(*args: object, **kw: object):  # type: ignore[no-untyped-def]
        calls.append(kw.get("prefetch"))
        return real(*args, **kw)

    monkeypatch.setattr(gscodec.decode, "decode_frames", spy)
    path = next(p for p in STREAMS if "profile1-segments" in p.name)
    r = CliRunner().invoke(gsdec.main, ["-", "-o", "-", "--device", "cpu", "-q"], input=path.read_bytes())
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(gsdec.main, [str(path), "-o", "-", "--device", "cpu", "-q"])
    assert r.exit_code == 0, r.output
    assert calls == [False, None]  # standard input: never; a file: the device's default


def test_ahead_hands_over_a_value_or_the_error() -> None:
    gate = threading.Event()

    def slow() -> int:
        gate.wait(5)
        return 7

    a = _Ahead(slow)
    time.sleep(0.01)
    gate.set()
    assert a.result() == 7

    def broken() -> int:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        _Ahead(broken).result()


def _cuda_ready() -> bool:
    from gscodec.render import available_backends

    return "cuda" in available_backends()


@pytest.mark.cuda
@pytest.mark.skipif(not _cuda_ready(), reason="needs a CUDA GPU and gsplat")
def test_gsdec_default_on_cuda_prefetches_and_gives_the_same_frames() -> None:
    """On a CUDA device the default is the prefetching decoder; it renders what the sequential one does."""
    total = 0
    for path in (p for p in STREAMS if "segments" in p.name or "multi-segment" in p.name):
        data = path.read_bytes()
        on = [(k, f.tobytes()) for k, f in decode_frames(GsvReader(io.BytesIO(data)), "cuda")]
        off = [(k, f.tobytes()) for k, f in decode_frames(GsvReader(io.BytesIO(data)), "cuda", prefetch=False)]
        assert on == off, path.name
        total += len(on)
    assert total > 0  # (one of these streams holds no segment at all)


def test_a_one_segment_stream_decodes_its_slices_without_starting_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting the processes costs more than decoding one segment's slices at once saves."""
    from dataclasses import replace

    from gscodec.bitstream import GsvWriter

    reader = GsvReader(io.BytesIO(next(p for p in STREAMS if "profile1-sliced" in p.name).read_bytes()))
    seg = next(iter(reader.segments()))
    out = io.BytesIO()
    with GsvWriter(out, replace(reader.header, frame_count=seg.frame_count, segment_count=1)) as w:
        w.write_segment(seg.frame_count, seg.payload)
    spy = _PoolSpy(monkeypatch)
    got = _run(out.getvalue(), prefetch=True, workers=4)
    assert got[:2] == _run(out.getvalue(), prefetch=False)[:2] and len(got[0]) == seg.frame_count
    assert spy.slices == 0 and not spy.pools[0]._workers

"""decode_frames' prefetch (the next segment entropy-decoded on a second thread while the current one renders)
gives the same frames, the same errors and the same order as decoding one segment after the other."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from gscodec.bitstream import GsvReader
from gscodec.decode import DecodeStats, _Ahead, decode_frames
from gscodec.errors import GscodecError

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
    pre = _run(data, prefetch=True)
    assert pre[0] == seq[0]  # the same frames, in the same order (also the ones before an error)
    assert pre[1] == seq[1]  # the same error, raised after the same frames
    assert pre[2].segments_decoded == seq[2].segments_decoded


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
        assert _run(data, True, start=start, stop=stop)[:2] == _run(data, False, start=start, stop=stop)[:2]


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

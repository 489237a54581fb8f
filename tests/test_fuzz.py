"""The decoder's robustness contract under fuzzing: a short seeded campaign, the harness itself, regressions.

Every input ends in a decoded result or a documented error (gscodec.fuzz.outcome), within its
time and memory budget. The campaign here is small and seeded (same inputs on every run);
bench/fuzz_campaign.py runs the long one. The harness tests plant each kind of failure in a
target and check that the engine reports it, so a quiet campaign means something.
"""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from gscodec.bitstream import GsvReader, IndexEntry, read_segment_at
from gscodec.bitstream.chunks import SIGNATURE, encode_chunk
from gscodec.bitstream.profile0 import decode_segment
from gscodec.errors import LimitError, RuntimeFailure, StreamError
from gscodec.fuzz import Campaign, CampaignConfig, InProcess, WorkerPool, claims, seeds_by_kind
from gscodec.fuzz.engine import execute
from gscodec.fuzz.mutate import Mutator, join_stream, split_stream
from gscodec.fuzz.outcome import CRASH, DIED, ERROR, HANG, MEMORY, OK, SLOW, normalize
from gscodec.fuzz.targets import TARGETS, run_gsdec_process
from gscodec.geometry import declared_points, decode_points, encode_points

#: Executions per target in CI (seed 0): about 10 s in all on one core.
CI_BUDGET = {
    "container": 3000, "gsinfo": 250, "seek": 250, "stream": 500, "profile0": 500, "profile1": 500, "builtin": 400,
    "morton": 400, "raw": 400, "gpcc": 300, "gsdec": 90,
}  # fmt: skip


@pytest.fixture(scope="module")
def seeds() -> dict[str, list[bytes]]:
    return seeds_by_kind()


def _decodes(data: bytes) -> bool:
    return execute(TARGETS["stream"], data, None, None).kind == OK


def _describe(report) -> str:
    return "\n".join(f"{f.count}x {sig}\n{f.outcome.detail}" for sig, f in report.findings.items())


@pytest.mark.parametrize("name", sorted(CI_BUDGET))
def test_seeded_campaign_keeps_the_contract(name: str, seeds) -> None:
    if name == "gsdec":  # rendering is the slow part: start from the streams that decode
        seeds = {**seeds, "stream": [s for s in seeds["stream"] if _decodes(s)]}
    report, corpus = Campaign(InProcess(timeout=30.0), seeds).run(name, CampaignConfig(CI_BUDGET[name], seed=0))
    assert report.execs == CI_BUDGET[name]
    assert not report.findings, _describe(report)
    # Both ways out were exercised, and mutants found outcomes the seeds did not give.
    assert report.kinds[OK] > 0 and report.kinds[ERROR] > 0
    assert report.corpus > report.seeds


def test_mutants_reach_past_the_crcs(seeds) -> None:
    """With lengths and CRCs fixed up, mutants get to the geometry and attribute checks behind both CRC layers."""
    report, _ = Campaign(InProcess(), seeds).run("stream", CampaignConfig(500, seed=1))
    deep = [s for s in report.signatures if "geometry/" in s or "attribute" in s or "Gaussians" in s]
    crc = [s for s in report.signatures if "CRC mismatch" in s]
    assert len(deep) >= 5 and crc  # deep checks reached, and the CRC checks still probed


def test_campaign_is_reproducible(seeds) -> None:
    runs = [Campaign(InProcess(), seeds).run("container", CampaignConfig(400, seed=5))[0] for _ in range(2)]
    assert runs[0].signatures == runs[1].signatures and runs[0].kinds == runs[1].kinds
    other = Campaign(InProcess(), seeds).run("container", CampaignConfig(400, seed=6))[0]
    assert other.signatures != runs[0].signatures


def test_gsdec_as_a_subprocess(seeds) -> None:
    """Two real gsdec processes: a valid stream decodes (exit 0), a damaged one fails with one line (exit 2)."""
    valid = next(s for s in seeds["stream"] if TARGETS["stream"].run(s).startswith("ok segments=2"))
    assert run_gsdec_process(valid).startswith("ok")
    damaged = bytearray(valid)
    damaged[len(damaged) // 2] ^= 0x10
    outcome = execute(TARGETS["gsdec-process"], bytes(damaged), None, None)
    assert outcome.kind == ERROR and "corrupt stream" in outcome.message, outcome


# --- the harness finds what it is meant to find ---------------------------------------------------


#: Planted failures, one per marker (gscodec.fuzz.targets.run_canary).
PLANTED = TARGETS["canary"]


@pytest.mark.parametrize("data, kind, label", [
    (b"fine", OK, "ok"),
    (b"BAD", ERROR, "StreamError"),
    (b"KEY", CRASH, "KeyError"),
    (b"HANG", HANG, "Hang"),
    (b"SLOW", SLOW, "ok"),
    (b"LINES", CRASH, "StreamError"),
    (b"RUNTIME", CRASH, "RuntimeFailure"),
    (b"WRONG", CRASH, "ContractViolation"),
])
def test_engine_judges_each_way_out(data: bytes, kind: str, label: str) -> None:
    outcome = execute(PLANTED, data, timeout=0.5, probe=None)
    assert (outcome.kind, outcome.label) == (kind, label), outcome
    assert outcome.is_finding == (kind not in (OK, ERROR))


def test_engine_measures_peak_memory() -> None:
    executor = InProcess(timeout=10.0)
    if not executor.probe.resettable:
        pytest.skip("needs Linux /proc/self/clear_refs to measure one input's peak")
    kinds = [o.kind for o in executor.run(PLANTED, [b"fine", b"HOG", b"fine"]).outcomes]
    assert kinds == [OK, MEMORY, OK]


def test_campaign_records_findings(tmp_path: Path) -> None:
    report, _ = Campaign(InProcess(timeout=0.5), {"stream": [b"fine", b"KEY", b"BAD"]}).run(
        PLANTED, CampaignConfig(30, seed=0))
    crash = [f for f in report.findings.values() if f.outcome.kind == CRASH]
    assert crash and crash[0].data.startswith(b"KEY")
    saved = crash[0].save(tmp_path)
    assert saved.read_bytes().startswith(b"KEY") and "KeyError" in saved.with_suffix(".txt").read_text()


def test_worker_survives_an_abort_and_a_stuck_input() -> None:
    """Isolation: a dying or unresponsive worker is reported against its input and replaced."""
    pool = WorkerPool(timeout=0.5, grace=1.0, headroom=None, preload=False)
    try:
        result = pool.run("canary", [b"fine", b"ABORT", b"BAD", b"STUCK", b"fine"])
    finally:
        pool.close()
    assert [o.kind for o in result.outcomes] == [OK, DIED, ERROR, HANG, OK]
    assert "SIGABRT" in result.outcomes[1].message and pool.restarts == 2


def test_outcome_signatures_ignore_numbers_and_quoted_values() -> None:
    a = normalize("corrupt stream: CRC mismatch in chunk GSEG at byte 512")
    assert a == normalize("corrupt stream: CRC mismatch in chunk GSEG at byte 9")
    assert normalize("invalid chunk type b'\\x00ab' at byte 3") == normalize("invalid chunk type b'zz' at byte 4")
    assert a != normalize("corrupt stream: CRC mismatch in chunk GHDR at byte 9")


def test_stream_split_and_join_are_inverse(seeds) -> None:
    for data in seeds["stream"]:
        head, chunks, tail = split_stream(data)
        if all(c.good_crc for c in chunks):
            assert join_stream(head, chunks, tail) == data


def test_builtin_mutants_keep_a_valid_inner_crc(seeds) -> None:
    """The octree CRC covers the bytes after num_points (what gscodec writes; see docs/ROBUSTNESS.md)."""
    m = Mutator(np.random.default_rng(3))
    fixed = 0
    for data in seeds["builtin"][:40]:
        out = m.builtin(data)
        if len(out) >= 9:
            fixed += struct.unpack_from("<I", out, 1)[0] == zlib.crc32(out[9:])
    assert fixed >= 30


# --- resource claims: refused before anything is allocated ----------------------------------------


def _peak_bytes(fn) -> tuple[BaseException | None, int]:
    """Run ``fn``; return what it raised and the peak of Python-visible allocations (numpy included)."""
    tracemalloc.start()
    try:
        fn()
        caught = None
    except Exception as exc:  # noqa: BLE001 - returned to the test
        caught = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return caught, peak


def test_chunk_claiming_a_gibibyte_costs_what_the_file_holds() -> None:
    data = claims.chunk_claiming(1 << 30)
    exc, peak = _peak_bytes(lambda: list(GsvReader(io.BytesIO(data)).segments()))
    assert isinstance(exc, StreamError) and "truncated stream" in str(exc)
    assert len(data) < 200 and peak < 256 << 10


def test_segment_claiming_max_gaussians_with_no_bytes_is_refused_before_allocating() -> None:
    exc, peak = _peak_bytes(lambda: decode_segment(claims.profile0_claiming(1 << 22)))
    assert isinstance(exc, StreamError) and "4194304 Gaussians" in str(exc)
    assert peak < 64 << 10


def test_count_beyond_the_limit_is_a_limit_error() -> None:
    exc, peak = _peak_bytes(lambda: decode_segment(claims.profile0_claiming((1 << 22) + 1)))
    assert isinstance(exc, LimitError) and peak < 64 << 10


def test_deep_octree_with_few_bytes_stops_early() -> None:
    t0 = time.perf_counter()
    exc, peak = _peak_bytes(lambda: TARGETS["builtin"].run(claims.octree_claiming(1 << 22)))
    assert isinstance(exc, StreamError)
    assert peak < 16 << 20 and time.perf_counter() - t0 < 5.0


def test_index_claiming_max_entries_is_refused() -> None:
    exc, peak = _peak_bytes(lambda: list(GsvReader(io.BytesIO(claims.index_claiming(1 << 24))).segments()))
    assert isinstance(exc, StreamError) and "index" in str(exc) and peak < 256 << 10


# --- regressions: bugs the campaign found, tested where they lived --------------------------------


def test_geometry_count_is_checked_before_the_geometry_is_decoded() -> None:
    """profile0.decode_segment: a segment of 0 Gaussians whose geometry codes 64^3 points in a few dozen bytes.

    It used to decode every point before comparing counts (4M points from 342 bytes: 1.5 s and
    420 MB per segment); now the declared count is compared first.
    """
    payload = claims.geometry_bomb((64, 64, 64), gaussians=0)
    assert len(payload) < 200 and declared_points(payload[12:], "builtin") == 1 << 18
    exc, peak = _peak_bytes(lambda: decode_segment(payload))
    assert isinstance(exc, StreamError) and "geometry holds 262144 points for 0 Gaussians" in str(exc)
    assert peak < 256 << 10


def test_profile1_priors_run_in_memory_linear_in_the_gaussians() -> None:
    """profile1.decode_segment on the prior bomb at 2^18 Gaussians (claim profile1-bomb is 2^22): 12 priors of
    hidden width 32 over every row, from a few KB. The priors used to run on all rows at once in int64
    (4.4 GB and 96 s at 2^22); now in blocks, so the peak stays near the decoded state's own size."""
    from gscodec.bitstream import profile1

    payload = claims.profile1_bomb((64, 64, 64))
    n = 1 << 18
    state = None

    def run() -> None:
        nonlocal state
        state = profile1.decode_segment(payload)

    exc, peak = _peak_bytes(run)
    assert exc is None and len(state) == n and len(payload) < 12_000
    # Measured 256 bytes per Gaussian: the octree decoder's own peak (about 100 per point), the state (72),
    # one channel's residual decoding. A prior over all rows at once would add 2 x 32 x 8 for its hidden layer.
    assert peak < 320 * n


def test_builtin_bounding_box_must_be_the_points_box() -> None:
    """octree.decode_octree accepted an origin below the points' minimum or an extent above their span
    (same bit length, so the same tree): a second payload for one cloud, which §9.5.1 rules out."""
    pts = np.array([[0, 0, 0], [2, 1, 2], [1, 1, 1]], np.int64)  # extents (2, 1, 2): 2 bits on x and t
    good = encode_points(pts, "builtin")
    for edits in ({21: 3}, {9: -1, 21: 3}, {29: 3}):  # extent_x 2 -> 3; origin_x -1 with it; extent_t 2 -> 3
        data = bytearray(good)
        for offset, value in edits.items():
            struct.pack_into("<i", data, offset, value)
        struct.pack_into("<I", data, 1, zlib.crc32(bytes(data[9:])))
        with pytest.raises(StreamError, match="bounding box is larger than the points"):
            decode_points(bytes(data), "builtin")
    assert np.array_equal(decode_points(good, "builtin"), pts[np.lexsort((pts[:, 0], pts[:, 1], pts[:, 2]))])


def test_declared_points_reads_each_codec_header() -> None:
    pts = np.array([[0, 0, 0], [3, 1, 2], [3, 1, 2]], np.int64)
    assert declared_points(encode_points(pts, "builtin"), 0) == 3
    assert declared_points(encode_points(pts, "raw"), 2) == 3
    assert declared_points(struct.pack("<BIiiiI", 0, 9, 0, 0, 0, 0), 1) == 9
    assert declared_points(b"\x00\x01", 0) is None and declared_points(b"\x01" * 40, 0) is None
    assert declared_points(bytes(13), 2) is None


def test_index_entry_beyond_seekable_offsets_is_a_stream_error(tmp_path: Path) -> None:
    """read_segment_at: an index offset of 2^63 or more made seek() raise OSError (an internal error)."""
    path = tmp_path / "s.gsv"
    path.write_bytes(SIGNATURE + claims.header_chunk() + encode_chunk(b"GEND", bytes(16)))
    for offset in ((1 << 64) - 1, 1 << 63, 10_000):
        with pytest.raises(StreamError, match="past the end of the file"):
            read_segment_at(path, IndexEntry(offset, 0, 1))


def test_mkv_and_mp4_take_every_legal_frame_rate(tmp_path: Path) -> None:
    """video/writer.py: a .gsv rate of 4294967295/4294967294 (u32 extremes) made PyAV raise OverflowError."""
    from gscodec.video import open_video, open_writer
    from gscodec.video.writer import container_rate

    for fps in (Fraction(4294967295, 4294967294), Fraction(1, 4294967295), Fraction(4294967295)):
        rate = container_rate(fps)
        assert 0 < rate and rate.numerator < 1 << 31 and rate.denominator < 1 << 31
        for name in ("a.mp4", "b.mkv"):
            with open_writer(tmp_path / name, 4, 2, fps) as w:
                for k in range(2):
                    w.write(np.full((2, 4, 3), 60 * k, np.uint8))
            with open_video(str(tmp_path / name)) as v:
                assert sum(1 for _ in v) == 2
    assert container_rate(Fraction(30000, 1001)) == Fraction(30000, 1001)


def test_rendering_is_batched_by_pixels_and_out_of_memory_is_a_clear_failure(monkeypatch) -> None:
    """decode.render_segment rendered 8 frames per call whatever their size (26 GB at 16384x16384), and
    torch's allocation failure surfaced as an internal error."""
    import gscodec.decode
    import gscodec.render
    from gscodec.bitstream import profile0
    from gscodec.decode import render_segment
    from gscodec.model.params import ATTRIBUTES

    one = {a.name: np.zeros((1, a.components)) for a in ATTRIBUTES}
    state = decode_segment(profile0.encode_segment(one, "raw"))
    calls: list[tuple[int, int, int]] = []

    def fake_render(g, ts, width, height, backend="auto", mode=None):
        calls.append((len(ts), width, height))
        import torch

        return torch.zeros((len(ts), height, width, 3))

    monkeypatch.setattr(gscodec.render, "render_frames", fake_render)
    assert len(list(render_segment(state, 16, 16, "cpu", 0, 20))) == 20
    assert [c[0] for c in calls] == [8, 8, 4]
    calls.clear()
    monkeypatch.setattr(gscodec.decode, "RENDER_BATCH_PIXELS", 3 * 64 * 64)  # as 8 MiPx are to 1024x1024
    assert len(list(render_segment(state, 64, 64, "cpu", 0, 7))) == 7
    assert [c[0] for c in calls] == [3, 3, 1]
    calls.clear()
    assert len(list(render_segment(state, 128, 64, "cpu", 0, 3))) == 3
    assert [c[0] for c in calls] == [1, 1, 1]  # frames larger than the budget: one at a time

    def no_memory(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(gscodec.render, "render_frames", no_memory)
    with pytest.raises(RuntimeFailure, match="out of memory rendering 1 frame"):
        list(render_segment(state, 128, 128, "cpu", 0, 1))


# --- structured generation with hypothesis: boundary values in every field --------------------------

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # hypothesis comes with the test extra; without it these tests are skipped
    given = None

if given is not None:
    _SETTINGS = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow])
    u8, u16, u32 = st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)

    def _judge(target: str, data: bytes) -> None:
        outcome = execute(TARGETS[target], data, timeout=30.0, probe=None)
        assert not outcome.is_finding, f"{outcome.kind}: {outcome.label}: {outcome.message}\n{outcome.detail}"

    @_SETTINGS
    @given(fields=st.tuples(st.sampled_from([1, 1, 0, 2]), u8, st.sampled_from([0, 0, 1, 255]), u8, u32, u32, u32,
                            u32, u32, u8, u8, u8, u8, u32, u32),
           seg=st.tuples(u32, u32, u32), end=st.tuples(u32, u32, st.integers(0, 2**64 - 1)),
           extra=st.binary(max_size=8))
    def test_container_fields_at_their_boundaries(fields, seg, end, extra) -> None:
        """Every header, segment and end field over its whole range (hypothesis favours the edges)."""
        header = encode_chunk(b"GHDR", struct.pack("<BBBBIIIIIBBBBII", *fields) + extra)
        segment = encode_chunk(b"GSEG", struct.pack("<III", *seg) + claims.profile0_claiming(0))
        data = SIGNATURE + header + segment + encode_chunk(b"GEND", struct.pack("<IIQ", *end))
        for target in ("container", "gsinfo", "seek", "stream"):
            _judge(target, data)

    @_SETTINGS
    @given(n=st.one_of(st.integers(0, 70), u32), origin=st.tuples(*[st.integers(-2**31, 2**31 - 1)] * 3),
           extent=st.tuples(*[st.one_of(st.integers(0, 70), st.integers(0, 2**22), u32)] * 3),
           flags=st.sampled_from([0, 0, 1, 2, 255]), words=st.lists(u32, max_size=24))
    def test_builtin_geometry_fields_with_a_valid_crc(n, origin, extent, flags, words) -> None:
        """Builtin headers of every shape in front of arbitrary coded words, the inner CRC made valid."""
        body = struct.pack("<iiiIIIB", *origin, *extent, flags) + struct.pack(f"<{len(words)}I", *words)
        _judge("builtin", struct.pack("<BII", 0, zlib.crc32(body), n) + body)

    @_SETTINGS
    @given(n=st.one_of(st.integers(0, 6), u32), codec=st.sampled_from([0, 1, 2, 3, 255]), gsize=st.integers(0, 64),
           body=st.binary(max_size=256), f16=st.lists(st.integers(0, 0xFFFF), max_size=60))
    def test_profile0_fields(n, codec, gsize, body, f16) -> None:
        """Profile 0 heads with counts and sizes that agree or not, geometry bytes, any float16 bit patterns."""
        payload = struct.pack("<IB3xI", n, codec, min(gsize, len(body))) + body + struct.pack(f"<{len(f16)}H", *f16)
        _judge("profile0", payload)
else:
    def test_structured_generation_needs_hypothesis() -> None:
        pytest.skip("hypothesis is not installed: pip install -e '.[test]'")

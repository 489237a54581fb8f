"""The benchmark harness: Bjøntegaard deltas against published worked examples, the cache, the
gscodec runner contract (with fakes), the measuring launcher and a small end-to-end x264 run."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np
import pytest

from gscodec.bench import classical, gscodec_runner
from gscodec.bench.__main__ import main
from gscodec.bench.bd import bd_psnr, bd_rate
from gscodec.bench.harness import BenchConfig, run_bench
from gscodec.bench.points import GSCODEC, PointSpec, RunOutput
from gscodec.bench.proc import run_measured
from gscodec.bench.report import bd_summary, markdown, write_reports
from gscodec.bench.source import SourceClip
from gscodec.errors import InputError

W, H, N = 64, 48, 8

# --- Bjøntegaard deltas -------------------------------------------------------------------

# JCT-VC worked examples, (rate, PSNR) pairs, anchor then test. Expected values are the ones
# Netflix/vmaf's test suite holds for its BD-rate calculator "validated against JCTVC-E137"
# (python/test/bd_rate_calculator_test.py, BDrateCalculatorJCTVCTest), given there as fractions.
JCTVC_1 = (
    [(108048.8736, 43.6471), (61279.976, 40.3953), (33905.6656, 37.247), (18883.6928, 34.2911)],
    [(108061.2784, 43.6768), (61299.9936, 40.4232), (33928.7472, 37.2761), (18910.912, 34.3147)],
    -0.00465215420752807 * 100,
)
JCTVC_2 = (
    [(40433.8848, 37.5761), (7622.7456, 35.3756), (2394.488, 33.8977), (1017.6184, 32.0603)],
    [(40370.12, 37.5982), (7587.0024, 35.4025), (2390.0944, 33.9194), (1017.0984, 32.0822)],
    -0.018779823450567612 * 100,
)


def _split(points: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    return [p[0] for p in points], [p[1] for p in points]


@pytest.mark.parametrize("case", [JCTVC_1, JCTVC_2])
def test_bd_rate_pchip_matches_jctvc_examples(case: tuple) -> None:
    anchor, test, expected_pct = case
    ra, qa = _split(anchor)
    rt, qt = _split(test)
    assert bd_rate(ra, qa, rt, qt, method="pchip") == pytest.approx(expected_pct, abs=1e-8)


def test_bd_rate_cubic_matches_published_x264_x265_example() -> None:
    # videonerd.website/how-compute-bd-rate: x265 as anchor, x264 as test, VCEG-M33 cubic fit
    # (Anserw/Bjontegaard_metric BD_RATE), published result -12.098 %.
    x264_rate, x264_psnr = [9.525, 14.27, 19.113, 24.393], [37.73, 39.07, 40.07, 40.95]
    x265_rate, x265_psnr = [8.914, 13.330, 17.880, 22.990], [37.02, 38.37, 39.42, 40.35]
    value = bd_rate(x265_rate, x265_psnr, x264_rate, x264_psnr, method="cubic")
    assert value == pytest.approx(-12.098, abs=5e-4)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_bd_exact_on_shifted_and_scaled_curves(method: str) -> None:
    rate = [100.0, 180.0, 350.0, 700.0, 1300.0]
    psnr = [30.1, 32.4, 34.9, 37.0, 38.6]
    # the same curve 0.5 dB higher at every rate: BD-PSNR = +0.5 dB exactly
    assert bd_psnr(rate, psnr, rate, [q + 0.5 for q in psnr], method=method) == pytest.approx(0.5, abs=1e-9)
    # the same curve at 80 % of the rate for every PSNR: BD-rate = -20 % exactly
    assert bd_rate(rate, psnr, [r * 0.8 for r in rate], psnr, method=method) == pytest.approx(-20.0, abs=1e-9)
    # swapping anchor and test inverts the rate ratio and negates the PSNR gap
    other_r = [90.0, 170.0, 330.0, 690.0, 1250.0]
    other_q = [30.3, 32.5, 35.2, 37.1, 38.9]
    forward = bd_rate(rate, psnr, other_r, other_q, method=method)
    backward = bd_rate(other_r, other_q, rate, psnr, method=method)
    assert (1 + forward / 100) * (1 + backward / 100) == pytest.approx(1.0, abs=1e-12)
    assert bd_psnr(rate, psnr, other_r, other_q, method=method) == pytest.approx(
        -bd_psnr(other_r, other_q, rate, psnr, method=method), abs=1e-12
    )


def test_bd_rejects_unusable_curves() -> None:
    r, q = [1.0, 2.0, 4.0, 8.0], [30.0, 33.0, 36.0, 39.0]
    with pytest.raises(InputError, match="at least 4"):
        bd_rate(r[:3], q[:3], r, q, method="cubic")
    with pytest.raises(InputError, match="overlap"):
        bd_rate(r, q, r, [v + 20 for v in q])
    with pytest.raises(InputError, match="positive"):
        bd_psnr([0.0, 2.0, 4.0, 8.0], q, r, q)
    with pytest.raises(InputError, match="unknown"):
        bd_rate(r, q, r, q, method="akima")
    with pytest.raises(InputError, match="distinct"):  # e.g. a codec that ignores its RD knob
        bd_rate(r, q, [2.0] * 4, [33.0] * 4, method="cubic")


# --- encoder banner removal ---------------------------------------------------------------


def test_strip_banner_sei_keeps_everything_else() -> None:
    sps = b"\x00\x00\x00\x01\x67\x42\x00\x1e\xab"
    banner_payload = bytes(range(16)) + b"x264 - core 999 options" + b"\x00\x00\x03\x01"
    banner = b"\x00\x00\x01\x06\x05" + bytes([len(banner_payload)]) + banner_payload + b"\x80"
    recovery = b"\x00\x00\x01\x06\x06\x01\x84\x80"  # a recovery-point SEI: decoders use it
    idr = b"\x00\x00\x01\x65\x88\x84\x00\x21"
    stream = sps + banner + recovery + idr
    assert classical.strip_banner_sei(stream, "h264") == sps + recovery + idr
    assert classical.strip_banner_sei(sps + idr, "h264") == sps + idr


# --- synthetic clip and fakes --------------------------------------------------------------


def _write_clip(path: Path) -> Path:
    """A 64x48, 8-frame moving pattern as a lossless y4m file (4:2:0)."""
    yy, xx = np.mgrid[0:H, 0:W]
    with av.open(str(path), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for t in range(N):
            rgb = np.stack([(xx * 4 + t * 8) % 256, (yy * 5 + t * 3) % 256, ((xx + yy) * 2) % 256], -1)
            frame = av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24").reformat(format="yuv420p")
            frame.pts = t
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_clip(tmp_path_factory.mktemp("clip") / "synthetic_64x48.y4m")


# (bytes, noise sigma) per setting: gscodec spends about 10 % fewer bytes than the fake anchor
# for the same noise, so the BD figures have a known sign and rough size.
FAKE_POINTS = {
    "lambda=0.001": (3000, 2.0), "lambda=0.002": (2000, 3.0), "lambda=0.004": (1350, 4.5), "lambda=0.008": (810, 7.0),
    "crf=20": (3300, 2.0), "crf=26": (2200, 3.0), "crf=32": (1500, 4.5), "crf=38": (900, 7.0),
}  # fmt: skip


class FakeRunner:
    """Stands in for a codec: a bitstream of a set size and the source plus seeded noise."""

    def __init__(self, frames_out: int | None = None) -> None:
        self.calls: list[str] = []
        self.frames_out = frames_out

    def __call__(self, clip: SourceClip, spec: PointSpec, workdir: Path) -> RunOutput:
        self.calls.append(spec.setting)
        workdir.mkdir(parents=True, exist_ok=True)
        size, sigma = FAKE_POINTS.get(spec.setting, (500, 9.0))
        stream = workdir / "stream.bin"
        stream.write_bytes(b"\x01" * size)

        def decoded() -> Iterable[np.ndarray]:
            rng = np.random.default_rng(7)
            for ref in clip.rgb[: self.frames_out]:
                yield np.clip(np.rint(ref + rng.normal(0, sigma, ref.shape)), 0, 255).astype(np.uint8)

        return RunOutput(bitstream=stream, decoded=decoded, encode_s=0.01, decode_s=0.002)


@pytest.fixture(autouse=True)
def _stable_code_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Colleagues' edits to the package while the tests run must not look like a new codec."""
    monkeypatch.setattr(gscodec_runner, "code_fingerprint", lambda: "test-fingerprint")


def _config(clip_path: Path, tmp_path: Path, **kw: object) -> BenchConfig:
    base = dict(
        clips=[clip_path], frames=N, codecs=[GSCODEC], lambdas=[0.001, 0.002, 0.004, 0.008],
        repeats=2, warmup=1, ms_ssim=False, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache",
    )  # fmt: skip
    base.update(kw)
    return BenchConfig(**base)  # type: ignore[arg-type]


# --- the harness with injected runners ------------------------------------------------------


def test_gscodec_points_are_measured_and_cached(clip_path: Path, tmp_path: Path) -> None:
    fake = FakeRunner()
    config = _config(clip_path, tmp_path)
    first = run_bench(config, gscodec_runner=fake)
    assert len(fake.calls) == 4 * 3  # 4 lambdas x (1 warm-up + 2 timed runs)
    assert [p.status for p in first.points] == ["ok"] * 4
    point = first.points[0]
    assert point.bpp == pytest.approx(point.bytes * 8 / (W * H * N))
    assert point.encode_fps == pytest.approx(N / 0.01)
    assert len(point.psnr_per_frame) == N and not point.cached

    fake.calls.clear()
    second = run_bench(_config(clip_path, tmp_path), gscodec_runner=fake)
    assert fake.calls == []  # nothing re-encoded
    assert all(p.cached for p in second.points)
    assert [p.psnr_db for p in second.points] == [p.psnr_db for p in first.points]

    third = run_bench(_config(clip_path, tmp_path, lambdas=[0.001, 0.016]), gscodec_runner=fake)
    assert fake.calls == ["lambda=0.016"] * 3  # only the new point runs
    assert [p.cached for p in third.points] == [True, False]


class SlowRunner(FakeRunner):
    """A FakeRunner whose runs take a while and record how many ran at once."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def __call__(self, clip: SourceClip, spec: PointSpec, workdir: Path) -> RunOutput:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.2)
            return super().__call__(clip, spec, workdir)
        finally:
            with self.lock:
                self.running -= 1


def test_jobs_run_gscodec_points_side_by_side(clip_path: Path, tmp_path: Path) -> None:
    serial = run_bench(_config(clip_path, tmp_path / "a", repeats=1, warmup=0), gscodec_runner=FakeRunner())
    slow = SlowRunner()
    config = _config(clip_path, tmp_path / "b", repeats=1, warmup=0, jobs=4, codecs=["libx264", GSCODEC],
                     values={"libx264": ["20", "26"]})
    anchors = FakeRunner()
    parallel = run_bench(config, gscodec_runner=slow, classical_runner=anchors)
    assert slow.most >= 2  # several gscodec points were in flight at once
    assert anchors.calls == ["crf=20", "crf=26"]  # the classical points ran one after another meanwhile
    # the same points in the planned order, with the same numbers as one at a time
    assert [p.setting for p in parallel.points] == ["crf=20", "crf=26"] + [p.setting for p in serial.points]
    assert [p.psnr_db for p in parallel.points[2:]] == [p.psnr_db for p in serial.points]
    assert any("--jobs 4" in n for n in parallel.notes) and "--jobs 4" in markdown(parallel)
    # side-by-side points are cached apart from single runs, and reused by a re-run with the same jobs
    slow.calls.clear()
    run_bench(config, gscodec_runner=slow, classical_runner=anchors)
    assert slow.calls == []
    single = FakeRunner()
    run_bench(_config(clip_path, tmp_path / "b", repeats=1, warmup=0), gscodec_runner=single)
    assert len(single.calls) == 4


def test_jobs_must_be_positive(clip_path: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--jobs"):
        run_bench(_config(clip_path, tmp_path, jobs=0), gscodec_runner=FakeRunner())


def test_cache_key_covers_frame_range_and_repeats(clip_path: Path, tmp_path: Path) -> None:
    fake = FakeRunner()
    run_bench(_config(clip_path, tmp_path, lambdas=[0.004]), gscodec_runner=fake)
    for change in ({"frames": N - 2}, {"start_frame": 1, "frames": N - 1}, {"repeats": 1}):
        fake.calls.clear()
        run_bench(_config(clip_path, tmp_path, lambdas=[0.004], **change), gscodec_runner=fake)
        assert fake.calls, f"{change} must not reuse the cached point"


def test_gscodec_skipped_when_gsenc_is_missing(clip_path: Path, tmp_path: Path) -> None:
    run = run_bench(_config(clip_path, tmp_path), gscodec_available=lambda: "gsenc not available")
    assert run.points == []
    assert "gscodec: skipped (gsenc not available)" in run.notes


def test_unavailable_reason_names_gsenc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gscodec_runner.importlib.util, "find_spec", lambda name: None)
    assert gscodec_runner.unavailable_reason() == "gsenc not available"


def test_missing_frames_fail_the_point_not_the_run(clip_path: Path, tmp_path: Path) -> None:
    run = run_bench(_config(clip_path, tmp_path, lambdas=[0.004]), gscodec_runner=FakeRunner(frames_out=N - 1))
    (point,) = run.points
    assert point.status == "failed" and "returned 7 frames, expected 8" in point.error
    assert "failed" in markdown(run)


def test_bd_table_against_anchor_curves(clip_path: Path, tmp_path: Path) -> None:
    config = _config(
        clip_path, tmp_path, codecs=["libx264", GSCODEC], values={"libx264": ["20", "26", "32", "38"]}, repeats=1
    )
    run = run_bench(config, gscodec_runner=FakeRunner(), classical_runner=FakeRunner())
    (row,) = bd_summary(run)
    assert row["anchor"] == "libx264 medium" and row["anchor_points"] == 4 and row["test_points"] == 4
    for method in ("cubic", "pchip"):
        assert -14.0 < row[f"bd_rate_pct_{method}"] < -6.0  # the fake saves about 10 % at equal noise
        assert 0.0 < row[f"bd_psnr_db_{method}"] < 1.5
    assert "BD-rate PCHIP" in markdown(run)


# --- gsenc / gsdec through child processes, with a stand-in interpreter ----------------------

FAKE_PYTHON = """#!{python}
import json, os, sys
import cv2, numpy as np
args = sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(json.dumps(args) + "\\n")
out = args[args.index("-o") + 1]
if args[1].endswith("gsenc"):
    open(out, "wb").write(b"G" * 1234)
else:
    os.mkdir(out)
    for t in range({n}):
        cv2.imwrite(os.path.join(out, "frame_%04d.png" % (t + 1)), np.full(({h}, {w}, 3), 128, np.uint8))
"""


def test_gscodec_runner_runs_the_user_commands(clip_path: Path, tmp_path: Path) -> None:
    log = tmp_path / "argv.log"
    fake_python = tmp_path / "python"
    fake_python.write_text(FAKE_PYTHON.format(python=sys.executable, log=str(log), w=W, h=H, n=N))
    fake_python.chmod(0o755)
    clip = SourceClip.open(clip_path, 0, N)
    spec = gscodec_runner.gscodec_points([0.004], ["--preset", "fast"])[0]
    out = gscodec_runner.GscodecRunner(python=str(fake_python))(clip, spec, tmp_path / "work")
    enc_args, dec_args = [json.loads(line) for line in log.read_text().splitlines()]
    stream = str(tmp_path / "work" / "stream.gsv")
    assert enc_args == [
        "-m", "gscodec.cli.gsenc", str(clip_path.resolve()), "-o", stream,
        "--lambda", "0.004", "--frames", "8", "--start-frame", "0", "--preset", "fast",
    ]  # fmt: skip
    assert dec_args == ["-m", "gscodec.cli.gsdec", stream, "-o", str(tmp_path / "work" / "decoded")]
    assert out.bitstream.stat().st_size == 1234
    frames = list(out.decoded())
    assert len(frames) == N and frames[0].shape == (H, W, 3)
    assert int(frames[0][0, 0, 0]) == 128  # PNG: exact
    assert out.encode_peak_rss_kib and out.encode_peak_rss_kib > 1000


def test_launcher_measures_the_child_alone(tmp_path: Path) -> None:
    ballast = np.ones(256 * 2**20 // 8)  # 256 MiB held by this process
    small = run_measured([sys.executable, "-c", "pass"], tmp_path / "a.log")
    big = run_measured(
        [sys.executable, "-c", "b = bytearray(160 * 2**20); import sys; sys.exit(3)"], tmp_path / "b.log"
    )
    assert ballast[-1] == 1.0
    assert small.returncode == 0 and small.peak_rss_kib < 100 * 1024  # not charged with the ballast
    assert big.returncode == 3 and big.peak_rss_kib > 160 * 1024
    with pytest.raises(TimeoutError):
        run_measured([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "c.log", timeout_s=0.5)


# --- end to end with x264 ------------------------------------------------------------------


@pytest.mark.skipif(classical.unavailable_reason("libx264") is not None, reason="no libx264 in this PyAV build")
def test_end_to_end_x264(clip_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    argv = [
        str(clip_path), "--frames", str(N), "--codecs", "libx264,gscodec", "--preset", "libx264=fast",
        "--crf", "libx264=18,30", "--repeats", "1", "--warmup", "0", "--out", str(out), "--quiet",
    ]  # fmt: skip
    monkeypatch.setattr(gscodec_runner, "unavailable_reason", lambda: "gsenc not available")
    assert main(argv) == 0
    data = json.loads((out / "results.json").read_text())
    points = data["points"]
    assert [p["value"] for p in points] == ["18", "30"]
    assert all(p["status"] == "ok" and not p["cached"] for p in points)
    assert points[0]["bpp"] > points[1]["bpp"] > 0
    assert points[0]["psnr_db"] > points[1]["psnr_db"] > 25
    assert 0.9 < points[0]["ms_ssim"] <= 1.0
    assert data["machine"]["cpu"] and data["machine"]["av"] == av.__version__
    assert "gscodec: skipped (gsenc not available)" in data["notes"]
    stream_bytes = points[0]["bytes"]
    assert stream_bytes * 8 / (W * H * N) == pytest.approx(points[0]["bpp"])
    csv_text = (out / "results.csv").read_text()
    assert csv_text.startswith("clip,width,height") and csv_text.count("\n") == 3
    md = (out / "results.md").read_text()
    assert "| libx264 fast | crf=18 |" in md and "gsenc not available" in md

    assert main(argv) == 0  # second run: both points from the cache
    again = json.loads((out / "results.json").read_text())["points"]
    assert all(p["cached"] for p in again)
    assert [p["bytes"] for p in again] == [p["bytes"] for p in points]


def test_x264_stream_is_complete_and_bannerless(clip_path: Path, tmp_path: Path) -> None:
    if classical.unavailable_reason("libx264") is not None:
        pytest.skip("no libx264 in this PyAV build")
    clip = SourceClip.open(clip_path, 0, N)
    (spec,) = classical.default_points("libx264", "fast", ["30"])
    out = classical.run_classical(clip, spec, tmp_path / "w")
    data = out.bitstream.read_bytes()
    assert b"x264 - core" not in data and data.startswith(b"\x00\x00\x00\x01")
    assert len(list(out.decoded())) == N


def test_bad_arguments_exit_2(clip_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(clip_path), "--codecs", "libfoo", "--out", str(tmp_path)]) == 2
    assert "unknown codec 'libfoo'" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.mp4"), "--codecs", "libx264", "--out", str(tmp_path)]) == 2
    assert main([str(clip_path), "--crf", "x264=20", "--out", str(tmp_path)]) == 2


def test_plot_written_when_matplotlib_present(clip_path: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    config = _config(clip_path, tmp_path, repeats=1, warmup=0)
    run = run_bench(config, gscodec_runner=FakeRunner())
    paths = write_reports(run, tmp_path / "report")
    png = paths[f"plot:{clip_path.name}"]
    assert png.read_bytes().startswith(b"\x89PNG")
    assert f"plots/{png.name}" in (tmp_path / "report" / "results.md").read_text()

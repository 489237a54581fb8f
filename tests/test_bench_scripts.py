"""The stage benchmarks under bench/ run end to end on tiny inputs and print what they promise."""

from __future__ import annotations

import importlib.util
import io
import json
from fractions import Fraction
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_decode_bench_accounts_for_every_stage(capsys) -> None:
    bench = _script("decode_bench")
    stream = REPO / "conformance" / "cross_device" / "gpu-encoded-carphone-8f-profile1.gsv"
    stages, frames = bench.one_pass(stream.read_bytes(), "cpu")
    assert frames == 8 and set(stages) == {"read", "geometry", "attributes", "upload", "render", "output"}
    assert all(v >= 0 for v in stages.values()) and stages["render"] > 0 and stages["geometry"] > 0
    assert bench.main([str(stream), "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "8 frames" in out and "warm decode:" in out and "start-up of a fresh process" in out


def test_decode_bench_times_a_long_stream_with_and_without_prefetch(capsys) -> None:
    from gscodec.bitstream import GsvReader
    from gscodec.decode import decode_frames

    bench = _script("decode_bench")
    data = (REPO / "conformance" / "cross_device" / "gpu-encoded-carphone-8f-profile1.gsv").read_bytes()
    long = bench.repeated_stream(data, 3)
    frames = list(decode_frames(GsvReader(io.BytesIO(long)), "cpu"))
    assert [k for k, _ in frames] == list(range(12))  # its first segment (4 frames), three times
    assert all((frames[k][1] == frames[k + 4][1]).all() and (frames[k][1] == frames[k + 8][1]).all() for k in range(4))
    assert bench.stream_pass(long, "cpu", True)[1] == 12
    assert bench.main([str(REPO / "conformance" / "cross_device" / "gpu-encoded-carphone-8f-profile1.gsv"),
                       "--repeats", "1", "--segments", "3", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "3 segments, 12 frames, decode_frames one segment after the other" in out
    assert "3 segments, 12 frames, decode_frames with prefetch" in out
    assert "3 segments, 12 frames, decode_frames with 2 worker processes" in out
    assert "first frame after" in out


def test_decode_bench_recodes_the_geometry_as_slices(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    import gscodec.geometry.sliced as sliced
    from gscodec.bitstream import GsvReader, profile1
    from gscodec.decode import decode_segment_state

    monkeypatch.setattr(sliced, "MIN_SLICE_POINTS", 1)
    bench = _script("decode_bench")
    data = (REPO / "conformance" / "cross_device" / "gpu-encoded-carphone-8f-profile1.gsv").read_bytes()
    recoded = bench.recoded(data, "sliced", slices=3)
    (a, ra), (b, rb) = [(next(iter(r.segments())), r) for r in (GsvReader(io.BytesIO(d)) for d in (data, recoded))]
    assert profile1.peek_segment(b.payload)[1] == 3
    assert decode_segment_state(rb.header, b).state_hash() == decode_segment_state(ra.header, a).state_hash()
    assert bench.main([str(REPO / "conformance" / "cross_device" / "gpu-encoded-carphone-8f-profile1.gsv"),
                       "--repeats", "1", "--slices", "3"]) == 0
    out = capsys.readouterr().out
    assert "geometry re-coded as 3 slices" in out and "with its 3 slices in 3 warm worker processes" in out


def test_decode_bench_recodes_the_geometry_with_another_codec(capsys) -> None:
    from gscodec.bitstream import GsvReader, profile1
    from gscodec.decode import decode_segment_state

    bench = _script("decode_bench")
    stream = REPO / "conformance" / "cross_device" / "gpu-encoded-carphone-8f-profile1.gsv"
    data = stream.read_bytes()
    recoded = bench.recoded(data, "morton")
    (a, ra), (b, rb) = [(next(iter(r.segments())), r) for r in (GsvReader(io.BytesIO(d)) for d in (data, recoded))]
    assert profile1.peek_segment(a.payload)[1] == 0 and profile1.peek_segment(b.payload)[1] == 4
    assert decode_segment_state(rb.header, b).state_hash() == decode_segment_state(ra.header, a).state_hash()
    assert bench.main([str(stream), "--repeats", "1", "--geometry", "morton"]) == 0
    assert "geometry re-coded as geometry codec morton" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench.main([str(stream), "--slices", "2", "--geometry", "morton"])


def test_geometry_bench_compares_the_codecs_on_a_stream(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _script("geometry_bench")
    stream = REPO / "conformance" / "cross_device" / "gpu-encoded-carphone-8f-profile1.gsv"
    monkeypatch.setattr("sys.argv", ["geometry_bench.py", "--quick", "--repeat", "1", "--stream", str(stream)])
    monkeypatch.setattr(bench, "video_like", lambda n, video=None: bench.random_cube(500))
    monkeypatch.setattr(bench, "surface", lambda n, widths: bench.random_cube(300))
    monkeypatch.setattr(bench, "random_cube", lambda n, seed=12345, size=1024, f=bench.random_cube: f(200))
    bench.main()
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("stream-")]
    assert [r[1] for r in rows] == ["builtin", "morton"] and rows[0][2] == rows[1][2] == "438"
    assert int(rows[1][3]) < int(rows[0][3])  # the depth-first coder is the smaller on this segment


def test_motion_mode_probe_fits_each_mode_and_restores_the_projection(tmp_path: Path, capsys) -> None:
    import numpy as np

    import gscodec.fit.loop as loop
    import gscodec.fit.rd as rd
    import gscodec.render as render
    from gscodec.model.tsw import project_frames
    from tests.test_fit import blob_clip

    def restored() -> bool:
        return loop.project_frames is rd.project_frames is render.project_frames is project_frames

    bench = _script("motion_mode_probe")
    frames = np.stack(blob_clip(frames=4, width=32, height=24))
    results = {m: bench.probe(frames, m, 0.004, iterations=12) for m in ("base", "mode", "shared", "velocity")}
    assert restored()
    assert all(r["gaussians"] > 0 and np.isfinite(r["psnr"]) for r in results.values())
    assert "s_quantiles" not in results["base"] and results["shared"]["s_quantiles"] == [1.0] * 5
    assert results["mode"]["s_quantiles"] != [1.0] * 5  # the coefficients were learned
    assert results["velocity"]["velocity_coefficients"] != [1.0, 0.0, 0.0]
    with pytest.raises(SystemExit):
        bench.probe(frames, "nonsense", 0.004)
    # --coded: rd_ablation with the mode in the fit, the RD stage and the renderer
    clip = _blob_clip(tmp_path)
    out = tmp_path / "rows.json"
    assert bench.main([str(clip), "--frames", "3", "--mode", "velocity", "--coded", "--", "--preset", "fast",
                       "--iterations", "8", "--gaussians", "30", "--variant", "v:lam=0.004", "--json", str(out)]) == 0
    assert restored() and json.loads(out.read_text())[0]["variant"] == "v"
    assert "coefficients a, b, c" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench.main([str(clip), "--mode", "mode", "--coded"])


def _blob_clip(tmp_path: Path) -> Path:
    """A 3-frame 32x24 clip of the moving blob of tests/test_fit.py, written where gsenc can read it."""
    from gscodec.video import open_writer
    from tests.test_fit import blob_clip

    clip = tmp_path / "clip"
    with open_writer(str(clip), 32, 24, Fraction(25)) as wr:
        for frame in blob_clip(frames=3, width=32, height=24):
            wr.write(frame)
    return clip


def test_rd_ablation_runs_each_variant_on_one_fit(tmp_path: Path) -> None:
    clip = _blob_clip(tmp_path)
    out = tmp_path / "rows.json"
    args = [str(clip), "--frames", "3", "--preset", "fast", "--iterations", "12", "--gaussians", "40",
            "--variant", "a:lam=0.0,prune_events=0", "--variant", "b:lam=0.5", "--fit-setting", "init_tscale=1.5",
            "--json", str(out)]
    assert _script("rd_ablation").main(args) == 0
    rows = json.loads(out.read_text())
    assert [r["variant"] for r in rows] == ["a", "b"] and rows[0]["gaussians"] == rows[0]["fit_gaussians"] == 40
    assert rows[1]["bytes"] < rows[0]["bytes"]  # the rate term shrinks the stream
    assert all(sum(r["parts"].values()) == r["bytes"] for r in rows)


def test_rd_ablation_pilot_caps_the_budget_at_a_multiple_of_what_it_kept(tmp_path: Path, capsys) -> None:
    clip = _blob_clip(tmp_path)
    out = tmp_path / "rows.json"
    args = [str(clip), "--frames", "3", "--preset", "fast", "--iterations", "12", "--gaussians", "40",
            "--pilot", "0.5", "--json", str(out)]
    assert _script("rd_ablation").main(args) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("pilot:"))
    kept = int(line.split(" kept ")[1].split()[0])
    assert 0 < kept <= 40 and f"-> budget {max(1, round(0.5 * kept))}," in line
    rows = json.loads(out.read_text())
    assert rows[0]["budget"] == rows[0]["fit_gaussians"] == max(1, round(0.5 * kept)) < 40


def test_rd_ablation_names_an_unknown_setting() -> None:
    with pytest.raises(SystemExit, match="unknown RD setting"):
        _script("rd_ablation").parse_variant("x:no_such=1")
    with pytest.raises(SystemExit, match="unknown fit setting"):
        _script("rd_ablation").parse_fit_settings(["no_such=1"])
    assert _script("rd_ablation").parse_fit_settings(["init_tscale=12", "iterations=5"]) == {
        "init_tscale": 12.0, "iterations": 5}
    assert _script("rd_ablation").parse_fit_settings(["loss=mse"]) == {"loss": "mse"}  # a text field stays text
    assert _script("rd_ablation").parse_fit_settings(["shake_start=0", "flow=true"]) == {
        "shake_start": False, "flow": True}
    with pytest.raises(SystemExit, match="takes 0, 1, true or false"):
        _script("rd_ablation").parse_fit_settings(["flow=maybe"])


def test_gpu_script_ablate_step_runs_a_job_list_side_by_side(tmp_path: Path) -> None:
    """bench/gpu.sh's ablate step (run here on the CPU): every job of the list runs rd_ablation, its table and
    log are kept in the results, its lines reach the summary; a list that names nothing fails the step."""
    import os
    import subprocess
    import sys
    import tarfile

    _blob_clip(tmp_path)
    jobs = tmp_path / "jobs.txt"
    jobs.write_text("# two jobs\nlow clip 0.001 --frames 3 --preset fast --iterations 6 --gaussians 30\n\n"
                    "high clip 0.5 --frames 3 --preset fast --iterations 6 --gaussians 30 --variant v:probe_every=2\n")
    # The step runs `python3 bench/rd_ablation.py`: this interpreter's folder (a venv's bin) comes first on PATH.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", STEPS="ablate", DATA=str(tmp_path),
               ABLATE_JOBS=str(jobs), ABLATE_DEVICE="cpu", ABLATE_PAR="2", OUT=str(tmp_path / "out"),
               SCRATCH=str(tmp_path / "scratch"))
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu.sh")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert "ablate low: fit: 30 budget" in summary and "ablate high:   v " in summary
    with tarfile.open(tmp_path / "out" / "results.tar") as tar:
        names = set(tar.getnames())
        rows = {n: json.load(tar.extractfile(f"./ablate/{n}.json")) for n in ("low", "high")}
    assert {"./ablate/low.log", "./ablate/high.log"} <= names
    assert rows["low"][0]["lam"] == 0.001 and rows["high"][0]["variant"] == "v"
    assert rows["high"][0]["bytes"] < rows["low"][0]["bytes"]  # the larger λ codes fewer bits

    jobs.write_text("bad clip 0.004 --frames 3 --fit-setting no_such=1\n")  # a job that fails fails the step
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu.sh")], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and "ablate: bad exit 1" in proc.stdout and "unknown fit setting" in proc.stdout

    env["ABLATE_JOBS"] = str(tmp_path / "missing.txt")
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu.sh")], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0 and "set ABLATE_JOBS to a job list file" in proc.stdout


def test_step_profile_times_and_profiles_both_stages(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    clip = _blob_clip(tmp_path)
    bench = _script("step_profile")
    args = [str(clip), "--frames", "3", "--device", "cpu", "--gaussians", "40", "--steps", "4",
            "--profile-steps", "2", "--top", "5"]
    assert bench.main(args) == 0
    out = capsys.readouterr().out
    assert "fit: 4 steps in" in out and "rd:  4 steps in" in out and "ms per step" in out
    assert "=== fit: 2 steps under the profiler" in out and "=== rd: 2 steps under the profiler" in out
    assert "Self CPU time total" in out


def test_gpu_script_profile_step_profiles_the_encoder_and_the_decoder(tmp_path: Path) -> None:
    """bench/gpu.sh's profile step (run here on the CPU): step_profile.py and decode_bench.py --segments,
    their key lines in the summary; without a stream it profiles the encoder alone and says so."""
    import os
    import subprocess
    import sys

    clip = _blob_clip(tmp_path)
    stream = REPO / "conformance" / "cross_device" / "gpu-encoded-carphone-8f-profile1.gsv"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", STEPS="profile", PROFILE_CLIP=str(clip),
               PROFILE_DEVICE="cpu", PROFILE_STREAM=str(stream), PROFILE_SEGMENTS="2",
               PROFILE_ARGS="--frames 3 --gaussians 40 --steps 4 --profile-steps 2 --top 3",
               OUT=str(tmp_path / "out"), SCRATCH=str(tmp_path / "scratch"))
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu.sh")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert "profile: fit: 4 steps in" in summary and "profile: rd:  4 steps in" in summary
    assert "profile: warm decode:" in summary
    assert "profile: 2 segments, 8 frames, decode_frames with prefetch" in summary

    env["PROFILE_STREAM"] = str(tmp_path / "none.gsv")
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu.sh")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "decode not profiled" in proc.stdout

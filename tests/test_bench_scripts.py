"""The stage benchmarks under bench/ run end to end on tiny inputs and print what they promise."""

from __future__ import annotations

import importlib.util
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

"""gsenc, gsdec and gsinfo: through click's CliRunner and as real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gscodec.bitstream import GsvWriter, SequenceHeader, profile0
from gscodec.cli import gsdec, gsenc, gsinfo
from gscodec.model.params import ATTRIBUTES

W, H = 40, 30
SEGMENTS = [3, 2]


def random_gaussians(n: int, frames: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {a.name: rng.normal(0, 0.1, (n, a.components)).astype(np.float32) for a in ATTRIBUTES}
    arrays["xy"] = rng.uniform([-2, -2], [W + 2, H + 2], (n, 2)).astype(np.float32)
    arrays["tau"] = rng.uniform(0, frames - 1, (n, 1)).astype(np.float32)
    arrays["log_scale"] = rng.uniform(0.3, 1.5, (n, 2)).astype(np.float32)
    arrays["log_tscale"] = np.full((n, 1), 0.7, np.float32)
    arrays["color"] = rng.uniform(0, 1, (n, 3)).astype(np.float32)
    arrays["opacity"] = rng.uniform(0, 3, (n, 1)).astype(np.float32)
    return arrays


def write_stream(path: Path, geometry: str = "raw") -> list[bytes]:
    header = SequenceHeader(W, H, 0, Fraction(25), max(SEGMENTS))
    payloads = []
    with GsvWriter(path, header, {"encoder": "test"}) as w:
        for i, frames in enumerate(SEGMENTS):
            payload = profile0.encode_segment(random_gaussians(60, frames, i), geometry)
            payloads.append(payload)
            w.write_segment(frames, payload)
    return payloads


def expected_frames(payloads: list[bytes]) -> np.ndarray:
    from gscodec.encode import reconstruct

    return np.concatenate([reconstruct(p, W, H, n, "cpu") for p, n in zip(payloads, SEGMENTS)])


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    path = tmp_path_factory.mktemp("s") / "s.gsv"
    payloads = write_stream(path)
    return path, expected_frames(payloads)


def cli(cmd, args: list[str]):
    return CliRunner().invoke(cmd.main, args, catch_exceptions=False)


def test_gsinfo_table_and_json(stream) -> None:
    path, _ = stream
    r = cli(gsinfo, [str(path)])
    assert r.exit_code == 0, r.output
    assert "40x30" in r.output and "profile 0 (raw)" in r.output and "encoder" in r.output
    r = cli(gsinfo, [str(path), "--json"])
    info = json.loads(r.output)
    assert info["frame_count"] == 5 and info["segment_count"] == 2
    assert [s["frames"] for s in info["segments"]] == SEGMENTS
    assert all(s["gaussians"] == 60 and s["geometry_codec"] == "raw" for s in info["segments"])
    assert info["bytes"] == path.stat().st_size
    assert info["bpp"] == pytest.approx(path.stat().st_size * 8 / (W * H * 5))


def test_gsdec_png_folder_matches_the_renderer(stream, tmp_path: Path) -> None:
    from gscodec.video import open_video

    path, expected = stream
    out = tmp_path / "frames"
    r = cli(gsdec, [str(path), "-o", str(out), "--device", "cpu", "-q"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == [f"frame_{i:04d}.png" for i in range(1, 6)]
    with open_video(str(out)) as v:
        got = np.stack(list(v))
    np.testing.assert_array_equal(got, expected)


def test_gsdec_frame_range_and_y4m(stream, tmp_path: Path) -> None:
    from gscodec.video import open_video

    path, expected = stream
    out = tmp_path / "part.y4m"
    r = cli(gsdec, [str(path), "-o", str(out), "--frames", "2:4", "-q"])
    assert r.exit_code == 0, r.output
    with open_video(str(out)) as v:
        got = np.stack(list(v))
    assert got.shape == (2, H, W, 3)
    assert np.abs(got.astype(int) - expected[2:4]).mean() < 3.0  # y4m is YUV: small conversion error


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.gsv", "-o", "x"], "no such file"),
        (["{stream}", "-o", "{tmp}/x", "--frames", "9:12"], "no frame of the stream|has 5 frames"),
        (["{stream}", "-o", "{tmp}/x", "--frames", "b:a"], "expected a:b"),
        (["{stream}", "-o", "{tmp}/x", "--frames", "4:2"], "empty"),
    ],
)
def test_gsdec_bad_input_exits_2(stream, tmp_path: Path, args: list[str], message: str) -> None:
    path, _ = stream
    args = [a.format(stream=path, tmp=tmp_path) for a in args]
    r = CliRunner().invoke(gsdec.main, args)
    assert r.exit_code == 2
    assert r.output.count("\n") == 1 and "gsdec: error:" in r.output
    assert __import__("re").search(message, r.output)
    assert not (tmp_path / "x").exists()


def test_gsdec_corrupt_stream_leaves_no_output(stream, tmp_path: Path) -> None:
    path, _ = stream
    data = bytearray(path.read_bytes())
    data[-60] ^= 0xFF  # inside the index or second segment: detected after frames were written
    bad = tmp_path / "bad.gsv"
    bad.write_bytes(bytes(data))
    for out in (tmp_path / "frames", tmp_path / "o.y4m"):
        r = CliRunner().invoke(gsdec.main, [str(bad), "-o", str(out)])
        assert r.exit_code == 2 and "corrupt stream" in r.output
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.gsv"]


def test_gsdec_truncated_stream(stream, tmp_path: Path) -> None:
    path, _ = stream
    bad = tmp_path / "cut.gsv"
    bad.write_bytes(path.read_bytes()[:-20])
    r = CliRunner().invoke(gsdec.main, [str(bad), "-o", str(tmp_path / "o.y4m")])
    assert r.exit_code == 2 and "truncated stream" in r.output


def test_real_processes_pipe_in_and_out(stream, tmp_path: Path) -> None:
    """cat s.gsv | gsdec - -o - : y4m on stdout, read back."""
    path, expected = stream
    proc = subprocess.run(
        [sys.executable, "-m", "gscodec.cli.gsdec", "-", "-o", "-", "--device", "cpu"],
        input=path.read_bytes(), capture_output=True, check=False, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.startswith(b"YUV4MPEG2 W40 H30")
    assert proc.stdout.count(b"FRAME") == 5


def test_real_process_exit_codes(tmp_path: Path) -> None:
    for tool in ("gsinfo", "gsdec"):
        args = [sys.executable, "-m", f"gscodec.cli.{tool}", str(tmp_path / "missing.gsv")]
        if tool == "gsdec":
            args += ["-o", str(tmp_path / "o")]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2
        assert proc.stderr.strip().count("\n") == 0 and "no such file" in proc.stderr
    junk = tmp_path / "junk.gsv"
    junk.write_bytes(b"hello world, not a stream")
    proc = subprocess.run([sys.executable, "-m", "gscodec.cli.gsinfo", str(junk)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "not a .gsv stream" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "gscodec.cli.gsdec", "--bogus"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2


def test_help_texts() -> None:
    for cmd, words in ((gsenc, ["--lambda", "--segment-frames", "--preset", "--geometry"]),
                       (gsdec, ["--frames", "ffplay"]), (gsinfo, ["--json"])):
        r = CliRunner().invoke(cmd.main, ["--help"])
        assert r.exit_code == 0 and all(w in r.output for w in words)


def _write_clip(path: Path, frames: int = 4, w: int = 24, h: int = 18) -> np.ndarray:
    from gscodec.video import open_writer

    yy, xx = np.mgrid[0:h, 0:w]
    clip = []
    with open_writer(str(path), w, h, Fraction(25)) as wr:
        for k in range(frames):
            img = np.zeros((h, w, 3), np.uint8)
            img[..., 0] = (xx * 10 + k * 8) % 256
            img[..., 1] = np.where((xx - 6 - k) ** 2 + (yy - 9) ** 2 < 16, 230, 40)
            img[..., 2] = 128
            wr.write(img)
            clip.append(img)
    return np.stack(clip)


def test_gsenc_end_to_end(tmp_path: Path) -> None:
    from gscodec.metrics import psnr_rgb
    from gscodec.video import open_video

    clip = tmp_path / "clip"
    src = _write_clip(clip)
    out = tmp_path / "c.gsv"
    r = cli(gsenc, [str(clip), "-o", str(out), "--iterations", "60", "--gaussians", "300", "--segment-frames", "3",
                    "--device", "cpu", "-q"])
    assert r.exit_code == 0, r.output
    info = json.loads(cli(gsinfo, [str(out), "--json"]).output)
    assert info["frame_count"] == 4 and [s["frames"] for s in info["segments"]] == [3, 1]
    assert [s["geometry_codec"] for s in info["segments"]] == ["morton", "morton"]  # the default (§9.7)
    assert info["metadata"]["encoder"].startswith("gscodec")
    dec = tmp_path / "d"
    assert cli(gsdec, [str(out), "-o", str(dec), "-q"]).exit_code == 0
    with open_video(str(dec)) as v:
        got = np.stack(list(v))
    psnr = np.mean([psnr_rgb(a, b) for a, b in zip(src, got)])
    assert psnr > 18.0  # a short fit, but a real one: far above an empty (black) picture
    black = np.mean([psnr_rgb(a, np.zeros_like(a)) for a in src])
    assert psnr > black + 6


def test_gsenc_builtin_geometry_still_writes_the_level_by_level_octree(tmp_path: Path) -> None:
    clip = tmp_path / "clip"
    _write_clip(clip)
    out = tmp_path / "b.gsv"
    r = cli(gsenc, [str(clip), "-o", str(out), "--iterations", "20", "--gaussians", "100", "--frames", "2",
                    "--device", "cpu", "--geometry", "builtin", "-q"])
    assert r.exit_code == 0, r.output
    info = json.loads(cli(gsinfo, [str(out), "--json"]).output)
    assert [s["geometry_codec"] for s in info["segments"]] == ["builtin"]
    assert cli(gsdec, [str(out), "-o", str(tmp_path / "d"), "-q"]).exit_code == 0


def test_gsenc_sliced_geometry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--geometry sliced writes codec 3 with --slices bands (each of at least MIN_SLICE_POINTS points, lowered here
    for a small fit); the stream decodes to what the decode-back check saw."""
    import gscodec.geometry.sliced as sliced
    from gscodec.bitstream import GsvReader, profile1

    monkeypatch.setattr(sliced, "MIN_SLICE_POINTS", 1)
    clip = tmp_path / "clip"
    _write_clip(clip)
    out = tmp_path / "s.gsv"
    r = cli(gsenc, [str(clip), "-o", str(out), "--iterations", "30", "--gaussians", "200", "--frames", "3",
                    "--device", "cpu", "--geometry", "sliced", "--slices", "3", "-q"])
    assert r.exit_code == 0, r.output
    info = json.loads(cli(gsinfo, [str(out), "--json"]).output)
    assert [s["geometry_codec"] for s in info["segments"]] == ["sliced"]
    with open(out, "rb") as f:
        seg = next(iter(GsvReader(f).segments()))
    _n, codec, size = profile1.peek_segment(seg.payload)
    geometry = seg.payload[profile1.HEAD.size : profile1.HEAD.size + size]
    assert codec == 3 and len(sliced.split_slices(geometry)) == 3
    assert cli(gsdec, [str(out), "-o", str(tmp_path / "d"), "-q"]).exit_code == 0
    bad = cli(gsenc, [str(clip), "-o", str(tmp_path / "x.gsv"), "--geometry", "sliced", "--slices", "65"])
    assert bad.exit_code == 2 and "--slices" in bad.output and not (tmp_path / "x.gsv").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["{tmp}/none.mp4", "-o", "{tmp}/o.gsv"], "no such file|does not exist|not found"),
        (["{clip}", "-o", "{tmp}/nodir/o.gsv"], "does not exist"),
        (["{clip}", "-o", "{tmp}"], "is a directory"),
        (["{clip}", "-o", "{tmp}/o.gsv", "--start-frame", "50"], "frame"),
        (["{clip}", "-o", "{tmp}/o.gsv", "--lambda", "-1"], "lambda"),
    ],
)
def test_gsenc_bad_input_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    clip = tmp_path / "clip"
    _write_clip(clip, frames=2)
    args = [a.format(tmp=tmp_path, clip=clip) for a in args]
    r = CliRunner().invoke(gsenc.main, [*args, "--iterations", "2", "--device", "cpu", "-q"])
    assert r.exit_code == 2, r.output
    assert "gsenc: error:" in r.output and __import__("re").search(message, r.output)
    assert not (tmp_path / "o.gsv").exists()


def test_gsenc_cuda_without_gpu_is_a_clear_error(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    clip = tmp_path / "clip"
    _write_clip(clip, frames=1)
    r = CliRunner().invoke(gsenc.main, [str(clip), "-o", str(tmp_path / "o.gsv"), "--device", "cuda"])
    assert r.exit_code == 2 and "no CUDA GPU" in r.output

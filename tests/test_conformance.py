"""The conformance suite: every committed stream passes, the files are intact, the generator is
deterministic and refuses to overwrite without its switch, the runner catches what it must, and
``gsdec --verify`` passes and fails as documented."""

from __future__ import annotations

import hashlib
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # conformance/ runs from the checkout; it is not an installed package
    sys.path.insert(0, str(REPO))

from conformance import generate as gen  # noqa: E402
from conformance.runner import RunOptions, check_files, format_table, run_suite  # noqa: E402
from conformance.suite import (  # noqa: E402
    ROOT,
    Tolerance,
    compare_frames,
    decode_png,
    encode_png,
    read_json,
    write_json,
)
from gscodec.cli import gsdec  # noqa: E402

CORE = ROOT / "streams" / "core"
MULTI = CORE / "gsv1-core-02-multi-segment"


def _failures(results: list) -> list[str]:
    return [f"{r.name}: {r.detail} {r.notes}" for r in results if r.status == "FAIL"]


def _copy_suite(tmp_path: Path) -> Path:
    dst = tmp_path / "suite"
    shutil.copytree(ROOT / "streams", dst / "streams")
    shutil.copy(ROOT / "manifest.json", dst / "manifest.json")
    return dst


def _reseal(suite: Path, rel: str) -> None:
    """Update the manifest checksum of ``rel`` after a test changed that file on purpose."""
    manifest = read_json(suite / "manifest.json")
    for entry in manifest["streams"]:
        if rel in entry["files"]:
            entry["files"][rel] = hashlib.sha256((suite / "streams" / rel).read_bytes()).hexdigest()
    write_json(suite / "manifest.json", manifest)


# --- the committed suite ---------------------------------------------------------------------------------


def test_every_committed_stream_passes() -> None:
    results = run_suite(RunOptions(root=ROOT))
    assert _failures(results) == [], format_table(results)
    passed = {r.group for r in results if r.status == "PASS"}
    assert {"core", "uncommon", "faulty"} <= passed
    by_status = {s: sum(r.status == s for r in results) for s in ("PASS", "SKIP")}
    assert by_status["PASS"] >= 80
    skipped = [r for r in results if r.status == "SKIP"]
    assert all("tmc3" in r.detail for r in skipped)  # only G-PCC streams may be skipped, and they say why


def test_manifest_checksums_and_sidecars() -> None:
    manifest = read_json(ROOT / "manifest.json")
    assert check_files(ROOT, manifest) == []
    for entry in manifest["streams"]:
        files = set(entry["files"])
        base = f"{entry['group']}/{entry['name']}"
        assert {f"{base}.gsv", f"{base}.json"} <= files
        side = read_json(ROOT / "streams" / f"{base}.json")
        assert side["name"] == entry["name"] and side["description"]
        if side["expect"] == "error":
            assert side["error"]["exit_code"] == 2
            assert side["error"]["class"] in ("StreamError", "LimitError", "UnsupportedError")
        else:
            assert f"{base}.md5" in files
            assert (f"{base}.png" in files) == (side["decoded"]["frames"] > 0)
    total = sum((ROOT / "streams" / rel).stat().st_size for e in manifest["streams"] for rel in e["files"])
    assert total < 480_000  # the suite stays small (458 kB with the motion mode's streams)


def test_coverage_of_the_spec() -> None:
    """The value classes the suite promises are really in the committed streams."""
    sides = [read_json(p) for p in (ROOT / "streams").rglob("*.json")]
    valid = [s for s in sides if s["expect"] == "decode"]
    codecs = {seg["geometry_codec"] for s in valid for seg in s["decoded"]["segments"]}
    assert codecs >= {"builtin", "raw", "gpcc"}
    rates = {s["header"]["frame_rate"] for s in valid}
    assert {"30000/1001", "24000/1001", "1/1"} <= rates
    sizes = {(s["header"]["width"], s["header"]["height"]) for s in valid}
    assert {(1, 1), (3, 5), (17, 11), (16384, 1), (1, 16384)} <= sizes
    assert any(s["header"]["segment_frames"] == 65535 for s in valid)
    assert any(s["header"]["frame_count"] == 0 and s["decoded"]["frames"] > 0 for s in valid)
    assert {True, False} == {s["seek_index"] for s in valid}
    assert any(s["skipped_chunks"] for s in valid) and any(s["metadata"] for s in valid)
    assert any(seg["gaussians"] == 0 for s in valid for seg in s["decoded"]["segments"])
    multi = [s for s in valid if len(s["decoded"]["segments"]) > 1]
    assert any(s["decoded"]["segments"][-1]["frame_count"] < s["header"]["segment_frames"] for s in multi)
    errors = {s["error"]["class"] for s in sides if s["expect"] == "error"}
    assert errors == {"StreamError", "LimitError", "UnsupportedError"}
    assert {s["header"]["profile"] for s in valid} == {0, 1}  # both profiles of format_spec.md §8
    coded = [s for s in valid if s["header"]["profile"] == 1]
    coded_codecs = {seg["geometry_codec"] for s in coded for seg in s["decoded"]["segments"]}
    assert coded_codecs >= {"builtin", "raw", "sliced", "morton"}
    assert any(seg["gaussians"] == 0 for s in coded for seg in s["decoded"]["segments"])
    assert {s["group"] for s in coded} == {"core", "uncommon"}


# --- the generator -------------------------------------------------------------------------------------------


def test_generator_refuses_without_its_switch(tmp_path: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in ROOT.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    r = CliRunner().invoke(gen.main, [])
    assert r.exit_code == 2 and "refusing" in r.output and "--regenerate" in r.output
    r = CliRunner().invoke(gen.main, ["--out", str(tmp_path / "x")])  # --out alone is not the switch either
    assert r.exit_code == 2 and not (tmp_path / "x").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    r = CliRunner().invoke(gen.main, ["--regenerate", "--out", str(tmp_path / "full")])
    assert r.exit_code == 2 and "not empty" in r.output
    after = {p: p.stat().st_mtime_ns for p in ROOT.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert after == before


def test_regeneration_reproduces_the_committed_bytes(tmp_path: Path) -> None:
    gen.generate(tmp_path, log=lambda _: None)
    problems, notes = gen.compare_suites(ROOT, tmp_path)
    assert problems == [], problems
    for path in (ROOT / "streams").rglob("*.gsv"):  # the encoder's and generator's output, bit for bit
        assert (tmp_path / "streams" / path.relative_to(ROOT / "streams")).read_bytes() == path.read_bytes()
    assert all("rendering" in n or "reference frames" in n or "only one" in n for n in notes)


def test_compare_suites_reports_a_changed_stream(tmp_path: Path) -> None:
    suite = _copy_suite(tmp_path)
    rel = "core/gsv1-core-05-no-index.gsv"
    data = bytearray((suite / "streams" / rel).read_bytes())
    data[-40] ^= 1
    (suite / "streams" / rel).write_bytes(bytes(data))
    problems, _ = gen.compare_suites(ROOT, suite)
    assert problems == [f"{rel}: differs"]


def test_generator_skips_streams_whose_tool_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    manifest = gen.generate(tmp_path / "out", log=lambda _: None, names=["gsv1-uncommon-18-gpcc-geometry"])
    assert manifest["streams"] == []
    assert manifest["skipped"][0]["name"] == "gsv1-uncommon-18-gpcc-geometry"
    assert "tmc3" in manifest["skipped"][0]["note"]


# --- the runner catches what it must -----------------------------------------------------------------------


def test_runner_fails_on_changed_missing_and_unlisted_files(tmp_path: Path) -> None:
    suite = _copy_suite(tmp_path)
    name = "gsv1-core-05-no-index"
    data = bytearray((suite / "streams" / "core" / f"{name}.gsv").read_bytes())
    data[200] ^= 0x40
    (suite / "streams" / "core" / f"{name}.gsv").write_bytes(bytes(data))
    (suite / "streams" / "core" / "gsv1-core-01-single-segment.png").unlink()
    (suite / "streams" / "faulty" / "extra.gsv").write_bytes(b"")
    results = run_suite(RunOptions(root=suite, keywords=(name,)))
    manifest_row = results[0]
    assert manifest_row.status == "FAIL"
    text = " ".join(manifest_row.notes)
    assert "gsv1-core-05-no-index.gsv: changed" in text and "single-segment.png: missing" in text
    assert "extra.gsv: not listed" in text
    assert [r.status for r in results[1:]] == ["FAIL"]  # the damaged stream itself no longer decodes


def test_runner_fails_when_an_expectation_is_not_met(tmp_path: Path) -> None:
    suite = _copy_suite(tmp_path)
    valid = "core/gsv1-core-03-raw-geometry.json"
    side = read_json(suite / "streams" / valid)
    side["decoded"]["state_md5"] = "0" * 32
    write_json(suite / "streams" / valid, side)
    _reseal(suite, valid)
    faulty = "faulty/gsv1-faulty-07-bad-crc-segment.json"
    side = read_json(suite / "streams" / faulty)
    side["error"]["class"] = "LimitError"
    write_json(suite / "streams" / faulty, side)
    _reseal(suite, faulty)
    png = "core/gsv1-core-01-single-segment.png"
    img = decode_png((suite / "streams" / png).read_bytes()).copy()
    img[3, 5] = 255 - img[3, 5]  # one reference pixel far off: outside the tolerance
    (suite / "streams" / png).write_bytes(encode_png(img))
    _reseal(suite, png)
    results = run_suite(RunOptions(root=suite, keywords=("core-03", "faulty-07", "core-01")))
    rows = {r.name: r for r in results}
    assert rows["manifest"].status == "PASS"
    assert rows["gsv1-core-03-raw-geometry"].status == "FAIL"
    assert "state MD5 differs" in rows["gsv1-core-03-raw-geometry"].detail
    assert rows["gsv1-faulty-07-bad-crc-segment"].status == "FAIL"
    assert "expected LimitError, got" in rows["gsv1-faulty-07-bad-crc-segment"].detail
    assert rows["gsv1-core-01-single-segment"].status == "FAIL"
    assert "outside the tolerance" in rows["gsv1-core-01-single-segment"].detail


def test_runner_skips_streams_needing_a_missing_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite = _copy_suite(tmp_path)
    manifest = read_json(suite / "manifest.json")
    for entry in manifest["streams"]:
        if entry["name"] == "gsv1-core-03-raw-geometry":
            entry["requires"] = ["tmc3"]
    write_json(suite / "manifest.json", manifest)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    results = run_suite(RunOptions(root=suite, groups=("core",), keywords=("core-03",)))
    assert [(r.status, r.detail) for r in results[1:]] == [("SKIP", "needs tmc3 (not on PATH)")]


def test_runner_command_line(tmp_path: Path) -> None:
    from conformance.__main__ import main

    r = CliRunner().invoke(main, ["--group", "faulty", "-k", "faulty-0", "-v"])
    assert r.exit_code == 0, r.output
    assert "gsv1-faulty-01-truncated-mid-chunk" in r.output and "core-01" not in r.output
    assert "gsdec: error: truncated stream" in r.output  # -v shows the decoder's message
    suite = _copy_suite(tmp_path)
    (suite / "streams" / "faulty" / "gsv1-faulty-04-empty-file.gsv").write_bytes(b"x")
    r = CliRunner().invoke(main, ["--suite", str(suite), "--group", "faulty", "-k", "faulty-04"])
    assert r.exit_code == 1 and "2 failed" in r.output  # the manifest checksum and the expected error


# --- hashes, tolerance, reference frames -------------------------------------------------------------------


def test_state_hashes_follow_their_definitions() -> None:
    """Segment MD5 = MD5 of the §8.1 bytes (whose SHA-256 is state_hash()); stream MD5 = length-prefixed concat."""
    from gscodec.bitstream import GsvReader
    from gscodec.decode import decode_segment_state
    from gscodec.model.params import ATTRIBUTES

    side = read_json(MULTI.with_suffix(".json"))
    stream = hashlib.md5()
    with open(MULTI.with_suffix(".gsv"), "rb") as f:
        reader = GsvReader(f)
        for seg, want in zip(reader.segments(), side["decoded"]["segments"], strict=True):
            state = decode_segment_state(reader.header, seg)
            data = state.points.astype("<i8").tobytes() + b"".join(
                state.attributes[a.name].astype("<f2").tobytes() for a in ATTRIBUTES)
            assert len(data) == len(state) * (3 * 8 + 15 * 2)
            assert hashlib.md5(data).hexdigest() == want["state_md5"]
            assert hashlib.sha256(data).hexdigest() == want["state_sha256"] == state.state_hash()
            stream.update(struct.pack("<Q", len(data)) + data)
    assert stream.hexdigest() == side["decoded"]["state_md5"]
    empty = read_json(ROOT / "streams" / "uncommon" / "gsv1-uncommon-15-no-segments.json")
    assert empty["decoded"]["state_md5"] == hashlib.md5(b"").hexdigest()


def test_tolerance_rules() -> None:
    tol = Tolerance()
    ref = np.full((2, 40, 50, 3), 100, np.uint8)  # 12000 samples: 12 may differ by more than 1
    assert compare_frames(ref.copy(), ref, tol).exact
    off_by_one = ref + np.uint8(1)
    c = compare_frames(off_by_one, ref, tol)
    assert c.ok and not c.exact and c.max_abs_diff == 1 and 48.0 < c.min_psnr_db < 48.2
    few = ref.copy()
    few.reshape(-1)[:12] += 4
    assert compare_frames(few, ref, tol).ok
    many = ref.copy()
    many.reshape(-1)[:13] += 2
    assert "13 samples differ by more than 1" in compare_frames(many, ref, tol).reason
    far = ref.copy()
    far[1, 0, 0, 0] = 105
    assert "max difference 5 > 4" in compare_frames(far, ref, tol).reason
    assert not compare_frames(ref[:1], ref, tol).ok


def test_prng_is_splitmix64() -> None:
    """The streams' randomness is the published SplitMix64 sequence, so it cannot drift with a library."""
    from conformance.builders import SplitMix64

    rng = SplitMix64(0)
    assert [rng.next_u64() for _ in range(2)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]
    assert 0.0 <= SplitMix64(1).uniform(0.0, 1.0) < 1.0


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (11, 17), (2, 300), (300, 1)])
def test_png_round_trip(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    data = encode_png(img)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    np.testing.assert_array_equal(decode_png(data), img)


def test_reference_png_is_a_standard_png() -> None:
    """Another implementation reads the reference frames with any PNG library (here OpenCV)."""
    import cv2

    png = MULTI.with_suffix(".png")
    ours = decode_png(png.read_bytes())
    theirs = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)[..., ::-1]
    np.testing.assert_array_equal(ours, theirs)


# --- gsdec --verify -------------------------------------------------------------------------------------------


def _gsdec(args: list[str]):
    return CliRunner().invoke(gsdec.main, args)


def test_verify_passes_without_output() -> None:
    r = _gsdec([str(MULTI.with_suffix(".gsv")), "--verify", str(MULTI.with_suffix(".md5")), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "all 19 MD5s match" in r.output  # stream state, 4 segments, 14 frames


def test_verify_with_output_and_state_only(tmp_path: Path) -> None:
    lines = MULTI.with_suffix(".md5").read_text().splitlines()
    states = tmp_path / "states.md5"
    states.write_text("\n".join(ln for ln in lines if not ln.endswith(".rgb24")) + "\n")
    out = tmp_path / "frames"
    r = _gsdec([str(MULTI.with_suffix(".gsv")), "-o", str(out), "--verify", str(states), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "all 5 MD5s match" in r.output and len(list(out.iterdir())) == 14
    empty = ROOT / "streams" / "uncommon" / "gsv1-uncommon-15-no-segments"
    r = _gsdec([str(empty.with_suffix(".gsv")), "--verify", str(empty.with_suffix(".md5"))])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("target, hint", [("frame-000002.rgb24", True), ("segment-0001.state", False)])
def test_verify_fails_on_a_mismatch(tmp_path: Path, target: str, hint: bool) -> None:
    text = MULTI.with_suffix(".md5").read_text().splitlines()
    bad = [("f" * 32 + "  " + target) if ln.endswith(target) else ln for ln in text]
    md5 = tmp_path / "bad.md5"
    md5.write_text("\n".join(bad) + "\n")
    r = _gsdec([str(MULTI.with_suffix(".gsv")), "--verify", str(md5)])
    assert r.exit_code == 1
    assert r.output.splitlines()[-1].startswith("gsdec: error: verification against")
    assert f"1 of 19 MD5s differ: {target}" in r.output
    assert ("the decoded state matches" in r.output) == hint


def test_verify_fails_on_a_frame_the_stream_lacks(tmp_path: Path) -> None:
    md5 = tmp_path / "more.md5"
    md5.write_text(MULTI.with_suffix(".md5").read_text() + "0" * 32 + "  frame-000099.rgb24\n")
    r = _gsdec([str(MULTI.with_suffix(".gsv")), "--verify", str(md5)])
    assert r.exit_code == 1 and "frame-000099.rgb24 (not in the stream)" in r.output


@pytest.mark.parametrize(
    "extra, content, message",
    [
        (["--verify", "{md5}"], "not an md5 line\n", "line 1: expected"),
        (["--verify", "{md5}"], "# only a comment\n", "lists no MD5s"),
        (["--verify", "{md5}"], f"{'a' * 32}  stream.state\n{'b' * 32}  stream.state\n", "listed twice"),
        (["--verify", "{tmp}/missing.md5"], None, "cannot read it"),
        (["--verify", "{md5}", "--frames", "0:2"], f"{'a' * 32}  stream.state\n", "leave out --frames"),
        ([], None, "no output: give -o OUT"),
    ],
)
def test_verify_usage_errors_exit_2(tmp_path: Path, extra: list[str], content: str | None, message: str) -> None:
    md5 = tmp_path / "x.md5"
    if content is not None:
        md5.write_text(content)
    args = [str(MULTI.with_suffix(".gsv"))] + [a.format(md5=md5, tmp=tmp_path) for a in extra]
    r = _gsdec(args)
    assert r.exit_code == 2, r.output
    assert message in r.output and r.output.count("\n") == 1


def test_md5_file_format(tmp_path: Path) -> None:
    digest = {"frame-000010.rgb24": "1" * 32, "stream.state": "2" * 32, "segment-0002.state": "3" * 32,
              "frame-000009.rgb24": "a" * 32}
    text = gsdec.format_md5_file(digest, "title")
    assert text.splitlines() == ["# title", f"{'2' * 32}  stream.state", f"{'3' * 32}  segment-0002.state",
                                 f"{'a' * 32}  frame-000009.rgb24", f"{'1' * 32}  frame-000010.rgb24"]
    path = tmp_path / "a.md5"
    path.write_text(text)
    assert gsdec.read_md5_file(str(path)) == digest
    # md5sum's binary marker, upper-case digits, unpadded numbers and blank lines are accepted too
    path.write_text(f"\n{'A' * 32} *frame-9.rgb24\n{'2' * 32}  stream.state\n")
    assert gsdec.read_md5_file(str(path)) == {"frame-000009.rgb24": "a" * 32, "stream.state": "2" * 32}

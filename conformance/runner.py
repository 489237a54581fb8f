"""The conformance runner: check every stream of the suite against its sidecar, print a table.

A valid stream passes when its decoded state matches the sidecar's MD5s and SHA-256s exactly
(read in order, and again by seeking through the index), its md5 file agrees with the sidecar,
and its frames are within the tolerance of the reference frames; the table also says whether
they are bit-exact. A faulty stream passes when gsdec stops with the error class, exit code and
message the sidecar names, leaving no output behind. Any file that is missing, unlisted or
changed since the manifest was written fails the run: expectations never update themselves.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.suite import (
    GROUPS,
    Tolerance,
    compare_frames,
    decode_png,
    decode_stream,
    frame_names,
    read_json,
    run_gsdec,
    seek_states,
    sha256_file,
)


@dataclass(frozen=True)
class RunOptions:
    """What to run: groups, name filters (substrings, any may match), device, the suite's folder."""

    root: Path
    groups: tuple[str, ...] = GROUPS
    keywords: tuple[str, ...] = ()
    device: str = "cpu"


@dataclass
class Result:
    """The outcome for one stream (or for the suite's files, name "manifest")."""

    name: str
    group: str
    status: str  # PASS, FAIL or SKIP
    detail: str
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Mismatch(Exception):
    """A stream does not meet its expectations (the message says how)."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise Mismatch(message)


def _selected(name: str, group: str, opts: RunOptions) -> bool:
    return group in opts.groups and (not opts.keywords or any(k in name for k in opts.keywords))


def check_files(root: Path, manifest: dict[str, Any]) -> list[str]:
    """Problems with the suite's files: missing, changed since the manifest was written, or not listed."""
    streams = root / "streams"
    listed: dict[str, str] = {}
    for entry in manifest["streams"]:
        listed.update(entry["files"])
    problems = []
    for rel, digest in sorted(listed.items()):
        path = streams / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif sha256_file(path) != digest:
            problems.append(f"{rel}: changed (SHA-256 differs from manifest.json)")
    present = {p.relative_to(streams).as_posix() for p in streams.rglob("*") if p.is_file()}
    problems += [f"{rel}: not listed in manifest.json" for rel in sorted(present - set(listed))]
    return problems


def _check_valid(path: Path, side: dict[str, Any], opts: RunOptions) -> tuple[str, list[str]]:
    """Check a valid stream; a problem raises Mismatch. Returns the detail text and notes of a pass."""
    from gscodec.cli.gsdec import read_md5_file

    want = side["decoded"]
    got = decode_stream(path, opts.device)
    _require(got.digest["stream.state"] == want["state_md5"], "decoded state MD5 differs")
    _require(len(got.segments) == len(want["segments"]),
             f"{len(got.segments)} segments decoded, {len(want['segments'])} expected")
    for g, w in zip(got.segments, want["segments"], strict=True):
        for key in ("first_frame", "frame_count", "gaussians", "geometry_codec", "state_md5", "state_sha256"):
            _require(g[key] == w[key], f"segment {g['index']}: {key} is {g[key]}, expected {w[key]}")
    _require(seek_states(path) == [w["state_sha256"] for w in want["segments"]],
             "segments read by seeking (gidx or chunk scan) decode to other states")
    md5_file = read_md5_file(str(path.with_name(want["md5_file"])))
    _require(set(md5_file) == set(got.digest), "the md5 file does not list exactly the stream's segments and frames")
    frames_in_order = frame_names(got.digest)
    for name in set(got.digest) - set(frames_in_order):
        _require(md5_file[name] == got.digest[name], f"md5 file: {name} disagrees with the decode")
    _require([md5_file[k] for k in frames_in_order] == want["frame_md5"],
             "the md5 file's frame MD5s differ from the sidecar's")
    n = len(got.frames)
    _require(n == want["frames"], f"{n} frames decoded, {want['frames']} expected")
    if n == 0:
        return f"state ok, {len(got.segments)} segments, no frames", []
    height, width = side["header"]["height"], side["header"]["width"]
    ref = decode_png(path.with_name(want["reference_frames"]["file"]).read_bytes())
    _require(ref.shape == (n * height, width, 3), f"the reference frames are {ref.shape[1]}x{ref.shape[0]} pixels, "
             f"expected {width}x{n * height}")
    ref = ref.reshape(n, height, width, 3)
    cmp = compare_frames(got.frames, ref, Tolerance.from_json(want["tolerance"]))
    _require(cmp.ok, f"frames outside the tolerance: {cmp.reason}")
    exact = [got.digest[k] for k in frames_in_order] == want["frame_md5"]
    if exact:
        return f"state ok, {n} frames bit-exact", []
    return (f"state ok, {n} frames within tolerance, not bit-exact (max diff {cmp.max_abs_diff}, "
            f"{cmp.samples_above_1} samples > 1, min PSNR {cmp.min_psnr_db:.1f} dB)"), []


def _check_faulty(path: Path, side: dict[str, Any], opts: RunOptions) -> tuple[str, list[str]]:
    want = side["error"]
    got = run_gsdec(path, opts.device)
    said = f"exit {got.exit_code}, {got.error_class}: {got.message!r}"
    _require(got.exit_code == want["exit_code"], f"expected exit {want['exit_code']}, got {said}")
    _require(got.error_class == want["class"], f"expected {want['class']}, got {said}")
    _require(want["message"] in got.message, f"message lacks {want['message']!r}: {said}")
    _require(got.message.startswith("gsdec: error:") and "\n" not in got.message, f"not a one-line error: {said}")
    _require(not got.output_left, "gsdec left partial output behind")
    return f"{got.error_class}, exit {got.exit_code} ({want['message']!r})", [got.message]


def run_stream(root: Path, entry: dict[str, Any], opts: RunOptions) -> Result:
    """Check one manifest entry."""
    name, group = entry["name"], entry["group"]
    missing = [r for r in entry.get("requires", []) if shutil.which(r) is None]
    if missing:
        return Result(name, group, "SKIP", f"needs {', '.join(missing)} (not on PATH)")
    folder = root / "streams" / group
    t0 = time.perf_counter()
    try:
        side = read_json(folder / f"{name}.json")
        _require(side["name"] == name and side["group"] == group, "sidecar names another stream")
        check: Callable[[Path, dict[str, Any], RunOptions], tuple[str, list[str]]] = (
            _check_faulty if side["expect"] == "error" else _check_valid)
        detail, notes = check(folder / side["stream"]["file"], side, opts)
        status = "PASS"
    except Mismatch as exc:
        status, detail, notes = "FAIL", str(exc), []
    except Exception as exc:  # a decoder error on a valid stream, a broken sidecar: a failure, not a crash
        status, detail, notes = "FAIL", f"{type(exc).__name__}: {exc}", []
    return Result(name, group, status, detail, notes, time.perf_counter() - t0)


def run_suite(opts: RunOptions) -> list[Result]:
    """Check the suite's files against the manifest, then every selected stream."""
    manifest_path = opts.root / "manifest.json"
    if not manifest_path.is_file():
        return [Result("manifest", "-", "FAIL", f"{manifest_path} is missing")]
    manifest = read_json(manifest_path)
    results = []
    problems = check_files(opts.root, manifest)
    results.append(Result("manifest", "-", "FAIL" if problems else "PASS",
                          f"{len(problems)} file problems" if problems else "every file matches its SHA-256",
                          problems))
    for entry in manifest["streams"]:
        if _selected(entry["name"], entry["group"], opts):
            results.append(run_stream(opts.root, entry, opts))
    for entry in manifest.get("skipped", []):
        if _selected(entry["name"], entry["group"], opts):
            results.append(Result(entry["name"], entry["group"], "SKIP", f"not in this build of the suite: "
                                  f"{entry['note']}"))
    order = {g: i for i, g in enumerate(GROUPS)}
    results[1:] = sorted(results[1:], key=lambda r: (order.get(r.group, len(order)), r.name))
    return results


def format_table(results: list[Result], verbose: bool = False) -> str:
    """A plain-text table (one row per stream) and a summary line."""
    width = max([len(r.name) for r in results] + [6])
    lines = [f"{'stream':<{width}}  {'group':<8}  {'result':<6}  detail", "-" * (width + 40)]
    for r in results:
        lines.append(f"{r.name:<{width}}  {r.group:<8}  {r.status:<6}  {r.detail}")
        if verbose or r.status == "FAIL":
            lines += [f"{'':<{width}}      {note}" for note in r.notes]
    counts = {s: sum(r.status == s for r in results) for s in ("PASS", "FAIL", "SKIP")}
    lines.append(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return "\n".join(lines)

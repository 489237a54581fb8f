"""The generator of the conformance suite: every stream, its sidecars and the manifest.

    python -m conformance.generate --check         regenerate into a temporary folder, compare, write nothing
    python -m conformance.generate --regenerate    rewrite conformance/streams and manifest.json
    python -m conformance.generate --regenerate --out DIR    write a complete suite into DIR

Without ``--regenerate`` or ``--check`` it refuses: the committed files are the expectations,
and they change only on purpose. Streams are built from synthetic Gaussians drawn from a
portable PRNG (conformance/builders.py), never by fitting, so their bytes are the same on every
machine. The catalogue (conformance/catalogue.py) says what each stream exercises. Every valid
stream must decode to the state it was built from; every faulty one must make gsdec stop with
the error its spec names; otherwise nothing is written.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

if not __package__:  # run as a script (python conformance/generate.py): put the checkout on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance.builders import CodedState, State  # noqa: E402
from conformance.catalogue import SPECS, Spec  # noqa: E402
from conformance.suite import (  # noqa: E402
    GROUPS,
    MANIFEST,
    REFERENCE_LAYOUT,
    ROOT,
    STREAMS,
    SUITE_VERSION,
    Tolerance,
    compare_frames,
    decode_png,
    decode_stream,
    encode_png,
    frame_names,
    read_json,
    run_gsdec,
    sha256_file,
    write_json,
)
from gscodec.bitstream import profile0, profile1  # noqa: E402
from gscodec.cli.gsdec import format_md5_file  # noqa: E402
from gscodec.model.params import ATTRIBUTES  # noqa: E402

ORIGIN = ("synthetic Gaussians from conformance/catalogue.py (portable PRNG, seed {seed}), packed on the CPU; "
          "not fitted")


# --- writing the suite ---------------------------------------------------------------------------------


def _missing_requirements(spec: Spec) -> list[str]:
    return [r for r in spec.requires if shutil.which(r) is None]


def _check_states(spec: Spec, got: list[dict[str, Any]], path: Path, expected: list[State | CodedState]) -> None:
    """The decoder must return exactly the state the generator packed: for profile 0 quantized independently of
    the encoder, for profile 1 the integers drawn (format_spec.md §16.6)."""
    from gscodec.bitstream import GsvReader
    from gscodec.decode import decode_segment_state

    if len(got) != len(expected):
        raise RuntimeError(f"{spec.name}: {len(got)} segments decoded, {len(expected)} built")
    with open(path, "rb") as f:
        reader = GsvReader(f)
        for seg, want in zip(reader.segments(), expected, strict=True):
            state = decode_segment_state(reader.header, seg)
            if isinstance(want, CodedState):
                same = isinstance(state, profile1.DecodedSegment) and want.matches(state)
            else:
                same = isinstance(state, profile0.DecodedSegment) and np.array_equal(state.points, want.points) and all(
                    state.attributes[a.name].view("<u2").tobytes() == want.attributes[a.name].view("<u2").tobytes()
                    for a in ATTRIBUTES)
            if not same:
                raise RuntimeError(f"{spec.name}: segment {seg.segment_index} does not decode to the state it was "
                                   "built from")


def _header_json(h: Any) -> dict[str, Any]:
    c = h.colour
    return {
        "version": f"{h.version_major}.{h.version_minor}", "profile": h.profile, "width": h.width,
        "height": h.height, "frame_count": h.frame_count,
        "frame_rate": f"{h.frame_rate.numerator}/{h.frame_rate.denominator}", "segment_frames": h.segment_frames,
        "segment_count": h.segment_count,
        "colour_primaries": c.colour_primaries, "transfer_characteristics": c.transfer_characteristics,
        "matrix_coefficients": c.matrix_coefficients, "full_range": c.full_range,
    }


def write_stream(spec: Spec, root: Path, log: Callable[[str], None]) -> list[Path]:
    """Build one stream, check it decodes (or fails) as specified, write it and its sidecars; return the files."""
    folder = root / "streams" / spec.group
    folder.mkdir(parents=True, exist_ok=True)
    built = spec.build()
    stream = folder / f"{spec.name}.gsv"
    stream.write_bytes(built.data)
    sidecar: dict[str, Any] = {
        "name": spec.name, "group": spec.group, "description": spec.description,
        "origin": ORIGIN.format(seed=spec.seed) if spec.error is None else "hand-built by conformance/catalogue.py",
        "requires": list(spec.requires), "stream": {"file": stream.name, "bytes": len(built.data)},
    }
    files = [stream]
    if spec.error is not None:
        cls, fragment = spec.error
        outcome = run_gsdec(stream)
        if (outcome.exit_code, outcome.error_class) != (2, cls) or fragment not in outcome.message:
            raise RuntimeError(f"{spec.name}: gsdec ended with exit {outcome.exit_code}, {outcome.error_class}: "
                               f"{outcome.message!r}; the suite expects exit 2, {cls}, containing {fragment!r}")
        sidecar["expect"] = "error"
        sidecar["error"] = {"class": cls, "exit_code": 2, "message": fragment}
    else:
        if built.states is None:
            raise RuntimeError(f"{spec.name}: a valid stream's spec must say which states it decodes to")
        decoded = decode_stream(stream)
        _check_states(spec, decoded.segments, stream, built.states)
        frame_md5 = [decoded.digest[k] for k in frame_names(decoded.digest)]
        md5_path = folder / f"{spec.name}.md5"
        md5_path.write_text(format_md5_file(decoded.digest, f"{stream.name}: MD5s of the decoded output "
                                            "(conformance/README.md, gsdec --verify)"), encoding="utf-8")
        files.append(md5_path)
        reference = None
        if len(decoded.frames):
            png = folder / f"{spec.name}.png"
            f, h, w, _ = decoded.frames.shape
            png.write_bytes(encode_png(decoded.frames.reshape(f * h, w, 3)))
            files.append(png)
            reference = {"file": png.name, "layout": REFERENCE_LAYOUT}
        sidecar["header"] = _header_json(decoded.header)
        sidecar["metadata"] = decoded.metadata
        sidecar["skipped_chunks"] = decoded.skipped_chunks
        sidecar["seek_index"] = decoded.has_index
        sidecar["expect"] = "decode"
        sidecar["decoded"] = {
            "frames": int(len(decoded.frames)), "segments": decoded.segments,
            "state_md5": decoded.digest["stream.state"], "frame_md5": frame_md5, "md5_file": md5_path.name,
            "reference_frames": reference, "tolerance": Tolerance().as_json(),
        }
    side = folder / f"{spec.name}.json"
    write_json(side, sidecar)
    files.append(side)
    log(f"  {spec.name}: {len(built.data)} bytes" + (f", {spec.error[0]}" if spec.error else ""))
    return files


def generate(root: Path, log: Callable[[str], None] = print, names: list[str] | None = None) -> dict[str, Any]:
    """Write the whole suite (streams/, manifest.json) under ``root``, an empty or new folder."""
    root.mkdir(parents=True, exist_ok=True)
    streams, skipped = [], []
    for spec in SPECS:
        if names is not None and spec.name not in names:
            continue
        missing = _missing_requirements(spec)
        if missing:
            note = f"needs {', '.join(missing)}, which was not on PATH when the suite was generated"
            log(f"  {spec.name}: skipped ({note})")
            skipped.append({"name": spec.name, "group": spec.group, "requires": list(spec.requires), "note": note})
            continue
        files = write_stream(spec, root, log)
        streams.append({
            "name": spec.name, "group": spec.group, "expect": "error" if spec.error else "decode",
            "requires": list(spec.requires),
            "files": {p.relative_to(root / "streams").as_posix(): sha256_file(p) for p in files},
        })
    manifest = {
        "suite": "gscodec bitstream conformance", "suite_version": SUITE_VERSION, "format_version": "1.0",
        "profiles": [0, 1], "groups": list(GROUPS), "streams": streams, "skipped": skipped,
    }
    write_json(root / "manifest.json", manifest)
    return manifest


def regenerate_in_place(log: Callable[[str], None] = print) -> None:
    """Rebuild conformance/streams and manifest.json: build beside them, then swap them in."""
    with tempfile.TemporaryDirectory(prefix=".regen-", dir=ROOT) as tmp:
        generate(Path(tmp), log)
        if STREAMS.exists():
            shutil.rmtree(STREAMS)
        shutil.move(str(Path(tmp) / "streams"), STREAMS)
        shutil.move(str(Path(tmp) / "manifest.json"), MANIFEST)


def _without(data: Any, key: str) -> Any:
    """``data`` with every dict entry named ``key`` removed (recursively)."""
    if isinstance(data, dict):
        return {k: _without(v, key) for k, v in data.items() if k != key}
    if isinstance(data, list):
        return [_without(v, key) for v in data]
    return data


def compare_suites(committed: Path, fresh: Path) -> tuple[list[str], list[str]]:
    """Differences between two suites: (problems, notes).

    Streams and everything derived from the decoded state must be byte-identical. Rendered frames
    are floating point: reference frames that differ only within the tolerance, and the frame MD5s
    that go with them, are notes, not problems. Streams a machine could not build (a missing tmc3)
    on either side are notes.
    """
    problems, notes = [], []
    old, new = read_json(committed / "manifest.json"), read_json(fresh / "manifest.json")
    old_streams = {s["name"]: s for s in old["streams"]}
    new_streams = {s["name"]: s for s in new["streams"]}
    unbuilt = {s["name"] for s in old.get("skipped", []) + new.get("skipped", [])}
    for name in sorted(set(old_streams) ^ set(new_streams)):
        (notes if name in unbuilt else problems).append(f"{name}: present in only one of the suites")
    def described(m: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in m.items() if k not in ("streams", "skipped")}

    if described(old) != described(new):
        problems.append("manifest.json: the suite's description differs")
    for name in sorted(set(old_streams) & set(new_streams)):
        a, b = old_streams[name], new_streams[name]
        if _without(a, "files") != _without(b, "files") or set(a["files"]) != set(b["files"]):
            problems.append(f"{name}: manifest entry differs")
            continue
        for rel in sorted(a["files"]):
            pa, pb = committed / "streams" / rel, fresh / "streams" / rel
            if pa.read_bytes() == pb.read_bytes():
                continue
            if rel.endswith(".png"):
                tol = Tolerance.from_json(read_json(pa.with_suffix(".json"))["decoded"]["tolerance"])
                cmp = compare_frames(decode_png(pb.read_bytes()), decode_png(pa.read_bytes()), tol)
                (notes if cmp.ok else problems).append(
                    f"{rel}: reference frames differ ({cmp.reason or f'within tolerance, max {cmp.max_abs_diff}'})")
            elif rel.endswith(".json"):
                if _without(read_json(pa), "frame_md5") != _without(read_json(pb), "frame_md5"):
                    problems.append(f"{rel}: differs")
                else:
                    notes.append(f"{rel}: frame MD5s differ (rendering rounding)")
            elif rel.endswith(".md5"):
                def states(p: Path) -> list[str]:
                    return [ln for ln in p.read_text().splitlines() if ln.endswith(".state")]
                if states(pa) != states(pb):
                    problems.append(f"{rel}: decoded-state MD5s differ")
                else:
                    notes.append(f"{rel}: frame MD5s differ (rendering rounding)")
            else:
                problems.append(f"{rel}: differs")
    return problems, notes


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--regenerate", is_flag=True, help="Rewrite the committed streams, sidecars and manifest.")
@click.option("--check", is_flag=True, help="Regenerate into a temporary folder and compare with the committed suite.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --regenerate: write the suite into this (new or empty) folder instead.")
@click.option("-q", "--quiet", is_flag=True, help="Only the summary.")
def main(regenerate: bool, check: bool, out: Path | None, quiet: bool) -> None:
    """Build the conformance streams; refuses to touch anything without --regenerate."""
    def log(msg: str) -> None:
        if not quiet:
            click.echo(msg)

    if check:
        with tempfile.TemporaryDirectory(prefix="gsv-conformance-") as tmp:
            generate(Path(tmp), log)
            problems, notes = compare_suites(ROOT, Path(tmp))
        for line in notes:
            click.echo(f"note: {line}")
        for line in problems:
            click.echo(f"DIFFERS: {line}", err=True)
        click.echo(f"{len(problems)} differences from the committed suite")
        sys.exit(1 if problems else 0)
    if not regenerate:
        click.echo("generate: refusing to write: the committed streams are the expected results. Pass --regenerate "
                   "to rewrite them on purpose, or --check to compare a fresh build with them.", err=True)
        sys.exit(2)
    if out is not None:
        if out.exists() and any(out.iterdir()):
            click.echo(f"generate: {out} is not empty; give a new or empty folder", err=True)
            sys.exit(2)
        out.mkdir(parents=True, exist_ok=True)
        generate(out, log)
    else:
        regenerate_in_place(log)
    click.echo("suite written")


if __name__ == "__main__":
    main()

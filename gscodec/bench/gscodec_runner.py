"""gscodec points: gsenc and gsdec run as the user runs them, as child processes.

Encode: ``python -m gscodec.cli.gsenc CLIP -o stream.gsv --lambda L --frames N --start-frame S [extra]``.
Decode: ``python -m gscodec.cli.gsdec stream.gsv -o decoded/`` (PNG frames: exact RGB, so the
measurement sees the decoder's own samples, with no YUV round trip). Timings are the wall time of
each whole process (interpreter start, imports, device start-up and the work itself, as a user
sees it); the peak memory is that process's own ``ru_maxrss`` (see :mod:`gscodec.bench.proc`).
The decode time therefore includes writing PNG files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

import gscodec
from gscodec.bench.points import GSCODEC, PointSpec, RunOutput
from gscodec.bench.proc import ProcessStats, run_measured
from gscodec.bench.source import SourceClip
from gscodec.errors import RuntimeFailure

GSENC_MODULE = "gscodec.cli.gsenc"
GSDEC_MODULE = "gscodec.cli.gsdec"


def unavailable_reason() -> str | None:
    """None when gsenc and gsdec can be run; otherwise a short reason ("gsenc not available")."""
    for module, tool in ((GSENC_MODULE, "gsenc"), (GSDEC_MODULE, "gsdec")):
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:
            found = False
        if not found:
            return f"{tool} not available"
    return None


def code_fingerprint() -> str:
    """SHA-256 over the gscodec package's Python sources, the benchmark's own excluded.

    Part of the cache key of gscodec points, so that any change to the codec (committed or
    not) makes them run again, while edits to the harness alone do not.
    """
    root = Path(gscodec.__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("bench/"):
            continue
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def gscodec_points(lambdas: Iterable[float | str], extra_args: Sequence[str] = ()) -> list[PointSpec]:
    """One gscodec point per lambda; extra gsenc arguments are part of each point's identity."""
    options = (("gsenc_args", " ".join(extra_args)),) if extra_args else ()
    return [PointSpec(codec=GSCODEC, param="lambda", value=f"{float(lam):g}", options=options) for lam in lambdas]


def read_png_frames(path: Path) -> Iterable[np.ndarray]:
    """Yield the frames of gsdec's PNG folder as (H, W, 3) uint8 RGB."""
    from gscodec.video import open_video

    with open_video(path) as video:
        yield from video


class GscodecRunner:
    """Runs gsenc then gsdec as child processes (a :data:`gscodec.bench.points.Runner`)."""

    def __init__(self, python: str = sys.executable, timeout_s: float | None = None) -> None:
        self.python = python
        self.timeout_s = timeout_s

    def _env(self) -> dict[str, str]:
        """The children import the same gscodec as this process."""
        env = dict(os.environ)
        package_parent = str(Path(gscodec.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
        return env

    def _run(self, cmd: list[str], log: Path, what: str) -> ProcessStats:
        try:
            stats = run_measured(cmd, log, timeout_s=self.timeout_s, env=self._env())
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeFailure(f"{what}: {exc}") from exc
        if stats.returncode != 0:
            lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
            last = lines[-1].strip() if lines else "no output"
            raise RuntimeFailure(f"{what} exited with status {stats.returncode}: {last}")
        return stats

    def __call__(self, clip: SourceClip, spec: PointSpec, workdir: Path) -> RunOutput:
        workdir.mkdir(parents=True, exist_ok=True)
        stream = workdir / "stream.gsv"
        decoded = workdir / "decoded"
        extra = dict(spec.options).get("gsenc_args", "").split()
        enc_cmd = [
            self.python, "-m", GSENC_MODULE, str(clip.path.resolve()), "-o", str(stream),
            "--lambda", spec.value, "--frames", str(clip.frames), "--start-frame", str(clip.start_frame), *extra,
        ]  # fmt: skip
        enc = self._run(enc_cmd, workdir / "gsenc.log", "gsenc")
        if not stream.is_file():
            raise RuntimeFailure(f"gsenc exited cleanly but wrote no {stream.name}")
        dec_cmd = [self.python, "-m", GSDEC_MODULE, str(stream), "-o", str(decoded)]
        dec = self._run(dec_cmd, workdir / "gsdec.log", "gsdec")
        if not decoded.is_dir():
            raise RuntimeFailure(f"gsdec exited cleanly but wrote no {decoded.name}")
        return RunOutput(
            bitstream=stream,
            decoded=lambda: read_png_frames(decoded),
            encode_s=enc.wall_s,
            decode_s=dec.wall_s,
            encode_peak_rss_kib=enc.peak_rss_kib,
            decode_peak_rss_kib=dec.peak_rss_kib,
        )

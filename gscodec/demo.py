"""`make demo`: encode the shipped sample clip, decode it, and print quality, size and speed.

Runs the same commands a user types (gsenc, gsinfo, gsdec) as subprocesses, then compares the
decoded frames with the source frames.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import click
import numpy as np

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "carphone_qcif_32f.mp4"


def _run(args: list[str]) -> float:
    shown = " ".join(["gs" + args[0].split("gs", 1)[1]] + args[1:])
    click.echo(f"$ {shown}", err=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", f"gscodec.cli.{args[0]}", *args[1:]], check=True)
    return time.perf_counter() - t0


@click.command()
@click.option("--input", "input_", type=click.Path(exists=True, dir_okay=True), default=str(SAMPLE),
              show_default=True, help="Clip to encode.")
@click.option("--out", type=click.Path(file_okay=False), default="out/demo", show_default=True,
              help="Folder for the stream and the decoded frames.")
@click.option("--frames", type=int, default=16, show_default=True, help="Frames to encode.")
@click.option("--preset", default="fast", show_default=True, help="gsenc preset.")
def main(input_: str, out: str, frames: int, preset: str) -> None:
    """Encode and decode a small clip end to end."""
    from gscodec.metrics import psnr_rgb
    from gscodec.video import open_video

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stream = out_dir / "demo.gsv"
    decoded = out_dir / "frames"
    t_enc = _run(["gsenc", input_, "-o", str(stream), "--frames", str(frames), "--preset", preset,
                  "--lambda", "0.004"])
    _run(["gsinfo", str(stream)])
    t_dec = _run(["gsdec", str(stream), "-o", str(decoded)])
    with open_video(input_, frames=frames) as src, open_video(str(decoded)) as dec:
        w, h = src.info.width, src.info.height
        scores = [psnr_rgb(a, b) for a, b in zip(src, dec, strict=True)]
    n = len(scores)
    bpp = stream.stat().st_size * 8 / (w * h * n)
    click.echo("")
    click.echo(f"demo: {n} frames {w}x{h} from {Path(input_).name}")
    click.echo(f"  stream   {stream} ({stream.stat().st_size} bytes, {bpp:.4f} bpp)")
    click.echo(f"  quality  {np.mean(scores):.2f} dB RGB PSNR (min {np.min(scores):.2f})")
    click.echo(f"  encode   {t_enc:.1f} s    decode {t_dec:.1f} s ({n / t_dec:.1f} fps, incl. start-up)")
    click.echo(f"  frames   {decoded}/frame_0001.png ...")


if __name__ == "__main__":
    main()

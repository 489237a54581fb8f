"""A stream encoded on a GPU machine decodes to the same decoded state on this CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gscodec.bitstream import GsvReader
from gscodec.decode import decode_segment_state, render_segment

HERE = Path(__file__).resolve().parent.parent / "conformance" / "cross_device"


@pytest.mark.parametrize("sidecar", ["gpu-encoded-carphone-8f.json", "gpu-encoded-carphone-8f-profile1.json",
                                     "gpu-encoded-carphone-8f-refit.json", "gpu-encoded-carphone-8f-batched.json",
                                     "gpu-encoded-carphone-8f-motion.json"])
def test_gpu_encoded_stream_has_the_same_state_on_cpu(sidecar: str) -> None:
    """Profile 0 and profile 1 (entropy-coded with the fixed-point prior) streams written by gsenc on a GPU."""
    side = json.loads((HERE / sidecar).read_text())
    assert "cuda" in side["origin"]
    with open(HERE / side["stream"], "rb") as f:
        reader = GsvReader(f)
        states = [decode_segment_state(reader.header, s) for s in reader.segments()]
        header = reader.header
    assert [s.state_hash() for s in states] == side["segment_sha256"]
    if "motion" in sidecar:  # the GPU-learned motion mode is part of the state the CPU reproduces
        assert all(getattr(s, "motion", None) is not None for s in states)
    # And the CPU renders it into a plausible picture (not exact: rendering is floating point).
    frames = [f for _, f in render_segment(states[0], header.width, header.height, "cpu", 0, 2)]
    assert frames[0].shape == (144, 176, 3) and 40 < float(np.mean(frames[0])) < 220

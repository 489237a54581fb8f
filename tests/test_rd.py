"""The rate-distortion stage (profile 1): it trades rate for distortion, packs, and decodes to what it packed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gscodec.bitstream import profile1 as p1
from gscodec.encode import check_decoded_state, reconstruct
from gscodec.errors import RuntimeFailure
from gscodec.fit import fit_segment
from gscodec.fit.rd import RDConfig, rd_train
from gscodec.metrics import psnr_rgb
from tests.test_fit import blob_clip, tiny_config


@pytest.fixture(scope="module")
def fitted():
    frames = blob_clip(frames=4, width=32, height=24)
    return frames, fit_segment(frames, tiny_config(iterations=60))


def _encode(frames, g, **kw):
    cfg = replace(RDConfig(), iterations=30, hidden=2, prune_events=2, **kw)
    state = rd_train(frames, g, cfg)
    payload = p1.encode_segment(state.points, state.q, state.steps, state.nets, state.xy_shift, state.t_shift)
    return state, payload


def test_rd_stage_packs_a_segment_that_decodes_to_the_encoded_state(fitted):
    frames, g = fitted
    state, payload = _encode(frames, g, lam=0.0)
    t, h, w = frames.shape[:3]
    recon = reconstruct(payload, w, h, t, "cpu", 1, state)
    assert np.mean([psnr_rgb(a, b) for a, b in zip(frames, recon)]) > 20.0
    assert len(state.points) == len(g)  # no rate term: nothing pruned
    assert state.q[:, [10, 11]].sum() == 0 and 10 not in state.nets  # linear motion: acc is not coded
    decoded = p1.decode_segment(payload)
    assert decoded.steps.tolist() == state.steps.tolist()


def test_a_larger_lambda_gives_a_smaller_stream(fitted):
    frames, g = fitted
    _, small_lam = _encode(frames, g, lam=0.0)
    state, big_lam = _encode(frames, g, lam=0.5)
    assert len(big_lam) < 0.8 * len(small_lam)
    assert len(state.points) < len(g)  # Gaussians that did not pay for their bits were pruned


def test_rd_stage_is_deterministic_on_the_cpu(fitted):
    frames, g = fitted
    assert _encode(frames, g, lam=0.01)[1] == _encode(frames, g, lam=0.01)[1]


def test_test_decode_fails_loudly_on_a_mismatch(fitted):
    frames, g = fitted
    state, payload = _encode(frames, g, lam=0.0)
    bad = replace(state, q=state.q.copy())
    bad.q[0, 0] += 1
    with pytest.raises(RuntimeFailure, match="test decode failed"):
        check_decoded_state(p1.decode_segment(payload), bad)
    check_decoded_state(p1.decode_segment(payload), state)

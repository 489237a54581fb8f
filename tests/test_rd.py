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


def test_worth_sampled_every_few_steps_still_prunes(fitted):
    """probe_every > 1 samples the Gaussians' worth on fewer steps (one backward pass less on the others);
    the pruning still removes what does not pay, and the state still packs and decodes."""
    frames, g = fitted
    state, payload = _encode(frames, g, lam=0.5, probe_every=4)
    assert 0 < len(state.points) < len(g)
    check_decoded_state(p1.decode_segment(payload), state)
    assert payload != _encode(frames, g, lam=0.5)[1]


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


def test_fit_budget_follows_lambda() -> None:
    from gscodec.fit.rd import LAMBDA_FULL_BUDGET, MIN_RD_BUDGET, rd_budget

    assert rd_budget(651_670, 0.0) == rd_budget(651_670, LAMBDA_FULL_BUDGET) == 651_670
    budgets = [rd_budget(651_670, lam) for lam in (0.001, 0.004, 0.016, 0.064)]
    assert budgets == sorted(budgets, reverse=True) and len(set(budgets)) == 4
    assert budgets[1] == round(651_670 / 4)  # a quarter of the preset's at the default λ
    assert rd_budget(1000, 1e9) == MIN_RD_BUDGET and rd_budget(10, 1e9) == 10


def test_fit_budget_is_a_smaller_share_for_larger_frames() -> None:
    from gscodec.fit.rd import BUDGET_REFERENCE_PIXELS, rd_budget

    qcif, small, hd = 176 * 144, 64 * 48, 1280 * 720
    assert qcif == BUDGET_REFERENCE_PIXELS
    # Up to 176x144 the λ rule alone (a quarter of the preset's at λ 0.004), smaller frames included.
    assert rd_budget(17_921, 0.004, qcif) == rd_budget(17_921, 0.004, small) == rd_budget(17_921, 0.004) == 4480
    # 720p: (921,600 / 25,344) ** -0.2 = 0.487 of the λ rule.
    assert rd_budget(651_670, 0.004, hd) == round(651_670 / 4 * (hd / qcif) ** -0.2) == 79_403
    shares = [rd_budget(100_000, 0.004, w * h) for w, h in ((176, 144), (640, 272), (1280, 720), (1920, 1080))]
    assert shares == sorted(shares, reverse=True) and len(set(shares)) == 4
    # Where the λ rule would keep the whole budget, a large frame still gets its share, never more than all.
    assert rd_budget(651_670, 1e-6, hd) == 651_670
    assert rd_budget(651_670, 0.00025, hd) == round(651_670 * (hd / qcif) ** -0.2)


def test_gsenc_fits_fewer_gaussians_for_a_larger_lambda(tmp_path) -> None:
    """End to end through the encoder: without --gaussians the λ sets the count, and with it the size."""
    from fractions import Fraction

    from gscodec.encode import EncodeSettings, encode
    from gscodec.video import open_writer

    clip = tmp_path / "clip"
    with open_writer(str(clip), 48, 32, Fraction(25)) as wr:
        for frame in blob_clip(frames=4, width=48, height=32):
            wr.write(frame)
    reports = []
    for lam in (0.0002, 0.05):
        s = EncodeSettings(input=str(clip), output=str(tmp_path / f"{lam}.gsv"), lam=lam, iterations=24,
                           preset="fast", test_decode=False)
        reports.append(encode(s))
    small, large = reports
    assert large.segments[0].gaussians < 0.5 * small.segments[0].gaussians
    assert large.bytes < small.bytes


def test_pilot_caps_the_budget_at_a_multiple_of_what_a_short_pass_keeps() -> None:
    from gscodec.fit.rd import PILOT_RATIO, pilot_budget, pilot_steps

    frames = blob_clip(frames=3, width=32, height=24)
    cfg = tiny_config(iterations=16, gaussians=120, flow=False)
    rd = RDConfig(lam=0.5, iterations=12, prior_refit_steps=50)
    seen = []
    budget, kept = pilot_budget(frames, cfg, rd, progress=lambda step, total, psnr: seen.append((step, total)))
    assert 0 < kept < 120 and budget == min(120, round(PILOT_RATIO * kept))
    assert pilot_steps(16, 12) == (4, 3)
    assert [s for s, _ in seen] == list(range(1, 8)) and {t for _, t in seen} == {7}  # 4 fit + 3 RD steps
    # With a smaller ratio the cap binds: the fit is sized to twice what the pilot kept.
    small, kept2 = pilot_budget(frames, cfg, rd, ratio=2.0)
    assert kept2 == kept and small == round(2.0 * kept) < 120  # deterministic on the CPU
    # A ratio so large that the cap does not bind leaves the budget as it was.
    assert pilot_budget(frames, cfg, rd, ratio=1000.0)[0] == 120


def test_gsenc_pilot_sizes_the_fit_and_counts_its_steps(tmp_path) -> None:
    from fractions import Fraction

    from gscodec.encode import EncodeSettings, encode
    from gscodec.video import open_writer

    clip = tmp_path / "clip"
    with open_writer(str(clip), 48, 32, Fraction(25)) as wr:
        for frame in blob_clip(frames=4, width=48, height=32):
            wr.write(frame)
    runs = {}
    for pilot in (True, False):
        steps = []
        s = EncodeSettings(input=str(clip), output=str(tmp_path / f"{pilot}.gsv"), lam=0.05, iterations=24,
                           preset="fast", test_decode=True, pilot=pilot)
        runs[pilot] = (encode(s, on_step=lambda step, total, psnr, seen=steps: seen.append((step, total))), steps)
    (with_pilot, steps_p), (without, steps_n) = runs[True], runs[False]
    assert steps_n[-1][0] == steps_n[-1][1] == 48  # the fit's 24 steps and the RD stage's 24
    assert steps_p[-1][0] == steps_p[-1][1] == 48 + 6 + 6  # and the pilot's quarter of each first
    assert [a for a, _ in steps_p] == sorted(a for a, _ in steps_p)
    assert with_pilot.segments[0].gaussians <= without.segments[0].gaussians
    assert with_pilot.bytes < without.bytes


def _channel_bits(nets, points, q):
    from gscodec.entropy import estimate_bits

    pos = p1.position_features(points)
    out = {}
    for c, net in nets.items():
        mu, k = net.predict(pos, q, c)
        out[c] = estimate_bits(q[:, c] - mu, k)
    return out


@pytest.mark.parametrize("hidden", [0, 4])
def test_prior_refit_learns_the_final_symbols_and_never_costs_bits(hidden: int) -> None:
    """A twin that knows nothing is refitted to symbols whose channels predict each other; the refitted
    fixed-point prior codes them in far fewer bits, no channel gets dearer, and the segment round-trips."""
    import math

    import torch

    from gscodec.entropy import B_MIN, LEVELS_PER_OCTAVE
    from gscodec.fit.rd import PriorTwin, refit_prior

    rng = np.random.default_rng(3)
    n = 600
    points = np.stack([rng.integers(0, 400, n), rng.integers(0, 300, n), rng.integers(0, 64, n)], axis=1)
    q = np.zeros((n, p1.NUM_CHANNELS), dtype=np.int64)
    q[:, 0] = rng.laplace(0, 3, n).round()
    q[:, 5] = rng.integers(-60, 60, n)
    q[:, 6] = q[:, 5] + rng.laplace(0, 1, n).round()  # colours follow each other
    q[:, 7] = (q[:, 5] // 2 + points[:, 0] // 20 + rng.laplace(0, 1, n)).round()  # and the position
    coded = [0, 5, 6, 7]
    u = torch.from_numpy(q.astype(np.float32))
    scale = u.std(dim=0).clamp(min=1.0)
    level = (LEVELS_PER_OCTAVE * torch.log2(scale / math.sqrt(2.0) / B_MIN)).clamp(0, p1.SCALE_LEVELS - 1)
    twin = PriorTwin(coded, hidden, scale, u.mean(dim=0), level, torch.Generator().manual_seed(0))

    before, q_before = refit_prior(twin, points, q, steps=0)
    after, q_after = refit_prior(twin, points, q, steps=300)
    bits_before = _channel_bits(before, points, q_before)
    bits_after = _channel_bits(after, points, q_after)
    assert all(bits_after[c] <= bits_before[c] for c in coded)
    assert sum(bits_after.values()) < 0.8 * sum(bits_before.values())
    assert bits_after[6] < 0.5 * bits_before[6]  # colour 1 from colour 0
    payload = p1.encode_segment(points, q_after, np.zeros(p1.NUM_CHANNELS), after, 2, 3)
    decoded = p1.decode_segment(payload)
    order = np.lexsort((points[:, 0], points[:, 1], points[:, 2]))
    assert np.array_equal(decoded.q, q_after[order])


@pytest.mark.parametrize("hidden", [0, 4])
@pytest.mark.parametrize("scaled", [False, True])
def test_prior_twin_and_its_fixed_point_network_agree(hidden: int, scaled: bool) -> None:
    """to_fixed_point folds the twin's input and output normalisations into integer weights: the integer
    network predicts what the float twin does, up to the rounding of its weights."""
    import torch

    from gscodec.fit.rd import PriorTwin

    rng = np.random.default_rng(5)
    n = 2000
    points = np.stack([rng.integers(0, 500, n), rng.integers(0, 300, n), rng.integers(0, 100, n)], axis=1)
    q = rng.integers(-40, 40, (n, p1.NUM_CHANNELS)).astype(np.int64)
    coded = [0, 3, 7]
    scale = torch.from_numpy(q.std(axis=0).astype(np.float32))
    gen = torch.Generator().manual_seed(1)
    twin = PriorTwin(coded, hidden, scale, torch.zeros(p1.NUM_CHANNELS), torch.full((p1.NUM_CHANNELS,), 30.0), gen,
                     scaled_outputs=scaled)
    with torch.no_grad():
        for w in twin.w2:
            w.copy_(torch.randn(w.shape, generator=gen) * (0.5 if scaled else 8.0))
    nets = twin.to_fixed_point()
    pos = p1.position_features(points)
    with torch.no_grad():
        mu_all, level_all = twin(torch.from_numpy(pos).float(), torch.from_numpy(q).float())
    for i, c in enumerate(coded):
        mu, level = mu_all[:, i].numpy(), level_all[:, i].numpy()
        mu_i, k_i = nets[c].predict(pos, q, c)  # channel c's inputs only
        assert np.abs(mu_i - np.round(mu)).max() <= 1
        assert np.mean(mu_i == np.round(mu)) > 0.9
        k_float = np.clip(np.round(level), 0, p1.SCALE_LEVELS - 1)
        assert np.abs(k_i - k_float).max() <= 1


@pytest.mark.parametrize("hidden", [0, 3])
def test_prior_twin_channels_see_only_earlier_symbols_and_rescaling_keeps_the_function(hidden: int) -> None:
    import torch

    from gscodec.fit.rd import PriorTwin

    gen = torch.Generator().manual_seed(2)
    coded = [0, 1, 4, 5, 9]
    twin = PriorTwin(coded, hidden, torch.rand(p1.NUM_CHANNELS, generator=gen) + 0.5,
                     torch.randn(p1.NUM_CHANNELS, generator=gen), torch.rand(p1.NUM_CHANNELS, generator=gen) * 40,
                     gen)
    with torch.no_grad():
        for w in twin.w2:
            w.copy_(torch.randn(w.shape, generator=gen))
    pos = torch.randn(300, 3, generator=gen) * 500
    u = torch.randn(300, p1.NUM_CHANNELS, generator=gen) * 20
    mu, level = twin(pos, u)
    assert mu.shape == level.shape == (300, len(coded))
    for i, c in enumerate(coded):
        # Channel c's prediction ignores the symbols of channel c and later (they are decoded after it) ...
        later = u.clone()
        later[:, c:] += 100.0
        m, lv = twin(pos, later)
        torch.testing.assert_close(m[:, i], mu[:, i])
        torch.testing.assert_close(lv[:, i], level[:, i])
        if c > 0:  # ... and depends on the earlier ones
            earlier = u.clone()
            earlier[:, c - 1] += 100.0
            assert not torch.allclose(twin(pos, earlier)[0][:, i], mu[:, i])
    # Normalising the outputs changes the parametrisation, not the function.
    scaled = twin.rescaled(True)
    assert not torch.equal(scaled.out_scale, twin.out_scale)
    mu2, level2 = scaled(pos, u)
    torch.testing.assert_close(mu2, mu, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(level2, level, rtol=1e-5, atol=1e-4)

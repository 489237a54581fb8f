"""The shared motion mode (format_spec.md §10.3, §16.10): projection, payload, state, decoding and encoding."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from gscodec.bitstream import profile1 as p1
from gscodec.errors import InputError, StreamError
from gscodec.fit.motion import WOBBLE_MIN, MotionTrainer, quantize_mode, wobble
from gscodec.model import Gaussians, MotionMode, project_frames
from gscodec.render import available_backends, render_frames

cuda = pytest.mark.skipif("cuda" not in available_backends(), reason="needs a CUDA GPU and gsplat")


def scene(n: int = 40, seed: int = 0) -> Gaussians:
    gen = torch.Generator().manual_seed(seed)
    return Gaussians(
        xy=torch.rand(n, 2, generator=gen) * torch.tensor([32.0, 24.0]),
        tau=torch.rand(n, 1, generator=gen) * 4.0,
        vel=torch.randn(n, 2, generator=gen),
        acc=0.1 * torch.randn(n, 2, generator=gen),
        log_scale=torch.rand(n, 2, generator=gen) * 2.0 - 0.5,
        rot=torch.rand(n, 1, generator=gen) * math.pi,
        log_tscale=torch.full((n, 1), 1.0),
        color=torch.rand(n, 3, generator=gen),
        opacity=torch.rand(n, 1, generator=gen) * 4.0,
    )


def a_mode(frames: int = 4) -> MotionMode:
    path = torch.tensor([[0.0, 0.0], [1.5, -0.5], [-2.0, 1.0], [3.25, 2.0]])[:frames]
    return MotionMode(path, torch.tensor([0.9, 0.1, -0.05]))


def test_projection_adds_the_velocity_scaled_path() -> None:
    g, mode = scene(), a_mode()
    ts = [0.0, 1.0, 3.0]
    plain, moved = project_frames(g, ts), project_frames(g, ts, mode)
    assert torch.equal(plain.ids, moved.ids) and torch.equal(plain.frames, moved.frames)
    k = torch.tensor(ts)[moved.frames].long()
    s = 0.9 + 0.1 * g.vel[moved.ids, 0] - 0.05 * g.vel[moved.ids, 1]  # §10.3
    want = plain.means + s[:, None] * mode.path[k]
    assert torch.allclose(moved.means, want, atol=1e-5)
    assert not torch.allclose(moved.means, plain.means)
    for name in ("covs", "colors", "opacities", "depths"):  # the mode moves centres only
        assert torch.equal(getattr(plain, name), getattr(moved, name))


def test_projection_refuses_times_the_mode_does_not_cover() -> None:
    g, mode = scene(), a_mode()
    for ts in ([0.5], [4.0], [-1.0]):
        with pytest.raises(InputError, match="motion mode renders only the frames 0..3"):
            project_frames(g, ts, mode)
    with pytest.raises(InputError):
        MotionMode(torch.zeros(0, 2), torch.zeros(3))
    with pytest.raises(InputError):
        MotionMode(torch.zeros(2, 2), torch.zeros(2))


def test_the_mode_trains_its_path_and_coefficients() -> None:
    g, trainer = scene(), MotionTrainer(4)
    g.color.requires_grad_(True)  # as in a fit (the rasterizer keeps no graph for constant Gaussians)
    image = render_frames(g, [1.0, 2.0], 32, 24, backend="cpu", mode=trainer.mode())
    image.sum().backward()
    assert trainer.path.grad is not None and bool(trainer.path.grad[1:3].abs().sum() > 0)
    assert bool(trainer.path.grad[[0, 3]].abs().sum() == 0)  # frames not rendered get no gradient
    assert trainer.coef.grad is None or bool(trainer.coef.grad.abs().sum() == 0)  # the path is still 0
    trainer.step()
    assert bool(trainer.path.detach()[1:3].abs().sum() > 0)


def block(frames: int = 4) -> p1.MotionBlock:
    return quantize_mode(a_mode(frames))


def test_quantize_mode_picks_the_finest_shift_in_range() -> None:
    b = block()
    assert b.path_shift == 13 and b.coef_shift == 15  # 3.25 * 2^13 < 32767 < 3.25 * 2^14; 0.9 * 2^15 < 32767
    back = b.mode()
    assert torch.allclose(back.path, a_mode().path, atol=2.0**-14)
    assert torch.allclose(back.coef, a_mode().coef, atol=2.0**-16)
    big = quantize_mode(MotionMode(torch.tensor([[0.0, 40000.0]]), torch.tensor([1.0, 0.0, 0.0])))
    assert big.path_shift == 0 and int(big.path[0, 1]) == 32767  # beyond int16 even at shift 0: clamped


def test_wobble_is_zero_for_a_straight_path_and_follows_the_coefficients() -> None:
    k = torch.arange(8.0)
    straight = MotionMode(torch.stack([0.5 * k - 1.0, -0.25 * k], dim=1), torch.tensor([1.0, 0.0, 0.0]))
    assert wobble(straight, torch.zeros(5, 2)) < 1e-9
    zig = torch.stack([(-1.0) ** k, torch.zeros(8)], dim=1)
    assert wobble(MotionMode(zig, torch.tensor([1.0, 0.0, 0.0])), torch.zeros(5, 2)) > 0.9
    assert wobble(MotionMode(zig, torch.tensor([0.0, 0.0, 0.0])), torch.zeros(5, 2)) == 0.0
    assert WOBBLE_MIN > 0


def coded_segment(frames: int = 4, motion: p1.MotionBlock | None = None) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    points = np.stack([rng.integers(0, 128, 30), rng.integers(0, 96, 30), rng.integers(0, 8 * frames, 30)], axis=1)
    q = np.zeros((30, p1.NUM_CHANNELS), np.int64)
    q[:, 8:10] = rng.integers(-20, 20, (30, 2))  # velocities
    q[:, 5:8] = rng.integers(0, 60, (30, 3))
    nets = {c: p1.PriorNet.from_float(None, None, np.zeros((2, 3 + c)), np.array([0.0, 30.0]))
            for c in (5, 6, 7, 8, 9)}
    steps = np.full(p1.NUM_CHANNELS, -16)
    payload = p1.encode_segment(points, q, steps, nets, 2, 3, "morton", motion=motion)
    return payload, points, q


def test_payload_round_trip_state_and_layout() -> None:
    b = block()
    payload, _, _ = coded_segment(motion=b)
    plain, _, _ = coded_segment()
    st = p1.decode_segment(payload, 4)
    assert st.motion is not None and st.motion.to_bytes() == b.to_bytes()
    assert st.channel_mask == p1.MOTION_BIT | 0x3E0
    assert len(payload) == len(plain) + 10 + 4 * 4
    assert p1.layout(payload) == st.sizes and st.sizes["motion"] == 26 and sum(st.sizes.values()) == len(payload)
    ref = p1.decode_segment(plain)
    assert ref.motion is None and ref.sizes["motion"] == 0
    # The state bytes hold the block after the steps (§16.6); without it they are as before.
    parts = st.state_parts()
    assert parts[3] == b.to_bytes() and st.state_hash() != ref.state_hash()
    assert np.array_equal(st.q, ref.q) and np.array_equal(st.points, ref.points)


def test_decoder_checks_the_motion_block() -> None:
    payload, _, _ = coded_segment(motion=block())
    with pytest.raises(StreamError, match="covers 4 frames in a segment of 3"):
        p1.decode_segment(payload, 3)
    head = p1.HEAD.unpack_from(payload)
    start = p1.HEAD.size + head[-1] + p1.NUM_CHANNELS
    for cut, msg in ((start + 5, "motion mode cut short"), (start + 12, "motion path cut short"),
                     (start + 26, "too short for its coded channels")):
        with pytest.raises(StreamError, match=msg):
            p1.decode_segment(payload[:cut])
    bad = bytearray(payload)
    bad[start + 2] = 16
    with pytest.raises(StreamError, match="shift above 15"):
        p1.decode_segment(bytes(bad))
    bad = bytearray(payload)
    bad[start : start + 2] = b"\0\0"
    with pytest.raises(StreamError, match="path of 0 frames"):
        p1.decode_segment(bytes(bad))
    bad = bytearray(payload)
    bad[8:10] = (head[5] | 0x4000).to_bytes(2, "little")
    with pytest.raises(StreamError, match="reserved bits 13-15"):
        p1.decode_segment(bytes(bad))
    with pytest.raises(ValueError, match="shifts"):
        p1.encode_segment(np.zeros((1, 3)), np.zeros((1, 12)), np.zeros(12), {}, 0, 0,
                          motion=p1.MotionBlock(16, 0, np.zeros(3, np.int16), np.zeros((1, 2), np.int16)))


def test_decoded_frames_follow_the_mode() -> None:
    from gscodec.decode import render_segment

    b = block()
    payload, _, _ = coded_segment(motion=b)
    st = p1.decode_segment(payload, 4)
    frames = np.stack([f for _, f in render_segment(st, 32, 24, "cpu", 0, 4)])
    g = Gaussians.from_arrays(st.gaussian_arrays())
    from gscodec.render import to_uint8

    want = to_uint8(render_frames(g, [0.0, 1.0, 2.0, 3.0], 32, 24, backend="cpu", mode=b.mode())).numpy()
    plain = to_uint8(render_frames(g, [0.0, 1.0, 2.0, 3.0], 32, 24, backend="cpu")).numpy()
    assert np.array_equal(frames, want) and not np.array_equal(frames[1:], plain[1:])
    assert np.array_equal(frames[0], plain[0])  # the path is 0 at frame 0


@pytest.mark.cuda
@cuda
def test_cuda_renders_the_mode_as_the_cpu_does() -> None:
    g, mode = scene(300, seed=4), a_mode()
    ts = [0.0, 1.0, 2.0, 3.0]
    ref = render_frames(g, ts, 32, 24, backend="cpu", mode=mode)
    out = render_frames(g.to("cuda"), ts, 32, 24, backend="cuda", mode=mode.to("cuda")).cpu()
    diff = (out - ref).abs()
    assert float(diff.mean()) <= 1e-5 and float(diff.max()) <= 2e-2


def shaky_clip(frames: int = 6, seed: int = 1) -> np.ndarray:
    """A smooth texture seen by a shaking camera: every frame the same picture moved by a whole-pixel jitter."""
    h, w = 24, 32
    yy, xx = np.mgrid[0 : h + 8, 0 : w + 8]
    base = np.stack([0.5 + 0.4 * np.sin(xx / 3.0 + c) * np.cos(yy / 4.0 - c) for c in range(3)], axis=-1)
    jitter = [(0, 0), (2, 1), (-1, 2), (3, -2), (-2, -1), (1, 3)][:frames]
    return np.stack([(255 * base[4 + dy : 4 + dy + h, 4 + dx : 4 + dx + w]).astype(np.uint8) for dx, dy in jitter])


def test_gsenc_with_a_motion_mode_round_trips(tmp_path) -> None:
    from fractions import Fraction

    from gscodec.encode import EncodeSettings, encode
    from gscodec.video import open_writer

    clip = tmp_path / "clip.y4m"
    with open_writer(str(clip), 32, 24, Fraction(25)) as wr:
        for img in shaky_clip():
            wr.write(img)
    out = tmp_path / "out.gsv"
    settings = EncodeSettings(input=str(clip), output=str(out), preset="fast", iterations=40, device="cpu",
                              segment_frames=6, motion_mode="on", pilot=False)
    report = encode(settings)  # test-decode on: the decoded state equals the encoded one, mode included
    assert report.segments[0].motion
    from gscodec.bitstream import GsvReader

    with open(out, "rb") as f:
        reader = GsvReader(f)
        seg = next(iter(reader.segments()))
        st = p1.decode_segment(seg.payload, seg.frame_count)
        assert reader.metadata.get("motion_mode") == "on"
    assert st.motion is not None and st.motion.frames == 6
    info = subprocess.run([sys.executable, "-m", "gscodec.cli.gsinfo", str(out)], capture_output=True, text=True)
    assert info.returncode == 0 and "motion" in info.stdout
    dec = subprocess.run([sys.executable, "-m", "gscodec.cli.gsdec", str(out), "-o", str(tmp_path / "f"), "-q"],
                         capture_output=True, text=True)
    assert dec.returncode == 0, dec.stderr
    off = EncodeSettings(**{**settings.__dict__, "output": str(tmp_path / "off.gsv"), "motion_mode": "off"})
    assert not encode(off).segments[0].motion


def test_gsenc_refuses_an_unknown_motion_mode(tmp_path) -> None:
    from gscodec.encode import EncodeSettings, encode

    with pytest.raises(InputError, match="--motion-mode sometimes"):
        encode(EncodeSettings(input=str(tmp_path / "x.mp4"), output=str(tmp_path / "o.gsv"), motion_mode="sometimes"))


def test_flow_guidance_counts_the_mode_in_each_splat_s_displacement() -> None:
    """loss.flow_loss: a splat moves from frame k to k + 1 by vel + acc (d + 1/2) + s (P[k+1] - P[k])."""
    from gscodec.fit.loss import flow_loss

    g, mode = scene(60, seed=5), a_mode()
    ts = torch.tensor([0.0, 1.0, 2.0])
    splats = project_frames(g, ts, mode)
    flow = torch.zeros(3, 3, 24, 32)
    flow[:, 2] = 1.0  # weight 1, flow 0: the loss is the mean |displacement|, weighted by opacity
    got = flow_loss(g, splats, ts, flow, 32, 24, mode)
    k = ts[splats.frames].long()
    d = ts[splats.frames] - g.tau[splats.ids, 0]
    s = 0.9 + 0.1 * g.vel[splats.ids, 0] - 0.05 * g.vel[splats.ids, 1]
    disp = g.vel[splats.ids] + g.acc[splats.ids] * (d + 0.5)[:, None] + s[:, None] * (mode.path[k + 1] - mode.path[k])
    pos = splats.means.detach()
    grid = torch.stack([2.0 * pos[:, 0] / 32 - 1.0, 2.0 * pos[:, 1] / 24 - 1.0], dim=-1).view(1, 1, -1, 2)
    weight = torch.nn.functional.grid_sample(flow[:1, 2:3], grid, align_corners=False)[0, 0, 0]  # zeros beyond
    w = weight * splats.opacities * ((pos[:, 0] >= 0) & (pos[:, 0] <= 32) & (pos[:, 1] >= 0) & (pos[:, 1] <= 24))
    want = (w * disp.abs().sum(-1)).sum() / w.sum()
    assert torch.allclose(got, want, rtol=1e-5)
    assert not torch.allclose(flow_loss(g, splats, ts, flow, 32, 24), want, rtol=1e-3)


def test_dropping_a_straight_mode_keeps_the_picture() -> None:
    """fit.motion.fold_straight_part: a straight path's displacement moves into positions and velocities."""
    from gscodec.fit.motion import fold_straight_part

    g = scene(80, seed=6)
    k = torch.arange(4.0)
    straight = MotionMode(torch.stack([0.7 * k - 0.4, -0.3 * k + 0.2], dim=1), torch.tensor([0.8, 0.05, -0.1]))
    ts = [0.0, 1.0, 2.0, 3.0]
    want = project_frames(g, ts, straight)
    got = project_frames(fold_straight_part(straight, g), ts)
    assert torch.equal(want.ids, got.ids) and torch.allclose(want.means, got.means, atol=1e-4)
    wobbly = MotionMode(straight.path + torch.tensor([[0.0, 0.0], [0.5, 0.0], [0.0, 0.0], [0.0, 0.0]]), straight.coef)
    assert not torch.allclose(project_frames(fold_straight_part(wobbly, g), ts).means,
                              project_frames(g, ts, wobbly).means, atol=1e-2)


def test_worker_processes_refuse_a_path_of_the_wrong_length_as_the_decoder_does() -> None:
    """The frame count travels with the payload to a worker process, so it is checked before the geometry."""
    import io
    from pathlib import Path

    from gscodec.bitstream import GsvReader
    from gscodec.decode import decode_frames

    data = (Path(__file__).resolve().parent.parent / "conformance" / "streams" / "faulty"
            / "gsv1-faulty-83-p1-motion-path-frames-mismatch.gsv").read_bytes()
    for workers in (1, 2):
        with pytest.raises(StreamError, match="covers 3 frames in a segment of 2"):
            list(decode_frames(GsvReader(io.BytesIO(data)), "cpu", prefetch=True, workers=workers))


def test_gsenc_auto_drops_the_mode_of_a_still_clip(tmp_path) -> None:
    """A clip without camera motion: the path the fit learns stays near a straight line, so ``auto``
    folds it into the Gaussians and writes no motion block; the test-decode still holds."""
    from fractions import Fraction

    from gscodec.encode import EncodeSettings, encode
    from gscodec.video import open_writer

    clip = tmp_path / "still.y4m"
    with open_writer(str(clip), 32, 24, Fraction(25)) as wr:
        for _ in range(6):
            wr.write(shaky_clip(1)[0])
    report = encode(EncodeSettings(input=str(clip), output=str(tmp_path / "s.gsv"), preset="fast", iterations=40,
                                   device="cpu", segment_frames=6, pilot=False))
    assert not report.segments[0].motion and report.segments[0].psnr > 15


def test_the_shake_path_is_the_picture_s_wobble_the_flow_sees() -> None:
    """fit.motion.shake_path: the running sum of the picture's frame-to-frame shift, less its straight line."""
    from gscodec.fit.flow import dis_flow
    from gscodec.fit.motion import shake_path

    jitter = np.array([(0, 0), (2, 1), (-1, 2), (3, -2), (-2, -1), (1, 3)], np.float64)
    where = -(jitter - jitter[0])  # the camera moves by the jitter, so the picture moves the other way
    k = np.arange(6.0)[:, None]
    slope = ((k - k.mean()) * (where - where.mean(0))).sum(0) / ((k - k.mean()) ** 2).sum()
    want = where - where.mean(0) - (k - k.mean()) * slope
    got = shake_path(dis_flow(shaky_clip()))
    assert got.shape == (6, 2) and np.abs(got - want).max() < 0.05
    still = shake_path(dis_flow(np.repeat(shaky_clip(1), 4, axis=0)))
    assert np.abs(still).max() < 1e-3


def test_initial_gaussians_with_a_mode_start_on_their_samples() -> None:
    """fit.init.initial_gaussians: with the mode's displacement added, each Gaussian is where its sample was
    at its home frame, and its velocity plus the mode's own motion there is the flow's velocity (the mode's
    factor s = a + b vx + c vy taken, as the renderer takes it, from the Gaussian's own velocity)."""
    from gscodec.fit.config import FitConfig
    from gscodec.fit.flow import dis_flow
    from gscodec.fit.init import initial_gaussians

    frames = shaky_clip()
    flow = dis_flow(frames)
    config = FitConfig(iterations=1, gaussians=200)
    path = torch.tensor([[0.0, 0.0], [1.0, -0.5], [3.0, 0.5], [2.0, 2.0], [0.5, 1.0], [-1.0, 0.0]])
    p = path.numpy()
    step = np.diff(p, axis=0)
    motion = 0.5 * (np.concatenate([step, step[-1:]]) + np.concatenate([step[:1], step]))
    plain = initial_gaussians(frames, 200, config, np.random.default_rng(3), flow)
    tau = plain["tau"][:, 0]
    home = np.clip(np.floor(tau + 0.5), 0, 5).astype(int)
    sample = plain["xy"] + plain["vel"] * (home - tau)[:, None]
    for coef in ([1.0, 0.0, 0.0], [0.8, 0.3, -0.2]):
        mode = MotionMode(path, torch.tensor(coef))
        moved = initial_gaussians(frames, 200, config, np.random.default_rng(3), flow, mode)
        for name in ("tau", "color", "log_scale", "opacity"):
            np.testing.assert_array_equal(moved[name], plain[name])
        g = Gaussians.from_arrays(moved, "cpu")
        s = (coef[0] + moved["vel"] @ np.array(coef[1:], np.float32))[:, None]
        np.testing.assert_allclose(moved["vel"] + s * motion[home], plain["vel"], atol=1e-4)
        for k in range(6):  # rendered at its home frame, each Gaussian sits on its sample
            at = home == k
            splats = project_frames(Gaussians.from_arrays({n: v[at] for n, v in moved.items()}, "cpu"), [float(k)],
                                    mode)
            want = sample[at][splats.ids.numpy()]
            np.testing.assert_allclose(splats.means.detach().numpy(), want, atol=1e-3)
        assert g.vel.shape == (200, 2)


def test_initial_gaussians_without_a_flow_place_on_the_mode_but_keep_still() -> None:
    """No flow (or motion_degree 0): velocities stay 0; the Gaussians are still placed on their samples."""
    from gscodec.fit.config import FitConfig
    from gscodec.fit.flow import dis_flow
    from gscodec.fit.init import initial_gaussians

    frames = shaky_clip()
    path = torch.tensor([[0.0, 0.0], [1.0, -0.5], [3.0, 0.5], [2.0, 2.0], [0.5, 1.0], [-1.0, 0.0]])
    mode = MotionMode(path, torch.tensor([0.9, 0.1, 0.0]))
    cases = [(FitConfig(iterations=1, gaussians=100), None),
             (FitConfig(iterations=1, gaussians=100, motion_degree=0), dis_flow(frames))]
    for config, flow in cases:
        plain = initial_gaussians(frames, 100, config, np.random.default_rng(4), None)
        moved = initial_gaussians(frames, 100, config, np.random.default_rng(4), flow, mode)
        assert not moved["vel"].any()
        home = np.clip(np.floor(plain["tau"][:, 0] + 0.5), 0, 5).astype(int)
        np.testing.assert_allclose(moved["xy"] + 0.9 * path.numpy()[home], plain["xy"], atol=1e-5)


def test_global_shift_ignores_untrusted_and_non_finite_vectors() -> None:
    """FlowField.global_shift: the median of the trusted finite vectors; 0 where too few are trusted."""
    from gscodec.fit.flow import MIN_SHIFT_SAMPLES, FlowField

    h, w = 80, 96  # on the grid of every 4th pixel: 480 samples
    forward = np.zeros((3, h, w, 2), np.float32)
    forward[..., 0], forward[..., 1] = 2.0, -1.0
    weight = np.ones((3, h, w), np.float32)
    forward[0, :20] = 50.0  # a quarter of pair 0 untrusted and wrong
    weight[0, :20] = 0.1
    forward[1, :5, :5] = np.nan  # non-finite vectors, trusted by their weight
    weight[2] = 0.0  # pair 2: nothing trusted...
    weight[2, 0, : 4 * (MIN_SHIFT_SAMPLES - 1) : 4] = 1.0  # ...but one sample short of enough
    flow = FlowField(forward, -forward, weight)
    np.testing.assert_array_equal(flow.global_shift(), [[2.0, -1.0], [2.0, -1.0], [0.0, 0.0]])
    weight[2, 0, 4 * (MIN_SHIFT_SAMPLES - 1)] = 1.0
    np.testing.assert_array_equal(flow.global_shift(), [[2.0, -1.0], [2.0, -1.0], [2.0, -1.0]])
    with pytest.raises(ValueError, match="stride"):
        flow.global_shift(stride=0)
    off_grid = np.ones((3, 20, 24), np.float32)
    off_grid[:, ::4] = 0.0  # none trusted on the rows of the grid of every 4th pixel (30 samples there)...
    small = FlowField(forward[:, 20:40, :24], -forward[:, 20:40, :24], off_grid)
    np.testing.assert_array_equal(small.global_shift()[0], [2.0, -1.0])  # ...so on so small a frame, every pixel


def test_the_fit_starts_the_mode_from_the_shake() -> None:
    """fit_segment sets a fresh mode's path to shake_path before its first step and starts the Gaussians on
    it; Adam then moves the path at most LR_PATH a step. A mode that has taken steps keeps its path in a
    later fit; with shake_start off the path starts from 0."""
    from gscodec.fit import loop
    from gscodec.fit.config import FitConfig
    from gscodec.fit.flow import dis_flow
    from gscodec.fit.motion import LR_PATH, shake_path

    frames = shaky_clip()
    config = FitConfig(gaussians=150, iterations=3, densify_events=0)
    seen = []
    real_init = loop.initial_gaussians

    def spy(*args, **kwargs):
        mode = args[5] if len(args) > 5 else kwargs.get("mode")
        seen.append(None if mode is None else mode.path.detach().clone())  # the trainer's path moves on
        return real_init(*args, **kwargs)

    trainer = MotionTrainer(6)
    start = shake_path(dis_flow(frames))
    try:
        loop.initial_gaussians = spy
        loop.fit_segment(frames, config, motion=trainer)
        assert seen[-1] is not None and np.allclose(seen[-1].numpy(), start, atol=1e-6)
        assert trainer.steps == 3
        assert np.abs(trainer.path.detach().numpy() - start).max() <= 3 * LR_PATH * 1.01
        assert np.abs(start).max() > 1.0
        before = trainer.path.detach().clone()
        loop.fit_segment(frames, config.replace(iterations=1), motion=trainer)  # a stepped mode: no restart
        assert trainer.steps == 4 and float((trainer.path.detach() - before).abs().max()) <= LR_PATH * 1.01
    finally:
        loop.initial_gaussians = real_init
    with pytest.raises(RuntimeError, match="before its first step"):
        trainer.start_from(start)
    with pytest.raises(ValueError, match="shape"):
        MotionTrainer(6).start_from(start.T)
    fresh = MotionTrainer(6)
    loop.fit_segment(frames, config.replace(iterations=1, shake_start=False), motion=fresh)
    assert float(fresh.path.detach().abs().max()) <= LR_PATH * 1.01

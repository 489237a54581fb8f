"""Profile 1: the fixed-point prior, the payload round trip, damage, and float paths that must not matter."""

from __future__ import annotations

import numpy as np
import pytest

from gscodec.bitstream import profile1 as p1
from gscodec.entropy import R
from gscodec.errors import StreamError, UnsupportedError


def random_state(n: int = 300, hidden: int = 4, seed: int = 0, coded: tuple[int, ...] = tuple(range(10)),
                 extent: tuple[int, int, int] = (200, 120, 16), correlated: bool = True):
    """Grid points in ``extent``, clamped symbols (Laplace per channel; colours 5 and 6 correlated when asked),
    steps and priors of one segment. Shared by the profile 1 tests (gsinfo's too)."""
    rng = np.random.default_rng(seed)
    points = np.stack([rng.integers(0, e, n) for e in extent], axis=1)
    q = np.zeros((n, p1.NUM_CHANNELS), dtype=np.int64)
    for c in coded:
        q[:, c] = np.round(rng.laplace(rng.integers(-20, 20), 1 + 3 * rng.random(), n))
    if correlated:
        q[:, 6] += q[:, 5] // 2  # correlated channels, as colours are
    nets = {}
    for c in coded:
        n_in = p1.POSITION_FEATURES + c
        w1 = rng.normal(0, 0.01, (hidden, n_in)) if hidden else None
        b1 = rng.normal(0, 1, hidden) if hidden else None
        w2 = rng.normal(0, 0.1, (2, hidden or n_in))
        b2 = np.array([float(np.mean(q[:, c])) if n else 0.0, 20.0])
        nets[c] = p1.PriorNet.from_float(w1, b1, w2, b2)
    steps = rng.integers(-30, 0, p1.NUM_CHANNELS)
    q = p1.clamp_symbols(points, q, nets)
    return points, q, steps, nets


def test_position_features_span_the_fixed_point_range():
    pts = np.array([[0, 10, 3], [100, 10, 5], [50, 11, 4]])
    f = p1.position_features(pts)
    assert f.dtype == np.int64
    assert f[:, 0].tolist() == [-1024, 1024, 0]
    assert f[:, 1].tolist() == [-1024, -1024, 1024]
    assert f[:, 2].tolist() == [-1024, 1024, 0]
    assert p1.position_features(np.array([[7, 7, 7]])).tolist() == [[0, 0, 0]]


@pytest.mark.parametrize("hidden", [0, 3])
def test_prior_net_fixed_point_follows_its_float_network(hidden):
    rng = np.random.default_rng(1)
    n_in = 6
    w1 = rng.normal(0, 0.002, (hidden, n_in)) if hidden else None
    b1 = rng.normal(0, 1, hidden) if hidden else None
    w2 = rng.normal(0, 0.05 if hidden else 0.002, (2, hidden or n_in))
    b2 = np.array([3.0, 30.0])
    net = p1.PriorNet.from_float(w1, b1, w2, b2)
    f = rng.integers(-1024, 1025, (500, n_in))
    h = np.maximum(f @ w1.T + b1, 0) if hidden else f
    want = h @ w2.T + b2
    mu, k = net.evaluate(f)
    assert np.max(np.abs(mu - want[:, 0])) <= 1.0
    assert np.max(np.abs(k - np.clip(want[:, 1], 0, p1.SCALE_LEVELS - 1))) <= 1.0
    back, end = p1.PriorNet.from_bytes(net.to_bytes(), 0, n_in, hidden)
    assert end == net.byte_size() == len(net.to_bytes())
    assert back.to_bytes() == net.to_bytes()
    assert all(np.array_equal(a, b) for a, b in zip(back.evaluate(f), net.evaluate(f)))


def test_prior_net_arithmetic_is_flooring_integer_arithmetic():
    net = p1.PriorNet(2, 0, np.zeros((0, 2), np.int16), np.zeros(0, np.int32), 0,
                      np.array([[3, -5], [0, 7]], np.int16), np.array([-9, 100], np.int32), 2)
    f = np.array([[5, 4], [-3, 1]])
    o0 = (np.array([15 - 20 - 9, -9 - 5 - 9]) >> 2)  # floor shifts: -14 >> 2 = -4, -23 >> 2 = -6
    mu, k = net.evaluate(f)
    assert mu.tolist() == ((o0 + 8) >> 4).tolist() == [0, 0]
    assert k.tolist() == [((28 + 100 >> 2) + 8) >> 4, ((7 + 100 >> 2) + 8) >> 4]


@pytest.mark.parametrize("hidden", [0, 4])
def test_payload_round_trip(hidden):
    points, q, steps, nets = random_state(hidden=hidden)
    payload = p1.encode_segment(points, q, steps, nets, 1, 2)
    st = p1.decode_segment(payload)
    perm = np.lexsort((points[:, 0], points[:, 1], points[:, 2]))
    assert np.array_equal(st.points, points[perm])
    assert np.array_equal(st.q, q[perm])
    assert st.steps.tolist() == steps.tolist()
    assert sorted(st.nets) == sorted(nets) and st.hidden == hidden
    assert (st.xy_shift, st.t_shift) == (1, 2)
    assert sum(st.sizes.values()) == len(payload)
    assert p1.peek_segment(payload)[0] == len(points)
    arrays = st.gaussian_arrays()
    assert np.allclose(arrays["xy"], st.points[:, :2] / 2) and np.allclose(arrays["tau"], st.points[:, 2:] / 4)
    assert np.allclose(arrays["color"][:, 1], st.q[:, 6] * 2.0 ** (steps[6] / 4))
    assert np.all(arrays["acc"] == 0)  # channels 10, 11 are not coded
    # Same state, same hash; the encoder is deterministic.
    assert p1.encode_segment(points, q, steps, nets, 1, 2) == payload
    assert p1.decode_segment(payload).state_hash() == st.state_hash()


def test_entropy_coding_beats_raw_symbols():
    points, q, steps, nets = random_state(n=2000, hidden=0)
    payload = p1.encode_segment(points, q, steps, nets, 0, 0)
    st = p1.decode_segment(payload)
    coded = sum(st.sizes[g] for g in p1.GROUPS)
    assert coded < 10 * 2 * len(points)  # under 16 bits per coded symbol
    assert coded > 0


def test_empty_segment():
    nets: dict[int, p1.PriorNet] = {}
    payload = p1.encode_segment(np.zeros((0, 3), np.int64), np.zeros((0, 12), np.int64), np.zeros(12, np.int64),
                                nets, 0, 0)
    st = p1.decode_segment(payload)
    assert len(st) == 0 and st.gaussian_arrays()["xy"].shape == (0, 2)


def test_encoder_refuses_what_it_cannot_carry():
    points, q, steps, nets = random_state(n=50, hidden=0)
    wild = q.copy()
    wild[0, 0] += 10 * R
    with pytest.raises(ValueError, match="residual"):
        p1.encode_segment(points, wild, steps, nets, 0, 0)
    clamped = p1.clamp_symbols(points, wild, nets)
    p1.encode_segment(points, clamped, steps, nets, 0, 0)
    stray = q.copy()
    stray[0, 11] = 1
    with pytest.raises(ValueError, match="no prior"):
        p1.encode_segment(points, stray, steps, nets, 0, 0)


def test_damage_gives_stream_errors_only():
    points, q, steps, nets = random_state(n=40, hidden=2, coded=(0, 1, 5))
    payload = p1.encode_segment(points, q, steps, nets, 0, 0)
    for cut in range(len(payload)):
        with pytest.raises(StreamError):
            p1.decode_segment(payload[:cut])
    with pytest.raises(StreamError):
        p1.decode_segment(payload + b"\0")
    rng = np.random.default_rng(3)
    for pos in range(len(payload)):
        bad = bytearray(payload)
        bad[pos] ^= 1 << int(rng.integers(8))
        try:
            p1.decode_segment(bytes(bad))
        except (StreamError, UnsupportedError):
            pass


def test_float_paths_do_not_change_the_decoded_state(monkeypatch):
    """Bits to decoded state is integer only: perturbing every float step after it changes no symbol."""
    points, q, steps, nets = random_state(hidden=4)
    payload = p1.encode_segment(points, q, steps, nets, 1, 1)
    ref = p1.decode_segment(payload)
    ref_color = ref.gaussian_arrays()["color"]
    monkeypatch.setattr(p1, "step_of", lambda e: np.exp2(np.asarray(e, np.float64) / 4) * (1 + 1e-3))
    np_exp2, np_log2 = np.exp2, np.log2
    monkeypatch.setattr(np, "exp2", lambda x, *a, **k: np_exp2(x, *a, **k) * (1 + 1e-7))
    monkeypatch.setattr(np, "log2", lambda x, *a, **k: np_log2(x, *a, **k) * (1 + 1e-7))
    st = p1.decode_segment(payload)
    assert st.state_hash() == ref.state_hash()
    assert not np.array_equal(st.gaussian_arrays()["color"], ref_color)


def test_layout_counts_every_byte_without_decoding():
    points, q, steps, nets = random_state(hidden=3)
    payload = p1.encode_segment(points, q, steps, nets, 0, 0)
    assert p1.layout(payload) == p1.decode_segment(payload).sizes
    assert sum(p1.layout(payload).values()) == len(payload)
    with pytest.raises(StreamError):
        p1.layout(payload[:-1])


def _evaluate_int64(net: p1.PriorNet, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """format_spec.md §16.3 written out in int64 arithmetic, the reference for the float64 evaluation."""
    f = f.astype(np.int64)
    if net.hidden:
        f = np.clip((f @ net.w1.astype(np.int64).T + net.b1.astype(np.int64)) >> net.s1, 0, p1.FEATURE_LIMIT)
    o = (f @ net.w2.astype(np.int64).T + net.b2.astype(np.int64)) >> net.s2
    mu = np.clip((o[:, 0] + 8) >> 4, -p1.MU_LIMIT, p1.MU_LIMIT)
    return mu, np.clip((o[:, 1] + 8) >> 4, 0, p1.SCALE_LEVELS - 1)


@pytest.mark.parametrize("hidden", [0, 1, 8, 32])
def test_prior_evaluation_is_exact_at_the_extremes(hidden: int) -> None:
    """Weights, biases, inputs and shifts at their limits: the float64 path equals int64 arithmetic exactly."""
    rng = np.random.default_rng(hidden)
    n_in = p1.POSITION_FEATURES + 11
    extremes16 = np.array([32767, -32767, -32768, 0, 1, -1], np.int16)
    extremes32 = np.array([2**31 - 1, -(2**31), 0, 1, -1, 2**30], np.int64).astype(np.int32)
    rows = 3 * p1.EVALUATE_BLOCK // 2 + 7  # more than one block
    f = rng.choice([32767, -32767, 1024, -1024, 0, 1, -1], (rows, n_in)).astype(np.int64)
    f[: rows // 2] = rng.integers(-32767, 32768, (rows // 2, n_in))
    for s1, s2 in ((0, 0), (31, 31), (7, 13), (0, 31)):
        w1 = rng.choice(extremes16, (hidden, n_in)) if hidden else np.zeros((0, n_in), np.int16)
        b1 = rng.choice(extremes32, hidden) if hidden else np.zeros(0, np.int32)
        w2 = rng.choice(extremes16, (2, hidden or n_in))
        b2 = rng.choice(extremes32, 2)
        net = p1.PriorNet(n_in, hidden, w1, b1, s1 if hidden else 0, w2, b2, s2)
        got, want = net.evaluate(f), _evaluate_int64(net, f)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_every_int8_step_exponent_round_trips() -> None:
    """The format allows step exponents -128..127 (format_spec.md §16.1, §16.3); the encoder writes all of them."""
    points, q, _steps, nets = random_state(n=20, seed=3)
    for e in (-128, 127):
        steps = np.full(p1.NUM_CHANNELS, e)
        back = p1.decode_segment(p1.encode_segment(points, q, steps, nets, 2, 3))
        assert back.steps.tolist() == steps.tolist()
    with pytest.raises(ValueError, match="int8"):
        p1.encode_segment(points, q, np.full(p1.NUM_CHANNELS, 128), nets, 2, 3)

"""Profile 1 entropy coding: the constant Laplace tables, the range coder over them and the float twin."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import constriction
import numpy as np
import pytest
import torch

from gscodec.entropy import make_tables, tables
from gscodec.entropy.coder import decode_residuals, encode_residuals, estimate_bits
from gscodec.entropy.tables import B_MIN, LEVELS_PER_OCTAVE, K, R
from gscodec.entropy.twin import laplace_bits
from gscodec.errors import StreamError

N = 2 * R + 1


def _draw(rng: np.random.Generator, index: np.ndarray) -> np.ndarray:
    """Residuals drawn from each index's own table row."""
    w = tables.table().astype(np.float64)
    out = np.empty(index.size, dtype=np.int64)
    for k in np.unique(index):
        sel = index == k
        out[sel] = rng.choice(N, size=int(sel.sum()), p=w[k] / w[k].sum()) - R
    return out


def _laplace_like(rng: np.random.Generator, index: np.ndarray) -> np.ndarray:
    """Rounded Laplace residuals of each index's scale, clipped to [-R, R]."""
    scale = B_MIN * 2.0 ** (index / LEVELS_PER_OCTAVE)
    return np.clip(np.rint(rng.laplace(0.0, scale)), -R, R).astype(np.int64)


# --- tables ----------------------------------------------------------------------------------


def test_table_shape_weights_and_sums() -> None:
    t = tables.table()
    assert t.shape == (K, N) and t.dtype == np.uint16
    assert t.min() >= 1
    assert np.all(t.astype(np.int64).sum(axis=1) == 1 << tables.PROB_BITS)
    assert not t.flags.writeable
    # Apart from the end bins (which hold the folded tails), the weights peak at r = 0 and fall away from it.
    inner = t[:, 1:-1]
    assert np.all(t[:, R] == inner.max(axis=1))
    right = t[:, R : N - 1].astype(np.int64)
    assert np.all(np.diff(right, axis=1) <= 1)
    # Symmetric up to the one unit the largest-remainder step may give one side.
    assert np.abs(t.astype(np.int64) - t[:, ::-1].astype(np.int64)).max() <= 1


def test_table_hash_is_pinned() -> None:
    data = tables.DATA_FILE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == tables.DATA_SHA256
    assert len(data) == K * N * 2


def test_table_load_refuses_a_different_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    tables.table.cache_clear()
    monkeypatch.setattr(tables, "DATA_SHA256", "0" * 64)
    try:
        with pytest.raises(RuntimeError, match="damaged"):
            tables.table()
    finally:
        monkeypatch.undo()
        tables.table.cache_clear()
    assert tables.table().shape == (K, N)


def test_regenerating_gives_the_same_bytes(tmp_path) -> None:
    assert make_tables.table_bytes() == tables.DATA_FILE.read_bytes()
    out = tmp_path / "t.bin"
    assert make_tables.main(["--out", str(out)]) == 0
    assert out.read_bytes() == tables.DATA_FILE.read_bytes()
    assert make_tables.main(["--check"]) == 0


def test_quantise_is_exact_and_close() -> None:
    p = make_tables.laplace_masses(3.0)
    assert abs(p.sum() - 1.0) < 1e-12 and np.all(p > 0)
    w = make_tables.quantise(p)
    assert w.sum() == 65536 and w.min() >= 1
    big = w >= 64
    assert np.all(np.abs(np.log2(w[big] / (p[big] * 65536))) < 0.03)


def test_scales_and_index_for_scale() -> None:
    assert tables.scale_of(0) == B_MIN
    assert tables.scale_of(LEVELS_PER_OCTAVE) == pytest.approx(2 * B_MIN)
    assert 240 < tables.scale_of(K - 1) < 250
    for k in range(K):
        assert tables.index_for_scale(tables.scale_of(k)) == k
        assert tables.index_for_scale(tables.scale_of(k + 0.49)) == min(k, K - 1)
        assert tables.index_for_scale(tables.scale_of(k - 0.49)) == k
    assert tables.index_for_scale(tables.scale_of(10.5)) == 11
    assert tables.index_for_scale(0.0) == 0 and tables.index_for_scale(-3.0) == 0 and tables.index_for_scale(1e-9) == 0
    assert tables.index_for_scale(1e9) == K - 1 and tables.index_for_scale(float("inf")) == K - 1
    with pytest.raises(ValueError):
        tables.index_for_scale(float("nan"))


def test_row_entropy() -> None:
    h = tables.row_entropy_bits()
    assert h.shape == (K,)
    w = tables.table()[20].astype(np.float64) / 65536
    assert h[20] == pytest.approx(-(w * np.log2(w)).sum(), rel=1e-12)
    # Row 0 is dominated by the 1024 bins of weight 1; a wide row is near the Laplace's differential
    # entropy log2(2e b), a little above it because every bin far out in the tail keeps weight 1.
    assert 0.2 < h[0] < 0.3
    laplace = np.log2(2 * np.e * tables.scale_of(45))
    assert laplace < h[45] < laplace + 0.2


def test_fixed_point_models_follow_the_integer_formula() -> None:
    """constriction's model of row k has left cumulatives floor(C_i (2**24 - n) / 2**16) + i exactly.

    Probes every symbol boundary of every row through the decoder: a fresh range decoder whose
    first word is v << 8 decodes the symbol whose fixed-point interval holds v.
    """
    from gscodec.entropy.coder import _models

    t = tables.table().astype(np.int64)
    for k in range(K):
        c = np.concatenate([[0], np.cumsum(t[k])])
        cdf = (c * (2**24 - N)) // 2**16 + np.arange(N + 1)
        assert cdf[-1] == 2**24
        model = _models()[k]
        for s in range(N):
            for v in (cdf[s], cdf[s + 1] - 1):
                dec = constriction.stream.queue.RangeDecoder(np.array([int(v) << 8, 0], dtype=np.uint32))
                assert dec.decode(model) == s, (k, s, v)


# --- coder -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64])
def test_round_trip_random(dtype: type) -> None:
    rng = np.random.default_rng(1)
    index = rng.integers(0, K, 5000)
    res = _laplace_like(rng, index)
    lim = np.iinfo(dtype).max
    res = np.clip(res, -lim, lim).astype(dtype)
    data = encode_residuals(res, index)
    out = decode_residuals(data, index)
    assert out.dtype == np.int32 and np.array_equal(out, res)


def test_round_trip_special_cases() -> None:
    rng = np.random.default_rng(2)
    every = np.arange(K)
    cases = [
        (np.zeros(1000, dtype=np.int64), rng.integers(0, K, 1000)),  # all zero
        (np.zeros(1000, dtype=np.int64), np.zeros(1000, dtype=np.int64)),  # all zero, narrowest row
        (np.tile([-R, R], K), np.repeat(every, 2)),  # extremes in every row
        (np.full(K, R), every),
        (np.full(K, -R), every),
        (rng.integers(-R, R + 1, 3000), rng.integers(0, K, 3000)),  # uniform over the support
        (np.arange(-R, R + 1), np.zeros(N, dtype=np.int64)),  # every symbol in row 0
        (np.arange(-R, R + 1), np.full(N, K - 1)),
    ]
    for res, index in cases:
        out = decode_residuals(encode_residuals(res, index), index)
        assert np.array_equal(out, res)
    for r in (-R, -1, 0, 1, R):  # one symbol
        for k in (0, 31, K - 1):
            data = encode_residuals(np.array([r]), np.array([k]))
            assert len(data) in (4, 8)
            assert decode_residuals(data, np.array([k])).tolist() == [r]


def test_empty() -> None:
    assert encode_residuals(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)) == b""
    out = decode_residuals(b"", np.zeros(0, dtype=np.int64))
    assert out.dtype == np.int32 and out.size == 0
    with pytest.raises(StreamError):
        decode_residuals(b"\x01\x00\x00\x00", np.zeros(0, dtype=np.int64))


def test_coding_order_is_by_index_then_array_order() -> None:
    """The stream equals one range coder fed the groups of ascending index, each in array order."""
    rng = np.random.default_rng(3)
    index = rng.integers(0, K, 4000)
    res = _laplace_like(rng, index)
    p = tables.table().astype(np.float64) / 65536
    enc = constriction.stream.queue.RangeEncoder()
    for k in range(K):
        sel = index == k
        if sel.any():
            model = constriction.stream.model.Categorical(p[k], perfect=False)
            enc.encode((res[sel] + R).astype(np.int32), model)
    assert encode_residuals(res, index) == enc.get_compressed().astype("<u4").tobytes()


def test_size_matches_estimate() -> None:
    """Coded bits exceed the information content by less than the final word plus one bit, and 0.1 %."""
    rng = np.random.default_rng(4)
    for trial in range(400):
        n = int(rng.integers(1, 60)) if trial < 390 else int(rng.integers(1000, 50000))
        index = rng.integers(0, K, n)
        res = rng.integers(-R, R + 1, n) if trial % 3 == 0 else _laplace_like(rng, index)
        bits = 8 * len(encode_residuals(res, index))
        est = estimate_bits(res, index)
        assert est == pytest.approx(tables.info_bits()[index, res + R].sum())
        assert est - 0.001 * est - 1 <= bits <= est + 33 + 0.001 * est, (n, bits, est)


def test_size_matches_row_entropy_on_the_tables_own_distribution() -> None:
    rng = np.random.default_rng(5)
    index = rng.integers(0, K, 200_000)
    res = _draw(rng, index)
    bits = 8 * len(encode_residuals(res, index))
    expected = tables.row_entropy_bits()[index].sum()
    assert abs(bits - expected) < 0.01 * expected
    assert np.array_equal(decode_residuals(encode_residuals(res, index), index), res)


def test_bad_arguments_are_value_errors() -> None:
    idx = np.zeros(3, dtype=np.int64)
    with pytest.raises(ValueError):
        encode_residuals(np.array([0, R + 1, 0]), idx)
    with pytest.raises(ValueError):
        encode_residuals(np.array([0, -R - 1, 0]), idx)
    with pytest.raises(ValueError):
        encode_residuals(np.array([0.0, 1.0, 2.0]), idx)
    with pytest.raises(ValueError):
        encode_residuals(np.array([0, 1, 2]), np.array([0, K, 0]))
    with pytest.raises(ValueError):
        encode_residuals(np.array([0, 1, 2]), np.array([0, -1, 0]))
    with pytest.raises(ValueError):
        encode_residuals(np.array([0, 1]), idx)
    with pytest.raises(ValueError):
        estimate_bits(np.array([0, 1, R + 1]), idx)
    with pytest.raises(ValueError):
        decode_residuals(b"", np.array([0, K]))


def test_corrupt_streams_raise_stream_error_or_decode_wrongly() -> None:
    """Every byte flip, truncation and extension of a small stream: StreamError or a (wrong) array."""
    rng = np.random.default_rng(6)
    index = rng.integers(0, K, 120)
    res = _laplace_like(rng, index)
    data = encode_residuals(res, index)
    variants = []
    for i in range(len(data)):
        for mask in (0x01, 0x10, 0x80, 0xFF):
            b = bytearray(data)
            b[i] ^= mask
            variants.append(bytes(b))
    variants += [data[:n] for n in range(len(data))]
    variants += [data + extra for extra in (b"\xff", b"\xff\xff\xff\xff", b"\x00" * 4, b"\x12\x34\x56\x78" * 3)]
    variants += [b"\xff" * 4 * n for n in range(1, 6)] + [b"\x00" * 4 * n for n in range(1, 6)]
    errors = 0
    for v in variants:
        try:
            out = decode_residuals(v, index)
        except StreamError:
            errors += 1
            continue
        assert out.dtype == np.int32 and out.shape == res.shape
        assert out.min() >= -R and out.max() <= R
    assert errors > len(variants) // 2  # most damage is detected
    with pytest.raises(StreamError, match="whole number"):
        decode_residuals(data[:-1], index)
    for extra in (b"\xff" * 8, b"\x00" * 8, b"\x12\x34\x56\x78" * 2):
        with pytest.raises(StreamError, match="past the last"):
            decode_residuals(data + extra, index)
    # One trailing word is beyond what the range decoder can notice: it only fills the zero padding
    # the decoder assumes after the end of the data.
    assert np.array_equal(decode_residuals(data + b"\xff" * 4, index), res)


def test_coder_does_not_import_torch() -> None:
    code = "import sys, gscodec.entropy.coder, gscodec.entropy; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- twin ------------------------------------------------------------------------------------


def test_twin_matches_table() -> None:
    """At integer residuals and scale indices the twin is within 0.05 bits of the table where weights are large."""
    r = torch.arange(-R + 1, R, dtype=torch.float64)  # the end bins hold the folded tails: not compared
    info = tables.info_bits()[:, 1:-1]
    w = tables.table()[:, 1:-1]
    compared = 0
    for k in range(K):
        twin = laplace_bits(r, torch.tensor(float(k), dtype=torch.float64)).numpy()
        big = w[k] >= 64
        compared += int(big.sum())
        assert np.all(np.abs(twin[big] - info[k][big]) < 0.05), k
        # Where the table weight is 1 the twin is at or near its 16-bit floor too.
        assert np.all(twin[w[k] == 1] > 14.5)
    assert compared > 5000
    twin32 = laplace_bits(r.float(), torch.tensor(30.0)).double().numpy()  # float32 agrees as well
    big = w[30] >= 64
    assert np.all(np.abs(twin32[big] - info[30][big]) < 0.05)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_twin_gradients_finite_everywhere(dtype: torch.dtype) -> None:
    r = torch.cat([torch.linspace(-1000, 1000, 4001), torch.tensor([-0.5, 0.5, 0.4999, -0.4999, 0.0, 1e-7])])
    s = torch.linspace(-5, 70, 151)
    rr, ss = torch.meshgrid(r.to(dtype), s.to(dtype), indexing="ij")
    rr = rr.clone().requires_grad_(True)
    ss = ss.clone().requires_grad_(True)
    bits = laplace_bits(rr, ss)
    assert bits.dtype == dtype
    assert torch.isfinite(bits).all() and bits.min() >= 0 and bits.max() <= 16
    bits.sum().backward()
    assert torch.isfinite(rr.grad).all() and torch.isfinite(ss.grad).all()
    # Symmetric in r, and a wider scale never makes the zero residual cheaper.
    assert torch.allclose(laplace_bits(-rr.detach(), ss.detach()), bits.detach())
    zero = laplace_bits(torch.zeros_like(s, dtype=dtype), s.to(dtype))
    assert torch.all(torch.diff(zero) >= 0)


def test_twin_values_and_gradcheck() -> None:
    # Closed forms: the zero bin is 1 - exp(-0.5 / b), bin r >= 1 is exp(-(r - 0.5) / b) (1 - exp(-1 / b)) / 2.
    b = tables.scale_of(20)
    s = torch.tensor(20.0, dtype=torch.float64)
    zero = laplace_bits(torch.tensor(0.0, dtype=torch.float64), s).item()
    assert zero == pytest.approx(-np.log2(1 - np.exp(-0.5 / b)), rel=1e-12)
    three = laplace_bits(torch.tensor(3.0, dtype=torch.float64), s).item()
    assert three == pytest.approx(-np.log2(0.5 * np.exp(-2.5 / b) * (1 - np.exp(-1 / b))), rel=1e-12)
    # Continuous across the branch boundary |r| = 0.5.
    edge = laplace_bits(torch.tensor([0.5 - 1e-12, 0.5], dtype=torch.float64), s)
    assert edge[0].item() == pytest.approx(edge[1].item(), abs=1e-9)
    # Analytic gradients against finite differences, away from the floor and the branch boundary.
    r = torch.tensor([-7.3, -0.2, 0.0, 0.3, 1.7, 40.0], dtype=torch.float64, requires_grad=True)
    si = torch.tensor([12.5, 3.0, 40.0, 55.5, 20.0, 50.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(laplace_bits, (r, si))

"""Profile 0 segment payloads: round trips through each geometry codec, precision, validation."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from gscodec.bitstream import profile0
from gscodec.errors import LimitError, StreamError
from gscodec.model.params import ATTRIBUTES, PARAMS_PER_GAUSSIAN


def gaussians(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {a.name: rng.normal(0, 1, (n, a.components)).astype(np.float32) for a in ATTRIBUTES}
    arrays["xy"] = rng.uniform(-20, 1940, (n, 2)).astype(np.float32)
    arrays["tau"] = rng.uniform(-1, 32, (n, 1)).astype(np.float32)
    return arrays


@pytest.mark.parametrize("geometry", ["raw", "builtin"])
def test_round_trip(geometry: str) -> None:
    src = gaussians(500)
    payload = profile0.encode_segment(src, geometry)
    state = profile0.decode_segment(payload)
    assert len(state) == 500 and state.geometry_codec == profile0.GEOMETRY_CODECS[geometry]
    out = state.gaussian_arrays()
    # Decoded rows are in canonical order (t, y, x of the grid points): match them back by position.
    order_src = np.lexsort((src["xy"][:, 0], src["xy"][:, 1], np.round(src["tau"][:, 0])))
    order_out = np.lexsort((out["xy"][:, 0], out["xy"][:, 1], state.points[:, 2]))
    for attr in ATTRIBUTES:
        a, b = src[attr.name][order_src], out[attr.name][order_out]
        if attr.name in ("xy", "tau"):
            # Grid point plus a float16 residual in [-0.5, 0.5]: error below 2^-12 (half an f16 step near 0.5).
            assert np.abs(a - b).max() <= 2.0**-12
        else:
            np.testing.assert_array_equal(b, a.astype(np.float16).astype(np.float32))
    # Points come out in canonical order.
    p = state.points
    assert np.all(np.lexsort((p[:, 0], p[:, 1], p[:, 2])) == np.arange(len(p)))


def test_state_hash_is_deterministic_and_sensitive() -> None:
    src = gaussians(100)
    a = profile0.decode_segment(profile0.encode_segment(src, "builtin"))
    b = profile0.decode_segment(profile0.encode_segment(src, "raw"))
    assert a.state_hash() == b.state_hash()  # the codec changes the bytes, not the decoded state
    src["color"][3, 1] += 0.01
    assert profile0.decode_segment(profile0.encode_segment(src, "raw")).state_hash() != a.state_hash()


def test_empty_segment() -> None:
    state = profile0.decode_segment(profile0.encode_segment(gaussians(0), "builtin"))
    assert len(state) == 0 and state.gaussian_arrays()["xy"].shape == (0, 2)


def test_encoder_rejects_what_float16_cannot_hold() -> None:
    src = gaussians(4)
    src["vel"][0, 0] = 1e6
    with pytest.raises(ValueError, match="overflows float16"):
        profile0.encode_segment(src, "raw")
    src = gaussians(4)
    src["color"][1, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        profile0.encode_segment(src, "raw")


def _payload(n: int = 3) -> bytes:
    return profile0.encode_segment(gaussians(n), "raw")


def test_size_mismatch_truncation_and_garbage() -> None:
    good = _payload()
    for cut in range(len(good)):
        with pytest.raises(StreamError):
            profile0.decode_segment(good[:cut])
    with pytest.raises(StreamError, match="does not match"):
        profile0.decode_segment(good + b"\0\0")


def test_count_limit_checked_before_allocation() -> None:
    head = struct.pack("<IB3xI", profile0.MAX_GAUSSIANS + 1, 2, 0)
    with pytest.raises(LimitError):
        profile0.decode_segment(head)


def test_unknown_geometry_codec_and_non_finite_values() -> None:
    good = bytearray(_payload())
    bad = bytearray(good)
    bad[4] = 9
    with pytest.raises(StreamError, match="unknown geometry codec 9"):
        profile0.decode_segment(bytes(bad))
    bad = bytearray(good)
    bad[-2:] = np.array([np.inf], "<f2").tobytes()
    with pytest.raises(StreamError, match="non-finite"):
        profile0.decode_segment(bytes(bad))


def test_geometry_count_must_match() -> None:
    payload = bytearray(_payload(3))
    n_geometry = struct.unpack_from("<I", payload, 8)[0]
    # Claim 2 Gaussians with 3 points of geometry, and fix the size so only the count is wrong.
    struct.pack_into("<I", payload, 0, 2)
    trimmed = bytes(payload[: 12 + n_geometry + 2 * PARAMS_PER_GAUSSIAN * 2])
    with pytest.raises(StreamError, match="3 points for 2 Gaussians"):
        profile0.decode_segment(trimmed)


def test_peek() -> None:
    payload = _payload(7)
    n, codec, size = profile0.peek_segment(payload)
    assert (n, codec) == (7, 2)
    assert size == len(payload) - 12 - 7 * PARAMS_PER_GAUSSIAN * 2

"""Profile 1 conformance: a second decoder, written from format_spec.md §16 alone, agrees with the
committed streams' expected states and refuses the faulty ones; the uncommon stream reaches every
clamp the spec names; gsdec's canonical state bytes are the ones ``state_hash()`` hashes.

The decoder below uses only the spec: the payload syntax (§16.1), position features and the
fixed-point prior (§16.4), the table file and its cumulative model (§16.5.1-2), the range decoder
and its end rule (§16.5.3), the canonical state bytes (§16.6) and the hashes of §15. Geometry (§9)
comes from gscodec's geometry decoders, which the profile 0 streams and tests/test_geometry*.py cover.
"""

from __future__ import annotations

import bisect
import hashlib
import struct
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # conformance/ runs from the checkout; it is not an installed package
    sys.path.insert(0, str(REPO))

from conformance.builders import coded_state  # noqa: E402
from conformance.suite import ROOT, read_json  # noqa: E402
from gscodec.geometry import decode_points  # noqa: E402

TABLE_FILE = REPO / "gscodec" / "entropy" / "laplace_k64_r512.bin"
TABLE_SHA256 = "b35def6a828bd3354261758b87d480dbbed8c4b0d70381683db6f071282f102b"
K, R, N_SYMBOLS = 64, 512, 1025
M64 = (1 << 64) - 1
MU_LIMIT = 1 << 20
FIXED = struct.Struct("<IBBBBHHI")


class Refused(Exception):
    """The spec says the decoder must stop; ``kind`` is the error class it names."""

    def __init__(self, kind: str, what: str) -> None:
        super().__init__(f"{kind}: {what}")
        self.kind = kind


def _cdfs() -> list[list[int]]:
    """§16.5.1-2: the table file, checked by its SHA-256, as 64 cumulative tables of 1026 entries."""
    data = TABLE_FILE.read_bytes()
    assert len(data) == K * N_SYMBOLS * 2 and hashlib.sha256(data).hexdigest() == TABLE_SHA256
    weights = struct.unpack(f"<{K * N_SYMBOLS}H", data)
    out = []
    for k in range(K):
        row = weights[k * N_SYMBOLS : (k + 1) * N_SYMBOLS]
        assert min(row) >= 1 and sum(row) == 1 << 16
        c, cdf = 0, []
        for s in range(N_SYMBOLS + 1):
            cdf.append(c * ((1 << 24) - N_SYMBOLS) // (1 << 16) + s)
            if s < N_SYMBOLS:
                c += row[s]
        assert cdf[0] == 0 and cdf[-1] == 1 << 24
        out.append(cdf)
    return out


CDF = _cdfs()


def range_decode(data: bytes, rows: list[int]) -> list[int]:
    """§16.5.3: the residuals (in Gaussian order) of one channel whose Gaussians use table rows ``rows``."""
    if len(data) % 4:
        raise Refused("StreamError", "residual data not whole words")
    if not rows:
        if data:
            raise Refused("StreamError", "residual data for no residuals")
        return []
    words = list(struct.unpack(f"<{len(data) // 4}I", data))
    w = len(words)
    point = (words[0] << 32 | words[1]) if w >= 2 else (words[0] << 32 if w == 1 else 0)
    j = min(w, 2)
    lower, rng = 0, M64
    out = [0] * len(rows)
    for i in sorted(range(len(rows)), key=lambda i: (rows[i], i)):  # by scale index, then Gaussian order
        cdf = CDF[rows[i]]
        scale = rng >> 24
        v = ((point - lower) & M64) // scale
        if v >= 1 << 24:
            raise Refused("StreamError", "invalid range-coded data")
        s = bisect.bisect_right(cdf, v) - 1
        lower = (lower + scale * cdf[s]) & M64
        rng = scale * (cdf[s + 1] - cdf[s])
        if rng < 1 << 32:
            lower = (lower << 32) & M64
            rng <<= 32
            point = ((point << 32) & M64) + (words[j] if j < w else 0)
            j = min(j + 1, w)
        out[i] = s - R
    if j != w or ((point - lower) & M64) >= (1 << 33) - 1:
        raise Refused("StreamError", "data after the last residual")
    return out


def _clamp(x: int, lo: int, hi: int, seen: Counter, name: str) -> int:
    if x < lo:
        seen[f"{name} low"] += 1
    if x > hi:
        seen[f"{name} high"] += 1
    return min(max(x, lo), hi)


def _position_features(points: list[tuple[int, int, int]]) -> list[list[int]]:
    """§16.4: per point and axis, floor((2 (p - lo) - span) * 1024 / max(span, 1))."""
    feats = [[0, 0, 0] for _ in points]
    for a in range(3 if points else 0):
        col = [p[a] for p in points]
        lo, span = min(col), max(col) - min(col)
        for i, p in enumerate(col):
            feats[i][a] = (2 * (p - lo) - span) * 1024 // max(span, 1)
    return feats


def decode_payload(payload: bytes, seen: Counter | None = None, frames: int | None = None) -> bytes:
    """A profile 1 payload of a segment of ``frames`` frames to its canonical state bytes (§16.6), or Refused."""
    seen = Counter() if seen is None else seen
    if len(payload) < FIXED.size:
        raise Refused("StreamError", "payload too short")
    n, codec, xy_shift, t_shift, hidden, mask, reserved, gsize = FIXED.unpack_from(payload)
    if n > 1 << 22:
        raise Refused("LimitError", "gaussian_count")
    if codec > 4 or xy_shift > 8 or t_shift > 8 or hidden > 32 or mask >> 13:
        raise Refused("StreamError", "fixed field out of range")
    seen["reserved set"] += reserved != 0
    pos = FIXED.size
    if pos + gsize + 12 > len(payload):
        raise Refused("StreamError", "geometry or steps cut short")
    coded = [c for c in range(12) if mask >> c & 1]
    sizes = {c: (9 + 4 * (3 + c)) if hidden == 0 else (10 + 2 * hidden * (3 + c) + 8 * hidden) for c in coded}
    motion = b""
    if mask >> 12 & 1:  # §16.10, before the geometry
        at = pos + gsize + 12
        if at + 10 > len(payload):
            raise Refused("StreamError", "motion mode cut short")
        path_frames, path_shift, coef_shift = struct.unpack_from("<HBB", payload, at)
        if path_frames == 0 or path_shift > 15 or coef_shift > 15:
            raise Refused("StreamError", "motion mode head")
        if at + 10 + 4 * path_frames > len(payload):
            raise Refused("StreamError", "motion path cut short")
        if frames is not None and path_frames != frames:
            raise Refused("StreamError", "motion path frames")
        motion = payload[at : at + 10 + 4 * path_frames]
        seen.update(f"motion shift {v}" for v in (path_shift, coef_shift) if v in (0, 15))
    if pos + gsize + 12 + len(motion) + sum(sizes[c] + 4 for c in coded) > len(payload):
        raise Refused("StreamError", "too short for the coded channels")
    try:
        pts = decode_points(payload[pos : pos + gsize], codec)
    except Exception as exc:  # the geometry decoder's own checks (§9)
        raise Refused(type(exc).__name__, "geometry") from None
    if pts.shape != (n, 3):
        raise Refused("StreamError", "point count")
    points = [tuple(int(v) for v in p) for p in pts]
    assert points == sorted(points, key=lambda p: (p[2], p[1], p[0]))  # canonical order (§9.1)
    pos += gsize
    steps = struct.unpack_from("<12b", payload, pos)
    seen.update(f"step {e}" for e in steps if e in (-128, 127))
    pos += 12 + len(motion)
    features = _position_features(points)
    q = [[0] * 12 for _ in points]
    priors = []
    for c in coded:
        net = payload[pos : pos + sizes[c]]
        n_in = 3 + c
        if hidden == 0:
            s1, s2 = 0, net[0]
            w1, b1 = [], []
            w2 = struct.unpack_from(f"<{2 * n_in}h", net, 1)
            b2 = struct.unpack_from("<2i", net, 1 + 4 * n_in)
        else:
            s1, s2 = net[0], net[1]
            o = 2
            w1 = struct.unpack_from(f"<{hidden * n_in}h", net, o)
            o += 2 * hidden * n_in
            b1 = struct.unpack_from(f"<{hidden}i", net, o)
            o += 4 * hidden
            w2 = struct.unpack_from(f"<{2 * hidden}h", net, o)
            o += 4 * hidden
            b2 = struct.unpack_from("<2i", net, o)
        if s1 > 31 or s2 > 31:
            raise Refused("StreamError", "prior shift")
        seen.update(f"shift {s}" for s in (s1, s2) if s in (0, 31))
        seen.update("weight extreme" for x in (*w1, *w2) if x in (-32768, 32767))
        priors.append(net)
        pos += sizes[c]
        (size,) = struct.unpack_from("<I", payload, pos)
        pos += 4
        if pos + size > len(payload):
            raise Refused("StreamError", "channel cut short")
        mus, rows = [], []
        for i in range(n):
            v = features[i] + [_clamp(q[i][m], -32767, 32767, seen, "input") for m in range(c)]
            if hidden:
                v = [_clamp((sum(w1[u * n_in + m] * v[m] for m in range(n_in)) + b1[u]) >> s1, 0, 32767, seen,
                            "activation") for u in range(hidden)]
            o0 = (sum(w2[m] * v[m] for m in range(len(v))) + b2[0]) >> s2
            o1 = (sum(w2[len(v) + m] * v[m] for m in range(len(v))) + b2[1]) >> s2
            mus.append(_clamp((o0 + 8) >> 4, -MU_LIMIT, MU_LIMIT, seen, "mean"))
            rows.append(_clamp((o1 + 8) >> 4, 0, K - 1, seen, "scale index"))
        residuals = range_decode(payload[pos : pos + size], rows)
        seen.update(f"residual {r}" for r in residuals if abs(r) == R)
        for i in range(n):
            q[i][c] = mus[i] + residuals[i]
        pos += size
    if pos != len(payload):
        raise Refused("StreamError", "bytes after the last channel")
    state = [struct.pack("<IBBBH", n, xy_shift, t_shift, hidden, mask)]
    state += [struct.pack("<3q", *p) for p in points]
    state += [struct.pack("<12b", *steps), motion, *priors]
    state += [struct.pack("<12i", *row) for row in q]
    return b"".join(state)


def segment_payloads(data: bytes) -> tuple[int, list[bytes], list[int]]:
    """(profile, the segment payloads, their frame counts) of a stream, walking its chunks (§2, §3, §4)."""
    pos, profile, payloads, frames = 8, None, [], []
    while pos + 12 <= len(data):
        length, kind = struct.unpack_from("<I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"GHDR":
            profile = body[2]
        elif kind == b"GSEG":
            payloads.append(body[12:])
            frames.append(struct.unpack_from("<I", body, 8)[0])
        elif kind == b"GEND":
            break
        pos += 12 + length
    assert profile is not None
    return profile, payloads, frames


def _sidecars(group: str | None = None) -> list[dict]:
    sides = [read_json(p) for p in sorted((ROOT / "streams").rglob("*.json"))]
    return [s for s in sides if group is None or s["group"] == group]


def _profile1(side: dict) -> bool:
    data = (ROOT / "streams" / side["group"] / side["stream"]["file"]).read_bytes()
    return len(data) > 40 and data[12:16] == b"GHDR" and data[18] == 1  # GHDR's profile byte (§3)


VALID = [s for s in _sidecars() if s["expect"] == "decode" and _profile1(s)]
FAULTY = [s for s in _sidecars("faulty") if _profile1(s)]


def test_the_suite_has_profile1_streams() -> None:
    assert {s["group"] for s in VALID} == {"core", "uncommon"} and len(VALID) >= 4
    assert len(FAULTY) >= 10
    assert read_json(ROOT / "manifest.json")["profiles"] == [0, 1]


@pytest.mark.parametrize("side", VALID, ids=[s["name"] for s in VALID])
def test_second_decoder_reproduces_the_expected_states(side: dict) -> None:
    data = (ROOT / "streams" / side["group"] / side["stream"]["file"]).read_bytes()
    profile, payloads, frames = segment_payloads(data)
    assert profile == 1
    want = side["decoded"]["segments"]
    assert len(payloads) == len(want)
    stream = hashlib.md5()
    for payload, count, seg in zip(payloads, frames, want, strict=True):
        state = decode_payload(payload, frames=count)
        assert hashlib.md5(state).hexdigest() == seg["state_md5"]
        assert hashlib.sha256(state).hexdigest() == seg["state_sha256"]
        stream.update(struct.pack("<Q", len(state)) + state)
    assert stream.hexdigest() == side["decoded"]["state_md5"]


@pytest.mark.parametrize("side", FAULTY, ids=[s["name"] for s in FAULTY])
def test_second_decoder_refuses_the_faulty_streams(side: dict) -> None:
    data = (ROOT / "streams" / "faulty" / side["stream"]["file"]).read_bytes()
    _, payloads, frames = segment_payloads(data)
    decode_payload(payloads[0], frames=frames[0])  # the base's first segment is valid; the second is broken
    with pytest.raises(Refused) as err:
        decode_payload(payloads[1], frames=frames[1])
    assert err.value.kind == side["error"]["class"]


def test_uncommon_stream_reaches_every_clamp_and_extreme() -> None:
    side = next(s for s in VALID if "extremes" in s["name"])
    _, payloads, _ = segment_payloads((ROOT / "streams" / "uncommon" / side["stream"]["file"]).read_bytes())
    seen: Counter = Counter()
    for payload in payloads:
        decode_payload(payload, seen)
    wanted = {"mean low", "mean high", "scale index low", "scale index high", "input low", "input high",
              "activation low", "activation high", "residual 512", "residual -512", "shift 0", "shift 31",
              "step -128", "step 127", "weight extreme", "reserved set"}
    assert wanted <= {k for k, v in seen.items() if v}, sorted(wanted - set(seen))


@pytest.mark.parametrize("hidden", [0, 3])
def test_second_decoder_agrees_with_the_reference_on_random_states(hidden: int) -> None:
    from gscodec.bitstream import profile1
    from gscodec.cli.gsdec import state_parts

    for seed in range(3):
        st = coded_state(500 + seed, 40, 20, 12, 3, xy_shift=seed, t_shift=2, hidden=hidden, mask=0x0FFF >> seed)
        payload = st.payload("raw" if seed == 1 else "builtin")
        ref = profile1.decode_segment(payload)
        mine = decode_payload(payload)
        assert b"".join(state_parts(ref)) == mine  # gsdec's canonical bytes, for the MD5s
        assert hashlib.sha256(mine).hexdigest() == ref.state_hash()


def test_range_decoder_end_rule_matches_the_reference() -> None:
    """The end rule of §16.5.3 accepts and refuses exactly the data the reference does, garbage included."""
    from gscodec.entropy import decode_residuals, encode_residuals
    from gscodec.errors import StreamError

    rng = np.random.default_rng(5)
    for trial in range(60):
        n = int(rng.integers(1, 40))
        rows = rng.integers(0, K, n)
        r = np.clip(np.round(rng.laplace(0, 0.04 * 2 ** (rows / 5))), -R, R).astype(np.int64)
        good = encode_residuals(r, rows)
        variants = [good, good + bytes(4), good + bytes(8), good + b"\xff" * 4, good[:-4], b"",
                    rng.integers(0, 256, len(good), dtype=np.uint8).tobytes(), b"\xff" * 8 + good[8:]]
        for data in variants:
            try:
                ref = decode_residuals(data, rows).tolist()
            except StreamError:
                ref = None
            try:
                mine = range_decode(data, rows.tolist())
            except Refused:
                mine = None
            assert mine == ref, (trial, len(data))
        assert range_decode(good, rows.tolist()) == r.tolist()

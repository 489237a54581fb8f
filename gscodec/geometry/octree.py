"""The built-in octree occupancy coder (geometry codec 0).

Normative description: format_spec.md §9 ("Geometry") (same names as here). Points are made relative
to their bounding-box origin and split level by level. A node's eight child-occupancy bits are
coded one child slot at a time across all nodes of a level ("slot passes"), so the context of
a bit can use the already-coded bits of the node and of its six face neighbours, and every
pass is a handful of numpy operations. Isolated nodes holding a single position leave the tree
early ("direct" nodes): their remaining coordinate bits are sent as they are.
"""

from __future__ import annotations

import struct
import zlib
from typing import Protocol

import numpy as np

from gscodec.errors import StreamError
from gscodec.geometry._adaptive import BitDecoder, BitEncoder, ContextModel, bit_length
from gscodec.geometry._header import HEADER, check_box, check_span, read_header

FORMAT_VERSION = 0
FLAG_DUPLICATES = 0x01

BOUNDS = struct.Struct("<iiiIIIB")  # origin_x, origin_y, origin_t, extent_x, extent_y, extent_t, flags

#: Axis a (0 = x, 1 = y, 2 = t) is bit a of a child slot number.
AXES = 3
#: Sibling classes: 0, 1, 2 or more occupied slots coded earlier in the node.
NUM_SIB = 3
COARSE_CONTEXTS = 8 * 64 * NUM_SIB
FINE_CONTEXTS = COARSE_CONTEXTS * 16
DIRECT_CONTEXTS = 16
#: A multiplicity minus one is below 2**MULT_BITS.
MULT_BITS = 24
MULT_CONTEXTS = 2 * MULT_BITS - 1


def _level_slots(split: list[bool]) -> list[int]:
    """Child slots that exist at a level: those with no bit set on an axis that is not split."""
    return [k for k in range(8) if all(split[a] or not (k >> a) & 1 for a in range(AXES))]


def _slot_contexts(
    k: int, split: list[bool], table: np.ndarray, nbs: list[np.ndarray], present: list[np.ndarray], sib: np.ndarray
) -> np.ndarray:
    """Coarse context of slot ``k`` for every node: (k, neighbour states of the child, siblings).

    For each axis the child's two neighbours along it are either in the node itself or in the
    face neighbour node on that side; each is 'known occupied', 'known empty' (coded 0, or no
    neighbour node) or 'not yet coded'. A 2-bit code per axis keeps what can vary for slot k.
    ``table`` (m + 1, 8) holds the bits coded so far, row m being the all-zero 'no node' row.
    """
    m = sib.size
    code = np.zeros(m, dtype=np.int64)
    for a in range(AXES):
        ab = 1 << a
        if split[a] and k & ab:
            col = table[:, k - ab]
            c = col[:m] + 2 * col[nbs[2 * a + 1]]
        elif split[a]:
            c = present[2 * a]
        else:
            c = present[2 * a] + 2 * present[2 * a + 1]
        code += c.astype(np.int64) << (2 * a)
    return (k * 64 + code) * NUM_SIB + np.minimum(sib, NUM_SIB - 1)


def _child_neighbours(
    parent: np.ndarray, slot: np.ndarray, split: list[bool], nbs: list[np.ndarray], cidx: np.ndarray
) -> list[np.ndarray]:
    """Face neighbours of the children, found through the parents' face neighbours.

    ``cidx`` ((m + 1) * 8,) maps node * 8 + slot to the child's index in the next level, or to
    the next level's node count (the 'no node' sentinel) where there is no such child.
    """
    out = []
    for a in range(AXES):
        ab = 1 << a
        nb_minus, nb_plus = nbs[2 * a][parent], nbs[2 * a + 1][parent]
        if split[a]:
            high = ((slot >> a) & 1).astype(bool)
            other = np.where(high, slot - ab, slot + ab)
            # minus side: the sibling below if this child is the high one, else the minus node's high child
            out.append(cidx[np.where(high, parent, nb_minus) * 8 + other])
            out.append(cidx[np.where(high, nb_plus, parent) * 8 + other])
        else:
            out.append(cidx[nb_minus * 8 + slot])
            out.append(cidx[nb_plus * 8 + slot])
    return out


class _Leaves:
    """Encoder side: the distinct positions in Morton order and the node holding each."""

    def __init__(self, rel: np.ndarray, depth: int) -> None:
        key = np.zeros(rel.shape[0], dtype=np.uint64)
        r = rel.astype(np.uint64)
        for level in range(depth):
            s = np.uint64(depth - 1 - level)
            slot = (r[:, 0] >> s) & np.uint64(1)
            slot |= ((r[:, 1] >> s) & np.uint64(1)) << np.uint64(1)
            slot |= ((r[:, 2] >> s) & np.uint64(1)) << np.uint64(2)
            key = (key << np.uint64(3)) | slot
        order = np.argsort(key, kind="stable")
        self.key = key[order]  # (L,)
        self.rel = rel[order]  # (L, 3)
        self.node = np.zeros(self.key.size, dtype=np.int64)  # node index at the current level

    def slots(self, depth: int, level: int) -> np.ndarray:
        """Child slot of every leaf at ``level``."""
        return ((self.key >> np.uint64(3 * (depth - 1 - level))) & np.uint64(7)).astype(np.int64)

    def keep(self, mask: np.ndarray) -> None:
        """Drop leaves (those that left the tree as direct nodes)."""
        self.key = self.key[mask]
        self.rel = self.rel[mask]
        self.node = self.node[mask]


class _Coder(Protocol):
    """What the traversal needs from :class:`BitEncoder` and :class:`BitDecoder`."""

    def code(self, model: ContextModel, ctx: np.ndarray, bits: np.ndarray | None) -> np.ndarray: ...

    def code_uniform(self, values: np.ndarray | None, nbits: np.ndarray) -> np.ndarray: ...


def _code_direct(
    coder: _Coder,
    model: ContextModel,
    eligible: np.ndarray,
    remaining: int,
    rbits: list[int],
    coords: list[np.ndarray],
    leaves: _Leaves | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Code the direct flag of each eligible node and the offsets of the direct ones.

    Returns the indices of the direct nodes and their positions (relative to the origin).
    """
    m = coords[0].size
    truth = None if leaves is None else np.bincount(leaves.node, minlength=m)[eligible] == 1
    ctx = np.full(eligible.size, min(remaining - 1, DIRECT_CONTEXTS - 1), dtype=np.int64)
    direct = eligible[coder.code(model, ctx, truth).astype(bool)]
    if direct.size == 0:
        return direct, np.zeros((0, AXES), dtype=np.int64)
    axes = [a for a in range(AXES) if rbits[a] > 0]
    values = None
    if leaves is not None:
        sel = np.zeros(m, dtype=bool)
        sel[direct] = True
        sel = sel[leaves.node]
        rel = leaves.rel[sel]  # one leaf per direct node, in node order
        values = np.stack([rel[:, a] & ((1 << rbits[a]) - 1) for a in axes], axis=1).ravel()
        leaves.keep(~sel)
    nbits = np.tile(np.array([rbits[a] for a in axes], dtype=np.int64), direct.size)
    off = coder.code_uniform(values, nbits).reshape(direct.size, len(axes)).astype(np.int64)
    pts = np.empty((direct.size, AXES), dtype=np.int64)
    for a in range(AXES):
        pts[:, a] = coords[a][direct] << rbits[a]
    for j, a in enumerate(axes):
        pts[:, a] |= off[:, j]
    return direct, pts


def _code_occupancy(
    coder: _Coder,
    model: ContextModel,
    split: list[bool],
    remaining: int,
    nbs: list[np.ndarray],
    present: list[np.ndarray],
    num_nb: np.ndarray,
    active: np.ndarray,
    truth: np.ndarray | None,
) -> np.ndarray:
    """Slot passes: code the child-occupancy bits of the active nodes, one slot at a time.

    Returns the (m + 1, 8) occupancy table; row m is the all-zero 'no node' row.
    """
    m = active.size
    fine_extra = ((num_nb + 1) >> 1) * 4 + min(remaining - 1, 3)
    slots = _level_slots(split)
    table = np.zeros((m + 1, 8), dtype=np.int8)
    sib = np.zeros(m, dtype=np.int64)
    all_active = bool(active.all())
    for k in slots:
        ctx = _slot_contexts(k, split, table, nbs, present, sib) * 16 + fine_extra
        last = k == slots[-1]
        if all_active and not last:
            table[:m, k] = coder.code(model, ctx, None if truth is None else truth[:, k])
        else:
            idx = np.flatnonzero(active & (sib > 0) if last else active)
            if idx.size:
                table[idx, k] = coder.code(model, ctx[idx], None if truth is None else truth[idx, k])
            if last:
                table[:m, k][active & (sib == 0)] = 1  # an active node has at least one child
        sib += table[:m, k]
    return table


def _code_tree(coder: _Coder, bits: list[int], num_points: int, leaves: _Leaves | None) -> np.ndarray:
    """The level-by-level traversal shared by encoder (``leaves`` given) and decoder.

    Returns the distinct positions, relative to the origin, as an (L, 3) int64 array.
    """
    depth = max(bits)
    occ_model = ContextModel(FINE_CONTEXTS, group=FINE_CONTEXTS // COARSE_CONTEXTS)
    direct_model = ContextModel(DIRECT_CONTEXTS)
    coords = [np.zeros(1, dtype=np.int64) for _ in range(AXES)]
    # face neighbours [x-, x+, y-, y+, t-, t+] of every node; the node count m means 'none'
    nbs = [np.ones(1, dtype=np.int64) for _ in range(2 * AXES)]
    only_child = np.ones(1, dtype=bool)
    parent_isolated = np.zeros(1, dtype=bool)
    direct_points: list[np.ndarray] = []
    num_direct = 0
    for level in range(depth):
        m = coords[0].size
        remaining = depth - level
        split = [depth - 1 - level < b for b in bits]
        rbits = [min(remaining, b) for b in bits]
        present = [nb < m for nb in nbs]
        num_nb = sum(p.astype(np.int64) for p in present)
        isolated = num_nb == 0

        # direct nodes: an only child with no face neighbours, whose parent had none either
        active = np.ones(m, dtype=bool)
        eligible = np.flatnonzero(only_child & parent_isolated & isolated)
        if eligible.size:
            direct, pts = _code_direct(coder, direct_model, eligible, remaining, rbits, coords, leaves)
            active[direct] = False
            direct_points.append(pts)
            num_direct += direct.size

        truth = None
        if leaves is not None:
            truth = np.zeros((m, 8), dtype=np.int8)
            truth[leaves.node, leaves.slots(depth, level)] = 1
        table = _code_occupancy(coder, occ_model, split, remaining, nbs, present, num_nb, active, truth)

        # next level: children in node order, then slot order
        occupied = table.reshape(-1).view(bool)
        parent, slot = np.divmod(np.flatnonzero(occupied), 8)
        if parent.size + num_direct > num_points:
            raise StreamError("geometry payload is corrupt: the octree holds more positions than points")
        cidx = np.cumsum(occupied, dtype=np.int32)
        cidx -= 1
        cidx[~occupied] = parent.size
        nbs = _child_neighbours(parent, slot, split, nbs, cidx)
        only_child = (table[:m].sum(axis=1) == 1)[parent]
        parent_isolated = isolated[parent]
        coords = [(coords[a][parent] << 1) | ((slot >> a) & 1) if split[a] else coords[a][parent] for a in range(AXES)]
        if leaves is not None:
            leaves.node = cidx[leaves.node * 8 + leaves.slots(depth, level)]
    tree = np.stack(coords, axis=1)
    return np.concatenate([tree, *direct_points]) if direct_points else tree


def _code_multiplicity(coder, num_positions: int, mult: np.ndarray | None) -> np.ndarray:
    """Code each distinct position's point count: a 'more than one' flag, then Exp-Golomb.

    For a count m > 1, v = m - 1 >= 1 has e = bit_length(v) - 1 < MULT_BITS. e is sent in unary
    (bit j says e > j, for j < MULT_BITS - 1), then the e bits of v below its leading one, most
    significant first. The flag, each unary position and each suffix bit position have a context.
    """
    model = ContextModel(MULT_CONTEXTS)
    truth = None if mult is None else (mult > 1)
    flag = coder.code(model, np.zeros(num_positions, dtype=np.int64), truth)
    dup = np.flatnonzero(flag)
    value = None if mult is None else mult[dup] - 1
    e_true = None if value is None else bit_length(value) - 1
    e = np.zeros(dup.size, dtype=np.int64)
    active = np.arange(dup.size)
    for j in range(MULT_BITS - 1):
        if active.size == 0:
            break
        truth = None if e_true is None else (e_true[active] > j)
        b = coder.code(model, np.full(active.size, 1 + j, dtype=np.int64), truth)
        e[active] += b
        active = active[b.astype(bool)]
    v = np.ones(dup.size, dtype=np.int64)
    for i in range(MULT_BITS - 2, -1, -1):
        sel = np.flatnonzero(e > i)
        if sel.size == 0:
            continue
        truth = None if value is None else (value[sel] >> i) & 1
        b = coder.code(model, np.full(sel.size, MULT_BITS + i, dtype=np.int64), truth)
        v[sel] = (v[sel] << 1) | b
    out = np.ones(num_positions, dtype=np.int64)
    out[dup] = v + 1
    return out


def _canonical_keys(rel: np.ndarray, extent: np.ndarray) -> np.ndarray:
    """Scalar keys whose order is the canonical order (t, then y, then x) of relative positions."""
    sx = int(extent[0]) + 1
    sy = int(extent[1]) + 1
    return (rel[:, 2] * sy + rel[:, 1]) * sx + rel[:, 0]


def _from_keys(key: np.ndarray, origin: np.ndarray, extent: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_canonical_keys`, adding the origin back: (N, 3) int64 points."""
    sx = int(extent[0]) + 1
    sy = int(extent[1]) + 1
    out = np.empty((key.size, 3), dtype=np.int64)
    rest, out[:, 0] = np.divmod(key, sx)
    out[:, 2], out[:, 1] = np.divmod(rest, sy)
    out += origin
    return out


def encode_octree(points: np.ndarray) -> bytes:
    """Encode an (N, 3) int64 array of (x, y, t) points that passed :func:`check_points`."""
    n = points.shape[0]
    if n == 0:
        return HEADER.pack(FORMAT_VERSION, zlib.crc32(b""), 0)
    origin = points.min(axis=0)
    rel = points - origin
    extent = rel.max(axis=0)
    bits = [int(e).bit_length() for e in extent]
    keys = np.sort(_canonical_keys(rel, extent))
    first = np.ones(n, dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(first)
    mult = np.diff(np.append(starts, n))
    distinct = _from_keys(keys[starts], np.zeros(3, dtype=np.int64), extent)
    has_dup = bool(starts.size < n)
    enc = BitEncoder()
    if max(bits) > 0:
        _code_tree(enc, bits, n, _Leaves(distinct, max(bits)))
    if has_dup:
        _code_multiplicity(enc, starts.size, mult)
    body = BOUNDS.pack(*(int(o) for o in origin), *(int(e) for e in extent), FLAG_DUPLICATES if has_dup else 0)
    body += enc.finish()
    return HEADER.pack(FORMAT_VERSION, zlib.crc32(body), n) + body


def decode_octree(data: bytes) -> np.ndarray:
    """Decode a codec-0 payload into (N, 3) int64 points in canonical order."""
    n, body = read_header(data, FORMAT_VERSION, crc_from=HEADER.size)
    if n == 0:
        return np.zeros((0, 3), dtype=np.int64)
    if len(body) < BOUNDS.size:
        raise StreamError("geometry payload is truncated: the bounding box is missing")
    *box, flags = BOUNDS.unpack_from(body)
    origin = np.array(box[:3], dtype=np.int64)
    extent = np.array(box[3:], dtype=np.int64)
    if flags & ~FLAG_DUPLICATES:
        raise StreamError(f"geometry payload is corrupt: reserved flag bits are set ({flags:#04x})")
    check_box(origin, extent)
    bits = [int(e).bit_length() for e in extent]
    has_dup = bool(flags & FLAG_DUPLICATES)
    dec = BitDecoder(bytes(body[BOUNDS.size :]))
    if max(bits) > 0:
        rel = _code_tree(dec, bits, n, None)
    else:
        rel = np.zeros((1, 3), dtype=np.int64)
    check_span(rel, extent)  # origin and extent are the points' minimum and span (format_spec.md §9.5.1)
    keys = np.sort(_canonical_keys(rel, extent))
    if has_dup:
        if keys.size >= n:
            raise StreamError("geometry payload is corrupt: duplicates are flagged but every point is distinct")
        mult = _code_multiplicity(dec, keys.size, None)
        if int(mult.sum()) != n:
            raise StreamError("geometry payload is corrupt: point multiplicities do not add up to the point count")
        keys = np.repeat(keys, mult)
    elif keys.size != n:
        raise StreamError("geometry payload is corrupt: the number of decoded positions differs from the point count")
    dec.check_end()
    return _from_keys(keys, origin, extent)

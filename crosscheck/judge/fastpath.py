"""The comparison of a whole case at once, for the common case where every tensor agrees.

``Judge.compare`` (``check``) judges one tensor with about two dozen NumPy
calls; a case has a dozen tensors, and in a long campaign nearly all of them
agree well within the first and cheapest stage of the judge, the floor

    floor = F · eps_d · S        (S: the largest true magnitude in the tensor's layer)

``compare_all`` settles that stage for every tensor of a case with a handful of
NumPy calls over one concatenated vector:

    d = |candidate - truth|  (all tensors end to end, float64)
    max_d[t] = np.maximum.reduceat(d, starts)      per tensor
    top[t]   = np.maximum.reduceat(|truth|, starts)  per tensor, then S per layer

``compare_many`` does this for every case of a chunk at once (one concatenated
vector for each piece of about ``PIECE_ELEMENTS`` elements, small enough for the
processor's cache; the layer scales per case by ``np.maximum.at``). It is the
judge's own batch entry point, not a copy of the judge: a tensor with
``max_d[t] <= floor[t]`` agrees, and its record is made by the same constructor
``Judge.compare`` uses (``compare.agreement``); a finite tensor over the floor is
held to the judge's second stage, the rounding bound of its case, here too; every
other tensor (still over, NaN or inf anywhere, a missing or misshapen candidate, a
torch tensor, a case whose truth is not finite) goes to the case's full judge
(``check.Judge``), built only when first needed, so a case whose tensors all agree
costs no judge at all. ``check.check_chunk`` ends a chunk of cases here.
"""
from __future__ import annotations

import functools
import itertools
import math
import operator
import threading
from typing import Callable, NamedTuple

import numpy as np

from crosscheck.model.records import error_ratio
from crosscheck.numerics.compare import TensorComparison, agreement, worst_ratio
from crosscheck.numerics.tolerance import BOUND_MULTIPLE, EPS, FLOOR_ULPS
from crosscheck.model.vocabulary import tensor_layer


_SHAPE, _SIZE = operator.attrgetter("shape"), operator.attrgetter("size")

#: The NumPy float types the fast path takes (``dtype.char``): float32, float64, long double. A
#: candidate must be a plain ``np.ndarray`` of one of them, of exactly the truth's shape.
_FLOATS = "fdg"


def compare_all(names: list[str], got: dict, truth: dict[str, np.ndarray], dtype: str,
                judge: Callable[[], object]) -> list[TensorComparison]:
    """One record per name of ``names`` (in that order), as ``judge().compare(name, got.get(name))``.

    ``truth`` holds every float64 truth gradient of the case (its layer scales
    use all of them); ``judge()`` makes the full ``check.Judge`` of the case and
    is called at most once, only if some tensor is not settled by the floor.
    """
    return compare_many([(names, got, truth, dtype, judge)])[0]


def compare_many(jobs: list[tuple]) -> list[list[TensorComparison]]:
    """``[compare_all(*job) for job in jobs]``, the floor settled for every case of a chunk at once.

    Each job is ``(names, got, truth, dtype, judge)``. The NumPy calls of the
    floor stage (concatenation, differences, per-tensor maxima, the layer
    scales, the floor test) run once over every tensor of every job, so their
    fixed cost is shared by the chunk; only building the records stays per tensor.
    """
    if len(jobs) > 1:
        # in pieces of about PIECE_ELEMENTS elements: the passes over a piece's vectors then run in
        # the processor's cache, where a whole chunk's (a few MB) would not fit
        sizes = [sum(map(_SIZE, job[2].values())) for job in jobs]
        if sum(sizes) > 2 * PIECE_ELEMENTS:
            out, at, total = [], 0, 0
            for j, n in enumerate(sizes):
                total += n
                if total >= PIECE_ELEMENTS or j == len(jobs) - 1:
                    out += _compare_piece(jobs[at:j + 1])
                    at, total = j + 1, 0
            return out
    return _compare_piece(jobs)


#: Elements of truth per piece of a chunk (``compare_many``): 64k float64, half a MB a vector.
PIECE_ELEMENTS = 1 << 16


def _compare_piece(jobs: list[tuple]) -> list[list[TensorComparison]]:
    out: list[list[TensorComparison] | None] = [None] * len(jobs)
    layouts, fasts, t_parts, c_parts = [], [], [], []
    sizes, groups, units, job_of, groups_of = [], [], [], [], []  # per tensor (groups: within its case), per job
    base = first_tensor = 0
    for j, (names, got, truth, dtype, judge) in enumerate(jobs):
        layout = _layout(tuple(truth), tuple(map(_SHAPE, truth.values())))
        if layout is None:  # no tensors, or an empty one
            out[j] = _slow(names, got, judge)
            layouts.append(None)
            fasts.append(None)
            continue
        t_parts += truth.values()
        # a tensor not on the fast path stands in with its own truth (difference 0), so
        # candidate and truth share one segmentation
        wanted, fast = set(names), set()
        for n, _, _, shape, _ in layout.tensors:
            g = got.get(n)
            if n in wanted and type(g) is np.ndarray and g.shape == shape and g.dtype.char in _FLOATS:
                fast.add(n)
                c_parts.append(g)
            else:
                c_parts.append(truth[n])
        sizes += layout.sizes
        groups += layout.groups
        units.append(FLOOR_ULPS * EPS[dtype])
        job_of.append(len(layout.names))
        groups_of.append(layout.n_groups)
        layouts.append((layout, first_tensor, base))
        fasts.append(fast)
        base += layout.total
        first_tensor += len(layout.names)
    if not t_parts:
        return out

    # the chunk's vectors go in this thread's scratch buffers: fresh arrays of a few MB each
    # would be fresh pages from the system at every chunk
    t = np.concatenate(t_parts, axis=None, out=_scratch("truth", base, np.float64))
    d = np.concatenate(c_parts, axis=None, out=_scratch("difference", base, np.float64))
    starts_a = np.zeros(len(sizes), np.intp)
    np.cumsum(sizes[:-1], out=starts_a[1:])
    with np.errstate(invalid="ignore"):
        np.subtract(d, t, out=d)  # in place: these vectors span the whole chunk
        np.abs(d, out=d)
        worst = np.maximum.reduceat(d, starts_a)  # NaN/inf candidates make NaN/inf here
        top = np.maximum.reduceat(np.abs(t, out=t), starts_a)
        # the first element of each tensor at its maximum difference (argmax per segment): the
        # elements equal to their tensor's maximum, spread over the tensor's elements
        at_max = np.flatnonzero(np.equal(d, np.repeat(worst, sizes), out=_scratch("at", base, np.bool_)))
    if at_max.size:
        first = (at_max[np.minimum(np.searchsorted(at_max, starts_a), at_max.size - 1)] - starts_a).tolist()
    else:
        first = [0] * len(sizes)
    # S, the largest true magnitude in each tensor's layer (group: one layer of one case, numbered
    # through the chunk), and the floor F · eps · S
    group_base = np.zeros(len(groups_of), np.intp)
    np.cumsum(groups_of[:-1], out=group_base[1:])
    gid = np.repeat(group_base, job_of)
    gid += groups
    layer_top = np.zeros(int(group_base[-1]) + groups_of[-1])
    np.maximum.at(layer_top, gid, top)
    group_floor = np.repeat(units, groups_of) * layer_top  # the floor is one per layer of a case
    floor = group_floor[gid]
    finite_job = np.logical_and.reduceat(np.isfinite(top), np.cumsum([0] + job_of[:-1]))

    chunk = _Chunk(d, top.tolist(), worst.tolist(), floor.tolist(), first)
    finite = finite_job.tolist()
    k = 0
    for j, ((names, got, truth, dtype, judge), placed, fast) in enumerate(zip(jobs, layouts, fasts)):
        if placed is None:
            continue
        layout, t0, e0 = placed
        if not finite[k]:  # the truth is NaN or inf somewhere: undefined elements, the judge's call
            out[j] = _slow(names, got, judge)
        else:
            out[j] = _settle(names, got, truth, dtype, judge, layout, fast, t0, e0, chunk)
        k += 1
    return out


_SCRATCH = threading.local()


#: Elements beyond which a chunk's vector is a fresh array, not kept (a huge case would hold its
#: memory for the rest of the process).
_SCRATCH_MAX = 1 << 22


def _scratch(name: str, n: int, dtype) -> np.ndarray:
    """This thread's buffer ``name`` as ``n`` elements of ``dtype`` (grown by doubling, never shrunk)."""
    if n > _SCRATCH_MAX:
        return np.empty(n, dtype)
    buf = getattr(_SCRATCH, name, None)
    if buf is None or buf.size < n:
        buf = np.empty(min(max(n, 2 * (0 if buf is None else buf.size), 4096), _SCRATCH_MAX), dtype)
        setattr(_SCRATCH, name, buf)
    return buf[:n]


class _Chunk(NamedTuple):
    """What the floor stage measured over a chunk, per tensor of every case, end to end."""

    d: np.ndarray  # |candidate - truth|, every element
    top: list[float]  # the largest true magnitude
    worst: list[float]  # the largest difference
    floor: list[float]
    first: list[int]  # where the largest difference first is, within the tensor


def _settle(names, got, truth, dtype, judge, layout, fast, t0, e0, chunk: _Chunk) -> list[TensorComparison]:
    """One case's records: the floor's verdicts read off the chunk (tensor ``t0`` and element
    ``e0`` on are this case's), then the judge's later stages for what is left."""
    out: dict[str, TensorComparison] = {}
    over_floor: list[tuple] = []
    tops, worsts, floors, first = chunk.top, chunk.worst, chunk.floor, chunk.first
    for i, (n, off, size, shape, cols) in enumerate(layout.tensors, start=t0):
        if n not in fast:
            continue
        w, floor = worsts[i], floors[i]
        if w <= floor:  # stage 1 of the judge: within the floor
            out[n] = agreement(n, shape, dtype, size, w, tops[i], _index(first[i], shape, cols), floor,
                               error_ratio(w, floor))
        elif w < math.inf:  # finite, over the floor: stage 2 below; NaN/inf go to the judge
            over_floor.append((n, e0 + off, size, shape, cols, tops[i], w, first[i], floor))
    full = None
    if over_floor:
        # stage 2 of the judge: floor + M · (rounding bound of each element), the bound measured
        # once for the whole case; what is still over goes through the judge's later stages
        full = judge()
        bounds = full.rounding.bounds
        for n, off, size, shape, cols, top, w, flat, floor in over_floor:
            bound = np.asarray(bounds[n], dtype=np.float64)
            if bound.shape != shape:
                bound = np.broadcast_to(bound, shape)
            allowed = floor + BOUND_MULTIPLE * bound.ravel()
            d = chunk.d[off:off + size]
            if not (d > allowed).any():
                out[n] = agreement(n, shape, dtype, size, w, top, _index(flat, shape, cols), float(allowed[flat]),
                                   worst_ratio(d, allowed))
    if len(out) < len(names):
        full = full or judge()
        for n in names:
            if n not in out:
                out[n] = full.compare(n, got.get(n))
    return list(map(out.__getitem__, names))


def _index(flat: int, shape: tuple, cols: int | None) -> tuple[int, ...]:
    """The index of element ``flat`` of a tensor of ``shape`` (``cols``: its columns if 2-D, 0 if 1-D)."""
    if cols:
        return divmod(flat, cols)
    return (flat,) if cols == 0 else tuple(int(i) for i in np.unravel_index(flat, shape))


class _Layout(NamedTuple):
    """Where each tensor of a case sits in the concatenated vector (one per set of names and shapes)."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]
    total: int
    #: per tensor: its layer's group, numbered 0.. within the case (``_layer``)
    groups: tuple[int, ...]
    n_groups: int
    #: per tensor: (name, offset, size, shape, columns: shape[1] if 2-D, 0 if 1-D, else None)
    tensors: tuple[tuple, ...]


@functools.lru_cache(maxsize=4096)
def _layout(names: tuple[str, ...], shapes: tuple[tuple[int, ...], ...]) -> _Layout | None:
    # (a campaign's cases nearly all have shapes of their own: this runs for most of them)
    sizes = tuple(map(math.prod, shapes))
    if not names or 0 in sizes:
        return None
    offsets = tuple(itertools.accumulate(sizes[:-1], initial=0))
    groups, n_groups = _groups(names)
    cols = [s[1] if len(s) == 2 else 0 if len(s) == 1 else None for s in shapes]
    return _Layout(names, sizes, offsets[-1] + sizes[-1], groups, n_groups,
                   tuple(zip(names, offsets, sizes, shapes, cols)))


@functools.lru_cache(maxsize=1024)
def _groups(names: tuple[str, ...]) -> tuple[tuple[int, ...], int]:
    """Each tensor's layer group (numbered 0.. in order of first appearance), and how many groups."""
    layers = [_layer(n) for n in names]
    number = {layer: k for k, layer in enumerate(dict.fromkeys(layers))}
    return tuple(number[layer] for layer in layers), len(number)


@functools.lru_cache(maxsize=None)
def _layer(name: str) -> int:
    """The layer whose largest gradient scales the floor of ``name`` (``dX`` goes with layer 1)."""
    return tensor_layer(name) or 1


def _slow(names, got, judge) -> list[TensorComparison]:
    full = judge()
    return [full.compare(n, got.get(n)) for n in names]

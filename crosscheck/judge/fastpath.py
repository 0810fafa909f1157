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
processor's cache; the layer scales per case by ``np.maximum.at``), and can
format the records it builds for the results stream and fuzz.csv as it goes
(``stream.keep_texts``). A tensor with ``max_d[t] <= floor[t]`` agrees, and its
record is built straight from these maxima; it is the very record
``Judge.compare`` would return (``tests/test_fastpath.py`` checks this field by
field). A finite tensor over the floor is held to the judge's second stage, the
rounding bound of its case, here too; every other tensor (still over, NaN or inf
anywhere, a missing or misshapen candidate, a torch tensor, a case whose truth
is not finite) goes to the full judge, built only when first needed, so a case
whose tensors all agree costs no judge at all.

``check_chunk(target, cases)`` is ``[check_case(target, c) for c in cases]``
done stage by stage: every case's arrays, then every run of the target, then
every torch truth, then every comparison. The results are the same; the time is
not: each stage's code stays warm in the processor's caches across the chunk,
where case by case the reference, torch and NumPy evict each other (a third
less time per case on the 2-core machine of ``benchmarks/throughput.py``). The
campaign checks its cases this way.
"""
from __future__ import annotations

import functools
import gc
import itertools
import math
import operator
import threading
from typing import Callable, NamedTuple

import numpy as np

from crosscheck.numerics.compare import TensorComparison
from crosscheck.numerics.tolerance import BOUND_MULTIPLE, EPS, FLOOR_ULPS
from crosscheck.model.vocabulary import backward_order, tensor_layer


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


def compare_many(jobs: list[tuple], texts: list | None = None) -> list[list[TensorComparison]]:
    """``[compare_all(*job) for job in jobs]``, the floor settled for every case of a chunk at once.

    Each job is ``(names, got, truth, dtype, judge)``. The NumPy calls of the
    floor stage (concatenation, differences, per-tensor maxima, the layer
    scales, the floor test) run once over every tensor of every job, so their
    fixed cost is shared by the chunk; only building the records stays per tensor.

    With ``texts`` (a list), one entry is appended per job: for a case whose every record the
    floor or the rounding bound settled, its records' results-stream rows and fuzz.csv cells
    (``stream.case_texts``), formatted with the records; else ``None``.
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
                    out += _compare_piece(jobs[at:j + 1], texts)
                    at, total = j + 1, 0
            return out
    return _compare_piece(jobs, texts)


#: Elements of truth per piece of a chunk (``compare_many``): 64k float64, half a MB a vector.
PIECE_ELEMENTS = 1 << 16


def _compare_piece(jobs: list[tuple], texts: list | None) -> list[list[TensorComparison]]:
    out: list[list[TensorComparison] | None] = [None] * len(jobs)
    made: list = [None] * len(jobs)
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
        if texts is not None:
            texts += made
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

    with np.errstate(divide="ignore", invalid="ignore"):  # normwise: the difference over the largest truth
        rel = np.where(top > 0, worst / top, np.where(worst == 0, 0.0, np.inf))
    chunk = _Chunk(d, top.tolist(), worst.tolist(), rel.tolist(), floor.tolist(), first)
    if texts is not None:  # every float's text at once, for the records the floor settles
        # (``repr`` of a float takes most of a microsecond: each layer's floor is written once)
        floor_texts = list(map(float.__repr__, group_floor.tolist()))
        chunk = chunk._replace(texts=(list(map(float.__repr__, chunk.worst)), list(map(float.__repr__, chunk.rel)),
                                      [floor_texts[g] for g in gid.tolist()]))
    finite = finite_job.tolist()
    k = 0
    for j, ((names, got, truth, dtype, judge), placed, fast) in enumerate(zip(jobs, layouts, fasts)):
        if placed is None:
            continue
        layout, t0, e0 = placed
        if not finite[k]:  # the truth is NaN or inf somewhere: undefined elements, the judge's call
            out[j] = _slow(names, got, judge)
        else:
            out[j], made[j] = _settle(names, got, truth, dtype, judge, layout, fast, t0, e0, chunk)
        k += 1
    if texts is not None:
        texts += made
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
    rel: list[float]  # worst / top, normwise
    floor: list[float]
    first: list[int]  # where the largest difference first is, within the tensor
    texts: tuple[list[str], list[str], list[str]] | None = None  # repr of worst, rel and floor


def _settle(names, got, truth, dtype, judge, layout, fast, t0, e0, chunk: _Chunk):
    """One case's records: the floor's verdicts read off the chunk (tensor ``t0`` and element
    ``e0`` on are this case's), then the judge's later stages for what is left; and, when the
    chunk has ``texts`` and the floor or the rounding bound settled every record, their texts
    (see ``compare_many``)."""
    out: dict[str, TensorComparison] = {}
    over_floor: list[tuple] = []
    nan = math.nan
    tops, worsts, rels, floors, first = chunk.top, chunk.worst, chunk.rel, chunk.floor, chunk.first
    # what the texts of the settled records need: (name, shape, size, columns, flat index, the
    # chunk's tensor number, the text of the allowed difference); None once a record has none
    settled: list[tuple] | None = [] if chunk.texts is not None else None
    for i, (n, off, size, shape, cols) in enumerate(layout.tensors, start=t0):
        if n not in fast:
            settled = None
            continue
        w, floor, flat = worsts[i], floors[i], first[i]
        if w <= floor:  # stage 1 of the judge: within the floor; the judge's record, built here
            idx = divmod(flat, cols) if cols else (flat,) if cols == 0 else _unravel(flat, shape)
            rel = rels[i]
            out[n] = TensorComparison(n, shape, shape, dtype, size, 0, 0.0, w, rel, idx, floor, nan, "agree")
            if settled is not None:
                if cols is None or rel == math.inf:  # left to the stream's general code
                    settled = None
                else:
                    settled.append((n, shape, size, cols, flat, i, chunk.texts[2][i]))
        elif w < math.inf:  # finite, over the floor: stage 2 below; NaN/inf go to the judge
            over_floor.append((n, e0 + off, size, tops[i], w, flat, floor, i, cols))
        else:
            settled = None
    full = None
    if over_floor:
        # stage 2 of the judge: floor + M · (rounding bound of each element), the bound measured
        # once for the whole case; what is still over goes through the judge's later stages
        full = judge()
        bounds = full.rounding.bounds
        for n, off, size, m, w, flat, floor, i, cols in over_floor:
            shape = truth[n].shape
            bound = np.asarray(bounds[n], dtype=np.float64)
            if bound.shape != shape:
                bound = np.broadcast_to(bound, shape)
            allowed = floor + BOUND_MULTIPLE * bound.ravel()
            if not (chunk.d[off:off + size] > allowed).any():
                out[n] = record = _agree(n, shape, dtype, size, m, w, flat, float(allowed[flat]))
                if settled is not None:
                    if cols is None or record.max_rel_err == math.inf:
                        settled = None
                    else:
                        settled.append((n, shape, size, cols, flat, i, float.__repr__(record.allowed_abs_err)))
    if len(out) < len(names):
        full = full or judge()
        for n in names:
            if n not in out:
                out[n] = full.compare(n, got.get(n))
        settled = None
    records = list(map(out.__getitem__, names))
    if settled is None or len(settled) != len(names):
        return records, None
    return records, _agreeing_texts(settled, names, dtype, chunk.texts)


def _agreeing_texts(settled: list[tuple], names: list[str], dtype: str, floats) -> tuple[list[str], list[str]]:
    """What ``stream.comparison_texts`` writes for agreeing records of 1-D or 2-D tensors, in the
    order of ``names``: (JSON rows, fuzz.csv cells). ``settled`` as ``_settle`` gathers them,
    ``floats`` the chunk's texts of each tensor's worst and relative differences."""
    worst_text, rel_text = floats[0], floats[1]
    shape_texts = _SHAPE_TEXTS.get
    made = {}
    for n, shape, size, cols, flat, i, allowed in settled:
        as_json, as_csv = shape_texts(shape) or _shape_texts(shape)
        worst, rel = worst_text[i], rel_text[i]
        if cols:
            a, b = divmod(flat, cols)
            made[n] = (f'["{n}",{as_json},{as_json},"{dtype}",{size},0,0.0,{worst},{rel},[{a},{b}],'
                       f'{allowed},NaN,"agree","","","",0]',
                       f'{n},{as_csv},agree,{worst},{rel},{allowed},,0,{size},0.0,"({a}, {b})",True,,')
        else:
            made[n] = (f'["{n}",{as_json},{as_json},"{dtype}",{size},0,0.0,{worst},{rel},[{flat}],'
                       f'{allowed},NaN,"agree","","","",0]',
                       f'{n},{as_csv},agree,{worst},{rel},{allowed},,0,{size},0.0,"({flat},)",True,,')
    rows, cells = zip(*map(made.__getitem__, names))
    return list(rows), list(cells)


def _shape_texts(shape: tuple[int, ...]) -> tuple[str, str]:
    """A shape as an agreeing record's results-stream row and fuzz.csv cells write it (``[3,4]``,
    ``3x4``), kept in ``_SHAPE_TEXTS``: a campaign meets a few thousand shapes."""
    if len(_SHAPE_TEXTS) >= 65536:
        _SHAPE_TEXTS.clear()
    _SHAPE_TEXTS[shape] = ("[" + ",".join(map(str, shape)) + "]", "x".join(map(str, shape)) or "-")
    return _SHAPE_TEXTS[shape]


_SHAPE_TEXTS: dict[tuple[int, ...], tuple[str, str]] = {}


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


def _unravel(flat: int, shape: tuple) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def _agree(name, shape, dtype, size, top, worst, flat, allowed) -> TensorComparison:
    """The judge's record of an agreeing tensor: ``worst`` the largest difference, first at ``flat``."""
    idx = divmod(flat, shape[1]) if len(shape) == 2 else (flat,) if len(shape) == 1 else _unravel(flat, shape)
    rel = worst / top if top > 0 else (0.0 if worst == 0 else math.inf)
    return TensorComparison(name, shape, shape, dtype, size, 0, 0.0, worst, rel, idx, allowed, math.nan, "agree")


@functools.lru_cache(maxsize=None)
def _layer(name: str) -> int:
    """The layer whose largest gradient scales the floor of ``name`` (``dX`` goes with layer 1)."""
    return tensor_layer(name) or 1


def _slow(names, got, judge) -> list[TensorComparison]:
    full = judge()
    return [full.compare(n, got.get(n)) for n in names]


def check_chunk(target, cases: list, *, texts: bool = False) -> list:
    """``[check_case(target, c) for c in cases]``, stage by stage (see the module docstring).
    ``texts``: format the records for the results stream as they are made (``check.judge_many``).

    A case whose target raises (a crash, or a return value that cannot be read)
    is handed to ``check_case`` itself, which runs the target again and makes the
    record, traceback and all.
    """
    if gc.isenabled():
        # no cycle collection within a chunk: its cases make few cycles (refcounting frees nearly
        # everything), and each collection would scan every object of the process, torch's and
        # the reports' included; the chunk's garbage, if any, is collected as soon as it ends
        gc.disable()
        try:
            return check_chunk(target, cases, texts=texts)
        finally:
            gc.enable()
    from crosscheck.judge.check import check_case, judge_many
    from crosscheck.judge.oracle import mirror

    arrays = [c.arrays() for c in cases]
    outputs = []
    for case, (X, Y, params) in zip(cases, arrays):
        try:
            outputs.append(target.run(case.network, X, Y, params))
        except BaseException as e:  # the target's own failure: check_case records it below
            if isinstance(e, KeyboardInterrupt):
                raise
            outputs.append(None)
    truths = [mirror(c.network, X, Y, params, "float64") if got is not None else None
              for c, (X, Y, params), got in zip(cases, arrays, outputs)]
    judged = iter(judge_many([(target, case, X, Y, params, got, truth)
                              for case, (X, Y, params), got, truth in zip(cases, arrays, outputs, truths)
                              if got is not None], texts=texts))
    return [check_case(target, case) if got is None else next(judged) for case, got in zip(cases, outputs)]


def ordered(names: list[str]) -> list[str]:
    """``vocabulary.backward_order(names)``, kept for each set of names a campaign meets (a few dozen)."""
    return list(_backward_order(tuple(names)))


@functools.lru_cache(maxsize=1024)
def _backward_order(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(backward_order(names))

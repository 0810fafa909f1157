"""Rows from check results, one per case and tensor: pandas frames, and ``Tally`` for long runs.

A long campaign has millions of rows; ``Tally`` takes them one case at a time
and keeps only the totals, the activations x loss table and a bounded sample of
cases for the HTML figures, so writing the reports of 100,000 cases takes no
more memory than writing those of 1,000 (``benchmarks/memory.py``).
"""
from __future__ import annotations

import csv
import io
import json
import math
import operator
import random

import numpy as np
import pandas as pd

from crosscheck.model.records import CaseResult, json_safe

COLUMNS = ["case", "target", "depth", "sizes", "batch", "activations", "loss", "reduction", "dtype", "regime",
           "seed", "tensor", "shape", "status", "ratio", "max_abs_err", "max_rel_err", "allowed_abs_err", "torch_err",
           "mismatches", "size", "mismatch_fraction", "worst_index", "agree", "arbiter", "note"]


def case_rows(index: int, result: CaseResult) -> list[list]:
    """The rows of one case as lists in ``COLUMNS`` order, ``None`` where a crash has no value.

    ``comparison_rows`` without the dicts: a campaign writes a dozen rows a case as it runs. A folded
    case (``CaseResult.folded``) has one row, tensor ``all``: its sizes summed, its worst errors.
    """
    head = _head(index, result)
    if result.crash is not None:
        return [head + ["", "", "crash", math.nan, math.nan, math.nan, None, None, None, None, None, None, False,
                        None, None]]
    return [head + [cmp.tensor, "x".join(map(str, cmp.shape)) or "-", cmp.status, cmp.ratio, cmp.max_abs_err,
                    cmp.max_rel_err,
                    cmp.allowed_abs_err, cmp.torch_err, cmp.mismatches, cmp.size, cmp.mismatch_fraction,
                    "" if cmp.worst_index is None else str(tuple(cmp.worst_index)), cmp.agree, cmp.arbiter,
                    "; ".join(x for x in (cmp.note, cmp.arbiter_note) if x)]
            for cmp in result.comparisons]


def _head(index: int, result: CaseResult) -> list:
    """The columns of a case's rows up to ``tensor``: the same in each of its rows."""
    c, n = result.case, result.case.network
    return [index, result.target, n.depth, "-".join(map(str, n.sizes)), c.batch, ",".join(n.activations), n.loss,
            n.reduction, c.dtype, c.regime, c.seed]


def row_dict(row: list) -> dict:
    """A ``case_rows`` row as a dict by column, without the columns it has no value for."""
    return {k: v for k, v in zip(COLUMNS, row) if v is not None}


def comparison_rows(results: list[CaseResult], start: int = 0) -> list[dict]:
    """One dict per case and tensor (a crash: one row without a tensor), cases numbered from ``start``."""
    return [row_dict(row) for i, r in enumerate(results, start=start) for row in case_rows(i, r)]


def comparisons_frame(results: list[CaseResult]) -> pd.DataFrame:
    return pd.DataFrame(comparison_rows(results), columns=COLUMNS)


PIVOT_COLUMNS = ["activation", "loss", "cases", "tensors", "worst_ratio", "worst_rel_err_float64",
                 "worst_rel_err_float32", "disagreements"]


def pivot(frame: pd.DataFrame) -> pd.DataFrame:
    """Activation x loss: cases, tensors compared, worst error / allowed (under 1 passes), worst relative
    error per dtype, disagreements.

    A case counts under every activation it uses (a relu-sigmoid network under
    both relu and sigmoid), so a row says how well that activation was exercised.
    """
    if frame.empty:
        return pd.DataFrame(columns=PIVOT_COLUMNS)
    frame = frame.assign(activation=frame["activations"].astype(str).str.split(",").map(lambda a: sorted(set(a))))
    frame = frame.explode("activation")
    g = frame.groupby(["activation", "loss"], sort=True)
    rel = {dt: frame["max_rel_err"].where(frame["dtype"] == dt) for dt in ("float64", "float32")}
    out = pd.DataFrame({
        "cases": g["case"].nunique(),
        "tensors": g["tensor"].count(),
        "worst_ratio": g["ratio"].max(),
        "worst_rel_err_float64": rel["float64"].groupby([frame["activation"], frame["loss"]]).max(),
        "worst_rel_err_float32": rel["float32"].groupby([frame["activation"], frame["loss"]]).max(),
        "disagreements": g["agree"].apply(lambda s: int((~s.astype(bool)).sum())),
    }).reset_index()
    return out[PIVOT_COLUMNS]


def markdown_text(text) -> str:
    """``text`` as Markdown shows it literally: ``&``, ``<`` and ``>`` as entities, so a name or message
    that holds markup (a file named ``<img src=x onerror=...>.py``) is never live HTML where Markdown is
    rendered. (Code spans and fences show their text literally already, and need no escaping.)"""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown(frame: pd.DataFrame, floatfmt: str = ".3g") -> str:
    """A pipe table, every text cell through ``markdown_text``; ``to_markdown`` needs tabulate, which this
    does without."""
    if frame.empty:
        return "_(none)_\n"
    cols = [str(c) for c in frame.columns]

    def cell(v):
        if isinstance(v, float):
            return format(v, floatfmt) if math.isfinite(v) else str(v)
        return markdown_text(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_json(path, data) -> None:
    with open(path, "w") as fh:
        json.dump(json_safe(data), fh, indent=2)
        fh.write("\n")


# -- long runs: one case at a time --------------------------------------------------------------

#: Cases whose rows the HTML report keeps (a uniform sample beyond this many).
SAMPLE_CASES = 3000


def csv_cells(row: dict | list) -> list:
    """A row (a dict, or a list in ``COLUMNS`` order) as ``COLUMNS`` cells, written as
    ``DataFrame.to_csv`` writes them (NaN and None empty)."""
    values = [row.get(k) for k in COLUMNS] if isinstance(row, dict) else row
    return ["" if v is None or (v != v and isinstance(v, float)) else v for v in values]


def case_csv(index: int, result: CaseResult) -> str:
    """A case's rows as ``csv.writer`` writes their ``csv_cells``, one line each."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(map(csv_cells, case_rows(index, result)))
    return buf.getvalue()


#: Positions in a ``case_rows`` row of the columns ``Tally`` reads.
_CASE, _ACTIVATIONS, _LOSS, _DTYPE, _RATIO, _REL, _AGREE, _STATUS = (COLUMNS.index(k) for k in (
    "case", "activations", "loss", "dtype", "ratio", "max_rel_err", "agree", "status"))


_agree_of, _rel_of, _ratio_of = (operator.attrgetter(k) for k in ("agree", "max_rel_err", "ratio"))
#: How ``Tally.frame`` reads a column of a result ``r`` (case ``i``) off its comparisons ``cs``, as
#: ``case_rows`` writes it; a column not here is read from the full rows.
_READ = {
    "case": lambda i, r, cs: [i] * len(cs),
    "dtype": lambda i, r, cs: [r.case.dtype] * len(cs),
    **{k: (lambda get: lambda i, r, cs: map(get, cs))(operator.attrgetter(k))
       for k in ("tensor", "status", "ratio", "max_abs_err", "max_rel_err", "torch_err", "agree")},
}

class Tally:
    """The fuzz reports' numbers, gathered case by case: ``add(rows)`` with one case's rows
    (``case_rows``, or the dicts of ``comparison_rows``), or ``add_result(index, result)``, the same
    without building the rows. The totals and ``pivot()`` are exact; ``frame()`` holds every row of
    up to ``sample_cases`` cases, beyond that a uniform sample of the cases (seeded: the same run
    gives the same sample).
    """

    def __init__(self, sample_cases: int = SAMPLE_CASES, seed: int = 0):
        self.cases = self.tensors = self.disagreements = 0
        self.max_rel: float | None = None  # finite values only
        self.max_rel_by_dtype: dict[str, float | None] = {}  # NaN skipped, inf kept (as pandas ``max``)
        self.max_ratio_by_dtype: dict[str, float] = {}  # error / allowed, NaN skipped
        self._finite_by_dtype: dict[str, float | None] = {}
        # (activation, loss) -> [cases, tensors, {dtype: worst}, bad, worst ratio]; a case counts under each
        # activation it uses
        self._groups: dict[tuple[str, str], list] = {}
        self._groups_of: dict[tuple, list[list]] = {}  # (activations column, loss) -> that case's groups
        self.sample_cases = sample_cases
        # (case index, its rows or its CaseResult): the rows of a result are built by ``frame``
        self._sample: list[tuple[int, list | CaseResult]] = []
        self._rng = random.Random(seed)

    def add(self, rows: list[dict]) -> None:
        if not rows:
            return
        if isinstance(rows[0], dict):
            rows = [[row.get(k) for k in COLUMNS] for row in rows]
        head = rows[0]
        self._count(str(head[_ACTIVATIONS]), head[_LOSS], head[_DTYPE], len(rows),
                    sum(not row[_AGREE] for row in rows), [row[_REL] for row in rows],
                    _worst(row[_RATIO] for row in rows), (head[_CASE], rows))

    def add_result(self, index: int, result: CaseResult) -> None:
        """``add(case_rows(index, result))``, reading the records instead of rows: the case's rows are
        built only if ``frame`` needs them."""
        comparisons = result.comparisons
        if result.crash is not None or not comparisons:
            return self.add(case_rows(index, result))
        agree = list(map(_agree_of, comparisons))
        case = result.case
        self._count(",".join(case.network.activations), case.network.loss, case.dtype, result.tensor_count,
                    0 if all(agree) else sum(not a for a in agree), list(map(_rel_of, comparisons)),
                    _worst(map(_ratio_of, comparisons)), (index, result))

    def _count(self, activations: str, loss, dtype, tensors: int, bad: int, rels: list, ratio: float | None,
               entry: tuple) -> None:
        """One case: ``tensors`` compared, ``bad`` of them disagreeing, their relative errors ``rels``
        (NaN or None where none), the worst ``ratio`` (error / allowed); ``entry`` is what the sample
        keeps of it."""
        try:  # (as C doubles: no NumPy warning for inf - inf)
            total = math.fsum(rels)
        except (TypeError, ValueError, OverflowError):  # None, inf - inf, an int too large
            total = math.nan
        # the usual case, every error finite: no NaN to skip, no inf to leave out of ``finite``
        if total - total == 0.0:
            worst = finite = max(rels)
        else:
            worst = finite = None
            for rel in rels:
                if rel is not None and rel == rel:  # not NaN
                    worst = rel if worst is None else max(worst, rel)
                    if rel != math.inf:
                        finite = rel if finite is None else max(finite, rel)
        # the first greatest value wins, as when the rows are taken one by one (``max`` keeps its first argument)
        self.cases += 1
        self.tensors += tensors
        self.disagreements += bad
        groups = self._groups_of.get((activations, loss))
        if groups is None:
            groups = self._groups_of[(activations, loss)] = [
                self._groups.setdefault((act, loss), [0, 0, {}, 0, math.nan])
                for act in sorted(set(activations.split(",")))]
        for group in groups:
            group[0] += 1
            group[1] += tensors
            group[3] += bad
            if ratio is not None and not group[4] >= ratio:
                group[4] = ratio
            if worst is not None:
                w = group[2].get(dtype)
                group[2][dtype] = worst if w is None else max(w, worst)
        by_dtype, finite_by_dtype = self.max_rel_by_dtype.get(dtype), self._finite_by_dtype.get(dtype)
        if worst is not None:
            by_dtype = worst if by_dtype is None else max(by_dtype, worst)
        if finite is not None:
            finite_by_dtype = finite if finite_by_dtype is None else max(finite_by_dtype, finite)
            self.max_rel = finite if self.max_rel is None else max(self.max_rel, finite)
        self.max_rel_by_dtype[dtype], self._finite_by_dtype[dtype] = by_dtype, finite_by_dtype
        if ratio is not None and not self.max_ratio_by_dtype.get(dtype, -1.0) >= ratio:
            self.max_ratio_by_dtype[dtype] = ratio
        if len(self._sample) < self.sample_cases:  # reservoir sampling of whole cases (Algorithm R)
            self._sample.append(entry)
        else:
            j = self._rng.randrange(self.cases)
            if j < self.sample_cases:
                self._sample[j] = entry

    @property
    def sampled(self) -> bool:
        return self.cases > len(self._sample)

    def frame(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Every row of the sampled cases in case order: every row of the run unless ``sampled``.

        ``columns`` (a subset of ``COLUMNS``) gives ``frame()[columns]`` without building the
        other columns: the HTML page needs six of the 25, read straight off the records.
        """
        entries = sorted(self._sample, key=lambda entry: entry[0])
        if columns is None:
            cases = [kept if isinstance(kept, list) else case_rows(index, kept) for index, kept in entries]
            frame = pd.DataFrame([row for rows in cases for row in rows], columns=COLUMNS)
            # a crash row has no value in most columns: NaN there, as in ``comparisons_frame``
            return frame.fillna(np.nan) if any(rows[0][_AGREE] is False and rows[0][_STATUS] == "crash"
                                               for rows in cases) else frame
        at = [COLUMNS.index(k) for k in columns]
        read = [_READ.get(k) for k in columns]
        data: list[list] = [[] for _ in columns]
        crashed = False
        for index, kept in entries:
            if isinstance(kept, list) or kept.crash is not None or any(r is None for r in read):
                rows = kept if isinstance(kept, list) else case_rows(index, kept)
                crashed = crashed or (rows[0][_AGREE] is False and rows[0][_STATUS] == "crash")
                for values, k in zip(data, at):
                    values.extend(row[k] for row in rows)
            else:
                for values, r in zip(data, read):
                    values.extend(r(index, kept, kept.comparisons))
        frame = pd.DataFrame(dict(zip(columns, data)), columns=columns)
        return frame.fillna(np.nan) if crashed else frame

    def pivot(self) -> pd.DataFrame:
        """``pivot(frame)`` of every row of the run, from the totals."""
        rows = [(a, l, c, t, r, w.get("float64", math.nan), w.get("float32", math.nan), d)
                for (a, l), (c, t, w, d, r) in sorted(self._groups.items())]
        return pd.DataFrame(rows, columns=PIVOT_COLUMNS)

    def totals(self) -> dict:
        """Counts and worst errors of every row (what a sampled ``frame()`` cannot say), by overview label."""
        return {"tensors compared": self.tensors, "disagreeing tensors": self.disagreements,
                **{f"worst error / allowed, {dt}": v for dt, v in sorted(self.max_ratio_by_dtype.items())},
                "worst relative error": self.max_rel if self.max_rel is not None else 0.0,
                **{f"worst relative error, {dt}": (math.nan if v is None else v)
                   for dt, v in sorted(self._finite_by_dtype.items())}}

    def sample_note(self) -> str:
        if not self.sampled:
            return ""
        return (f"The per-kind table and the figures describe a uniform sample of {len(self._sample)} of the "
                f"{self.cases} cases (every tensor of each); the first table's totals and the activation x loss "
                f"table count every case, and fuzz.csv holds every row written (per tensor, or one per "
                f"agreeing case without --all-rows).")


def _worst(ratios) -> float | None:
    """The largest ratio that is not NaN or None; ``None`` when there is none."""
    worst = None
    for r in ratios:
        if r is not None and r == r and (worst is None or r > worst):
            worst = r
    return worst

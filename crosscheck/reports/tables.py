"""pandas frames from check results: one row per case and tensor."""
from __future__ import annotations

import json
import math

import pandas as pd

from ..check import CaseResult

COLUMNS = ["case", "target", "depth", "sizes", "batch", "activations", "loss", "reduction", "dtype", "regime",
           "seed", "tensor", "shape", "status", "max_abs_err", "max_rel_err", "allowed_abs_err", "torch_err",
           "mismatches", "size", "mismatch_fraction", "worst_index", "agree"]


def case_columns(index: int, result: CaseResult) -> dict:
    c, n = result.case, result.case.network
    return {"case": index, "target": result.target, "depth": n.depth, "sizes": "-".join(map(str, n.sizes)),
            "batch": c.batch, "activations": ",".join(n.activations), "loss": n.loss, "reduction": n.reduction,
            "dtype": c.dtype, "regime": c.regime, "seed": c.seed}


def comparison_rows(results: list[CaseResult], start: int = 0) -> list[dict]:
    rows = []
    for i, r in enumerate(results, start=start):
        head = case_columns(i, r)
        if r.crash is not None:
            rows.append({**head, "tensor": "", "shape": "", "status": "crash", "agree": False,
                         "max_abs_err": math.nan, "max_rel_err": math.nan})
            continue
        for cmp in r.comparisons:
            rows.append({**head, "tensor": cmp.tensor, "shape": "x".join(map(str, cmp.shape)) or "-",
                         "status": cmp.status, "max_abs_err": cmp.max_abs_err, "max_rel_err": cmp.max_rel_err,
                         "allowed_abs_err": cmp.allowed_abs_err, "torch_err": cmp.torch_err,
                         "mismatches": cmp.mismatches, "size": cmp.size,
                         "mismatch_fraction": cmp.mismatch_fraction,
                         "worst_index": "" if cmp.worst_index is None else str(tuple(cmp.worst_index)),
                         "agree": cmp.agree})
    return rows


def comparisons_frame(results: list[CaseResult]) -> pd.DataFrame:
    return pd.DataFrame(comparison_rows(results), columns=COLUMNS)


def pivot(frame: pd.DataFrame) -> pd.DataFrame:
    """Activation set x loss: cases, tensors compared, worst relative error, disagreements."""
    if frame.empty:
        return pd.DataFrame(columns=["activations", "loss", "cases", "tensors", "worst_rel_err", "disagreements"])
    g = frame.groupby(["activations", "loss"], sort=True)
    out = pd.DataFrame({
        "cases": g["case"].nunique(),
        "tensors": g["tensor"].count(),
        "worst_rel_err": g["max_rel_err"].max(),
        "disagreements": g["agree"].apply(lambda s: int((~s.astype(bool)).sum())),
    }).reset_index()
    return out


def markdown(frame: pd.DataFrame, floatfmt: str = ".3g") -> str:
    """A pipe table; ``to_markdown`` needs tabulate, which this does without."""
    if frame.empty:
        return "_(none)_\n"
    cols = [str(c) for c in frame.columns]

    def cell(v):
        if isinstance(v, float):
            return format(v, floatfmt) if math.isfinite(v) else str(v)
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def json_safe(obj):
    """Replace NaN and inf (not JSON) with strings, recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_json(path, data) -> None:
    with open(path, "w") as fh:
        json.dump(json_safe(data), fh, indent=2)
        fh.write("\n")

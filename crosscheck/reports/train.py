"""``train.csv``, ``train.md`` and ``train.html`` for ``crosscheck train``.

``train.csv`` has one row per trajectory, step and tensor (the parameters and
``loss``), with the optimizer and its hyperparameters beside the case columns
of ``tables``. ``train.md`` summarizes each optimizer and lists the diverging
trajectories with their first diverging step. ``train.html`` (one self-contained
page, figures inline as PNG) adds the loss curves of both sides and the
worst relative error of the parameters after each step.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from crosscheck.judge.check import CaseResult
from crosscheck.judge.trajectory import LOSS, TrajectoryResult
from crosscheck.reports.tables import COLUMNS, comparison_rows, markdown, write_json

OPTIMIZER_COLUMNS = ["optimizer", "lr", "momentum", "dampening", "nesterov", "beta1", "beta2", "eps",
                     "weight_decay", "steps", "step", "reference_loss", "torch_loss"]
TRAIN_COLUMNS = COLUMNS[:COLUMNS.index("tensor")] + OPTIMIZER_COLUMNS + COLUMNS[COLUMNS.index("tensor"):]
#: Loss curves drawn per optimizer (diverging trajectories first).
CURVES = 8


def optimizer_columns(r: TrajectoryResult) -> dict:
    h = r.optimizer.hyper
    betas = h.get("betas", (math.nan, math.nan))
    return {"optimizer": r.optimizer.name, "lr": h["lr"], "momentum": h.get("momentum", math.nan),
            "dampening": h.get("dampening", math.nan), "nesterov": h.get("nesterov", ""),
            "beta1": betas[0], "beta2": betas[1], "eps": h.get("eps", math.nan),
            "weight_decay": h["weight_decay"], "steps": r.steps}


def _value(values, t):
    v = values[t] if t < len(values) else None
    return math.nan if v is None else v


def step_rows(results: list[TrajectoryResult], start: int = 0) -> list[dict]:
    """One row per trajectory, step and tensor; a crash is one row at the step it happened."""
    rows = []
    for i, r in enumerate(results, start=start):
        extra = optimizer_columns(r)
        if r.crash is not None:
            for row in comparison_rows([r], start=i):
                rows.append({**row, **extra, "step": r.crash.get("step"), "reference_loss": math.nan,
                             "torch_loss": math.nan})
            continue
        for t in sorted(r.per_step):
            step = CaseResult(r.case, r.target, r.per_step[t])
            for row in comparison_rows([step], start=i):
                rows.append({**row, **extra, "step": t, "reference_loss": _value(r.losses, t),
                             "torch_loss": _value(r.torch_losses, t)})
    return rows


def steps_frame(results: list[TrajectoryResult]) -> pd.DataFrame:
    return pd.DataFrame(step_rows(results), columns=TRAIN_COLUMNS)


def _trajectories(runs: dict) -> list[tuple[str, TrajectoryResult]]:
    return [(name, r) for name, run in runs.items() for r in run.results]


def summary_frame(runs: dict, frame: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer: trajectories, steps compared, worst relative errors, diverging trajectories."""
    rows = []
    for name, run in runs.items():
        results = run.results
        sub = frame[frame["optimizer"] == name] if len(frame) else frame
        params = sub[sub["tensor"] != LOSS] if len(sub) else sub
        losses = sub[sub["tensor"] == LOSS] if len(sub) else sub
        firsts = [r.diverged_at for r in results if not r.agree]
        rows.append({
            "optimizer": name, "trajectories": len(results),
            "steps_compared": sum(len(r.per_step) for r in results),
            "tensors_compared": int(len(sub)),
            "worst_param_rel_err": _worst(params), "worst_loss_rel_err": _worst(losses),
            "diverging": len(firsts), "first_divergence": min(firsts) if firsts else "-",
            "findings": len(run.findings), "seconds": round(run.seconds, 2),
        })
    return pd.DataFrame(rows)


def _worst(frame: pd.DataFrame) -> float:
    if frame is None or not len(frame):
        return 0.0
    s = frame["max_rel_err"].replace([math.inf, -math.inf], math.nan).dropna()
    return float(s.max()) if len(s) else 0.0


def finding_dict(optimizer: str, f) -> dict:
    r: TrajectoryResult = f.result
    worst = r.divergence
    return {"optimizer": optimizer, "kind": f.kind, "tensors": f.tensors, "first_step": r.diverged_at,
            "steps": r.steps, "worst_tensor": worst.tensor if worst else None,
            "worst_rel_err": worst.max_rel_err if worst else None, "message": r.message(),
            "first_seen": f.first_seen, "example": r.training_case.to_dict(), "crash": r.crash,
            "comparisons": [c.to_dict() for c in r.failing]}


def write(runs: dict, directory: str | Path) -> dict[str, Path]:
    """Write the three files for ``runs`` (optimizer name -> ``fuzz.FuzzRun`` of trajectories)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    frame = steps_frame([r for _, r in _trajectories(runs)])
    paths = {"csv": out / "train.csv", "md": out / "train.md", "html": out / "train.html",
             "json": out / "train.json"}
    frame.to_csv(paths["csv"], index=False)
    summary = summary_frame(runs, frame)
    findings = [finding_dict(name, f) for name, run in runs.items() for f in run.findings]
    seed = next((run.seed for run in runs.values()), None)  # one seed for every optimizer of a run
    write_json(paths["json"], {"seed": seed, "optimizers": summary.to_dict(orient="records"), "findings": findings})
    paths["md"].write_text(markdown_page(summary, findings))
    paths["html"].write_text(html_page(runs, summary, findings))
    return paths


def _verdict(summary: pd.DataFrame) -> str:
    bad = int(summary["diverging"].sum()) if len(summary) else 0
    total = int(summary["trajectories"].sum()) if len(summary) else 0
    if not bad:
        return f"All {total} trajectories agree with torch.optim at every step."
    return f"{bad} of {total} trajectories diverge from torch.optim."


def markdown_page(summary: pd.DataFrame, findings: list[dict]) -> str:
    lines = ["# crosscheck train: the reference optimizers against torch.optim", "", _verdict(summary), "",
             "Each trajectory starts from the same parameters on both sides and takes the same full-batch "
             "steps; parameters and loss are compared after every step.", "",
             "## Optimizers", "", markdown(summary), "## Diverging trajectories", ""]
    if not findings:
        lines.append("None: every parameter and every loss agrees at every step.\n")
    for i, f in enumerate(findings, 1):
        worst = (f" (worst: {f['worst_tensor']}, relative error {f['worst_rel_err']:.3g})"
                 if f["worst_tensor"] else "")
        lines += [f"### {i}. {f['optimizer']}: {f['kind']} at step {f['first_step']} of {f['steps']}{worst}", "",
                  f"- minimal example: `{f['example']}` (first seen at trajectory {f['first_seen']})", "",
                  "```", f["message"], "```", ""]
    return "\n".join(lines)


# -- HTML: loss curves of both sides ---------------------------------------------------

def _chosen(results: list[TrajectoryResult], findings) -> list[TrajectoryResult]:
    """The findings' minimal examples, two more diverging trajectories, then the longest ones."""
    picked = [f.result for f in findings]
    picked += [r for r in results if not r.agree and all(r is not p for p in picked)][:2]  # not every shrink step
    picked += sorted((r for r in results if r.agree), key=lambda r: -r.steps)
    seen, out = set(), []
    for r in picked:
        key = (repr(r.case.to_dict()), r.optimizer.describe(), r.steps)
        if key not in seen and r.crash is None:
            seen.add(key)
            out.append(r)
    return out[:CURVES]


def loss_curves_figure(results: list[TrajectoryResult], title: str):
    """A grid of small plots: loss after each step, the reference (solid) and torch.optim (dashed)."""
    from matplotlib.figure import Figure

    n = max(len(results), 1)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.2 * cols, 2.5 * rows), layout="constrained")
    fig.suptitle(title)
    for k, r in enumerate(results):
        ax = fig.add_subplot(rows, cols, k + 1)
        steps = np.arange(len(r.torch_losses))
        ref = np.array([math.nan if v is None else v for v in r.losses], dtype=float)
        tor = np.array(r.torch_losses, dtype=float)
        ref[~np.isfinite(ref)], tor[~np.isfinite(tor)] = math.nan, math.nan  # gaps where a side blew up
        finite = np.concatenate([ref[np.isfinite(ref)], tor[np.isfinite(tor)]])
        # NOTE: losses that span many decades are drawn as log10 on a linear axis: matplotlib's
        # log axis overflows on a blown-up trajectory's 1e300.
        wide = finite.size and finite.min() > 0 and finite.max() / finite.min() > 20
        if wide:
            ref, tor = np.log10(ref), np.log10(tor)
        ax.plot(steps, ref, "-o", markersize=3, label="reference", color="#1f77b4")
        ax.plot(steps, tor, "--", label="torch.optim", color="#d62728")
        ax.set_ylabel("log10 loss" if wide else "loss", fontsize=8)
        if r.diverged_at is not None:
            ax.axvline(r.diverged_at, color="#b00020", linewidth=1)
        n_ = r.case.network
        ax.set_title(f"{'-'.join(map(str, n_.sizes))} {n_.loss} {r.case.dtype}\n"
                     f"{r.optimizer.name} lr={r.optimizer.lr:g}"
                     + (f", diverges at {r.diverged_at}" if r.diverged_at else ""), fontsize=8)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.ticklabel_format(axis="y", useOffset=False)  # losses as they are, not "+1.319"
        if k == 0:
            ax.legend(fontsize=7)
    return fig


def error_by_step_figure(results: list[TrajectoryResult], title: str):
    """The worst normwise relative error of the parameters after each step, one line per trajectory."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for r in results:
        ts = sorted(r.per_step)
        errs = [max([c.max_rel_err for c in r.per_step[t] if c.tensor != LOSS and math.isfinite(c.max_rel_err)]
                    or [0.0]) for t in ts]
        # log10 on a linear axis, exact agreement drawn at -18 (a log axis has no 0)
        ax.plot(ts, np.log10(np.clip(errs, 1e-18, 1e300)), color="#b00020" if not r.agree else "#1f77b4",
                alpha=0.9 if not r.agree else 0.25, linewidth=1.4 if not r.agree else 0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("log10 worst relative error")
    ax.set_title(title, fontsize=10)
    return fig


def html_page(runs: dict, summary: pd.DataFrame, findings: list[dict]) -> str:
    from crosscheck.reports.html import _document, _e, _img, _table

    ok = not int(summary["diverging"].sum()) if len(summary) else True
    body = ["<h1>crosscheck train</h1>",
            "<p class='lead'>The reference optimizers (<code>reference/optimizers.py</code>) against "
            "<code>torch.optim</code>: same initial parameters, same full batch, parameters and loss compared "
            "after every step.</p>",
            f"<p class='{'verdict-ok' if ok else 'verdict-bad'}'>{_e(_verdict(summary))}</p>",
            _table(summary, "Optimizers", text_columns=("optimizer", "first_divergence"),
                   bad_columns=("diverging", "findings"))]
    for name, run in runs.items():
        if not run.results:
            continue
        body.append(f"<h2>{_e(name)}</h2>")
        chosen = _chosen(run.results, run.findings)
        body.append(_img(loss_curves_figure(chosen, f"{name}: loss after each step"),
                         f"loss curves of the reference and torch.optim for {name}"))
        body.append(_img(error_by_step_figure(run.results, f"{name}: worst parameter error after each step "
                                                           f"({len(run.results)} trajectories; red: diverging)"),
                         f"relative error by step for {name}"))
        for f in (x for x in findings if x["optimizer"] == name):
            body += [f"<h3>{_e(f['kind'])} at step {f['first_step']} of {f['steps']}</h3>",
                     f"<p>minimal example: <code>{_e(f['example'])}</code></p>",
                     f"<pre>{_e(f['message'])}</pre>"]
    return _document("crosscheck train", body)

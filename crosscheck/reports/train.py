"""``train.csv``, ``train.md`` and ``train.html`` for ``crosscheck train``.

``train.csv`` has one row per trajectory, step and tensor (the parameters and
``loss``), with the optimizer and its hyperparameters beside the case columns
of ``tables``. ``train.md`` summarizes each optimizer and lists the diverging
trajectories with their first diverging step. ``train.html`` (``reports.html``,
figures inline as SVG) adds the losses of both sides and the worst error over
its allowance of the parameters after each step.
"""
from __future__ import annotations

import json
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
CURVES = 6


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
    write_json(paths["json"], {"optimizers": summary.to_dict(orient="records"), "findings": findings})
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


#: Losses above this are drawn at it, marked "x" (a blown-up trajectory reaches 1e300 and inf).
LOSS_CEILING = 1e12


def _losses(values) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def trajectories_figure(chosen: list[TrajectoryResult], results: list[TrajectoryResult], title: str):
    """Two panels. Left: the loss after each step of the ``chosen`` trajectories, torch.optim as a line and the
    reference as dots on it (log scale; losses above ``LOSS_CEILING`` or not finite drawn at the ceiling as
    "x", so a blown-up pair shows where it blew up instead of two lines on top of each other). Right: the
    worst error / allowed of the parameters after each step, every trajectory (red: diverging; the
    allowance a dashed line at 1)."""
    from crosscheck.reports.figures import CEILING, FLOOR, RATIO_LABEL, log_scale, new_figure

    fig = new_figure(10.0, 3.3)
    left, right = fig.subplots(1, 2)
    fig.suptitle(title)
    colors = [f"C{i}" for i in range(10)]
    clipped = False
    for k, r in enumerate(chosen):
        color = colors[k % len(colors)]
        steps = np.arange(len(r.torch_losses))
        for values, style in ((_losses(r.torch_losses), dict(linestyle="-", linewidth=1.2)),
                              (_losses(r.losses), dict(linestyle="none", marker="o", markersize=3.2))):
            values = values[: len(steps)]
            over = ~np.isfinite(values) | (np.abs(values) > LOSS_CEILING)
            clipped |= bool(over.any())
            shown = np.where(over, np.nan, np.clip(np.abs(values), 1e-16, None))
            left.plot(steps[: len(shown)], shown, color=color, **style)
            left.plot(steps[: len(shown)][over], np.full(int(over.sum()), LOSS_CEILING), "x", color=color)
    left.set_yscale("log")
    log_scale(left.yaxis)
    left.set_xlabel("step")
    left.set_ylabel("loss")
    note = f"; over {LOSS_CEILING:g} or not finite: x at {LOSS_CEILING:g}" if clipped else ""
    left.set_title(f"loss: torch.optim (line), reference (dots){note}", fontsize=8)
    for r in sorted(results, key=lambda r: not r.agree):  # the diverging ones drawn last, on top
        ts = sorted(r.per_step)
        worst = [max([c.ratio for c in r.per_step[t] if c.tensor != LOSS] or [0.0]) for t in ts]
        worst = np.clip(np.nan_to_num(np.array(worst, dtype=float), nan=CEILING, posinf=CEILING), FLOOR, CEILING)
        right.plot(ts, worst, color="#b00020" if not r.agree else "#1f77b4", alpha=0.9 if not r.agree else 0.3,
                   linewidth=1.3 if not r.agree else 0.8)
    right.set_yscale("log")
    log_scale(right.yaxis)
    right.set_ylim(FLOOR / 3, CEILING * 3)
    right.axhline(1, color="#b00020", linestyle="--", linewidth=1)
    right.set_xlabel("step")
    right.set_ylabel(f"worst {RATIO_LABEL}")
    right.set_title(f"parameters, {len(results)} trajectories (red: diverging)", fontsize=8)
    return fig


def html_page(runs: dict, summary: pd.DataFrame, findings: list[dict]) -> str:
    """``train.html``: the optimizers' table, then per optimizer its figure and its diverging trajectories."""
    from crosscheck.reports import html

    ok = not int(summary["diverging"].sum()) if len(summary) else True
    sections = [html.Section("", [
        html.Text("The reference optimizers (crosscheck/reference/optimizers.py) against torch.optim: same initial "
                  "parameters, same full batch, parameters and loss compared after every step."),
        html.table(summary, "Optimizers", text_columns=("optimizer", "first_divergence"),
                   bad_columns=("diverging", "findings"))])]
    for name, run in runs.items():
        if not run.results:
            continue
        chosen = _chosen(run.results, run.findings)
        blocks = [html.figure(trajectories_figure, f"loss and error by step of {name}", chosen, run.results,
                              f"{name}: {len(chosen)} of {len(run.results)} trajectories' losses, every one's error")]
        for f in (x for x in findings if x["optimizer"] == name):
            blocks += [html.Text(f"{f['kind']} at step {f['first_step']} of {f['steps']}", "bad"),
                       html.Code("minimal example:", json.dumps(f["example"])), html.Pre(f["message"])]
        sections.append(html.Section(name, blocks))
    lead = [html.Span(_verdict(summary), "ok" if ok else "bad")]
    return html.render(html.Page("crosscheck train", lead, sections))

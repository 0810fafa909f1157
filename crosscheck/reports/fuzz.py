"""``fuzz.csv``, ``fuzz.md``, ``summary.json`` and ``fuzz.html`` for a fuzz run.

``FuzzReport`` takes the results one case at a time, in case order: each case's
rows go straight to fuzz.csv and into a ``tables.Tally``, so memory stays flat
however long the run. ``crosscheck fuzz`` feeds it while the campaign runs
(``fuzz_campaign(in_order=report.add)``), so nothing is read back from the
results stream; ``write(run, dir)`` feeds it a finished run (``crosscheck report``
rebuilds from the stream this way). Either way the files are the same.
"""
from __future__ import annotations

import csv
from pathlib import Path

from crosscheck.engine.fuzz import FuzzRun
from crosscheck.engine.replay import replay_command
from crosscheck.reports.tables import COLUMNS, Tally, case_csv, markdown, write_json


#: Bytes a case takes in a report folder (results.jsonl and fuzz.csv together), measured on 20,000
#: default cases of ``crosscheck fuzz`` (seed 0): every tensor's row, or one row for an agreeing case.
BYTES_PER_CASE = {True: 4600, False: 500}


def disk_note(directory, examples: int, all_rows: bool) -> str:
    """One line: the disk a run of ``examples`` cases will take in ``directory``, and whether it fits."""
    import shutil

    need = examples * BYTES_PER_CASE[all_rows]
    line = f"crosscheck fuzz: about {need / 1e6:.3g} MB of reports in {directory}"
    line += "" if all_rows else " (agreeing cases one row each; --all-rows writes every tensor, about 10x more)"
    place = Path(directory).resolve()
    while not place.exists() and place != place.parent:
        place = place.parent
    free = shutil.disk_usage(place).free
    if need > free:
        line += f"; only {free / 1e6:.3g} MB are free there: the run will stop when the disk is full"
    return line


def summary(run: FuzzRun, tally: Tally) -> dict:
    return {"target": run.target, "seed": run.seed, "cases": tally.cases, "tensors_compared": tally.tensors,
            "disagreements": tally.disagreements, "findings": len(run.findings),
            "fragile": sum(1 for f in run.findings if f.fragile),
            "max_ratio_by_dtype": dict(sorted(tally.max_ratio_by_dtype.items())),
            "max_rel_err": tally.max_rel if tally.max_rel is not None else 0.0,
            "max_rel_err_by_dtype": {dt: (float("nan") if v is None else v)
                                     for dt, v in sorted(tally.max_rel_by_dtype.items())},
            "seconds": round(run.seconds, 3),
            "cases_per_second": round(tally.cases / run.seconds, 1) if run.seconds else None,
            "stopped": run.stopped, "finding_details": [f.to_dict() for f in run.findings]}


class FuzzReport:
    """The report files of one run, fuzz.csv written as the results come (see the module docstring).

    Rows go to ``fuzz.csv.part``, renamed to fuzz.csv by ``finish``: a run that
    stops with an error leaves the previous fuzz.csv as it was, never a partial one.
    """

    def __init__(self, directory: str | Path, *, all_rows: bool = True):
        self.out = Path(directory)
        self.all_rows = all_rows
        self.paths = {"csv": self.out / "fuzz.csv", "md": self.out / "fuzz.md", "json": self.out / "summary.json"}
        self.tally = Tally()
        self._part = self.out / "fuzz.csv.part"
        self._fh = self._csv = None

    def _open(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        self._fh = open(self._part, "w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._fh, lineterminator="\n")
        self._csv.writerow(COLUMNS)

    def add(self, result) -> None:
        """The next result in case order (``FuzzRun.results`` order: replays, cases, shrinking); without
        ``all_rows`` an agreeing case is one row (``CaseResult.folded``)."""
        if self._fh is None:
            self._open()
        if not self.all_rows:
            result = result.folded()
        index = self.tally.cases
        self._fh.write(case_csv(index, result))
        self.tally.add_result(index, result)

    def finish(self, run: FuzzRun, target=None) -> dict[str, Path]:
        """fuzz.md, summary.json and fuzz.html, once every result is in; returns every file's path."""
        if self._fh is None:
            self._open()
        self._fh.close()
        self._part.replace(self.paths["csv"])
        return _write_rest(run, self.out, dict(self.paths), self.tally, target)

    def close(self) -> None:
        """Give up without writing the reports (the run stopped with an error)."""
        if self._fh is not None:
            self._fh.close()
            self._part.unlink(missing_ok=True)


def write(run: FuzzRun, directory: str | Path, target=None, *, all_rows: bool = True) -> dict[str, Path]:
    """The report files of a finished run; ``target`` (the Target object) lets fuzz.html draw each
    finding's heatmap."""
    report = FuzzReport(directory, all_rows=all_rows)
    try:
        for result in run.results:
            report.add(result)
    except BaseException:
        report.close()
        raise
    return report.finish(run, target)


def _write_rest(run: FuzzRun, out: Path, paths: dict[str, Path], tally: Tally, target) -> dict[str, Path]:
    data = summary(run, tally)
    write_json(paths["json"], data)
    lines = [f"# crosscheck fuzz: {run.target}", "",
             f"{data['cases']} cases, {data['tensors_compared']} tensors compared, "
             f"{data['disagreements']} disagreeing tensors, {len(run.findings)} distinct findings"
             + (f" ({data['fragile']} fragile)" if data["fragile"] else "") + "; "
             "worst error / allowed " + (", ".join(f"{v:.3g} in {dt}" for dt, v in data["max_ratio_by_dtype"].items())
                                         or "0") + " (under 1 passes); worst relative error "
             + (", ".join(f"{v:.3g} in {dt}" for dt, v in sorted(data["max_rel_err_by_dtype"].items()) if v is not None)
                or "0") + ".", "",
             "## Activation x loss", "", "A case counts under every activation it uses; worst relative errors "
             "are normwise, per dtype; worst_ratio is the worst error over its allowance (under 1 passes).", "",
             markdown(tally.pivot())]
    lines += ["## Findings", ""]
    if not run.findings:
        lines.append("Every gradient agrees with torch.\n")
    for i, f in enumerate(run.findings, 1):
        lines += [f"### {i}. {f.verdict_kind}: {', '.join(f.tensors) or f.result.crash['type']}", "",
                  *([f"- {f.fragile}"] if f.fragile else []), f"- diagnosis: {', '.join(f.diagnosis) or '-'}", f"- {f.message}",
                  f"- minimal example: `{f.case.describe()}` (first seen at case {f.first_seen})",
                  f"- replay: `{replay_command(paths['json'], i)}` (case `{f.case.to_dict()}`)", ""]
        if f.result.failing:
            lines += ["```", f.result.message(), "```", ""]
    paths["md"].write_text("\n".join(lines))
    from crosscheck.reports import html

    paths["html"] = html.write_fuzz(run, out / "fuzz.html", target, report=paths["json"],
                                    frame=tally.frame(html.FRAME_COLUMNS), totals=tally.totals(),
                                    sample=tally.sample_note(), activation_loss=tally.pivot())
    return paths

"""``mutants.csv``, ``mutants.md`` and ``mutants.json`` for a mutant run."""
from __future__ import annotations

from pathlib import Path

from crosscheck.engine.mutants import MutantResult, score

COLUMNS = ["mutant", "pattern", "layer", "bugs", "caught", "examples_to_catch", "shrunk_example", "shrunk_size",
           "diagnosis", "expected_label", "diagnosis_right", "pattern_named", "bugs_named", "lines_found",
           "explained", "signature_only", "signature_right", "kind", "tensors", "cases_run", "seconds"]


def frame(rows: list[MutantResult]):
    import pandas as pd

    data = []
    for r in rows:
        d = r.to_dict()
        d["diagnosis"] = ", ".join(r.diagnosis)
        d["signature_only"] = ", ".join(r.signature_only)
        d["caught"] = "yes" if r.caught else "no"
        for k in ("diagnosis_right", "pattern_named", "signature_right", "bugs_named", "lines_found", "explained"):
            d[k] = "yes" if d[k] else "no"
        data.append(d)
    return pd.DataFrame(data, columns=COLUMNS + ["message"])


def write(rows: list[MutantResult], directory, settings: dict) -> dict[str, Path]:
    from crosscheck.reports.tables import markdown, write_json

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "mutants.csv", "md": out / "mutants.md", "json": out / "mutants.json"}
    df = frame(rows)
    df.to_csv(paths["csv"], index=False)
    s = score(rows)
    write_json(paths["json"], {"summary": s, "settings": settings, "mutants": [r.to_dict() for r in rows]})
    lines = ["# crosscheck mutants", "",
             f"{s['mutants']} mutants of the reference covering taxonomy patterns "
             f"{', '.join(map(str, s['patterns']))}; settings {settings}.", "",
             f"- caught: {s['caught']} / {s['mutants']} ({100 * s['caught_rate']:.0f}%)",
             f"- right label (known-bug library + signature analysis): {s['right_label']} / {s['mutants']} "
             f"({100 * s['right_label_rate']:.0f}%)",
             f"- right label by signature analysis alone: {s['signature_only_right']} / {s['mutants']} "
             f"({100 * s['signature_only_right_rate']:.0f}%)",
             f"- pattern named: {s['pattern_named']} / {s['mutants']}",
             f"- every bug named: {s['bugs_named']} / {s['mutants']}; every bug's line found: "
             f"{s['lines_found']} / {s['mutants']}",
             f"- fully explained (every bug named with its line, nothing more): {s['explained']} / {s['mutants']} "
             f"({100 * s['explained_rate']:.0f}%), of them combinations of two to four bugs: "
             f"{sum(r.explained for r in rows if r.bugs > 1)} / {s['combinations']}",
             f"- time: {s['seconds']} s", "",
             "`examples_to_catch` is the index of the first failing case; `shrunk_size` counts the scalars "
             "of X, Y and the parameters of the shrunk example; `signature_only` is the diagnosis without "
             "the known-bug library.", "",
             markdown(df[COLUMNS]), "## Messages", ""]
    lines += [f"- **{r.mutant}**: {r.message or '(not caught)'}" for r in rows]
    paths["md"].write_text("\n".join(lines) + "\n")
    return paths

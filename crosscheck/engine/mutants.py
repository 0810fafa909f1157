"""Score the harness on the mutant corpus: fuzz every mutant, diagnose what is found.

Each mutant is fuzzed with the strategy its family admits (small widths and
batches by default: the bugs show at small sizes and shrinking stays cheap),
stopping at the first failure (``report_multiple_bugs=False``), which
Hypothesis then shrinks. The row of a mutant says whether it was caught, how
many examples that took, how small the shrunk example is, what diagnosis was
given (with the known-bug library, and by signature analysis alone), and
whether that is the right label and pattern. For every mutant, of one bug or
several, it also says whether each bug was named (its variant at its layer,
among the finding's ``bugs``), whether each one's line was found (a line of the
buggy piece's class in ``diagnosis/pieces.py``) and whether the finding is
fully explained (every bug named with its line, and nothing else).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from crosscheck.diagnosis.corpus import Mutant, corpus

#: Default and thorough settings of a mutant run.
QUICK = dict(examples=30, max_width=6, max_batch=6)
THOROUGH = dict(examples=200, max_width=32, max_batch=32)
HEADLINE = ("mismatch", "nonfinite", "shape", "crash")


@dataclass
class MutantResult:
    mutant: str
    pattern: int
    variant: str
    layer: int
    activations: str
    loss: str
    expected_label: str
    caught: bool
    examples_to_catch: int | None
    cases_run: int
    kind: str = ""
    tensors: str = ""
    shrunk_example: str = ""
    shrunk_size: int | None = None  # scalars in X, Y and the parameters of the shrunk example
    diagnosis: list[str] = field(default_factory=list)
    diagnosis_right: bool = False
    matched_patterns: list[int] = field(default_factory=list)
    pattern_named: bool = False
    signature_only: list[str] = field(default_factory=list)
    signature_right: bool = False
    bugs: int = 1  # bugs the mutant holds
    bugs_named: bool = False  # every one named, by variant and layer
    lines_found: bool = False  # every one's line found in its piece
    explained: bool = False  # every bug named with its line, the set explains every gradient, nothing extra
    message: str = ""
    seconds: float = 0.0
    example: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _size(case) -> int:
    s, batch = case.network.sizes, case.batch
    return batch * (s[0] + s[-1]) + sum(o * i + o for i, o in zip(s, s[1:]))


def piece_lines(key: str, layer: int, network) -> tuple[str, int, int] | None:
    """(file, first line, last line) of the class the variant puts in, in ``diagnosis/pieces.py``."""
    import inspect

    from crosscheck.reference.losses import loss as make_loss
    from crosscheck.reference.network import MLP

    from crosscheck.diagnosis import pieces
    from crosscheck.diagnosis.variants import variant

    v = variant(key)
    net = MLP(network.sizes, network.activations)
    loss_fn = v.patch(net, make_loss(network.loss, network.reduction), network, layer,
                      v.param[1] if v.param else None)
    for obj in (loss_fn, *net.activations, *net.layers):
        if type(obj).__module__ == pieces.__name__:
            lines, start = inspect.getsourcelines(type(obj))
            return inspect.getsourcefile(type(obj)), start, start + len(lines) - 1
    return None


def named_and_found(m: Mutant, network, bugs: list[dict], explained: bool) -> tuple[bool, bool, bool]:
    """(every bug named, every bug's line found in its piece, fully explained) for a finding's ``bugs``."""
    import os

    named = found = True
    for key, layer, _ in m.bugs:
        where = network.depth + 1 if layer == 0 else layer
        hit = next((b for b in bugs if b.get("variant") == key and b.get("layer") == where), None)
        if hit is None:
            named = found = False
            continue
        piece, src = piece_lines(key, layer, network), hit.get("source")
        if not (piece and src and os.path.basename(src["file"]) == os.path.basename(piece[0])
                and piece[1] <= src["line"] <= piece[2]):
            found = False
    return named, found, bool(named and found and explained and len(bugs) == len(m.bugs))


def run_mutant(m: Mutant, *, examples: int = QUICK["examples"], seed: int = 0, max_width: int = QUICK["max_width"],
               max_batch: int = QUICK["max_batch"], signature: bool = True, profile: str | None = None,
               database="none") -> MutantResult:
    from crosscheck.drawing import strategies
    from crosscheck.diagnosis import diagnose
    from crosscheck.engine.fuzz import fuzz

    target = m.target()
    start = time.perf_counter()
    strategy = strategies.for_target(target, max_width=max_width, max_batch=max_batch)
    run = fuzz(target, examples=examples, seed=seed, strategy=strategy, settings={"report_multiple_bugs": False},
               profile=profile, database=database)
    row = MutantResult(m.name, m.pattern, m.key, m.layer, ",".join(m.activations), m.loss,
                       m.label if not m.also else ",".join(m.labels),
                       caught=bool(run.findings), examples_to_catch=None, cases_run=len(run.results),
                       bugs=len(m.bugs))
    if run.findings:
        f = min(run.findings, key=lambda f: HEADLINE.index(f.kind))
        case = f.case
        row.kind, row.tensors = f.kind, ",".join(f.tensors)
        row.examples_to_catch = min(x.first_seen for x in run.findings)
        row.shrunk_example = f"{'-'.join(map(str, case.network.sizes))}, batch {case.batch}, {case.dtype}, {case.regime}"
        row.shrunk_size = _size(case)
        row.example = case.to_dict()
        row.diagnosis, row.message = list(f.diagnosis), f.message
        row.diagnosis_right = (bool(f.diagnosis) and f.diagnosis[0] == m.label if not m.also
                               else set(m.labels) <= set(f.diagnosis))
        row.bugs_named, row.lines_found, row.explained = named_and_found(m, case.network, getattr(f, "bugs", []),
                                                                         getattr(f, "explained", False))
        patterns = [d["pattern"] for d in getattr(f, "matches", [])]
        patterns += [s["pattern"] for s in getattr(f, "signatures", []) if s.get("pattern")]
        row.matched_patterns = list(dict.fromkeys(patterns))
        row.pattern_named = m.pattern in row.matched_patterns
        if signature:
            alone = diagnose(target, case, library=False)
            row.signature_only = alone.labels
            row.signature_right = bool(alone.labels) and alone.labels[0] == m.label
    row.seconds = round(time.perf_counter() - start, 2)
    return row


def run_corpus(select: str | None = None, *, on_row=None, workers: int = 1, combinations: bool = True,
               **options) -> list[MutantResult]:
    """Every mutant's row, in corpus order (the combinations of several bugs last unless
    ``combinations=False``); ``workers`` > 1 spreads the mutants over processes
    (``campaign.distribute``: the same rows, timings aside)."""
    import functools

    from crosscheck.engine.campaign import distribute

    rows = []
    for row in distribute(functools.partial(_run_one, options), corpus(select, combinations=combinations),
                          workers=workers):
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def _run_one(options: dict, m: Mutant) -> MutantResult:
    return run_mutant(m, **options)


def score(rows: list[MutantResult]) -> dict:
    n = len(rows) or 1
    return {"mutants": len(rows), "caught": sum(r.caught for r in rows),
            "caught_rate": sum(r.caught for r in rows) / n,
            "right_label": sum(r.diagnosis_right for r in rows),
            "right_label_rate": sum(r.diagnosis_right for r in rows) / n,
            "pattern_named": sum(r.pattern_named for r in rows),
            "combinations": sum(r.bugs > 1 for r in rows),
            "bugs_named": sum(r.bugs_named for r in rows),
            "lines_found": sum(r.lines_found for r in rows),
            "explained": sum(r.explained for r in rows),
            "explained_rate": sum(r.explained for r in rows) / n,
            "signature_only_right": sum(r.signature_right for r in rows),
            "signature_only_right_rate": sum(r.signature_right for r in rows) / n,
            "patterns": sorted({r.pattern for r in rows}),
            "seconds": round(sum(r.seconds for r in rows), 1)}

"""Under which conditions a finding shows, read off the cases checked.

A finding's *failing* cases are those that show it (its tensors fail the same
way, or the same exception is raised); its *clean* cases are those where the
same tensors agree (or nothing is raised). A condition such as
``in_features == hidden`` is reported as "only when in_features == hidden"
when

- every failing case satisfies it (it is necessary, as far as we have seen),
- some clean case does not (it says something: it is not true of every case),
- and chance is an unlikely explanation: of the ``n`` cases of the sample,
  ``m`` meet the condition and ``k`` fail; if failing had nothing to do with
  the condition, the chance that all ``k`` failing cases fall among the ``m``
  is ``C(m, k) / C(n, k)`` (Fisher's exact test, one-sided), and it must be at
  most ``ALPHA`` divided by the number of conditions tried (Bonferroni). A
  condition true of 97% of the cases says nothing about 3 failures;
  ``batch > 1`` says a lot when every clean case has batch 1.

The least likely by chance is reported, and a second one if it passes the same
test among the cases the first leaves ("only when in_features != hidden and
in_features > 1").
"""
from __future__ import annotations

import json
import math
from typing import Callable

#: Largest chance that every failing case meets a condition by luck alone.
ALPHA = 0.05
#: Most conditions reported per finding.
MAX_CONDITIONS = 2

REGIME_WORDS = {
    "normal": "plain normal data",
    "relu-gap": "positive inputs and negative pre-activations (relu-gap data)",
    "zeros": "exact zeros in inputs and weights (zeros data)",
    "saturated": "saturated pre-activations, |z| > 40 (saturated data)",
    "tiny": "tiny inputs and weights (tiny data)",
    "large": "large inputs (large data)",
    "clamp": "outputs pushed to 0 or 1 (clamp data)",
}


def size_names(depth: int) -> list[str]:
    """Names of the widths of a network of ``depth`` layers: in_features, hidden (or hidden1, ...), out_features."""
    hidden = ["hidden"] if depth == 2 else [f"hidden{l}" for l in range(1, depth)]
    return ["in_features", *hidden, "out_features"]


Predicate = tuple[str, Callable[[dict], bool]]


def predicates(depth: int, regimes: tuple[str, ...] | None = None) -> list[Predicate]:
    """Candidate conditions on a case (a ``Case.to_dict()``), each with its wording."""
    names = size_names(depth)
    n = len(names)
    out: list[Predicate] = []
    for i in range(n):
        for j in range(i + 1, n):
            out.append((f"when {names[i]} == {names[j]}", lambda c, i=i, j=j: c["sizes"][i] == c["sizes"][j]))
            out.append((f"when {names[i]} != {names[j]}", lambda c, i=i, j=j: c["sizes"][i] != c["sizes"][j]))
    for i in range(n):  # NumPy broadcasting lets a width of 1 stand in for any width
        for j in range(i + 1, n):
            for k in (i, j):
                out.append((f"when {names[i]} == {names[j]} or {names[k]} == 1",
                            lambda c, i=i, j=j, k=k: c["sizes"][i] == c["sizes"][j] or c["sizes"][k] == 1))
    for i in range(n):
        out.append((f"when {names[i]} == 1", lambda c, i=i: c["sizes"][i] == 1))
        out.append((f"when {names[i]} > 1", lambda c, i=i: c["sizes"][i] > 1))
    out.append(("when batch == 1", lambda c: c["batch"] == 1))
    out.append(("when batch > 1", lambda c: c["batch"] > 1))
    for i in range(n):
        out.append((f"when batch == {names[i]}", lambda c, i=i: c["batch"] == c["sizes"][i]))
        out.append((f"when batch != {names[i]}", lambda c, i=i: c["batch"] != c["sizes"][i]))
    if regimes is None:
        from crosscheck.model.cases import REGIMES as regimes
    for r in regimes:
        out.append((f"with {REGIME_WORDS.get(r, f'{r} data')}", lambda c, r=r: c.get("regime") == r))
    out.append(("with edge-case data (never with plain normal data)", lambda c: c.get("regime") != "normal"))
    return out


def shows(finding: dict, result: dict) -> bool | None:
    """Does ``result`` show ``finding``? True, False (clean), or None (it failed in another way)."""
    crash = result.get("crash")
    if finding["kind"] == "crash":
        if crash is None:
            return False
        mine = finding.get("crash") or {}
        # the finding's own error: its type, raised on its line (a crash of another line is another finding)
        same = crash["type"] == mine.get("type") and (not mine.get("location")
                                                       or crash.get("location") == mine["location"])
        return True if same else None
    if crash is not None:
        return None
    statuses = {"shape": ("shape", "missing"), "nonfinite": ("nonfinite",), "mismatch": ("mismatch",)}
    wanted = statuses.get(finding["kind"], ())
    mine = [c for c in result.get("comparisons", []) if c["tensor"] in finding["tensors"]]
    if any(c["status"] in wanted for c in mine):
        return True
    if all(c["agree"] for c in mine):
        return False
    return None


def case_id(case: dict) -> str:
    return json.dumps(case, sort_keys=True)


def split(finding: dict, results: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """The distinct failing, clean and otherwise-failing cases of ``finding`` among ``results``."""
    groups: dict[bool | None, dict[str, dict]] = {True: {}, False: {}, None: {}}
    for r in results:
        groups[shows(finding, r)][case_id(r["case"])] = r["case"]
    failing = groups[True]
    clean = {k: c for k, c in groups[False].items() if k not in failing}
    other = {k: c for k, c in groups[None].items() if k not in failing and k not in clean}
    return list(failing.values()), list(clean.values()), list(other.values())


NOTHING = {"when": [], "failing": 0, "clean": 0, "sample": 0, "other": 0, "masked": False, "outside": 0,
           "sample_name": "cases checked"}


def conditions(finding: dict, results: list[dict], depth: int) -> dict:
    """``{"when": [wordings], "failing": k, "sample": n, ...}`` for ``finding`` over ``results``.

    Every failing case seen must meet a condition, and some case that does not
    show the finding must not. Cases that failed in another way (a crash where
    this finding is a mismatch) count as not showing it: "W1 disagrees only when
    in_features == hidden" is what a reader needs when every other shape
    crashes, and ``masked`` says so. How likely the condition is by chance is
    judged on the random sample (results of phase ``sweep``) when the finding
    shows there, since cases tried while shrinking are all small and alike;
    else on every case checked.
    """
    failing, clean, other = split(finding, results)
    sweep = [r for r in results if r.get("phase") == "sweep"]
    s_failing, s_clean, s_other = split(finding, sweep)
    if s_failing:
        sample, k, name = s_failing + s_clean + s_other, len(s_failing), "random cases"
        n_other = len(s_other)
    else:
        sample, k, name = failing + clean + other, len(failing), "cases checked"
        n_other = len(other)
    out = {**NOTHING, "failing": k, "clean": len(sample) - k - n_other, "sample": len(sample), "other": n_other,
           "sample_name": name}
    if not failing or not (clean or other):
        return out
    every = failing + clean + other
    rest = clean + other
    # necessary (every failing case meets it) and informative (some other case does not)
    necessary = [(text, pred) for text, pred in predicates(depth)
                 if all(pred(c) for c in failing) and not all(pred(c) for c in rest)]
    chosen: list[tuple[str, Callable]] = []
    while necessary and len(chosen) < MAX_CONDITIONS:
        # each further condition must narrow the cases the chosen ones leave, judged among those
        # cases; Bonferroni over the candidates tried, since many are tried at once
        within = [c for c in sample if all(q(c) for _, q in chosen)]
        left = [(t, p) for t, p in necessary if not all(p(c) for c in every if all(q(c) for _, q in chosen))]
        if not left:
            break
        scored = sorted(((by_chance(len(within), sum(1 for c in within if p(c)), k), t, p) for t, p in left),
                        key=lambda x: x[0])
        chance, text, pred = scored[0]
        if chance > ALPHA / len(left):
            break
        chosen.append((text, pred))
        necessary = [(t, p) for t, p in left if t != text]
    out["when"] = [text for text, _ in chosen]
    # masked: no case that ran cleanly falls outside the conditions; only other failures do
    out["masked"] = bool(chosen) and all(all(q(c) for _, q in chosen) for c in clean)
    out["outside"] = sum(1 for c in sample if not all(q(c) for _, q in chosen)) if chosen else 0
    return out


def by_chance(n: int, m: int, k: int) -> float:
    """The chance that ``k`` cases drawn at random from ``n`` all fall among ``m`` given ones: C(m, k) / C(n, k)."""
    if k > m:
        return 0.0
    return math.exp(_log_choose(m, k) - _log_choose(n, k))


def _log_choose(a: int, b: int) -> float:
    return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)


def phrase(cond: dict) -> str:
    """" only when in_features == hidden and batch > 1", or "" when nothing narrows it down."""
    if not cond["when"]:
        return ""
    words = [w if i == 0 or not w.startswith("when ") else w[5:] for i, w in enumerate(cond["when"])]
    return " only " + " and ".join(words)

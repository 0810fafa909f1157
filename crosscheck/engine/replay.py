"""Replay a finding from a report: rebuild its case exactly and compare again.

``crosscheck replay REPORT FINDING``. REPORT is a report file or the folder
that holds it: ``summary.json`` (``crosscheck fuzz``), ``audit.json``
(``crosscheck audit``) or ``pytest.json`` (``pytest --crosscheck-report``).
FINDING is the finding's number as the report lists it (1, 2, ...; across
targets in target order) or its id, ``TARGET:KIND:TENSORS`` (for example
``reference:mismatch:W1+b1``). Without FINDING the findings are listed.

Every finding records its minimal example as ``Case.to_dict()``; the arrays
are a pure function of it (``Case.arrays``), so the case is rebuilt bit for
bit. The target is the reference, or the decorated function named in the
report, loaded again from the file the report records. The replayed
comparison goes through ``check_case``, the path every front end takes, and is
checked against the figures the report recorded: same numbers, bit for bit,
unless the target's code changed since.

Light at import time; torch is loaded when a case is checked.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

#: Report files replay reads, in the order a folder is searched.
REPORT_FILES = ("summary.json", "audit.json", "pytest.json")
#: Fields of a recorded comparison that a replay must reproduce exactly.
EXACT_FIELDS = ("status", "shape", "expected_shape", "mismatches", "max_abs_err", "max_rel_err", "worst_index",
                "allowed_abs_err", "torch_err")


class ReplayError(ValueError):
    """A report or finding that cannot be replayed; the message says why and what to do."""


def replay_command(report, finding) -> str:
    """``crosscheck replay REPORT FINDING`` with both shell-quoted, ready to paste (a path may hold spaces)."""
    import shlex

    return f"crosscheck replay {shlex.quote(str(report))} {shlex.quote(str(finding))}"


def finding_id(target: str, finding: dict) -> str:
    """``records.finding_id`` of a finding dict: ``TARGET:KIND:TENSORS``."""
    from crosscheck.model.records import finding_id as rule

    return rule(target, finding.get("kind"), finding.get("tensors"), finding.get("crash"))


@dataclass
class Entry:
    """One finding of a report with what is needed to rebuild it."""

    number: int  # 1-based, across targets in report order
    target: str
    finding: dict
    target_record: dict = field(default_factory=dict)  # file, function, declaration, when the report has them

    @property
    def id(self) -> str:
        return self.finding.get("id") or finding_id(self.target, self.finding)


# -- reading reports -------------------------------------------------------------------

def report_file(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        for name in REPORT_FILES:
            if (path / name).is_file():
                return path / name
        raise ReplayError(f"{path}: no report here; expected one of {', '.join(REPORT_FILES)} "
                          f"(written by crosscheck fuzz, crosscheck audit or pytest --crosscheck-report)")
    if not path.is_file():
        raise ReplayError(f"{path}: no such report file or folder")
    if path.suffix != ".json":
        sibling = path.with_name("summary.json") if path.name.startswith("fuzz.") else path.with_suffix(".json")
        hint = f"; try {sibling}" if sibling.is_file() else ""
        raise ReplayError(f"{path}: replay reads the JSON report ({', '.join(REPORT_FILES)}){hint}")
    return path


def report_files(path: str | Path) -> list[Path]:
    """Every report ``path`` names: the file itself, or each of ``REPORT_FILES`` in the folder."""
    path = Path(path)
    if path.is_dir():
        found = [path / name for name in REPORT_FILES if (path / name).is_file()]
        return found or [report_file(path)]  # report_file says why there is none
    return [report_file(path)]


def entries(report: str | Path) -> tuple[Path, list[Entry]]:
    """Every finding of a report, numbered as the report lists them."""
    path = report_file(report)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReplayError(f"{path}: not a readable JSON report ({e})") from None
    found: list[Entry] = []
    if isinstance(data, dict) and "finding_details" in data:  # crosscheck fuzz: one target
        record = {k: data[k] for k in ("file", "function", "declaration") if k in data}
        for f in data["finding_details"]:
            found.append(Entry(len(found) + 1, str(data.get("target", "reference")), f, record))
    elif isinstance(data, dict) and isinstance(data.get("targets"), list):  # audit, pytest: many targets
        for t in data["targets"]:
            for f in t.get("findings") or []:
                found.append(Entry(len(found) + 1, str(t.get("name", "?")), f, t))
    else:
        raise ReplayError(f"{path}: not a crosscheck report (no 'finding_details' or 'targets' in it)")
    return path, found


def pick(found: list[Entry], which: str, path: Path) -> Entry:
    if not found:
        raise ReplayError(f"{path}: the report has no findings; every gradient agreed")
    which = str(which).strip()
    if which.isdigit():
        n = int(which)
        if not 1 <= n <= len(found):
            raise ReplayError(f"{path} has {len(found)} finding{'s' if len(found) != 1 else ''}; "
                              f"FINDING must be 1..{len(found)} or an id, got {which}")
        return found[n - 1]
    for e in found:
        if e.id == which:
            return e
    raise ReplayError(f"{path}: no finding {which!r}; its findings are "
                      + ", ".join(f"{e.number} ({e.id})" for e in found))


# -- rebuilding -----------------------------------------------------------------------

def case_from_example(example: dict, target=None):
    """A ``Case`` from a recorded example (``Case.to_dict()``); fields it leaves out
    (activations, loss, reduction) come from the target's family."""
    from crosscheck.model.cases import Case

    d = dict(example)
    fam = getattr(target, "family", None)
    for key in ("activations", "loss", "reduction"):
        if key not in d and fam is not None and getattr(fam, key) is not None:
            d[key] = list(getattr(fam, key)) if key == "activations" else getattr(fam, key)
    return Case.from_dict(d)


def rebuild_case(entry: Entry, target=None):
    """The finding's minimal example as a ``Case``."""
    example = entry.finding.get("example")
    if not isinstance(example, dict):
        kind = entry.finding.get("kind", "?")
        raise ReplayError(f"finding {entry.number} ({entry.id}) has no example to replay "
                          f"(a {kind} finding records none)")
    try:
        return case_from_example(example, target)
    except (ValueError, TypeError) as e:
        raise ReplayError(f"finding {entry.number} ({entry.id}): its example {example} is not a valid case: {e}") \
            from None


def rebuild_target(entry: Entry, report_path: Path):
    """The reference, or the decorated function the report names, loaded from its file."""
    from crosscheck.model.target import reference_target

    name = entry.target
    record = entry.target_record
    if name == "reference" and not record.get("file"):
        return reference_target()
    file = record.get("file")
    function = record.get("function") or (name.rsplit(".", 1)[-1] if "." in name else None)
    if not file or not function:
        raise ReplayError(f"cannot rebuild target {name!r}: the report records no file and function for it; "
                          f"replay works for the reference and for targets loaded from a file "
                          f"(crosscheck audit, pytest --crosscheck-report)")
    path = Path(file)
    if not path.is_absolute() and not path.exists():
        path = report_path.parent / file  # a path relative to the report
    return target_from_file(path, function, name=name, declaration=record.get("declaration"))


def target_from_file(path: str | Path, function: str, *, name: str | None = None, declaration: dict | None = None):
    """Load ``function`` from the Python file ``path`` as a ``Target`` (``loader``: its folder and
    its project root on the import path, as pytest does).

    It uses the function's ``@audit_target`` declaration, or ``declaration``
    (the keyword arguments of ``audit_target``, extra ones under ``options``,
    as the reports record them) when the function is not decorated.
    """
    from crosscheck.engine import loader
    from crosscheck.model.target import TargetError

    path = Path(path)
    if not path.is_file():
        raise ReplayError(f"{path}: the target file recorded in the report does not exist (moved or deleted?)")
    try:
        fn = loader.load_function(path, function, decorated=False)
    except TargetError:
        raise ReplayError(f"{path}: no function {function!r} at module level (the report names "
                          f"{name or function!r})") from None
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        raise ReplayError(f"{path}: importing the target file failed: {type(e).__name__}: {e}") from None
    decl = getattr(fn, "__crosscheck_target__", None)
    if decl is None:
        if not declaration:
            raise ReplayError(f"{path}: {function} is not decorated with @audit_target and the report "
                              f"records no declaration for it")
        try:
            decl = loader.declared(declaration)
        except (TargetError, TypeError) as e:
            raise ReplayError(f"{path}: the declaration recorded for {function} is invalid: {e}") from None
    return loader.make_target(name or f"{path.stem}.{function}", fn, decl, path)


# -- replaying --------------------------------------------------------------------------

@dataclass
class Replay:
    entry: Entry
    report: Path
    target: object
    case: object
    result: object  # CaseResult
    differences: list[str]  # recorded figures the replay did not reproduce exactly
    deterministic: bool = True  # two calls on the case gave the same answer (``twice``)

    @property
    def identical(self) -> bool:
        return not self.differences

    @property
    def agree(self) -> bool:
        """Every tensor agrees and the target answers the same every time."""
        return self.deterministic and self.result.agree


def replay(report: str | Path, which: str | int) -> Replay:
    """Rebuild finding ``which`` of ``report`` and check its case again."""
    from crosscheck.judge.trajectory import check_target_case  # check_case, or the trajectory for training code

    path, found = entries(report)
    entry = pick(found, str(which), path)
    target = rebuild_target(entry, path)
    case = rebuild_case(entry, target)
    _, _, same = twice(target, case)  # first: a target right only on its first call must not agree
    result = check_target_case(target, case)
    return Replay(entry, path, target, case, result, differences(entry.finding, result), same)


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        fa, fb = _number(a), _number(b)
        return fa == fb or (math.isnan(fa) and math.isnan(fb))
    return a == b


def _number(v) -> float:
    return float(v) if not isinstance(v, str) else float(v.replace("Infinity", "inf"))


def differences(finding: dict, result) -> list[str]:
    """Recorded figures of ``finding`` that ``result`` does not reproduce exactly."""
    from crosscheck.model.records import json_safe

    out = []
    if finding.get("crash"):
        if result.crash is None:
            out.append(f"the report records a crash ({finding['crash'].get('type')}); the replay did not crash")
        elif result.crash["type"] != finding["crash"].get("type"):
            out.append(f"crash type {result.crash['type']} instead of {finding['crash'].get('type')}")
        return out
    replayed = {c.tensor: json.loads(json.dumps(json_safe(c.to_dict()))) for c in result.comparisons}
    for rec in finding.get("comparisons") or []:
        name = rec.get("tensor")
        now = replayed.get(name)
        if now is None:
            out.append(f"{name}: not compared on replay")
            continue
        for key in EXACT_FIELDS:
            if key in rec and not _same(rec[key], now.get(key)):
                out.append(f"{name}.{key}: recorded {rec[key]!r}, replayed {now.get(key)!r}")
    return out


# -- nondeterminism ---------------------------------------------------------------------

def twice(target, case) -> tuple[object, object, bool]:
    """``(first, second, same)``: the target called twice on ``case`` (fresh arrays each time), and
    whether both calls gave the same answer bit for bit (the same exception counts as the same).

    A target right only on its first call, or one that reads a clock or an unseeded generator,
    answers differently: replay and the audit report it as not deterministic, never as agreeing.
    """
    first = _snapshot(_call_once(target, case))
    second = _snapshot(_call_once(target, case))
    return first, second, same_answer(first, second)


def _call_once(target, case):
    X, Y, params = case.arrays()
    fresh = [(W.copy(), None if b is None else b.copy()) for W, b in params]
    try:
        if getattr(target, "takes_network", False):
            return target.fn(X.copy(), Y.copy(), fresh, network=case.network)
        return target.fn(X.copy(), Y.copy(), fresh)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # the same failure twice is deterministic too
        return Raised(type(e).__name__, str(e)[:500])


@dataclass(frozen=True)
class Raised:
    """What a call raised, for comparing two calls."""

    type: str
    message: str


def _snapshot(value, depth: int = 0):
    """A deep copy of the arrays, lists and dicts of ``value`` (a later call may change them in place)."""
    import numpy as np

    if depth > 8:
        return value
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return type(value)(_snapshot(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return {k: _snapshot(v, depth + 1) for k, v in value.items()}
    return value


def same_answer(a, b, depth: int = 0) -> bool:
    """Whether two returned values are the same, arrays bit for bit (NaN equal to NaN)."""
    import numpy as np

    if depth > 8:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_answer(x, y, depth + 1) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_answer(a[k], b[k], depth + 1) for k in a)
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (int, str, bool, complex, Raised)) or a is None:
        return a == b
    return getattr(a, "type_name", type(a).__name__) == getattr(b, "type_name", type(b).__name__)


# -- elementwise view (replay output, HTML heatmaps) ------------------------------------

@dataclass
class Elementwise:
    """One tensor of a replayed case, element by element (float64, the truth's shape)."""

    tensor: str
    candidate: object  # np.ndarray, or None when the target returned no usable array
    truth: object
    allowed: object  # the per-element budget of ``tolerance``
    note: str = ""

    @property
    def difference(self):
        import numpy as np

        with np.errstate(invalid="ignore"):
            return np.abs(self.candidate - self.truth)

    @property
    def over(self):
        """Elements over budget, NaN/inf where torch is finite included."""
        import numpy as np

        d = self.difference
        with np.errstate(invalid="ignore"):
            return np.isfinite(self.truth) & ~(d <= self.allowed)


def elementwise(target, case, tensors=None) -> dict[str, Elementwise]:
    """Run ``target`` on ``case`` again and return candidate, truth and budget of each tensor.

    ``tensors`` limits the names (default: every tensor the target returned).
    The budget is the one ``check_case`` judges by (``check.Judge.allowed``:
    floor, rounding bound and measured noise).
    """
    import numpy as np

    from crosscheck.judge.check import Judge
    from crosscheck.numerics.compare import as_array
    from crosscheck.judge.oracle import mirror

    X, Y, params = case.arrays()
    got, params = target.call(case.network, X, Y, params)  # "step": the truth at the params it began from
    truth = mirror(case.network, X, Y, params, "float64")
    judge = Judge(case, X, Y, params, truth, update_lr=target.lr if target.returns in ("update", "step") else None)
    out = {}
    for name in tensors if tensors is not None else [n for n in truth.grads if n in got]:
        if name not in truth.grads:
            continue
        t = np.asarray(truth.grads[name], dtype=np.float64)
        arr, why = as_array(got.get(name), name)
        if arr is not None and arr.shape != t.shape:
            arr = arr.reshape(t.shape) if arr.size == t.size else None
            why = why or "shape differs from torch's"
        out[name] = Elementwise(name, arr, t, judge.allowed(name), why if arr is None else "")
    return out

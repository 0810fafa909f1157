"""The records of a run: objects inside, one ``to_dict``/``from_dict`` each at the file boundary.

- ``TensorComparison``: one tensor of one case against torch, and its one message template;
- ``CaseResult``: everything one case produced (its comparisons, or the crash that replaced them);
- ``Finding``: a distinct failure with its minimal example.

and the rules every front end shares: ``finding_key`` (what makes two failures distinct),
``verdict`` (a target's word from its findings' kinds), ``finding_id`` and ``crash_location``.

Every error is shown beside its allowance: ``ratio = error / allowed`` (under 1 passes).

NaN and inf are not JSON; the reports write them as the strings ``"nan"``, ``"inf"`` and ``"-inf"``
(``json_safe``); the results stream keeps JSON's ``NaN``/``Infinity`` extensions, which ``json``
reads back exactly.
"""
from __future__ import annotations

import math
import operator
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from crosscheck.model.cases import Case
from crosscheck.model.vocabulary import tensor_layer

STATUSES = ("agree", "mismatch", "nonfinite", "shape", "missing", "undefined")
#: Finding kinds, most serious first: a case's kind is the first that applies.
KINDS = ("crash", "shape", "nonfinite", "mismatch")
#: A target's word: ``verdict(kinds)``; ``invalid`` is the audit's, for a file it could not use.
VERDICTS = ("agree", "disagree", "fragile", "crashed", "timeout", "invalid")
#: The tensor name of a folded case's one comparison (``CaseResult.folded``).
FOLDED = "all"


def json_safe(obj):
    """Replace NaN and inf (not JSON) with strings, recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def error_ratio(error: float, allowed: float) -> float:
    """``error / allowed``: under 1 passes; 0 for no error, inf for an error where nothing is allowed."""
    if error != error:
        return math.nan
    if error == 0:
        return 0.0
    return error / allowed if allowed > 0 else math.inf


# -- one tensor --------------------------------------------------------------------------------

@dataclass
class TensorComparison:
    """One tensor of a case against torch's float64 truth: the worst element, its allowance, the count
    over it. Relative errors are normwise (over the tensor's largest true magnitude)."""

    tensor: str
    shape: tuple
    expected_shape: tuple
    dtype: str
    size: int
    mismatches: int
    mismatch_fraction: float
    max_abs_err: float
    max_rel_err: float
    worst_index: tuple | None
    allowed_abs_err: float
    torch_err: float
    status: str
    note: str = ""
    #: the finite-difference arbiter's verdict on a disagreement (``arbiter.VERDICTS``), "" if not run
    arbiter: str = ""
    arbiter_note: str = ""
    #: elements accepted only as another valid convention (``conventions``)
    conventions: int = 0
    #: the worst element's error over its allowance, its error being its distance from the accepted values
    #: (torch's, widened by the conventions): under 1 passes; inf for NaN, a wrong shape or a missing tensor
    ratio: float = math.nan

    @property
    def agree(self) -> bool:
        return self.status in ("agree", "undefined")

    @property
    def message(self) -> str:
        return format_message(self)

    def to_dict(self) -> dict:
        """Every field (tuples as lists), and ``agree`` and ``message``."""
        d = asdict(self)
        d["shape"], d["expected_shape"] = list(self.shape), list(self.expected_shape)
        d["worst_index"] = list(self.worst_index) if self.worst_index is not None else None
        d["agree"], d["message"] = self.agree, self.message
        return d

    def values(self) -> list:
        """The fields as one row, in ``comparison_fields()`` order (a result line's compact form)."""
        return [list(v) if type(v) is tuple else v for v in self.__dict__.values()]

    @classmethod
    def from_dict(cls, d: dict | list, row_fields: tuple[str, ...] | None = None) -> "TensorComparison":
        """From ``to_dict`` (derived keys ignored), or from a row of ``values`` named by ``row_fields``."""
        if isinstance(d, list):
            d = dict(zip(row_fields or comparison_fields(), d))
        names = comparison_fields()
        kw = {k: v for k, v in d.items() if k in names}
        for k in ("shape", "expected_shape", "worst_index"):
            if kw.get(k) is not None:
                kw[k] = tuple(kw[k])
        return cls(**kw)


_COMPARISON_FIELDS = tuple(f.name for f in fields(TensorComparison))


def comparison_fields() -> tuple[str, ...]:
    """The fields of a ``TensorComparison``, in the order of its ``values``."""
    return _COMPARISON_FIELDS


def _idx(index) -> str:
    return str(tuple(int(i) for i in index)) if index is not None else "?"


def format_message(r: TensorComparison) -> str:
    """The one message template::

        W1: 3 / 8 elements mismatch (37.5%); worst absolute difference 2.5e-01 at (0, 1)
        (allowed 3.6e-15, 6.9e+13 times), relative 5.0e-01
    """
    if r.status == "missing":
        why = f" ({r.note})" if r.note and r.note != "None" else ""
        return f"{r.tensor}: not returned{why}; expected an array of shape {tuple(r.expected_shape)}"
    if r.status == "shape":
        return f"{r.tensor}: {r.note or 'shape ' + str(tuple(r.shape))} returned, shape {tuple(r.expected_shape)} expected"
    if r.status == "nonfinite":
        return (f"{r.tensor}: {r.mismatches} / {r.size} elements are NaN or inf where torch is finite; "
                f"first at {_idx(r.worst_index)}")
    head = f"{r.tensor}: {r.mismatches} / {r.size} elements mismatch ({100 * r.mismatch_fraction:.3g}%)"
    tail = (f"; worst absolute difference {r.max_abs_err:.3g} at {_idx(r.worst_index)} "
            f"(allowed {r.allowed_abs_err:.3g}, error/allowed {r.ratio:.3g}), relative {r.max_rel_err:.3g}")
    note = f"; {r.note}" if r.note else ""
    verdict = f"; {r.arbiter_note}" if r.arbiter_note else ""
    return head + tail + note + verdict


_AGREES = operator.attrgetter("agree")
_RATIO = operator.attrgetter("ratio")


# -- one case ----------------------------------------------------------------------------------

@dataclass
class CaseResult:
    """Everything one case produced: the comparisons, or the crash that replaced them."""

    case: Case
    target: str
    comparisons: list[TensorComparison] = field(default_factory=list)
    crash: dict | None = None  # {"type": ..., "message": ..., "traceback": ...}
    loss: float | None = None
    undefined: bool = False  # torch itself is NaN/inf: nothing to judge
    #: the lazily measured pieces the verdict needed: "rounding", "conventions", "noise"
    #: (one more torch pass), "arbiter" (see ``Judge``); () when the floor settled every tensor
    measured: tuple[str, ...] = ()
    #: tensors compared, when ``comparisons`` is folded into one (``folded``); else None
    tensors: int | None = None

    @property
    def agree(self) -> bool:
        return self.crash is None and all(map(_AGREES, self.comparisons))

    @property
    def failing(self) -> list[TensorComparison]:
        return [c for c in self.comparisons if not c.agree]

    @property
    def kind(self) -> str | None:
        """``None`` when everything agrees, else the finding kind."""
        if self.crash is not None:
            return "crash"
        statuses = {c.status for c in self.failing}
        if not statuses:
            return None
        if statuses & {"shape", "missing"}:
            return "shape"
        return "nonfinite" if "nonfinite" in statuses else "mismatch"

    @property
    def tensor_count(self) -> int:
        """How many tensors were compared (a folded case keeps the count of the tensors it folded)."""
        return self.tensors if self.tensors is not None else len(self.comparisons)

    def failing_parameters(self) -> list[str]:
        """Names of failing parameter gradients (W, b), in layer order."""
        return [c.tensor for c in self.failing if c.tensor[0] in "Wb"]

    def finding_tensors(self) -> list[str]:
        """The tensors a finding names: the failing parameters, else every failing tensor
        (none for a crash)."""
        if self.kind == "crash":
            return []
        return self.failing_parameters() or [c.tensor for c in self.failing]

    def message(self) -> str:
        if self.crash is not None:
            return f"{self.crash['type']}: {self.crash['message']}"
        return "\n".join(c.message for c in self.failing)

    def folded(self) -> "CaseResult":
        """An agreeing case with its tensors folded into one record (tensor ``all``): every size summed,
        the largest absolute and relative errors, the worst ``error / allowed`` and that tensor's
        allowance (its name in the note). Anything else (a
        failure, a crash, a case already folded or of one tensor) is returned as it is."""
        cs = self.comparisons
        if self.tensors is not None or len(cs) < 2 or not self.agree:
            return self
        worst = max(cs, key=_RATIO)
        status = "agree" if all(c.status == "agree" for c in cs) else "undefined"
        one = TensorComparison(FOLDED, (), (), worst.dtype, sum(c.size for c in cs), 0, 0.0,
                               max(c.max_abs_err for c in cs), max(c.max_rel_err for c in cs), None,
                               worst.allowed_abs_err, max(c.torch_err for c in cs), status, f"worst {worst.tensor}",
                               conventions=sum(c.conventions for c in cs), ratio=worst.ratio)
        return CaseResult(self.case, self.target, [one], None, self.loss, self.undefined, self.measured, len(cs))

    def to_dict(self, *, drawn: bool = False) -> dict:
        """Every field that is not at its default; the case as ``Case.to_dict``, each comparison as its row
        of ``values`` (``comparison_fields()`` names them once, in the stream's run line). With ``drawn``
        the case and the target are left out, for a reader that draws the case again and knows the target
        (a campaign's stream)."""
        d = {} if drawn else {"case": self.case.to_dict(), "target": self.target}
        d["comparisons"] = [c.values() for c in self.comparisons]
        d["loss"] = self.loss
        if self.crash is not None:
            d["crash"] = self.crash
        if self.undefined:
            d["undefined"] = True
        if self.measured:
            d["measured"] = list(self.measured)
        if self.tensors is not None:
            d["tensors"] = self.tensors
        return d

    @classmethod
    def from_dict(cls, d: dict, row_fields: tuple[str, ...] | None = None, case: Case | None = None,
                  target: str | None = None) -> "CaseResult":
        """Back from ``to_dict`` (comparisons as rows named by ``row_fields``, or as dicts); ``case`` and
        ``target`` are those of a dict written ``drawn``."""
        kw = {k: v for k, v in d.items() if k in _RESULT_FIELDS}
        kw["case"] = Case.from_dict(d["case"]) if case is None else case
        kw.setdefault("target", target)
        kw["comparisons"] = [TensorComparison.from_dict(c, row_fields) for c in d.get("comparisons", [])]
        kw["measured"] = tuple(d.get("measured", ()))
        return cls(**kw)


_RESULT_FIELDS = tuple(f.name for f in fields(CaseResult))


# -- distinct failures -------------------------------------------------------------------------

_FRAME = re.compile(r'File "([^"]+)", line (\d+),? in (\S+)')  # faulthandler writes no comma
_PACKAGE = str(Path(__file__).resolve().parents[1])


def _is_library(path: str) -> bool:
    p = str(Path(path).resolve()) if not path.startswith("<") else path
    return (path.startswith("<") or p.startswith(_PACKAGE + os.sep) or "site-packages" in p
            or re.search(r"/lib/python3\.\d+/", p) is not None)


def crash_location(traceback_text: str) -> str | None:
    """``file:line in function`` of the innermost frame outside crosscheck, the standard library and
    installed packages, in the last traceback of ``traceback_text`` (Python's, most recent call last,
    or faulthandler's, most recent first); ``None`` when there is none."""
    first, last = traceback_text.rfind("most recent call first"), traceback_text.rfind("most recent call last")
    if first < 0 and last < 0:
        return None
    frames = [(m.group(1), int(m.group(2)), m.group(3)) for m in _FRAME.finditer(traceback_text[max(first, last):])]
    user = [f for f in frames if not _is_library(f[0])]
    if not user:
        return None
    path, line, fn = user[0] if first > last else user[-1]
    return f"{Path(path).name}:{line} in {fn}"


def finding_key(result: CaseResult, by_tensor: bool = True) -> tuple:
    """What makes two failures distinct.

    A crash: its exception type and the line that raised it (``crash_location``), so shrinking keeps
    the same error at the same line. Else the kind, and with ``by_tensor`` (a target of fixed depth)
    the layer where the divergence begins (the first failing layer in backward order); not the exact
    set of failing tensors: one bug fails W1 alone in one example and W1 and b1 in the next, and that
    is still one bug. For free-depth targets layer numbers depend on the drawn depth, so only the kind
    counts.
    """
    if result.crash is not None:
        return ("crash", result.crash["type"], crash_location(result.crash.get("traceback") or ""))
    if not by_tensor:
        return (result.kind,)
    return (result.kind, f"layer{max(tensor_layer(n) for n in result.finding_tensors())}")


def verdict(kinds) -> str:
    """A target's verdict from its findings' kinds: ``agree`` with none; ``disagree`` when any is a
    mismatch, nonfinite, shape or nondeterministic finding (two calls on one case, two answers); ``fragile``
    when every one is ``fragile`` (a nonfinite finding that agrees wherever the code is finite, at edge data:
    ``judge.fragility``); else ``timeout`` when the time limit hit; else ``crashed``."""
    kinds = set(kinds)
    if not kinds:
        return "agree"
    if kinds & {"mismatch", "nonfinite", "shape", "nondeterministic"}:
        return "disagree"
    if kinds == {"fragile"}:
        return "fragile"
    return "timeout" if "timeout" in kinds else "crashed"


def finding_id(target: str, kind: str, tensors, crash: dict | None = None) -> str:
    """``TARGET:KIND:TENSORS``, e.g. ``reference:mismatch:W1+b1``; a crash is named by its type and, like
    ``finding_key``, the line that raised it: ``t.f:crash:ValueError@t.py:52``."""
    what = "+".join(tensors or [])
    if not what and crash:
        where = crash.get("location") or crash_location(crash.get("traceback") or "")
        what = crash.get("type", "") + (f"@{where.split(' in ')[0]}" if where else "")  # no space: an id is pasted
    return f"{target}:{kind or '?'}:{what}"


@dataclass
class Finding:
    """A distinct failure with its minimal example."""

    kind: str
    tensors: list[str]
    result: CaseResult  # of the minimal example
    first_seen: int  # 1-based index of the first case that showed it
    diagnosis: list[str] = field(default_factory=list)
    message: str = ""
    #: The known bugs that explain it (``crosscheck.diagnosis``): each {"label", "pattern", "variant",
    #: "layer", "tensors", "statement", "source": {"file", "line", "code"} or None, "confirmed"}.
    bugs: list[dict] = field(default_factory=list)
    explained: bool = False  # do the bugs reproduce every gradient, here and on the verification cases?
    #: A nonfinite finding that agrees wherever the code is finite, at edge data (``judge.fragility``):
    #: the sentence saying when it happens; None for every other finding.
    fragile: str | None = None
    shrunk: bool = True  # False: the first example seen, reported as it was (Hypothesis did not shrink it)

    @property
    def verdict_kind(self) -> str:
        """The kind ``verdict`` counts: ``fragile`` for a fragile finding, else its kind."""
        return "fragile" if self.fragile else self.kind

    def order(self) -> tuple:
        """Findings sort most serious kind first (``KINDS``), then by tensors."""
        return (KINDS.index(self.kind), self.tensors)

    @property
    def case(self) -> Case:
        return self.result.case

    @property
    def id(self) -> str:
        return finding_id(self.result.target, self.kind, self.tensors, self.result.crash)

    def to_dict(self, *, result: bool = True) -> dict:
        """The finding as every report writes it (the one finding serializer: summary.json, pytest.json,
        audit.json): id, kind, tensors, diagnosis, whether it was shrunk, the minimal example, the crash
        (with the line that raised it) or the failing tensors' comparisons, the known bugs, ``fragile`` when
        it is, and the example's whole result (what ``from_dict`` rebuilds it from). ``result=False`` leaves
        out the whole result and the crash's traceback (through crosscheck's own frames; ``location`` names
        the user's line), for a report that keeps every checked case apart (the audit's)."""
        r = self.result
        crash = None if r.crash is None else {**r.crash, "message": str(r.crash.get("message", "")).strip(),
                                              "location": crash_location(r.crash.get("traceback") or "")}
        if crash is not None and not result:
            crash.pop("traceback", None)
        d = {**({"fragile": self.fragile} if self.fragile else {}), "id": self.id, "kind": self.kind,
             "tensors": list(self.tensors), "diagnosis": list(self.diagnosis), "message": self.message,
             "first_seen": self.first_seen, "shrunk": bool(self.shrunk), "example": r.case.to_dict(), "crash": crash,
             "comparisons": [c.to_dict() for c in r.failing],
             "bugs": [dict(b) for b in self.bugs], "explained": bool(self.explained)}
        for extra in ("localization", "matches"):  # attached by crosscheck.diagnosis
            if getattr(self, extra, None) is not None:
                d[extra] = getattr(self, extra)
        if result:
            d["result"] = r.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict, row_fields: tuple[str, ...] | None = None) -> "Finding":
        f = cls(d["kind"], list(d["tensors"]), CaseResult.from_dict(d["result"], row_fields), int(d["first_seen"]),
                list(d.get("diagnosis", [])), d.get("message", ""), list(d.get("bugs") or []),
                bool(d.get("explained", False)), d.get("fragile") or None, bool(d.get("shrunk", True)))
        for extra in ("localization", "matches"):
            if d.get(extra) is not None:
                setattr(f, extra, d[extra])
        return f

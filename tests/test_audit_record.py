"""Target records from plain result dicts: conditions, merging, verdicts, tensor tables (no processes)."""
import pytest

from crosscheck.audit import conditions, record
from crosscheck.audit.sandbox import user_frame

SPEC = {"name": "t.f", "file": "t.py", "function": "f",
        "declaration": {"activations": ["relu", "identity"], "loss": "mse", "reduction": "mean"}}


def case(sizes, batch, regime="normal", seed=0):
    return {"sizes": list(sizes), "activations": ["relu", "identity"], "loss": "mse", "reduction": "mean",
            "batch": batch, "dtype": "float64", "regime": regime, "seed": seed}


def cmp(tensor, status="agree", err=0.0, size=4):
    agree = status in ("agree", "undefined")
    return {"tensor": tensor, "status": status, "agree": agree, "max_abs_err": err, "max_rel_err": err,
            "allowed_abs_err": 1e-12, "mismatches": 0 if agree else size, "size": size,
            "message": f"{tensor}: {status}"}


def result(c, failing=(), status="mismatch", crash=None, phase="sweep"):
    if crash:
        return {"case": c, "phase": phase, "kind": "crash", "comparisons": [],
                "crash": {"type": crash, "message": "boom", "location": None}}
    comps = [cmp(t, status if t in failing else "agree", 0.5 if t in failing else 0.0)
             for t in ("W1", "b1", "W2", "b2")]
    return {"case": c, "phase": phase, "kind": status if failing else None, "comparisons": comps, "crash": None}


def mask_bug_results():
    """W1, b1 wrong exactly when in == hidden (and in > 1), across a spread of cases."""
    out = []
    for seed, (i, h, o, batch) in enumerate([(3, 3, 1, 4), (2, 5, 2, 1), (4, 4, 3, 7), (6, 2, 1, 3), (5, 5, 1, 2),
                                             (1, 7, 1, 5), (8, 8, 2, 9), (2, 3, 4, 1), (7, 7, 5, 3), (3, 6, 1, 2),
                                             (9, 9, 1, 1), (4, 1, 2, 6), (6, 6, 6, 4), (5, 3, 2, 8)]):
        failing = ("W1", "b1") if i == h else ()
        out.append(result(case((i, h, o), batch, seed=seed), failing))
    return out


def test_a_relation_between_sizes_is_named():
    results = mask_bug_results()
    finding = {"kind": "mismatch", "tensors": ["W1", "b1"]}
    cond = conditions.conditions(finding, results, depth=2)
    assert cond["when"][0] == "when in_features == hidden"
    assert cond["failing"] == 7 and cond["sample"] == 14
    assert conditions.phrase(cond).startswith(" only when in_features == hidden")


def test_batch_condition_found_when_clean_cases_all_have_batch_one():
    results = [result(case((2, 3, 1), b, seed=k), ("W1", "b1", "W2", "b2") if b > 1 else ())
               for k, b in enumerate((1, 5, 1, 9, 2, 1, 30, 4, 17, 3, 8))]
    cond = conditions.conditions({"kind": "mismatch", "tensors": ["W1", "b1", "W2", "b2"]}, results, depth=2)
    assert "when batch > 1" in cond["when"]


def test_no_condition_claimed_on_thin_evidence():
    # two failures, both with batch > 1, as almost every case has: chance explains it
    results = [result(case((3, 4, 2), b, seed=b), ("W2",) if b in (5, 9) else ()) for b in range(2, 14)]
    cond = conditions.conditions({"kind": "mismatch", "tensors": ["W2"]}, results, depth=2)
    assert cond["when"] == []
    assert cond["failing"] == 2


def test_a_second_condition_is_kept_only_if_it_narrows_the_first():
    # crashes when in != hidden, except when in == 1 (broadcasting hides it)
    sizes = [(3, 5, 1), (1, 4, 1), (4, 4, 2), (2, 6, 1), (1, 3, 2), (5, 5, 1), (6, 2, 3), (1, 8, 1),
             (7, 7, 1), (2, 9, 2), (3, 3, 1), (8, 4, 1), (1, 2, 1), (4, 9, 2), (6, 6, 1), (9, 2, 1),
             (1, 5, 2), (3, 8, 1), (1, 6, 1), (5, 2, 2), (1, 9, 1), (7, 3, 1), (2, 2, 1), (8, 5, 2)]
    results = [result(case(s, 2, seed=k), crash="ValueError" if s[0] != s[1] and s[0] > 1 else None)
               if s[0] != s[1] and s[0] > 1 else result(case(s, 2, seed=k)) for k, s in enumerate(sizes)]
    cond = conditions.conditions({"kind": "crash", "tensors": [], "crash": {"type": "ValueError"}}, results, 2)
    assert set(cond["when"]) == {"when in_features != hidden", "when in_features > 1"}
    assert conditions.phrase(cond) in (" only when in_features != hidden and in_features > 1",
                                       " only when in_features > 1 and in_features != hidden")


def test_by_chance_is_fishers_one_sided_probability():
    assert conditions.by_chance(14, 11, 11) == pytest.approx(1 / 364)
    assert conditions.by_chance(10, 10, 3) == pytest.approx(1.0)


def test_verdict_precedence():
    assert record.verdict([]) == "agree"
    assert record.verdict([{"kind": "crash"}, {"kind": "mismatch"}]) == "disagree"
    assert record.verdict([{"kind": "crash"}, {"kind": "timeout"}]) == "timeout"
    assert record.verdict([{"kind": "crash"}, {"kind": "crash"}]) == "crashed"
    assert record.verdict([{"kind": "shape"}, {"kind": "timeout"}]) == "disagree"


def test_assemble_builds_the_documented_record():
    results = mask_bug_results()
    rec = record.assemble(SPEC, results, None, examples_requested=14, seconds=1.0)
    assert rec["verdict"] == "disagree" and rec["examples"] == 14
    assert [t["name"] for t in rec["tensors"]] == ["W1", "b1", "W2", "b2"]
    flagged = {t["name"] for t in rec["tensors"] if not t["agree"]}
    assert flagged == {"W1", "b1"}
    w1 = rec["tensors"][0]
    assert w1["failing_cases"] == 7 and w1["cases"] == 14 and w1["max_abs_err"] == 0.5
    assert w1["mismatch_fraction"] == pytest.approx(7 / 14)
    [finding] = rec["findings"]
    assert finding["kind"] == "mismatch" and finding["tensors"] == ["W1", "b1"]
    assert finding["diagnosis"] == ["other"]  # read off streamed cases: the diagnosis never saw it
    assert "W1 and b1 disagree with torch only when in_features == hidden" in finding["message"]
    assert "there the worst difference is 0.5 in W1 (allowed 1e-12, error/allowed 5e+11)" in finding["message"]
    assert finding["example"]["sizes"] == [3, 3, 1]  # the smallest failing case


def test_a_findings_one_worst_is_its_minimal_examples():
    """The headline quotes the figures the minimal example's comparisons show, not a bigger
    error of another case (one "worst" per tensor throughout a finding)."""
    results = mask_bug_results()
    results[2]["comparisons"][0].update(max_abs_err=40.0, max_rel_err=40.0)  # 4-4-3: larger, not minimal
    example = case((3, 3, 1), 4)
    finding = {"kind": "mismatch", "tensors": ["W1", "b1"], "example": example, "shrunk": True,
               "comparisons": [dict(cmp("W1", "mismatch", 0.25), ratio=2.5e11),
                               dict(cmp("b1", "mismatch", 0.5), ratio=5e11)]}
    rec = record.assemble(SPEC, results, [finding], examples_requested=14, seconds=1.0)
    message = rec["findings"][0]["message"]
    assert "there the worst difference is 0.5 in b1 (allowed 1e-12, error/allowed 5e+11)." in message
    assert "40" not in message
    assert rec["tensors"][0]["max_abs_err"] == 40.0  # the table is over every case, and says so


def test_findings_in_fewer_tensors_fold_into_the_wider_one():
    wide = {"kind": "mismatch", "tensors": ["W2", "b2", "W1", "b1"], "example": case((1, 1, 1), 1)}
    narrow = {"kind": "mismatch", "tensors": ["W2", "b2"], "example": case((1, 1, 1), 1, seed=3)}
    crash = {"kind": "crash", "tensors": [], "example": case((2, 1, 1), 1)}
    merged = record.merge_subsets([narrow, wide, crash])
    assert merged == [wide, crash]
    assert wide["also"][0]["tensors"] == ["W2", "b2"]


def test_tensors_never_compared_are_neither_right_nor_wrong():
    results = [result(case((2, 2, 1), 1, seed=s), crash="RuntimeError") for s in range(3)]
    rec = record.assemble(SPEC, results, None, examples_requested=3, seconds=0.1)
    assert rec["verdict"] == "crashed"
    assert all(t["agree"] is None and t["cases"] == 0 for t in rec["tensors"])
    assert "in every one of the 3 random cases" in rec["findings"][0]["message"]


def test_a_fatal_ending_keeps_the_streamed_results():
    results = [result(case((2, 2, 1), 3, seed=s), phase="fuzz") for s in range(4)]
    fatal = record.unfinished("timeout", "the target did not finish within the time limit of 2 s", case((2, 2, 1), 5),
                         "timeout")
    rec = record.assemble(SPEC, results, None, examples_requested=10, seconds=2.0, fatal=fatal)
    assert rec["verdict"] == "timeout" and rec["examples"] == 4
    assert all(t["agree"] is True and t["cases"] == 4 for t in rec["tensors"])
    assert rec["findings"][0]["message"].startswith("The target did not finish within the time limit of 2 s "
                                                    "while running 2-2-1")


def test_user_frame_reads_faulthandler_and_tracebacks():
    fault = ('Fatal Python error: Segmentation fault\n\nCurrent thread 0x1 (most recent call first):\n'
             '  File "/usr/lib/python3.11/ctypes/__init__.py", line 519 in string_at\n'
             '  File "/home/me/adapter.py", line 12 in backward\n'
             '  File "/home/me/adapter.py", line 30 in target\n')
    assert user_frame(fault) == "adapter.py:12 in backward"
    tb = ('Traceback (most recent call last):\n  File "/home/me/adapter.py", line 30, in target\n    x\n'
          '  File "/home/me/tutorial.py", line 7, in backward\n    y\nValueError: no\n')
    assert user_frame(tb) == "tutorial.py:7 in backward"
    assert user_frame("nothing here") is None


def test_broadcasting_widths_of_one_are_part_of_the_condition():
    # the mask bug also runs (and is wrong) when in_features == 1, where NumPy broadcasts
    sizes = [(3, 3, 1), (1, 5, 2), (4, 4, 3), (6, 2, 1), (5, 5, 1), (1, 7, 1), (8, 8, 2), (2, 3, 4), (7, 7, 5),
             (3, 6, 1), (1, 4, 1), (4, 2, 2), (6, 6, 6), (5, 3, 2), (2, 9, 1), (9, 4, 3), (1, 3, 3), (7, 5, 1)]
    results = [result(case(s, 2, seed=k), ("W1", "b1") if s[0] == s[1] or s[0] == 1 else ())
               for k, s in enumerate(sizes)]
    cond = conditions.conditions({"kind": "mismatch", "tensors": ["W1", "b1"]}, results, depth=2)
    assert cond["when"][0] == "when in_features == hidden or in_features == 1"


def test_a_condition_whose_outside_only_crashes_says_so():
    # wrong gradients wherever the code runs, which is only when in == hidden: every other shape crashes
    sizes = [(3, 3, 1), (2, 5, 2), (4, 4, 3), (6, 2, 1), (5, 5, 1), (1, 7, 1), (8, 8, 2), (2, 3, 4), (7, 7, 5),
             (3, 6, 1), (9, 9, 1), (4, 1, 2), (6, 6, 6), (5, 3, 2)]
    results = [result(case(s, 2, seed=k), ("W1", "b1")) if s[0] == s[1] else result(case(s, 2, seed=k),
                                                                                      crash="ValueError")
               for k, s in enumerate(sizes)]
    cond = conditions.conditions({"kind": "mismatch", "tensors": ["W1", "b1"]}, results, depth=2)
    assert cond["when"] == ["when in_features == hidden"] and cond["masked"]
    rec = record.assemble(SPEC, results, None, examples_requested=14, seconds=0.1)
    messages = {f["kind"]: f["message"] for f in rec["findings"]}
    assert "only when in_features != hidden" in messages["crash"]
    assert ("W1 and b1 disagree with torch only when in_features == hidden (in 7 of 14 random cases; "
            "the 7 outside that failed in another way)") in messages["mismatch"]


def test_differences_accepted_as_conventions_are_counted_apart_from_errors():
    results = [result(case((2, 3, 1), 4, seed=s)) for s in range(3)]
    accepted = results[1]["comparisons"][2]  # W2, agreeing only by torch's BCE clamp convention
    accepted.update(max_abs_err=0.25, max_rel_err=1.0, conventions=2,
                    note="2 element(s) accepted as BCE without torch's clamp of a(1 - a) at 1e-12 (2 saturated outputs)")
    rec = record.assemble(SPEC, results, None, examples_requested=3, seconds=0.1)
    w2 = rec["tensors"][2]
    assert w2["agree"] is True and w2["max_abs_err"] == 0.0
    assert w2["convention_cases"] == 1
    assert w2["convention_note"] == "BCE without torch's clamp of a(1 - a) at 1e-12"


def test_tensors_the_minimal_example_leaves_out_are_named():
    # the shrunk example shows only W2 and b2 (a dead unit), but W1 and b1 fail in most cases too
    minimal = result(case((1, 1, 1), 1, seed=0), ("W2", "b2"))
    results = [minimal] + [result(case((3, 3, 1), 2, seed=s), ("W1", "b1", "W2", "b2")) for s in range(1, 6)]
    finding = {"kind": "mismatch", "tensors": ["W2", "b2"], "example": minimal["case"], "shrunk": True}
    rec = record.assemble(SPEC, results, [finding], examples_requested=6, seconds=0.1)
    [f] = rec["findings"]
    assert f["tensors_seen"] == {"W1": 5, "b1": 5, "W2": 6, "b2": 6} and f["cases_showing"] == 6
    assert "W1 and b1 fail too, in 5 of the 6 cases that show it." in f["message"]

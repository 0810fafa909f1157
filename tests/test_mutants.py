"""The mutant corpus: a library of bug variants of the reference, and the harness's score on it."""
import json

import numpy as np
import pytest

from crosscheck.model.cases import Case, Network
from crosscheck.judge.check import check_case
from crosscheck.diagnosis.variants import LIBRARY
from crosscheck.diagnosis.corpus import COMBINATIONS, CORPUS
from crosscheck.engine.mutants import run_corpus, score

REQUIRED = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 18, 19, 20, 24, 26, 27, 28}


def test_corpus_covers_the_required_patterns_at_several_layers():
    assert len(CORPUS) >= 25
    assert {m.pattern for m in CORPUS} >= REQUIRED
    assert len({m.layer for m in CORPUS}) >= 3 and len({m.loss for m in CORPUS}) == 3
    assert {m.dtype for m in CORPUS} >= {None, "float32"}


@pytest.mark.parametrize("variant", LIBRARY, ids=lambda v: v.key)
def test_every_variant_is_a_real_bug_somewhere(variant):
    """Each variant differs from the reference on some network where it applies (no equivalent mutants)."""

    for acts, loss, options in ((("relu", "identity"), "mse", {}), (("sigmoid", "sigmoid"), "bce", {}),
                                (("tanh", "sigmoid"), "mse", {}), (("leaky_relu", "tanh", "identity"), "mse", {}),
                                (("tanh", "softmax"), "cross_entropy", {}), (("relu", "identity"), "mse", {"l2": 0.5})):
        net = Network((3,) * (len(acts) + 1), acts, loss, "mean", **options)
        X, Y, params = Case(net, 4, "float64", "normal", 3).arrays()
        ref = variant_free(net, X, Y, params)
        for layer in variant.layers(net):
            got = variant.gradients(net, X, Y, params, layer)
            if any(got[n].shape != ref[n].shape or not np.allclose(got[n], ref[n]) for n in ref if n[0] in "Wb"):
                return
    pytest.fail(f"{variant.key} equals the reference everywhere it was placed")


def variant_free(net, X, Y, params):
    """The reference's gradients with the network's loss options."""
    from crosscheck.model.target import reference_target
    return reference_target().run(net, X, Y, params)


def test_a_mutant_is_a_target_with_its_family():
    m = next(x for x in CORPUS if x.key == "relu-mask-from-input" and x.layer == 1)
    t = m.target()
    ok = Case(Network((3, 3, 1), m.activations, m.loss), 4, "float64", "relu-gap", 0)
    assert t.family.covers(ok.network) and check_case(t, ok).failing_parameters() == ["W1", "b1"]
    assert check_case(t, Case(Network((2, 3, 1), m.activations, m.loss), 4)).kind == "crash"


def test_every_mutant_is_caught_and_diagnosed():
    """The mutation score: all caught, at least 90% with the right label (takes about a minute)."""
    rows = run_corpus(signature=False, combinations=False)
    missed = [r.mutant for r in rows if not r.caught]
    assert not missed, f"mutants not caught: {missed}"
    s = score(rows)
    wrong = [(r.mutant, r.diagnosis) for r in rows if not r.diagnosis_right]
    assert s["right_label_rate"] >= 0.9, f"right label {s['right_label_rate']:.0%}; wrong: {wrong}"


def test_mutants_command_writes_the_table(tmp_path):
    from crosscheck.app.cli import main

    assert main(["mutants", "--select", "p28-sign-flipped-loss-sigmoid", "--seed", "0", "--report", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "mutants.json").read_text())
    row = data["mutants"][0]
    assert row["caught"] and row["diagnosis"] == ["sign"] and row["diagnosis_right"] and row["pattern_named"]
    header = (tmp_path / "mutants.csv").read_text().splitlines()[0]
    for column in ("mutant", "pattern", "caught", "examples_to_catch", "shrunk_size", "diagnosis",
                   "expected_label", "diagnosis_right"):
        assert column in header
    assert "right label" in (tmp_path / "mutants.md").read_text()
    assert main(["mutants", "--select", "no-such-mutant", "--report", str(tmp_path)]) == 2


def test_the_combinations_hold_two_to_four_bugs_at_different_places():
    assert len(COMBINATIONS) >= 30 and {len(m.bugs) for m in COMBINATIONS} == {2, 3, 4}
    relu_rows = {("half-mse", 0), ("output-derivative-missing", 2), ("weight-grad-wrong-input", 2),
                 ("relu-mask-from-input", 1)}
    assert any({(k, l) for k, l, _ in m.bugs} == relu_rows for m in COMBINATIONS)
    assert len({m.name for m in COMBINATIONS}) == len(COMBINATIONS)


@pytest.mark.parametrize("select", ["c4-half-mse@loss+output-derivative-missing@L2",
                                    "c2-output-derivative-missing@L2+stale-weights@L2",
                                    "c2-stray-factor-W@L2+stray-factor-b@L1"])
def test_a_combination_is_caught_and_every_bug_named_with_its_line(select):
    [row] = run_corpus(select, signature=False)
    assert row.caught and row.bugs >= 2 and row.bugs_named and row.lines_found and row.explained


def test_mutants_takes_a_profile_and_thorough_is_its_alias(tmp_path):
    from crosscheck.app.cli import main

    select = "p28-sign-flipped-loss-sigmoid"
    assert main(["mutants", "--select", select, "--profile", "ci", "--examples", "5",
                 "--report", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "mutants.json").read_text())["settings"]["profile"] == "ci"
    assert main(["mutants", "--select", select, "--thorough", "--examples", "5", "--report", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "mutants.json").read_text())["settings"]["profile"] == "thorough"

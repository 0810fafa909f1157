"""The campaign runner: cases independent of the workers, reports identical, failures shrunk."""
import json

import pandas as pd
import pytest

from crosscheck.app import cli
from crosscheck.engine.campaign import InlineExecutor, distribute, fuzz_campaign
from crosscheck.drawing.sampler import Bounds, replayed_case, seeded_case, seeded_choices
from crosscheck.model.target import Family, Target

SMALL = Bounds(max_depth=2, max_width=6, max_batch=4)


def _scaled(X, Y, params, *, network):
    from crosscheck.reference import MLP
    grads = MLP(network.sizes, network.activations, params).gradients(X, Y, network.loss, network.reduction)[1]
    return {k: v * 0.5 for k, v in grads.items()}  # a wrong factor on every tensor


HALF = Target("half", _scaled, Family(), takes_network=True)


def test_case_i_is_a_pure_function_of_seed_and_index():
    assert [seeded_case(3, i) for i in range(50)] == [seeded_case(3, i) for i in range(50)]
    assert [seeded_case(3, i) for i in range(50)] != [seeded_case(4, i) for i in range(50)]
    case, picks = seeded_choices(3, 7)
    assert replayed_case(picks) == case


def test_family_is_respected():
    fam = Family(activations=("relu", "sigmoid"), loss="bce", sizes=(3, None, 1), batch=2, dtype="float32")
    for i in range(40):
        c = seeded_case(0, i, fam)
        assert fam.covers(c.network, c.batch, c.dtype) and c.network.sizes[0] == 3 and c.batch == 2


def _square(x):
    return x * x


def test_distribute_keeps_input_order_on_any_executor():
    assert list(distribute(_square, range(20), executor=InlineExecutor())) == [x * x for x in range(20)]
    assert list(distribute(_square, range(20), workers=2, chunksize=3)) == [x * x for x in range(20)]


def test_a_wrong_factor_is_found_and_shrunk_to_one_layer_one_sample():
    run = fuzz_campaign(HALF, examples=15, seed=0, bounds=SMALL)
    assert run.findings and len(run.results) >= 15
    f = run.findings[0]
    assert f.kind == "mismatch" and f.case.batch == 1 and f.case.network.depth == 1
    assert 1 <= f.first_seen <= 15


def _read(folder):
    frame = pd.read_csv(folder / "fuzz.csv")
    summary = json.loads((folder / "summary.json").read_text())
    for k in ("seconds", "cases_per_second"):
        summary.pop(k)
    return frame, summary


def test_two_workers_write_the_same_reports_as_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    args = ["fuzz", "--examples", "12", "--seed", "5", "--profile", "ci"]
    assert cli.main(args + ["--report", str(one)]) == cli.main(args + ["--report", str(two), "--workers", "2"])
    (f1, s1), (f2, s2) = _read(one), _read(two)
    pd.testing.assert_frame_equal(f1, f2)
    assert s1 == s2 and s1["cases"] >= 12


def test_bad_scale_options_exit_2(capsys):
    assert cli.main(["fuzz", "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    assert cli.main(["fuzz", "--examples", "2", "--scheduler", "tcp://127.0.0.1:9", "--report", "/tmp/x"]) == 2
    assert "--scheduler" in capsys.readouterr().err


def test_a_campaign_leaves_the_collector_alone(monkeypatch):
    import gc

    calls = []
    for name in ("disable", "enable", "collect", "freeze"):
        monkeypatch.setattr(gc, name, lambda *a, _n=name, **k: calls.append(_n))
    run = fuzz_campaign(HALF, examples=5, seed=1, bounds=SMALL, diagnose=False)
    assert gc.isenabled() and len(run.findings) >= 1 and calls == []


def test_indices_not_done_are_made_one_at_a_time():
    from crosscheck.engine.campaign import not_done

    assert list(not_done(8, [0, 2, 3, 7])) == [1, 4, 5, 6]
    first = next(not_done(10**12, []))  # no list of every index
    assert first == 0

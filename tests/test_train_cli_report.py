"""The train reports of a run with a diverging optimizer: the step, the worst tensor, the curves."""
import json

import pandas as pd
from hypothesis import Phase

import crosscheck.reference as r
from crosscheck.reports import train as train_report
from crosscheck.engine.training import fuzz_reference


class AdamBiasFrozen(r.Adam):
    def step(self, params, grads):
        t, self.t = self.t, 0
        super().step(params, grads)
        self.t = t + 1


def test_reports_name_the_first_diverging_step(tmp_path):
    run = fuzz_reference(database="none", optimizers=["adam"], steps=3, examples=4, seed=5,
                         settings={"phases": [Phase.generate]},
                         make_optimizer=lambda s: AdamBiasFrozen(**s.hyper))
    paths = train_report.write({"adam": run}, tmp_path)
    frame = pd.read_csv(paths["csv"])
    n = len(run.results)
    first = frame[~frame["agree"]].groupby("case")["step"].min()
    assert n >= 1 and len(first) == n and (first == 2).all()  # every trajectory first disagrees after step 2
    assert frame[frame["step"] == 1]["agree"].all()
    md = paths["md"].read_text()
    assert f"{n} of {n} trajectories diverge from torch.optim." in md
    assert "### 1. adam: mismatch at step 2 of 3 (worst:" in md
    data = json.loads(paths["json"].read_text())
    assert data["findings"][0]["first_step"] == 2 and data["optimizers"][0]["diverging"] == n
    html = paths["html"].read_text()
    assert "mismatch at step 2 of 3" in html and html.count("<svg") == 1


def test_a_blown_up_trajectory_is_drawn(tmp_path):
    # losses up to 1e107 and then inf: matplotlib's log axis overflows on them; the report must not
    from crosscheck.engine.fuzz import FuzzRun
    from crosscheck.judge.trajectory import TrainingCase, check_reference

    tc = TrainingCase.from_dict({"sizes": [1, 1, 1, 1], "activations": ["relu", "identity", "identity"],
                                 "loss": "mse", "batch": 1, "dtype": "float64", "regime": "saturated", "seed": 0,
                                 "optimizer": "sgd", "lr": 0.1, "steps": 8})
    res = check_reference(tc)
    assert res.agree and max(v for v in res.torch_losses if v == v) > 1e100
    paths = train_report.write({"sgd": FuzzRun("reference", [res])}, tmp_path)
    page = paths["html"].read_text()
    assert page.count("<svg") == 1 and "over 1e+12 or not finite: x at 1e+12" in page  # drawn at the ceiling

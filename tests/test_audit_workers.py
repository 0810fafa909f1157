"""``crosscheck audit --workers 2`` writes the audit of one worker, timings aside."""
import json
import textwrap

from crosscheck.app.cli import main

FILES = {
    "a_right.py": """
        from crosscheck import audit_target

        @audit_target(activations=["identity"], loss="mse", reduction="sum")
        def linear(X, Y, params):
            [(W, b)] = params
            dZ = 2 * (X @ W.T + b - Y)
            return [(dZ.T @ X, dZ.sum(axis=0))]

        @audit_target(activations=["identity"], loss="mse")
        def raises(X, Y, params):
            raise ValueError("not written yet")
    """,
    "b_misused.py": """
        from crosscheck import audit_target

        @audit_target(activations=["relu"], loss="hinge")
        def f(X, Y, params):
            return []
    """,
    "c_wrong.py": """
        from crosscheck import audit_target

        @audit_target(activations=["identity"], loss="mse", reduction="sum")
        def bias_mean(X, Y, params):
            [(W, b)] = params
            dZ = 2 * (X @ W.T + b - Y)
            return [(dZ.T @ X, dZ.mean(axis=0))]
    """,
}


def _without_timings(obj):
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items() if "second" not in k}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def test_two_workers_give_the_audit_of_one(tmp_path, capsys):
    folder = tmp_path / "code"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(textwrap.dedent(text))
    codes, audits, printed = [], [], []
    for workers in ("1", "2"):
        report = tmp_path / f"report{workers}"
        # a time limit far above the few seconds needed: shrinking and the sweep are budgeted in cases, so
        # the audit is the same whatever the load, unless the wall-clock safety net (a share of the limit) fires
        codes.append(main(["audit", str(folder), "--examples", "8", "--database", "none", "--report", str(report),
                           "--workers", workers, "--timeout", "300"]))
        audits.append(json.loads((report / "audit.json").read_text()))
        printed.append([line.split("(")[0] for line in capsys.readouterr().out.splitlines()[1:-1]])
    assert codes == [2, 2]  # the misused decorator
    assert [t["verdict"] for t in audits[0]["targets"]] == ["agree", "crashed", "invalid", "disagree"]
    assert _without_timings(audits[1]) == _without_timings(audits[0])
    assert printed[1] == printed[0]  # one line per target as it finishes, in the same order

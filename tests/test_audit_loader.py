"""Finding audit targets: paths, decorated functions, import errors (in-process, no child)."""
import textwrap

import pytest

from crosscheck.engine import loader


def write(folder, name, text):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_collect_files_takes_files_and_folders(tmp_path):
    a = write(tmp_path, "b_targets.py", "x = 1\n")
    b = write(tmp_path, "a_targets.py", "x = 1\n")
    write(tmp_path, "notes.txt", "not python\n")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "deeper.py", "x = 1\n")
    assert loader.collect_files([tmp_path]) == [b, a]  # sorted, *.py only, not recursive
    assert loader.collect_files([a, tmp_path]) == [a, b]  # each file once


def test_collect_files_rejects_missing_and_non_python_paths(tmp_path):
    with pytest.raises(loader.PathError, match="no such file or folder"):
        loader.collect_files([tmp_path / "missing.py"])
    with pytest.raises(loader.PathError, match="not a Python file"):
        loader.collect_files([write(tmp_path, "data.csv", "1,2\n")])


def test_discover_finds_decorated_functions_in_source_order(tmp_path):
    write(tmp_path, "helpers_for_discovery.py", """
        from crosscheck import audit_target

        @audit_target(activations=["relu"], loss="mse")
        def imported_elsewhere(X, Y, params):
            return []
    """)
    path = write(tmp_path, "discover_me.py", """
        from crosscheck import audit_target
        from helpers_for_discovery import imported_elsewhere

        @audit_target(activations=["tanh", "sigmoid"], loss="bce", sizes=[None, 4, 1])
        def second_in_name_first_in_file(X, Y, params):
            return []

        def plain(X, Y, params):
            return []

        @audit_target(activations=["relu"], loss="mse", returns="update", lr=0.1, dtype="float32")
        def another(X, Y, params):
            return []
    """)
    found = loader.discover_file(path)
    assert found["error"] is None
    assert [t["name"] for t in found["targets"]] == ["discover_me.second_in_name_first_in_file",
                                                     "discover_me.another"]
    first, second = found["targets"]
    assert first["declaration"]["activations"] == ["tanh", "sigmoid"]
    assert first["declaration"]["sizes"] == [None, 4, 1]
    assert second["declaration"]["returns"] == "update" and second["declaration"]["lr"] == 0.1
    assert second["declaration"]["dtype"] == "float32"


def test_a_misused_decorator_names_file_line_and_function(tmp_path):
    path = write(tmp_path, "misused_decorator.py", """
        from crosscheck import audit_target

        @audit_target(activations=["relu", "softmax"], loss="mse")
        def two_layers(X, Y, params):
            return []
    """)
    error = loader.discover_file(path)["error"]
    assert error["declaration"] is True
    assert error["function"] == "two_layers"
    assert error["line"] == 4
    assert "misused_decorator.py:4" in error["reason"] and "softmax" in error["reason"]
    assert "\n" not in error["reason"]


@pytest.mark.parametrize("body, expected", [
    ("import module_that_does_not_exist\n", "ModuleNotFoundError"),
    ("def broken(:\n", "SyntaxError"),
    ("import sys\nsys.exit(4)\n", "sys.exit(4)"),
])
def test_import_failures_are_reasons_not_tracebacks(tmp_path, body, expected):
    path = write(tmp_path, "cannot_import.py", "from crosscheck import audit_target\n" + body)
    error = loader.discover_file(path)["error"]
    assert error is not None and error["declaration"] is False
    assert expected in error["reason"] and "cannot_import.py" in error["reason"]


def test_files_that_never_mention_the_decorator_are_not_imported(tmp_path):
    quiet = write(tmp_path, "tutorial_only.py", "raise SystemExit('imported!')\n")
    loud = write(tmp_path, "adapter.py", "# uses audit_target\n")
    assert not loader.mentions_targets(quiet)
    assert loader.mentions_targets(loud)


NET = """
import numpy as np

def grads(X, Y, params, factor=1.0):
    [(W, b)] = params
    dZ = 2 * (X @ W.T + b - Y) * factor
    return [(dZ.T @ X, dZ.sum(axis=0))]
"""
TEST_FILE = """
from crosscheck import audit_target
from mynet import grads

@audit_target(activations=["identity"], loss="mse", reduction="sum")
def f(X, Y, params):
    return grads(X, Y, params{factor})
"""


def test_user_code_imports_from_its_project_root_like_pytest(tmp_path, monkeypatch, capsys):
    from crosscheck.app.cli import main

    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'mine'\n")
    (project / "mynet.py").write_text(NET)
    (project / "tests" / "test_net.py").write_text(TEST_FILE.format(factor=", factor=2.0"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    report = tmp_path / "report"
    assert main(["audit", str(project / "tests" / "test_net.py"), "--examples", "3", "--database", "none",
                 "--report", str(report)]) == 1  # found, imported, and its doubled gradients disagree
    assert "No module named" not in capsys.readouterr().out
    monkeypatch.chdir(project)
    assert main(["replay", str(report / "audit.json"), "1"]) == 1  # pasted at the project root


def test_two_files_of_the_same_name_never_share_saved_failures(tmp_path):
    from crosscheck.audit import AuditOptions, audit_paths

    for folder, factor in (("a", ", factor=2.0"), ("b", "")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "mynet.py").write_text(NET)
        (tmp_path / folder / "net.py").write_text(TEST_FILE.format(factor=factor))
    database = tmp_path / "db"
    options = AuditOptions(examples=3, profile="dev", database=str(database))
    [wrong] = audit_paths([tmp_path / "a" / "net.py"], options).records
    [right] = audit_paths([tmp_path / "b" / "net.py"], options).records
    assert wrong["verdict"] == "disagree" and right["verdict"] == "agree"
    assert right["replayed"] == 0  # net.f of folder a saved a failure; net.f of folder b does not see it

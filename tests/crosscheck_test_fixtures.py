"""Fixtures shared by the plugin, replay, HTML and profile tests, loaded with
``pytest_plugins = ["crosscheck_test_fixtures"]``: one fuzz run and one report for all."""
import pytest

from crosscheck_test_targets import write_targets


@pytest.fixture(scope="session")
def failing_report(tmp_path_factory):
    """A pytest-session report (``pytest.json`` and the rest) of ``good`` (agrees) and ``half_w1``
    (one shrunk finding in W1), made once per test session; returns (folder, Session)."""
    from crosscheck.app.plugin import Session
    from crosscheck.engine.replay import target_from_file

    folder = tmp_path_factory.mktemp("crosscheck_report")
    path = write_targets(folder)
    session = Session(6, 0, "ci", "none", str(folder / "report"))
    session.check(target_from_file(path, "good"))
    with pytest.raises(AssertionError):
        session.check(target_from_file(path, "half_w1"))
    session.write_report()
    return folder / "report", session

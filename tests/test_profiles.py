"""Hypothesis profiles (ci, dev, thorough) and the per-target example database that replays failures first."""
from pathlib import Path

import pytest

from crosscheck.app import cli
from crosscheck.engine import profiles
from crosscheck.engine.fuzz import fuzz
from crosscheck.app.options import DefaultCount
from crosscheck.engine.replay import target_from_file

pytest_plugins = ["crosscheck_test_fixtures"]


@pytest.mark.parametrize("value, profile", [("true", "ci"), ("1", "ci"), ("", "dev"), ("false", "dev"),
                                            (None, "dev")])
def test_ci_is_the_default_profile_where_the_ci_variable_is_set(value, profile):
    env = {} if value is None else {"CI": value}
    assert profiles.default_profile(env) == profile


def test_a_profile_scales_only_a_count_the_user_did_not_give():
    assert profiles.example_count("thorough", DefaultCount(100)) == 1000
    assert profiles.example_count("ci", DefaultCount(100)) == profiles.example_count("dev", DefaultCount(100)) == 100
    assert profiles.example_count("thorough", 30) == 30  # --examples 30 wins
    assert profiles.example_count(None, DefaultCount(100)) == 100
    with pytest.raises(ValueError, match="unknown profile 'nightly': choose from ci, dev, thorough"):
        profiles.example_count("nightly", DefaultCount(1))


def test_where_failures_are_kept(tmp_path):
    assert profiles.database_location(None, "ci") is None
    assert str(profiles.database_location(None, "dev")) == ".crosscheck/examples"
    assert profiles.database_location("none", "dev") is None
    assert profiles.database_location(tmp_path / "db", "ci") == tmp_path / "db"  # explicit wins
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is a file; give a folder"):
        profiles.database_location(tmp_path / "file", "dev")


def test_saved_failures_are_replayed_first_and_only_for_their_own_target(failing_report, tmp_path):
    folder, session = failing_report
    half_w1 = session.checks[1].target
    db = tmp_path / "db"
    first = fuzz(half_w1, examples=6, profile="dev", database=db, diagnose=False)
    assert first.findings and first.replayed == 0 and any(db.iterdir())
    again = fuzz(half_w1, examples=6, profile="dev", database=db, diagnose=False)
    assert again.replayed == 1 and len(again.results) < 5
    assert again.findings[0].case == first.findings[0].case  # the saved minimal example, straight away
    # another target never sees half_w1's entries: the database is keyed per target name
    good = target_from_file(half_w1.file, "good")
    other = fuzz(good, examples=3, profile="dev", database=db, diagnose=False)
    assert other.replayed == 0 and other.agree
    # the ci profile neither reads nor writes the database
    before = sorted(p.name for p in db.rglob("*"))
    ci = fuzz(half_w1, examples=6, profile="ci", diagnose=False)
    assert ci.replayed == 0 and sorted(p.name for p in db.rglob("*")) == before


@pytest.mark.parametrize("argv, message", [
    (["fuzz", "--profile", "nightly"], "invalid choice: 'nightly'"),
    (["fuzz", "--database", "{file}"], "is a file; give a folder for the example database"),
])
def test_bad_profile_options_exit_2(tmp_path, capsys, argv, message):
    (tmp_path / "f").write_text("")
    assert cli.main([a.format(file=tmp_path / "f") for a in argv]) == 2
    assert message in capsys.readouterr().err


def test_two_files_of_the_same_name_never_share_example_database_entries(failing_report, tmp_path):
    import shutil

    folder, session = failing_report
    half_w1 = session.checks[1].target
    db = tmp_path / "db"
    # the same file name and function in another folder: a target of its own
    other_dir = tmp_path / "elsewhere"
    other_dir.mkdir()
    copy = other_dir / Path(half_w1.file).name
    shutil.copy(half_w1.file, copy)
    twin = target_from_file(str(copy), "half_w1")
    assert twin.name == half_w1.name and profiles.database_key(twin) != profiles.database_key(half_w1)
    first = fuzz(half_w1, examples=6, profile="dev", database=db, diagnose=False)
    assert first.findings
    again = fuzz(twin, examples=6, profile="dev", database=db, diagnose=False)
    assert again.replayed == 0  # the other file's saved failure is not replayed for this one
    assert profiles.database_key(half_w1) == f"{Path(half_w1.file).resolve()}::{half_w1.name}"


def test_health_checks_stay_on_but_those_that_cannot_apply():
    from hypothesis import HealthCheck, settings

    theirs = {h.name for h in settings.default.suppress_health_check}  # Hypothesis's own ci profile: too_slow
    off = {h.name for h in profiles.hypothesis_settings("dev")["suppress_health_check"]} - theirs
    assert off == set(profiles.SUPPRESSED_HEALTH_CHECKS) - theirs
    assert set(profiles.SUPPRESSED_HEALTH_CHECKS) == {"function_scoped_fixture", "differing_executors", "nested_given"}
    assert {"too_slow", "data_too_large", "filter_too_much", "large_base_example"} - theirs <= (
        {h.name for h in HealthCheck} - off)


def test_health_checks_the_loaded_hypothesis_profile_suppresses_stay_off():
    from hypothesis import HealthCheck, settings

    previous = settings._current_profile
    settings.register_profile("crosscheck-test-slow", suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("crosscheck-test-slow")
    try:
        off = {h.name for h in profiles.hypothesis_settings("dev")["suppress_health_check"]}
    finally:
        settings.load_profile(previous)
    assert off == {"too_slow", *profiles.SUPPRESSED_HEALTH_CHECKS}


def test_ci_keeps_seed_0_and_dev_and_thorough_draw_a_fresh_one_unless_given():
    assert profiles.run_seed(None, "ci") == 0 and profiles.run_seed(7, "dev") == 7
    assert len({profiles.run_seed(None, "dev") for _ in range(5)}) > 1
    assert len({profiles.run_seed(None, "thorough") for _ in range(5)}) > 1

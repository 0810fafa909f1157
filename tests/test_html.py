"""The HTML pages and their figures: one renderer, self-contained, every name escaped, figures per target, heatmaps that show a
pattern."""
import json
import math
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from crosscheck.app import cli
from crosscheck.drawing.sampler import Bounds
from crosscheck.engine.replay import Elementwise
from crosscheck.model.records import FOLDED
from crosscheck.model.vocabulary import tensor_kind
from crosscheck.reports import audit as audit_report
from crosscheck.reports import figures, html

pytest_plugins = ["crosscheck_test_fixtures"]

REMOTE = re.compile(r"""(src|href)\s*=\s*['"]?(https?:)?//""")
HOSTILE = "<img src=x onerror=alert(1)>"


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, as a browser's parser sees them."""

    def __init__(self, page: str):
        super().__init__()
        self.tags = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def svgs(page: str) -> list[str]:
    return re.findall(r"<svg.*?</svg>", page, re.S)


@pytest.fixture
def bad(failing_report):
    _, session = failing_report
    check = session.checks[1]
    return check.run, check.target


def test_fuzz_page_has_tables_figures_and_the_finding_and_needs_no_network(bad):
    run, target = bad
    page = html.fuzz_page(run, target, report="out/summary.json")
    assert not REMOTE.search(page) and "<script" not in page and "<link" not in page and "@import" not in page
    assert page.count("<style>") == 1 and "td.num { text-align: right; white-space: nowrap;" in page
    for caption in ("The run", "my_targets.half_w1: per tensor kind and dtype", "Failing tensors"):
        assert f"<caption>{caption}</caption>" in page.replace("<wbr>", "")  # names may break at dots
    assert "<caption>Cases per activation and loss" in page
    # the distributions and the per-layer bars, inline; no heatmap: the minimal example's W1 is 1 x 1
    drawn = svgs(page)
    assert len(drawn) == 2 and "error / allowed per tensor kind" in drawn[0] and "per layer" in drawn[1]
    assert "No heatmap: W1 is smaller than 2 x 2" in page
    # the finding: minimal example, diagnosis, replay command, its error over its allowance
    assert "1. mismatch: W1" in page and "1-1-1 [relu, identity] mse/mean, batch 1, float64" in page
    assert "crosscheck replay out/summary.json 1" in page
    assert "<th>error / allowed</th>" in page and "W1: 1 / 1 elements mismatch (100%)" in page
    ratio = figures.record_ratio(json.loads(json.dumps(run.findings[0].result.failing[0].to_dict())))
    assert ratio > 1 and f'<td class="num bad">{ratio:.3g}</td>' in page


def test_without_the_target_the_page_says_why_there_is_no_heatmap(bad):
    run, _ = bad
    page = html.fuzz_page(run, None)
    assert "No heatmap: the page was built without the target to replay." in page


def test_importing_the_renderer_loads_neither_matplotlib_nor_jinja2():
    code = ("import sys, crosscheck.reports.html, crosscheck.reports.audit, crosscheck.reports.train; "
            "print(sorted(m for m in ('matplotlib', 'jinja2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- escaping ----------------------------------------------------------------------------------

def hostile_audit_data() -> dict:
    """An audit record whose every name and message a user controls is markup."""
    comparison = {"tensor": "W1", "status": "mismatch", "mismatches": 1, "size": 4, "max_abs_err": 2.0,
                  "allowed_abs_err": 1e-3, "max_rel_err": 0.5, "torch_err": 1e-16, "worst_index": [0, 1],
                  "message": f"W1 {HOSTILE} <script>alert(2)</script>"}
    target = {"name": f"{HOSTILE}.f", "file": f"/tmp/{HOSTILE}.py", "line": 3, "verdict": "disagree",
              "examples": 5, "seconds": 0.1, "stopped": "", "declaration": {
                  "activations": ["relu"], "loss": "mse", "reduction": "mean", "sizes": None, "batch": None,
                  "dtype": "float64", "returns": "gradients", "lr": None},
              "tensors": [{"name": "W1", "agree": False, "max_abs_err": 2.0, "max_rel_err": 0.5,
                           "mismatch_fraction": 0.25, "cases": 5, "failing_cases": 5, "statuses": {"mismatch": 5},
                           "convention_cases": 1, "convention_note": HOSTILE}],
              "findings": [{"kind": HOSTILE, "tensors": ["W1"], "diagnosis": [HOSTILE], "message": HOSTILE,
                            "example": {"sizes": [2, 2], "activations": ["relu"], "loss": "mse", "batch": 2,
                                        "dtype": "float64", "regime": "normal", "seed": 0},
                            "comparisons": [comparison], "crash": None, "shrunk": True},
                           {"kind": "crash", "tensors": [], "diagnosis": [], "message": HOSTILE, "example": None,
                            "comparisons": [], "crash": {"type": HOSTILE, "message": HOSTILE,
                                                         "traceback": f"File \"{HOSTILE}.py\""}}]}
    return {"crosscheck": "0", "settings": {"examples": 5, "seed": 0, "timeout": 10.0, "files": [target["file"]]},
            "summary": {"targets": 1, "agree": 0, "disagree": 1, "crashed": 0, "timeout": 0, "invalid": 0,
                        "seconds": 0.1}, "targets": [target]}


def assert_no_live_markup(page: str) -> None:
    tags = Elements(page).tags
    assert not [t for t, _ in tags if t in ("img", "script", "iframe", "object", "embed")], "live markup"
    assert not [a for _, a in tags for k in a if k.startswith("on")], "an event handler attribute"
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_audit_page_escapes_every_name_and_message():
    views = {"W1": {"candidate": [[1.0, 2.0], [3.0, 4.0]], "truth": [[1.0, 0.0], [3.0, 4.0]],
                    "allowed": [[1e-3, 1e-3], [1e-3, 1e-3]]}}
    data = hostile_audit_data()
    page = audit_report.html_page(data, report=f"/tmp/{HOSTILE}/audit.json",
                                  heatmaps={data["targets"][0]["name"]: {0: views}})  # its finding 0
    assert_no_live_markup(page)
    # the replay command quoted for a shell, and escaped
    assert "crosscheck replay &#39;/tmp/&lt;img src=x onerror=alert(1)&gt;/audit.json&#39; 1" in page
    assert len(svgs(page)) == 1 and "heatmap of W1" in page  # (its tensor records carry no allowance to draw)
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    # the page runs no audited code: without the audit's heatmap data there is no heatmap, and it says so
    bare = audit_report.html_page(data, report="audit.json")
    assert "heatmap of W1" not in bare and "No heatmap: none was computed." in bare


def test_a_target_file_named_as_markup_puts_no_live_html_in_audit_html(tmp_path, capsys):
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / f"{HOSTILE}.py").write_text(
        "from crosscheck import audit_target\n\n"
        "@audit_target(activations=['identity'], loss='mse', sizes=[3, 2], batch=4)\n"
        "def doubled(X, Y, params):\n"
        "    (W, b), = params\n"
        "    dA = 2 * (X @ W.T + b - Y) / Y.size\n"
        "    return [(2 * dA.T @ X, dA.sum(axis=0))]\n")
    code = cli.main(["audit", str(folder), "--report", str(tmp_path / "r"), "--examples", "5", "--database", "none"])
    assert code == 1, capsys.readouterr()
    page = (tmp_path / "r" / "audit.html").read_text()
    assert_no_live_markup(page)
    assert "heatmap of W1" in page  # the 2 x 3 weight, replayed in a child process


# -- tables --------------------------------------------------------------------------------------

def test_tables_keep_numbers_whole_and_color_bad_counts_ratios_and_verdicts():
    frame = pd.DataFrame({"target": ["a<b", "c"], "verdict": ["agree", "disagree"], "findings": [0, 2],
                          "error / allowed": [0.5, 3.0], "worst": [1.23456e-7, math.nan]})
    t = html.table(frame, "Targets & more", text_columns=("target",), bad_columns=("findings",),
                   verdict_column="verdict", ratio_columns=("error / allowed",))
    assert [[(c.text, c.css) for c in row] for row in t.rows] == [
        [("a<b", "text"), ("agree", "verdict ok"), ("0", "num"), ("0.5", "num"), ("1.23e-07", "num")],
        [("c", "text"), ("disagree", "verdict bad"), ("2", "num bad"), ("3", "num bad"), ("-", "num")]]
    page = html.render(html.Page("t", [], [html.Section("", [t, html.table(frame.iloc[:0], "Nothing")])]))
    assert "<caption>Targets &amp; more</caption>" in page and '<td class="text">a&lt;b</td>' in page
    assert '<p class="note">Nothing: none.</p>' in page


def test_ratios_are_the_records_own_or_the_error_over_the_allowance_at_it():
    frame = pd.DataFrame({"max_abs_err": [0.0, 2.0, 1.0, 3.0], "allowed_abs_err": [0.0, 4.0, math.nan, 0.0]})
    assert np.allclose(figures.ratios(frame), [0.0, 0.5, math.nan, math.inf], equal_nan=True)
    assert list(figures.ratios(frame.assign(ratio=[1.0, 2.0, 3.0, 4.0]))) == [1.0, 2.0, 3.0, 4.0]
    assert figures.record_ratio({"max_abs_err": 2.0, "allowed_abs_err": 4.0}) == 0.5
    assert figures.worst_ratio([{"max_abs_err": 2.0, "allowed_abs_err": 4.0}, {"max_abs_err": 1.0}]) == 0.5


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """A small campaign with mismatches, crashes and both dtypes, and its report folder."""
    from crosscheck.engine.campaign import fuzz_campaign
    from crosscheck.reports import fuzz as fuzz_report
    from crosscheck_test_targets import some_wrong_target

    folder = tmp_path_factory.mktemp("campaign")
    run = fuzz_campaign(some_wrong_target(), examples=30, seed=1, bounds=Bounds(max_depth=2, max_width=5, max_batch=3),
                        report=folder, diagnose=False)
    return run, fuzz_report.write(run, folder)


def kind_dtype_table_by_pandas(frame: pd.DataFrame) -> pd.DataFrame:
    """``kind_dtype_table`` as a pandas group-by says it: the reference for the NumPy one."""
    f = frame[frame["tensor"].astype(str) != ""]
    f = f.assign(kind=f["tensor"].map(lambda t: t if t == FOLDED else tensor_kind(t)))
    finite = lambda s: s[np.isfinite(s)]  # noqa: E731
    median = lambda s: float(finite(s).median()) if len(finite(s)) else math.nan  # noqa: E731
    rows = [{"kind": kind, "dtype": dtype, "tensors": len(g), "disagreements": int((~g["agree"].astype(bool)).sum()),
             "median error / allowed": median(g["ratio"]), "worst error / allowed": float(g["ratio"].max()),
             "median rel err": median(g["max_rel_err"]), "worst rel err": float(g["max_rel_err"].max()),
             "worst abs err": float(finite(g["max_abs_err"]).max()) if len(finite(g["max_abs_err"])) else math.nan,
             "worst torch err": float(g["torch_err"].max())}
            for (kind, dtype), g in f.groupby(["kind", "dtype"])]
    out = pd.DataFrame(rows)
    out = out.iloc[sorted(range(len(out)), key=lambda i: (figures.KIND_ORDER.index(out["kind"][i]), out["dtype"][i]))]
    if out["worst torch err"].isna().all():
        out = out.drop(columns="worst torch err")
    return out.reset_index(drop=True)


def test_kind_dtype_table_says_what_a_pandas_group_by_says(campaign):
    from crosscheck.reports.tables import comparisons_frame

    run, _ = campaign
    frame = comparisons_frame(list(run.results))
    assert (frame["status"] == "crash").any() and set(frame["dtype"]) == {"float32", "float64"}
    frame.loc[frame.index[1], "max_rel_err"] = math.inf  # an infinite error counts as the worst, not in the median
    pd.testing.assert_frame_equal(html.kind_dtype_table(frame), kind_dtype_table_by_pandas(frame))


def test_the_report_page_with_the_exact_activation_loss_table_is_the_page_from_the_frame(campaign):
    """fuzz.html takes the table from the Tally (``activation_loss``); from the frame it is the same page."""
    from crosscheck.reports.tables import Tally, comparison_rows

    run, paths = campaign
    tally = Tally()
    for i, r in enumerate(run.results):
        tally.add(comparison_rows([r], start=i))
    page = html.fuzz_page(run, None, report=paths["json"], frame=tally.frame(), totals=tally.totals())
    assert paths["html"].read_text(encoding="utf-8") == page


# -- figures -------------------------------------------------------------------------------------

def test_heatmaps_only_for_tensors_that_can_show_a_pattern():
    assert figures.heatmappable((2, 2)) and figures.heatmappable((3, 7))
    assert not any(figures.heatmappable(s) for s in [(1, 1), (1, 9), (9, 1), (9,), (), (2, 2, 2)])
    truth = np.arange(12, dtype=float).reshape(3, 4)
    candidate = truth.copy()
    candidate[1, 2] += 1.0
    candidate[2, 3] = math.nan
    views = {"W2": Elementwise("W2", candidate, truth, np.full((3, 4), 1e-3)),
             "b2": Elementwise("b2", np.ones(3), np.zeros(3), np.full(3, 1e-3))}
    with figures.drawing():
        fig = figures.heatmap_figure(views)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["W2 (3x4): 2 / 12 over"]  # b2 (a vector) is not drawn
    outlined = [p for p in fig.axes[0].patches if p.get_edgecolor()[:3] == (1.0, 0.0, 0.0)]
    assert len(outlined) == 2
    assert figures.heatmap_figure({"b2": views["b2"]}) is None
    figure = html.heatmap_of({"b2": views["b2"]})
    assert figure.svg is None and "b2 is smaller than 2 x 2" in figure.caption


def test_figures_of_nothing_say_so():
    from crosscheck.reports.tables import comparisons_frame

    e = figures.Errors.of(comparisons_frame([]))
    assert figures.ratio_histograms(e, "t") is None and figures.layer_ratios(e, "t") is None
    blocks = html._run_sections(comparisons_frame([]), "nothing")
    assert [b.caption for b in blocks if isinstance(b, html.Figure)] == ["No tensor was compared."]
    assert figures.tensor_ratios(["W1"], [math.nan], [True], "t") is None  # no ratio recorded: no bars of nothing


def test_a_page_of_several_targets_draws_each_target_apart(failing_report):
    folder, _ = failing_report
    page = (folder / "pytest.html").read_text()
    drawn = svgs(page)
    assert len(drawn) == 4  # two per target: its distributions and its layers
    assert sum("my_targets.good: error / allowed per tensor kind" in f for f in drawn) == 1
    assert sum("my_targets.half_w1: error / allowed per tensor kind" in f for f in drawn) == 1
    assert f"crosscheck replay {folder / 'pytest.json'} 1" in page


def test_fuzz_command_writes_fuzz_html(tmp_path, capsys):
    assert cli.main(["fuzz", "--examples", "3", "--report", str(tmp_path), "--database", "none"]) == 0
    page = (tmp_path / "fuzz.html").read_text()
    # agreeing cases are one row each (their worst tensor): a distribution of their own, no per-layer bars
    assert "Every gradient agrees with torch" in page and len(svgs(page)) == 1
    assert "all (an agreeing case's worst tensor)" in svgs(page)[0]


def test_audit_md_shows_markup_in_names_and_messages_as_text():
    page = audit_report.markdown_report(hostile_audit_data())
    outside_code = re.sub(r"```.*?```|`[^`\n]*`", "", page, flags=re.S)  # code spans show their text literally
    assert "<img" not in outside_code and "<script" not in outside_code
    assert "&lt;img src=x onerror=alert(1)&gt;" in outside_code

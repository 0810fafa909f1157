"""The HTML report: one self-contained file with tables and figures, and what a browser makes of it."""
import base64
import json
import math
import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from crosscheck.app import cli
from crosscheck.reports import html, svg
from crosscheck.drawing.sampler import Bounds
from crosscheck.model.vocabulary import tensor_kind

pytest_plugins = ["crosscheck_test_fixtures"]

PNG = re.compile(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'")
SVG = re.compile(r"src='data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)'")
NS = "{http://www.w3.org/2000/svg}"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # IHDR width, height


def svg_images(page: str) -> list[ET.Element]:
    """The page's SVG figures, parsed (so each is well-formed XML)."""
    return [ET.fromstring(base64.b64decode(m)) for m in SVG.findall(page)]


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(NS + "text")]


@pytest.fixture
def bad(failing_report):
    _, session = failing_report
    check = session.checks[1]
    return check.run, check.target


def test_fuzz_page_has_tables_figures_and_a_heatmap_and_needs_no_network(bad):
    run, target = bad
    page = html.fuzz_page(run, target, report="out/summary.json")
    # nothing to fetch: no scripts, style sheets, fonts or remote images
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    # summary tables and the finding's failing-tensor table
    assert page.count("<table") == 4
    for caption in ("The run", "Per tensor kind and dtype", "Cases per activation and loss", "Failing tensors"):
        assert f"<caption>{caption}</caption>" in page
    # the distributions and the per-layer bars as SVG (nothing to fetch in them either), the heatmap a PNG
    figures = svg_images(page)
    assert len(figures) == 2 and all(float(f.get("width")) > 100 and float(f.get("height")) > 100 for f in figures)
    for m in SVG.findall(page):
        assert b"href" not in base64.b64decode(m) and base64.b64decode(m).count(b"http") == 1  # the xmlns only
    images = [base64.b64decode(m) for m in PNG.findall(page)]
    assert len(images) == 1 and all(min(png_size(i)) > 100 for i in images)
    assert "alt='heatmap of W1'" in page
    # the finding: minimal example, diagnosis, replay command
    assert "1. mismatch: W1" in page and "1-1-1 [relu, identity] mse/mean, batch 1, float64" in page
    assert "crosscheck replay out/summary.json 1" in page
    assert "W1: 1 / 1 elements mismatch (100%)" in page


def test_without_the_target_the_page_says_why_there_is_no_heatmap(bad):
    run, _ = bad
    page = html.fuzz_page(run, None)
    assert len(SVG.findall(page)) == 2 and not PNG.findall(page)
    assert "No heatmap: the page was built without the target to replay." in page


def test_kind_dtype_table_counts_disagreements_per_tensor_kind(bad):
    run, _ = bad
    from crosscheck.reports.tables import comparisons_frame

    frame = comparisons_frame(run.results)
    table = html.kind_dtype_table(frame)
    assert list(table["kind"]) == ["W", "b"] and set(table["dtype"]) == {"float64"}
    w = table[table["kind"] == "W"].iloc[0]
    assert w["tensors"] == 2 * len(run.results)
    assert w["disagreements"] == int((~frame[frame["tensor"] == "W1"]["agree"].astype(bool)).sum()) > 0
    assert table[table["kind"] == "b"].iloc[0]["disagreements"] == 0


def test_session_report_page_lists_every_target_with_its_verdict(failing_report):
    folder, _ = failing_report
    page = (folder / "pytest.html").read_text()
    assert "1 of 2 targets disagrees with torch" in page
    assert "my_targets.good" in page and "my_targets.half_w1" in page
    assert page.count("data:image/svg+xml;base64,") == 2 and page.count("data:image/png;base64,") == 1
    assert f"crosscheck replay {folder / 'pytest.json'} 1" in page


def test_audit_html_draws_the_figures_and_the_heatmaps_the_audit_computed(failing_report):
    from crosscheck.engine.replay import case_from_example, elementwise, target_from_file

    folder, _ = failing_report
    data = json.loads((folder / "pytest.json").read_text())  # the same target records as audit.json
    t = next(t for t in data["targets"] if t["findings"])
    target = target_from_file(t["file"], t["function"], declaration=t.get("declaration"))
    views = elementwise(target, case_from_example(t["findings"][0]["example"], target), ["W1"])
    sections = html.audit_sections(data, report="r/audit.json", heatmaps={t["name"]: {0: views}})
    assert set(sections) == {"", "my_targets.half_w1"}
    assert len(SVG.findall(sections[""])) == 2
    finding = sections["my_targets.half_w1"]
    assert "1. mismatch: W1" in finding and "crosscheck replay r/audit.json 1" in finding
    assert len(PNG.findall(finding)) == 1 and "alt='heatmap of W1'" in finding
    # the page runs no audited code: without the audit's data there is no heatmap
    assert not PNG.findall(html.audit_sections(data, report="r/audit.json")["my_targets.half_w1"])


def test_fuzz_command_writes_fuzz_html(tmp_path, capsys):
    assert cli.main(["fuzz", "--examples", "3", "--report", str(tmp_path), "--database", "none"]) == 0
    page = (tmp_path / "fuzz.html").read_text()
    assert "Every gradient agrees with torch" in page and page.count("data:image/svg+xml;base64,") == 2


# -- the campaign's page: tables and figures from NumPy, the exact activation x loss table --------

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
    f = f.assign(kind=f["tensor"].map(tensor_kind))
    finite = lambda s: s[np.isfinite(s)]
    rows = [{"kind": kind, "dtype": dtype, "tensors": len(g), "disagreements": int((~g["agree"].astype(bool)).sum()),
             "median rel err": float(finite(g["max_rel_err"]).median()) if len(finite(g["max_rel_err"])) else math.nan,
             "worst rel err": float(g["max_rel_err"].max()),
             "worst abs err": float(finite(g["max_abs_err"]).max()) if len(finite(g["max_abs_err"])) else math.nan,
             "worst torch err": float(g["torch_err"].max())}
            for (kind, dtype), g in f.groupby(["kind", "dtype"])]
    out = pd.DataFrame(rows)
    out = out.iloc[sorted(range(len(out)), key=lambda i: (html.KIND_ORDER.index(out["kind"][i]), out["dtype"][i]))]
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


def test_the_histograms_draw_every_tensor_kind_with_its_notes():
    rows = [("W1", "float64", 0.0, True), ("W1", "float64", 1e-16, True), ("W2", "float32", 2e-7, True),
            ("W2", "float32", 0.5, False), ("b1", "float64", math.nan, False), ("b1", "float64", 1e-15, True),
            ("dX", "float32", 5e90, False), ("", "float64", math.nan, False)]  # the last: a crash, no tensor
    frame = pd.DataFrame([{"tensor": t, "dtype": d, "max_rel_err": r, "max_abs_err": r, "torch_err": math.nan,
                           "agree": a} for t, d, r, a in rows])
    root = ET.fromstring(html.error_distribution_figure(frame, unit="target tensors"))
    words = texts(root)
    assert words[0].startswith("log10 relative error per tensor kind")
    for title in ("W", "(1 disagree)", "b", "(1 disagree, +1 float64 non-finite)", "dX", "(1 disagree)",
                  "target tensors", "exact", "-15", "0", "float32"):
        assert title in words, title
    assert "dZ" not in words and "dA" not in words  # only the kinds compared
    # one filled outline per kind and dtype with a finite error; the exact zero of W in float64 as a hatched bar
    assert len(root.findall(f"{NS}path")) == 4
    assert [r.get("fill") for r in root.findall(f"{NS}rect") if "url(" in (r.get("fill") or "")] == ["url(#exact)"]
    # the disagreeing panels' titles in red
    assert {"".join(t.itertext()) for t in root.iter(NS + "text") if t.get("fill") == "#b00020"} == \
        {"W", "(1 disagree)", "b", "(1 disagree, +1 float64 non-finite)", "dX"}


def test_the_layer_bars_label_every_layer_and_the_input():
    frame = pd.DataFrame([{"tensor": t, "dtype": d, "max_rel_err": r, "max_abs_err": r, "torch_err": math.nan,
                           "agree": True} for t, d, r in [("W1", "float64", 1e-16), ("dA2", "float32", 1e-7),
                                                           ("dX", "float64", 0.0), ("b2", "float64", 1e9)]])
    words = texts(ET.fromstring(html.layer_error_figure(frame)))
    assert [w for w in words if w.startswith(("layer", "input"))] == ["layer 1", "layer 2", "input (dX)"]
    assert "float64" in words and "float32" in words and "relative error" in words
    assert "10\u22126" in words and "100" in words  # 10^-6 and 10^0 on the log axis


def test_figures_of_nothing_say_so():
    from crosscheck.reports.tables import comparisons_frame

    for figure in (html.error_distribution_figure, html.layer_error_figure):
        assert texts(ET.fromstring(figure(comparisons_frame([])))) == ["no tensors compared"]


def test_tables_escape_cells_and_color_bad_counts_and_verdicts():
    frame = pd.DataFrame({"target": ["a<b", "c"], "verdict": ["agree", "disagree"], "findings": [0, 2],
                          "worst": [1.23456e-7, math.nan]})
    table = html._table(frame, "Targets & more", text_columns=("target", "verdict"), bad_columns=("findings",),
                        verdict_column="verdict")
    assert "<caption>Targets &amp; more</caption>" in table
    assert "<th>target</th><th>verdict</th><th>findings</th><th>worst</th>" in table
    assert ("<tr><td style='text-align: left'>a&lt;b</td><td style='text-align: left; color: #17702f; "
            "font-weight: 600'>agree</td><td>0</td><td>1.23e-07</td></tr>") in table
    assert "<td style='color: #b00020; font-weight: 600'>2</td><td>-</td>" in table
    assert html._table(frame.iloc[:0], "Nothing") == "<p class='note'>Nothing: none.</p>"


def test_nice_ticks_and_wrapped_titles():
    assert svg.nice_ticks(0, 840, integer=True) == [0, 200, 400, 600, 800]
    assert svg.nice_ticks(0, 3.15, integer=True) == [0, 1, 2, 3]
    assert svg.nice_ticks(0, 1.05, integer=True) == [0, 1]
    assert svg.nice_ticks(-19.4, 3.2) == [-15, -10, -5, 0]
    assert svg.wrap("one; two; three", 1000, 10) == ["one; two; three"]
    assert svg.wrap("one; two; three", 60, 10) == ["one; two;", "three"]
    assert svg.wrap("one; two; three", 40, 10) == ["one;", "two;", "three"]


# -- in a real browser --------------------------------------------------------------------

def chromium() -> str | None:
    for name in (os.environ.get("CROSSCHECK_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var tables = Array.prototype.slice.call(document.querySelectorAll('table'));
  var out = {
    images: imgs.map(function (i) { return [i.alt, i.complete, i.naturalWidth, i.naturalHeight, i.width]; }),
    tables: tables.map(function (t) { return [t.caption ? t.caption.textContent : '', t.rows.length,
                                              t.getBoundingClientRect().width]; }),
    title: document.title
  };
  var pre = document.createElement('pre');
  pre.id = 'crosscheck-probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (Debian: apt-get install chromium "
                                               "chromium-driver; .ci/run installs it where apt is available)")
def test_the_report_renders_in_headless_chromium(bad, tmp_path):
    run, target = bad
    page = html.fuzz_page(run, target).replace("</body>", PROBE + "</body>")
    path = tmp_path / "fuzz.html"
    path.write_text(page)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    proc = subprocess.run([chromium(), *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True,
                          timeout=120)
    match = re.search(r'<pre id="crosscheck-probe">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"no probe output; chromium said: {proc.stderr[-2000:]}"
    seen = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                      .replace("&gt;", ">"))
    assert seen["title"] == "crosscheck fuzz: my_targets.half_w1"
    # every figure decoded and laid out: complete, with its pixel size, shown at a non-zero width
    assert [i[0] for i in seen["images"]] == ["error distributions per tensor kind and dtype",
                                              "median and worst relative error per layer and dtype",
                                              "heatmap of W1"]
    for alt, complete, natural_w, natural_h, shown_w in seen["images"]:
        assert complete and natural_w > 100 and natural_h > 100 and shown_w > 100, alt
    # every table rendered with its rows
    captions = {c: (rows, width) for c, rows, width in seen["tables"]}
    assert set(captions) == {"The run", "Per tensor kind and dtype", "Cases per activation and loss",
                             "Failing tensors"}
    assert all(rows >= 2 and width > 100 for rows, width in captions.values())
    assert captions["Failing tensors"][0] == 2  # the header and W1

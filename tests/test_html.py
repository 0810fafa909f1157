"""The HTML report: one self-contained file with tables and figures, and what a browser makes of it."""
import base64
import json
import os
import re
import shutil
import struct
import subprocess

import pytest

from crosscheck import cli
from crosscheck.reports import html

pytest_plugins = ["crosscheck_test_fixtures"]

PNG = re.compile(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # IHDR width, height


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
    # summary tables (pandas Styler) and the finding's failing-tensor table
    assert page.count("<table") == 4
    for caption in ("The run", "Per tensor kind and dtype", "Cases per activation and loss", "Failing tensors"):
        assert f"<caption>{caption}</caption>" in page
    # the distributions, the per-layer bars and the heatmap, each a real PNG
    images = [base64.b64decode(m) for m in PNG.findall(page)]
    assert len(images) == 3 and all(min(png_size(i)) > 100 for i in images)
    assert "alt='heatmap of W1'" in page
    # the finding: minimal example, diagnosis, replay command
    assert "1. mismatch: W1" in page and "1-1-1 [relu, identity] mse/mean, batch 1, float64" in page
    assert "crosscheck replay out/summary.json 1" in page
    assert "W1: 1 / 1 elements mismatch (100%)" in page


def test_without_the_target_the_page_says_why_there_is_no_heatmap(bad):
    run, _ = bad
    page = html.fuzz_page(run, None)
    assert len(PNG.findall(page)) == 2
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
    assert page.count("data:image/png;base64,") == 3
    assert f"crosscheck replay {folder / 'pytest.json'} 1" in page


def test_audit_html_gets_the_figures_and_heatmaps_replayed_in_an_isolated_child(failing_report):
    folder, _ = failing_report
    data = json.loads((folder / "pytest.json").read_text())  # the same target records as audit.json
    sections = html.audit_sections(data, report="r/audit.json")
    assert set(sections) == {"", "my_targets.half_w1"}
    assert len(PNG.findall(sections[""])) == 2
    finding = sections["my_targets.half_w1"]
    assert "1. mismatch: W1" in finding and "crosscheck replay r/audit.json 1" in finding
    assert len(PNG.findall(finding)) == 1 and "alt='heatmap of W1'" in finding


def test_fuzz_command_writes_fuzz_html(tmp_path, capsys):
    assert cli.main(["fuzz", "--examples", "3", "--report", str(tmp_path), "--database", "none"]) == 0
    page = (tmp_path / "fuzz.html").read_text()
    assert "Every gradient agrees with torch" in page and page.count("data:image/png;base64,") == 2


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

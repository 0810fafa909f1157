"""Every page (fuzz, audit, pytest, train) as headless Chromium lays it out: no table cell overflows its box,
no number or header wraps, the page never scrolls sideways, every figure is drawn."""
import json
import os
import re
import shutil
import subprocess

import pytest

from crosscheck.drawing.sampler import Bounds

pytest_plugins = ["crosscheck_test_fixtures"]


def chromium() -> str | None:
    for name in (os.environ.get("CROSSCHECK_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


pytestmark = pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (Debian: apt-get install "
                                                           "chromium chromium-driver; .ci/run installs it where apt "
                                                           "is available)")

#: Appended to a page: once it is laid out, what a reader would see goes into a <pre> of JSON.
PROBE = """<script>
window.addEventListener('load', function () {
  var problems = [];
  document.querySelectorAll('td, th').forEach(function (cell) {
    if (cell.scrollWidth > cell.clientWidth + 1) {
      problems.push('overflows its cell: ' + cell.textContent.slice(0, 80));
    }
  });
  document.querySelectorAll('td.num, td.verdict, th').forEach(function (cell) {
    var range = document.createRange();
    range.selectNodeContents(cell);
    var tops = {};
    Array.prototype.forEach.call(range.getClientRects(), function (r) { tops[Math.round(r.top)] = 1; });
    if (Object.keys(tops).length > 1) { problems.push('wraps: ' + cell.textContent); }
  });
  var figures = Array.prototype.map.call(document.querySelectorAll('figure'), function (f) {
    var svg = f.querySelector('svg');
    var box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    var drawn = svg ? svg.querySelectorAll('path, rect, image, use').length : 0;
    return [f.getAttribute('aria-label'), box.width, box.height, drawn];
  });
  var out = {problems: problems, figures: figures, title: document.title,
             pageWidth: document.documentElement.scrollWidth, viewWidth: window.innerWidth,
             tables: document.querySelectorAll('table').length};
  var pre = document.createElement('pre');
  pre.id = 'crosscheck-probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def seen_in_chromium(page: str, folder, width: int = 1100) -> dict:
    path = folder / "page.html"
    path.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={folder / 'profile'}", "--virtual-time-budget=5000", f"--window-size={width},900"]
    proc = subprocess.run([chromium(), *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True,
                          timeout=180)
    match = re.search(r'<pre id="crosscheck-probe">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"no probe output; chromium said: {proc.stderr[-2000:]}"
    text = match.group(1)
    for entity, char in (("&quot;", '"'), ("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")):
        text = text.replace(entity, char)
    return json.loads(text)


def assert_reads_well(seen: dict, figures: int) -> None:
    assert not seen["problems"], "\n".join(seen["problems"])
    assert seen["pageWidth"] <= seen["viewWidth"], "the page scrolls sideways: text is cut at its right edge"
    assert seen["tables"] >= 1 and len(seen["figures"]) == figures, seen["figures"]
    for label, width, height, drawn in seen["figures"]:
        assert width > 200 and height > 100 and drawn > 3, label


@pytest.fixture(scope="module")
def pages(tmp_path_factory, failing_report):
    """One page of each kind, with findings, heatmaps and long names."""
    from crosscheck.engine.campaign import fuzz_campaign
    from crosscheck.engine.fuzz import FuzzRun
    from crosscheck.judge.trajectory import TrainingCase, check_reference
    from crosscheck.reports import audit as audit_report
    from crosscheck.reports import fuzz as fuzz_report
    from crosscheck.reports import train as train_report
    from crosscheck_test_targets import some_wrong_target
    from test_html import hostile_audit_data

    folder = tmp_path_factory.mktemp("pages")
    run = fuzz_campaign(some_wrong_target(), examples=30, seed=1, bounds=Bounds(max_depth=2, max_width=5, max_batch=3),
                        report=folder / "fuzz", diagnose=False)
    fuzz = fuzz_report.write(run, folder / "fuzz", some_wrong_target())["html"].read_text()
    data = hostile_audit_data()
    data["targets"][0]["name"] = "a_rather_long_module_name_of_a_tutorial." + "very_long_function_name" * 4
    views = {"W1": {"candidate": [[1.0, 2.0, 0.5], [3.0, 4.0, 0.25]], "truth": [[1.0, 0.0, 0.5], [3.0, 4.0, 0.0]],
                    "allowed": [[1e-3] * 3] * 2}}
    audit = audit_report.html_page(data, report=folder / "audit.json",
                                   heatmaps={data["targets"][0]["name"]: {0: views}})
    tc = TrainingCase.from_dict({"sizes": [1, 1, 1, 1], "activations": ["relu", "identity", "identity"],
                                 "loss": "mse", "batch": 1, "dtype": "float64", "regime": "saturated", "seed": 0,
                                 "optimizer": "sgd", "lr": 0.1, "steps": 8})
    train = train_report.write({"sgd": FuzzRun("reference", [check_reference(tc)])}, folder / "train")
    report_folder, _ = failing_report
    return {"fuzz": fuzz, "audit": audit, "pytest": (report_folder / "pytest.html").read_text(),
            "train": train["html"].read_text()}


@pytest.mark.parametrize("kind, figures", [("fuzz", None), ("audit", 1), ("pytest", 4), ("train", 1)])
def test_every_page_reads_well_in_headless_chromium(pages, kind, figures, tmp_path):
    page = pages[kind]
    expected = page.count("<figure") if figures is None else figures
    assert expected >= 1
    for width in (1280, 800):
        assert_reads_well(seen_in_chromium(page, tmp_path, width), expected)

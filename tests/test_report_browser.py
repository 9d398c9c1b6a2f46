"""The report as a person sees it: ``index.html`` rendered by headless Chromium (Debian's ``chromium``,
installed by ``.ci/run`` when missing), every image loaded and every table with rows.

A copy of the page gets a script that, once the page has loaded, writes what it found into the DOM;
Chromium's ``--dump-dom`` then returns it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from test_analysis_fixtures import make_run

from benchmark.analysis.collect import collect
from benchmark.analysis.report import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)")

PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src"));
  const tables = [...document.querySelectorAll("table")];
  const empty = tables.filter(t => t.querySelectorAll("tbody tr").length === 0).length;
  const out = document.createElement("pre");
  out.id = "stbench-check";
  out.textContent = JSON.stringify({images: images.length, broken, tables: tables.length, empty,
                                    width: Math.max(...images.map(i => i.naturalWidth))});
  document.body.appendChild(out);
});
</script>"""


def rendered(report_dir) -> dict:
    page = (report_dir / "index.html").read_text()
    probe = report_dir / "index_probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"))
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                           "--virtual-time-budget=15000", "--dump-dom", probe.as_uri()],
                          capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="stbench-check">(.*?)</pre>', done.stdout, re.S)
    assert match, f"the page did not finish loading in Chromium: {done.stderr[-2000:]}"
    return json.loads(match.group(1).replace("&quot;", '"'))


@pytest.mark.slow
def test_the_reference_report_renders_with_every_image_and_table(tmp_path):
    written = build_report(collect("paper-mini"), tmp_path / "report", source="paper-mini")
    seen = rendered(tmp_path / "report")
    assert seen["images"] == len(written["figures"]) > 0
    assert seen["broken"] == []
    assert seen["tables"] > 0 and seen["empty"] == 0
    assert seen["width"] > 400  # real figures, not icons


@pytest.mark.slow
def test_a_report_with_a_missing_figure_is_caught(tmp_path):
    """The probe itself can fail: a deleted PNG shows up as a broken image."""
    root = tmp_path / "runs"
    make_run(root, "TSN-ResNet18-f8", "synthetic-temporal", top1=40.0, correct=[1, 0, 1, 1])
    make_run(root, "TAM-ResNet18-f8", "synthetic-temporal", top1=60.0)
    written = build_report(collect(root), tmp_path / "report")
    lost = written["figures"][0]
    (tmp_path / "report" / lost).unlink()
    assert rendered(tmp_path / "report")["broken"] == [lost]

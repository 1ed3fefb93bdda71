"""Tests for medenoise.eval.report: markdown tables, a self-contained escaped HTML report, and
that report opened in a real headless Chromium (no console errors, every image decodes)."""

import base64
import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medenoise.eval.report import markdown_table, software_versions, write_report


def test_markdown_table_formats_and_marks_missing():
    rows = [
        {"method": "n2c", "psnr": 39.2381, "n": 3, "note": "a|b"},
        {"method": "ssdn", "psnr": float("nan"), "ssim": np.float32(0.5)},
        {"method": None, "psnr": float("inf"), "ssim": 0.9423, "n": -0.001},
    ]
    got = markdown_table(rows, ["method", "psnr", "ssim", "n", "note"])
    assert got == (
        "| method | psnr | ssim | n | note |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| n2c | 39.24 | – | 3 | a\\|b |\n"
        "| ssdn | – | 0.50 | – | – |\n"
        "| – | inf | 0.94 | 0.00 | – |\n"
    )
    assert markdown_table(rows[:1], ["psnr"], floatfmt=".4f").splitlines()[2] == "| 39.2381 |"


def test_software_versions_lists_required_packages():
    v = software_versions()
    for name in ("python", "medenoise", "torch", "numpy", "scikit-image", "matplotlib", "bm3d"):
        assert v[name]
    assert v["numpy"] == np.__version__


def make_png(path: Path, size=(40, 30), seed=0) -> Path:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


EVIL = '<script>alert("x")</script> & <b>'


def sample_report(tmp_path: Path, **kwargs) -> Path:
    figs = [make_png(tmp_path / "f1.png", seed=1), make_png(tmp_path / "f2.png", (64, 48), 2)]
    sections = [
        {
            "heading": "PSNR <dB>",
            "text": "Paragraph " + EVIL,
            "table": {
                "rows": [
                    {"variant": "gauss <known>", "psnr": 30.123, "ssim": 0.81},
                    {"variant": "poisson & co", "psnr": 31.5, "ssim": None},
                ],
                "columns": ["variant", "psnr", "ssim"],
            },
            "figures": [{"path": figs[0], "caption": "bars " + EVIL}],
        },
        {"heading": "Crops", "figures": [{"path": figs[1], "caption": "zoom x2"}]},
    ]
    return write_report(
        tmp_path / "out",
        "Study <1>",
        sections,
        config_text="noise: gauss:25\nnote: a<b && c>d\n",
        protocol="PSNR_var = (PSNR_denoised - PSNR_noisy) / PSNR_noisy",
        **kwargs,
    )


class TagBalance(HTMLParser):
    """Counts open/close of container tags and collects every src/href attribute."""

    CONTAINERS = {"html", "head", "body", "section", "table", "tr", "figure", "pre", "p"}

    def __init__(self):
        super().__init__()
        self.depth: dict[str, int] = {}
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.CONTAINERS:
            self.depth[tag] = self.depth.get(tag, 0) + 1
        self.links += [v for k, v in attrs if k in ("src", "href")]

    def handle_endtag(self, tag):
        if tag in self.CONTAINERS:
            self.depth[tag] = self.depth.get(tag, 0) - 1


def test_write_report_is_self_contained_and_escaped(tmp_path):
    path = sample_report(tmp_path, versions={"python": "3.x", "numpy": "9<9"})
    assert path == tmp_path / "out" / "report.html"
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temp file left
    doc = path.read_text(encoding="utf-8")

    parser = TagBalance()
    parser.feed(doc)
    assert all(v == 0 for v in parser.depth.values()), parser.depth
    assert len(parser.links) == 2 and all(
        s.startswith("data:image/png;base64,") for s in parser.links
    )
    embedded = [base64.b64decode(s.split(",", 1)[1]) for s in parser.links]
    assert embedded == [(tmp_path / "f1.png").read_bytes(), (tmp_path / "f2.png").read_bytes()]
    assert "<script" not in doc.lower() and "http://" not in doc and "https://" not in doc

    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in doc
    assert "<title>Study &lt;1&gt;</title>" in doc and "<h2>PSNR &lt;dB&gt;</h2>" in doc
    assert "<td>gauss &lt;known&gt;</td>" in doc and "<td>poisson &amp; co</td>" in doc
    assert '<td class="num">30.12</td>' in doc and '<td class="num best">31.50</td>' in doc
    assert "<td>–</td>" in doc  # missing ssim
    assert "<pre>noise: gauss:25\nnote: a&lt;b &amp;&amp; c&gt;d\n</pre>" in doc
    assert "PSNR_var = (PSNR_denoised - PSNR_noisy) / PSNR_noisy" in doc
    assert "<td>numpy</td><td>9&lt;9</td>" in doc and "Generated 20" in doc


def test_write_report_defaults_and_missing_figure(tmp_path):
    sections = [{"heading": "h", "figures": [{"path": tmp_path / "gone.png", "caption": "c"}]}]
    doc = write_report(tmp_path, "t", sections, "", {"psnr": "8-bit <peak 255>"}).read_text()
    assert "missing figure: gone.png" in doc and "<img" not in doc
    assert "<dt>psnr</dt><dd>8-bit &lt;peak 255&gt;</dd>" in doc
    assert f"<td>numpy</td><td>{np.__version__}</td>" in doc


# --- the report in a real browser -------------------------------------------------------------

CHECKER = """<script>
window.__errors = [];
window.addEventListener("error", function (e) {
  var t = e.target;
  window.__errors.push(t && t.tagName ? "failed to load " + t.tagName : "error " + e.message);
}, true);
var __consoleError = console.error;
console.error = function () {
  window.__errors.push("console.error " + Array.prototype.join.call(arguments, " "));
  __consoleError.apply(console, arguments);
};
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var v = document.createElement("div");
  v.id = "verdict";
  v.textContent = JSON.stringify({
    images: imgs.length,
    widths: imgs.map(function (i) { return i.complete ? i.naturalWidth : -1; }),
    errors: window.__errors
  });
  document.body.appendChild(v);
});
</script>"""


def open_in_chromium(page: Path, tmp_path: Path) -> tuple[dict, list[str]]:
    """Load ``page`` with CHECKER injected first in <head>; return (verdict, console lines)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("headless browser test needs Chromium: apt-get install chromium")
    probe = tmp_path / ("probe_" + page.name)
    probe.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + CHECKER, 1))
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--virtual-time-budget=5000",
        "--enable-logging=stderr",
        "--v=0",
        "--dump-dom",
        probe.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<div id="verdict">(.*?)</div>', done.stdout, re.S)
    assert found, "no verdict in the dumped DOM:\n" + done.stdout[-2000:]
    # every page console message (any level) is logged as ':CONSOLE' on stderr
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(html.unescape(found.group(1))), console


def test_chromium_harness_catches_broken_pages(tmp_path):
    """Negative control: the probe must notice a broken image and a console error."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>bad</title></head><body>"
        '<img src="data:image/png;base64,AAAA"><img src="nothere.png">'
        '<script>console.error("boom")</script></body></html>'
    )
    verdict, console = open_in_chromium(page, tmp_path)
    assert verdict["images"] == 2 and all(w <= 0 for w in verdict["widths"])
    assert any("boom" in e for e in verdict["errors"]), verdict
    assert sum("failed to load IMG" in e for e in verdict["errors"]) == 2, verdict
    assert any("boom" in line for line in console), console


def test_report_renders_in_chromium(tmp_path):
    report = sample_report(tmp_path)
    verdict, console = open_in_chromium(report, tmp_path)
    assert verdict == {"images": 2, "widths": [40, 64], "errors": []}
    assert console == []

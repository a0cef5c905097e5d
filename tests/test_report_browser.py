"""The HTML report as a person sees it: opened in headless Chromium, on a phone and on a projector.

Chromium (Debian's ``chromium``; ``make browser`` installs it) is driven over
the DevTools protocol (``tests/cdp.py``). For each screen size the page is
loaded from a ``file:`` URL and checked for what a reader would notice:
a console error, an uncaught exception, a request for anything outside the
file (the page must work offline), a chart that did not draw, a label
missing from the page, the page wider than the screen, a hostile title
that became markup. A screenshot of each is taken and checked to be an
image of the screen's size (kept under ``REPORT_SCREENSHOTS`` when set).
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
from cdp import Browser, chromium_path
from report_fixtures import HOSTILE_TITLE, build_output

from pipeline.report.collect import collect
from pipeline.report.page import render_html

pytestmark = [
    pytest.mark.slow,  # starts a browser
    pytest.mark.skipif(
        chromium_path() is None,
        reason="chromium is not installed (make browser installs Debian's package; CHROMIUM=/path overrides)",
    ),
]

SCREENS = {
    "phone": {"width": 390, "height": 844, "mobile": True, "scale": 2.0},
    "projector": {"width": 1920, "height": 1080, "mobile": False, "scale": 1.0},
}
CHARTS = (
    "chart-days",
    "chart-people",
    "chart-organizations",
    "chart-locations",
    "chart-countries",
    "chart-clusters",
    "chart-latency",
    "chart-304",
    "chart-repairs",
    "chart-dead",
    "chart-pages",
    "chart-languages",
    "chart-text-source",
)
#: Text the page must show: a name of each section's data.
LABELS = (
    "wire.example",
    "Ana Costa",
    "Harbour Authority",
    "Lisbon",
    "Ferry strike halts harbour crossings",
    "Ferry crews vote for a strike",
    "https://down.example/rss",
    "ConnectionFailed: connection refused",
    "lost_bytes:quote",
    "parse: FeedError",
    "http_404",
    "paywall",
)

#: What each chart drew: its marks (rects) and texts, with their sizes on screen.
CHART_STATE = """
JSON.stringify(Array.from(document.querySelectorAll('svg.chart')).map(svg => {
  const box = svg.getBoundingClientRect();
  const marks = Array.from(svg.querySelectorAll('rect')).filter(r => {
    const b = r.getBBox(); return b.width > 0 && b.height > 0; });
  const texts = Array.from(svg.querySelectorAll('text')).filter(t => t.getComputedTextLength() > 0);
  const sizes = Array.from(svg.querySelectorAll('text')).map(t => parseFloat(t.getAttribute('font-size')));
  return {id: svg.id, width: box.width, height: box.height, marks: marks.length, texts: texts.length,
          smallestText: Math.min(...sizes) * box.width / svg.viewBox.baseVal.width,
          label: svg.getAttribute('aria-labelledby'), role: svg.getAttribute('role'),
          numbers: !!svg.closest('figure') && !!svg.closest('figure').querySelector('details table, table')};
}))
"""
PAGE_STATE = """
JSON.stringify({
  title: document.title,
  lang: document.documentElement.lang,
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth: window.innerWidth,
  scripts: document.scripts.length,
  text: document.body.innerText,
  smallestText: Math.min(...Array.from(document.querySelectorAll('p, li, td, th, summary, dd, dt, figcaption'))
    .filter(e => e.offsetParent !== null).map(e => parseFloat(getComputedStyle(e).fontSize))),
})
"""


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("report-browser")
    output = build_output(base / "out")
    path = base / "report.html"
    path.write_text(render_html(collect(str(output))), encoding="utf-8")
    return path


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("screen", list(SCREENS))
def test_report_in_a_real_browser(page_file: Path, screen: str) -> None:
    size = SCREENS[screen]
    with Browser() as browser:
        page = browser.open_page(size["width"], size["height"], mobile=size["mobile"], scale=size["scale"])
        page.goto(page_file.as_uri())
        # Every <details> open, so the tables behind the charts are laid out and measured too.
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        charts = json.loads(page.evaluate(CHART_STATE))
        state = json.loads(page.evaluate(PAGE_STATE))
        shot = page.screenshot()
        problems = page.problems

    assert problems == [], problems
    assert sorted(c["id"] for c in charts) == sorted(CHARTS)
    for chart in charts:
        assert chart["width"] > 100 and chart["height"] > 20, chart
        assert chart["marks"] > 0 and chart["texts"] > 0, f"{chart['id']} drew nothing: {chart}"
        assert chart["role"] == "img" and chart["label"] == f"{chart['id']}-t {chart['id']}-d", chart
        assert chart["numbers"], f"{chart['id']} has no table of its numbers"
        assert chart["smallestText"] >= 11, f"{chart['id']}: text drawn at {chart['smallestText']:.1f} px"
    assert state["title"].startswith("newsbeam report — ") and state["lang"] == "en"
    for label in LABELS:
        assert label in state["text"], label
    # The hostile title is shown as the text it is, and no script came of it.
    assert state["scripts"] == 0 and '<script>alert("pwned")</script>' in state["text"]
    assert HOSTILE_TITLE.split("\x1b")[0] in state["text"]
    # Nothing wider than the screen (wide charts and tables scroll inside their own box); text at least 12 px.
    assert state["scrollWidth"] <= state["innerWidth"], state["scrollWidth"]
    assert state["smallestText"] >= 12
    assert png_size(shot) == (int(size["width"] * size["scale"]), int(size["height"] * size["scale"]))
    keep = os.environ.get("REPORT_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / f"report-{screen}.png").write_bytes(shot)

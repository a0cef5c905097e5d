"""The README's screenshot of ``newsbeam report --html``, from a realistic output.

The 24 real feeds of ``../shared/corpora/news_feeds`` are served by
``tests/feedserver.py`` on 127.0.0.1 (each with an ETag), beside two feeds
that fail (a 503 and a 404) and four small outlet feeds (``.example``)
that carry copies of two wire stories written here (headline changed, a
paragraph added or cut, another dateline) and one different story on the
same event: the corpus feeds are teasers, too short to cluster, so these
give the clustering something real to find. All of it is ingested twice by
the real CLI (full text off: the corpus links are real sites, never
fetched): the second run gets a 304 for every feed and a second failure for
the broken ones. The report of that output (from the corpus's busiest weeks
on) is rendered and photographed in headless Chromium (``tests/cdp.py``)
at 1280 px, down to the story clusters, and written as
``seeds/_expected/report.png`` (reduced to 256 colours when Pillow is there,
to stay small in the repository).

    .venv/bin/python bench/report_screenshot.py [--keep DIR] [--out PNG]
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(TESTS))  # feedserver and the CDP client (imported, not copied)

CORPUS = ROOT.parent / "shared" / "corpora" / "news_feeds"
NEWSBEAM = Path(sys.executable).parent / "newsbeam"
WIDTH, HEIGHT = 1280, 800


def ingest(urls: list[str], output: Path, run_id: str) -> None:
    args = [str(NEWSBEAM), "ingest", *urls, "--output", str(output), "--runner", "DirectRunner"]
    args += ["--allow-private-hosts", "--per-host-delay", "0", "--fetch-retries", "0", "--full-text", "off"]
    done = subprocess.run([*args, "--run-id", run_id], capture_output=True, text=True)
    if done.returncode not in (0, 3):
        raise SystemExit(f"ingest {run_id} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    print(done.stdout.splitlines()[0] if done.stdout else run_id, file=sys.stderr)


#: Two wire stories (and a different one on the same event), as outlets run them: (outlet, headline, paragraphs).
_FERRY = [
    "LISBON (Wire) — Ferry crews across the Tagus estuary walked off the job on Monday, halting crossings that carry "
    "about 80,000 commuters a day between Lisbon and the south bank, after talks over pay and night shifts broke down.",
    "The harbour authority said replacement buses would run from Cacilhas and Barreiro every ten minutes, but warned "
    "of long queues at the bridges during the morning rush. Union leaders said the strike would last 48 hours unless "
    "the operator reopened negotiations on the night-shift allowance it cut last year.",
    "The operator said it regretted the disruption and called the walkout disproportionate, adding that its offer of "
    "a four percent rise remained on the table. Commuters crowded the Cais do Sodre terminal before dawn, many of "
    "them unaware that the first boats had been cancelled.",
]
_GRID = [
    "NAIROBI (Wire) — A nationwide power cut left most of Kenya in darkness for several hours on Tuesday after a fault "
    "on the main transmission line from the hydroelectric plants on the Tana river tripped the national grid.",
    "The power company said supply had been restored to Nairobi and Mombasa by the evening and that engineers were "
    "working to reconnect the western counties overnight. The airport ran on backup generators and flights left on "
    "time, but traffic lights failed across the capital and hospitals switched to their own supply.",
    "It was the third grid failure this year, and business groups repeated their call for an independent review of "
    "the transmission network, which they say has not kept pace with demand.",
]
_FERRY_OTHER = [
    "Commuters on the south bank of the Tagus woke on Monday to shuttered ticket offices and a handwritten notice: "
    "no boats today. At the Seixal pier, a nurse on her way to a night shift said she had already spent an hour in "
    "a bus queue and did not expect to reach the hospital before noon.",
    "Cafe owners near the terminals said the strike had emptied their morning trade, while taxi drivers reported "
    "fares three times the usual price across the bridge. Several schools told pupils from the south bank they would "
    "be excused for the two days of the stoppage.",
]


def _copies() -> dict[str, list[dict[str, object]]]:
    """Feeds of four outlets: wire copies with the edits outlets make, and one different story on the same event."""
    from datetime import UTC, datetime

    when = datetime(2026, 2, 16, 7, 0, tzinfo=UTC)

    def item(outlet: str, slug: str, title: str, paragraphs: list[str], hours: int) -> dict[str, object]:
        link = f"https://{outlet}/news/{slug}"
        return {"title": title, "link": link, "guid": link, "description": "\n\n".join(paragraphs),
                "pub_date": when.replace(hour=7 + hours)}  # fmt: skip

    correction = "Correction: an earlier version of this story gave the wrong number of daily commuters."
    return {
        "harbourpost.example": [
            item("harbourpost.example", "ferry-strike", "Ferry strike halts Tagus crossings", _FERRY, 0),
            item("harbourpost.example", "grid", "Kenya hit by nationwide blackout", _GRID, 5),
        ],
        "dailyledger.example": [
            item(
                "dailyledger.example", "tagus-ferries", "Tagus ferry crews strike over night-shift pay", _FERRY[:2], 1
            ),
            item("dailyledger.example", "ferry-queues", "No boats today: the south bank waits", _FERRY_OTHER, 2),
        ],
        "citywire.example": [
            item("citywire.example", "ferries", "Lisbon ferries stop as crews walk out", [*_FERRY, correction], 2),
            item(
                "citywire.example",
                "kenya-power",
                "Power cut plunges Kenya into darkness",
                [_GRID[0].replace("NAIROBI (Wire)", "NAIROBI (Reuters)"), *_GRID[1:]],
                6,
            ),  # fmt: skip
        ],
        "morningstar.example": [
            item("morningstar.example", "grid-failure", "Blackout across Kenya after grid fault", _GRID[:2], 7),
            item("morningstar.example", "strike", "Ferry strike: 80,000 commuters stranded", _FERRY, 3),
        ],
    }


def make_output(output: Path) -> None:
    from feedserver import FeedServer, Response, rss, static

    files = sorted(CORPUS.glob("*.xml"))
    if not files:
        raise SystemExit(f"no feeds in {CORPUS}")
    with FeedServer() as server:
        urls = [
            server.route(f"/feeds/{path.stem}.xml", static(path.read_bytes(), etag=f'"{path.stem}"')) for path in files
        ]
        for outlet, items in _copies().items():
            body = rss(items, title=outlet, link=f"https://{outlet}/")
            urls.append(server.route(f"/feeds/{outlet}.xml", static(body, etag=f'"{outlet}"')))
        urls.append(server.route("/feeds/overloaded.xml", lambda request: Response(503, {}, b"try later")))
        urls.append(server.route("/feeds/moved-away.xml", lambda request: Response(404, {}, b"gone")))
        ingest(urls, output, "nightly-1")
        time.sleep(1.0)
        ingest(urls, output, "nightly-2")


def photograph(page: Path, clip_to: str) -> bytes:
    from cdp import Browser

    with Browser() as browser:
        tab = browser.open_page(WIDTH, HEIGHT)
        tab.goto(page.resolve().as_uri())
        bottom = tab.evaluate(f"document.querySelector('{clip_to}').getBoundingClientRect().bottom + window.scrollY")
        if tab.problems:
            raise SystemExit(f"the page had problems: {tab.problems}")
        import base64

        shot = tab.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": WIDTH, "height": int(bottom) + 16, "scale": 1},
            },
            timeout=60,
        )
        return base64.b64decode(shot["data"])


def shrink(png: bytes) -> bytes:
    """256 colours (octree, which keeps the palette's few flat colours exact), compressed: a third of the size."""
    try:
        from PIL import Image
    except ImportError:
        return png
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="Build the output here (kept) instead of a temporary folder.")
    parser.add_argument("--out", type=Path, default=ROOT / "seeds" / "_expected" / "report.png")
    parser.add_argument("--clip-to", default="#clusters", help="CSS selector of the last section in the picture.")
    # The corpus's busiest weeks and after: its articles, and the two runs' fetches (made today).
    parser.add_argument("--since", default="2026-02-05", help="First day of the report.")
    parser.add_argument("--until", default=None)
    args = parser.parse_args()
    from pipeline.report import collect, day_range, render_html

    with tempfile.TemporaryDirectory() as scratch:
        output = args.keep or Path(scratch) / "out"
        if not (output / "runs").exists():
            make_output(output)
        report = collect(str(output), day_range(args.since, args.until))
        page = Path(scratch) / "report.html"
        page.write_text(render_html(report).replace(str(output), "out/"), encoding="utf-8")
        png = shrink(photograph(page, args.clip_to))
    args.out.write_bytes(png)
    t = report.totals
    print(
        f"{args.out}: {len(png) / 1024:.0f} KB; {t.articles} articles, {t.sources} sources, {t.clusters} story clusters, "
        f"{t.feeds} feeds ({t.failing_feeds} failing), {report.feeds.not_modified} of {report.feeds.responses} responses 304"
    )


if __name__ == "__main__":
    main()

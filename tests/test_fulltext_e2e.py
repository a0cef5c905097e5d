"""End to end: full article text through real pipelines, against pages served on loopback in real sites' shapes.

One site (``site``, a module fixture) serves a feed whose entries link to
every kind of page a feed reader meets: an article wrapped in navigation,
share bars, a newsletter box, related links, comments and photo credits;
articles whose dates and authors are only in JSON-LD or meta tags; a
paywall; a consent wall behind a redirect; a path robots.txt disallows; a
404; a page too slow; two 50 MB pages; PDFs; a dead link redirecting to the
front page; an entry whose feed already carries the whole article; a link on
a reserved name. ``newsbeam ingest`` runs over it in a subprocess, as a user
runs it, then again into the same output (nothing fetched twice), and once
with ``--full-text off``. The output is read back with pyarrow and DuckDB.

Smaller runs (``run_ingest`` in this process, where a test needs to change
something in it) cover budgets over two hosts (127.0.0.1 and 127.0.0.2),
redirects to private addresses, politeness between feed and page fetches,
HTML given as files and inside JSON records, and a stream whose polls fetch
each new page once.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import duckdb
import pyarrow.dataset as ds
import pytest
from feedserver import Request, mutable, redirect, rss, static
from pageserver import (
    Huge,
    PageServer,
    article_html,
    expected_paragraphs,
    fixture,
    html,
    huge,
    pdf,
    robots,
    slow,
    story,
)

import transforms.fetch.guard as guard
from pipeline.run import run_ingest

pytestmark = pytest.mark.slow

NEWSBEAM = Path(sys.executable).parent / "newsbeam"
COMMON = ["--runner", "DirectRunner", "--entities", "off", "--progress-seconds", "0"]
#: Short waits, so that a page that fails costs a second, not a minute.
FAST = [
    "--per-host-delay",
    "0",
    "--retry-backoff",
    "0.05",
    "--fetch-deadline",
    "3",
    "--read-timeout",
    "1",
    "--connect-timeout",
    "2",
    "--fetch-retries",
    "1",
]
MB = 1024 * 1024


# --------------------------------------------------------------------------
# Runs and their output
# --------------------------------------------------------------------------


def duck(sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@dataclass
class Run:
    """One ingest and what it left: the exit code, its output, the server's requests during it."""

    code: int
    out: str
    err: str
    output: Path
    run_id: str
    requests: dict[str, list[Request]] = field(default_factory=dict)

    @cached_property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.output / "runs" / f"{self.run_id}.json").read_text(encoding="utf-8"))

    @cached_property
    def articles(self) -> list[dict[str, Any]]:
        directory = self.output / "articles"
        if not directory.exists():
            return []
        rows = ds.dataset(str(directory), format="parquet", partitioning="hive").to_table().to_pylist()
        return [r for r in rows if r["run_id"] == self.run_id]

    def by_url(self) -> dict[str, dict[str, Any]]:
        rows = {r["url"]: r for r in self.articles}
        assert len(rows) == len(self.articles), "two rows for one URL"
        return rows

    def duck(self, select: str, where: str = "") -> list[tuple[Any, ...]]:
        pattern = self.output / "articles" / "**" / "*.parquet"
        condition = f"run_id = '{self.run_id}'" + (f" AND {where}" if where else "")
        return duck(
            f"SELECT {select} FROM read_parquet('{pattern}', hive_partitioning = true, union_by_name = true) "
            f"WHERE {condition}"
        )

    def paths(self, server: str = "site") -> list[str]:
        return [r.path.split("?", 1)[0] for r in self.requests.get(server, [])]


def reset(servers: dict[str, PageServer]) -> None:
    for server in servers.values():
        server.reset_log()


def snapshot(servers: dict[str, PageServer]) -> dict[str, list[Request]]:
    return {name: server.requests for name, server in servers.items()}


def cli_ingest(inputs: list[str], output: Path, run_id: str, servers: dict[str, PageServer], *extra: str) -> Run:
    """``newsbeam ingest`` in a subprocess, as a user runs it."""
    reset(servers)
    args = [str(NEWSBEAM), "ingest", *inputs, "--output", str(output), "--run-id", run_id, *COMMON, *extra]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    return Run(done.returncode, done.stdout, done.stderr, output, run_id, snapshot(servers))


def ingest(inputs: list[str], output: Path, run_id: str, servers: dict[str, PageServer], *extra: str) -> Run:
    """``run_ingest`` in this process (what ``newsbeam ingest`` calls), for tests that patch something in it."""
    reset(servers)
    out, err = io.StringIO(), io.StringIO()
    code = run_ingest(inputs, ["--output", str(output), "--run-id", run_id, *COMMON, *extra], out, err)
    return Run(code, out.getvalue(), err.getvalue(), output, run_id, snapshot(servers))


def assert_reconciles(run: Run) -> None:
    """Nothing lost: every article read is written, a duplicate or a dead letter, and the table agrees."""
    counts = run.summary["counts"]
    assert counts["read"] == counts["written"] + counts["duplicates"] + counts["dead_lettered"], counts
    assert counts["reconciled"] is True, counts
    assert counts["written"] == len(run.articles) == run.duck("count(*)")[0][0]


def assert_pages_section(run: Run) -> None:
    """The run summary's ``pages`` section agrees with itself and with the rows written."""
    pages = run.summary["pages"]
    outcomes = ("fetched", "not_modified", "robots_blocked", "failed", "refused")
    assert pages["requested"] == sum(pages.get(k, 0) for k in outcomes), pages
    rows = run.articles
    for source in ("page", "feed", "file"):
        assert pages["text_from"].get(source, 0) == sum(1 for r in rows if r["text_source"] == source), source
    assert sum(pages["text_from"].values()) == len(rows)
    assert pages["page_errors"] == dict(Counter(r["page_error"] for r in rows if r["page_error"]))
    by_duck = dict(run.duck("page_error, count(*)", "page_error IS NOT NULL GROUP BY page_error"))
    assert by_duck == pages["page_errors"]


def feed_entry(
    title: str,
    link: str,
    teaser: str,
    published: Optional[datetime] = None,
    author: Optional[str] = None,
    content: Optional[str] = None,
) -> dict[str, Any]:
    return {
        "title": title,
        "link": link,
        "guid": link,
        "description": teaser,
        "pub_date": published,
        "author": author,
        "content": content,
    }


def story_page(item: dict[str, Any], **kwargs: Any) -> str:
    return article_html(item["title"], item["paragraphs"], **kwargs)


# --------------------------------------------------------------------------
# The site: every shape of page behind one feed
# --------------------------------------------------------------------------

ROBOTS = "User-agent: *\nDisallow: /private/\n"
POOL_TEASER = (
    "The Victorian sea pool below the east cliffs will reopen in 2026 after councillors approved £1.8 million."
)
ORCHARD_TEASER = "Growers in the upper valley rent wind machines to save a blossom that opened three weeks early."
FERRY_TEASER = "The island ferry company has ordered two battery-powered boats for the short crossing."
DAIRY_TEASER = (
    "Developers, neighbours and the Brandt family are locked in a fight over forty hectares at the edge of the city."
)
COMPLETE = story(1, "complete", paragraphs=10)


@dataclass(frozen=True)
class Shape:
    """One entry of the site's feed: where its link goes and what the user should find in its row."""

    path: str
    title: str
    teaser: str
    error: Optional[str]
    source: str = "feed"
    published: Optional[datetime] = None
    author: Optional[str] = None
    content: Optional[str] = None
    #: The paths of this entry's page the server may see (none: it must never be asked).
    requested: tuple[str, ...] = ()


SHAPES: dict[str, Shape] = {
    "boilerplate": Shape(
        "/news/2024/03/05/tidal-pool?utm_source=rss&utm_medium=feed",
        "Northcliff votes to restore its tidal swimming pool",
        POOL_TEASER,
        None,
        "page",
        requested=("/news/2024/03/05/tidal-pool",),
    ),
    "graph": Shape(
        "/2024/02/20/orchards-frost-fans/",
        "Valley orchards try night frost fans as blossom comes early",
        ORCHARD_TEASER,
        None,
        "page",
        published=datetime(2024, 2, 22, 10, 0, tzinfo=UTC),
        author="Tom Baker",
        requested=("/2024/02/20/orchards-frost-fans/",),
    ),
    "meta": Shape(
        "/transport/ferry-order",
        "Ferry company orders two battery-powered boats for the island route",
        FERRY_TEASER,
        None,
        "page",
        requested=("/transport/ferry-order",),
    ),
    "paywall": Shape(
        "/metro/dairy-farm",
        "Inside the fight over the city's last dairy farm",
        DAIRY_TEASER,
        "paywall",
        requested=("/metro/dairy-farm",),
    ),
    "consent": Shape(
        "/world/harbour-strike",
        "Dockworkers end a week-long strike at the container harbour",
        "Dockworkers at the container harbour returned to work on Monday after a week-long strike over shift patterns.",
        "consent",
        requested=("/world/harbour-strike", "/consent"),
    ),
    "robots": Shape(
        "/private/leaked-memo",
        "Council memo on the bridge repairs",
        "An internal memo shows the council knew about the cracks in the bridge two years before it closed.",
        "robots",
    ),
    "gone": Shape(
        "/news/withdrawn-story",
        "Library extends its Saturday opening hours",
        "The town library will stay open until five on Saturdays from next month, the council announced.",
        "http_404",
        requested=("/news/withdrawn-story",),
    ),
    "slow": Shape(
        "/news/slow-story",
        "Cycling club opens a repair workshop in the old fire station",
        "The cycling club has opened a workshop where anyone can repair a bicycle with borrowed tools.",
        "timeout",
        requested=("/news/slow-story",),
    ),
    "huge": Shape(
        "/news/huge-story",
        "Harbour master publishes the tide tables for the coming year",
        "The harbour master has published next year's tide tables, with two extra spring tides in March.",
        "too_large",
        requested=("/news/huge-story",),
    ),
    "huge_unframed": Shape(
        "/news/huge-unframed",
        "Museum shows the lighthouse keeper's diaries for the first time",
        "Forty years of a lighthouse keeper's notes on storms and shipwrecks go on show at the town museum.",
        "too_large",
        requested=("/news/huge-unframed",),
    ),
    "pdf": Shape(
        "/reports/annual-report.pdf",
        "Harbour board publishes its annual report",
        "The harbour board's annual report shows record cargo volumes and a small loss on the ferry service.",
        "not_html",
        requested=("/reports/annual-report.pdf",),
    ),
    "pdf_as_html": Shape(
        "/news/budget-document",
        "The town's budget for next year, in full",
        "The town council has published its full budget for next year, including the costs of the pool repairs.",
        "not_html",
        requested=("/news/budget-document",),
    ),
    "dead_link": Shape(
        "/news/old-market-story",
        "Fishmongers return to the old covered market",
        "Three fishmongers have taken stalls in the covered market, which had stood empty since the summer.",
        "mismatch",
        requested=("/news/old-market-story", "/"),
    ),
    "complete": Shape(
        "/news/complete-in-feed",
        COMPLETE["title"],
        COMPLETE["teaser"],
        None,
        "feed",
        content="".join(f"<p>{p}</p>" for p in COMPLETE["paragraphs"]),
        requested=("/news/complete-in-feed",),
    ),
}
RESERVED_LINK = "http://www.courier.test/news/never-looked-up"


def serve_site(site: PageServer, pages_too: bool = True) -> str:
    """Routes every shape's page on ``site``; returns the feed's URL."""
    site.route("/robots.txt", robots(ROBOTS))
    site.route("/news/2024/03/05/tidal-pool", html(fixture("article_boilerplate.html")))
    site.route("/2024/02/20/orchards-frost-fans/", html(fixture("article_graph.html")))
    site.route("/transport/ferry-order", html(fixture("article_meta_tags.html")))
    site.route("/metro/dairy-farm", html(fixture("paywall.html")))
    site.route("/world/harbour-strike", redirect("/consent?continue=%2Fworld%2Fharbour-strike", 302))
    site.route("/consent", html(fixture("consent.html")))
    site.route("/private/leaked-memo", html(fixture("article_graph.html")))
    site.route("/news/slow-story", slow(fixture("article_graph.html"), delay=30))
    site.route("/news/huge-story", huge(50 * MB, declare_length=True))
    site.route("/news/huge-unframed", huge(50 * MB, declare_length=False))
    site.route("/reports/annual-report.pdf", pdf())
    site.route("/news/budget-document", pdf("text/html; charset=utf-8"))
    site.route("/news/old-market-story", redirect("/", 301))
    site.route("/", html(fixture("section_front.html")))
    site.route("/news/complete-in-feed", html(story_page(COMPLETE)))
    entries = [
        feed_entry(s.title, site.url(s.path), s.teaser, s.published, s.author, s.content) for s in SHAPES.values()
    ]
    entries.append(
        feed_entry("A story on a name that never resolves", RESERVED_LINK, "This link is on a reserved name.")
    )
    return site.route(
        "/feed.xml", static(rss(entries, title="The Loopback Courier"), content_type="application/rss+xml")
    )


@dataclass
class Site:
    server: PageServer
    feed: str
    first: Run
    again: Run
    off: Run

    def url(self, key: str) -> str:
        return canonical(self.server.url(SHAPES[key].path))

    def row(self, key: str) -> dict[str, Any]:
        return self.first.by_url()[self.url(key)]


def canonical(url: str) -> str:
    """The link as newsbeam stores it in ``url``: tracking parameters (utm_*) dropped."""
    return url.split("?utm_", 1)[0]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("fulltext-site")
    with PageServer() as server:
        feed = serve_site(server)
        servers = {"site": server}
        private = ["--allow-private-hosts", *FAST]
        first = cli_ingest([feed], root / "out", "first", servers, *private)
        again = cli_ingest([feed], root / "out", "again", servers, *private)
        off = cli_ingest([feed], root / "off", "off", servers, *private, "--full-text", "off")
        yield Site(server, feed, first, again, off)
        assert server.errors == []


def test_every_run_exits_zero(site: Site) -> None:
    for run in (site.first, site.again, site.off):
        assert run.code == 0, (run.run_id, run.err[-3000:])


def test_no_article_is_lost_when_a_page_cannot_be_had(site: Site) -> None:
    rows = site.first.by_url()
    assert set(rows) == {site.url(k) for k in SHAPES} | {RESERVED_LINK}
    assert site.first.summary["counts"]["dead_lettered"] == 0
    assert_reconciles(site.first)


@pytest.mark.parametrize("key", list(SHAPES))
def test_each_shape_ends_with_its_reason(site: Site, key: str) -> None:
    shape, row = SHAPES[key], site.row(key)
    assert (row["text_source"], row["page_error"]) == (shape.source, shape.error), row["page_error"]
    assert row["summary"] == shape.teaser
    if shape.source == "feed" and shape.content is None:
        assert row["text"] == shape.teaser  # the feed's text, as without full text


def test_the_article_body_replaces_the_teaser_without_boilerplate(site: Site) -> None:
    row = site.row("boilerplate")
    assert row["text"].split("\n\n") == expected_paragraphs("article_boilerplate")
    for chrome in (
        "Share this article",
        "WhatsApp",
        "Copy link",
        "Morning Briefing",
        "Sign up for our free daily newsletter",
        "Read more",
        "divers recover the old pool",
        "12 comments",
        "seaswimmer",
        "Finally! My grandchildren",
        "Photo: Jan Peters",
        "Courier Images",
        "Most read",
        "All rights reserved",
        "We use cookies",
        "Skip to content",
        "Subscribe from",
        "Topics:",
        "Spotted a mistake",
    ):
        assert chrome not in row["text"], chrome
    assert row["word_count"] > 300
    assert row["summary"] == POOL_TEASER
    assert row["page_url"] == site.server.url("/news/2024/03/05/tidal-pool")
    assert row["page_status"] == 200
    assert row["title"] == SHAPES["boilerplate"].title


def test_the_page_fills_the_date_and_authors_the_feed_lacks(site: Site) -> None:
    pool = site.row("boilerplate")
    assert pool["published_at"] == datetime(2024, 3, 5, 7, 30, tzinfo=UTC)
    assert pool["published_source"] == "page:jsonld"
    assert pool["authors"] == ["Maria Keller"]
    assert pool["site_name"] == "The Northcliff Courier"
    assert pool["image_url"] == "http://cdn.courier.test/images/2024/03/tidal-pool-low-tide.jpg"
    assert pool["canonical_url"] == site.server.url("/news/2024/03/05/northcliff-tidal-pool-restored")
    assert pool["description"].startswith("After a decade behind fences")
    ferry = site.row("meta")
    assert ferry["published_at"] == datetime(2023, 11, 2, 6, 45, tzinfo=UTC)
    assert ferry["published_source"] == "page:meta:article:published_time"
    assert ferry["authors"] == ["Sam Okafor"]
    assert ferry["text"].split("\n\n")[0].startswith("The company that runs the ferry")


def test_the_feeds_date_and_author_are_kept_over_the_pages(site: Site) -> None:
    row = site.row("graph")
    assert row["published_at"] == SHAPES["graph"].published
    assert row["published_source"] == "feed"
    assert row["authors"] == ["Tom Baker"]
    assert row["text"].split("\n\n") == expected_paragraphs("article_graph")
    assert row["canonical_url"] == "http://valleypost.test/2024/02/20/orchards-frost-fans/"
    assert row["site_name"] == "Valley Post"


def test_walls_keep_the_feed_text_and_say_which(site: Site) -> None:
    paywall, consent = site.row("paywall"), site.row("consent")
    assert paywall["text"] == DAIRY_TEASER and paywall["page_status"] == 200
    assert "Subscribe" not in paywall["text"]
    assert consent["page_url"] == site.server.url("/consent?continue=%2Fworld%2Fharbour-strike")
    assert consent["page_status"] == 200
    assert "partners" not in consent["text"]


def test_failures_keep_their_status(site: Site) -> None:
    assert site.row("gone")["page_status"] == 404
    assert site.row("pdf")["page_status"] == 200
    assert site.row("robots")["page_status"] is None and site.row("robots")["page_url"] is None
    assert site.row("slow")["page_status"] is None  # no response came


def test_a_link_on_a_reserved_name_is_never_looked_up(site: Site) -> None:
    row = site.first.by_url()[RESERVED_LINK]
    assert row["page_error"] == "reserved_name" and row["text_source"] == "feed"
    assert row["page_status"] is None


def test_what_the_server_saw(site: Site) -> None:
    seen = Counter(site.first.paths())
    assert seen["/feed.xml"] == 1
    assert seen["/robots.txt"] == 1  # once for the site, whatever the number of pages
    assert seen["/private/leaked-memo"] == 0  # disallowed: never requested
    for key, shape in SHAPES.items():
        for path in shape.requested:
            limit = 2 if key == "slow" else 1  # a timeout is retried once (--fetch-retries 1)
            assert 1 <= seen[path] <= limit, (key, path, seen[path])
    expected = {p for s in SHAPES.values() for p in s.requested} | {"/feed.xml", "/robots.txt"}
    assert set(seen) == expected


def test_huge_pages_are_streamed_and_cut_off(site: Site) -> None:
    for path in ("/news/huge-story", "/news/huge-unframed"):
        responder = site.server._responder_for(path)
        assert isinstance(responder, Huge)
        assert responder.requests == 1
        assert responder.sent < 40 * MB, (path, responder.sent)


def test_the_run_summary_counts_pages(site: Site) -> None:
    run = site.first
    pages = run.summary["pages"]
    assert_pages_section(run)
    assert pages["full_text"] is True
    assert pages["robots_blocked"] == 1
    assert pages["refused"] == 1  # the link on a reserved name: no request made
    assert pages["robots_txt_fetched"] == 1
    assert pages["text_from"] == {"page": 3, "feed": len(SHAPES) + 1 - 3, "file": 0}
    expected = Counter(s.error for s in SHAPES.values() if s.error) + Counter({"reserved_name": 1})
    assert pages["page_errors"] == dict(expected)
    # Fetched: a response with a page, whatever was then made of it (walls, the front page, the full feed).
    assert pages["fetched"] == 3 + len(["paywall", "consent", "dead_link", "complete"])
    lines = [line for line in run.out.splitlines() if line.strip().startswith(("pages", "text from page"))]
    assert len(lines) == 2, run.out
    assert "robots_blocked=1" in lines[0]
    assert "paywall=1" in lines[1] and "consent=1" in lines[1] and "robots=1" in lines[1]


def test_duckdb_reads_the_new_columns(site: Site) -> None:
    rows = site.first.duck(
        "text_source, count(*), sum(CASE WHEN summary IS NOT NULL THEN 1 ELSE 0 END)", "true GROUP BY text_source"
    )
    assert {source: (n, with_summary) for source, n, with_summary in rows} == {
        "page": (3, 3),
        "feed": (len(SHAPES) - 2, len(SHAPES) - 2),
    }
    ((status,),) = site.first.duck("page_status", f"url = '{site.url('gone')}'")
    assert status == 404


def test_a_rerun_fetches_no_page(site: Site) -> None:
    again = site.again
    assert set(again.paths()) == {"/feed.xml"}, again.paths()
    assert again.summary["counts"]["written"] == 0
    assert again.summary["counts"]["duplicates"] == len(SHAPES) + 1
    assert again.summary["pages"]["requested"] == 0
    assert_reconciles(again)


def test_full_text_off_fetches_no_page(site: Site) -> None:
    off = site.off
    assert off.paths() == ["/feed.xml"]
    assert_reconciles(off)
    assert len(off.articles) == len(SHAPES) + 1
    for row in off.articles:
        assert row["text_source"] == "feed"
        assert (row["page_error"], row["page_url"], row["page_status"]) == (None, None, None)
    assert off.summary["pages"]["full_text"] is False
    assert "not fetched (--full-text off)" in off.out


# --------------------------------------------------------------------------
# Budgets over two hosts
# --------------------------------------------------------------------------


def budget_site(a: PageServer, b: PageServer) -> tuple[str, dict[str, str]]:
    """Host a (127.0.0.1): the feed and 7 articles (6 dated, 1 undated); host b (127.0.0.2): 2 articles."""
    entries: list[dict[str, Any]] = []
    links: dict[str, str] = {}
    base = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    for name, server, day in [
        *((f"a{d}", a, d) for d in range(1, 7)),
        ("a_undated", a, None),
        ("b1", b, 1),
        ("b2", b, 2),
    ]:
        item = story(len(links) + 1, "budget")
        path = f"/{name}"
        server.route(path, html(story_page(item)))
        links[name] = server.url(path)
        published = base + timedelta(days=day) if day is not None else None
        entries.append(feed_entry(item["title"], links[name], item["teaser"], published))
    for server in (a, b):
        server.route("/robots.txt", robots("User-agent: *\nAllow: /\n"))
    return a.route("/feed.xml", static(rss(entries), content_type="application/rss+xml")), links


@pytest.fixture
def two_hosts() -> Iterator[dict[str, PageServer]]:
    with PageServer("127.0.0.1") as a, PageServer("127.0.0.2") as b:
        yield {"a": a, "b": b}


def test_max_pages_shares_the_budget_between_hosts_newest_first(
    tmp_path: Path, two_hosts: dict[str, PageServer]
) -> None:
    feed, links = budget_site(two_hosts["a"], two_hosts["b"])
    run = ingest([feed], tmp_path / "out", "budget", two_hosts, "--allow-private-hosts", *FAST, "--max-pages", "4")
    assert run.code == 0, run.err
    assert_reconciles(run)
    assert_pages_section(run)
    rows = run.by_url()
    # 4 pages for two hosts: b wants 2 and gets them, a gets the other 2: its two newest.
    fetched = {name for name, link in links.items() if rows[link]["page_error"] is None}
    assert fetched == {"a6", "a5", "b1", "b2"}
    assert {rows[links[n]]["page_error"] for n in links if n not in fetched} == {"budget"}
    assert all(rows[links[n]]["text_source"] == "page" for n in fetched)
    assert sorted(p for p in run.paths("a") if p not in ("/feed.xml", "/robots.txt")) == ["/a5", "/a6"]
    assert sorted(p for p in run.paths("b") if p != "/robots.txt") == ["/b1", "/b2"]
    assert run.summary["pages"]["page_errors"] == {"budget": 5}


def test_max_pages_per_host_caps_one_host(tmp_path: Path, two_hosts: dict[str, PageServer]) -> None:
    feed, links = budget_site(two_hosts["a"], two_hosts["b"])
    extra = ["--max-pages", "0", "--max-pages-per-host", "3"]
    run = ingest([feed], tmp_path / "out", "perhost", two_hosts, "--allow-private-hosts", *FAST, *extra)
    assert run.code == 0, run.err
    assert_reconciles(run)
    assert_pages_section(run)
    rows = run.by_url()
    errors = {name: rows[link]["page_error"] for name, link in links.items()}
    assert errors == {
        "a6": None,
        "a5": None,
        "a4": None,
        "a3": "host_budget",
        "a2": "host_budget",
        "a1": "host_budget",
        "a_undated": "host_budget",  # undated articles come after every dated one
        "b1": None,
        "b2": None,
    }
    assert sorted(p for p in run.paths("a") if p not in ("/feed.xml", "/robots.txt")) == ["/a4", "/a5", "/a6"]


# --------------------------------------------------------------------------
# Addresses that must not be fetched
# --------------------------------------------------------------------------


@pytest.fixture
def loopback_one_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 reads as a public address to the guard; every other address as before.

    A redirect to a private address needs a first hop the guard lets
    through, and no public server can be reached from a test. The pipeline
    runs in this process (``run_ingest``), so patching ``guard.blocked_reason``
    (used before every request and on every new connection) reaches it.
    """
    real = guard.blocked_reason

    def reason(address: str) -> Optional[str]:
        return None if address == "127.0.0.1" else real(address)

    monkeypatch.setattr(guard, "blocked_reason", reason)


@pytest.mark.usefixtures("loopback_one_is_public")
def test_a_redirect_to_a_private_address_is_refused(tmp_path: Path) -> None:
    with PageServer("127.0.0.1") as public, PageServer("127.0.0.2") as internal:
        servers = {"public": public, "internal": internal}
        internal.route("/admin", html(fixture("article_graph.html")))
        public.route("/robots.txt", robots("User-agent: *\nAllow: /\n"))
        public.route("/ok", html(story_page(story(1, "public"))))
        targets = {
            "metadata": "http://169.254.169.254/latest/meta-data/iam/",
            "internal": internal.url("/admin"),
            "localhost": f"http://localhost:{internal.port}/admin",
        }
        entries = [
            feed_entry(
                f"Moved story {name}", public.route(f"/moved/{name}", redirect(target, 302)), f"Teaser of {name}."
            )
            for name, target in targets.items()
        ]
        ok = story(1, "public")
        entries.append(feed_entry(ok["title"], public.url("/ok"), ok["teaser"]))
        feed_file = tmp_path / "feed.xml"  # read from disk: the feed itself needs no fetch
        feed_file.write_bytes(rss(entries))
        run = ingest([str(feed_file)], tmp_path / "out", "ssrf", servers, *FAST)  # no --allow-private-hosts
        moved = {name: public.url(f"/moved/{name}") for name in targets}
        fine = public.url("/ok")
    assert run.code == 0, run.err
    assert_reconciles(run)
    assert_pages_section(run)
    rows = run.by_url()
    for name in targets:
        row = rows[moved[name]]
        assert (row["page_error"], row["text_source"], row["text"]) == ("blocked_address", "feed", f"Teaser of {name}.")
    assert rows[fine]["text_source"] == "page"
    assert run.requests["internal"] == []
    assert sorted(run.paths("public")) == sorted(["/robots.txt", "/ok", *(f"/moved/{n}" for n in targets)])
    assert run.summary["pages"]["page_errors"] == {"blocked_address": 3}


def test_links_to_private_addresses_are_not_requested_without_allow_private_hosts(tmp_path: Path) -> None:
    with PageServer() as server:
        servers = {"site": server}
        server.route("/robots.txt", robots("User-agent: *\nAllow: /\n"))
        server.route("/story", html(fixture("article_boilerplate.html")))
        links = [server.url("/story"), f"http://localhost:{server.port}/story"]
        entries = [
            feed_entry(f"Story {n}", link, f"Teaser number {n} of the private links.") for n, link in enumerate(links)
        ]
        feed_file = tmp_path / "feed.xml"
        feed_file.write_bytes(rss(entries))
        run = ingest([str(feed_file)], tmp_path / "out", "private", servers, *FAST)
    assert run.code == 0, run.err
    assert_reconciles(run)
    assert [r["page_error"] for r in run.articles] == ["blocked_address", "blocked_address"]
    assert run.requests["site"] == []  # not even robots.txt
    assert_pages_section(run)
    assert run.summary["pages"]["refused"] == 2


# --------------------------------------------------------------------------
# Politeness: one host's delay holds across feed and page fetches
# --------------------------------------------------------------------------


def test_per_host_delay_holds_between_feed_and_page_fetches(tmp_path: Path) -> None:
    delay = 1.0
    with PageServer() as server:
        servers = {"site": server}
        server.route("/robots.txt", robots("User-agent: *\nAllow: /\n"))
        items = [story(n, "polite") for n in range(1, 4)]
        entries = []
        for n, item in enumerate(items, 1):
            server.route(f"/p/{n}", html(story_page(item)))
            entries.append(feed_entry(item["title"], server.url(f"/p/{n}"), item["teaser"]))
        feed = server.route("/feed.xml", static(rss(entries), content_type="application/rss+xml"))
        fast = list(FAST)
        fast[fast.index("--per-host-delay") + 1] = str(delay)
        run = ingest([feed], tmp_path / "out", "polite", servers, "--allow-private-hosts", *fast)
    assert run.code == 0, run.err
    assert run.paths()[:2] == ["/feed.xml", "/robots.txt"]
    starts = [r.time for r in run.requests["site"]]
    assert len(starts) == 5  # feed, robots.txt, 3 pages
    gaps = [round(b - a, 3) for a, b in zip(starts, starts[1:], strict=False)]
    # Server read times jitter on a loaded machine: the sum cannot be shortened by it (see
    # test_fetch_e2e.test_per_host_delay_spaces_request_starts), the smallest gap only by a little.
    assert starts[-1] - starts[0] >= 4 * delay - 0.1, gaps
    assert min(gaps) >= delay / 2, gaps
    assert all(r["text_source"] == "page" for r in run.articles)


# --------------------------------------------------------------------------
# One extractor for every HTML path
# --------------------------------------------------------------------------


def test_html_files_and_html_in_json_records_get_the_same_text_as_the_fetched_page(tmp_path: Path) -> None:
    page = fixture("article_boilerplate.html")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "pool.html").write_text(page, encoding="utf-8")
    (inputs / "records.json").write_text(
        json.dumps([{"title": "Pool (JSON html)", "url": "http://records.test/pool-json", "html": page}]),
        encoding="utf-8",
    )
    (inputs / "records.jsonl").write_text(
        json.dumps(
            {"title": "Pool (JSONL content_html)", "url": "http://records.test/pool-jsonl", "content_html": page}
        )
        + "\n",
        encoding="utf-8",
    )
    with PageServer() as server:
        servers = {"site": server}
        server.route("/robots.txt", robots("User-agent: *\nAllow: /\n"))
        server.route("/pool", html(page))
        feed = server.route(
            "/feed.xml",
            static(
                rss([feed_entry(SHAPES["boilerplate"].title, server.url("/pool"), POOL_TEASER)]),
                content_type="application/rss+xml",
            ),
        )
        files = [str(inputs / name) for name in ("pool.html", "records.json", "records.jsonl")]
        run = ingest([feed, *files], tmp_path / "out", "paths", servers, "--allow-private-hosts", *FAST)
    assert run.code == 0, run.err
    assert_reconciles(run)
    assert len(run.articles) == 4
    by_source = {Path(r["source"]).name if r["source_type"] == "file" else "page": r for r in run.articles}
    expected = expected_paragraphs("article_boilerplate")
    for name in ("page", "pool.html", "records.json", "records.jsonl"):
        assert by_source[name]["text"].split("\n\n") == expected, name
    assert by_source["page"]["text_source"] == "page"
    for name in ("pool.html", "records.json", "records.jsonl"):
        assert by_source[name]["text_source"] == "file", name
        assert by_source[name]["page_error"] is None
    assert sorted(run.paths()) == ["/feed.xml", "/pool", "/robots.txt"]  # files never cause a page fetch


# --------------------------------------------------------------------------
# A stream: each new entry's page fetched once, never again on later polls
# --------------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_stream_fetches_each_new_page_once(tmp_path: Path) -> None:
    output = tmp_path / "out"
    items = {n: story(n, "stream") for n in range(1, 5)}

    def feed_of(numbers: list[int]) -> bytes:
        return rss([feed_entry(items[n]["title"], server.url(f"/s/{n}"), items[n]["teaser"]) for n in numbers])

    with PageServer() as server:
        server.route("/robots.txt", robots("User-agent: *\nAllow: /\n"))
        for n, item in items.items():
            server.route(f"/s/{n}", html(story_page(item)))
        feed = mutable(static(feed_of([1, 2]), content_type="application/rss+xml"))
        url = server.route("/feed.xml", feed)
        args = [str(NEWSBEAM), "stream", url, "--output", str(output), "--run-id", "stream", *COMMON]
        args += ["--allow-private-hosts", "--per-host-delay", "0", "--poll-interval", "2", "--window", "2"]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert wait_for(lambda: {"/s/1", "/s/2"} <= set(server.paths()), 90), server.paths()
            feed.set(static(feed_of([1, 2, 3, 4]), content_type="application/rss+xml"))
            assert wait_for(lambda: {"/s/3", "/s/4"} <= set(server.paths()), 60), server.paths()
            polls = server.paths().count("/feed.xml")
            assert wait_for(lambda: server.paths().count("/feed.xml") >= polls + 2, 60), server.paths()
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        seen = Counter(server.paths())
        links = {server.url(f"/s/{n}"): n for n in items}
    assert process.returncode == 0, err[-3000:]
    assert {p: seen[p] for p in seen if p.startswith("/s/")} == {f"/s/{n}": 1 for n in items}, seen
    assert seen["/robots.txt"] == 1, seen
    pattern = output / "articles" / "**" / "*.parquet"
    rows = duck(f"SELECT url, text_source, text, summary FROM read_parquet('{pattern}', union_by_name = true)")
    assert sorted(r[0] for r in rows) == sorted(links)
    for link, source, text, summary in rows:
        n = links[link]
        assert source == "page", link
        assert text.split("\n\n") == items[n]["paragraphs"], link
        assert summary == items[n]["teaser"]
    summary_file = json.loads((output / "runs" / "stream.json").read_text(encoding="utf-8"))
    assert summary_file["counts"]["reconciled"] and summary_file["counts"]["written"] == 4
    assert summary_file["pages"]["fetched"] == 4
    assert summary_file["pages"]["text_from"] == {"page": 4, "feed": 0, "file": 0}

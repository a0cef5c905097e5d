"""``newsbeam report``'s reading and rendering, in process: DuckDB over small Parquet folders, no pipeline.

The folder of ``report_fixtures.build_output`` is what years of runs leave
(schema versions 1 to 4 mixed, batch and stream file names, a merged story
cluster, failing feeds); every figure asserted here follows from the rows
written there, and is worked out in the comments.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from report_fixtures import HOSTILE_TITLE, HOSTILE_URL, build_output

from pipeline.cli import main as cli_main
from pipeline.report import page as report_html
from pipeline.report.collect import DayRange, check_output, collect, day_range, resolve_aliases
from pipeline.report.page import nice_ceiling, render_html, safe_link, short_label, timeline_days
from pipeline.report.shape import DayCount, Report, ReportError
from pipeline.report.text import (
    as_dict,
    clean,
    day_matrix,
    display_width,
    fit,
    fit_middle,
    render_json,
    render_text,
)

NOW = dt.datetime(2024, 3, 6, 8, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_output(tmp_path_factory.mktemp("report") / "out")


@pytest.fixture(scope="module")
def report(output: Path) -> Report:
    return collect(str(output), now=NOW)


# --------------------------------------------------------------------------
# Options and the folder
# --------------------------------------------------------------------------


def test_day_range_takes_days_today_and_yesterday() -> None:
    today = dt.date(2024, 3, 6)
    assert day_range(None, None, today) == DayRange(None, None)
    assert day_range("2024-03-01", "today", today) == DayRange(dt.date(2024, 3, 1), today)
    assert day_range("yesterday", None, today) == DayRange(dt.date(2024, 3, 5), None)


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("2024-13-01", None, "--since must be a day"),
        (None, "03/01/2024", "--until must be a day"),
        ("2024-03-05", "2024-03-01", "--since 2024-03-05 is after --until 2024-03-01"),
    ],
)
def test_day_range_refuses_bad_days(since: str, until: str, message: str) -> None:
    with pytest.raises(ReportError, match=re.escape(message)):
        day_range(since, until, dt.date(2024, 3, 6))


def test_range_predicate_is_inclusive() -> None:
    window = DayRange(dt.date(2024, 3, 1), dt.date(2024, 3, 2))
    assert window.sql("d") == "d >= DATE '2024-03-01' AND d <= DATE '2024-03-02'"
    assert DayRange().sql("d") == "TRUE"


def test_check_output_refuses_what_is_not_an_output(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no such folder"):
        check_output(str(tmp_path / "missing"))
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ReportError, match="is a file"):
        check_output(str(tmp_path / "file.txt"))
    with pytest.raises(ReportError, match="not a newsbeam output folder"):
        check_output(str(tmp_path))  # holds file.txt only
    with pytest.raises(ReportError, match="local folder"):
        check_output("gs://bucket/out")
    empty = tmp_path / "empty"
    empty.mkdir()
    check_output(str(empty))  # an output nothing was written to yet: zeros, not an error
    (tmp_path / "runs").mkdir()
    check_output(str(tmp_path))  # one of newsbeam's folders is enough


def test_resolve_aliases_follows_chains_and_stops_on_cycles() -> None:
    rows = [("b", ["c"]), ("a", ["b", "a"]), ("x", None), ("p", ["q"]), ("q", ["p"])]
    resolved = resolve_aliases(rows)
    assert resolved["c"] == "a" and resolved["b"] == "a"
    assert "a" not in resolved and "x" not in resolved
    assert {resolved["p"], resolved["q"]} <= {"p", "q"}  # a cycle ends, wherever it closes


# --------------------------------------------------------------------------
# Collecting
# --------------------------------------------------------------------------


def test_totals(report: Report) -> None:
    t = report.totals
    # 16 articles; the staged and the hidden file ("zz") are not read.
    assert t.articles == 16
    assert t.sources == 6 and t.days == 7
    assert (t.first_day, t.last_day) == ("2024-02-28", "2024-03-05")
    assert t.dead_letters == 3 and t.feeds == 3 and t.failing_feeds == 2
    assert t.clusters == 2 and t.articles_in_clusters == 8  # a1: 6, b1: 2
    assert t.page_failures == 4  # a3 paywall, b1 and b2 http_404, c1 timeout
    assert t.repairs == 6  # c1: 2 + 1, d1: 3
    assert all(row.source != "zz" for row in report.articles_per_day)


def test_schema_versions_and_coverage(report: Report) -> None:
    # f1-f3 version 1; e1, e2 version 2; d1, d2 version 3; the nine a*, b*, c1 version 4.
    assert report.schema_versions == [
        {"version": 1, "articles": 3},
        {"version": 2, "articles": 2},
        {"version": 3, "articles": 2},
        {"version": 4, "articles": 9},
    ]
    c = report.coverage
    assert (c.articles, c.with_entities, c.with_text_source, c.with_clusters) == (16, 13, 10, 9)
    assert "3 of 16 article(s) were written by a version that did not record entities" in report.notes


def test_articles_per_day_file_undated_and_implausible_under_the_ingest_day(report: Report) -> None:
    by_day: dict[str, int] = {}
    for row in report.articles_per_day:
        assert row.day is not None
        by_day[row.day] = by_day.get(row.day, 0) + row.articles
    # 2024-03-05: d2, e2, plus f2 (undated) and f3 (year 1), both ingested that day.
    assert by_day == {
        "2024-02-28": 1,
        "2024-02-29": 1,
        "2024-03-01": 3,
        "2024-03-02": 3,
        "2024-03-03": 2,
        "2024-03-04": 2,
        "2024-03-05": 4,
    }
    assert DayCount("2024-03-05", "inbox/story.txt", 1) in report.articles_per_day  # no domain: its source


def test_sources_languages_text_sources(report: Report) -> None:
    assert [(s.name, s.articles) for s in report.sources][:3] == [
        ("wire.example", 5),
        ("city.example", 4),
        ("harbour.example", 3),
    ]
    wire = report.sources[0]
    assert (wire.first_day, wire.last_day) == ("2024-03-01", "2024-03-04")
    assert [(t.name, t.articles) for t in report.languages] == [("en", 13), ("fr", 2), ("de", 1)]
    assert [(t.name, t.articles) for t in report.text_sources] == [
        ("(not recorded)", 6),
        ("page", 5),
        ("feed", 4),
        ("file", 1),
    ]


def test_entities_count_articles(report: Report) -> None:
    people = [(t.name, t.articles) for t in report.entities["people"]]
    assert people == [("Ana Costa", 5), ("Rui Lima", 3)]  # a1 a2 a3 d1 e1; a3 c1 d2
    assert [(t.name, t.articles) for t in report.entities["countries"]] == [("PT", 2)]
    assert [(t.name, t.articles) for t in report.entities["organizations"]] == [("Harbour Authority", 2)]


def test_story_clusters_follow_merges(report: Report) -> None:
    first, second = report.clusters
    # a1 absorbed a4 (merged_ids): its six members, from both, under the latest row's title and size.
    assert first.cluster_id == "a1" and first.size == 6 and first.in_range == 6
    assert first.title == "Ferry strike halts harbour crossings"
    assert [m.article_id for m in first.members] == ["a4", "a5", "a1", "a2", "a3", "a6"]  # by publication time
    assert first.sources == ["city.example", "harbour.example", "quay.test", "valley.example", "wire.example"]
    assert (first.first_seen, first.last_seen) == ("2024-02-28T12:00:00Z", "2024-03-04T12:00:00Z")
    # b1 has no clusters/ row: grouped from the articles' cluster_id, titled by its own article.
    assert second.cluster_id == "b1" and second.size == 2 and second.title == "Quay wall repairs start"
    assert [m.title for m in second.members] == ["Quay wall repairs start", HOSTILE_TITLE]
    # c1 is a cluster of one (its own id): not a story cluster.
    assert all(c.cluster_id != "c1" for c in report.clusters)


def test_story_clusters_without_the_table_group_articles(tmp_path: Path) -> None:
    output = build_output(tmp_path / "out", clusters_table=False)
    clusters = {c.cluster_id: (c.size, c.in_range) for c in collect(str(output)).clusters}
    # Without clusters/ nobody recorded that a4 joined a1: two clusters.
    assert clusters == {"a1": (4, 4), "a4": (2, 2), "b1": (2, 2)}


def test_range_filters_every_section(output: Path) -> None:
    report = collect(str(output), DayRange(dt.date(2024, 3, 2), dt.date(2024, 3, 3)))
    assert report.range == {"since": "2024-03-02", "until": "2024-03-03"}
    assert report.totals.articles == 5  # a3 d1 f1 (03-02), b1 b2 (03-03)
    assert report.totals.days == 2
    # Clusters by their members in range: b1 both, a1 only a3; ranked by members in range.
    assert [(c.cluster_id, c.in_range, c.size) for c in report.clusters] == [("b1", 2, 2), ("a1", 1, 6)]
    assert [m.article_id for m in report.clusters[1].members] == ["a3"]
    # Dead letters on 03-02 and 03-03; feed fetches of runs r2 and r3.
    assert {(d.stage, d.error_type, d.count) for d in report.dead_letters} == {
        ("parse", "FeedError", 1),
        ("fetch", "BlockedURL", 1),
    }
    assert report.feeds.fetches == 6
    wire = next(f for f in report.feeds.per_feed if f.url == "https://wire.example/rss")
    assert (wire.not_modified, wire.responses, wire.not_modified_share) == (2, 2, 1.0)


def test_repairs_dead_letters_pages(report: Report) -> None:
    assert [(r.kind, r.repairs, r.articles) for r in report.repairs] == [
        ("lost_bytes:quote", 4, 2),
        ("mojibake:sloppy-windows-1252", 2, 1),
    ]
    parse = report.dead_letters[0]
    assert (parse.stage, parse.error_type, parse.count) == ("parse", "FeedError", 2)
    assert parse.example == "not a readable feed: latest" and parse.last_seen == "2024-03-03T12:00:00Z"
    pages = report.pages
    assert (pages.from_page, pages.failed) == (5, 4)
    assert [(k.name, k.articles) for k in pages.by_kind] == [("http_404", 2), ("paywall", 1), ("timeout", 1)]
    hosts = {(h.kind, h.host): h.articles for h in pages.by_host}
    # b2's link is javascript: (no host); a3's page URL is on city.example.
    assert hosts == {
        ("http_404", "(no link)"): 1,
        ("http_404", "wire.example"): 1,
        ("paywall", "city.example"): 1,
        ("timeout", "wire.example"): 1,
    }


def test_feeds_failing_first_with_streaks(report: Report) -> None:
    feeds = report.feeds
    assert [(f.url, f.failing, f.streak) for f in feeds.per_feed] == [
        ("https://down.example/rss", True, 3),
        ("https://flaky.example/rss", True, 1),
        ("https://wire.example/rss", False, 0),
    ]
    down, flaky, wire = feeds.per_feed
    # down's latest fetch had no response: no status, its error that of the latest fetch, never a success.
    assert (down.status, down.error_class, down.last_ok, down.responses) == (None, "ConnectionFailed", None, 2)
    assert down.median_ms == 1000.0  # of the fetches that got a response: 900 and 1100
    assert (flaky.status, flaky.last_ok) == (503, "2024-03-02T06:00:00Z")
    assert (wire.median_ms, wire.not_modified_share) == (30.0, 0.6667)
    # 8 responses, 2 of them 304; median of 20 30 100 300 500 700 900 1100.
    assert (feeds.fetches, feeds.responses, feeds.not_modified, feeds.median_ms) == (9, 8, 2, 400.0)


def test_runs_newest_first_batch_and_stream(report: Report) -> None:
    assert [(r.run_id, r.mode, r.written) for r in report.runs] == [
        ("r3", "batch", 4),
        ("s1", "stream", 2),
        ("r2", "batch", 5),
        ("r1", "batch", 7),
    ]


def test_damaged_files_are_named_and_skipped(tmp_path: Path) -> None:
    output = build_output(tmp_path / "out")
    day = output / "articles" / "published_date=2024-03-01"
    (day / "part-empty-00000.parquet").write_bytes(b"")
    (day / "part-text-00000.parquet").write_text("not parquet at all")
    pq.write_table(pa.table({"something": [1]}), day / "part-stray-00000.parquet")
    (output / "runs" / "broken.json").write_text("{not json")
    report = collect(str(output))
    assert report.totals.articles == 16
    reasons = {Path(s.path).name: s.reason for s in report.skipped_files}
    assert set(reasons) == {
        "part-empty-00000.parquet",
        "part-text-00000.parquet",
        "part-stray-00000.parquet",
        "broken.json",
    }
    assert "no article_id column" in reasons["part-stray-00000.parquet"]
    assert "skipped" in render_text(report) and "part-text-00000.parquet" in render_html(report)


@pytest.mark.parametrize("marker", [False, True])
def test_an_empty_output_reports_zeros(tmp_path: Path, marker: bool) -> None:
    if marker:
        (tmp_path / "_newsbeam_output.json").write_text("{}")
    report = collect(str(tmp_path))
    assert report.totals.articles == 0 and report.clusters == [] and report.feeds.per_feed == []
    assert "no articles in range" in render_text(report)
    assert json.loads(render_json(report))["totals"]["articles"] == 0
    assert "No articles in range." in render_html(report)


def test_columns_of_other_types_read_as_null(tmp_path: Path) -> None:
    """A column a file stores as another type (hand-made, or a future change) reads as NULL where it cannot cast."""
    folder = tmp_path / "articles" / "published_date=2024-03-01"
    folder.mkdir(parents=True)
    table = pa.table(
        {
            "article_id": ["x1"],
            "ingested_at": pa.array([dt.datetime(2024, 3, 1, tzinfo=dt.UTC)], pa.timestamp("us", tz="UTC")),
            "published_at": ["not a time"],
            "people": ["Ana Costa"],  # a string, not a list
            "encoding": ["utf-8"],  # not the struct: no repairs
        }
    )
    pq.write_table(table, folder / "part-x-00000.parquet")
    report = collect(str(tmp_path))
    assert report.totals.articles == 1 and report.articles_per_day[0].day == "2024-03-01"
    assert report.repairs == []
    # Beside a file of the real types, the two cannot be read together: each is read with its own columns.
    pq.write_table(
        pa.table({"article_id": ["x2"], "ingested_at": table["ingested_at"], "people": [["Ana Costa", "Rui Lima"]]}),
        folder / "part-y-00000.parquet",
    )
    report = collect(str(tmp_path))
    assert report.totals.articles == 2 and report.skipped_files == []
    assert [(t.name, t.articles) for t in report.entities["people"]] == [("Ana Costa", 1), ("Rui Lima", 1)]


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------

TOP_KEYS = [
    "report_version",
    "output",
    "generated_at",
    "range",
    "totals",
    "coverage",
    "schema_versions",
    "articles_per_day",
    "sources",
    "languages",
    "text_sources",
    "entities",
    "clusters",
    "repairs",
    "dead_letters",
    "feeds",
    "pages",
    "runs",
    "skipped_files",
    "notes",
]


def test_json_keys_are_the_documented_ones(report: Report) -> None:
    data = json.loads(render_json(report))
    assert list(data) == TOP_KEYS
    assert data["report_version"] == 1 and data["generated_at"] == "2024-03-06T08:00:00Z"
    assert set(data["entities"]) == {"people", "organizations", "locations", "countries"}
    assert list(data["clusters"][0]) == [
        "cluster_id",
        "title",
        "size",
        "in_range",
        "first_seen",
        "last_seen",
        "sources",
        "members",
    ]
    assert list(data["clusters"][0]["members"][0]) == ["article_id", "title", "source", "url", "published_at"]
    assert list(data["feeds"]) == [
        "feeds",
        "fetches",
        "responses",
        "not_modified",
        "not_modified_share",
        "median_ms",
        "failing",
        "per_feed",
    ]
    assert list(data["pages"]) == ["from_page", "failed", "by_kind", "by_host"]
    assert data["clusters"][1]["members"][1]["title"] == HOSTILE_TITLE  # JSON carries the data as it is
    assert as_dict(report) == data


def test_text_report_sections_and_hostile_text(report: Report) -> None:
    text = render_text(report)
    for heading in (
        "Articles per source and day",
        "Languages",
        "Text source (page, feed, file)",
        "Top people",
        "Top organisations",
        "Top places",
        "Top countries",
        "Largest story clusters",
        "Encoding repairs by kind",
        "Dead letters by stage and error",
        "Feeds",
        "Failing pages",
        "Latest runs",
    ):
        assert f"\n{heading}\n" in text
    assert "\x1b" not in text  # the title's terminal escape is gone
    assert "https://down.example/rss" in text and "ConnectionFailed: connection refused" in text
    assert "6 in range (6 in all) · 5 source(s)" in text


def test_text_helpers() -> None:
    assert clean("a\x1b[31m\nb\u202ec\u200f") == "a [31m b c"
    assert display_width("東京 news") == 9  # two wide characters, a space, four narrow ones
    assert fit("東京タワー", 5) == "東京…" and fit("short", 10) == "short"
    assert fit_middle("seeds/articles/wire_story_copy.txt", 22) == "seeds/artic…y_copy.txt"
    assert fit_middle("東京タワー/東京", 9) == "東京…東京" and fit_middle("short", 10) == "short"
    matrix = day_matrix([DayCount("2024-03-01", "a", 2), DayCount("2024-03-01", "z", 1), DayCount(None, "a", 1)], ["a"])
    assert matrix == [("(undated)", [1], 0, 1), ("2024-03-01", [2], 1, 3)]


def test_html_is_self_contained_and_escapes_everything(report: Report) -> None:
    page = render_html(report)
    assert page.startswith("<!doctype html>") and '<html lang="en">' in page
    assert "<title>newsbeam report — " in page
    assert "default-src 'none'" in page  # the browser itself refuses anything the page might try to load
    assert "<script" not in page.replace("&lt;script", "")  # the hostile title is text, not a script
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert "\x1b" not in page
    assert 'href="javascript:' not in page and HOSTILE_URL not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//(?!wire|harbour|city|valley|quay|down|flaky)""", page)
    assert "@import" not in page and "url(" not in page and "<link" not in page


def test_every_chart_has_a_label_and_its_numbers(report: Report) -> None:
    page = render_html(report)
    charts = re.findall(r'<svg class="chart" id="([^"]+)"[^>]*role="img" aria-labelledby="\1-t \1-d"', page)
    assert set(charts) == {
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
    }
    for chart in charts:
        assert f'<title id="{chart}-t">' in page and f'<desc id="{chart}-d">' in page
    # Every figure carries its numbers as a table.
    assert page.count("<summary>Numbers behind the chart</summary>") == len(charts)


def test_short_labels() -> None:
    url = "http://127.0.0.1:37855/feeds/abc_au_top__5357198db71ce075.xml"
    assert short_label(url, 30) == "127.0.0.1:3785…98db71ce075.xml"  # scheme gone, then the middle
    assert len(short_label(url, 30)) == 30 and short_label("https://a.example/rss", 30) == "a.example/rss"
    assert short_label("A  very   long title that goes on", 12) == "A very long…"


def test_safe_link_and_axis() -> None:
    assert safe_link("javascript:alert(1)", "x") == "x"
    assert safe_link('https://a.example/?q="><b>', "t") == (
        '<a href="https://a.example/?q=&quot;&gt;&lt;b&gt;" rel="noopener noreferrer nofollow">t</a>'
    )
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 13, 55, 101, 246)] == [1, 1, 3, 8, 15, 60, 150, 250]
    close = [DayCount("2024-03-01", "a", 1), DayCount("2024-03-03", "a", 1)]
    assert timeline_days(close) == ["2024-03-01", "2024-03-02", "2024-03-03"]  # a gap is a day with nothing
    far = [DayCount("2020-01-01", "a", 1), DayCount("2024-03-03", "a", 1)]
    assert timeline_days(far) == ["2020-01-01", "2024-03-03"]


def _luminance(colour: str) -> float:
    channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_colours_have_enough_contrast() -> None:
    """Text 4.5:1 (WCAG AA) on card and page; bars' outline and the single-series bar 3:1 (non-text)."""
    for text in (report_html.TEXT, report_html.MUTED, report_html.LINK):
        for background in (report_html.CARD, report_html.BACKGROUND):
            assert contrast(text, background) >= 4.5, (text, background)
    assert contrast(report_html.OUTLINE, report_html.CARD) >= 3
    assert contrast(report_html.BAR, report_html.CARD) >= 3 and contrast(report_html.BAD, report_html.CARD) >= 3


def test_cli_usage_problems_are_one_line(tmp_path: Path, output: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``newsbeam report`` in process: every usage problem is exit 2 and one line, never a traceback."""
    (tmp_path / "notes.txt").write_text("not an output")
    cases = [
        [str(tmp_path / "missing")],
        [str(tmp_path / "notes.txt")],
        [str(tmp_path)],  # a folder with something in it, none of it newsbeam's
        ["gs://bucket/out"],
        [str(output), "--since", "2024-02-30"],
        [str(output), "--until", "next week"],
        [str(output), "--since", "2024-03-05", "--until", "2024-03-01"],
        [str(output), "--html", str(tmp_path / "no-such-folder" / "r.html")],
        [str(output), "--json", str(tmp_path / "no-such-folder" / "r.json")],
        [str(output), "--top", "0"],
    ]
    for args in cases:
        assert cli_main(["report", *args]) == 2, args
        captured = capsys.readouterr()
        assert captured.err.startswith("newsbeam: error: ") and captured.err.count("\n") == 1, (args, captured.err)
        assert captured.out == ""
    with pytest.raises(SystemExit) as exit_:
        cli_main(["report", str(output), "--sinse", "2024-03-01"])
    assert exit_.value.code == 2 and "unrecognized arguments: --sinse" in capsys.readouterr().err


def test_cli_writes_what_was_asked(tmp_path: Path, output: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["report", str(output), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["articles"] == 16  # JSON instead of the text
    page, saved = tmp_path / "r.html", tmp_path / "r.json"
    assert cli_main(["report", str(output), "--html", str(page), "--json", str(saved), "--top", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("newsbeam report: ") and "written to" in captured.err
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert len(data["clusters"]) == 1 and len(data["entities"]["people"]) == 1  # --top
    assert page.read_text(encoding="utf-8").startswith("<!doctype html>")

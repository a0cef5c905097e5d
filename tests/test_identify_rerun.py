"""Runs into an output that earlier runs left behind: older id rules and damaged files.

* An output written under id rule 1 (schema 2, no ``id_rule`` column): a run
  under the current rule must recognise every article in it, though the
  canonical URL (and so the id) of some has changed, and write none twice.
* A damaged file under ``articles/`` (0 bytes, cut off, not Parquet, not an
  articles table): named, counted, left alone; the run goes on.

Both are checked through real pipelines: ``ReadExistingIds`` on its own, and
the ``newsbeam ingest`` CLI read back with DuckDB.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import apache_beam as beam
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that, equal_to
from identify_rule1 import canonical_url_rule1, url_id_rule1
from support import SEEDS, blank_article, counters, new_pipeline, parquet_files, run_summary

from pipeline.cli import main
from schemas import ARTICLE_SCHEMA, SCHEMA_VERSION, to_arrow_table
from transforms.identify import ID_RULE, UNREADABLE, ReadExistingIds, canonical_url, url_id

# slow tier: every test here runs a Beam pipeline
pytestmark = pytest.mark.slow

#: The stories of the test feed: guid → link (None: an entry known by its guid only).
STORIES = {
    "dw-1": "https://www.dw.com/en/harbour-reopens/a-75995188?maca=en-rss-en-all-1573-rdf",
    "bbc-1": "https://www.bbc.com/news/articles/cp81l0e1eg5o?at_medium=RSS&at_campaign=rss",
    "ex-1": "https://news.example/item?story=12&edition=uk",
    "ex-2": "https://news.example/item?edition=uk&story=13",
    "ex-3": "https://news.example/world/clean-story",
    "ex-4": "https://news.example/world/utm-story?utm_source=rss&id=7",
    "aj-1": "https://www.aljazeera.com/news/2026/2/18/night-ferry?traffic_source=rss",
    "guid-only": None,
}


def feed_xml() -> str:
    items = []
    for number, (guid, link) in enumerate(STORIES.items(), 1):
        link_element = f"<link>{link.replace('&', '&amp;')}</link>" if link else ""
        items.append(
            f'<item><title>Story {guid}</title>{link_element}<guid isPermaLink="false">{guid}</guid>'
            f"<pubDate>Tue, {number:02d} Sep 2026 10:00:00 GMT</pubDate>"
            f"<description>The full text of story {guid}, long enough to be an article.</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Rerun desk</title>'
        f"<link>https://news.example/</link><description>d</description>{''.join(items)}</channel></rss>"
    )


def ingest(inputs: list[str], output: Path, run_id: str) -> int:
    return main(
        [
            "ingest",
            *inputs,
            "--output",
            str(output),
            "--runner",
            "DirectRunner",
            "--run-id",
            run_id,
            "--entities",
            "off",
            "--full-text",
            "off",  # the dw.com, bbc.com and aljazeera.com links must stay real (their tracker rules are per domain)
        ]
    )


def as_rule_1(table: pa.Table) -> pa.Table:
    """The rows a schema-2 release (id rule 1) wrote for the same entries: its ids, its URLs, no ``id_rule``."""
    rows = table.to_pylist()
    for row in rows:
        link = STORIES[row["guid"]]
        if link is not None:
            row["url"], row["article_id"] = canonical_url_rule1(link), url_id_rule1(link)
        row["schema_version"] = 2
        del row["id_rule"]
    schema = pa.schema([f for f in ARTICLE_SCHEMA if f.name != "id_rule"], metadata={b"newsbeam.schema_version": b"2"})
    return pa.Table.from_pylist(rows, schema=schema)


@pytest.fixture(scope="module")
def old_output(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An output directory holding this feed's articles as id rule 1 wrote them, and the feed."""
    base = tmp_path_factory.mktemp("rerun")
    feed = base / "desk.xml"
    feed.write_text(feed_xml(), encoding="utf-8")
    scratch = base / "scratch"
    assert ingest([str(feed)], scratch, "current-rule") == 0
    output = base / "out"
    for path in parquet_files(scratch / "articles"):
        target = output / "articles" / path.relative_to(scratch / "articles")
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(as_rule_1(pq.read_table(path)), target.with_name("part-rule1-" + target.name))
    return output, feed


def test_the_fixture_needs_the_upgrade(old_output: tuple[Path, Path]) -> None:
    """Rule 1 and the current rule give different ids to most of these links: without recomputing, they would double."""
    changed = [g for g, link in STORIES.items() if link and url_id_rule1(link) != url_id(link)]
    assert sorted(changed) == ["aj-1", "bbc-1", "dw-1", "ex-1"]
    tables = [pq.read_table(p) for p in parquet_files(old_output[0] / "articles")]
    assert all("id_rule" not in t.column_names for t in tables)
    assert sum(t.num_rows for t in tables) == len(STORIES)


def test_read_existing_ids_yields_old_and_current_ids(old_output: tuple[Path, Path]) -> None:
    output, _ = old_output
    expected = {url_id_rule1(link) for link in STORIES.values() if link}
    expected |= {url_id(link) for link in STORIES.values() if link}
    pipeline = new_pipeline()
    ids = pipeline | "ReadExistingIds" >> ReadExistingIds(str(output / "articles"))
    assert_that(
        ids | "UrlIds" >> beam.Filter(lambda i: i in expected) | "Distinct" >> beam.Distinct(),
        equal_to(sorted(expected)),
        label="CheckBothRules",
    )
    result = pipeline.run()
    result.wait_until_finish()
    assert counters(result)["existing_ids_recomputed"] == 4


def test_rerun_into_a_rule_1_output_adds_no_duplicates(old_output: tuple[Path, Path]) -> None:
    output, feed = old_output
    assert ingest([str(feed)], output, "after-upgrade") == 0
    pattern = str(output / "articles" / "**" / "*.parquet")
    con = duckdb.connect()
    try:
        per_guid = con.execute(
            f"SELECT guid, count(*) FROM read_parquet('{pattern}', hive_partitioning = true, union_by_name = true) "
            "GROUP BY guid ORDER BY guid"
        ).fetchall()
    finally:
        con.close()
    assert per_guid == sorted((guid, 1) for guid in STORIES)
    counts = run_summary(output, "after-upgrade")["counts"]
    assert (counts["read"], counts["written"], counts["duplicates"]) == (len(STORIES), 0, len(STORIES))


def test_a_run_under_the_current_rule_records_it(tmp_path: Path) -> None:
    feed = tmp_path / "desk.xml"
    feed.write_text(feed_xml(), encoding="utf-8")
    assert ingest([str(feed)], tmp_path / "out", "current") == 0
    for path in parquet_files(tmp_path / "out" / "articles"):
        table = pq.read_table(path)
        assert set(table.column("id_rule").to_pylist()) == {ID_RULE}
        assert table.schema.metadata[b"newsbeam.schema_version"] == str(SCHEMA_VERSION).encode()
        for row in table.to_pylist():
            link = STORIES[row["guid"]]
            assert row["url"] == canonical_url(link)
            if link:
                assert row["article_id"] == url_id(link)


# --------------------------------------------------------------------------
# Damaged files under articles/
# --------------------------------------------------------------------------


def damaged_articles_dir(root: Path) -> tuple[Path, dict[str, bytes]]:
    """An articles directory with one good file and every kind of damaged one; returns it and their bytes."""
    articles = root / "articles" / "published_date=2024-03-01"
    articles.mkdir(parents=True)
    good = to_arrow_table([blank_article(article_id="kept-id", word_count=np.int32(1))], ARTICLE_SCHEMA)
    pq.write_table(good, articles / "part-good-00000.parquet")
    whole = (articles / "part-good-00000.parquet").read_bytes()
    damaged = {
        "part-empty-00000.parquet": b"",  # what a full disk or a crashed copy leaves
        "part-cut-00000.parquet": whole[: len(whole) // 2],  # cut off mid-write
        "part-text-00000.parquet": b"this is not parquet at all\n",
    }
    for name, data in damaged.items():
        (articles / name).write_bytes(data)
    other = pa.table({"headline": ["a table of something else"]})
    pq.write_table(other, articles / "part-other-00000.parquet")
    damaged["part-other-00000.parquet"] = (articles / "part-other-00000.parquet").read_bytes()
    return articles, damaged


def test_read_existing_ids_names_damaged_files_and_goes_on(tmp_path: Path) -> None:
    articles, damaged = damaged_articles_dir(tmp_path)
    pipeline = new_pipeline()
    read = pipeline | "ReadExistingIds" >> ReadExistingIds(str(tmp_path / "articles"), report_unreadable=True)
    assert_that(read["ids"], equal_to(["kept-id"]), label="CheckGoodIds")
    assert_that(
        read[UNREADABLE] | "Paths" >> beam.Map(lambda u: Path(u[0]).name),
        equal_to(sorted(damaged)),
        label="CheckUnreadable",
    )

    def reasons_name_a_cause(unreadable: Any) -> bool:
        return all(isinstance(reason, str) and ":" in reason for _, reason in unreadable)

    assert_that(
        read[UNREADABLE] | "AllReasons" >> beam.combiners.ToList() | "Check" >> beam.Map(reasons_name_a_cause),
        equal_to([True]),
        label="CheckReasons",
    )
    result = pipeline.run()
    result.wait_until_finish()
    assert counters(result)["existing_files_unreadable"] == len(damaged)
    for name, data in damaged.items():
        assert (articles / name).read_bytes() == data  # left alone


def test_ingest_over_damaged_files_runs_and_names_them(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    output = tmp_path / "out"
    articles, damaged = damaged_articles_dir(output)
    with caplog.at_level(logging.WARNING, logger="newsbeam"):
        code = ingest([str(SEEDS / "articles" / "batch_articles.json")], output, "over-damage")
    assert code == 0
    for name, data in damaged.items():
        assert (articles / name).read_bytes() == data
        assert any(str(articles / name) in record.getMessage() for record in caplog.records), name
    written = [p for p in parquet_files(output / "articles") if "over-damage" in p.name]
    assert (
        written
        and sum(pq.read_metadata(p).num_rows for p in written)
        == run_summary(output, "over-damage")["counts"]["written"]
        > 0
    )

"""``Deduplicate``, its streaming twin ``DeduplicateContinuously``, and ``ReadExistingIds``.

One row per ``article_id``, within a run and across runs; in a stream, one
output per id for its life (``TestStream`` on the BundleBasedDirectRunner).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Optional

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration, Timestamp
from stream_support import ARTICLE_CODER, BASE, article, at, collected, collector, streaming_pipeline
from support import blank_article, counters, matcher, new_pipeline

from schemas import ARTICLE_SCHEMA, Article, to_arrow_table
from transforms.identify import Deduplicate, DeduplicateContinuously, ReadExistingIds, article_id, canonical_url

INGESTED_AT = Timestamp.from_utc_datetime(datetime(2024, 4, 1, tzinfo=UTC))


def make_article(
    article_id: str,
    text: str = "Some text.",
    *,
    published: Optional[datetime] = None,
    source: str = "feeds/a.xml",
    authors: tuple[str, ...] = (),
    title: str = "A title",
) -> Article:
    return blank_article(
        article_id=article_id,
        run_id="run-identify",
        ingested_at=INGESTED_AT,
        source_type="feed",
        source=source,
        source_domain="site.example",
        title=title,
        authors=list(authors),
        published_at=Timestamp.from_utc_datetime(published) if published else None,
        published_raw=published.isoformat() if published else None,
        published_offset_minutes=np.int32(0) if published else None,
        text=text,
        word_count=np.int32(len(text.split())),
    )


MARCH = datetime(2024, 3, 1, 12, tzinfo=UTC)
NEW = [
    # Three copies of x: the dated one with the longest text wins (undated copies lose whatever their length).
    make_article("x", "An undated copy with by far the longest text of all three copies.", title="x-undated"),
    make_article("x", "Dated, short.", published=MARCH, title="x-short"),
    make_article("x", "Dated, and a longer text.", published=MARCH, title="x-long"),
    # Two identical copies of z from two sources: a stable tie-break (source name).
    make_article("z", "Same.", published=MARCH, source="feeds/b.xml", title="z-b"),
    make_article("z", "Same.", published=MARCH, source="feeds/a.xml", title="z-a"),
    # y and w were written by an earlier run; q is new and single.
    make_article("y", "Written before.", published=MARCH, title="y"),
    make_article("w", "Written before too.", title="w"),
    make_article("w", "Written before too, again.", title="w-again"),
    make_article("q", "Brand new.", title="q"),
]


@pytest.fixture(scope="module")
def existing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An output directory's articles/ table holding ids y and w, in two partitions."""
    articles = tmp_path_factory.mktemp("identify") / "articles"
    for partition, ids in (("published_date=2024-03-01", ["y"]), ("published_date=2024-04-01", ["w"])):
        (articles / partition).mkdir(parents=True)
        table = to_arrow_table([make_article(i) for i in ids], ARTICLE_SCHEMA)
        pq.write_table(table, articles / partition / "part-old-00000.parquet", compression="zstd")
    (articles.parent / "_staging").mkdir()
    stray = to_arrow_table([make_article("staged-not-published")], ARTICLE_SCHEMA)
    pq.write_table(stray, articles.parent / "_staging" / "part.parquet")
    return articles


@pytest.fixture(scope="module")
def result(existing: Path) -> Any:
    pipeline = new_pipeline()
    new = pipeline | "NewArticles" >> beam.Create(NEW)
    ids = pipeline | "ReadExistingIds" >> ReadExistingIds(str(existing))
    assert_that(ids, equal_to(["y", "w"]), label="CheckExistingIds")
    none = pipeline | "ReadNoIds" >> ReadExistingIds(str(existing.parent / "never-written" / "articles"))
    assert_that(none, equal_to([]), label="CheckNoExistingIds")

    kept = new | "Identify" >> Deduplicate(ids)
    assert_that(kept | "KeptTitles" >> beam.Map(lambda a: a.title), equal_to(["x-long", "z-a", "q"]), label="CheckKept")
    alone = new | "IdentifyAlone" >> Deduplicate()
    assert_that(
        alone | "AloneTitles" >> beam.Map(lambda a: a.title),
        equal_to(["x-long", "z-a", "y", "w-again", "q"]),
        label="CheckKeptWithoutHistory",
    )
    outcome = pipeline.run()
    outcome.wait_until_finish()
    return outcome


@pytest.mark.slow
def test_dedup_outputs(result: Any) -> None:
    assert str(result.state) == "DONE"


@pytest.mark.slow
def test_dedup_counters_against_previous_runs(result: Any) -> None:
    values = counters(result, step_prefix="Identify/")
    assert values["duplicates.in_run"] == 3  # two extra copies of x, one of z
    assert values["duplicates.previous_runs"] == 3  # y once, w twice
    assert values["duplicates"] == 6
    assert len(NEW) == 3 + values["duplicates"]


@pytest.mark.slow
def test_dedup_counters_without_previous_runs(result: Any) -> None:
    values = counters(result, step_prefix="IdentifyAlone/")
    assert values["duplicates.in_run"] == 4  # x twice, z once, w once
    assert values["duplicates.previous_runs"] == 0
    assert values["duplicates"] == 4


def test_ids_of_the_fixture_duplicates_agree() -> None:
    """The identity the dedup relies on, for the duplicates in seeds/ (see seeds/_expected)."""
    feed = "https://news.example/feeds/newsroom.xml"
    ferry = "https://news.example/travel/night-ferry-timetable"
    from_jsonl = (
        "https://News.Example/travel/night-ferry-timetable?utm_source=twitter&utm_campaign=spring&fbclid=XyZ123"
    )
    assert canonical_url(from_jsonl) == ferry
    assert article_id(from_jsonl, None, None, "Night ferry timetable returns", "x") == article_id(
        ferry, feed, None, "other", "y"
    )
    harbour = "https://news.example/world/harbour-reopens?utm_source=rss&utm_medium=feed"
    assert canonical_url(harbour) == "https://news.example/world/harbour-reopens"
    assert article_id(None, feed, "nr-2002", "a", "b") == article_id(None, feed, "nr-2002", "c", "d")
    assert article_id(None, feed, "nr-2002", "a", "b") != article_id(
        None, "https://other.example/feed", "nr-2002", "a", "b"
    )
    assert (
        canonical_url("http://DIGEST.example:80/items/footpath.html#top") == "http://digest.example/items/footpath.html"
    )
    assert canonical_url("/news/relative") is None and canonical_url("mailto:desk@site.example") is None


# --------------------------------------------------------------------------
# DeduplicateContinuously (streaming) on a TestStream
# --------------------------------------------------------------------------


def polls(*steps: tuple[float, list[str]], written: Optional[list[str]] = None, ttl: float = 100.0) -> Any:
    """Runs ``DeduplicateContinuously(ttl)`` over polls: each step (t, ids) adds the ids stamped t, then moves the watermark to t.

    A step with no ids only moves the watermark. Returns (emitted (id, t) pairs, dropped (source, t) pairs).
    """
    stream = TestStream(coder=ARTICLE_CODER).advance_watermark_to(BASE - Duration(seconds=3600))
    for moment, ids in steps:
        if ids:
            stream = stream.add_elements([TimestampedValue(article(i), at(moment)) for i in ids])
        stream = stream.advance_watermark_to(at(moment))
    stream = stream.advance_watermark_to_infinity()

    def stamped(record: Any, moment: Any = beam.DoFn.TimestampParam) -> tuple[Any, float]:
        return record, float(moment - BASE)

    with tempfile.TemporaryDirectory() as scratch:
        with streaming_pipeline() as p:
            previous = p | "Written" >> beam.Create(written) if written is not None else None
            out = p | stream | DeduplicateContinuously(ttl, previous)
            emitted = out["articles"] | "StampArticles" >> beam.Map(
                lambda a, moment=beam.DoFn.TimestampParam: (a.article_id, float(moment - BASE))
            )
            dropped = out["duplicates"] | "StampDuplicates" >> beam.Map(stamped)
            assert_that(emitted, matcher(collector(scratch, "emitted")), label="CollectEmitted")
            assert_that(dropped, matcher(collector(scratch, "dropped")), label="CollectDropped")
        return sorted(collected(scratch, "emitted")), sorted(collected(scratch, "dropped"))


@pytest.mark.slow
def test_dedupe_emits_an_id_once_however_many_polls_see_it() -> None:
    emitted, dropped = polls(
        (10, ["x", "y"]), (20, ["x", "y"]), (30, ["x"]), (40, ["x", "y", "z"]), (50, ["z"]), ttl=1000
    )
    assert emitted == [("x", 10.0), ("y", 10.0), ("z", 40.0)]
    assert dropped == sorted(
        [(f"http://feeds.test/{i}", float(t)) for t, i in [(20, "x"), (20, "y"), (30, "x"), (40, "x"), (40, "y")]]
        + [("http://feeds.test/z", 50.0)]
    )


@pytest.mark.slow
def test_dedupe_forgets_an_id_ttl_after_its_last_sighting() -> None:
    emitted, dropped = polls(
        (10, ["x"]),
        (20, ["x"]),  # duplicate; expiry now 120
        (119, []),  # watermark just before the expiry
        (119.5, ["x"]),  # still remembered: duplicate, expiry pushed to 219.5
        (210, []),  # past the first expiry, not the second
        (215, ["x"]),  # still a duplicate; expiry 315
        (400, []),  # past 315: forgotten
        (401, ["x"]),  # a new sighting: emitted again
        (402, ["x"]),  # and remembered again
    )
    assert emitted == [("x", 10.0), ("x", 401.0)]
    assert [t for _, t in dropped] == [20.0, 119.5, 215.0, 402.0]


@pytest.mark.slow
def test_dedupe_id_seen_every_half_ttl_is_never_emitted_again() -> None:
    steps: list[tuple[float, list[str]]] = []
    for n in range(21):  # 0 … 1000: ten TTLs long
        steps += [(n * 50.0, ["x"]), (n * 50.0 + 49.0, [])]
    emitted, dropped = polls(*steps, ttl=100)
    assert emitted == [("x", 0.0)]
    assert len(dropped) == 20


@pytest.mark.slow
def test_dedupe_id_seen_every_one_and_a_half_ttl_is_emitted_each_time() -> None:
    steps: list[tuple[float, list[str]]] = []
    for n in range(4):
        steps += [(n * 150.0, ["x"]), (n * 150.0 + 149.0, [])]
    emitted, dropped = polls(*steps, ttl=100)
    assert emitted == [("x", 0.0), ("x", 150.0), ("x", 300.0), ("x", 450.0)]
    assert dropped == []


@pytest.mark.slow
def test_dedupe_suppresses_ids_written_before() -> None:
    emitted, dropped = polls(
        (10, ["old", "new"]),
        (20, ["old", "new"]),
        (500, []),  # well past the TTL: "new" is forgotten, "old" must stay suppressed
        (510, ["old", "new"]),
        written=["old", "older"],
    )
    assert emitted == [("new", 10.0), ("new", 510.0)]
    assert sorted(dropped) == [
        ("http://feeds.test/new", 20.0),
        ("http://feeds.test/old", 10.0),
        ("http://feeds.test/old", 20.0),
        ("http://feeds.test/old", 510.0),
    ]


@pytest.mark.slow
def test_dedupe_with_no_written_ids_collection() -> None:
    emitted, dropped = polls((10, ["a", "a", "b"]), written=[])
    assert emitted == [("a", 10.0), ("b", 10.0)]
    assert dropped == [("http://feeds.test/a", 10.0)]

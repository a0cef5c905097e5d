"""``Enrich``: raw articles to clean ``Article``s (text repair, metadata, identity), failures dead-lettered.

The input ``RawArticle``s are what ``parse_document`` makes of the ``seeds/``
fixtures, so this checks the middle of the pipeline on the same material the
end-to-end test uses, plus hand-made records for the failure paths.
"""

from __future__ import annotations

import typing
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.timestamp import Timestamp
from support import SEEDS, counters, document, matcher, new_pipeline

from schemas import SCHEMA_VERSION, EncodingInfo, RawArticle, Repair
from transforms.enrich import Enrich
from transforms.errors import DEAD_LETTER
from transforms.parse import parse_document

# slow tier: every test here runs a Beam pipeline
pytestmark = pytest.mark.slow

INGESTED_AT = Timestamp.from_utc_datetime(datetime(2024, 4, 1, 12, 0, tzinfo=UTC))
FIXTURES = [
    "000_74ba0ad98bda6786.txt",
    "articles/wire_story.txt",
    "articles/page.html",
    "feeds/rss2_newsroom.xml",
    "feeds/atom_wire.atom",
    "feeds/cp1252_feed.xml",
    "feeds/latin1_declared_utf8.xml",
    "articles/batch_articles.json",
]


def raw_articles() -> list[RawArticle]:
    out: list[RawArticle] = []
    for name in FIXTURES:
        _, parsed = parse_document(document(SEEDS / name, source=name))
        out.extend(parsed.articles)
    return out


def raw(
    title: str | None, body: str, *, html: bool = False, published: str | None = None, guid: str | None = None
) -> RawArticle:
    """A hand-made raw article, as a feed entry would give it."""
    return RawArticle(
        source_type="feed",
        source="feeds/handmade.xml",
        feed_url="https://handmade.example/feed.xml",
        feed_link="https://handmade.example/",
        url=None,
        guid=guid,
        title=title,
        subtitle=None,
        body=body,
        body_is_html=html,
        authors=[],
        published_raw=published,
        categories=[],
        encoding=EncodingInfo("utf-8", "declared", "utf-8", []),
        language=None,
        raw='{"handmade": true}',
    )


CORRUPT = raw("placeholder", "A record whose title is not a string.")._replace(title=123, raw='{"title": 123}')


def _utc(timestamp: Timestamp | None) -> str | None:
    return None if timestamp is None else timestamp.to_utc_datetime(has_tz=True).isoformat()


def check_articles(articles: list[Any]) -> None:
    assert len(articles) == 18
    titles = {a.title: a for a in articles}
    for a in articles:
        assert a.run_id == "run-enrich" and a.schema_version == SCHEMA_VERSION and a.ingested_at == INGESTED_AT
        assert a.language is not None
        assert a.word_count > 0 and len(a.content_hash) == 64 and len(a.article_id) == 20
        assert "<" not in a.text and "&amp;" not in a.text and "\n\n\n" not in a.text

    seed = titles["China, US in talks on military ties amid strained relations"]
    assert seed.dateline == "BEIJING"
    assert seed.text.startswith("Defense officials from China")
    assert "â" not in seed.text
    assert "the “continued provocation and containment” of China" in seed.text
    assert "“China’s sovereignty" in seed.text and "any violation,” Wu said" in seed.text
    assert "the sides “exchanged in-depth views" in seed.text and "People’s Liberation Army" in seed.text
    assert [(r.kind, r.count) for r in seed.encoding.repairs] == [("lost_bytes:quote", 10)]
    assert seed.language == "en" and seed.published_at is None and seed.url is None

    wire = titles["Senate passes stopgap bill hours before shutdown deadline"]
    assert wire.dateline == "WASHINGTON (AP)"
    assert list(wire.authors) == ["Jane Doe"]
    assert wire.text.startswith("The Senate on Friday passed a short-term spending bill")
    assert "By Jane Doe" not in wire.text and wire.text.count("\n\n") == 2

    page = titles["Glassworks museum opens in old pump house"]
    assert list(page.authors) == ["Dana Whitfield"]  # meta author and byline paragraph agree: once
    assert page.text.startswith("The town's glassmaking history") and "By Dana Whitfield" not in page.text
    assert _utc(page.published_at) == "2024-02-29T13:15:00+00:00" and page.published_offset_minutes == -300

    a = titles["Café owners cheer the harbour’s reopening"]
    assert a.url == "https://news.example/world/harbour-reopens"
    assert a.source_domain == "news.example"
    assert _utc(a.published_at) == "2024-03-05T13:30:00+00:00" and a.published_offset_minutes == 60
    assert any(r.kind.startswith("mojibake:") for r in a.encoding.repairs)
    b = titles["Harbour reopens after sea wall repairs"]
    assert b.article_id == a.article_id  # same canonical URL: same id (Identify keeps one)
    c, d = titles["Council delays vote on tram extension"], titles["Council delays vote on tram extension (updated)"]
    assert c.article_id == d.article_id and c.url is None  # same feed + guid
    g = titles["Archive photos of the 2013 floods go on show"]
    assert g.published_at is None and g.published_raw == "2013-xx-27" and g.published_offset_minutes is None
    h = titles["Storm & flood warnings for the valley"]
    assert h.text.startswith("Flood water rose overnight in the valley — residents on Mill Lane")
    assert "tracker" not in h.text and "€5 & up." in h.text
    assert titles["Night ferry timetable returns for the spring"].published_offset_minutes == -300

    assert list(titles["Port strike ends after three days"].authors) == ["Ana Lima", "Peter Okafor"]
    assert titles["Port strike ends after three days"].published_offset_minutes == 120
    french = titles["Le château du port rouvre ses portes — entrée à 5 €"]
    assert french.language == "fr" and "À l’âge de quatre-vingts ans" in french.text
    assert not any(r.kind.startswith(("lost_bytes", "mojibake")) for r in french.encoding.repairs)
    portuguese = titles["Acordo de cooperação assinado em Lisboa"]
    assert (
        portuguese.language == "pt" and "no âmbito da cooperação" in portuguese.text and "A câmara" in portuguese.text
    )
    assert titles["Zürich café owners protest new terrace fees"].encoding.decode_path == "declared-overridden"

    door = titles["Museum returns carved door to its village"]
    assert list(door.authors) == ["Clara Nunes", "Ivo Marić"]
    assert _utc(door.published_at) == "2024-03-19T15:30:00+00:00" and door.published_offset_minutes is None
    assert door.text.count("\n\n") == 1


def check_dead_letters(dead: list[Any]) -> None:
    assert len(dead) == 1
    letter = dead[0]
    assert (letter.stage, letter.error_type, letter.source) == ("repair_text", "TypeError", "feeds/handmade.xml")
    assert letter.message and letter.run_id == "run-enrich"
    assert letter.raw_text == '{"title": 123}' and letter.raw_bytes is None


@pytest.fixture(scope="module")
def result() -> Any:
    pipeline = new_pipeline()
    good = pipeline | "RawArticles" >> beam.Create(raw_articles())
    # A malformed record (as an upstream bug could make it): Enrich must dead-letter it, not crash.
    # (Made by a Map typed Any: the registered RowCoder would refuse to encode it in a Create.)
    bad = (
        pipeline
        | "Seed" >> beam.Create([None])
        | "Corrupt" >> beam.Map(lambda _: CORRUPT).with_output_types(typing.Any)
    )
    both = (good, bad) | "Both" >> beam.Flatten().with_output_types(typing.Any)
    enriched = both | "Enrich" >> Enrich("run-enrich", INGESTED_AT, uncurl_quotes=False, progress_seconds=0)
    assert_that(enriched["articles"], matcher(check_articles), label="CheckArticles")
    assert_that(enriched[DEAD_LETTER], matcher(check_dead_letters), label="CheckDeadLetters")
    outcome = pipeline.run()
    outcome.wait_until_finish()
    return outcome


def test_enrich_outputs(result: Any) -> None:
    assert str(result.state) == "DONE"


def test_enrich_counters(result: Any) -> None:
    values = counters(result)
    assert values["articles_enriched"] == 18
    assert values["datelines_found"] == 2
    # The HTML page's "By Dana Whitfield" line is dropped by the page extractor (transforms.extract),
    # its author taken from the page's metadata: one byline left in a text, the wire story's.
    assert values["bylines_found"] == 1
    assert (values["dates_ok"], values["dates_missing"], values["dates_invalid"]) == (14, 3, 1)
    assert values["repairs.lost_bytes:quote"] == 10
    assert sum(v for k, v in values.items() if k.startswith("repairs.mojibake:")) == 1
    assert values["articles_repaired"] == 2
    # 13: the HTML page and the JSON record whose body is HTML are read by the page extractor at
    # parse (transforms.extract), so they reach Enrich as text, no longer as HTML.
    assert values["bodies_from_html"] == 13
    assert values["language_unknown"] == 0
    assert values["dead_letter.repair_text"] == 1
    assert values["dead_letter.extract_metadata"] == 0
    # Articles were counted as read when parsed; Enrich's dead letters are not read again.
    assert values["read"] == 0


def test_uncurl_quotes_option() -> None:
    pipeline = new_pipeline()
    articles = (
        pipeline
        | "Raw" >> beam.Create([raw("“Quoted” title", "He said “no” and left; it’s over.")])
        | "Enrich" >> Enrich("run-uncurl", INGESTED_AT, uncurl_quotes=True)
    )
    assert_that(
        articles["articles"] | "Texts" >> beam.Map(lambda a: (a.title, a.text)),
        equal_to([('"Quoted" title', 'He said "no" and left; it\'s over.')]),
        label="CheckUncurled",
    )
    pipeline.run().wait_until_finish()


def _enrich_one(record: RawArticle) -> tuple[beam.Pipeline, dict[str, Any]]:
    pipeline = new_pipeline()
    enriched = pipeline | "Raw" >> beam.Create([record]) | "Enrich" >> Enrich("run-one", INGESTED_AT)
    return pipeline, enriched


def test_sentence_starting_with_by_is_not_a_byline() -> None:
    body = "By Tuesday, the river had risen two metres above its usual level.\n\nThe council opened two shelters."
    pipeline, enriched = _enrich_one(raw("River rises", body, guid="by-1"))
    assert_that(
        enriched["articles"] | "Fields" >> beam.Map(lambda a: (list(a.authors), a.text)),
        equal_to([([], body)]),
        label="CheckTextKept",
    )
    pipeline.run().wait_until_finish()


def test_out_of_range_date_is_null_not_a_dead_letter() -> None:
    pipeline, enriched = _enrich_one(
        raw(
            "Default date",
            "A story whose CMS wrote its minimum date.",
            published="0001-01-01T00:00:00+01:00",
            guid="d-1",
        )
    )
    assert_that(
        enriched["articles"] | "Dates" >> beam.Map(lambda a: (a.title, a.published_at, a.published_raw)),
        equal_to([("Default date", None, "0001-01-01T00:00:00+01:00")]),
        label="CheckNullDate",
    )
    assert_that(enriched[DEAD_LETTER], equal_to([]), label="CheckNoDeadLetter")
    result = pipeline.run()
    result.wait_until_finish()
    assert counters(result)["dates_invalid"] == 1


def test_article_empty_after_html_to_text_is_dead_lettered() -> None:
    pipeline, enriched = _enrich_one(raw(None, "<script>track(1)</script><img src='x.png'/>", html=True, guid="e-1"))
    assert_that(enriched["articles"], equal_to([]), label="CheckNotWritten")
    assert_that(
        enriched[DEAD_LETTER] | "Errors" >> beam.Map(lambda d: d.error_type),
        equal_to(["EmptyArticle"]),
        label="CheckEmptyDeadLetter",
    )
    pipeline.run().wait_until_finish()


def _repairs_of(article: Any) -> dict[str, int]:
    return {r.kind: int(r.count) for r in article.encoding.repairs}


def test_parse_time_repairs_stay_in_the_encoding_column_and_are_not_counted_twice() -> None:
    """A repair made while parsing (a control character removed) is listed with Enrich's own, counted once."""
    record = raw("Caf\u00c3\u00a9 reopens", "<p>The caf\u00c3\u00a9 reopened on Monday.</p>", html=True, guid="r-1")
    record = record._replace(encoding=record.encoding._replace(repairs=[Repair("control_chars", np.int32(2))]))
    pipeline, enriched = _enrich_one(record)
    assert_that(
        enriched["articles"] | "Repairs" >> beam.Map(lambda a: (a.title, _repairs_of(a))),
        equal_to([("Café reopens", {"control_chars": 2, "mojibake:latin-1": 2})]),
        label="CheckMerged",
    )
    result = pipeline.run()
    result.wait_until_finish()
    values = counters(result)
    assert values["repairs.mojibake:latin-1"] == 2 and values["repairs.control_chars"] == 0
    assert values["articles_repaired"] == 1


@pytest.mark.parametrize(
    ("body", "html", "text"),
    [
        ("A plain body with a bell\x07 and a form\x0cfeed.", False, "A plain body with a bell and a form\n\nfeed."),
        ("A plain body with a bell\x07 in it.", True, "A plain body with a bell in it."),
        ("<p>Markup with an escape\x1b in it.</p>", True, "Markup with an escape in it."),
    ],
)
def test_one_control_character_never_empties_the_text(body: str, html: bool, text: str) -> None:
    pipeline, enriched = _enrich_one(raw("Controls", body, html=html, guid="c-1"))
    assert_that(
        enriched["articles"] | "Texts" >> beam.Map(lambda a: (a.text, int(a.word_count) > 0)),
        equal_to([(text, True)]),
        label="CheckText",
    )
    assert_that(enriched[DEAD_LETTER], equal_to([]), label="CheckNoDeadLetter")
    result = pipeline.run()
    result.wait_until_finish()
    assert counters(result)["articles_repaired"] == 1  # the control character's removal is on record


def test_reference_to_an_unstorable_code_point_in_plain_text_is_counted() -> None:
    record = raw("Odd &#xD800; title", "Body with &#0; and &#x110000; and &#233;.", guid="x-1")
    pipeline, enriched = _enrich_one(record)
    assert_that(
        enriched["articles"] | "Fields" >> beam.Map(lambda a: (a.title, a.text, _repairs_of(a))),
        equal_to(
            [
                (
                    "Odd \ufffd title",
                    "Body with \ufffd and \ufffd and é.",
                    {"invalid_unicode:char_ref": 3, "ftfy:unescape_html": 2},  # ftfy decodes them
                )
            ]
        ),
        label="CheckReplacedAndCounted",
    )
    result = pipeline.run()
    result.wait_until_finish()
    assert counters(result)["repairs.invalid_unicode:char_ref"] == 3

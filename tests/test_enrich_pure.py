"""Enrich's two plain functions, called directly: ``repair_article`` and ``build_article``.

``test_enrich_transform.py`` checks the composite on the seed fixtures in a
pipeline; here each function's contract is checked on one hand-made article,
with the real language identifier, fast.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Optional

import numpy as np
import pytest
from apache_beam.utils.timestamp import Timestamp

from schemas import EncodingInfo, RawArticle, Repair
from transforms.enrich import Facts, build_article, repair_article
from transforms.errors import EmptyArticle
from transforms.identify import article_id, content_hash
from transforms.metadata import LanguageIdentifier

INGESTED_AT = Timestamp.from_utc_datetime(datetime(2024, 4, 1, 12, 0, tzinfo=UTC))


def raw(body: str, title: Optional[str] = "A title", **fields: Any) -> RawArticle:
    """A raw article as a feed entry gives it; ``fields`` override the rest."""
    base = RawArticle(
        source_type="feed",
        source="feeds/handmade.xml",
        feed_url="https://handmade.example/feed.xml",
        feed_link="https://handmade.example/",
        url=None,
        guid=None,
        title=title,
        subtitle=None,
        body=body,
        body_is_html=False,
        authors=[],
        published_raw=None,
        categories=[],
        encoding=EncodingInfo("utf-8", "declared", "utf-8", []),
        language=None,
        raw="{}",
    )
    return base._replace(**fields)


@pytest.fixture(scope="module")
def detect() -> Any:
    return LanguageIdentifier().detect


# --------------------------------------------------------------------------
# repair_article
# --------------------------------------------------------------------------


def test_html_becomes_text_and_mojibake_is_repaired_before_the_language_is_identified(detect: Any) -> None:
    article = raw(
        "<p>Le cafÃ© du port a rouvert mardi aprÃ¨s deux ans de travaux.</p><script>track()</script>",
        title="Le cafÃ© du port rouvre",
        body_is_html=True,
    )
    repaired, _ = repair_article(article, detect)
    assert repaired.body == "Le café du port a rouvert mardi après deux ans de travaux."
    assert repaired.title == "Le café du port rouvre"
    assert repaired.body_is_html is False
    assert repaired.language == "fr"


def test_the_counter_holds_this_steps_repairs_and_the_column_lists_every_repair(detect: Any) -> None:
    parsed = EncodingInfo("utf-8", "declared", "utf-8", [Repair("control_char", np.int32(1))])
    repaired, repairs = repair_article(raw("The cafÃ© reopened on Monday.", encoding=parsed), detect)
    assert "control_char" not in repairs  # counted by the parse step already
    assert sum(repairs.values()) > 0
    listed = {repair.kind: int(repair.count) for repair in repaired.encoding.repairs}
    assert listed == {"control_char": 1, **repairs}
    assert [repair.kind for repair in repaired.encoding.repairs] == sorted(listed)


@pytest.mark.parametrize(("uncurl", "expected"), [(False, "He said “yes”."), (True, 'He said "yes".')])
def test_curly_quotes_are_kept_unless_asked(detect: Any, uncurl: bool, expected: str) -> None:
    repaired, _ = repair_article(raw("He said “yes”."), detect, uncurl_quotes=uncurl)
    assert repaired.body == expected


def test_names_and_categories_are_normalised_and_blank_ones_dropped(detect: Any) -> None:
    article = raw(
        "Body text of the story.", authors=["  ", "Ana   Lima "], categories=["World", " World ", "", "Sport"]
    )
    repaired, _ = repair_article(article, detect)
    assert repaired.authors == ["Ana Lima"]
    assert repaired.categories == ["World", "Sport"]  # first occurrence kept, in order


@pytest.mark.parametrize(
    "article",
    [
        raw("<p> </p><script>only()</script>", title=None, body_is_html=True),
        raw("   ", title="  "),
    ],
    ids=["html-without-text", "blank"],
)
def test_an_article_with_no_title_and_no_text_left_is_empty(detect: Any, article: RawArticle) -> None:
    with pytest.raises(EmptyArticle) as raised:
        repair_article(article, detect)
    assert raised.value.source == "feeds/handmade.xml"


# --------------------------------------------------------------------------
# build_article
# --------------------------------------------------------------------------


def test_byline_and_dateline_leave_the_text_and_become_fields() -> None:
    article, facts = build_article(
        raw("By Jane Doe\n\nPARIS (Reuters) — The café reopened on Monday.", authors=["Ana Lima"]),
        "run-1",
        INGESTED_AT,
    )
    assert article.text == "The café reopened on Monday."
    assert article.dateline == "PARIS (Reuters)"
    assert list(article.authors) == ["Ana Lima", "Jane Doe"]
    assert facts == Facts(byline=True, dateline=True, date="missing")
    assert article.word_count == 5


@pytest.mark.parametrize(
    ("published_raw", "status", "utc", "offset"),
    [
        (None, "missing", None, None),
        ("Tue, 05 Mar 2024 14:30:00 +0100", "ok", datetime(2024, 3, 5, 13, 30, tzinfo=UTC), 60),
        ("2024-03-05", "ok", datetime(2024, 3, 5, tzinfo=UTC), None),
        ("the day before yesterday", "invalid", None, None),
    ],
)
def test_the_publication_date_and_what_became_of_it(
    published_raw: Optional[str], status: str, utc: Optional[datetime], offset: Optional[int]
) -> None:
    article, facts = build_article(raw("Text.", published_raw=published_raw), "run-1", INGESTED_AT)
    assert facts.date == status
    assert article.published_raw == published_raw  # kept as found, read or not
    assert article.published_at == (Timestamp.from_utc_datetime(utc) if utc else None)
    assert article.published_offset_minutes == offset


def test_identity_comes_from_the_canonical_url() -> None:
    link = "https://News.Example/world/story?utm_source=rss"
    article, _ = build_article(raw("Text.", url=link, guid="g-1"), "run-1", INGESTED_AT)
    assert article.url == "https://news.example/world/story"
    assert article.source_domain == "news.example"
    assert article.article_id == article_id(link, "https://handmade.example/feed.xml", "g-1", "A title", "Text.")
    assert article.content_hash == content_hash("A title", "Text.")
    assert (article.run_id, article.ingested_at) == ("run-1", INGESTED_AT)


def test_without_a_url_the_feed_names_the_domain_and_feed_and_guid_the_id() -> None:
    article, _ = build_article(raw("Text.", guid="g-1", feed_url=None), "run-1", INGESTED_AT)
    assert article.url is None
    assert article.source_domain == "handmade.example"  # from the feed's link
    # No feed URL: the feed's link stands for the feed.
    assert article.article_id == article_id(None, "https://handmade.example/", "g-1", "A title", "Text.")
    assert article.article_id != article_id(None, "feeds/handmade.xml", "g-1", "A title", "Text.")

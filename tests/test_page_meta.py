"""Page metadata (transforms.extract.meta, .dates, .authors) on small hand-made pages, and on the real date corpus.

Every fixture below is written for this file; links use reserved names
(``.example``, ``.test``). The corpus tests read ``../shared/corpora`` and
skip when it is absent.
"""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Optional

import lxml.html
import pytest
from htmldate import find_date
from hypothesis import given, settings
from hypothesis import strategies as st
from trafilatura.metadata import extract_author
from trafilatura.utils import decode_file, load_html

from transforms.extract import parse_page
from transforms.extract.authors import NotPeople, is_person, not_people, person_names, visible_byline
from transforms.extract.dates import DateBounds, DateCandidate, bounds_for, choose_date, read_date, url_date
from transforms.extract.meta import PageMeta, page_metadata, strip_site
from transforms.metadata import parse_date

FETCHED = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
URL = "https://news.example/politics/story-123"
BOUNDS = bounds_for(FETCHED)
NOBODY = NotPeople(frozenset(), frozenset())


def tree_of(head: str = "", body: str = "", lang: str = "") -> lxml.html.HtmlElement:
    attribute = f' lang="{lang}"' if lang else ""
    tree = load_html(f"<!DOCTYPE html><html{attribute}><head>{head}</head><body>{body}</body></html>")
    assert tree is not None
    return tree


def jsonld(value: Any) -> str:
    return f'<script type="application/ld+json">{json.dumps(value)}</script>'


def meta_of(head: str = "", body: str = "", url: Optional[str] = URL, **options: Any) -> PageMeta:
    """The metadata of a page, fetched at FETCHED; the fallbacks off unless a test turns them on."""
    options = {"fetched_at": FETCHED, "htmldate_fallback": False, "trafilatura_authors": False, **options}
    return page_metadata(tree_of(head, body), url, **options)


def local_day(raw: Optional[str]) -> Optional[date]:
    """The day the pipeline reads ``raw`` to: ``parse_date`` in the zone it was written with."""
    parsed = parse_date(raw)
    assert parsed is not None, raw
    return (parsed.utc + timedelta(minutes=parsed.offset_minutes or 0)).date()


# ==========================================================================
# Publication date: sources, provenance, strictness
# ==========================================================================


def test_jsonld_graph_gives_date_authors_site_and_type() -> None:
    graph = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "@id": "https://news.example/#website", "name": "Example News"},
            {"@type": "WebPage", "@id": URL, "datePublished": "2024-03-05T09:00:00+01:00"},
            {
                "@type": "NewsArticle",
                "headline": "Council votes on budget",
                "datePublished": "2024-03-05T08:15:00+01:00",
                "dateModified": "2024-03-06T10:00:00+01:00",
                "author": [{"@id": "https://news.example/#/person/1"}, {"@type": "Person", "name": "John Roe"}],
                "publisher": {"@type": "NewsMediaOrganization", "name": "Example News"},
                "image": {"@type": "ImageObject", "url": "/img/lead.jpg"},
                "articleSection": "Politics",
                "keywords": ["budget", "council"],
            },
            {"@type": "Person", "@id": "https://news.example/#/person/1", "name": "Jane Doe"},
        ],
    }
    meta = meta_of(jsonld(graph))
    assert (meta.published_raw, meta.published_source) == ("2024-03-05T08:15:00+01:00", "jsonld")
    assert meta.modified_raw == "2024-03-06T10:00:00+01:00"
    assert (meta.authors, meta.authors_source) == (["Jane Doe", "John Roe"], "jsonld")
    assert meta.site_name == "Example News"
    assert meta.page_type == "NewsArticle"
    assert meta.title == "Council votes on budget"
    assert meta.image_url == "https://news.example/img/lead.jpg"
    assert meta.categories == ["Politics", "budget", "council"]
    assert meta.problems == []


def test_broken_jsonld_is_read_by_patterns_and_named_as_a_problem() -> None:
    broken = """<script type="application/ld+json">{"@type": "NewsArticle", "headline": "He said "no" twice",
      "datePublished": "2023-11-02T07:00:00Z", "author": {"@type": "Person", "name": "Ana Lima"},
      "isAccessibleForFree": "False"}</script>"""
    meta = meta_of(broken)
    assert (meta.published_raw, meta.published_source) == ("2023-11-02T07:00:00Z", "jsonld")
    assert meta.authors == ["Ana Lima"]
    assert meta.accessible_for_free is False
    assert meta.problems == ["jsonld:unparsed"]


@pytest.mark.parametrize(
    "text",
    [
        '{"@type": "Article", "datePublished": "2022-01-09",}',  # trailing comma
        '<!--\n{"@type": "Article", "datePublished": "2022-01-09"}\n-->',  # old comment wrapper
        '//<![CDATA[\n{"@type": "Article", "datePublished": "2022-01-09"}\n//]]>',
        '{"@type": "Article", "datePublished": "2022-01-09"}\n{"@type": "WebSite", "name": "X"}',  # two glued
    ],
)
def test_jsonld_repairs(text: str) -> None:
    meta = meta_of(f'<script type="application/ld+json">{text}</script>')
    assert (meta.published_raw, meta.published_source) == ("2022-01-09", "jsonld")
    assert meta.problems == []


def test_meta_tags_and_their_provenance() -> None:
    head = """
      <meta property="og:title" content="Budget passes | Example News">
      <meta property="og:site_name" content="Example News">
      <meta property="og:description" content="The council &amp;amp; the mayor agree.">
      <meta property="og:image" content="//cdn.news.example/a.jpg">
      <meta property="og:type" content="article">
      <meta property="og:locale" content="pt_BR">
      <meta property="article:published_time" content="2021-07-14T22:30:00-03:00">
      <meta property="article:modified_time" content="2021-07-15T09:00:00-03:00">
      <meta property="article:section" content="Politics">
      <meta name="keywords" content="budget, council, Politics">
      <link rel="canonical" href="/politics/story-123?ref=x">"""
    meta = meta_of(head)
    assert (meta.published_raw, meta.published_source) == ("2021-07-14T22:30:00-03:00", "meta:article:published_time")
    assert local_day(meta.published_raw) == date(2021, 7, 14)  # the day as written, not the UTC day
    assert meta.modified_raw == "2021-07-15T09:00:00-03:00"
    assert meta.title == "Budget passes"
    assert meta.description == "The council & the mayor agree."
    assert meta.image_url == "https://cdn.news.example/a.jpg"
    assert meta.canonical_url == "https://news.example/politics/story-123?ref=x"
    assert meta.language == "pt-BR"
    assert meta.page_type == "article"
    assert meta.categories == ["Politics", "budget", "council"]


def test_itemprop_and_time_elements() -> None:
    body = '<article><h1>T</h1><time itemprop="datePublished" datetime="2020-02-03">3 Feb</time></article>'
    assert (meta_of(body=body).published_source, meta_of(body=body).published_raw) == ("itemprop", "2020-02-03")
    marked = (
        '<div class="entry-meta"><span class="posted-on"><time datetime="2019-12-01T10:00:00Z">x</time></span></div>'
    )
    assert (meta_of(body=marked).published_raw, meta_of(body=marked).published_source) == (
        "2019-12-01T10:00:00Z",
        "time",
    )
    pubdate = '<p><time pubdate datetime="2019-12-02">x</time></p>'
    assert meta_of(body=pubdate).published_source == "time"
    single = '<article><p>by x</p><time datetime="2018-05-06T07:08:09+02:00">then</time></article>'
    assert (meta_of(body=single).published_raw, meta_of(body=single).published_source) == (
        "2018-05-06T07:08:09+02:00",
        "time:article",
    )
    two_articles = single + single.replace("2018-05-06", "2018-05-07")
    assert meta_of(body=two_articles).published_raw is None  # a listing: no single article's date


def test_dated_text_element() -> None:
    meta = meta_of(body='<div class="article-date">Veröffentlicht am 07.06.2020</div><p>Text.</p>')
    assert (meta.published_raw, meta.published_source) == ("2020-06-07", "text")
    ambiguous = meta_of(body='<span class="date">06/07/2020</span>')  # month or day first: unknown
    assert ambiguous.published_raw is None


@pytest.mark.parametrize(
    ("url", "day"),
    [
        ("https://a.example/2021/03/04/story", date(2021, 3, 4)),
        ("https://a.example/news/2021-03-04-story.html", date(2021, 3, 4)),
        ("https://a.example/story-20210304-abc", date(2021, 3, 4)),
        ("https://a.example/2021/03/story", None),  # a month is not a day
        ("https://a.example/2021/13/04/story", None),
        ("https://a.example/story?id=20210304", None),  # a query is not the path
    ],
)
def test_url_dates(url: str, day: Optional[date]) -> None:
    found = url_date(url, BOUNDS)
    assert (found.day if found else None) == day
    if day:
        meta = meta_of(url=url)
        assert (meta.published_raw, meta.published_source) == (day.isoformat(), "url")


def test_strong_sources_that_disagree_give_no_date() -> None:
    head = jsonld({"@type": "NewsArticle", "datePublished": "2024-01-10"})
    head += '<meta property="article:published_time" content="2024-02-20">'
    assert meta_of(head).published_raw is None
    candidates = [
        DateCandidate(date(2024, 1, 10), "2024-01-10", "jsonld", 0),
        DateCandidate(date(2024, 2, 20), "2024-02-20", "meta:x", 1),
    ]
    assert choose_date(candidates) == (None, frozenset({date(2024, 1, 10), date(2024, 2, 20)}))
    # agreeing sources are no conflict; a weak source (a <time>) that disagrees does not count
    same = head.replace("2024-02-20", "2024-01-10")
    assert meta_of(same, body='<p><time pubdate datetime="2023-01-01">x</time></p>').published_raw == "2024-01-10"


def test_dates_in_the_future_or_before_1995_are_refused() -> None:
    future = jsonld({"@type": "Article", "datePublished": "2025-06-03T00:00:00Z"})
    assert meta_of(future).published_raw is None
    tomorrow = jsonld({"@type": "Article", "datePublished": "2025-06-02T08:00:00Z"})
    assert meta_of(tomorrow).published_raw == "2025-06-02T08:00:00Z"  # a day ahead: time zones
    old = jsonld({"@type": "Article", "datePublished": "1994-12-31"})
    assert meta_of(old).published_raw is None
    later_fetch = meta_of(future, fetched_at=datetime(2025, 6, 2, 23, 0, tzinfo=UTC))
    assert later_fetch.published_raw == "2025-06-03T00:00:00Z"
    assert meta_of(old, earliest=date(1990, 1, 1)).published_raw == "1994-12-31"


def test_future_and_old_dates_are_refused_from_htmldate_too() -> None:
    body = "<p>Published 2031-04-05 by the desk.</p>"
    assert find_date(tree_of(body=body), original_date=True, max_date="2035-01-01") == "2031-04-05"
    assert meta_of(body=body, url=None, htmldate_fallback=True).published_raw is None


def test_htmldate_fills_in_where_the_markup_is_silent() -> None:
    meta = meta_of(body="<h1>Title</h1><p>Posted on 2024-04-09 by the editor.</p><p>Text.</p>", htmldate_fallback=True)
    assert (meta.published_raw, meta.published_source) == ("2024-04-09", "htmldate")


def test_a_copyright_year_is_no_publication_date() -> None:
    body = "<p>Some text without any date.</p><footer>© 2019 Example News</footer>"
    assert find_date(tree_of(body=body), original_date=True) == "2019-01-01"  # what htmldate answers: a year
    assert meta_of(body=body, url=None, htmldate_fallback=True).published_raw is None


def test_htmldate_may_settle_a_conflict_only_for_a_stated_day() -> None:
    head = jsonld({"@type": "NewsArticle", "datePublished": "2024-01-10T12:00:00Z"})
    url = "https://news.example/2024/02/20/story"
    assert find_date(tree_of(head), url=url, original_date=True) == "2024-02-20"  # htmldate reads the URL first
    meta = meta_of(head, url=url, htmldate_fallback=True)
    assert (meta.published_raw, meta.published_source) == ("2024-02-20", "url")


@pytest.mark.parametrize(
    ("value", "day", "raw"),
    [
        ("2020-06-07", date(2020, 6, 7), "2020-06-07"),
        ("2020-06-07T23:30:00-05:00", date(2020, 6, 7), "2020-06-07T23:30:00-05:00"),
        ("2020-06-07T00:30:00+0530", date(2020, 6, 7), "2020-06-07T00:30:00+0530"),
        ("2020-6-7", date(2020, 6, 7), "2020-06-07"),
        ("2020/06/07 10:15", date(2020, 6, 7), "2020/06/07 10:15"),
        ("2020.06.07", date(2020, 6, 7), "2020-06-07"),
        ("20200607", date(2020, 6, 7), "20200607"),
        ("2020-06-07 10:15:00 +02:00 CEST", date(2020, 6, 7), "2020-06-07T10:15:00+02:00"),
        ("2020-06-07T10:15:00.000+0200", date(2020, 6, 7), "2020-06-07T10:15:00.000+0200"),
        ("Sun, 07 Jun 2020 10:15:00 GMT", date(2020, 6, 7), "Sun, 07 Jun 2020 10:15:00 GMT"),
        ("June 7, 2020", date(2020, 6, 7), "June 7, 2020"),
        ("2020", None, None),
        ("2020-06", None, None),
        ("07/06/2020", None, None),
        ("2020-02-30", None, None),
        ("7 juin 2020", None, None),
        ("", None, None),
        (20200607, None, None),
        (["2020-06-07"], None, None),
    ],
)
def test_read_date(value: Any, day: Optional[date], raw: Optional[str]) -> None:
    found = read_date(value, BOUNDS)
    assert (found[0] if found else None, found[1] if found else None) == (day, raw)
    if raw:
        assert local_day(raw) == day


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2025, 5, 30)),
    offset=st.integers(min_value=-14 * 4, max_value=14 * 4).map(lambda quarters: quarters * 15),
    form=st.sampled_from(["%Y-%m-%dT%H:%M:%S{z}", "%Y-%m-%d %H:%M{z}", "%Y%m%dT%H%M%S{z}", "%Y/%m/%d %H:%M:%S"]),
    colon=st.booleans(),
)
def test_read_date_gives_what_parse_date_reads_to_the_same_day(
    moment: datetime, offset: int, form: str, colon: bool
) -> None:
    sign, minutes = ("-" if offset < 0 else "+"), abs(offset)
    zone = f"{sign}{minutes // 60:02d}{':' if colon else ''}{minutes % 60:02d}"
    value = moment.strftime(form.replace("{z}", zone))
    found = read_date(value, BOUNDS)
    assert found is not None and found[0] == moment.date()
    assert local_day(found[1]) == moment.date()


# ==========================================================================
# Authors
# ==========================================================================


def test_people_only() -> None:
    excluded = not_people(["Example Times"], "https://www.exampletimes.example/a")
    assert person_names(["By Jane Doe and John Roe"], excluded) == ["Jane Doe", "John Roe"]
    assert person_names(["Jane Doe, Senior Reporter"], excluded) == ["Jane Doe"]
    assert person_names(["Jane Doe | Example Times"], excluded) == ["Jane Doe"]
    assert person_names(["Ana Lima, Rui Costa y Eva Sol"], excluded) == ["Ana Lima", "Rui Costa", "Eva Sol"]
    assert person_names(["Doe, Jane"], excluded) == ["Doe, Jane"]  # surname first: one person
    assert person_names(["Grant Tinsley, PhD"], excluded) == ["Grant Tinsley"]
    assert person_names(["Jane Doe (AFP)"], excluded) == ["Jane Doe"]
    assert person_names(["Von Roland Brockmann und Sebastian Drescher"], excluded) == [
        "Roland Brockmann",
        "Sebastian Drescher",
    ]
    assert person_names(["Von Miller"], excluded) == ["Von Miller"]  # a surname, not "by"
    assert person_names(["Redacci&oacute;n Central"], excluded) == []  # an entity, not a ";" separator
    assert person_names(["Jane Doe", "Doe"], excluded) == ["Jane Doe"]
    for nobody in [
        "Staff",
        "Staff Writer",
        "Online-Redaktion",
        "Redacción",
        "Associated Press",
        "AFP",
        "dpa",
        "Example Times",
        "exampletimes",
        "exampletimes.example",
        "https://www.facebook.example/jane.doe",
        "jane@exampletimes.example",
        "Admin",
        "user123",
        "Example Widgets GmbH",
        "Verein für Beispiele e.V.",
        "One two three four five six",
        "Unknown",
        "Name",
        "Art Lover says",
    ]:
        assert person_names([nobody], excluded) == [], nobody


def test_is_person_compares_names_letter_by_letter() -> None:
    excluded = NotPeople(frozenset({"examplenews"}), frozenset({"examplenews"}))
    assert not is_person("Example-News", excluded)
    assert not is_person("EXAMPLE NEWS", excluded)
    assert is_person("Jane Doe", excluded)


def test_author_sources_in_order_and_filtered() -> None:
    organisation = jsonld({"@type": "NewsArticle", "author": {"@type": "Organization", "name": "Example News"}})
    meta = meta_of(organisation + '<meta name="author" content="Jane Doe">')
    assert (meta.authors, meta.authors_source) == (["Jane Doe"], "meta:author")
    profile = '<meta property="article:author" content="https://social.example/jane">'
    meta = meta_of(profile + '<meta name="parsely-author" content="Jane Doe">')
    assert (meta.authors, meta.authors_source) == (["Jane Doe"], "meta:parsely-author")
    site = '<meta property="og:site_name" content="Example News"><meta name="author" content="Example News">'
    body = '<article><span itemprop="author" itemscope><span itemprop="name">Ana Lima</span></span></article>'
    meta = meta_of(site, body)
    assert (meta.authors, meta.authors_source) == (["Ana Lima"], "itemprop")
    assert meta_of(site).authors == []


def test_one_person_sites_typed_as_person_and_organisation_keep_their_author() -> None:
    graph = {
        "@graph": [
            {"@type": ["Person", "Organization"], "@id": "#me", "name": "Jane Doe"},
            {"@type": "BlogPosting", "author": {"@id": "#me"}, "publisher": {"@id": "#me"}},
        ]
    }
    assert meta_of(jsonld(graph)).authors == ["Jane Doe"]


def test_visible_byline_through_the_person_filter() -> None:
    body = '<article><h1>T</h1><div class="byline">By Jane Doe and the Newsroom Staff</div><p>Text.</p></article>'
    meta = meta_of(body=body, trafilatura_authors=True)
    assert (meta.authors, meta.authors_source) == (["Jane Doe"], "trafilatura")
    assert meta_of(body=body).authors == []  # the fallback can be turned off


BYLINE_PAGES = [
    '<div class="author">Jane Doe</div>',
    '<p><a rel="author" href="/a">Jane Doe</a></p><div class="byline">John Roe</div>',
    '<div id="comments"><span class="author">Commenter One</span></div><span class="byline">Jane Doe</span>',
    '<div class="post-author">By <time>2020</time>Jane Doe<figure>img</figure> and John Roe</div>',
    '<div class="comments"><p>x</p></div><div class="writer">A</div><div class="writer">Ana <b>Lima</b> Costa</div>',
    '<section class="sidebar"><span class="author-name">Side Bar</span></section><h4 class="submitted-by">Eva Sol</h4>',
    "<author>Jane Doe</author>",
    '<div data-component="Byline">Jane <!-- x --> Doe</div>',
    '<p class="meta">no byline here</p>',
]


@pytest.mark.parametrize("body", BYLINE_PAGES)
def test_visible_byline_is_trafilaturas_extract_author(body: str) -> None:
    tree = tree_of(body=f"<main>{body}<p>Some text of the article.</p></main>")
    before = lxml.html.tostring(tree)
    assert visible_byline(tree) == extract_author(tree)
    assert lxml.html.tostring(tree) == before


# ==========================================================================
# Other fields
# ==========================================================================


def test_relative_images_and_canonical_are_made_absolute() -> None:
    head = '<meta property="og:image" content="/media/lead.jpg"><meta property="og:url" content="/s/1">'
    meta = meta_of(head, url="https://www.news.example/section/page.html")
    assert meta.image_url == "https://www.news.example/media/lead.jpg"
    assert meta.canonical_url == "https://www.news.example/s/1"
    based = meta_of('<base href="https://cdn.news.example/x/">' + head.replace("/media/", "media/"))
    assert based.image_url == "https://cdn.news.example/x/media/lead.jpg"
    assert meta_of(head, url=None).image_url is None  # relative and nothing to resolve it against
    assert meta_of('<meta property="og:image" content="data:image/png;base64,AAAA">').image_url is None
    twitter = meta_of('<meta name="twitter:image" content="https://img.news.example/t.jpg">')
    assert twitter.image_url == "https://img.news.example/t.jpg"
    listed = meta_of(jsonld({"@type": "Article", "image": [{"url": "https://img.news.example/j.jpg"}]}))
    assert listed.image_url == "https://img.news.example/j.jpg"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(False, False), ("False", False), ("false", False), (True, True), ("true", True), (None, None), (0.5, None)],
)
def test_paywall_flag(value: Any, expected: Optional[bool]) -> None:
    article: dict[str, Any] = {"@type": "NewsArticle", "headline": "H"}
    if value is not None:
        article["isAccessibleForFree"] = value
    assert meta_of(jsonld(article)).accessible_for_free is expected


def test_paywall_flag_on_a_part() -> None:
    article = {
        "@type": "NewsArticle",
        "hasPart": [{"@type": "WebPageElement", "isAccessibleForFree": "False", "cssSelector": ".paywall"}],
    }
    assert meta_of(jsonld(article)).accessible_for_free is False


def test_title_and_site_name_sources() -> None:
    assert strip_site("Budget passes | Example News", "Example News") == "Budget passes"
    assert strip_site("Example News - Budget passes", "example news") == "Budget passes"
    assert strip_site("Budget passes | Other", "Example News") == "Budget passes | Other"
    assert strip_site("Example News", "Example News") == "Example News"
    meta = meta_of('<title>Budget passes – Example News</title><meta name="application-name" content="Example News">')
    assert (meta.title, meta.site_name) == ("Budget passes", "Example News")
    assert meta_of(body="<h1>Only heading</h1>").title == "Only heading"
    assert meta_of(body="<h1>One</h1><h1>Two</h1>").title is None
    assert meta_of('<meta name="description" content="  A   short\nsummary. ">').description == "A short summary."


def test_language_sources() -> None:
    assert page_metadata(tree_of(lang="de-CH"), URL, fetched_at=FETCHED, htmldate_fallback=False).language == "de-CH"
    assert meta_of('<meta http-equiv="Content-Language" content="fr">').language == "fr"
    assert meta_of('<meta property="og:locale" content="not a language">').language is None


# ==========================================================================
# Hostile pages
# ==========================================================================

HOSTILE = [
    '<script type="application/ld+json">' + "[" * 5000 + "]" * 5000 + "</script>",
    '<script type="application/ld+json">{"@graph": [1, "x", null, [[{"@type": "Article", "datePublished": 5}]]]}</script>',
    jsonld({"@type": ["NewsArticle", 7], "author": [3, {"name": ["Jane Doe", 4]}, {"name": {"x": 1}}], "image": 9}),
    jsonld({"@type": "Article", "author": {"@id": "#nobody"}, "isAccessibleForFree": {"x": 1}, "hasPart": "y"}),
    jsonld({"@type": "Article", "keywords": 42, "articleSection": [None, ["a"]], "headline": {"@value": "x"}}),
    jsonld({"@type": "Article", "datePublished": "9999-99-99T99:99", "dateModified": ["2020-01-01"]}),
    jsonld([{"@type": "Article", "author": "x" * 5000}]),
    '<script type="application/ld+json">{"@type": "Article", "datePublished": "2020-01-0</script>',
    '<script type="application/ld+json"></script><script type="application/ld+json">null</script>',
    f'<meta name="author" content="{"A " * 50_000}"><meta property="og:image" content="http://[bad">',
    '<link rel="canonical" href="http://[::1"><base href="javascript:alert(1)">',
    '<meta property="og:title"><meta content="orphan"><meta name="keywords" content=",,, ,">',
]


@pytest.mark.parametrize("head", HOSTILE)
def test_hostile_pages_never_raise_and_leave_the_tree_alone(head: str) -> None:
    tree = tree_of(head, body='<article><div class="byline">x</div><time datetime="nonsense">t</time></article>')
    before = lxml.html.tostring(tree)
    meta = page_metadata(tree, URL, fetched_at=FETCHED)
    assert isinstance(meta, PageMeta)
    assert lxml.html.tostring(tree) == before
    assert meta.published_raw is None or parse_date(meta.published_raw) is not None


def test_the_tree_is_not_changed_by_any_source_or_fallback() -> None:
    head = jsonld({"@type": "Article", "headline": "H"}) + '<meta property="og:image" content="/a.jpg">'
    body = (
        '<div id="comments"><span class="author">C</span><time datetime="2020-01-02">t</time></div>'
        '<figure><img src="/b.jpg"></figure><p class="byline">By Jane Doe</p><p>© 2019. Posted 2020-03-04.</p>'
    )
    tree = tree_of(head, body)
    before = lxml.html.tostring(tree)
    meta = page_metadata(tree, URL, fetched_at=FETCHED)
    assert lxml.html.tostring(tree) == before
    assert meta.published_source == "htmldate" and meta.authors == ["Jane Doe"]


def test_bounds_for_a_fetch() -> None:
    assert bounds_for(FETCHED) == DateBounds(date(1995, 1, 1), date(2025, 6, 2))
    assert bounds_for(FETCHED, date(2000, 1, 1), timedelta(0)) == DateBounds(date(2000, 1, 1), date(2025, 6, 1))


# ==========================================================================
# The real pages: at least htmldate's right dates, no more of its wrong ones
# ==========================================================================

CORPORA = Path(os.environ.get("NEWSBEAM_CORPORA") or Path(__file__).resolve().parents[2] / "shared" / "corpora")


def _verdict(found: Optional[date], gold: Optional[str]) -> str:
    if not gold:
        return "wrong" if found else "right"
    if not found:
        return "missing"
    return "right" if found.isoformat() == gold else "wrong"


@pytest.mark.slow
def test_page_dates_corpus_beats_htmldate() -> None:
    folder = CORPORA / "page_dates"
    if not (folder / "dates.json").exists():
        pytest.skip(f"corpus absent: {folder}")
    gold = json.loads((folder / "dates.json").read_text())
    ours: dict[str, int] = {"right": 0, "wrong": 0, "missing": 0}
    theirs: dict[str, int] = {"right": 0, "wrong": 0, "missing": 0}
    for url, entry in gold.items():
        html = decode_file(gzip.open(folder / "html" / (entry["file"] + ".gz")).read())
        expected = entry["date"] if isinstance(entry.get("date"), str) else None
        tree = parse_page(html)  # the parse every HTML path shares
        meta = page_metadata(tree, url) if tree is not None else None
        ours[_verdict(local_day(meta.published_raw) if meta and meta.published_raw else None, expected)] += 1
        tree = parse_page(html)
        found = find_date(tree, url=url, original_date=True) if tree is not None else None
        theirs[_verdict(date.fromisoformat(found) if found else None, expected)] += 1
    assert sum(ours.values()) == len(gold) == 200
    assert ours["right"] >= theirs["right"], (ours, theirs)
    assert ours["wrong"] <= theirs["wrong"], (ours, theirs)

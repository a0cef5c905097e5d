"""``ParseDocuments``: documents (feeds, JSON, JSON Lines, HTML, text) to ``RawArticle``s and dead letters.

The documents are the fixtures of ``seeds/`` as ``ReadDocuments`` hands them
on (gzip already decompressed), sourced by their path below ``seeds/``.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from support import SEEDS, counters, document, matcher, new_pipeline

from schemas import RawDocument
from transforms.errors import DEAD_LETTER
from transforms.parse import ParseDocuments
from transforms.text import binary_kind

FIXTURES = [
    "000_74ba0ad98bda6786.txt",
    "feeds/rss2_newsroom.xml",
    "feeds/atom_wire.atom",
    "feeds/rdf_bulletin.rdf",
    "feeds/rss091_digest.xml",
    "feeds/latin1_declared_utf8.xml",
    "feeds/cp1252_feed.xml",
    "feeds/illformed.xml",
    "feeds/not_a_feed.xml",
    "feeds/gzipped_feed.xml",
    "feeds/_opml/regional.xml",
    "articles/single_article.json",
    "articles/batch_articles.json",
    "articles/stream.jsonl",
    "articles/page.html",
    "articles/wire_story.txt",
]
ARTICLES_PER_SOURCE = {
    "000_74ba0ad98bda6786.txt": 1,
    "feeds/rss2_newsroom.xml": 8,
    "feeds/atom_wire.atom": 2,
    "feeds/rdf_bulletin.rdf": 2,
    "feeds/rss091_digest.xml": 2,
    "feeds/latin1_declared_utf8.xml": 2,
    "feeds/cp1252_feed.xml": 1,
    "feeds/illformed.xml": 2,
    "feeds/gzipped_feed.xml": 2,
    "feeds/_opml/regional.xml": 1,
    "articles/single_article.json": 1,
    "articles/batch_articles.json": 2,
    "articles/stream.jsonl": 3,
    "articles/page.html": 1,
    "articles/wire_story.txt": 1,
}


def _payload(relative: str) -> bytes:
    data = (SEEDS / relative).read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _documents() -> list[RawDocument]:
    return [document(SEEDS / name, source=name, payload=_payload(name)) for name in FIXTURES]


def _by_title(articles: list[Any]) -> dict[str, Any]:
    return {a.title: a for a in articles}


def check_feed_articles(articles: list[Any]) -> None:
    titles = _by_title(articles)
    a = titles["CafÃ© owners cheer the harbourâ€™s reopening"]  # repaired later, in Enrich: fields as found
    assert a.source_type == "feed" and a.source == "feeds/rss2_newsroom.xml"
    assert a.feed_url == "https://news.example/feeds/newsroom.xml"  # the atom:link rel=self
    assert a.feed_link == "https://news.example/"
    assert a.url == "https://news.example/world/harbour-reopens?utm_source=rss&utm_medium=feed"
    assert a.guid == "nr-1001"
    assert a.subtitle == "Traders on the quay say the first week back has already beaten last summer"
    assert a.body.startswith("<p>The old harbour reopened") and a.body_is_html
    assert list(a.authors) == ["Marta Ruiz"]
    assert list(a.categories) == ["World", "Economy"]
    assert a.published_raw == "Tue, 05 Mar 2024 14:30:00 +0100"
    assert a.encoding.decode_path == "declared" and a.encoding.codec == "utf-8"
    assert list(a.encoding.repairs) == [] and a.language is None
    assert json.loads(a.raw)["id"] == "nr-1001"
    # Same guid twice, no link: both entries reach the parse output (dedup is Identify's job).
    assert sum(1 for x in articles if x.guid == "nr-2002") == 2
    assert titles["Night ferry timetable returns for the spring"].guid is None
    assert titles["Library extends weekend opening hours"].published_raw is None
    assert titles["Archive photos of the 2013 floods go on show"].published_raw == "2013-xx-27"
    h = titles["Storm & flood warnings for the valley"]
    assert "<script" in h.body and h.body_is_html  # HTML is turned into text by Enrich
    assert list(titles["Night ferry timetable returns for the spring"].authors) == ["Tom Achebe"]

    w1 = titles["Port strike ends after three days"]  # Atom title type=html reduced to text
    assert list(w1.authors) == ["Ana Lima", "Peter Okafor"]
    assert w1.subtitle == "Dockers accept a new pay offer"
    assert w1.feed_url == "https://wire.example/atom.xml"
    assert list(w1.categories) == ["Business", "Labour"]
    w2 = titles["Lighthouse keeper's cottage opens to visitors"]
    assert list(w2.authors) == ["Coastal Wire Staff"]  # inherited from the feed
    assert w2.published_raw == "2024-03-08T16:20:00-05:00"  # updated stands in for published

    r1 = titles["Late frost threatens orchard blossom"]
    assert r1.guid == "https://bulletin.example/notes/orchard-frost"
    assert list(r1.authors) == ["L. Becker"] and list(r1.categories) == ["Agriculture"]
    assert r1.published_raw == "2024-03-12T05:30:00+01:00"

    d1 = titles["Rowing club celebrates its centenary"]
    assert "£2,000" in d1.body
    assert (d1.encoding.codec, d1.encoding.decode_path, d1.encoding.declared) == ("iso8859-1", "declared", "ISO-8859-1")

    l1 = titles["Zürich café owners protest new terrace fees"]
    assert (l1.encoding.codec, l1.encoding.decode_path, l1.encoding.declared) == (
        "utf-8",
        "declared-overridden",
        "iso-8859-1",
    )
    assert "Zürich’s old town" in l1.body and "“unaffordable”" in l1.body

    c1 = titles["Le château du port rouvre ses portes — entrée à 5 €"]
    assert (c1.encoding.codec, c1.encoding.decode_path, c1.encoding.declared) == ("cp1252", "declared", "windows-1252")
    assert "l’âge" in c1.body and "“coupé le ruban”" in c1.body

    assert "Smith & Sons bakery wins regional prize" in titles  # ill-formed XML recovered
    assert "The council will decide in May." in titles["Stallholders ask for a longer Saturday market"].body
    assert titles["Ferry operator orders two electric boats"].guid == "ft-501"  # gzip payload
    assert titles["Regional bus network adds three night routes"].source == "feeds/_opml/regional.xml"


def check_file_articles(articles: list[Any]) -> None:
    titles = _by_title(articles)
    seed = titles["China, US in talks on military ties amid strained relations"]
    assert seed.source_type == "file"
    assert seed.subtitle.startswith("China and US defense officials hold two days of talks")
    assert seed.body.startswith("BEIJING – Defense officials") and not seed.body_is_html
    assert seed.url is None and seed.published_raw is None

    wire = titles["Senate passes stopgap bill hours before shutdown deadline"]
    assert wire.subtitle == "Lawmakers beat the midnight cutoff with a short-term funding measure"
    assert wire.body.startswith("By Jane Doe\nWASHINGTON (AP) — The Senate")  # byline and dateline go in Enrich

    page = titles["Glassworks museum opens in old pump house"]
    assert page.url == "https://times.example/culture/glassworks-museum-opens"
    assert page.published_raw == "2024-02-29T08:15:00-05:00"
    assert list(page.authors) == ["Dana Whitfield"] and list(page.categories) == ["Culture"]
    assert page.subtitle == "A collection of 400 pieces of local glass finds a permanent home"
    # The page's main text is extracted at parse, by the extractor every HTML path shares (transforms.extract).
    assert not page.body_is_html and page.body.startswith("The town's glassmaking history")
    for noise in ("Subscribe now", "All rights reserved", "since 1887", "<h1"):
        assert noise not in page.body
    assert (page.encoding.decode_path, page.encoding.declared) == ("declared", "utf-8")

    single = titles["Volunteers plant 5,000 trees along the ring road"]
    assert single.subtitle == "The project is the largest community planting in the city's history"
    assert list(single.authors) == ["Priya Natarajan", "Owen Price"]
    assert list(single.categories) == ["Environment", "City"]
    assert single.published_raw == "2024-03-10T17:05:00+05:30"
    assert (single.encoding.codec, single.encoding.decode_path) == ("utf-8", "utf-8")

    bakers = titles["Bakers' strike called off after late-night talks"]
    assert bakers.url == "https://city.example/business/bakers-strike-off" and list(bakers.authors) == ["Sam Osei"]
    door = titles["Museum returns carved door to its village"]
    # HTML in a JSON record goes through the same extractor; the authors are the record's (split in Enrich).
    assert not door.body_is_html and list(door.authors) == ["By Clara Nunes and Ivo Marić"]
    assert list(door.categories) == ["Culture", "Heritage"]

    assert titles["Bike lanes painted on the harbour road"].guid == "jsonl-0004"
    assert list(titles["Bike lanes painted on the harbour road"].categories) == ["Transport"]
    assert list(titles["Tide gauge upgrade gives earlier flood warnings"].authors) == ["Hana Sato"]
    ferry = titles["Night ferry timetable returns"]
    assert ferry.url.startswith("https://news.example/travel/night-ferry-timetable?utm_source=twitter")


def check_dead_letters(dead: list[Any]) -> None:
    by_source = {d.source: d for d in dead}
    assert sorted(by_source) == ["articles/batch_articles.json", "articles/stream.jsonl", "feeds/not_a_feed.xml"]
    for d in dead:
        assert d.stage == "parse" and d.run_id == "run-parse" and d.message and d.time is not None
    feed = by_source["feeds/not_a_feed.xml"]
    assert feed.error_type == "FeedError"
    assert feed.raw_bytes == (SEEDS / "feeds/not_a_feed.xml").read_bytes() and feed.raw_text is None
    empty = by_source["articles/batch_articles.json"]
    assert empty.error_type == "EmptyArticle"
    assert empty.raw_bytes is None and json.loads(empty.raw_text)["url"] == "https://city.example/empty-record"
    line = by_source["articles/stream.jsonl"]
    assert line.error_type == "UnreadableDocument" and "line 2" in line.message
    assert line.raw_text == (SEEDS / "articles/stream.jsonl").read_text(encoding="utf-8").splitlines()[1]


@pytest.fixture(scope="module")
def result() -> Any:
    pipeline = new_pipeline()
    documents = pipeline | "Documents" >> beam.Create(_documents())
    parsed = documents | "ParseDocuments" >> ParseDocuments("run-parse")
    articles = parsed["articles"]
    assert_that(
        articles | "Sources" >> beam.Map(lambda a: a.source),
        equal_to([source for source, n in ARTICLES_PER_SOURCE.items() for _ in range(n)]),
        label="CheckArticlesPerSource",
    )
    assert_that(
        articles | "Feeds" >> beam.Filter(lambda a: a.source_type == "feed"),
        matcher(check_feed_articles),
        label="CheckFeedArticles",
    )
    assert_that(
        articles | "Files" >> beam.Filter(lambda a: a.source_type == "file"),
        matcher(check_file_articles),
        label="CheckFileArticles",
    )
    assert_that(parsed[DEAD_LETTER], matcher(check_dead_letters), label="CheckDeadLetters")
    outcome = pipeline.run()
    outcome.wait_until_finish()
    return outcome


@pytest.mark.slow
def test_parse_outputs(result: Any) -> None:
    assert str(result.state) == "DONE"


@pytest.mark.slow
def test_parse_counters(result: Any) -> None:
    values = counters(result)
    articles = sum(ARTICLES_PER_SOURCE.values())
    assert values["articles_parsed"] == articles == 31
    assert values["read"] == articles + 3  # dead letters at parse are records read too
    assert values["dead_letter.parse"] == 3
    formats = Counter({k.removeprefix("documents."): v for k, v in values.items() if k.startswith("documents.")})
    # not_a_feed.xml fails before its format is counted.
    assert formats == Counter({"feed": 9, "text": 2, "json": 2, "jsonl": 1, "html": 1})


@pytest.mark.slow
def test_feeds_read_in_spite_of_a_flaw_are_counted_by_kind(result: Any) -> None:
    """illformed.xml is not well-formed XML: feedparser's forgiving parser reads it, and that is counted."""
    bozo = {k: v for k, v in counters(result).items() if k.startswith("feeds.bozo.")}
    assert bozo == {"feeds.bozo.not_well_formed_invalid_token": 1}


def _parse_one(name: str, payload: bytes) -> tuple[beam.Pipeline, dict[str, Any]]:
    """A pipeline that parses one document, and ParseDocuments' outputs (not yet run)."""
    pipeline = new_pipeline()
    parsed = (
        pipeline
        | "Document" >> beam.Create([document(SEEDS, source=name, payload=payload)])
        | "ParseDocuments" >> ParseDocuments("run-one")
    )
    return pipeline, parsed


@pytest.mark.slow
def test_text_article_starting_with_bracket_is_text() -> None:
    payload = b"[Updated] Bridge closed after lorry crash\nThe bridge over the estuary was closed on Monday after a lorry hit its railing.\n"
    pipeline, parsed = _parse_one("scrapes/bridge.txt", payload)
    assert_that(
        parsed["articles"] | "Titles" >> beam.Map(lambda a: (a.title, a.body)),
        equal_to(
            [
                (
                    "[Updated] Bridge closed after lorry crash",
                    "The bridge over the estuary was closed on Monday after a lorry hit its railing.",
                )
            ]
        ),
        label="CheckTextArticle",
    )
    assert_that(parsed[DEAD_LETTER], equal_to([]), label="CheckNoDeadLetters")
    pipeline.run().wait_until_finish()


@pytest.mark.slow
def test_relative_rss_link_is_resolved_against_the_channel_link() -> None:
    payload = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        b"<link>https://relative.example/</link><description>d</description>"
        b"<item><title>Relative link story</title><link>/news/relative-story</link>"
        b"<description>The body of a story whose link is relative to the site.</description></item>"
        b"</channel></rss>"
    )
    pipeline, parsed = _parse_one("feeds/relative.xml", payload)
    assert_that(
        parsed["articles"] | "Urls" >> beam.Map(lambda a: a.url),
        equal_to(["https://relative.example/news/relative-story"]),
        label="CheckAbsoluteUrl",
    )
    pipeline.run().wait_until_finish()


@pytest.mark.slow
def test_cp1252_bytes_declared_utf8_decode_as_cp1252() -> None:
    story = (
        "Le château du port rouvre ses portes après deux ans de travaux. « C’est une renaissance », a déclaré la "
        "maire. Les réservations dépassent déjà celles de l’année dernière. "
    ) * 3
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Quai</title>'
        "<link>https://quai.example/</link><description>d</description><item><title>Le château rouvre après l’été</title>"
        f"<link>https://quai.example/a</link><description>{story}</description></item></channel></rss>"
    )
    pipeline, parsed = _parse_one("feeds/mislabelled.xml", feed.encode("cp1252"))
    assert_that(
        parsed["articles"] | "Fields" >> beam.Map(lambda a: (a.title, a.body, a.encoding.codec)),
        equal_to([("Le château rouvre après l’été", story.strip(), "cp1252")]),
        label="CheckDecoded",
    )
    pipeline.run().wait_until_finish()


@pytest.mark.slow
def test_one_bad_record_never_costs_the_rest() -> None:
    """A JSON array with a non-object and an empty record: two dead letters, the good record kept."""
    payload = json.dumps(
        [{"title": "Kept", "text": "A record that is fine."}, 42, {"title": "", "text": "   "}]
    ).encode()
    pipeline, parsed = _parse_one("articles/mixed.json", payload)
    assert_that(parsed["articles"] | "Titles" >> beam.Map(lambda a: a.title), equal_to(["Kept"]), label="CheckKept")
    assert_that(
        parsed[DEAD_LETTER] | "Errors" >> beam.Map(lambda d: (d.stage, d.error_type, d.raw_text)),
        equal_to([("parse", "UnreadableDocument", "42"), ("parse", "EmptyArticle", '{"title": "", "text": "   "}')]),
        label="CheckDead",
    )
    result = pipeline.run()
    result.wait_until_finish()
    values = counters(result)
    assert (values["read"], values["articles_parsed"], values["dead_letter.parse"]) == (3, 1, 2)


@pytest.mark.slow
def test_binary_files_are_dead_lettered_with_their_bytes() -> None:
    """An image or archive dropped beside the articles is refused, not ingested as mojibake text."""
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
    noise = random.Random(7).randbytes(4096)  # like compressed or encrypted data: no signature
    pipeline = new_pipeline()
    documents = pipeline | "Documents" >> beam.Create(
        [
            document(SEEDS / "x", source="dump/photo.txt", payload=png),
            document(SEEDS / "x", source="dump/report.pdf", payload=pdf),
            document(SEEDS / "x", source="dump/blob.json", payload=noise),
        ]
    )
    parsed = documents | "ParseDocuments" >> ParseDocuments("run-one")
    assert_that(parsed["articles"] | "Sources" >> beam.Map(lambda a: a.source), equal_to([]), label="CheckNone")
    assert_that(
        parsed[DEAD_LETTER] | "Errors" >> beam.Map(lambda d: (d.source, d.error_type, d.message, d.raw_bytes)),
        equal_to(
            [
                ("dump/photo.txt", "UnreadableDocument", "not a text document: PNG image", png),
                ("dump/report.pdf", "UnreadableDocument", "not a text document: PDF document", pdf),
                ("dump/blob.json", "UnreadableDocument", "not a text document: binary data", noise),
            ]
        ),
        label="CheckDead",
    )
    pipeline.run().wait_until_finish()


@pytest.mark.parametrize(
    "payload",
    [
        "Café owners cheer the reopening\nThe harbour reopened on Monday.\n".encode("cp1252"),
        "Kraków mayor opens bridge\nŁódź and Gdańsk sent delegations.\n".encode(),
        b"Title with a stray control\x01\nA scraped body with one \x00 NUL in it and a \x1b escape.\n",
        b"\xff\xfeT\x00i\x00\n\x00",  # UTF-16 with its BOM
        b"",
    ],
)
def test_text_is_not_mistaken_for_binary(payload: bytes) -> None:
    assert binary_kind(payload) is None


@pytest.mark.parametrize(
    "wrapped",
    [
        {"status": "ok", "data": {"items": [{"headline": "Wrapped once", "body": "Text one."}]}},
        {"hits": {"total": 1, "hits": [{"title": "Wrapped once", "articleBody": "Text one."}]}},
        {"response": {"docs": [{"headline": "Wrapped once", "content": "Text one."}]}},
        [{"title": "Wrapped once", "text": "Text one."}],
    ],
)
@pytest.mark.slow
def test_json_articles_inside_api_wrappers_are_found(wrapped: Any) -> None:
    pipeline, parsed = _parse_one("api/dump.json", json.dumps(wrapped).encode())
    assert_that(
        parsed["articles"] | "Fields" >> beam.Map(lambda a: (a.title, a.body)),
        equal_to([("Wrapped once", "Text one.")]),
        label="CheckFound",
    )
    assert_that(parsed[DEAD_LETTER], equal_to([]), label="CheckNoDeadLetters")
    pipeline.run().wait_until_finish()


def _feed_authors(feed: bytes) -> list[list[str]]:
    from transforms.parse import parse_document

    _, parsed = parse_document(document(SEEDS / "x", source="feeds/authors.xml", payload=feed))
    return [list(article.authors) for article in parsed.articles]


def test_rss_managing_editor_is_not_every_entrys_author() -> None:
    feed = (
        b'<rss version="2.0"><channel><title>T</title><link>https://m.example/</link><description>d</description>'
        b"<managingEditor>desk@m.test (Desk Editor)</managingEditor>"
        b"<item><title>Unsigned story</title><description>Body.</description></item>"
        b"<item><title>Signed story</title><author>ana@m.test (Ana Lima)</author><description>Body.</description></item>"
        b"</channel></rss>"
    )
    assert _feed_authors(feed) == [[], ["Ana Lima"]]


def test_rss_channel_creator_and_atom_feed_author_are_inherited() -> None:
    rss = (
        b'<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title>'
        b"<link>https://c.example/</link><description>d</description><dc:creator>Kim Park</dc:creator>"
        b"<item><title>Column</title><description>Body.</description></item></channel></rss>"
    )
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><id>urn:t</id><updated>2024-01-01T00:00:00Z</updated>'
        b"<author><name>Lea Roy</name><email>lea@a.example</email></author>"
        b"<entry><title>Post</title><id>urn:t:1</id><updated>2024-01-01T00:00:00Z</updated><summary>Body.</summary></entry>"
        b"</feed>"
    )
    assert _feed_authors(rss) == [["Kim Park"]]
    assert _feed_authors(atom) == [["Lea Roy"]]

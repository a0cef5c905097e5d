"""Parsing without Beam: one document (bytes and a path) to its outcomes, and the parse step driven directly.

What ``ParseDocuments`` does to one element is reachable here in
milliseconds: the format a document is recognised as, what each format
yields, the notices a survivable flaw leaves, the records of a file read as
a stream (the same articles and failures as the file read whole), and the
parse DoFn's own decisions (the per-feed cap, a page where a feed was
expected) called as a plain generator.
"""

from __future__ import annotations

import gzip
import io
import json
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.timestamp import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st
from support import SEEDS

from schemas import EncodingInfo, FeedOutcome, RawArticle, RawDocument, RawRecord
from transforms.errors import DEAD_LETTER, UnreadableDocument
from transforms.formats.base import Format, Match, Piece, new_article, sample_of
from transforms.formats.json_lines import split_lines
from transforms.formats.registry import FORMATS, by_name, detect_format
from transforms.parse import OUTCOMES, _ParseDocument, collect, iter_record, parse_document
from transforms.text import Decoded


def doc(source: str, payload: bytes, source_type: str = "file", content_type: Optional[str] = None) -> RawDocument:
    return RawDocument(source, source_type, payload, Timestamp.of(time.time()), content_type, None)


def seed(relative: str) -> RawDocument:
    data = (SEEDS / relative).read_bytes()
    return doc(relative, gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)


# ==========================================================================
# Which format: content first, the name second
# ==========================================================================


@pytest.mark.parametrize(
    ("text", "path", "expected"),
    [
        ("<rss version='2.0'><channel>", "x.txt", "feed"),  # a feed's root wins over any name
        ("<?xml version='1.0'?><feed>", "", "feed"),
        ("<?xml version='1.0'?><html><body>", "", "html"),  # a page's tags beat an XML declaration
        ("<?xml version='1.0'?><other/>", "x.html", "feed"),  # the declaration beats the name
        ("<html><rss>", "", "feed"),  # both roots: the registry's order breaks the tie
        ("<div>hello</div>", "x.json", "json"),  # unknown markup: the name decides
        ("<div>hello</div>", "x.jsonl.gz", "jsonl"),
        ("<div>hello</div>", "x.md", "text"),
        ("<div>hello</div>", "x.xml", "feed"),
        ("<div>hello</div>", "x.csv", "html"),  # no name: markup is a page
        ('{"title": "x"}', "", "json"),
        ('{"title": "x"}', "x.ndjson", "jsonl"),
        ('{"title": "x"}', "x.txt", "json"),  # named as text, but it parses as JSON
        ("[Updated] Bridge closed", "x.txt", "text"),  # a headline in brackets is not JSON
        ("[Updated] Bridge closed", "", "json"),
        ("plain words", "x.json", "text"),  # neither markup nor JSON: text, whatever the name
        ("", "x.html", "text"),
    ],
)
def test_detect_format(text: str, path: str, expected: str) -> None:
    assert detect_format(text, path).name == expected


def test_a_fetched_document_has_no_name_to_go_by() -> None:
    assert sample_of("<div/>", "").ext == "" and detect_format("<div/>", "").name == "html"


def test_formats_are_named_once_and_a_list_that_recognises_nothing_says_so() -> None:
    assert list(by_name(FORMATS)) == ["feed", "html", "json", "jsonl", "warc", "text"]
    with pytest.raises(ValueError, match="share a name"):
        by_name((*FORMATS, FORMATS[0]))
    markup_only = tuple(f for f in FORMATS if f.name in ("feed", "html"))
    with pytest.raises(UnreadableDocument, match="no input format recognises"):
        detect_format("plain words", "x.txt", markup_only)


def test_a_format_s_recogniser_sees_whether_the_name_is_its_own() -> None:
    seen: list[tuple[str, bool]] = []

    def recognise(sample: Any, named: bool) -> Optional[Match]:
        seen.append((sample.ext, named))
        return None

    probe = Format(name="probe", recognise=recognise, parse=FORMATS[0].parse, described="a probe", extensions=(".p",))
    assert detect_format("x", "a/b.p.gz", (probe, *FORMATS)).name == "text"
    assert seen == [(".p", True)]


# ==========================================================================
# One document, every format: bytes and a path in, outcomes out
# ==========================================================================

ARTICLES_PER_SOURCE = {
    "000_74ba0ad98bda6786.txt": ("text", 1, 0),
    "feeds/rss2_newsroom.xml": ("feed", 8, 0),
    "feeds/atom_wire.atom": ("feed", 2, 0),
    "feeds/rdf_bulletin.rdf": ("feed", 2, 0),
    "feeds/illformed.xml": ("feed", 2, 0),
    "feeds/gzipped_feed.xml": ("feed", 2, 0),
    "articles/single_article.json": ("json", 1, 0),
    "articles/batch_articles.json": ("json", 2, 1),
    "articles/stream.jsonl": ("jsonl", 3, 1),
    "articles/page.html": ("html", 1, 0),
    "articles/wire_story.txt": ("text", 1, 0),
}


@pytest.mark.parametrize("relative", sorted(ARTICLES_PER_SOURCE))
def test_each_seed_document_parses_alone(relative: str) -> None:
    fmt, parsed = parse_document(seed(relative))
    assert (fmt, len(parsed.articles), len(parsed.failures)) == ARTICLES_PER_SOURCE[relative]
    assert all(a.source == relative for a in parsed.articles)


def test_a_feed_read_in_spite_of_a_flaw_leaves_a_notice() -> None:
    """The notice is what ``ParseDocuments`` counts (``feeds.bozo.<kind>``); a well-formed feed leaves none."""
    assert parse_document(seed("feeds/illformed.xml"))[1].notices == ["feeds.bozo.not_well_formed_invalid_token"]
    assert parse_document(seed("feeds/rss2_newsroom.xml"))[1].notices == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("<title>Tom &amp; Jerry &nbsp; show</title>", "undefined_entity"),
        ("<title>Tom</b> show</title>", "mismatched_tag"),
        ("<title>x</title><dc:creator>Bob</dc:creator>", "unbound_prefix"),
    ],
)
def test_each_kind_of_flaw_is_its_own_notice(text: str, kind: str) -> None:
    feed = f'<rss version="2.0"><channel><title>T</title><item>{text}<link>https://x.example/1</link></item></channel></rss>'
    fmt, parsed = parse_document(doc("flaw.xml", feed.encode()))
    assert fmt == "feed" and len(parsed.articles) == 1 and parsed.notices == [f"feeds.bozo.{kind}"]


def test_a_cut_off_feed_is_a_failure_not_a_notice() -> None:
    feed = (SEEDS / "feeds/rss2_newsroom.xml").read_bytes()
    _, parsed = parse_document(doc("cut.xml", feed[: feed.index(b"</item>", 2000) + 200]))
    assert parsed.notices == [] and [type(f.error).__name__ for f in parsed.failures] == ["TruncatedDocument"]


def test_one_constructor_fills_what_every_parser_fills_the_same_way() -> None:
    decoded = Decoded("text", "utf-8", "utf-8", None)
    article = new_article(doc("a.txt", b"text"), decoded, body="Body", raw="raw", title="T")
    assert article == RawArticle(
        source_type="file",
        source="a.txt",
        feed_url=None,
        feed_link=None,
        url=None,
        guid=None,
        title="T",
        subtitle=None,
        body="Body",
        body_is_html=False,
        authors=[],
        published_raw=None,
        categories=[],
        encoding=EncodingInfo("utf-8", "utf-8", None, []),
        language=None,
        raw="raw",
    )
    fetched = new_article(doc("https://x.example/f", b"", "http"), decoded, body="", raw="")
    assert fetched.source_type == "feed"
    assert new_article(doc("f.xml", b""), decoded, body="", raw="", source_type="feed").source_type == "feed"


# ==========================================================================
# A file read as a stream: each record alone, the same outcomes as the file whole
# ==========================================================================

_LINES = st.lists(
    st.one_of(
        st.builds(
            lambda n, t: json.dumps({"title": f"T{n}", "text": t, "url": f"https://x.example/{n}"}, ensure_ascii=False),
            st.integers(0, 10**6),
            st.text(max_size=30),
        ),
        st.sampled_from(["", "   ", '{"title": "cut', "[1, 2]", '{"other": 1}', '"a string"', "\r"]),
    ),
    min_size=1,
    max_size=12,
)


def _streamed(path: str, data: bytes, limit: int = 1 << 20) -> list[Any]:
    outcomes: list[Any] = []
    for ordinal, piece in enumerate(split_lines(io.BufferedReader(io.BytesIO(data)), limit)):
        assert isinstance(piece, Piece)  # no line is over the limit here
        record = RawRecord(path, "jsonl", ordinal, piece.position, piece.payload, Timestamp(0), None)
        outcomes.extend(iter_record(record))
    return outcomes


@settings(max_examples=150, deadline=None)
@given(_LINES, st.sampled_from(["\n", "\r\n"]))
def test_records_read_off_a_stream_parse_as_the_whole_file_does(lines: list[str], newline: str) -> None:
    """A file is streamed when it is recognised as JSON Lines, as it is here by its first line and its name."""
    data = newline.join(['{"title": "First", "text": "x"}', *lines]).encode("utf-8")
    fmt, parsed = parse_document(doc("dump.jsonl", data))
    assert fmt == "jsonl"
    streamed = collect(_streamed("dump.jsonl", data))
    assert streamed.articles == parsed.articles
    assert [(type(f.error), str(f.error), f.raw) for f in streamed.failures] == [
        (type(f.error), str(f.error), f.raw) for f in parsed.failures
    ]


def test_a_record_names_a_format_that_reads_records() -> None:
    record = RawRecord("x.csv", "html", 0, 1, b"<p>x</p>", Timestamp(0), None)
    with pytest.raises(UnreadableDocument, match="no input format reads 'html' records"):
        iter_record(record)


# ==========================================================================
# The parse step itself, called as a generator
# ==========================================================================


def _run(element: Any, max_entries: int = 5000) -> tuple[list[Any], list[Any], list[Any]]:
    """``_ParseDocument`` on one element outside a pipeline: articles, dead letters, feed outcomes."""
    outputs = list(_ParseDocument("run-pure", max_entries).process(element))
    tagged = [o for o in outputs if isinstance(o, TaggedOutput)]
    return (
        [o for o in outputs if not isinstance(o, TaggedOutput)],
        [o.value for o in tagged if o.tag == DEAD_LETTER],
        [o.value for o in tagged if o.tag == OUTCOMES],
    )


def test_a_feed_over_the_entry_cap_keeps_the_first_entries_and_one_dead_letter() -> None:
    document = seed("feeds/rss2_newsroom.xml")
    articles, dead, outcomes = _run(document, max_entries=3)
    assert len(articles) == 3 and outcomes == []
    assert [(d.error_type, d.raw_bytes) for d in dead] == [("TooManyEntries", document.payload)]
    assert dead[0].message.startswith("8 entries, over --max-entries-per-feed 3")


def test_a_local_record_dump_is_not_capped() -> None:
    articles, dead, _ = _run(seed("articles/batch_articles.json"), max_entries=1)
    assert len(articles) == 2 and [d.error_type for d in dead] == ["EmptyArticle"]


def test_a_page_where_a_feed_was_expected_is_a_dead_letter_and_an_outcome() -> None:
    page = (SEEDS / "articles/page.html").read_bytes()
    fetched = doc("https://x.example/feed", page, "http", "text/html; charset=utf-8")
    articles, dead, outcomes = _run(fetched)
    assert articles == []
    assert [(d.stage, d.error_type, d.message) for d in dead] == [
        ("parse", "FeedError", "expected a feed, got an HTML page (Content-Type: text/html; charset=utf-8)")
    ]
    assert outcomes == [FeedOutcome("https://x.example/feed", np.int32(0), "FeedError", dead[0].message)]


def test_a_fetched_feed_gives_its_outcome() -> None:
    feed = (SEEDS / "feeds/atom_wire.atom").read_bytes()
    articles, dead, outcomes = _run(doc("https://x.example/atom", feed, "http"))
    assert len(articles) == 2 and dead == []
    assert outcomes == [FeedOutcome("https://x.example/atom", np.int32(2), None, None)]
    assert {a.source_type for a in articles} == {"feed"}


def test_a_record_of_a_streamed_file_is_parsed_on_its_own() -> None:
    good = RawRecord("big.jsonl", "jsonl", 5, 42, b'{"title": "T", "text": "x"}', Timestamp(0), None)
    bad = good._replace(payload=b'{"title": ', ordinal=6, position=43)
    articles, dead, outcomes = _run(good)
    assert [(a.title, a.source, a.source_type, a.raw) for a in articles] == [
        ("T", "big.jsonl", "file", '{"title": "T", "text": "x"}')
    ]
    assert dead == [] and outcomes == []
    articles, dead, _ = _run(bad)
    assert articles == [] and [(d.stage, d.source, d.raw_text) for d in dead] == [("parse", "big.jsonl", '{"title": ')]
    assert dead[0].message.startswith("line 43: invalid JSON")


def test_parse_functions_take_bytes_and_a_path(tmp_path: Path) -> None:
    """The format comes from the path's extension when the content leaves it open."""
    payload = b"<div><p>Short page.</p></div>"
    assert parse_document(doc(str(tmp_path / "a.html"), payload))[0] == "html"
    assert parse_document(doc(str(tmp_path / "a.txt"), payload))[0] == "text"

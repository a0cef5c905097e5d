"""Parsing hostile and damaged documents: nothing read is lost, nothing half-read becomes an article.

Each test here is a defect of issue 11 seen on real input: JSON Lines split
inside records, XHTML pages refused, one unstorable character costing a whole
feed, control characters and deep nesting emptying a body without a trace,
cut-off documents read as if whole, BOM-less UTF-16/32 XML called binary, and
a large JSON dump cut at the per-feed cap. They run the real ``ParseDocuments``
on Beam (and, for text, the pure functions under it).
"""

from __future__ import annotations

import base64
import gzip
import json
import pickle
import tempfile
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from support import ROOT, SEEDS, counters, document, new_pipeline

from schemas import RawDocument
from transforms.errors import DEAD_LETTER
from transforms.parse import ParseDocuments, parse_document
from transforms.text import binary_kind, decode_bytes, html_to_text, normalise_text

ARTICLE_PAGES = ROOT.parent / "shared" / "corpora" / "article_pages" / "html"


def _doc(source: str, payload: bytes, source_type: str = "file") -> RawDocument:
    return document(SEEDS, source=source, payload=payload)._replace(source_type=source_type)


def _written(directory: Path, name: str) -> list[Any]:
    return [
        pickle.loads(base64.b64decode(line))
        for path in sorted(directory.glob(f"{name}*"))
        for line in path.read_text().split()
    ]


def _run(documents: list[RawDocument], max_entries: int = 5000) -> tuple[list[Any], list[Any], dict[str, int]]:
    """Parses ``documents`` on Beam; the articles and dead letters it wrote out, and the counters."""
    with tempfile.TemporaryDirectory(prefix="parse-hostile-") as folder:
        directory = Path(folder)
        pipeline = new_pipeline()
        parsed = (
            pipeline
            | "Documents" >> beam.Create(documents)
            | "ParseDocuments" >> ParseDocuments("run-hostile", max_entries)
        )
        for name, outputs in (("articles", parsed["articles"]), ("dead", parsed[DEAD_LETTER])):
            (
                outputs
                | f"Encode{name}" >> beam.Map(lambda e: base64.b64encode(pickle.dumps(e)).decode("ascii"))
                | f"Write{name}" >> beam.io.WriteToText(str(directory / name))
            )
        result = pipeline.run()
        result.wait_until_finish()
        return _written(directory, "articles"), _written(directory, "dead"), dict(counters(result))


def _rss(*items: str, close: bool = True) -> bytes:
    head = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Hostile</title>'
        "<link>https://hostile.example/</link><description>d</description>"
    )
    return (head + "".join(items) + ("</channel></rss>" if close else "")).encode("utf-8")


def _item(n: int, description: str = "", title: str = "") -> str:
    return (
        f"<item><title>{title or f'Story number {n}'}</title><link>https://hostile.example/{n}</link>"
        f"<guid>story-{n}</guid><description>{description or f'The body of story {n}, in full.'}</description></item>"
    )


# --------------------------------------------------------------------------
# Item 3: JSON Lines are separated by "\n" only
# --------------------------------------------------------------------------


@pytest.mark.parametrize("separator", ["\u0085", "\u2028", "\u2029"])  # JSON escapes the C0 separators
@pytest.mark.slow
def test_json_lines_with_unicode_line_separators_inside_strings_stay_whole(separator: str) -> None:
    records = [
        {"title": f"First{separator}story", "text": f"One paragraph{separator}and the next."},
        {"title": "Second story", "text": "Plain."},
    ]
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    articles, dead, values = _run([_doc("dump/records.jsonl", payload)])
    assert dead == []
    assert sorted(a.title for a in articles) == sorted(r["title"] for r in records)
    assert values["read"] == 2 and values["articles_parsed"] == 2


@pytest.mark.slow
def test_json_lines_tolerate_crlf_and_blank_lines() -> None:
    payload = b'{"title": "A", "text": "x"}\r\n\r\n{"title": "B", "text": "y"}\r\n'
    articles, dead, _ = _run([_doc("dump/crlf.jsonl", payload)])
    assert dead == [] and sorted(a.title for a in articles) == ["A", "B"]
    assert sorted(a.raw for a in articles) == ['{"title": "A", "text": "x"}', '{"title": "B", "text": "y"}']


@pytest.mark.slow
def test_json_lines_in_a_json_file_with_a_separator_inside_a_string() -> None:
    """A .json file holding JSON Lines (read line by line) must not split at U+2028 either."""
    payload = '{"title": "A\u2028B", "text": "x"}\n{"title": "C", "text": "y"}\n'.encode()
    articles, dead, values = _run([_doc("dump/records.json", payload)])
    assert dead == [] and sorted(a.title for a in articles) == ["A\u2028B", "C"]
    assert values["read"] == 2


# --------------------------------------------------------------------------
# Item 5: XHTML pages (an XML declaration before <html>)
# --------------------------------------------------------------------------

XHTML = (
    '<?xml version="1.0" encoding="{encoding}"?>\n'
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
    '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Zürich opens its new library</title>'
    '<meta name="author" content="Lena Graf"/></head><body><article><h1>Zürich opens its new library</h1>'
    "<p>The city’s new library opened on Monday with 40,000 books.</p></article></body></html>"
)


@pytest.mark.parametrize("encoding", ["utf-8", "UTF-8", "iso-8859-1", "windows-1252"])
@pytest.mark.slow
def test_xhtml_page_with_xml_declaration_is_an_article(encoding: str) -> None:
    codec = "utf-8" if encoding.lower() == "utf-8" else "cp1252"
    payload = XHTML.format(encoding=encoding).replace("’", "'").encode(codec)
    articles, dead, _ = _run([_doc("pages/library.xhtml", payload)])
    assert dead == []
    assert [a.title for a in articles] == ["Zürich opens its new library"]
    assert "40,000 books" in articles[0].body and list(articles[0].authors) == ["Lena Graf"]


@pytest.mark.slow
def test_xhtml_inside_feed_content_keeps_its_text() -> None:
    """A feed whose HTML content carries its own XML declaration: lxml gets bytes, the text is kept."""
    content = '<![CDATA[<?xml version="1.0" encoding="utf-8"?><div><p>Text after a declaration.</p></div>]]>'
    articles, dead, _ = _run([_doc("feeds/xhtml-content.xml", _rss(_item(1, description=content)))])
    assert dead == [] and len(articles) == 1
    assert normalise_text(html_to_text(articles[0].body)) == "Text after a declaration."


@pytest.mark.skipif(not ARTICLE_PAGES.exists(), reason="../shared/corpora/article_pages is absent")
@pytest.mark.slow
def test_every_real_xhtml_page_of_the_corpus_is_an_article() -> None:
    pages = []
    for path in sorted(ARTICLE_PAGES.glob("*.html.gz")):
        data = gzip.decompress(path.read_bytes())
        if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml"):
            pages.append(_doc(path.name, data))
    assert len(pages) >= 7  # the pages that were dead-lettered before
    articles, dead, _ = _run(pages)
    assert [(d.source, d.message) for d in dead] == []
    assert len(articles) == len(pages)
    assert all(len(normalise_text(html_to_text(a.body))) > 200 for a in articles)


# --------------------------------------------------------------------------
# Item 11: what cannot be stored is replaced and counted, never fatal
# --------------------------------------------------------------------------


@pytest.mark.slow
def test_character_reference_to_a_surrogate_costs_no_entry() -> None:
    feed = _rss(_item(1, title="Bad &#xD800; reference", description="Body &#xDFFF; one."), _item(2), _item(3))
    articles, dead, values = _run([_doc("feeds/surrogate-ref.xml", feed)])
    assert dead == []
    titles = sorted(a.title for a in articles)
    assert titles == ["Bad \ufffd reference", "Story number 2", "Story number 3"]
    bad = next(a for a in articles if a.title.startswith("Bad"))
    assert bad.body == "Body \ufffd one."
    assert {r.kind: int(r.count) for r in bad.encoding.repairs} == {"invalid_unicode:char_ref": 2}
    assert values["repairs.invalid_unicode:char_ref"] == 2


@pytest.mark.parametrize("reference", ["&#0;", "&#x110000;", "&#99999999999999999999;", "&#xFFFE;"])
@pytest.mark.slow
def test_references_no_text_can_hold_become_replacement_characters(reference: str) -> None:
    feed = _rss(_item(1, title=f"Odd {reference} title"), _item(2))
    articles, dead, _ = _run([_doc("feeds/odd-ref.xml", feed)])
    assert dead == [] and sorted(a.title for a in articles) == ["Odd \ufffd title", "Story number 2"]


@pytest.mark.slow
def test_lone_surrogates_in_any_json_field_are_replaced_and_counted() -> None:
    record = (
        '{"title": "T \\ud800 x", "text": "Body \\udfff.", "url": "https://s.example/\\ud800", '
        '"author": "A \\ud83d", "tags": ["c\\udc00"], "id": "g\\ud800", "published": "2024\\ud800"}'
    )
    payload = f'[{record}, {{"title": "Clean", "text": "Fine."}}]'.encode()
    articles, dead, values = _run([_doc("dump/surrogates.json", payload)])
    assert dead == [] and len(articles) == 2
    bad = next(a for a in articles if a.title != "Clean")
    assert (bad.title, bad.body, bad.url, bad.guid, bad.published_raw) == (
        "T \ufffd x",
        "Body \ufffd.",
        "https://s.example/\ufffd",
        "g\ufffd",
        "2024\ufffd",
    )
    assert list(bad.authors) == ["A \ufffd"] and list(bad.categories) == ["c\ufffd"]
    for article in articles:  # every string is storable UTF-8
        for value in (article.title, article.body, article.url or "", article.raw, *article.authors):
            value.encode("utf-8")
    assert {r.kind: int(r.count) for r in bad.encoding.repairs} == {"invalid_unicode:surrogate": 7}
    assert values["repairs.invalid_unicode:surrogate"] == 7


def test_surrogate_pair_split_over_two_escapes_is_one_character() -> None:
    _, parsed = parse_document(_doc("dump/pair.json", b'{"title": "Smile \\ud83d\\ude00", "text": "x"}'))
    assert parsed.articles[0].title == "Smile \U0001f600" and list(parsed.articles[0].encoding.repairs) == []


@pytest.mark.slow
def test_dead_lettered_record_with_a_lone_surrogate_keeps_a_storable_payload() -> None:
    payload = b'["not an object \\ud800", {"title": "Fine", "text": "x"}]'
    articles, dead, _ = _run([_doc("dump/string-record.json", payload)])
    assert [a.title for a in articles] == ["Fine"]
    assert len(dead) == 1 and dead[0].error_type == "UnreadableDocument"
    dead[0].raw_text.encode("utf-8")  # storable: the record's JSON as found (the escape is ASCII)
    assert dead[0].raw_text == '"not an object \\ud800"'


# --------------------------------------------------------------------------
# Item 12: bodies never emptied without a trace; cut-off documents are dead letters
# --------------------------------------------------------------------------


@pytest.mark.parametrize("control", ["\x07", "\x0c", "\x1b", "\x00", "\x01", "\x7f"])
@pytest.mark.slow
def test_one_control_character_in_a_plain_text_description_keeps_the_body(control: str) -> None:
    feed = _rss(_item(1, description=f"A plain-text body with one{control} control character in it."))
    articles, dead, values = _run([_doc("feeds/control.xml", feed)])
    assert dead == [] and len(articles) == 1
    text = normalise_text(html_to_text(articles[0].body) if articles[0].body_is_html else articles[0].body)
    assert text.startswith("A plain-text body with one") and text.endswith("control character in it.")
    if control not in "\x7f":  # DEL is allowed in XML; the others are removed here and counted
        assert values["repairs.control_chars"] == 1


@pytest.mark.parametrize("control", ["\x07", "\x0c", "\x1b"])
def test_html_to_text_keeps_text_with_a_control_character(control: str) -> None:
    text = normalise_text(html_to_text(f"Plain text with a{control}control character, no tags."))
    assert "Plain text with a" in text and "control character, no tags." in text


@pytest.mark.parametrize("depth", [255, 300, 1000, 2100, 5000])
def test_deeply_nested_html_keeps_its_text(depth: int) -> None:
    markup = "<p>Before.</p>" + "<div>" * depth + "Deep text." + "</div>" * depth + "<p>After.</p>"
    assert normalise_text(html_to_text(markup)) == "Before.\n\nDeep text.\n\nAfter."


@pytest.mark.slow
def test_deeply_nested_html_page_keeps_its_body() -> None:
    page = (
        "<html><head><title>Nested page</title></head><body>"
        + "<div>" * 3000
        + "<p>The whole story, however deep it sits.</p>"
        + "</div>" * 3000
        + "</body></html>"
    ).encode()
    articles, dead, _ = _run([_doc("pages/nested.html", page)])
    assert dead == [] and len(articles) == 1
    body = articles[0].body if not articles[0].body_is_html else html_to_text(articles[0].body)
    assert "The whole story, however deep it sits." in body


FULL = _rss(_item(1), _item(2), _item(3))


@pytest.mark.parametrize(
    "cut",
    [
        FULL.index(b"<item><title>Story number 3") + 20,  # inside the third title
        FULL.index(b"<link>https://hostile.example/3") + 10,  # inside its link
        FULL.index(b"</description></item></channel>") + 5,  # inside its last end tag
        FULL.index(b"The body of story 3") + 4,  # inside its description
    ],
)
@pytest.mark.slow
def test_feed_cut_off_inside_an_entry_keeps_complete_entries_and_dead_letters_the_rest(cut: int) -> None:
    articles, dead, values = _run([_doc("feeds/cut.xml", FULL[:cut])])
    assert sorted(a.guid for a in articles) == ["story-1", "story-2"]
    assert all(a.url and a.body for a in articles)
    assert [(d.error_type, d.raw_bytes) for d in dead] == [("TruncatedDocument", FULL[:cut])]
    assert "2 complete entries" in dead[0].message
    assert values["read"] == 3  # two articles and the cut-off rest


@pytest.mark.slow
def test_feed_cut_off_between_entries_is_still_a_dead_letter() -> None:
    cut = FULL.index(b"</channel>")
    articles, dead, _ = _run([_doc("feeds/cut-between.xml", FULL[:cut])])
    assert sorted(a.guid for a in articles) == ["story-1", "story-2", "story-3"]
    assert [d.error_type for d in dead] == ["TruncatedDocument"]


@pytest.mark.slow
def test_feed_cut_off_before_its_first_entry_is_one_dead_letter() -> None:
    cut = FULL.index(b"<link>https://hostile.example/1") + 12
    articles, dead, _ = _run([_doc("feeds/cut-early.xml", FULL[:cut])])
    assert articles == [] and [d.error_type for d in dead] == ["TruncatedDocument"]


@pytest.mark.slow
def test_atom_feed_cut_off_inside_an_entry() -> None:
    atom = (
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
        b"<id>urn:a</id><updated>2024-01-01T00:00:00Z</updated>"
        b'<entry><title>Whole</title><id>urn:a:1</id><link href="https://a.example/1"/>'
        b"<updated>2024-01-01T00:00:00Z</updated><summary>Complete entry.</summary></entry>"
        b'<entry><title>Half</title><id>urn:a:2</id><link href="https://a.exa'
    )
    articles, dead, _ = _run([_doc("feeds/cut.atom", atom)])
    assert [a.title for a in articles] == ["Whole"] and [d.error_type for d in dead] == ["TruncatedDocument"]


@pytest.mark.slow
def test_ill_formed_but_complete_feed_is_not_called_truncated() -> None:
    """Unescaped HTML and ampersands make a feed ill-formed, not cut off: every entry is kept."""
    feed = _rss(_item(1, description="Shops & stalls, <b>bold and never closed."), _item(2, description="x<br>y"))
    articles, dead, _ = _run([_doc("feeds/illformed.xml", feed)])
    assert dead == [] and len(articles) == 2


@pytest.mark.parametrize(
    ("payload", "kept", "error"),
    [
        (
            b'[{"title": "A", "text": "x"}, {"title": "B", "text": "y"}, {"title": "C", "te',
            ["A", "B"],
            "TruncatedDocument",
        ),
        (b'[{"title": "A", "text": "x"}, {"title": "B", "text": "y"}', ["A", "B"], "TruncatedDocument"),
        (
            b'[\n  {"title": "A", "text": "x"},\n  {"title": "B", "text": "y"},\n  {"tit',
            ["A", "B"],
            "TruncatedDocument",
        ),
        (b'{"articles": [{"title": "A", "text": "x"}, {"title": "B", "te', [], "TruncatedDocument"),
        (b'[{"title": "A", "text": "x"} {"title": "B", "text": "y"}]', ["A"], "UnreadableDocument"),
    ],
)
@pytest.mark.slow
def test_json_document_that_breaks_off_keeps_the_records_before_the_break(
    payload: bytes, kept: list[str], error: str
) -> None:
    articles, dead, values = _run([_doc("dump/broken.json", payload)])
    assert sorted(a.title for a in articles) == kept
    assert [(d.error_type, d.raw_bytes) for d in dead] == [(error, payload)]
    assert f"{len(kept)} records" in dead[0].message or (len(kept) == 1 and "record before" in dead[0].message)
    assert values["read"] == len(kept) + 1


# --------------------------------------------------------------------------
# Item 18: BOM-less UTF-16/32 XML; large record dumps are not capped
# --------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("declared", [True, False])
@pytest.mark.slow
def test_utf16_and_utf32_xml_without_bom_is_read(codec: str, declared: bool) -> None:
    feed = _rss(_item(1, title="Zürich café"), _item(2)).decode("utf-8")
    if declared:
        feed = feed.replace('encoding="utf-8"', f'encoding="{codec[:6].upper()}"')
    else:
        feed = feed.split("?>", 1)[1]
    payload = feed.encode(codec)
    assert binary_kind(payload) is None
    decoded = decode_bytes(payload)
    assert (decoded.text, decoded.codec) == (feed, codec)
    articles, dead, _ = _run([_doc("feeds/wide.xml", payload)])
    assert dead == [] and sorted(a.title for a in articles) == ["Story number 2", "Zürich café"]
    assert {a.encoding.codec for a in articles} == {codec}


def test_binary_with_zero_bytes_is_still_binary() -> None:
    assert binary_kind(b"\x00\x01\x02\x03" * 100) == "binary data"
    assert binary_kind(b"\x00<\x00\x00\x01" * 100) == "binary data"


@pytest.fixture(scope="module")
def many_records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dump") / "many.json"
    path.write_text(json.dumps([{"title": f"Record {n}", "text": f"Body {n}."} for n in range(20_000)]))
    return path


@pytest.mark.slow
def test_every_record_of_a_large_json_file_is_parsed_and_counted(many_records: Path) -> None:
    """20,000 records, four times the per-feed cap: a local record dump is not a feed and is not cut."""
    articles, dead, values = _run([document(many_records)], max_entries=5000)
    assert dead == [] and len(articles) == 20_000
    assert len({a.title for a in articles}) == 20_000
    assert values["read"] == values["articles_parsed"] == 20_000
    assert values.get("documents_capped", 0) == 0


@pytest.mark.slow
def test_feed_over_the_cap_is_cut_and_the_cut_is_counted() -> None:
    feed = _rss(*(_item(n) for n in range(1, 13)))
    articles, dead, values = _run([_doc("feeds/long.xml", feed)], max_entries=5)
    assert len(articles) == 5
    assert [(d.error_type, d.raw_bytes) for d in dead] == [("TooManyEntries", feed)]
    assert values["documents_capped"] == 1 and values["entries_capped"] == 7
    assert values["read"] == 6  # five articles and the one dead letter holding the rest


@pytest.mark.slow
def test_json_feed_fetched_over_http_is_a_feed_and_is_capped() -> None:
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "items": [{"id": str(n), "title": f"Item {n}", "content_text": "x"} for n in range(8)],
    }
    payload = json.dumps(feed).encode()
    articles, dead, values = _run([_doc("http://127.0.0.1:1/feed.json", payload, "http")], max_entries=3)
    assert len(articles) == 3 and [d.error_type for d in dead] == ["TooManyEntries"]
    assert values["documents_capped"] == 1 and values["entries_capped"] == 5

"""The pure functions under ``ParseDocuments``: incremental JSON, cut-off XML, characters XML forbids.

The incremental JSON reader replaced ``json.loads`` plus a search of the
loaded value for the records; it must find exactly the records that search
found, on any shape of document, which is checked against that rule written
out plainly here (``records_by_loading``) on generated documents.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import pytest
from apache_beam.utils.timestamp import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import RawDocument
from transforms.formats.base import Failure
from transforms.formats.feed import xml_safe, xml_truncation
from transforms.formats.json_document import JsonCursor
from transforms.formats.record_fields import FIELDS
from transforms.parse import is_capped, iter_document, parse_document


def _doc(source: str, payload: bytes, source_type: str = "file") -> RawDocument:
    return RawDocument(source, source_type, payload, Timestamp.of(time.time()), None, None)


# --------------------------------------------------------------------------
# JSON, one record at a time
# --------------------------------------------------------------------------

# The field names are the parser's own (data, one list); the rule below is written out apart.
_TITLE_KEYS = FIELDS["title"]
_BODY_KEYS = FIELDS["body"]
_URL_KEYS = FIELDS["url"]
_CONTAINERS = ("articles", "items", "entries", "results", "data", "docs", "documents", "stories", "response", "hits")


def _has_article_field(value: Mapping[str, Any]) -> bool:
    return any(value.get(k) not in (None, "", []) for k in (*_TITLE_KEYS, *_BODY_KEYS, *_URL_KEYS))


def records_by_loading(value: Any, depth: int = 0) -> list[Any]:
    """The records of a whole loaded JSON value, by the rule the incremental reader must follow."""
    if isinstance(value, list):
        return value
    if not isinstance(value, Mapping) or depth >= 4:
        return [value]
    version = value.get("version")
    if isinstance(version, str) and "jsonfeed.org/version/" in version:
        items = value.get("items")
        return list(items) if isinstance(items, list) else []
    if _has_article_field(value):
        return [value]
    for key in _CONTAINERS:
        inner = value.get(key)
        if isinstance(inner, list):
            return inner
        if isinstance(inner, Mapping):
            records = records_by_loading(inner, depth + 1)
            if records != [inner]:
                return records
    return [value]


def _records_streamed(text: str) -> list[Any]:
    """Every record the incremental reader yields, as its JSON (articles and failures alike)."""
    _, outcomes = iter_document(_doc("gen/doc.json", text.encode("utf-8")))
    found = []
    for outcome in outcomes:
        raw = outcome.raw
        assert raw is not None, outcome  # no document-level failure on valid JSON
        found.append(json.loads(raw))
    return found


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=4))
_RECORD = st.dictionaries(
    st.sampled_from(["title", "text", "url", "id", "author", "tags", "other"]),
    _SCALARS | st.lists(_SCALARS, max_size=2),
    max_size=4,
)


def _wrapped(children: Any) -> Any:
    keys = st.sampled_from([*_CONTAINERS, "version", "status", "meta", "title"])
    return st.dictionaries(keys, children, max_size=4)


_DOCUMENTS = st.recursive(
    st.lists(_RECORD | _SCALARS, max_size=4) | _RECORD,
    lambda inner: (
        _wrapped(inner | st.lists(_RECORD, max_size=3) | _SCALARS)
        | st.fixed_dictionaries(
            {"version": st.just("https://jsonfeed.org/version/1.1"), "items": st.lists(_RECORD, max_size=3)}
        )
    ),
    max_leaves=12,
)


@given(_DOCUMENTS, st.sampled_from([None, 2]))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_incremental_json_finds_exactly_the_records_loading_finds(value: Any, indent: Any) -> None:
    text = json.dumps(value, indent=indent)
    expected = records_by_loading(value)
    if expected == [] and isinstance(value, list):
        return
    assert _records_streamed(text) == expected


def test_json_cursor_walks_an_array_and_reports_its_end() -> None:
    text = ' [ {"a": 1} ,2, "x" , [3] ]  tail'
    cursor = JsonCursor(text)
    found = [(value, text[start:end]) for value, start, end in cursor.elements(1)]
    assert found == [({"a": 1}, '{"a": 1}'), (2, "2"), ("x", '"x"'), ([3], "[3]")]
    assert text[cursor.end :] == "  tail"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2", "Expecting ',' delimiter"),
        ("[1 2]", "Expecting ',' delimiter"),
        ("[1,]", "Expecting value"),
        ('["a', "Unterminated"),
    ],
)
def test_json_cursor_raises_json_errors_with_their_position(text: str, message: str) -> None:
    cursor = JsonCursor(text)
    with pytest.raises(json.JSONDecodeError, match=message):
        list(cursor.elements(0))


def test_json_wrapper_arrays_that_are_not_records_are_skipped() -> None:
    payload = json.dumps({"meta": [[1, 2], {"x": 1}], "status": "ok", "data": {"items": [{"title": "T", "text": "b"}]}})
    _, parsed = parse_document(_doc("api.json", payload.encode()))
    assert [a.title for a in parsed.articles] == ["T"] and parsed.failures == []


def test_json_lines_under_a_json_name_with_a_broken_first_line() -> None:
    payload = b'{"title": broken}\n{"title": "Second", "text": "x"}\n'
    _, parsed = parse_document(_doc("dump.json", payload))
    assert [a.title for a in parsed.articles] == ["Second"]
    assert [(type(f.error).__name__, f.raw) for f in parsed.failures] == [("UnreadableDocument", '{"title": broken}')]


# --------------------------------------------------------------------------
# XML: characters it forbids, documents cut off
# --------------------------------------------------------------------------


def test_xml_safe_leaves_valid_references_and_marks_the_rest() -> None:
    text = "<t>&#233; &#x2019; &#9; &#xD800; &#0; &#7; &#12; a\x07b</t>"
    safe, marked = xml_safe(text)
    assert marked and "&#233; &#x2019; &#9;" in safe
    assert "&#xD800;" not in safe and "&#0;" not in safe and "&#7;" not in safe and "\x07" not in safe
    assert xml_safe("<t>clean &#8217;</t>") == ("<t>clean &#8217;</t>", False)


@pytest.mark.parametrize(
    ("text", "complete", "open_elements"),
    [
        ("<rss><channel><item>a</item><item>b", 1, ["rss", "channel", "item"]),
        ("<rss><channel><item>a</item><item>b</item>", 2, ["rss", "channel"]),
        ("<feed><entry><title>x</title></entry><entry><title>y</ti", 1, ["feed", "entry", "title"]),
        ("<rdf:RDF><item>a</item><item rdf:about='x", 1, ["rdf:RDF", "item"]),
        ("<rss><channel><item><description><![CDATA[<p>cut", 0, ["rss", "channel", "item", "description"]),
        ("<rss><channel><item/><item>x</item><!-- cut", 2, ["rss", "channel"]),
    ],
)
def test_xml_truncation_finds_the_cut_and_the_complete_entries(
    text: str, complete: int, open_elements: list[str]
) -> None:
    assert xml_truncation(text) == (complete, open_elements)


@pytest.mark.parametrize(
    "text",
    [
        "<rss><channel><item>a &amp; b<br></item></channel></rss>",
        "<rss><channel><item><b>never closed</item></channel></rss>",
        "<?xml version='1.0'?><!-- c --><rss><channel/></rss>\n",
        "<rss a='x>y'><channel><item><![CDATA[</rss>]]></item></channel></rss>",
        "no markup at all",
    ],
)
def test_xml_truncation_is_none_for_complete_documents(text: str) -> None:
    assert xml_truncation(text) is None


# --------------------------------------------------------------------------
# The per-feed cap
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "source_type", "capped"),
    [
        ("feed", "file", True),
        ("feed", "http", True),
        ("json", "http", True),
        ("json", "file", False),
        ("jsonl", "file", False),
    ],
)
def test_the_cap_is_for_feeds_not_record_dumps(fmt: str, source_type: str, capped: bool) -> None:
    assert is_capped(fmt, _doc("x", b"", source_type)) is capped


def test_failure_without_raw_is_the_documents() -> None:
    _, parsed = parse_document(_doc("cut.json", b'[{"title": "A", "text": "x"}, {"ti'))
    assert [a.title for a in parsed.articles] == ["A"]
    assert len(parsed.failures) == 1 and isinstance(parsed.failures[0], Failure) and parsed.failures[0].raw is None

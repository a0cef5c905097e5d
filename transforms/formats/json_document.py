"""JSON documents: one article, an array of them, or an API's wrapping of one, read one record at a time.

A dump of a million records is never loaded whole: ``JsonCursor`` walks the
text with the standard library's decoder, one value at a time, and an array
that holds no records is skipped without being built.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator, Mapping, NamedTuple, Optional, Union

from schemas import RawDocument
from transforms.errors import TruncatedDocument, UnreadableDocument
from transforms.formats.base import Failure, Format, Match, Outcome, Sample
from transforms.formats.json_lines import parse_jsonl, read_json_lines
from transforms.formats.record_fields import FIELDS, find_field, record_outcome
from transforms.text import Decoded

JSON_EXTENSIONS = (".json",)


def recognise_json(sample: Sample, named: bool) -> Optional[Match]:
    """``{`` or ``[`` first is JSON unless a name says more; markup is JSON only by name."""
    if sample.head.startswith(("{", "[")):
        return Match.NAMED if named else Match.FAMILY
    if sample.head.startswith("<"):
        return Match.NAMED if named else None
    return None


_CONTAINER_KEYS = (
    "articles",
    "items",
    "entries",
    "results",
    "data",
    "docs",
    "documents",
    "stories",
    "response",
    "hits",
)
#: Keys whose values decide whether an object is an article itself (``find_field`` reads them).
_ARTICLE_KEYS = frozenset(key for name in ("title", "body", "url") for key in FIELDS[name])
_MAX_WRAPPING = 4  # levels of API wrapping looked into for the records
_JSON_SPACE_RE = re.compile(r"[ \t\n\r]*")
_JSON_SEPARATOR_RE = re.compile(r"[ \t\n\r]*(?:,[ \t\n\r]*|(\]))")


class _ArrayAt(NamedTuple):
    """An array inside a JSON document, by position: skipped over, never held."""

    start: int


class _ObjectAt(NamedTuple):
    """An object under a container key: the members that decide where its records are."""

    start: int
    members: dict[str, Any]


class _Self:
    """The object is one record itself."""


_SELF = _Self()


class JsonCursor:
    """Reads a JSON text one value at a time, with the standard library's own decoder.

    ``json.loads`` of a dump of a million records builds all of them before
    the first can be used; ``raw_decode`` at a position builds one value and
    says where it ended, so an array is walked element by element and an
    array that holds no records is skipped without ever being held. Errors
    are ``json.JSONDecodeError`` with the position, as ``json.loads`` raises.
    (Measured against ijson's C backend for this: see ``bench/json_memory_bench.py``.)
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._decode = json.JSONDecoder().raw_decode
        self.end = 0  # past the ']' of the last array ``elements`` finished

    def space(self, pos: int) -> int:
        match = _JSON_SPACE_RE.match(self.text, pos)
        return match.end() if match else pos

    def value(self, pos: int) -> tuple[Any, int]:
        return self._decode(self.text, pos)

    def _error(self, message: str, pos: int) -> json.JSONDecodeError:
        return json.JSONDecodeError(message, self.text, pos)

    def elements(self, pos: int) -> Iterator[tuple[Any, int, int]]:
        """Each element of the array at ``pos`` as (value, start, end); then ``self.end`` is past its ``]``."""
        text = self.text
        decode = self._decode
        separator = _JSON_SEPARATOR_RE.match
        pos = self.space(pos + 1)
        if text.startswith("]", pos):
            self.end = pos + 1
            return
        while True:
            value, end = decode(text, pos)
            yield value, pos, end
            found = separator(text, end)
            if found is None:
                raise self._error("Expecting ',' delimiter", self.space(end))
            pos = found.end()
            if found.group(1) == "]":
                self.end = pos
                return

    def skip_array(self, pos: int) -> int:
        for _ in self.elements(pos):
            pass
        return self.end

    def members(self, pos: int, depth: int) -> tuple[dict[str, Any], int]:
        """What decides where the records of the object at ``pos`` are, and the position past it.

        Article fields and scalars are decoded; arrays are skipped and kept
        as their position; an object under a container key is read the same
        way, a few levels deep; any other value is decoded and kept.
        """
        text = self.text
        found: dict[str, Any] = {}
        pos = self.space(pos + 1)
        if text.startswith("}", pos):
            return found, pos + 1
        while True:
            if not text.startswith('"', pos):
                raise self._error("Expecting property name enclosed in double quotes", pos)
            key, pos = self._decode(text, pos)
            pos = self.space(pos)
            if not text.startswith(":", pos):
                raise self._error("Expecting ':' delimiter", pos)
            pos = self.space(pos + 1)
            value: Any
            if text.startswith("[", pos) and key not in _ARTICLE_KEYS:
                value, pos = _ArrayAt(pos), self.skip_array(pos)
            elif text.startswith("{", pos) and key in _CONTAINER_KEYS and depth + 1 < _MAX_WRAPPING:
                start = pos
                inner, pos = self.members(pos, depth + 1)
                value = _ObjectAt(start, inner)
            else:
                value, pos = self._decode(text, pos)
            found[key] = value
            pos = self.space(pos)
            if text.startswith(",", pos):
                pos = self.space(pos + 1)
            elif text.startswith("}", pos):
                return found, pos + 1
            else:
                raise self._error("Expecting ',' delimiter", pos)


def is_json_feed(members: Mapping[str, Any]) -> bool:
    """Whether a top-level object is a JSON Feed (its ``version`` names jsonfeed.org): its items are feed entries."""
    version = members.get("version")
    return isinstance(version, str) and "jsonfeed.org/version/" in version


def _locate_records(members: Mapping[str, Any], depth: int = 0) -> Union[int, _Self, None]:
    """Where the records of an object are: an array's position, the object itself, or nowhere (None).

    API dumps wrap their articles: ``{"articles": [...]}``,
    ``{"status": "ok", "data": {"items": [...]}}``, Elasticsearch's
    ``{"hits": {"hits": [...]}}``. An object with article fields of its own is
    one article; otherwise the first container key holding a list (or, a few
    levels deep, an object that holds one) gives the records.
    """
    if is_json_feed(members):
        # A JSON Feed has a title and a home page of its own: its articles are its items.
        items = members.get("items")
        return items.start if isinstance(items, _ArrayAt) else None
    if any(find_field(members, name)[0] for name in ("title", "body", "url")):
        return _SELF
    for key in _CONTAINER_KEYS:
        inner = members.get(key)
        if isinstance(inner, _ArrayAt):
            return inner.start
        if isinstance(inner, _ObjectAt):
            found = _locate_records(inner.members, depth + 1)
            if found is not _SELF:
                return found
    return _SELF


def _line_column(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    return f"line {line} column {pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"


def _json_error(error: json.JSONDecodeError, records: int, document: RawDocument) -> Exception:
    """The dead letter's error for a JSON document that broke after ``records`` records."""
    text = error.doc
    before = f"the {records} records before it were read" if records != 1 else "the record before it was read"
    if error.msg.startswith("Unterminated string") or error.pos >= len(text.rstrip(" \t\n\r")):
        return TruncatedDocument(
            f"JSON document cut off at {_line_column(text, error.pos)} ({error.msg}): {before}",
            source=document.source,
        )
    return UnreadableDocument(
        f"invalid JSON at {_line_column(text, error.pos)}: {error.msg}: {before}, the rest was not",
        source=document.source,
    )


def parse_json(document: RawDocument, decoded: Decoded) -> Iterator[Outcome]:
    """A JSON object (one article), an array of them, or ``{"articles": [...]}``, one record at a time.

    A document whose first value fits on its first line and is followed by
    more is JSON Lines under a ``.json`` name, and read as such. A document
    that breaks off (cut short, or broken in the middle) keeps the records
    before the break; the rest is one dead letter with the whole document.
    """
    text = decoded.text
    cursor = JsonCursor(text)
    pos = cursor.space(1 if text.startswith("\ufeff") else 0)  # a BOM left in the text (one decoded twice)
    records = 0
    feed = False
    try:
        where: Union[int, _Self, None] = _SELF
        if text.startswith("[", pos):
            where = pos
        elif text.startswith("{", pos):
            members, end = cursor.members(pos, 0)  # a first pass that holds no records
            where = _locate_records(members)
            feed = is_json_feed(members)
        if where is _SELF:
            value, end = cursor.value(pos)
            records += 1
            yield record_outcome(value, text[pos:end], document, decoded)
        elif isinstance(where, int):
            for value, start, stop in cursor.elements(where):
                records += 1
                yield record_outcome(value, text[start:stop], document, decoded, feed)
            if where == pos:
                end = cursor.end
    except json.JSONDecodeError as error:
        first_line = text.find("\n", pos)
        if records == 0 and 0 <= error.pos < first_line and text[first_line:].strip(" \t\n\r"):
            # JSON Lines under a .json name, its first line broken: every line is read on its own.
            yield from parse_jsonl(document, decoded)
        else:
            yield Failure(_json_error(error, records, document), None)
        return
    rest = cursor.space(end)
    if rest >= len(text):
        return
    if "\n" not in text[pos:end]:
        yield from read_json_lines(document, decoded, end, 1, require_records=False)
    else:
        extra = json.JSONDecodeError("Extra data", text, rest)
        yield Failure(_json_error(extra, records, document), None)


JSON = Format(
    name="json",
    recognise=recognise_json,
    parse=parse_json,
    described="a JSON document",
    extensions=JSON_EXTENSIONS,
    feed=True,
)

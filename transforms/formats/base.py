"""What an input format is, and what its parser yields: the contract every module of this package fills.

A format is recognised from a document's content first and its file name
second (``Sample``, ``Match``), parses a document into a stream of outcomes
(an article, a failure with its own payload, or a notice to count), and may
also read a file too large to hold as a stream of records (``Streamed``).
The helpers below are the parts every parser shares: one constructor for
``RawArticle`` and the small field coercions.
"""

from __future__ import annotations

import enum
import json
import posixpath
from collections import Counter
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Iterator, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np

from schemas import ArchivedPage, EncodingInfo, RawArticle, RawDocument, RawRecord, Repair
from transforms.errors import EmptyArticle
from transforms.text import Decoded

# --------------------------------------------------------------------------
# What parsing yields
# --------------------------------------------------------------------------


class Failure(NamedTuple):
    """An entry or record that could not become an article, with its own payload.

    ``raw`` None means the failure is the document's: what it says happened
    to the rest of it (cut off, broken structure), and its dead letter carries
    the whole document's bytes.
    """

    error: Exception
    raw: Optional[str]


class Notice(NamedTuple):
    """Something a document survived that is worth counting (``counter``), neither an article nor a failure."""

    counter: str


class Skipped(NamedTuple):
    """A record read and deliberately not made into an article, under a named rule.

    Counted as read and as ``skipped.<rule>``: the run summary's counts
    reconcile with it (read = written + duplicates + dead-lettered + skipped).
    A WARC's request records, its non-HTML responses and the pages that are
    not articles are skipped, not failed.
    """

    rule: str


#: What parsing a document yields, one at a time (``ArchivedPage``: a page newsbeam archived for a feed
#: entry, handed to the full-text step on the ``ARCHIVED`` output; only WARC records yield one).
Outcome = Union[RawArticle, Failure, Notice, Skipped, ArchivedPage]
#: Output tag of ``ParseDocuments``: ``(link, ArchivedPage)`` pairs for the full-text step.
ARCHIVED = "archived"


class Parsed(NamedTuple):
    """What a document yields, collected: articles, entries that failed with their payload, and notices."""

    articles: list[RawArticle]
    failures: list[Failure]
    notices: list[str]


# --------------------------------------------------------------------------
# How a format is recognised
# --------------------------------------------------------------------------


class Match(enum.IntEnum):
    """How surely a format recognises a document; the surest wins, ties go to the registry's order."""

    #: The content is the format's alone (a surely placed root element, a signature).
    CONTENT = 4
    #: The content points this way, less surely (an XML declaration with no known root after it).
    LEANS = 3
    #: The file's extension names the format and its content allows it.
    NAMED = 2
    #: What this kind of content is when nothing says more (markup is a page, ``{`` or ``[`` is JSON).
    FAMILY = 1
    #: The last resort for anything at all.
    ANY = 0


class Sample(NamedTuple):
    """What formats are recognised by: the document's first characters, its extension, its text."""

    #: The first 4096 characters, lower-cased, after a BOM and leading whitespace.
    head: str
    #: The file name's extension, lower-cased, after a ``.gz`` ("" for a fetched document).
    ext: str
    #: The whole decoded text (only its beginning when the file is too large to hold).
    text: str


def sample_of(text: str, path: str = "") -> Sample:
    head = text[:4096].lstrip("\ufeff \t\r\n").lower()
    ext = posixpath.splitext(path.lower().removesuffix(".gz"))[1]
    return Sample(head, ext, text)


#: ``recognise(sample, named)``: how surely the format is the sample's (None: it is not);
#: ``named`` says whether the file's extension is one of the format's own.
Recogniser = Callable[[Sample, bool], Optional[Match]]
#: ``parse(document, decoded)``: the document's outcomes, one at a time; raises when it cannot be read at all.
Parser = Callable[[RawDocument, Decoded], Iterator[Outcome]]


class Piece(NamedTuple):
    """A record's bytes as split off a stream, and where it starts (the format's own terms: a line number)."""

    position: int
    payload: bytes


@dataclass(frozen=True)
class Streamed:
    """How a format reads a file too large to hold: records split off a binary stream, each parsed on its own.

    ``split(stream, limit)`` reads an open, decompressed binary stream and
    yields each record as a ``Piece`` as soon as it is read, a ``Skipped``
    record, or a ``Failure`` (raw None) for a record over ``limit`` bytes, which it skips without
    holding; it raises when the stream itself breaks. ``parse(record)`` is
    the record's outcomes, as ``Format.parse`` gives a document's.
    ``whole_when_it_fits``: a file that fits under the limit is read whole
    and parsed by ``Format.parse`` (its codec chosen from all its bytes);
    False for formats that are only ever read as records.
    """

    split: Callable[[BinaryIO, int], Iterator[Union[Piece, Failure, Skipped]]]
    parse: Callable[[RawRecord], Iterator[Outcome]]
    whole_when_it_fits: bool = True


class Broken(NamedTuple):
    """A stretch of a file read in ranges that holds no readable record: why, where, and its raw bytes."""

    error: Exception
    position: int
    raw: bytes


@dataclass(frozen=True)
class Ranged:
    """How a format's files are read in byte ranges, by several workers at once.

    ``plan(raw, size)``: the ranges ``[start, end)`` a file is read in (one
    range when it cannot be split). ``read(raw, start, end, size, limit)``:
    the records of one range, each a ``Piece`` (its position: its offset in
    the file), a ``Skipped`` record, or a ``Broken`` stretch; ranges that
    tile the file read every record exactly once.
    """

    plan: Callable[[BinaryIO, int], list[tuple[int, int]]]
    read: Callable[[BinaryIO, int, int, int, int], Iterator[Union[Piece, Skipped, Broken]]]


@dataclass(frozen=True)
class Format:
    """One input format: its name, how it is recognised, how it is parsed.

    ``name`` is what ``documents.<name>`` counts and what a ``RawRecord``
    names. ``described`` is how an error names it ("an HTML page").
    ``feed``: a feed URL may serve it (a page or plain text there is an error
    page, not news). ``capped``: ``--max-entries-per-feed`` applies to it
    wherever it comes from (anything fetched from a feed URL is capped too).
    ``streamed``: set when a file too large to hold can be read record by
    record. ``ranged``: set when a file is read in byte ranges in parallel
    (its records then parsed by ``streamed.parse``); such a file is never
    read whole. ``magic``: byte signatures that name the format before any
    decoding (a WARC's version line), for formats whose records may be binary.
    """

    name: str
    recognise: Recogniser
    parse: Parser
    described: str
    extensions: tuple[str, ...] = ()
    feed: bool = False
    capped: bool = False
    streamed: Optional[Streamed] = None
    ranged: Optional[Ranged] = None
    magic: tuple[bytes, ...] = ()


# --------------------------------------------------------------------------
# Shared by the parsers
# --------------------------------------------------------------------------


def encoding_info(decoded: Decoded) -> EncodingInfo:
    return EncodingInfo(decoded.codec, decoded.path, decoded.declared, [])


def new_article(
    document: RawDocument,
    decoded: Decoded,
    *,
    body: str,
    raw: str,
    body_is_html: bool = False,
    title: Optional[str] = None,
    subtitle: Optional[str] = None,
    url: Optional[str] = None,
    guid: Optional[str] = None,
    authors: Sequence[str] = (),
    published_raw: Optional[str] = None,
    categories: Sequence[str] = (),
    feed_url: Optional[str] = None,
    feed_link: Optional[str] = None,
    source_type: Optional[str] = None,
    text_source: str = "file",
    summary: Optional[str] = None,
) -> RawArticle:
    """A ``RawArticle`` of ``document``: what every parser fills the same way, filled here once.

    ``source_type`` is "feed" for anything fetched from a feed URL, else
    "file", unless the parser knows better (a feed entry is "feed" wherever
    the feed came from). The language is found later, by text repair.
    """
    return RawArticle(
        source_type=source_type or ("feed" if document.source_type == "http" else "file"),
        source=document.source,
        feed_url=feed_url,
        feed_link=feed_link,
        url=url,
        guid=guid,
        title=title,
        subtitle=subtitle,
        body=body,
        body_is_html=body_is_html,
        authors=list(authors),
        published_raw=published_raw,
        categories=list(categories),
        encoding=encoding_info(decoded),
        language=None,
        raw=raw,
        text_source=text_source,
        summary=summary,
    )


def with_repairs(article: RawArticle, repairs: Counter[str]) -> RawArticle:
    """``article`` with ``repairs`` added to those its ``encoding`` already lists."""
    if not repairs:
        return article
    merged = Counter({repair.kind: int(repair.count) for repair in article.encoding.repairs})
    merged.update(repairs)
    listed = [Repair(kind, np.int32(count)) for kind, count in sorted(merged.items())]
    return article._replace(encoding=article.encoding._replace(repairs=listed))


def check_not_empty(article: RawArticle) -> RawArticle:
    if not (article.title or "").strip() and not article.body.strip():
        raise EmptyArticle("record has neither a title nor any text", source=article.source)
    return article


#: The string fields of ``RawArticle`` (``authors`` and ``categories`` are lists of strings).
TEXT_FIELDS = ("source", "feed_url", "feed_link", "url", "guid", "title", "subtitle", "body", "published_raw")


def text_or_none(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value if v)
    value = str(value).strip()
    return value or None


def string_list(value: Any) -> list[str]:
    """A list of strings from a string, a list, or a list of ``{name: ...}`` objects."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    out = []
    for item in value if isinstance(value, (list, tuple)) else [value]:
        if isinstance(item, Mapping):
            item = item.get("name") or item.get("term") or item.get("label") or item.get("value")
        if item is not None and str(item).strip():
            out.append(str(item).strip())
    return out


def json_dumps(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)

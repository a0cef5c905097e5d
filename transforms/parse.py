"""Documents to ``RawArticle``s, in whichever input format they are (``transforms.formats``).

The format is recognised from content first and the file extension second.
Foreign objects stop in the format's parser: feedparser's dictionaries and
lxml trees become ``RawArticle`` records, and nothing downstream sees them.
One bad entry never costs its feed: it is dead-lettered with its own payload
and the other entries go on.

Parsing is a stream of outcomes (an article, a failure with its payload, a
notice to count), not a list: a JSON dump of a million records is decoded
one record at a time and each record leaves the parse step before the next
is read, so memory is bounded by the document's own bytes and the records in
flight. A file too large to hold arrives as ``RawRecord``s instead, one per
record, each parsed on its own by its format. Every string that enters a
record here is storable UTF-8: what cannot be stored becomes U+FFFD, counted
as a repair in the article's ``encoding`` column.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Iterator, Sequence, Union

import apache_beam as beam
import numpy as np

from schemas import ArchivedPage, FeedOutcome, RawArticle, RawDocument, RawRecord
from transforms.errors import (
    DEAD_LETTER,
    SKIPPED,
    FeedError,
    SafeDoFn,
    TooManyEntries,
    UnreadableDocument,
    count_skipped,
    counter,
)
from transforms.formats.base import (
    ARCHIVED,
    TEXT_FIELDS,
    Failure,
    Format,
    Notice,
    Outcome,
    Parsed,
    Skipped,
    with_repairs,
)
from transforms.formats.registry import FORMATS, by_name, detect_format
from transforms.text import LONE_SURROGATE, binary_kind, charset_of, decode_bytes, storable

#: Output tag of ``ParseDocuments``: one ``FeedOutcome`` per fetched document.
OUTCOMES = "outcomes"
DEFAULT_MAX_ENTRIES = 5000


def _storable_value(value: str, repairs: Counter[str]) -> str:
    if value.isascii():
        return value
    fixed, lone = storable(value)
    if lone:
        repairs[LONE_SURROGATE] += lone
    return fixed


def storable_article(article: RawArticle) -> RawArticle:
    """``article`` with every string storable as UTF-8: lone surrogates become U+FFFD, counted.

    The one place every parsed record passes, whatever its format: a lone
    surrogate (JSON's ``"\\ud800"``) in any field, a title or a category as
    much as the body, would otherwise fail the Parquet writer for the whole
    run. ``raw`` is made storable too, but not counted: it repeats the fields.
    """
    strings = [v for v in (getattr(article, name) for name in TEXT_FIELDS) if v is not None]
    try:
        "".join([*strings, *article.authors, *article.categories, article.raw]).encode("utf-8")
        return article  # the common case, checked in one pass
    except UnicodeEncodeError:
        pass
    repairs: Counter[str] = Counter()
    changes: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = getattr(article, name)
        if value is not None and not value.isascii():
            fixed = _storable_value(value, repairs)
            if fixed is not value:
                changes[name] = fixed
    for name in ("authors", "categories"):
        values = getattr(article, name)
        if not all(v.isascii() for v in values):
            changes[name] = [_storable_value(v, repairs) for v in values]
    changes["raw"] = storable(article.raw)[0]
    return with_repairs(article._replace(**changes), repairs)


def _storable_outcomes(outcomes: Iterable[Outcome]) -> Iterator[Outcome]:
    return (storable_article(o) if isinstance(o, RawArticle) else o for o in outcomes)


def iter_document(document: RawDocument, formats: Sequence[Format] = FORMATS) -> tuple[str, Iterator[Outcome]]:
    """Decode one document; its format, and what it yields, one outcome at a time.

    A document fetched from a feed URL (``source_type`` "http") must be a feed:
    the server's Content-Type charset is passed to the decoder, and an HTML
    page in its place is an error, not an article. A document that cannot be
    read at all raises (here, or from the iterator before anything is
    yielded); every article yielded has storable strings (``storable_article``).
    """
    charset = charset_of(document.content_type)
    binary = binary_kind(document.payload)
    if binary:
        raise UnreadableDocument(f"not a text document: {binary}", source=document.source)
    decoded = decode_bytes(document.payload, charset)
    fmt = detect_format(decoded.text, document.source if document.source_type != "http" else "", formats)
    if document.source_type == "http" and not fmt.feed:
        declared = f" (Content-Type: {document.content_type})" if document.content_type else ""
        raise FeedError(f"expected a feed, got {fmt.described}{declared}", source=document.source)
    return fmt.name, _storable_outcomes(fmt.parse(document, decoded))


def iter_record(record: RawRecord, formats: Sequence[Format] = FORMATS) -> Iterator[Outcome]:
    """What one record of a file read as a stream yields, parsed by the format that split it off."""
    return _record_outcomes(record, by_name(formats))


def _record_outcomes(record: RawRecord, formats: dict[str, Format]) -> Iterator[Outcome]:
    fmt = formats.get(record.format)
    if fmt is None or fmt.streamed is None:
        raise UnreadableDocument(f"no input format reads {record.format!r} records", source=record.source)
    return _storable_outcomes(fmt.streamed.parse(record))


#: The rule an archived page response is counted under: read, and its text is in the entry it was fetched for.
ARCHIVED_PAGE_RULE = "warc.archived_page"


def collect(outcomes: Iterable[Outcome]) -> Parsed:
    """Outcomes sorted into articles, failures and the counters of notices (tests, benchmarks)."""
    parsed = Parsed([], [], [])
    for outcome in outcomes:
        if isinstance(outcome, Failure):
            parsed.failures.append(outcome)
        elif isinstance(outcome, Notice):
            parsed.notices.append(outcome.counter)
        elif isinstance(outcome, Skipped):
            parsed.notices.append(f"skipped.{outcome.rule}")
        elif isinstance(outcome, ArchivedPage):
            if outcome.kind == "response":
                parsed.notices.append(f"skipped.{ARCHIVED_PAGE_RULE}")
        else:
            parsed.articles.append(outcome)
    return parsed


def parse_document(document: RawDocument, formats: Sequence[Format] = FORMATS) -> tuple[str, Parsed]:
    """``iter_document`` collected: the format, the articles, the failures and the notices (tests, benchmarks)."""
    fmt, outcomes = iter_document(document, formats)
    return fmt, collect(outcomes)


def is_capped(fmt: str, document: RawDocument, formats: Sequence[Format] = FORMATS) -> bool:
    """Whether ``--max-entries-per-feed`` applies: to feeds, not to record dumps.

    The cap bounds the work one feed can cause: an RSS/Atom/RDF document
    wherever it comes from, and anything fetched from a feed URL (a JSON
    Feed included). A local JSON or JSON Lines file is a dump of records that
    the user chose to ingest, all of them: it is read incrementally, so its
    size costs time, not memory, and is not capped.
    """
    return by_name(formats)[fmt].capped or document.source_type == "http"


def _archived(page: ArchivedPage) -> Iterator[Any]:
    """An archived page fetch to the ``ARCHIVED`` output; a response record is also counted (read and skipped)."""
    if page.kind == "response":
        yield count_skipped(ARCHIVED_PAGE_RULE)
    yield beam.pvalue.TaggedOutput(ARCHIVED, (page.link, page))


class _ParseDocument(SafeDoFn):
    """Parses one document (or one record of a file read as a stream), emitting each article or dead letter as read.

    Unlike other SafeDoFns the outputs are not collected first: a record dump
    of a million records would otherwise be held whole. A failure part-way
    (a document that breaks off) is the document's own dead letter, holding
    its bytes and saying how many entries came before it; those stay written.
    """

    stage = "parse"
    counts_read = True

    def __init__(self, run_id: str, max_entries: int = DEFAULT_MAX_ENTRIES, formats: Sequence[Format] = FORMATS):
        super().__init__(run_id)
        self.max_entries = max_entries
        self.formats = tuple(formats)
        self._by_name = by_name(self.formats)  # two formats under one name fail here, when the job is built
        self._formats = {fmt.name: counter(f"documents.{fmt.name}") for fmt in self.formats}
        self._articles = counter("articles_parsed")
        self._over_limit = counter("feeds.over_entry_limit")
        self._capped = counter("documents_capped")
        self._left_out = counter("entries_capped")

    def process(self, document: Union[RawDocument, RawRecord]) -> Iterator[Any]:  # type: ignore[override]
        if isinstance(document, RawRecord):
            yield from self._process_record(document)
            return
        entries = 0
        try:
            fmt, outcomes = iter_document(document, self.formats)
            capped = is_capped(fmt, document, self.formats)
            kept = left_out = 0
            for outcome in outcomes:
                if isinstance(outcome, Notice):
                    counter(outcome.counter).inc()
                    continue
                if isinstance(outcome, Skipped):
                    yield count_skipped(outcome.rule)
                    continue
                if isinstance(outcome, ArchivedPage):
                    yield from _archived(outcome)
                    continue
                if not entries:
                    self._formats[fmt].inc()  # read as its format: counted once something came of it
                entries += 1
                if isinstance(outcome, Failure):
                    yield self._failure(outcome, document)
                elif capped and kept >= self.max_entries:
                    left_out += 1  # still read to the end: the summary says how many were left out
                else:
                    kept += 1
                    yield self._article(outcome)
            if not entries:
                self._formats[fmt].inc()  # a feed with no entries (yet) was still read
        except Exception as error:  # noqa: BLE001 - the document (or what is left of it) is a dead letter
            if entries:
                error = UnreadableDocument(
                    f"{type(error).__name__} after {entries} entries were read: {error}", source=document.source
                )
            yield self.dead_letter(error, document)
            if document.source_type == "http":
                yield beam.pvalue.TaggedOutput(
                    OUTCOMES, FeedOutcome(document.source, np.int32(entries), type(error).__name__, str(error)[:2000])
                )
            return
        if left_out:
            # One dead letter for the overflow, holding the whole document: the
            # limit exists to bound work, so it must not become one record per
            # extra entry, and nothing is lost.
            self._over_limit.inc()
            self._capped.inc()
            self._left_out.inc(left_out)
            overflow = TooManyEntries(
                f"{kept + left_out} entries, over --max-entries-per-feed {self.max_entries}: the first "
                f"{self.max_entries} were ingested, {left_out} left in this payload",
                source=document.source,
            )
            yield self.dead_letter(overflow, document, raw_bytes=document.payload)
        if document.source_type == "http":
            yield beam.pvalue.TaggedOutput(OUTCOMES, FeedOutcome(document.source, np.int32(entries), None, None))

    def _process_record(self, record: RawRecord) -> Iterator[Any]:
        """One record of a file read as a stream: never capped (only files are streamed, and files are not)."""
        if record.ordinal == 0 and record.format in self._formats:
            self._formats[record.format].inc()  # the file's first record: the file was read in its format
        try:
            for outcome in _record_outcomes(record, self._by_name):
                if isinstance(outcome, Notice):
                    counter(outcome.counter).inc()
                elif isinstance(outcome, Skipped):
                    yield count_skipped(outcome.rule)
                elif isinstance(outcome, ArchivedPage):
                    yield from _archived(outcome)
                elif isinstance(outcome, Failure):
                    yield self._failure(outcome, record)
                else:
                    yield self._article(outcome)
        except Exception as error:  # noqa: BLE001 - the record is a dead letter, the file goes on
            yield self.dead_letter(error, record)

    def _article(self, article: RawArticle) -> RawArticle:
        for repair in article.encoding.repairs:
            counter(f"repairs.{repair.kind}").inc(int(repair.count))
        self._read_count.inc()
        self._articles.inc()
        return article

    def _failure(self, failure: Failure, document: Union[RawDocument, RawRecord]) -> beam.pvalue.TaggedOutput:
        if failure.raw is None:
            return self.dead_letter(failure.error, document, raw_bytes=document.payload)
        return self.dead_letter(failure.error, document, raw_text=storable(failure.raw)[0])


class ParseDocuments(beam.PTransform):
    """``RawDocument``s (and ``RawRecord``s) to ``RawArticle``s (main output), dead letters, and a ``FeedOutcome`` per fetched feed.

    ``formats``: the input formats to recognise (``registry.FORMATS``); the
    same list ``ReadDocuments`` was given. ``ARCHIVED``: the page fetches
    read back from newsbeam's own archives, ``(link, ArchivedPage)``, for the
    full-text step (``transforms.formats.warc``).
    """

    def __init__(self, run_id: str, max_entries: int = DEFAULT_MAX_ENTRIES, formats: Sequence[Format] = FORMATS):
        super().__init__()
        self.run_id = run_id
        self.max_entries = max_entries
        self.formats = tuple(formats)

    def expand(self, documents: beam.PCollection[Union[RawDocument, RawRecord]]) -> dict[str, beam.PCollection]:
        parsed = documents | "Parse" >> beam.ParDo(
            _ParseDocument(self.run_id, self.max_entries, self.formats)
        ).with_output_types(RawArticle).with_outputs(DEAD_LETTER, OUTCOMES, SKIPPED, ARCHIVED, main="articles")
        return {
            "articles": parsed.articles,
            DEAD_LETTER: parsed[DEAD_LETTER],
            OUTCOMES: parsed[OUTCOMES],
            SKIPPED: parsed[SKIPPED],
            ARCHIVED: parsed[ARCHIVED],
        }

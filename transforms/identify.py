"""Article identity and de-duplication, within a run or a stream and across runs.

``article_id`` is a short hash of the canonical URL; without a URL, of the feed
and the entry's guid; without either, of the normalised title and text. The
same story under two URLs is a near-duplicate (a later concern), not the same
id. De-duplication has two forms, one job (one row per id, whatever the run),
sharing the ids already written (``ReadExistingIds``), the counters and the
``duplicates`` output:

* Batch, ``Deduplicate``: one ``CoGroupByKey`` of this run's articles with
  the ids already in the output directory; the ``preference``d copy is kept.
* Streaming, ``DeduplicateContinuously``: the ids already written as a side
  input, then keyed state per id with an expiry timer; the first sighting is
  kept.

The rule that makes ids has a number (``ID_RULE``, recorded in every row as
``id_rule``). When it changes, ``ReadExistingIds`` reads the canonical URL of
every older row too and yields the id the current rule gives it beside the
stored one, so a re-run into an output written under an older rule adds no
second copy of an article.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.coders import BooleanCoder
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Duration, Timestamp

from schemas import Article
from schemas.packed import Packer
from schemas.records import ID_RULE
from transforms.errors import counter

__all__ = ["ID_RULE"]  # re-exported: the id rule is this module's, the number lives with the records

_LOG = logging.getLogger("newsbeam")

#: Where the tracking parameters live, each with the list it comes from.
TRACKING_DATA_FILE = Path(__file__).with_name("data") / "tracking_params.json"


@dataclass(frozen=True)
class TrackingRules:
    """Query parameters that track a click rather than select content (names compared without case).

    ``params`` are dropped on every host, names starting with one of
    ``prefixes`` too, ``scoped`` parameters only on their hosts (and
    subdomains). The list is data (``TRACKING_DATA_FILE``), not code.
    """

    params: frozenset[str]
    prefixes: tuple[str, ...]
    scoped: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def from_file(cls, path: Path = TRACKING_DATA_FILE) -> TrackingRules:
        rules = json.loads(path.read_text(encoding="utf-8"))["rules"]
        return cls(
            params=frozenset(r["param"].lower() for r in rules if "param" in r and "domains" not in r),
            prefixes=tuple(r["prefix"].lower() for r in rules if "prefix" in r),
            scoped=tuple((r["param"].lower(), tuple(d.lower() for d in r["domains"])) for r in rules if "domains" in r),
        )

    def is_tracking(self, name: str, host: str) -> bool:
        name = name.lower()
        if name in self.params or name.startswith(self.prefixes):
            return True
        return any(
            name == param and any(host == d or host.endswith("." + d) for d in domains)
            for param, domains in self.scoped
        )


#: The rules ``canonical_url`` applies unless given others: immutable, read once from the package data.
TRACKING_RULES = TrackingRules.from_file()
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# Unreserved characters (RFC 3986 2.3) whose escapes mean the character itself; "." stays
# escaped so that decoding never makes a "/../" segment the original did not have.
_DECODABLE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = "=&%+:/?@!$'()*,;-._~"


def _normalise_escapes(text: str) -> str:
    """RFC 3986 6.2.2: escapes of unreserved characters decoded, the others in upper case."""

    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _DECODABLE else "%" + match.group(1).upper()

    return _ESCAPE.sub(one, text)


def canonical_url(url: Optional[str], rules: TrackingRules = TRACKING_RULES) -> Optional[str]:
    """The URL an article is known by: trackers and fragment dropped, parameters sorted, case normalised.

    Scheme and host are lower-cased, default ports and the fragment removed,
    the tracking parameters of ``rules`` dropped from the query (utm_*,
    fbclid, at_medium, …; see ``TRACKING_DATA_FILE``), the remaining
    parameters sorted by name (repeats of one name keep their order, which
    may matter), escapes normalised (RFC 3986 6.2.2), an empty path written
    as ``/``. Path and parameter values keep their case: servers may treat
    them case-sensitively. Anything that is not an absolute http(s) URL
    yields None.
    """
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    hostname = parts.hostname.lower().rstrip(".")
    host = hostname
    if port and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    # Only characters that must be escaped are escaped; existing escapes
    # (%2F inside a segment means something else than /) are kept.
    path = _normalise_escapes(quote(parts.path, safe=_PATH_SAFE)) or "/"
    pairs = [
        _normalise_escapes(quote(p, safe=_QUERY_SAFE))
        for p in parts.query.split("&")
        if p and not rules.is_tracking(unquote(p.split("=", 1)[0]), hostname)
    ]
    query = "&".join(sorted(pairs, key=lambda pair: pair.split("=", 1)[0]))  # stable: repeats keep their order
    return urlunsplit((scheme, host, path, query, ""))


def domain_of(url: Optional[str]) -> Optional[str]:
    """The host of ``url`` without a leading ``www.``."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.lower().removeprefix("www.")


def _without_combining_marks(text: str) -> str:
    """``text`` less its combining marks (``unicodedata.combining`` non-zero).

    Why not one pass over every character: that cost more than the rest of
    identifying a long article. No combining mark lies below U+0300, so only
    the few distinct characters above it (quotes, dashes, accents) are looked at.
    """
    marks: dict[str, str | int | None] = {c: None for c in set(_ABOVE_LATIN.findall(text)) if unicodedata.combining(c)}
    return text.translate(str.maketrans(marks)) if marks else text


_ABOVE_LATIN = re.compile("[^\x00-\u02ff]")


def _fold(text: str) -> str:
    """Case, accents, punctuation and spacing folded away: what two copies of a text share."""
    text = _without_combining_marks(unicodedata.normalize("NFKD", text.casefold()))
    return " ".join(_WORD.findall(text))


_WORD = re.compile(r"\w+")
#: The folding ids and content hashes use, for the other concerns that compare texts (story clusters).
fold_text = _fold


def _short_hash(kind: str, value: str) -> str:
    return hashlib.blake2b(f"{kind}\x1f{value}".encode(), digest_size=10).hexdigest()


def url_id(url: Optional[str]) -> Optional[str]:
    """The ``article_id`` of an article known by ``url`` under the current rule; None if it is no usable URL."""
    canonical = canonical_url(url)
    return _short_hash("url", canonical) if canonical else None


def article_id(url: Optional[str], feed: Optional[str], guid: Optional[str], title: Optional[str], text: str) -> str:
    """The stable id (rule ``ID_RULE``): from the canonical URL, else feed + guid, else title + text."""
    by_url = url_id(url)
    if by_url:
        return by_url
    if guid and feed:
        return _short_hash("guid", f"{feed}\x1f{guid.strip()}")
    return _short_hash("text", f"{_fold(title or '')}\x1f{_fold(text)}")


def content_hash(title: Optional[str], text: str) -> str:
    """SHA-256 of the folded title and text: equal for the same content under any URL."""
    return hashlib.sha256(f"{_fold(title or '')}\n{_fold(text)}".encode()).hexdigest()


def preference(article: Article) -> tuple[Any, ...]:
    """Sort key choosing which copy of a duplicated article to keep: the fullest, then a stable tie-break."""
    return (
        article.published_at is None,
        -len(article.text),
        -len(article.authors),
        article.source,
        article.guid or "",
        article.content_hash,
    )


# --------------------------------------------------------------------------
# Transforms
# --------------------------------------------------------------------------


#: Output tag of ``ReadExistingIds(report_unreadable=True)``: ``(path, "ErrorType: message")``
#: of every file under the articles directory that could not be read.
UNREADABLE = "unreadable"


class UnreadableFile(ValueError):
    """A Parquet file under ``articles/`` that is not one newsbeam could have written (no ``article_id``)."""


def ids_in_file(parquet: pq.ParquetFile) -> tuple[list[str], list[str]]:
    """The ids an articles file stands for: its stored ``article_id``s, and for rows made by an
    older id rule, the ids the current rule gives their canonical ``url`` (where they differ).

    Only the columns needed are read: ``article_id`` and ``id_rule``, then
    ``url`` only when some row predates ``ID_RULE`` (files of schema 2 and
    older have no ``id_rule``: rule 1).
    """
    schema = parquet.schema_arrow
    if "article_id" not in schema.names or not pa.types.is_string(schema.field("article_id").type):
        raise UnreadableFile(f"no string column article_id (columns: {', '.join(schema.names) or 'none'})")
    columns = ["article_id"] + (["id_rule"] if "id_rule" in schema.names else [])
    table = parquet.read(columns=columns)
    stored = table.column("article_id").to_pylist()
    rules = table.column("id_rule").to_pylist() if "id_rule" in table.column_names else [1] * len(stored)
    ids = [i for i in stored if i is not None]
    recomputed: list[str] = []
    if all(rule == ID_RULE for rule in rules) or "url" not in schema.names:
        return ids, recomputed
    urls = parquet.read(columns=["url"]).column("url").to_pylist()
    for old_id, rule, url in zip(stored, rules, urls, strict=True):
        if rule != ID_RULE and url:
            current = url_id(url)
            if current and current != old_id:
                recomputed.append(current)
    return ids, recomputed


class _ReadIds(beam.DoFn):
    """The ids of one articles file; a file that cannot be read is named, counted and left alone.

    A damaged file (0 bytes from a full disk, cut off by a crash, not Parquet,
    or without an ``article_id`` column) must not stop every later run: it
    goes to the ``unreadable`` output and a warning names it. Its ids are not
    known to this run, so an article it holds may be written again; the file
    itself is never touched.
    """

    def __init__(self) -> None:
        self._unreadable = counter("existing_files_unreadable")
        self._recomputed = counter("existing_ids_recomputed")

    def process(self, readable: fileio.ReadableFile) -> Iterator[Any]:
        path = readable.metadata.path
        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
                ids, recomputed = ids_in_file(pq.ParquetFile(handle))
        except Exception as error:  # noqa: BLE001 - whatever is wrong with one file, the run goes on without it
            reason = f"{type(error).__name__}: {error}"
            _LOG.warning(
                "cannot read existing articles file %s (%s); left as it is, its ids are unknown to this run",
                path,
                reason,
            )
            self._unreadable.inc()
            yield beam.pvalue.TaggedOutput(UNREADABLE, (path, reason))
            return
        self._recomputed.inc(len(recomputed))
        yield from ids
        yield from recomputed


class ReadExistingIds(beam.PTransform):
    """The ``article_id``s already written under an articles directory, under every id rule they were made by.

    Returns the ids; with ``report_unreadable`` a dict of ``ids`` and
    ``unreadable`` (``(path, reason)`` per file that could not be read).
    """

    def __init__(self, articles_dir: str, report_unreadable: bool = False):
        super().__init__()
        self.pattern = articles_dir.rstrip("/") + "/**/*.parquet"
        self.report_unreadable = report_unreadable

    def expand(self, pbegin: beam.pvalue.PBegin) -> Any:
        read = (
            pbegin
            | "MatchExisting" >> fileio.MatchFiles(self.pattern, empty_match_treatment=fileio.EmptyMatchTreatment.ALLOW)
            | "OpenExisting" >> fileio.ReadMatches()
            | "ReadIds" >> beam.ParDo(_ReadIds()).with_output_types(str).with_outputs(UNREADABLE, main="ids")
        )
        if self.report_unreadable:
            return {"ids": read.ids, UNREADABLE: read[UNREADABLE]}
        return read.ids


# --------------------------------------------------------------------------
# De-duplication: once per run (batch), continuously (streaming)
# --------------------------------------------------------------------------

#: Output tag of both dedups: the source (feed or file) of every copy dropped.
DUPLICATES = "duplicates"
#: Days a stream remembers an article id after its last sighting (``--dedup-ttl-days``).
DEDUP_TTL_DAYS = 7.0


class _DuplicateCounts:
    """The counters of both dedups: every copy dropped counts under ``duplicates`` and under why.

    ``duplicates.previous_runs``: its id was already written, by a batch or a
    stream run; ``within`` (``duplicates.in_run`` or ``duplicates.in_stream``):
    another copy of this run or stream was kept.
    """

    def __init__(self, within: str):
        self._all = counter("duplicates")
        self._previous = counter("duplicates.previous_runs")
        self._within = counter(within)

    def previous_runs(self, copies: int = 1) -> None:
        self._previous.inc(copies)
        self._all.inc(copies)

    def within(self, copies: int = 1) -> None:
        self._within.inc(copies)
        self._all.inc(copies)


def _dropped(copy: Article) -> beam.pvalue.TaggedOutput:
    return beam.pvalue.TaggedOutput(DUPLICATES, copy.source)


class _KeepFirst(beam.DoFn):
    """Emits the preferred copy of each new id; counts the rest as duplicates.

    With ``report_sources`` each dropped copy's source (its feed or file) also
    goes to the ``duplicates`` output, for per-feed health.
    """

    def __init__(self, report_sources: bool = False) -> None:
        self.report_sources = report_sources
        self._counts = _DuplicateCounts("duplicates.in_run")
        self._packer = Packer(Article)

    def process(self, element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Any]:
        _, grouped = element
        copies = sorted((self._packer.unpack(packed) for packed in grouped["new"]), key=preference)
        if not copies:
            return
        if any(True for _ in grouped["seen"]):
            self._counts.previous_runs(len(copies))
            yield from self._report(copies)
            return
        if len(copies) > 1:
            self._counts.within(len(copies) - 1)
            yield from self._report(copies[1:])
        yield copies[0]

    def _report(self, dropped: list[Article]) -> Iterator[Any]:
        if self.report_sources:
            for copy in dropped:
                yield _dropped(copy)


class Deduplicate(beam.PTransform):
    """One row per ``article_id``: this run's copies collapsed, ids already written skipped.

    Batch: all of a run's copies of an id meet in one group, so the copy kept
    is the ``preference``d one. Returns the articles; with ``report_sources``
    a dict of ``articles`` and ``duplicates`` (the source of every copy
    dropped). ``DeduplicateContinuously`` is its streaming twin.
    """

    def __init__(self, existing_ids: Optional[beam.PCollection[str]] = None, report_sources: bool = False):
        super().__init__()
        self.existing_ids = existing_ids
        self.report_sources = report_sources

    def expand(self, articles: beam.PCollection[Article]) -> Any:
        # Packed for the shuffle: every article of the run waits in it (``schemas.packed``).
        packer = Packer(Article)
        keyed = articles | "KeyById" >> beam.Map(lambda a: (a.article_id, packer.pack(a))).with_output_types(
            tuple[str, bytes]
        )
        seen = (
            (self.existing_ids | "KeySeen" >> beam.Map(lambda i: (i, True)))
            if self.existing_ids is not None
            else (articles.pipeline | "NoneSeen" >> beam.Create([]).with_output_types(tuple[str, bool]))
        )
        kept = (
            {"new": keyed, "seen": seen}
            | "GroupById" >> beam.CoGroupByKey()
            | "KeepFirst"
            >> beam.ParDo(_KeepFirst(self.report_sources))
            .with_output_types(Article)
            .with_outputs(DUPLICATES, main="articles")
        )
        if self.report_sources:
            return {"articles": kept.articles, DUPLICATES: kept[DUPLICATES]}
        return kept.articles


_SEEN = ReadModifyWriteStateSpec("seen", BooleanCoder())
_EXPIRY = TimerSpec("expiry", beam.TimeDomain.WATERMARK)
# Parameter defaults for the stateful DoFn, made once (not a call per signature).
_SEEN_PARAM = beam.DoFn.StateParam(_SEEN)
_EXPIRY_PARAM = beam.DoFn.TimerParam(_EXPIRY)
_TIMESTAMP: Any = beam.DoFn.TimestampParam


class _KeepFirstSighting(beam.DoFn):
    """Emits an article the first time its id is seen; forgets the id ``ttl`` after its last sighting.

    Elements carry their poll time as timestamp, so the expiry timer is in
    event time: it follows the watermark the polls advance, is exact under
    TestStream, and every sighting pushes it back — an entry that stays in a
    feed for months is still written once.
    """

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._new = counter("stream.new_articles")
        self._counts = _DuplicateCounts("duplicates.in_stream")
        self._expired = counter("stream.ids_expired")

    def process(
        self,
        element: tuple[str, Article],
        polled_at: Timestamp = _TIMESTAMP,
        seen: Any = _SEEN_PARAM,
        expiry: Any = _EXPIRY_PARAM,
    ) -> Iterator[Article]:
        _, article = element
        expiry.set(polled_at + Duration(seconds=self.ttl))
        if seen.read():
            self._counts.within()
            yield _dropped(article)  # type: ignore[misc]
            return
        seen.write(True)
        self._new.inc()
        yield article

    @on_timer(_EXPIRY)
    def expire(self, seen: Any = _SEEN_PARAM) -> None:
        self._expired.inc()
        seen.clear()


class _SkipWritten(beam.DoFn):
    """Drops articles whose id an earlier run (batch or stream) already wrote."""

    def __init__(self) -> None:
        self._counts = _DuplicateCounts("duplicates.in_stream")

    def process(self, article: Article, written: Any) -> Iterator[Article]:
        if article.article_id in written:
            self._counts.previous_runs()
            yield _dropped(article)  # type: ignore[misc]
            return
        yield article


class DeduplicateContinuously(beam.PTransform):
    """One output per ``article_id`` for the life of the stream (ids forgotten ``ttl`` after their last sighting).

    The streaming twin of ``Deduplicate``: the same ids of earlier runs
    (``existing_ids``, read once at start, so a restarted stream does not
    write again what it wrote before), the same counters and the same
    ``duplicates`` output; but the first sighting of an id is the copy kept
    (keyed state with an expiry timer that every sighting pushes back). No
    ``preference`` applies: a later, fuller copy arrives after the first
    one's window may already be written, and written files are never
    rewritten. Returns ``articles`` and ``duplicates`` (the source of every
    copy dropped).
    """

    def __init__(self, ttl: float, existing_ids: Optional[beam.PCollection[str]] = None):
        super().__init__()
        self.ttl = ttl
        self.existing_ids = existing_ids

    def expand(self, articles: beam.PCollection[Article]) -> dict[str, beam.PCollection]:
        dropped: list[beam.PCollection] = []
        if self.existing_ids is not None:
            fresh = articles | "SkipWritten" >> beam.ParDo(
                _SkipWritten(), beam.pvalue.AsDict(self.existing_ids | "AsPairs" >> beam.Map(lambda i: (i, True)))
            ).with_outputs(DUPLICATES, main="articles")
            articles = fresh.articles
            dropped.append(fresh[DUPLICATES])
        kept = (
            articles
            | "KeyById" >> beam.Map(lambda a: (a.article_id, a)).with_output_types(tuple[str, Article])
            | "KeepFirstSighting" >> beam.ParDo(_KeepFirstSighting(self.ttl)).with_outputs(DUPLICATES, main="articles")
        )
        dropped.append(kept[DUPLICATES])
        duplicates = tuple(dropped) | "AllDuplicates" >> beam.Flatten()
        return {"articles": kept.articles, DUPLICATES: duplicates}

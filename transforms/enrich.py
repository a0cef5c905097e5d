"""The shared middle of every pipeline: raw articles to clean, identified ``Article``s.

``Enrich`` is the same composite in batch, streaming and on any runner:
``RepairText`` (HTML to text, ftfy behind its guard, language, lossy-mojibake
repair, normalisation) then ``ExtractMetadata`` (byline, dateline, dates,
counts, identity). Both are thin adapters over the pure functions in
``text``, ``metadata`` and ``identify``; they add counters and route failures
to the dead-letter output.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Callable, Iterator, NamedTuple, Optional

import apache_beam as beam
import numpy as np
from apache_beam.utils.shared import Shared
from apache_beam.utils.timestamp import Timestamp

from schemas import SCHEMA_VERSION, Article, RawArticle, Repair
from transforms.errors import DEAD_LETTER, EmptyArticle, SafeDoFn, counter
from transforms.identify import article_id, canonical_url, content_hash, domain_of
from transforms.metadata import (
    LanguageIdentifier,
    extract_byline,
    parse_date,
    parse_dateline,
    split_authors,
    word_count,
)
from transforms.text import (
    INVALID_CHAR_REF,
    fix_with_ftfy,
    html_text,
    normalise_line,
    normalise_text,
    repair_lost_bytes,
    unescaped_invalid,
)

_LOG = logging.getLogger("newsbeam")


class Languages:
    """A weak-referenceable holder, as ``Shared`` requires, for one identifier per worker."""

    def __init__(self) -> None:
        self.identifier = LanguageIdentifier()


def _fix(value: Optional[str], uncurl_quotes: bool, repairs: Counter[str]) -> Optional[str]:
    if value is None:
        return None
    fixed, found = fix_with_ftfy(value, uncurl_quotes)
    repairs.update(found)
    return fixed


def _lossy(value: Optional[str], language: Optional[str], repairs: Counter[str]) -> Optional[str]:
    if value is None:
        return None
    fixed, found = repair_lost_bytes(value, language)
    repairs.update(found)
    return fixed


def repair_article(
    raw: RawArticle, detect: Callable[[str], Optional[str]], uncurl_quotes: bool = False
) -> tuple[RawArticle, Counter[str]]:
    """Every text field of ``raw`` repaired and normalised, its language set, the repairs counted.

    The order matters: HTML becomes text first (entities decoded by the
    parser), ftfy sees the text before anything else touches it, the language
    is identified on ftfy's output, and the lossy-mojibake repair, which needs
    that language, comes last before normalisation.

    The returned counter holds this step's repairs; the ``encoding`` column
    lists them together with those parsing already made (an unstorable
    character replaced, a control character removed), which the parse step
    has counted.
    """
    repairs: Counter[str] = Counter()
    if raw.body_is_html:
        body, found = html_text(raw.body)
        repairs.update(found)
    else:
        body = raw.body
    # Entity references left in text are decoded below (by ftfy, or in
    # normalisation); one that names no storable character (``&#xD800;``)
    # becomes U+FFFD, counted here under its own kind.
    invalid = sum(unescaped_invalid(v) for v in (body, raw.title, raw.subtitle, *raw.authors, *raw.categories) if v)
    if invalid:
        repairs[INVALID_CHAR_REF] += invalid
    body = _fix(body, uncurl_quotes, repairs) or ""
    title = _fix(raw.title, uncurl_quotes, repairs)
    subtitle = _fix(raw.subtitle, uncurl_quotes, repairs)
    language = detect(f"{title or ''}\n{subtitle or ''}\n{body}")
    body = normalise_text(_lossy(body, language, repairs) or "")
    title = normalise_line(_lossy(title, language, repairs))
    subtitle = normalise_line(_lossy(subtitle, language, repairs))
    summary = raw.summary
    if summary is not None:
        summary = normalise_text(_lossy(_fix(summary, uncurl_quotes, repairs), language, repairs) or "") or None
    authors = [a for a in (normalise_line(_fix(a, uncurl_quotes, repairs)) for a in raw.authors) if a]
    categories = [normalise_line(_fix(c, uncurl_quotes, repairs)) for c in raw.categories]
    listed = Counter({repair.kind: int(repair.count) for repair in raw.encoding.repairs}) + repairs
    encoding = raw.encoding._replace(repairs=[Repair(kind, np.int32(count)) for kind, count in sorted(listed.items())])
    if not title and not body:
        raise EmptyArticle("no title and no visible text once the HTML is removed", source=raw.source)
    repaired = raw._replace(
        title=title,
        subtitle=subtitle,
        body=body,
        body_is_html=False,
        authors=authors,
        categories=list(dict.fromkeys(c for c in categories if c)),
        encoding=encoding,
        language=language,
        summary=summary,
    )
    return repaired, repairs


class Facts(NamedTuple):
    """What metadata extraction found, for the counters."""

    byline: bool
    dateline: bool
    date: str  # "ok", "missing" or "invalid"


def build_article(raw: RawArticle, run_id: str, ingested_at: Timestamp) -> tuple[Article, Facts]:
    """The output record for a repaired article: byline, dateline, date, counts and identity."""
    byline, text = extract_byline(raw.body)
    dateline, text = parse_dateline(text)
    published = parse_date(raw.published_raw)
    date_status = "missing" if raw.published_raw is None else ("ok" if published else "invalid")
    url = canonical_url(raw.url)
    feed = raw.feed_url or raw.feed_link or raw.source
    offset = published.offset_minutes if published else None
    article = Article(
        article_id=article_id(raw.url, feed, raw.guid, raw.title, text),
        schema_version=np.int32(SCHEMA_VERSION),
        run_id=run_id,
        ingested_at=ingested_at,
        source_type=raw.source_type,
        source=raw.source,
        source_domain=domain_of(url) or domain_of(raw.feed_link) or domain_of(raw.feed_url),
        url=url,
        guid=raw.guid,
        title=raw.title,
        subtitle=raw.subtitle,
        dateline=dateline,
        authors=split_authors([*raw.authors, *byline]),
        published_at=Timestamp.from_utc_datetime(published.utc) if published else None,
        published_raw=raw.published_raw,
        published_offset_minutes=np.int32(offset) if offset is not None else None,
        text=text,
        language=raw.language,
        word_count=np.int32(word_count(text)),
        categories=list(raw.categories),
        encoding=raw.encoding,
        content_hash=content_hash(raw.title, text),
        entities=[],
        people=[],
        organizations=[],
        locations=[],
        countries=[],
        text_source=raw.text_source,
        summary=raw.summary,
        image_url=raw.image_url,
        site_name=raw.site_name,
        description=raw.description,
        canonical_url=raw.canonical_url,
        published_source=raw.published_source or (raw.text_source if raw.published_raw is not None else None),
        page_url=raw.page_url,
        page_status=np.int32(raw.page_status) if raw.page_status is not None else None,
    )
    return article, Facts(bool(byline), dateline is not None, date_status)


class _RepairText(SafeDoFn):
    stage = "repair_text"

    def __init__(self, run_id: str, shared: Shared, uncurl_quotes: bool):
        super().__init__(run_id)
        self._shared = shared
        self.uncurl_quotes = uncurl_quotes
        self._identifier: Optional[LanguageIdentifier] = None
        self._repaired = counter("articles_repaired")
        self._html = counter("bodies_from_html")
        self._no_language = counter("language_unknown")

    def setup(self) -> None:
        self._identifier = self._shared.acquire(Languages).identifier

    def process_element(self, raw: RawArticle) -> Iterator[RawArticle]:
        assert self._identifier is not None
        repaired, repairs = repair_article(raw, self._identifier.detect, self.uncurl_quotes)
        if raw.body_is_html:
            self._html.inc()
        if repaired.language is None:
            self._no_language.inc()
        for kind, count in repairs.items():
            counter(f"repairs.{kind}").inc(count)
        if repaired.encoding.repairs:  # this step's repairs or those made while parsing
            self._repaired.inc()
        yield repaired


class _ExtractMetadata(SafeDoFn):
    stage = "extract_metadata"

    def __init__(self, run_id: str, ingested_at: Timestamp, progress_seconds: float):
        super().__init__(run_id)
        self.ingested_at = ingested_at
        self.progress_seconds = progress_seconds
        self._enriched = counter("articles_enriched")
        self._datelines = counter("datelines_found")
        self._bylines = counter("bylines_found")
        self._dates = {status: counter(f"dates_{status}") for status in ("ok", "missing", "invalid")}

    def setup(self) -> None:
        self._progress = _Progress(self.progress_seconds)

    def process_element(self, raw: RawArticle) -> Iterator[Article]:
        article, facts = build_article(raw, self.run_id, self.ingested_at)
        self._bylines.inc(facts.byline)
        self._datelines.inc(facts.dateline)
        self._dates[facts.date].inc()
        self._enriched.inc()
        self._progress.tick()
        yield article


class _Progress:
    """Logs how many articles this worker has enriched, at most every ``seconds``.

    Per worker and per DoFn instance by design: there is no global count to
    read while a pipeline runs, and on the local runner one instance does all
    the work, so its line is the run's progress.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.count = 0
        self.started = self.last = time.monotonic()

    def tick(self) -> None:
        self.count += 1
        now = time.monotonic()
        if self.seconds > 0 and now - self.last >= self.seconds:
            self.last = now
            rate = self.count / (now - self.started)
            _LOG.info("progress: %d articles enriched (%.0f/s)", self.count, rate)


class Enrich(beam.PTransform):
    """``RawArticle`` to ``Article``: repaired text, metadata and identity; failures dead-lettered."""

    def __init__(self, run_id: str, ingested_at: Timestamp, uncurl_quotes: bool = False, progress_seconds: float = 0.0):
        super().__init__()
        self.run_id = run_id
        self.ingested_at = ingested_at
        self.uncurl_quotes = uncurl_quotes
        self.progress_seconds = progress_seconds

    def expand(self, raw: beam.PCollection[RawArticle]) -> dict[str, beam.PCollection]:
        repaired = raw | "RepairText" >> beam.ParDo(
            _RepairText(self.run_id, Shared(), self.uncurl_quotes)
        ).with_output_types(RawArticle).with_outputs(DEAD_LETTER, main="articles")
        extracted = repaired.articles | "ExtractMetadata" >> beam.ParDo(
            _ExtractMetadata(self.run_id, self.ingested_at, self.progress_seconds)
        ).with_output_types(Article).with_outputs(DEAD_LETTER, main="articles")
        dead = (repaired[DEAD_LETTER], extracted[DEAD_LETTER]) | "MergeDeadLetters" >> beam.Flatten()
        return {"articles": extracted.articles, DEAD_LETTER: dead}

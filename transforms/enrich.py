"""The shared middle of every pipeline: raw articles to clean, identified ``Article``s.

``Enrich`` is the same composite in batch, streaming and on any runner:
``RepairText`` (HTML to text, ftfy behind its guard, language, lossy-mojibake
repair, normalisation) then ``ExtractMetadata`` (byline, dateline, dates,
counts, identity). Both are thin adapters over the pure functions in
``text``, ``metadata`` and ``identify``; they add counters and route failures
to the dead-letter output.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterator, Optional

import apache_beam as beam
import numpy as np
from apache_beam.utils.shared import Shared
from apache_beam.utils.timestamp import Timestamp

from schemas import SCHEMA_VERSION, Article, EncodingInfo, RawArticle, Repair
from transforms.errors import DEAD_LETTER, SafeDoFn, counter
from transforms.identify import article_id, canonical_url, content_hash, domain_of
from transforms.metadata import (
    LanguageIdentifier,
    extract_byline,
    parse_date,
    parse_dateline,
    split_authors,
    word_count,
)
from transforms.text import fix_with_ftfy, html_to_text, normalise_line, normalise_text, repair_lost_bytes


class _Languages:
    """A weak-referenceable holder, as ``Shared`` requires, for one identifier per worker."""

    def __init__(self) -> None:
        self.identifier = LanguageIdentifier()


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
        self._identifier = self._shared.acquire(_Languages).identifier

    def _fix(self, value: Optional[str], repairs: Counter[str]) -> Optional[str]:
        if value is None:
            return None
        fixed, found = fix_with_ftfy(value, self.uncurl_quotes)
        repairs.update(found)
        return fixed

    def process_element(self, raw: RawArticle) -> Iterator[RawArticle]:
        assert self._identifier is not None
        repairs: Counter[str] = Counter()
        body = raw.body
        if raw.body_is_html:
            body = html_to_text(body)
            self._html.inc()
        body = self._fix(body, repairs) or ""
        title = self._fix(raw.title, repairs)
        subtitle = self._fix(raw.subtitle, repairs)
        language = self._identifier.detect(f"{title or ''}\n{subtitle or ''}\n{body}")
        if language is None:
            self._no_language.inc()

        def lossy(value: Optional[str]) -> Optional[str]:
            if value is None:
                return None
            fixed, found = repair_lost_bytes(value, language)
            repairs.update(found)
            return fixed

        body = normalise_text(lossy(body) or "")
        title = normalise_line(lossy(title))
        subtitle = normalise_line(lossy(subtitle))
        authors = [a for a in (normalise_line(self._fix(a, repairs)) for a in raw.authors) if a]
        categories = list(
            dict.fromkeys(c for c in (normalise_line(self._fix(c, repairs)) for c in raw.categories) if c)
        )
        for kind, count in repairs.items():
            counter(f"repairs.{kind}").inc(count)
        if repairs:
            self._repaired.inc()
        encoding = raw.encoding._replace(
            repairs=[Repair(kind, np.int32(count)) for kind, count in sorted(repairs.items())]
        )
        yield raw._replace(
            title=title,
            subtitle=subtitle,
            body=body,
            body_is_html=False,
            authors=authors,
            categories=categories,
            encoding=encoding,
            language=language,
        )


class _ExtractMetadata(SafeDoFn):
    stage = "extract_metadata"

    def __init__(self, run_id: str, ingested_at: Timestamp):
        super().__init__(run_id)
        self.ingested_at = ingested_at
        self._enriched = counter("articles_enriched")
        self._datelines = counter("datelines_found")
        self._bylines = counter("bylines_found")
        self._no_date = counter("dates_missing")
        self._bad_date = counter("dates_invalid")

    def process_element(self, raw: RawArticle) -> Iterator[Article]:
        byline, text = extract_byline(raw.body)
        if byline:
            self._bylines.inc()
        dateline, text = parse_dateline(text)
        if dateline:
            self._datelines.inc()
        published = parse_date(raw.published_raw)
        if raw.published_raw is None:
            self._no_date.inc()
        elif published is None:
            self._bad_date.inc()
        url = canonical_url(raw.url)
        feed = raw.feed_url or raw.feed_link or raw.source
        encoding: EncodingInfo = raw.encoding
        self._enriched.inc()
        yield Article(
            article_id=article_id(raw.url, feed, raw.guid, raw.title, text),
            schema_version=np.int32(SCHEMA_VERSION),
            run_id=self.run_id,
            ingested_at=self.ingested_at,
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
            published_offset_minutes=(
                np.int32(published.offset_minutes) if published and published.offset_minutes is not None else None
            ),
            text=text,
            language=raw.language,
            word_count=np.int32(word_count(text)),
            categories=list(raw.categories),
            encoding=encoding,
            content_hash=content_hash(raw.title, text),
        )


class Enrich(beam.PTransform):
    """``RawArticle`` to ``Article``: repaired text, metadata and identity; failures dead-lettered."""

    def __init__(self, run_id: str, ingested_at: Timestamp, uncurl_quotes: bool = False):
        super().__init__()
        self.run_id = run_id
        self.ingested_at = ingested_at
        self.uncurl_quotes = uncurl_quotes

    def expand(self, raw: beam.PCollection[RawArticle]) -> dict[str, beam.PCollection]:
        repaired = raw | "RepairText" >> beam.ParDo(
            _RepairText(self.run_id, Shared(), self.uncurl_quotes)
        ).with_output_types(RawArticle).with_outputs(DEAD_LETTER, main="articles")
        extracted = repaired.articles | "ExtractMetadata" >> beam.ParDo(
            _ExtractMetadata(self.run_id, self.ingested_at)
        ).with_output_types(Article).with_outputs(DEAD_LETTER, main="articles")
        dead = (repaired[DEAD_LETTER], extracted[DEAD_LETTER]) | "MergeDeadLetters" >> beam.Flatten()
        return {"articles": extracted.articles, DEAD_LETTER: dead}

"""Article identity and de-duplication, within a run and across runs.

``article_id`` is a short hash of the canonical URL; without a URL, of the feed
and the entry's guid; without either, of the normalised title and text. The
same story under two URLs is a near-duplicate (a later concern), not the same
id. De-duplication is one ``CoGroupByKey`` of this run's articles with the
ids already in the output directory: one row per id, whatever the run.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any, Iterable, Iterator, Optional
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas import Article
from transforms.errors import counter

_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_ga",
        "ocid",
        "cmpid",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str) -> bool:
    name = name.lower()
    return name.startswith("utm_") or name in _TRACKING_PARAMS


def canonical_url(url: Optional[str]) -> Optional[str]:
    """The URL an article is known by: tracking and fragment dropped, case normalised.

    Scheme and host are lower-cased, default ports and the fragment removed,
    ``utm_*``, ``fbclid``, ``gclid`` and kin dropped from the query, an empty
    path written as ``/``. Path and remaining query are kept as they are:
    servers may treat them case-sensitively. Anything that is not an absolute
    http(s) URL yields None.
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
    host = parts.hostname.lower().rstrip(".")
    if port and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    # Only characters that must be escaped are escaped; existing escapes
    # (%2F inside a segment means something else than /) are kept.
    path = quote(parts.path, safe="/%:@!$&'()*+,;=-._~") or "/"
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(unquote(p.split("=", 1)[0])))
    return urlunsplit((scheme, host, path, quote(query, safe="=&%+:/?@!$'()*,;-._~"), ""))


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


def _fold(text: str) -> str:
    """Case, accents, punctuation and spacing folded away: what two copies of a text share."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.findall(r"\w+", text))


def _short_hash(kind: str, value: str) -> str:
    return hashlib.blake2b(f"{kind}\x1f{value}".encode(), digest_size=10).hexdigest()


def article_id(url: Optional[str], feed: Optional[str], guid: Optional[str], title: Optional[str], text: str) -> str:
    """The stable id: from the canonical URL, else feed + guid, else title + text."""
    canonical = canonical_url(url)
    if canonical:
        return _short_hash("url", canonical)
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


def _read_ids(readable: fileio.ReadableFile) -> Iterator[str]:
    with FileSystems.open(readable.metadata.path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        table = pq.read_table(handle, columns=["article_id"])
    yield from table.column("article_id").to_pylist()


class ReadExistingIds(beam.PTransform):
    """The ``article_id``s already written under an articles directory (one column, cheap)."""

    def __init__(self, articles_dir: str):
        super().__init__()
        self.pattern = articles_dir.rstrip("/") + "/**/*.parquet"

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection[str]:
        return (
            pbegin
            | "MatchExisting" >> fileio.MatchFiles(self.pattern, empty_match_treatment=fileio.EmptyMatchTreatment.ALLOW)
            | "OpenExisting" >> fileio.ReadMatches()
            | "ReadIds" >> beam.FlatMap(_read_ids).with_output_types(str)
        )


#: Output tag of ``Deduplicate(report_sources=True)``: the source of every dropped copy.
DUPLICATES = "duplicates"


class _KeepFirst(beam.DoFn):
    """Emits the preferred copy of each new id; counts the rest as duplicates.

    With ``report_sources`` each dropped copy's source (its feed or file) also
    goes to the ``duplicates`` output, for per-feed health.
    """

    def __init__(self, report_sources: bool = False) -> None:
        self.report_sources = report_sources
        self._in_run = counter("duplicates.in_run")
        self._previous = counter("duplicates.previous_runs")
        self._duplicates = counter("duplicates")

    def process(self, element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Any]:
        _, grouped = element
        copies = sorted(grouped["new"], key=preference)
        if not copies:
            return
        if any(True for _ in grouped["seen"]):
            self._previous.inc(len(copies))
            self._duplicates.inc(len(copies))
            yield from self._report(copies)
            return
        if len(copies) > 1:
            self._in_run.inc(len(copies) - 1)
            self._duplicates.inc(len(copies) - 1)
            yield from self._report(copies[1:])
        yield copies[0]

    def _report(self, dropped: list[Article]) -> Iterator[Any]:
        if self.report_sources:
            for copy in dropped:
                yield beam.pvalue.TaggedOutput(DUPLICATES, copy.source)


class Deduplicate(beam.PTransform):
    """One row per ``article_id``: this run's copies collapsed, ids already written skipped.

    Returns the articles; with ``report_sources`` a dict of ``articles`` and
    ``duplicates`` (the source of every copy dropped).
    """

    def __init__(self, existing_ids: Optional[beam.PCollection[str]] = None, report_sources: bool = False):
        super().__init__()
        self.existing_ids = existing_ids
        self.report_sources = report_sources

    def expand(self, articles: beam.PCollection[Article]) -> Any:
        keyed = articles | "KeyById" >> beam.Map(lambda a: (a.article_id, a))
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

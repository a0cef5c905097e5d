"""One error hierarchy and one dead-letter path for every stage.

Errors carry where they happened (the source and, where known, the article)
and pickle, because they cross worker boundaries. ``SafeDoFn`` is the adapter
every fallible step uses: the work goes in ``process_element``; anything it
raises becomes a :class:`~schemas.DeadLetter` on the ``dead_letter`` output,
with the raw payload, and the pipeline carries on. Which stages' dead letters
count as read (``READ_STAGES``) and which are whole inputs rather than
entries of a feed (``INPUT_STAGES``) is said here once, for batch counters,
stream windows and feed health alike.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Iterable, Iterator, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.timestamp import Timestamp

from schemas import DeadLetter

#: The namespace of every newsbeam counter; the run summary reads it back.
NAMESPACE = "newsbeam"
DEAD_LETTER = "dead_letter"
#: Tagged output of the rules records are skipped under (one element per record): a stream tallies them from the data.
SKIPPED = "skipped"
#: Stages that get an input (a feed fetched, a pattern matched, a file read): a dead letter there is a whole
#: input that never became a document, never an entry of a feed, so a feed's health leaves it out of
#: ``dead_lettered`` (``entries_seen = new_articles + duplicates + dead_lettered``).
INPUT_STAGES = frozenset({"fetch", "source", "read"})
#: Stages before articles exist (the ``SafeDoFn``s with ``counts_read``): the input stages and ``parse``, whose
#: dead letters are entries or documents that never became articles. Each counts as read too, which is what
#: keeps ``read = written + duplicates + dead_lettered``, in a batch run's counters as in a stream's windows.
READ_STAGES = INPUT_STAGES | {"parse"}
_LOG = logging.getLogger("newsbeam")


class IngestError(Exception):
    """Root of newsbeam's errors: something about one input, not the pipeline."""

    def __init__(self, message: str, source: Optional[str] = None, article: Optional[str] = None):
        super().__init__(message)
        self.source = source
        self.article = article

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.source, self.article))


class InputNotFound(IngestError):
    """An input path or pattern matched no file."""


class UnsupportedInput(IngestError):
    """An input this version cannot read (for instance a feed URL)."""


class BlockedPath(IngestError):
    """A local path that input data names but may not read: a feed list (OPML) reference that is
    absolute, climbs out of the list's folder (``..``, a symlink), is a ``file:`` URL, or lands on a
    special file. Refused before anything is opened, so no content of the target ever travels."""


class NotARegularFile(IngestError):
    """A FIFO, socket, device or directory where a file was expected: never read (a FIFO blocks forever)."""


class DocumentTooLarge(IngestError):
    """A file, or its decompressed content, is over the configured limit."""


class UnreadableDocument(IngestError):
    """Bytes that are not any format newsbeam reads, or a corrupt container."""


class TruncatedDocument(UnreadableDocument):
    """A feed or JSON document that ends before it closes (cut off in transfer or on disk):
    its complete entries are kept, and what was cut off is this one dead letter."""


class FeedError(IngestError):
    """A feed that could not be parsed into entries at all."""


class FetchError(IngestError):
    """A feed URL that gave no usable response; ``retryable`` says whether trying again could help."""

    retryable = False


class BlockedURL(FetchError):
    """A URL newsbeam refuses to fetch: a scheme other than http(s), or a host on a
    loopback, private, link-local or multicast address (server-side request forgery)."""


class HTTPStatusError(FetchError):
    """The server answered with an error status."""


class RetryableStatus(HTTPStatusError):
    """408, 429 or a 5xx: worth another try after a pause."""

    retryable = True


class ConnectionFailed(FetchError):
    """No connection, or it broke before a response arrived."""

    retryable = True


class UnresolvableName(ConnectionFailed):
    """A host under a special-use name that never resolves (RFC 2606/6761: ``.example``, ``.invalid``, ``.test``…).

    Refused before any lookup: asking DNS about such a name would still be
    traffic leaving the machine, and its answer is known.
    """

    retryable = False


class RobotsDisallowed(FetchError):
    """A site's robots.txt disallows the URL (or a redirect led to one it disallows)."""


class FetchTimeout(FetchError):
    """Connecting, or waiting for the next bytes, took longer than the timeout."""

    retryable = True


class DeadlineExceeded(FetchError):
    """The whole response took longer than the per-request deadline (a server trickling bytes)."""


class TruncatedResponse(FetchError):
    """The connection closed before the body the server announced had arrived."""

    retryable = True


class TooManyRedirects(FetchError):
    """More redirects than allowed, or a redirect loop."""


class ResponseTooLarge(FetchError, DocumentTooLarge):
    """A body, on the wire or decompressed, over its limit (a compression bomb lands here)."""


class UnsupportedContent(FetchError):
    """A content encoding newsbeam did not ask for and cannot decode."""


class EmptyResponse(FetchError):
    """A successful status with nothing in the body."""


class TooManyEntries(IngestError):
    """A feed with more entries than ``--max-entries-per-feed``; the first ones are ingested."""


class EmptyArticle(IngestError):
    """A record with neither a title nor any text: nothing to ingest."""


def counter(name: str) -> Any:
    return Metrics.counter(NAMESPACE, name)


def count_skipped(rule: str, read: bool = True) -> beam.pvalue.TaggedOutput:
    """A record read and skipped under a named rule: counted as read, as skipped, and as ``skipped.<rule>``.

    What keeps ``read = written + duplicates + dead_lettered + skipped``
    (and ``+ out_of_range`` with a date range) for a record that is
    deliberately not an article: a WARC's request records, its images, the
    pages of a crawl that are not articles. Returns the rule on the
    ``SKIPPED`` output, to be yielded: a batch run reads the counters, a
    stream (whose local runner keeps metrics of first bundles only) tallies
    the elements per window. ``read`` False: the record was counted as read
    already (an article left out after parsing, ``transforms.select``).
    """
    if read:
        counter("read").inc()
    counter("skipped").inc()
    counter(f"skipped.{rule}").inc()
    return beam.pvalue.TaggedOutput(SKIPPED, rule)


def skip_tallies(rule: str, read: bool = True) -> list[tuple[str, int]]:
    """A skipped record's window tallies (a stream's counts come from the data); ``read`` as for ``count_skipped``."""
    return [("read", 1)] * read + [("skipped", 1), (f"skipped.{rule}", 1)]


def _payload(element: Any) -> tuple[Optional[bytes], Optional[str]]:
    """The raw payload of a failing element, as bytes or text, never lost."""
    payload = getattr(element, "payload", None)
    if isinstance(payload, bytes):
        return payload, None
    raw = getattr(element, "raw", None)
    if isinstance(raw, str):
        return None, raw
    if isinstance(element, bytes):
        return element, None
    if isinstance(element, str):
        return None, element
    try:
        return None, json.dumps(element, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return None, repr(element)


def _storable(text: str) -> str:
    """Lone surrogates as U+FFFD: a dead letter must be writable whatever failed (a bad character itself)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def make_dead_letter(
    stage: str,
    error: BaseException,
    source: str,
    run_id: str,
    element: Any = None,
    raw_bytes: Optional[bytes] = None,
    raw_text: Optional[str] = None,
) -> DeadLetter:
    """A dead-letter record for ``error`` at ``stage``, keeping the raw payload."""
    if raw_bytes is None and raw_text is None and element is not None:
        raw_bytes, raw_text = _payload(element)
    message = str(error) or type(error).__name__
    return DeadLetter(
        stage=stage,
        error_type=type(error).__name__,
        message=_storable(message[:2000]),
        source=_storable(source),
        raw_bytes=raw_bytes,
        raw_text=_storable(raw_text) if raw_text is not None else None,
        run_id=run_id,
        time=Timestamp.of(time.time()),
    )


class SafeDoFn(beam.DoFn):
    """A DoFn whose failures go to the ``dead_letter`` output, counted per stage.

    Subclasses implement ``process_element`` and set ``stage``. ``counts_read``
    marks the stages before articles exist: a failure there is a record read
    that will never become an article, so it is counted as read too, which is
    what keeps ``read == written + duplicates + dead_lettered``. The stages
    that set it are ``READ_STAGES`` (tests/test_errors.py holds the two together).
    """

    stage = "unknown"
    counts_read = False

    def __init__(self, run_id: str):
        self.run_id = run_id
        self._dead = counter(f"dead_letter.{self.stage}")
        self._read_count = counter("read")

    def process_element(self, element: Any) -> Iterable[Any]:
        raise NotImplementedError

    def source_of(self, element: Any) -> str:
        return str(getattr(element, "source", None) or element)[:2000]

    def dead_letter(self, error: BaseException, element: Any, **raw: Any) -> beam.pvalue.TaggedOutput:
        self._dead.inc()
        if self.counts_read:
            self._read_count.inc()
        _LOG.debug("dead letter at %s: %s", self.stage, error)
        return beam.pvalue.TaggedOutput(
            DEAD_LETTER, make_dead_letter(self.stage, error, self.source_of(element), self.run_id, element, **raw)
        )

    def process(self, element: Any) -> Iterator[Any]:
        try:
            # Materialise so a failure half-way through an element does not
            # leave part of its output emitted and the rest dead-lettered.
            outputs = list(self.process_element(element))
        except Exception as error:  # noqa: BLE001 - every failure is a dead letter
            yield self.dead_letter(error, element)
            return
        yield from outputs

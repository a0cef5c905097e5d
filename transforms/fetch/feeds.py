"""Feeds over HTTP in a batch run: ``FetchFeeds``, and what makes a fetch a feed fetch.

A feed fetch is the client's fetch (``client.fetch``) with the feed
reader's options, which the client itself knows nothing of:

* the Accept header asks for feed types (``FEED_ACCEPT``);
* a web page that advertises a feed (``<link rel="alternate"
  type="application/rss+xml">``) is followed to that feed, as feed readers
  do (``fetch_feed``, unless ``--discover-feeds`` is off);
* a fetched OPML list yields the feeds it names, for a second round.

``FetchFeeds`` groups the URLs by host into shards, so one host's feeds meet
in one worker, and fetches each shard with the host-aware scheduler
(``hosts.fetch_all``) under the run's shared ``FetchContext``.
"""

from __future__ import annotations

import hashlib
import random
import time
from contextlib import AbstractContextManager
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional
from urllib.parse import urljoin, urlparse

import apache_beam as beam
import lxml.etree
import lxml.html
import numpy as np
import requests
from apache_beam.utils.timestamp import Duration, Timestamp

from schemas import FeedFetch, FeedRequest, FeedState, RawDocument
from transforms.errors import DEAD_LETTER, BlockedURL, ConnectionFailed, FetchError, SafeDoFn, counter
from transforms.fetch.client import EXCHANGES, FetchOutcome, Validators, fetch, make_session
from transforms.fetch.hosts import FetchContext, HostGate, SharedFetchContext, fetch_all, host_of
from transforms.fetch.policy import FetchPolicy
from transforms.fetch.watchdog import StopSignal
from transforms.refresh import refresh_hint
from transforms.sources import looks_like_opml, opml_feeds

#: Output tags of ``FetchFeeds`` besides the documents.
FETCHES = "fetches"
LISTED = "listed"
#: What a feed fetch asks for: the feed formats first, any XML or JSON next, anything last.
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+json")


# --------------------------------------------------------------------------
# A feed fetch: the client with the feed's Accept, and autodiscovery
# --------------------------------------------------------------------------


def looks_like_html_page(body: bytes, content_type: Optional[str]) -> bool:
    """Whether a response is a web page rather than a feed (by its type, else its first bytes)."""
    if content_type and "html" in content_type.lower() and "xhtml" not in content_type.lower():
        return True
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if any(tag in head for tag in (b"<rss", b"<feed", b"<rdf:rdf", b"<opml")):
        return False
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:512]


def discover_feed(body: bytes, base: str) -> Optional[str]:
    """The feed a web page advertises (``<link rel="alternate" type="application/rss+xml" href>``), absolute.

    RSS, Atom and RDF links are preferred to JSON Feed ones, then document
    order; only http(s) targets count.
    """
    try:
        root = lxml.html.fromstring(body)
    except (lxml.etree.ParserError, ValueError):
        return None
    found: list[tuple[int, int, str]] = []
    for index, link in enumerate(root.iter("link")):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().split(";")[0].strip()
        href = (link.get("href") or "").strip()
        if "alternate" in rel and kind in _FEED_TYPES and href:
            target = urljoin(base, href)
            if urlparse(target).scheme in ("http", "https"):
                found.append((_FEED_TYPES.index(kind) // 3, index, target))
    return min(found)[2] if found else None


def fetch_feed(
    session: requests.Session,
    url: str,
    policy: FetchPolicy,
    validators: Optional[Validators] = None,
    gate: Optional[Callable[[], object]] = None,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: Optional[random.Random] = None,
    stop: Optional[StopSignal] = None,
    slot: Optional[Callable[[], AbstractContextManager[object]]] = None,
) -> FetchOutcome:
    """``client.fetch`` asking for a feed; a web page that advertises one is followed to it.

    When the URL gives a web page that advertises a feed (and
    ``policy.discover``), the feed is fetched in its place, as feed readers
    do; the hop counts as a redirect and ``final_url`` is the feed's. The
    feed is fetched through ``gate`` and ``slot`` only when it is on the
    page's host (they are that host's).
    """
    outcome = fetch(session, url, policy, validators, gate, sleep, clock, rng, stop, slot, accept=FEED_ACCEPT)
    if not policy.discover or outcome.error is not None or outcome.body is None:
        return outcome
    if not looks_like_html_page(outcome.body, outcome.content_type):
        return outcome
    link = discover_feed(outcome.body, outcome.final_url or url)
    if link is None or link in (url, outcome.final_url):
        return outcome
    same_host = host_of(link) == host_of(url)
    found = fetch(
        session,
        link,
        policy,
        validators,
        gate if same_host else None,
        sleep,
        clock,
        rng,
        stop,
        slot if same_host else None,
        accept=FEED_ACCEPT,
    )
    found.url = url
    found.redirects += outcome.redirects + 1
    found.attempts += outcome.attempts
    found.wire_bytes += outcome.wire_bytes
    found.elapsed += outcome.elapsed
    found.waits = outcome.waits + found.waits
    found.exchanges = outcome.exchanges + found.exchanges
    if found.error is not None:
        found.error = type(found.error)(f"{found.error} (the feed {link} that the page at {url} links to)", url)
    return found


# --------------------------------------------------------------------------
# Feeds and lists
# --------------------------------------------------------------------------


def validators_for(state: Optional[FeedState], policy: FetchPolicy) -> Optional[Validators]:
    """The conditional-request headers for a feed, from what the last successful run kept."""
    if not policy.conditional or state is None or state.kind == "opml":
        return None
    if not state.etag and not state.last_modified:
        return None
    return Validators(state.etag, state.last_modified)


def shard_of(url: str, shards: int) -> int:
    """Stable shard of a URL's host: one host's feeds always meet in one worker, so its limits hold."""
    digest = hashlib.blake2b(host_of(url).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % max(1, shards)


def listed_requests(body: bytes, parent: FeedRequest, base: str) -> tuple[list[FeedRequest], list[str]]:
    """The feeds an OPML list fetched from ``base`` names, as absolute http(s) URLs.

    References a remote list makes to anything but http(s) (``file:``,
    absolute local paths) are returned apart as refused: remote content must
    never make us read local files.
    """
    accepted, refused = [], []
    for reference in opml_feeds(body):
        target = urljoin(base, reference)
        if urlparse(target).scheme.lower() in ("http", "https"):
            accepted.append(FeedRequest(target, parent.url))
        else:
            refused.append(target)
    return accepted, refused


# --------------------------------------------------------------------------
# Beam
# --------------------------------------------------------------------------


class _FetchShard(SafeDoFn):
    """Fetches one shard's feeds (all feeds of its hosts) with the host-aware scheduler."""

    stage = "fetch"
    counts_read = True

    def __init__(self, run_id: str, policy: FetchPolicy, expand_opml: bool, context: SharedFetchContext):
        super().__init__(run_id)
        self.policy = policy
        self.expand_opml = expand_opml
        self.context = context
        self._ok = counter("feeds.fetched")
        self._not_modified = counter("feeds.not_modified")
        self._failed = counter("feeds.failed")
        self._retries = counter("feeds.retries")
        self._redirects = counter("feeds.redirects")
        self._bytes = counter("bytes_fetched")
        self._opml = counter("opml_fetched")
        self._documents = counter("documents_read")
        self._hinted = counter("feeds.refresh_hints")
        self._session: Optional[requests.Session] = None
        self._hosts: Optional[FetchContext] = None

    def setup(self) -> None:
        self._hosts = self.context.acquire()
        self._session = make_session(self.policy, self._hosts.watchdog)

    def teardown(self) -> None:
        if self._session is not None:
            self._session.close()

    def process(  # type: ignore[override]
        self, element: tuple[int, Iterable[FeedRequest]], state: Mapping[str, FeedState]
    ) -> Iterator[Any]:
        _, requests_ = element
        if self._session is None or self._hosts is None:
            self.setup()
        session, hosts = self._session, self._hosts
        assert session is not None and hosts is not None
        policy = self.policy

        def work(request: FeedRequest, gate: HostGate) -> FetchOutcome:
            return fetch_feed(session, request.url, policy, validators_for(state.get(request.url), policy), gate)

        results = fetch_all(
            list(requests_),
            work,
            lambda r: host_of(r.url),
            policy.threads,
            policy.per_host_concurrency,
            policy.per_host_delay,
            lambda host: hosts.gate(host, policy.per_host_delay),
        )
        for request, outcome in results:
            if isinstance(outcome, BaseException):
                outcome = FetchOutcome(request.url, error=ConnectionFailed(f"fetch crashed: {outcome!r}", request.url))
            yield from self._emit(request, outcome)

    def _emit(
        self, request: FeedRequest, outcome: FetchOutcome, polled_at: Optional[Timestamp] = None
    ) -> Iterator[Any]:
        """The fetch's document (or the feeds of a list), its dead letter if it failed, and its ``FeedFetch``.

        The publisher's refresh hint counts from ``polled_at`` (a stream's
        poll time, so that a hint equal to the poll interval keeps the feed
        on every poll), else from now.
        """
        for exchange in outcome.exchanges:
            yield beam.pvalue.TaggedOutput(EXCHANGES, exchange._replace(role="feed"))
        self._retries.inc(max(0, outcome.attempts - 1))
        self._redirects.inc(outcome.redirects)
        self._bytes.inc(outcome.wire_bytes)
        fetched_at = Timestamp.of(time.time())
        hint = refresh_hint(outcome.status, outcome.headers, outcome.body)
        if hint is not None:
            self._hinted.inc()
        kind = "feed"
        error: Optional[BaseException] = outcome.error
        if error is None and outcome.body is not None and looks_like_opml(outcome.body):
            kind = "opml"
            self._opml.inc()
            try:
                yield from self._expand(request, outcome)
            except Exception as opml_error:  # noqa: BLE001 - an unreadable list is this URL's failure
                error = opml_error
        elif error is None and outcome.body is not None:
            self._documents.inc()
            yield RawDocument(request.url, "http", outcome.body, fetched_at, outcome.content_type, request.parent)
        if error is not None:
            self._failed.inc()
            yield self.dead_letter(
                error, request, raw_bytes=outcome.body, raw_text=None if outcome.body else request.url
            )
        elif outcome.not_modified:
            self._not_modified.inc()
        else:
            self._ok.inc()
        yield beam.pvalue.TaggedOutput(
            FETCHES,
            FeedFetch(
                url=request.url,
                final_url=outcome.final_url,
                parent=request.parent,
                kind=kind,
                status=np.int32(outcome.status) if outcome.status is not None else None,
                error_class=type(error).__name__ if error is not None else None,
                error_message=(str(error) or type(error).__name__)[:2000] if error is not None else None,
                bytes=np.int64(outcome.wire_bytes),
                not_modified=outcome.not_modified,
                attempts=np.int32(outcome.attempts),
                redirects=np.int32(outcome.redirects),
                elapsed_ms=np.int64(int(outcome.elapsed * 1000)),
                content_type=outcome.content_type,
                etag=outcome.etag,
                last_modified=outcome.last_modified,
                fetched_at=fetched_at,
                next_fetch_after=(polled_at or fetched_at) + Duration(seconds=hint.seconds) if hint else None,
                refresh_hint=hint.source if hint else None,
            ),
        )

    def _expand(self, request: FeedRequest, outcome: FetchOutcome) -> Iterator[Any]:
        if not self.expand_opml:
            raise FetchError("an OPML list named by a fetched OPML list is not followed (one level of remote lists)")
        assert outcome.body is not None
        accepted, refused = listed_requests(outcome.body, request, outcome.final_url or request.url)
        for child in accepted:
            yield beam.pvalue.TaggedOutput(LISTED, child)
        for target in refused:
            yield self.dead_letter(
                BlockedURL(f"refused {target!r} listed in remote OPML: only http(s) feeds are fetched", target),
                FeedRequest(target, request.url),
                raw_text=target,
            )

    def source_of(self, element: Any) -> str:
        return str(getattr(element, "url", element))[:2000]


def _first_not_fetched(element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[FeedRequest]:
    """One request per URL, none for a URL an earlier round fetched (a feed listed twice is fetched once)."""
    _, grouped = element
    if any(True for _ in grouped["done"]):
        return
    copies = list(grouped["requests"])
    if copies:
        yield min(copies, key=lambda r: r.parent or "")


class FetchFeeds(beam.PTransform):
    """Feed URLs to ``RawDocument``s, with a ``FeedFetch`` per URL and dead letters.

    URLs are grouped into shards by host (``--fetch-shards``), so each host's
    politeness limits hold across the whole run; within a shard hosts are
    fetched in parallel on ``--fetch-threads`` threads. With ``expand_opml``
    an OPML list fetched here yields its feeds on the ``listed`` output, for
    a second ``FetchFeeds`` given the first one's URLs as ``already_fetched``
    and the same ``context``, so a host's delay holds across the two rounds.
    """

    def __init__(
        self,
        run_id: str,
        policy: FetchPolicy,
        state: beam.pvalue.AsSideInput,
        shards: int = 1,
        expand_opml: bool = True,
        already_fetched: Optional[beam.PCollection[str]] = None,
        context: Optional[SharedFetchContext] = None,
    ):
        super().__init__()
        self.run_id = run_id
        self.policy = policy
        self.state = state
        self.shards = shards
        self.expand_opml = expand_opml
        self.already_fetched = already_fetched
        self.context = context or SharedFetchContext()

    def expand(self, feeds: beam.PCollection[FeedRequest]) -> dict[str, beam.PCollection]:
        shards = self.shards
        keyed = feeds | "OnePerUrl" >> beam.Map(lambda r: (r.url, r)).with_output_types(tuple[str, FeedRequest])
        done = (
            self.already_fetched | "KeyFetched" >> beam.Map(lambda url: (url, True))
            if self.already_fetched is not None
            else feeds.pipeline | "NoneFetched" >> beam.Create([]).with_output_types(tuple[str, bool])
        )
        fetched = (
            {"requests": keyed, "done": done}
            | "GroupByUrl" >> beam.CoGroupByKey()
            | "FirstNotFetched" >> beam.FlatMap(_first_not_fetched).with_output_types(FeedRequest)
            | "ShardByHost" >> beam.Map(lambda r: (shard_of(r.url, shards), r))
            | "GroupByShard" >> beam.GroupByKey()
            | "Fetch"
            >> beam.ParDo(
                _FetchShard(self.run_id, self.policy, self.expand_opml, self.context), self.state
            ).with_outputs(DEAD_LETTER, FETCHES, LISTED, EXCHANGES, main="documents")
        )
        documents = fetched.documents | "Spread" >> beam.Reshuffle()
        return {
            "documents": documents,
            FETCHES: fetched[FETCHES],
            LISTED: fetched[LISTED],
            DEAD_LETTER: fetched[DEAD_LETTER],
            EXCHANGES: fetched[EXCHANGES],
        }

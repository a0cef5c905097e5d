"""A page fetch: the article a feed entry links to, asked for as HTML, after the site's robots.txt.

The client (``client.fetch``) does the request with every limit a feed
fetch has (address guard on every hop, sizes, deadline, retries with
``Retry-After``); this module adds what only pages need:

* robots.txt first (``robots.py``), unless ``--respect-robots off``; its
  ``Crawl-delay`` lengthens the host's gap (never beyond
  ``--max-retry-wait``, the longest wait a server may impose on a run);
* an Accept header asking for HTML;
* the reason a page gave no usable HTML, as one short word
  (``page_error_kind``) for the ``page_error`` column and the counters:
  a user filters on ``page_error = 'robots'``, not on a message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterable, NamedTuple, Optional

import requests

from schemas import ArchivedPage, HttpExchange
from transforms.errors import (
    BlockedURL,
    ConnectionFailed,
    DeadlineExceeded,
    DocumentTooLarge,
    EmptyResponse,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    RobotsDisallowed,
    TooManyRedirects,
    TruncatedResponse,
    UnresolvableName,
    UnsupportedContent,
)
from transforms.fetch.client import FetchOutcome, fetch
from transforms.fetch.guard import check_url
from transforms.fetch.hosts import FetchContext, HostGate, host_of
from transforms.fetch.policy import FetchPolicy
from transforms.fetch.robots import ROBOTS_ACCEPT, RobotsRules
from transforms.fetch.watchdog import FetchCancelled, StopSignal
from transforms.text import binary_kind

#: What a page fetch asks for: HTML first, XHTML next, anything last (a server that ignores
#: Accept still answers, and the type of what it sends is checked).
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")


class PageFetch(NamedTuple):
    """How fetching one article's page went: the HTML bytes, or the reason there are none."""

    url: str
    final_url: Optional[str] = None
    status: Optional[int] = None
    body: Optional[bytes] = None
    content_type: Optional[str] = None
    #: ``page_error_kind`` of what went wrong; None when ``body`` is an HTML page.
    error: Optional[str] = None
    message: Optional[str] = None
    attempts: int = 0
    wire_bytes: int = 0
    elapsed: float = 0.0
    not_modified: bool = False
    #: Whether this fetch also fetched the site's robots.txt (the first page of a site in a run).
    fetched_robots: bool = False
    #: The responses as they came, for the run's web archive (``FetchPolicy.keep_exchanges``).
    exchanges: tuple[HttpExchange, ...] = ()
    #: When the page came (a fetch read back from an archive: the archive's date); None: now.
    fetched_at: Optional[datetime] = None


def page_error_kind(error: BaseException, status: Optional[int] = None) -> str:
    """The short reason a page fetch failed, for the ``page_error`` column (``http_404``, ``timeout``, …)."""
    if isinstance(error, BlockedURL):
        return "blocked_address"
    if isinstance(error, HTTPStatusError):
        return f"http_{status}" if status else "http_error"
    if isinstance(error, (FetchTimeout, DeadlineExceeded)):
        return "timeout"
    if isinstance(error, DocumentTooLarge):
        return "too_large"
    if isinstance(error, TruncatedResponse):
        return "truncated"
    if isinstance(error, TooManyRedirects):
        return "too_many_redirects"
    if isinstance(error, EmptyResponse):
        return "empty"
    if isinstance(error, UnsupportedContent):
        return "undecodable"
    if isinstance(error, RobotsDisallowed):
        return "robots"
    if isinstance(error, UnresolvableName):
        return "reserved_name"
    if isinstance(error, FetchCancelled):
        return "cancelled"
    if isinstance(error, (ConnectionFailed, FetchError)):
        return "connection"
    return "fetch_failed"


def is_html(body: bytes, content_type: Optional[str]) -> bool:
    """Whether a response is a web page: its declared type, else its first bytes (never a PDF or an image)."""
    if binary_kind(body[:4096]):
        return False
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in _HTML_TYPES:
        return True
    if kind and not kind.startswith("text/"):
        return False
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<html" in head or b"<body" in head


def crawl_delay(rules: RobotsRules, policy: FetchPolicy) -> float:
    """The gap between two requests to a host: ours, or the site's Crawl-delay if longer (capped)."""
    asked = rules.crawl_delay or 0.0
    return max(policy.per_host_delay, min(asked, policy.max_retry_wait))


def _robots_hop_check(
    session: requests.Session, policy: FetchPolicy, hosts: FetchContext, stop: Optional[StopSignal]
) -> Callable[[str], None]:
    """A redirect target is asked of its own site's robots.txt, as the link was (fetched through that host's gate)."""

    def check(target: str) -> None:
        def get_robots(robots: str) -> FetchOutcome:
            gate = hosts.gate(host_of(robots), policy.per_host_delay)
            return fetch(session, robots, policy, gate=gate, stop=stop, accept=ROBOTS_ACCEPT)

        rules, _ = hosts.robots.rules(target, get_robots)
        if not rules.allows(target):
            raise RobotsDisallowed(f"a redirect leads to {target}, which its robots.txt disallows", target)

    return check


def fetch_page(
    session: requests.Session,
    url: str,
    policy: FetchPolicy,
    hosts: FetchContext,
    gate: HostGate,
    respect_robots: bool = True,
    stop: Optional[StopSignal] = None,
) -> PageFetch:
    """One article page: robots.txt asked first, then the page through the host's gate and slots.

    Never raises for what a server does: every failure is a ``PageFetch``
    with ``error`` set. ``gate`` is the host's (``fetch_all`` hands each
    lane its host's gate); the robots.txt request passes through it too.
    """
    fetched_robots = False
    delay = policy.per_host_delay
    try:
        check_url(url, policy.allow_private_hosts)  # no robots.txt request for a link that will be refused
    except FetchError as refused:
        return PageFetch(url, error=page_error_kind(refused), message=str(refused))
    if respect_robots:

        def get_robots(target: str) -> FetchOutcome:
            return fetch(session, target, policy, gate=gate, stop=stop, accept=ROBOTS_ACCEPT)

        rules, fetched_robots = hosts.robots.rules(url, get_robots)
        if rules.status == "blocked":
            return PageFetch(url, error="blocked_address", message=rules.detail, fetched_robots=fetched_robots)
        if not rules.allows(url):
            reason = "robots_unreachable" if rules.status == "unreachable" else "robots"
            message = rules.detail or "robots.txt disallows this path for newsbeam"
            return PageFetch(url, error=reason, message=message, fetched_robots=fetched_robots)
        delay = crawl_delay(rules, policy)
    host = host_of(url)
    gate = hosts.gate(host, delay) if delay != policy.per_host_delay else gate
    slots = hosts.slots(host, policy.per_host_concurrency)
    check_hop = _robots_hop_check(session, policy, hosts, stop) if respect_robots else None
    outcome = fetch(
        session, url, policy, gate=gate, stop=stop, slot=lambda: slots, accept=PAGE_ACCEPT, check_hop=check_hop
    )
    fetched = PageFetch(
        url,
        final_url=outcome.final_url,
        status=outcome.status,
        content_type=outcome.content_type,
        attempts=outcome.attempts,
        wire_bytes=outcome.wire_bytes,
        elapsed=outcome.elapsed,
        fetched_robots=fetched_robots,
        exchanges=tuple(
            exchange._replace(role="page", link=url, hop=hop) for hop, exchange in enumerate(outcome.exchanges)
        ),
    )
    if outcome.error is not None:
        return fetched._replace(error=page_error_kind(outcome.error, outcome.status), message=str(outcome.error)[:500])
    if outcome.not_modified or outcome.body is None:
        return fetched._replace(not_modified=True, error="not_modified", message="HTTP 304 Not Modified")
    if not is_html(outcome.body, outcome.content_type):
        return fetched._replace(error="not_html", message=not_html_message(outcome.body, outcome.content_type))
    return fetched._replace(body=outcome.body)


def not_html_message(body: bytes, content_type: Optional[str]) -> str:
    """What a link that gives no web page gives instead, for ``page_error = not_html``'s message."""
    kind = binary_kind(body[:4096]) or (content_type or "unknown type").split(";")[0]
    return f"the link gives {kind}, not an HTML page"


def archived_fetch(link: str, pages: Iterable[ArchivedPage]) -> Optional[PageFetch]:
    """The fetch of ``link`` as newsbeam's archive holds it (its ``response`` pages), or None when it holds none.

    The same verdict a live fetch gives the same responses (``fetch_page``):
    an error status is ``http_<status>``, a chain that ends on a redirect
    stopped there (a loop, or over ``--max-redirects``), a 304 is
    ``not_modified``, an empty or non-HTML body is ``empty``/``not_html``.
    An archive can hold several fetches of one link (runs archived into one
    folder): the latest is taken, a fetch being a hop 0 and the hops after it.
    """
    responses = sorted(
        (page for page in pages if page.kind == "response"),
        key=lambda page: (page.fetched_at.micros if page.fetched_at is not None else 0, page.hop),
    )
    if not responses:
        return None
    starts = [i for i, page in enumerate(responses) if page.hop == 0]
    chain = responses[starts[-1] :] if starts else responses
    chain = sorted(chain, key=lambda page: page.hop)
    final = chain[-1]
    when = final.fetched_at.to_utc_datetime(has_tz=True) if final.fetched_at is not None else None
    fetched = PageFetch(
        link, final_url=final.url, status=final.status, content_type=final.content_type, fetched_at=when
    )
    status = final.status or 0
    if status == 304:
        return fetched._replace(not_modified=True, error="not_modified", message="HTTP 304 Not Modified")
    if 300 <= status < 400:
        message = f"the archived fetch ended on a redirect from {final.url} after {final.hop} redirects"
        return fetched._replace(error="too_many_redirects", message=message)
    if status < 200 or status >= 300:
        return fetched._replace(error=f"http_{status}", message=f"HTTP {status} (archived)")
    if not final.body:
        return fetched._replace(error="empty", message="the archived response has an empty body")
    if not is_html(final.body, final.content_type):
        return fetched._replace(error="not_html", message=not_html_message(final.body, final.content_type))
    return fetched._replace(body=final.body)

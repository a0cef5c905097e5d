"""The HTTP client: one URL fetched with retries, limits and a deadline, never raising for what a server does.

We fetch the bytes ourselves with ``requests`` (feedparser's own HTTP
support is being removed upstream). Around the single request the client
adds what makes a fetcher a good citizen and hard to abuse:

* conditional requests (ETag / Last-Modified the caller kept), so an
  unchanged resource costs a 304 and no parsing;
* bounded retries with exponential backoff on connection errors, timeouts,
  truncated bodies, 408, 429 and 5xx, honouring ``Retry-After``; other 4xx
  are final;
* limits on the body on the wire, the decoded body (a gzip bomb is cut off
  while it inflates), redirects and the time one response may take; a body
  shorter than its ``Content-Length`` is a truncated response, never a
  document;
* every redirect hop checked by the address guard (``guard.py``), and every
  wait (the request in flight, the back-off, the turn at a host) ending at
  once when the caller's ``StopSignal`` is set (``watchdog.py``).

What the client asks for is the caller's: ``accept`` is its Accept header
(feeds ask for feed types, pages for HTML), and it never looks inside a body
(a feed found from a web page is the feed fetch's business, ``feeds.py``).
Politeness comes from the caller too: a ``gate`` to pass before each
attempt and a ``slot`` to hold during it (``hosts.py``).
"""

from __future__ import annotations

import random
import time
import zlib
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from http import HTTPStatus
from types import MappingProxyType
from typing import Callable, Mapping, NamedTuple, Optional
from urllib.parse import urljoin

import requests
import urllib3
from apache_beam.utils.timestamp import Timestamp

from schemas import HttpExchange
from transforms.errors import (
    BlockedURL,
    ConnectionFailed,
    DeadlineExceeded,
    DocumentTooLarge,
    EmptyResponse,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    ResponseTooLarge,
    RetryableStatus,
    TooManyRedirects,
    TruncatedResponse,
    UnreadableDocument,
    UnsupportedContent,
)
from transforms.fetch.guard import FetchAdapter, check_url
from transforms.fetch.policy import FetchPolicy
from transforms.fetch.watchdog import FetchCancelled, StopSignal, Watch, Watchdog
from transforms.refresh import HINT_HEADERS, retry_after_seconds
from transforms.refresh import whole_number as _whole_number
from transforms.sources import GZIP_MAGIC, gunzip_limited

#: Output tag of the fetching transforms: each response as it came (``HttpExchange``), for ``--warc-out``.
EXCHANGES = "exchanges"
#: The Accept header of a fetch whose caller asks for nothing in particular.
ANY_ACCEPT = "*/*"
_REDIRECTS = (301, 302, 303, 307, 308)
_RETRYABLE_STATUS = frozenset({408, 429})
_CHUNK = 64 * 1024
_DRAIN_LIMIT = 64 * 1024


def make_session(policy: FetchPolicy, watchdog: Optional[Watchdog] = None) -> requests.Session:
    """A session for one worker: our User-Agent, no proxies or .netrc from the environment.

    Environment proxies are ignored on purpose: through a proxy the address
    check would see the proxy, not the requested host. ``watchdog`` is the
    one that cuts this session's responses off (the ``FetchContext``'s, so a
    stop reaches them); without one the session gets its own.
    """
    session = requests.Session()
    session.trust_env = False
    size = max(policy.per_host_concurrency, 4)
    adapter = FetchAdapter(
        check_peer=not policy.allow_private_hosts,
        watchdog=watchdog if watchdog is not None else Watchdog(),
        pool_maxsize=size,
        max_retries=0,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": policy.user_agent, "Accept-Encoding": "gzip, deflate"})
    return session


class Validators(NamedTuple):
    etag: Optional[str]
    last_modified: Optional[str]


@dataclass
class FetchOutcome:
    """The result of fetching one URL, retries included."""

    url: str
    final_url: Optional[str] = None
    status: Optional[int] = None
    body: Optional[bytes] = None
    wire_bytes: int = 0
    content_type: Optional[str] = None
    etag: Optional[str] = None
    last_modified: Optional[str] = None
    not_modified: bool = False
    attempts: int = 0
    redirects: int = 0
    elapsed: float = 0.0
    error: Optional[FetchError] = None
    waits: list[float] = field(default_factory=list)
    #: The last response's refresh headers (``refresh.HINT_HEADERS``), for the publisher's refresh hint.
    headers: dict[str, str] = field(default_factory=dict)
    #: The last attempt's responses as they came, redirects first (only with ``FetchPolicy.keep_exchanges``).
    exchanges: list[HttpExchange] = field(default_factory=list)


@dataclass
class _Response:
    status: int
    final_url: str
    headers: Mapping[str, str]
    body: bytes
    wire_bytes: int
    redirects: int


def retry_delay(attempt: int, policy: FetchPolicy, retry_after: Optional[float], rng: random.Random) -> float:
    """Seconds to wait before attempt ``attempt + 1``: the server's Retry-After, else jittered exponential backoff."""
    if retry_after is not None:
        return retry_after
    base = policy.backoff * (2 ** (attempt - 1))
    return min(policy.max_retry_wait, base * (0.5 + rng.random() / 2))


def inflate_limited(data: bytes, limit: int) -> bytes:
    """``Content-Encoding: deflate`` (zlib-wrapped, or raw as some servers send it) under a size limit."""
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):
        decompressor = zlib.decompressobj(wbits)
        try:
            out = decompressor.decompress(data, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit:
            raise ResponseTooLarge(f"decompressed body exceeds the limit of {limit} bytes")
        if not decompressor.eof:
            raise TruncatedResponse("deflate body ends before its stream does (truncated)")
        return out
    raise UnsupportedContent("body is not valid deflate data")


def decode_body(body: bytes, content_encoding: Optional[str], limit: int) -> bytes:
    """The body with its content encodings undone, never holding more than ``limit`` bytes.

    A gzip file served as-is (``feed.xml.gz`` without a Content-Encoding) is
    recognised by its magic number and inflated under the same limit.
    """
    if not body:
        return body  # an empty body "encoded" as gzip is still empty, not a broken stream
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            body = _gunzip(body, limit)
        elif coding == "deflate":
            body = inflate_limited(body, limit)
        elif coding != "identity":
            raise UnsupportedContent(f"unsupported Content-Encoding {coding!r} (we ask for gzip or deflate)")
    if body.startswith(GZIP_MAGIC):
        body = _gunzip(body, limit)
    return body


def _gunzip(body: bytes, limit: int) -> bytes:
    try:
        return gunzip_limited(body, limit)
    except DocumentTooLarge as error:
        raise ResponseTooLarge(f"decompressed body exceeds the limit of {limit} bytes (a compression bomb?)") from error
    except (UnreadableDocument, zlib.error, EOFError, OSError) as error:
        raise TruncatedResponse(f"corrupt or truncated gzip body: {error}") from error


def _read_body(
    response: requests.Response,
    policy: FetchPolicy,
    deadline: float,
    clock: Callable[[], float],
    watch: Optional[Watch] = None,
) -> bytes:
    """The raw (still encoded) body, streamed so limits, the deadline and a stop cut it off early.

    A body is complete only when its framing says so: a body shorter than
    its ``Content-Length`` is a ``TruncatedResponse`` (checked here, not
    left to urllib3's ``enforce_content_length``), and a body cut short by
    the watchdog (deadline) or a stop is never taken for a whole one, even
    when nothing but the end of the connection delimits it.
    """
    limit = policy.max_response_bytes
    declared = _whole_number(response.headers.get("Content-Length"))
    if declared is not None and declared > limit:
        raise ResponseTooLarge(f"Content-Length {declared} exceeds the limit of {limit} bytes")
    # With Transfer-Encoding the chunked framing ends the body, and any Content-Length is to be ignored.
    length_framed = declared is not None and "Transfer-Encoding" not in response.headers
    chunks: list[bytes] = []
    size = 0
    raw = response.raw
    try:
        while True:
            if clock() > deadline:
                raise DeadlineExceeded(f"response not complete after the {policy.deadline:g} s deadline")
            # read1 returns what has arrived instead of waiting for a full
            # chunk, so a server trickling bytes meets the deadline check.
            chunk = raw.read1(_CHUNK, decode_content=False)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise ResponseTooLarge(f"body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
    except urllib3.exceptions.ReadTimeoutError as error:
        _raise_if_cut(watch, policy)
        raise FetchTimeout(f"no data for {policy.read_timeout:g} s while reading the body") from error
    except (urllib3.exceptions.ProtocolError, urllib3.exceptions.IncompleteRead) as error:
        _raise_if_cut(watch, policy)
        raise TruncatedResponse(f"connection closed mid-body after {size} bytes: {error}") from error
    except OSError as error:
        _raise_if_cut(watch, policy)
        raise ConnectionFailed(f"connection failed while reading the body: {error}") from error
    _raise_if_cut(watch, policy)
    if length_framed and declared is not None and size < declared:
        raise TruncatedResponse(f"body ends after {size} of the {declared} bytes its Content-Length announced")
    return b"".join(chunks)


def _raise_if_cut(watch: Optional[Watch], policy: FetchPolicy) -> None:
    """The real reason a read ended when the watchdog shut its socket: a stop, or the deadline."""
    if watch is None:
        return
    if watch.cancelled:
        raise FetchCancelled("abandoned: the run is stopping")
    if watch.fired:
        raise DeadlineExceeded(f"response not complete after the {policy.deadline:g} s deadline")


def _drain_small(response: requests.Response) -> None:
    """Reads out a body we will not use (304, redirect, error page) so the connection can be reused.

    Only bodies known to be small are drained; for anything else the
    connection is dropped rather than read to the end for nothing.
    """
    declared = _whole_number(response.headers.get("Content-Length"))
    bodiless = response.status_code == 304
    if not bodiless and not (declared is not None and declared <= _DRAIN_LIMIT):
        return
    try:
        response.raw.drain_conn()
    except Exception:  # noqa: BLE001 - a connection that cannot be drained is simply not reused
        pass


def _watchdog_of(session: requests.Session, url: str) -> Optional[Watchdog]:
    """The watchdog of the session's adapter for ``url`` (None for a session not made by ``make_session``)."""
    return getattr(session.get_adapter(url), "watchdog", None)


def _request(
    session: requests.Session,
    url: str,
    policy: FetchPolicy,
    validators: Optional[Validators],
    deadline: float,
    clock: Callable[[], float],
    outcome: FetchOutcome,
    stop: Optional[StopSignal] = None,
    accept: str = ANY_ACCEPT,
    check_hop: Optional[Callable[[str], None]] = None,
) -> _Response:
    """One attempt: follows redirects ourselves so every hop is checked, reads and decodes the body.

    What is known so far (final URL, status, redirects) is written into
    ``outcome`` as it is learnt, so an attempt that fails mid-body still
    reports the status it got.
    """
    current = url
    visited = {url}
    redirects = 0
    outcome.status, outcome.final_url, outcome.redirects = None, None, 0
    outcome.exchanges = []
    while True:
        if stop is not None and stop.is_set():
            raise FetchCancelled("abandoned: the run is stopping", url)
        check_url(current, policy.allow_private_hosts)
        if check_hop is not None and current != url:
            check_hop(current)  # the caller's own rule for where a redirect may lead (a page: its robots.txt)
        headers: dict[str, str] = {"Accept": accept}
        if validators is not None:
            if validators.etag:
                headers["If-None-Match"] = validators.etag
            if validators.last_modified:
                headers["If-Modified-Since"] = validators.last_modified
        remaining = deadline - clock()
        if remaining <= 0:
            raise DeadlineExceeded(f"response not complete after the {policy.deadline:g} s deadline", url)
        timeout = (policy.connect_timeout, min(policy.read_timeout, max(0.1, remaining)))
        watch = Watch(time.monotonic() + remaining, stop)
        watchdog = _watchdog_of(session, current)
        attempt = watchdog.attempt(watch) if watchdog is not None else nullcontext()
        try:
            with attempt:
                response = session.get(current, headers=headers, stream=True, allow_redirects=False, timeout=timeout)
        except requests.exceptions.ConnectTimeout as error:
            raise FetchTimeout(f"could not connect within {policy.connect_timeout:g} s", url) from error
        except requests.exceptions.InvalidURL as error:
            raise BlockedURL(f"invalid URL: {error}", url) from error
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ReadTimeout,
        ) as error:
            if watch.cancelled:
                raise FetchCancelled("abandoned: the run is stopping", url) from error
            if watch.fired:
                raise DeadlineExceeded(
                    f"response head not complete after the {policy.deadline:g} s deadline", url
                ) from error
            if isinstance(error, requests.exceptions.ReadTimeout):
                raise FetchTimeout(f"no response within {policy.read_timeout:g} s", url) from error
            raise ConnectionFailed(f"connection failed: {_root_message(error)}", url) from error
        # The rest of the exchange (a body drained or read) stays under the watch.
        token = watchdog.watch(watch, watch.sock) if watchdog is not None and watch.sock is not None else None
        try:
            hop = _finish_hop(response, current, url, visited, redirects, policy, deadline, clock, outcome, watch)
        finally:
            if token is not None and watchdog is not None:
                watchdog.release(token)
        if isinstance(hop, _Response):
            return hop
        current, redirects = hop


def _finish_hop(
    response: requests.Response,
    current: str,
    url: str,
    visited: set[str],
    redirects: int,
    policy: FetchPolicy,
    deadline: float,
    clock: Callable[[], float],
    outcome: FetchOutcome,
    watch: Watch,
) -> _Response | tuple[str, int]:
    """One hop's response: the next (URL, redirect count) to follow, or the final response with its body."""
    with response:
        ip = _peer_ip(response) if policy.keep_exchanges else None  # before the body: then the connection goes back
        status = response.status_code
        outcome.status, outcome.final_url = status, current
        outcome.headers = {name: response.headers[name] for name in HINT_HEADERS if name in response.headers}
        location = response.headers.get("Location")
        if status == 304 or status >= 300:
            _drain_small(response)
        if status in _REDIRECTS and location:
            target = urljoin(current, location.strip())
            redirects += 1
            outcome.redirects = redirects
            if target in visited:
                raise TooManyRedirects(f"redirect loop: {current} → {target}", url)
            if redirects > policy.max_redirects:
                raise TooManyRedirects(f"more than {policy.max_redirects} redirects (last to {target})", url)
            visited.add(target)
            if policy.keep_exchanges:
                outcome.exchanges.append(exchange_of(response, current, b"", ip))
            return target, redirects
        body = b"" if status >= 300 else _read_body(response, policy, deadline, clock, watch)
        if policy.keep_exchanges:
            outcome.exchanges.append(exchange_of(response, current, body, ip))
        return _Response(status, current, response.headers, body, len(body), redirects)


_HTTP_VERSIONS = MappingProxyType({9: "HTTP/0.9", 10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"})


def _peer_ip(response: requests.Response) -> Optional[str]:
    """The address the response's connection reached (set by the guarded pools when they connect)."""
    connection = getattr(response.raw, "_connection", None) or getattr(response.raw, "connection", None)
    return getattr(connection, "peer_ip", None)


def exchange_of(response: requests.Response, url: str, body: bytes, ip: Optional[str]) -> HttpExchange:
    """One response as it came, with the request that asked for it (``role`` is the caller's to set)."""
    raw = response.raw
    request = response.request
    return HttpExchange(
        url=url,
        fetched_at=Timestamp.of(time.time()),
        ip=ip,
        method=request.method or "GET",
        request_headers=[(str(k), str(v)) for k, v in request.headers.items()],
        http_version=_HTTP_VERSIONS.get(getattr(raw, "version", 11), "HTTP/1.1"),
        status=response.status_code,
        reason=response.reason or _reason(response.status_code),
        response_headers=[(str(k), str(v)) for k, v in raw.headers.items()],
        body=body,
        role="",
    )


def _root_message(error: BaseException) -> str:
    """The innermost cause's message: requests wraps urllib3 wraps the socket error."""
    while error.__cause__ is not None or error.__context__ is not None:
        nested = error.__cause__ or error.__context__
        assert nested is not None
        if isinstance(nested, BlockedURL):
            return str(nested)
        error = nested
    for arg in getattr(error, "args", ()):
        inner = getattr(arg, "reason", None)
        if inner is not None:
            return str(inner)
    return str(error) or type(error).__name__


def _blocked_cause(error: BaseException) -> Optional[BlockedURL]:
    seen: set[int] = set()
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, BlockedURL):
            return current
        reason = getattr(current, "reason", None)
        if isinstance(reason, BlockedURL):
            return reason
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException):
                found = _blocked_cause(arg)
                if found:
                    return found
        current = current.__cause__ or current.__context__
    return None


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def fetch(
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
    accept: str = ANY_ACCEPT,
    check_hop: Optional[Callable[[str], None]] = None,
) -> FetchOutcome:
    """Fetch ``url`` with retries; never raises for anything the server or network does.

    ``gate`` is called before every attempt (per-host politeness), and each
    attempt is made inside ``slot()`` (a per-host concurrency limit: held
    for the request only, never through a back-off between attempts). Every
    request sends ``accept`` as its Accept header. The outcome has the
    decoded body for a 2xx, ``not_modified`` for a 304, else ``error``. Once
    ``stop`` is set the fetch ends with ``FetchCancelled`` (the request in
    flight is cut off; pass ``sleep=stop.wait`` for an interruptible back-off).
    ``check_hop`` is called with every redirect target before it is
    requested, and refuses it by raising a ``FetchError`` (a page fetch asks
    the target site's robots.txt).
    """
    rng = rng or random.Random()
    outcome = FetchOutcome(url)
    started = clock()
    while True:
        if stop is not None and stop.is_set():
            outcome.error = FetchCancelled("abandoned: the run is stopping", url)
            break
        outcome.attempts += 1
        held = slot() if slot is not None else nullcontext()
        retry_after: Optional[float] = None
        try:
            with held:
                if gate is not None:
                    gate()
                if outcome.attempts == 1:
                    started = clock()  # the wait for a turn at the host is politeness, not this URL's time
                response = _request(
                    session, url, policy, validators, clock() + policy.deadline, clock, outcome, stop, accept, check_hop
                )
            outcome.content_type = response.headers.get("Content-Type")
            if response.status == 304:
                outcome.not_modified = True
                outcome.etag = response.headers.get("ETag") or (validators.etag if validators else None)
                outcome.last_modified = response.headers.get("Last-Modified") or (
                    validators.last_modified if validators else None
                )
                outcome.error = None
                break
            if response.status >= 300:
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                error_type = (
                    RetryableStatus
                    if response.status in _RETRYABLE_STATUS or response.status >= 500
                    else HTTPStatusError
                )
                raise error_type(f"HTTP {response.status} {_reason(response.status)}", url)
            outcome.wire_bytes = response.wire_bytes
            body = decode_body(response.body, response.headers.get("Content-Encoding"), policy.max_decoded_bytes)
            if not body.strip():
                raise EmptyResponse(f"HTTP {response.status} with an empty body", url)
            outcome.body = body
            outcome.etag = response.headers.get("ETag")
            outcome.last_modified = response.headers.get("Last-Modified")
            outcome.error = None
            break
        except FetchError as fetch_error:
            outcome.error = fetch_error
        except Exception as other:  # noqa: BLE001 - an unexpected client failure is still this URL's outcome
            outcome.error = _blocked_cause(other) or ConnectionFailed(f"{type(other).__name__}: {other}", url)
        if stop is not None and stop.is_set() and not isinstance(outcome.error, FetchCancelled):
            # Whatever this attempt ended in, it was abandoned: its error is not the URL's.
            outcome.error = FetchCancelled(f"abandoned: the run is stopping ({outcome.error})", url)
        failure = outcome.error
        if not failure.retryable or outcome.attempts > policy.retries:
            break
        wait = retry_delay(outcome.attempts, policy, retry_after, rng)
        if wait > policy.max_retry_wait:
            outcome.error = type(failure)(
                f"{failure} (server asked to wait {wait:.0f} s, over --max-retry-wait {policy.max_retry_wait:g} s)",
                url,
            )
            break
        outcome.waits.append(wait)
        sleep(wait)
    outcome.elapsed = clock() - started
    return outcome

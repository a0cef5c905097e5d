"""Feeds over HTTP: fetched like a careful feed reader, safe against hostile servers.

We fetch the bytes ourselves (feedparser's own HTTP support is being removed
upstream) with ``requests``, and hand them to the same parse path as a feed
file. Around the single request the fetcher adds what makes a feed reader a
good citizen and hard to abuse:

* conditional requests (ETag / Last-Modified from the previous run), so an
  unchanged feed costs a 304 and no parsing;
* bounded retries with exponential backoff on connection errors, timeouts,
  truncated bodies, 408, 429 and 5xx, honouring ``Retry-After``; other 4xx
  are final;
* per-host politeness: at most N requests at once and a minimum gap between
  request starts per host, while different hosts are fetched in parallel;
* limits on the body on the wire, the decompressed body (a gzip bomb is cut
  off while it inflates), redirects and the time one response may take; a
  body shorter than its ``Content-Length`` is a truncated response, never a
  document;
* a ``StopSignal`` that every wait honours (the request in flight, the
  back-off between attempts, the turn at a host), so a stopping stream
  abandons its fetches at once instead of waiting on a server that trickles;
* server-side request forgery protection: only http(s), and every connection
  (redirect targets included) is checked *after* it is made against the
  address it actually reached, so DNS tricks and redirects to 127.0.0.1 or
  169.254.169.254 are refused, unless ``--allow-private-hosts``.

The pure parts (``fetch``, ``decode_body``, ``retry_delay``, ``fetch_all``)
take their collaborators as arguments and are tested against a real local
server; ``FetchFeeds`` wraps them in a Beam transform.
"""

from __future__ import annotations

import hashlib
import heapq
import importlib.metadata
import ipaddress
import queue
import random
import socket
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Optional, TypeVar
from urllib.parse import urljoin, urlparse

import apache_beam as beam
import lxml.etree
import lxml.html
import numpy as np
import requests
import urllib3
from apache_beam.utils.timestamp import Duration, Timestamp
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from schemas import FeedFetch, FeedRequest, FeedState, RawDocument
from transforms.errors import (
    DEAD_LETTER,
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
    SafeDoFn,
    TooManyRedirects,
    TruncatedResponse,
    UnreadableDocument,
    UnsupportedContent,
    counter,
)
from transforms.refresh import HINT_HEADERS, refresh_hint, retry_after_seconds
from transforms.refresh import whole_number as _whole_number
from transforms.sources import GZIP_MAGIC, gunzip_limited, looks_like_opml, opml_feeds


def _version() -> str:
    try:
        return importlib.metadata.version("newsbeam")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree that was not installed
        return "dev"


VERSION = _version()
#: Output tags of ``FetchFeeds`` besides the documents.
FETCHES = "fetches"
LISTED = "listed"
_REDIRECTS = (301, 302, 303, 307, 308)
_RETRYABLE_STATUS = {408, 429}
_CHUNK = 64 * 1024


# --------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------


class FetchPolicy(NamedTuple):
    """Everything that decides how one feed is fetched; built from the pipeline options."""

    contact: Optional[str] = None
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    deadline: float = 120.0
    max_redirects: int = 5
    retries: int = 3
    backoff: float = 1.0
    max_retry_wait: float = 60.0
    max_bytes: int = 16 * 1024 * 1024
    max_decompressed: int = 64 * 1024 * 1024
    allow_private_hosts: bool = False
    conditional: bool = True
    per_host_concurrency: int = 2
    per_host_delay: float = 1.0
    threads: int = 16
    discover: bool = True

    @property
    def user_agent(self) -> str:
        contact = f"; +{self.contact}" if self.contact else ""
        return f"newsbeam/{VERSION} (feed fetcher; Apache Beam{contact})"


# --------------------------------------------------------------------------
# Server-side request forgery
# --------------------------------------------------------------------------


def blocked_reason(address: str) -> Optional[str]:
    """Why an IP address must not be fetched from (loopback, private, …), or None when it is public."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for flag, reason in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(ip, flag):
            return reason
    if not ip.is_global:
        return "not globally routable"
    return None


def check_url(url: str, allow_private: bool = True) -> str:
    """The URL's host, after refusing schemes other than http(s) and URLs without a host.

    Without ``allow_private``, a host that is a non-public IP literal or a
    ``localhost`` name is refused here, before any packet is sent; names that
    resolve to such addresses are caught when the connection is made.
    """
    try:
        parsed = urlparse(url)
        host = parsed.hostname
        parsed.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as error:
        raise BlockedURL(f"invalid URL: {error}", url) from error
    if parsed.scheme.lower() not in ("http", "https"):
        raise BlockedURL(f"refused URL scheme {parsed.scheme or '(none)'!r}: only http and https are fetched", url)
    if not host:
        raise BlockedURL("URL has no host", url)
    host = host.lower()
    if not allow_private:
        bare = host.rstrip(".")  # "localhost." is the same name, fully qualified
        if bare == "localhost" or bare.endswith(".localhost"):
            raise BlockedURL(f"refused: {host} is a loopback name (pass --allow-private-hosts to fetch it)", url)
        try:
            ipaddress.ip_address(bare)
        except ValueError:
            return host
        reason = blocked_reason(bare)
        if reason:
            raise BlockedURL(f"refused: {host} is a {reason} address (pass --allow-private-hosts to fetch it)", url)
    return host


#: The deadline of the request the current thread is making, for the
#: connection classes below (urllib3 gives them no per-request argument).
_WATCH = threading.local()


class FetchCancelled(FetchError):
    """The run is stopping: a fetch in flight, or waiting for its turn, was abandoned.

    Never a fact about the feed: not retried, not a dead letter, not a
    failure in the feed's health; the stream counts the poll as abandoned.
    """


class StopSignal:
    """A stop that every wait of a fetch honours: the back-off, the turn at a host, the request in flight.

    Two steps, each once and from any thread. ``set``: nothing new starts
    (no attempt, no redirect hop, no retry) and every wait wakes, so a fetch
    that is not talking to a server ends in ``FetchCancelled`` at once; a
    request in flight may still finish. ``cut``: the sockets of the requests
    still in flight are shut down (through the watchdog), so they end in
    ``FetchCancelled`` too, whatever the server is doing (trickling a body,
    or sending nothing). Only a connection still being opened runs on to
    its connect timeout, and nothing need wait for it.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._cut = threading.Event()

    def set(self) -> None:
        self._event.set()

    def cut(self) -> None:
        """Sets the signal, and cuts off the requests still in flight under it."""
        self._event.set()
        if self._cut.is_set():
            return
        self._cut.set()
        _WATCHDOG.cancel(self)

    def is_set(self) -> bool:
        return self._event.is_set()

    def is_cut(self) -> bool:
        return self._cut.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleeps ``seconds``, or less if the signal is set meanwhile; True when it is set."""
        return self._event.wait(max(0.0, seconds))


class _Watch:
    """One attempt's deadline (monotonic seconds), its stop signal, and whether either cut it off."""

    def __init__(self, deadline: float, stop: Optional[StopSignal] = None):
        self.deadline = deadline
        self.stop = stop
        self.fired = False
        self.cancelled = False
        self.sock: Any = None


class _FetchConnectionMixin:
    """Connection hooks: the address check (when ``check_peer``) and a watchdog on the response head.

    The address a new connection actually reached is checked after it is
    made, which defeats DNS rebinding and covers redirect targets. The
    watchdog shuts the socket down when the attempt's deadline passes (or
    its stop signal is set) while the status line and headers are still
    arriving: the read timeout alone cannot stop a server that trickles a
    header byte every few seconds. The socket is kept on the watch, so the
    body is read under the same watch.
    """

    host: str
    sock: Any
    check_peer = False

    def _new_conn(self) -> Any:
        sock = super()._new_conn()  # type: ignore[misc]
        if self.check_peer:
            peer = sock.getpeername()[0]
            reason = blocked_reason(peer)
            if reason:
                sock.close()
                raise BlockedURL(
                    f"refused: {self.host} is at {peer}, a {reason} address (pass --allow-private-hosts to fetch it)",
                    self.host,
                )
        return sock

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        watch: Optional[_Watch] = getattr(_WATCH, "current", None)
        sock = self.sock
        if watch is None or sock is None:
            return super().getresponse(*args, **kwargs)  # type: ignore[misc]
        watch.sock = sock
        token = _WATCHDOG.watch(watch, sock)
        try:
            return super().getresponse(*args, **kwargs)  # type: ignore[misc]
        finally:
            _WATCHDOG.release(token)


class _Watchdog:
    """One thread per process that shuts down the sockets of responses past their deadline or stopped.

    Cheaper than a timer thread per request: registering is a heap push under
    a lock, and the thread sleeps until the earliest deadline. A stop signal
    shuts its watches' sockets down at once (``cancel``), and a watch
    registered after its signal was cut is shut down as it registers.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._active: dict[int, tuple[_Watch, Any]] = {}
        self._next = 0
        self._thread: Optional[threading.Thread] = None

    def watch(self, watch: _Watch, sock: Any) -> int:
        with self._lock:
            self._next += 1
            token = self._next
            self._active[token] = (watch, sock)
            heapq.heappush(self._heap, (watch.deadline, token))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="newsbeam-fetch-watchdog", daemon=True)
                self._thread.start()
            self._lock.notify()
        if watch.stop is not None and watch.stop.is_cut():
            self._cut([token], cancelled=True)  # the cut came before this watch registered
        return token

    def release(self, token: int) -> None:
        with self._lock:
            self._active.pop(token, None)

    def cancel(self, stop: StopSignal) -> None:
        """Shuts down every socket watched under ``stop``."""
        with self._lock:
            tokens = [token for token, (watch, _) in self._active.items() if watch.stop is stop]
        self._cut(tokens, cancelled=True)

    def _cut(self, tokens: list[int], cancelled: bool) -> None:
        cut = []
        with self._lock:
            for token in tokens:
                entry = self._active.pop(token, None)
                if entry is not None:
                    cut.append(entry)
        for watch, sock in cut:
            if cancelled:
                watch.cancelled = True
            else:
                watch.fired = True
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._heap and self._heap[0][1] not in self._active:
                    heapq.heappop(self._heap)  # released before its deadline
                if not self._heap:
                    self._lock.wait(timeout=60.0)
                    continue
                deadline, token = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._lock.wait(timeout=wait)
                    continue
                heapq.heappop(self._heap)
            self._cut([token], cancelled=False)


_WATCHDOG = _Watchdog()


def _pool_classes(check_peer: bool) -> dict[str, type]:
    http_conn = type("_FetchHTTPConnection", (_FetchConnectionMixin, HTTPConnection), {"check_peer": check_peer})
    https_conn = type("_FetchHTTPSConnection", (_FetchConnectionMixin, HTTPSConnection), {"check_peer": check_peer})
    return {
        "http": type("_FetchHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("_FetchHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }


_GUARDED_POOLS = _pool_classes(check_peer=True)
_PLAIN_POOLS = _pool_classes(check_peer=False)


class _FetchAdapter(HTTPAdapter):
    def __init__(self, check_peer: bool, **kwargs: Any):
        self.check_peer = check_peer
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_GUARDED_POOLS if self.check_peer else _PLAIN_POOLS)


def make_session(policy: FetchPolicy) -> requests.Session:
    """A session for one worker: our User-Agent, no proxies or .netrc from the environment.

    Environment proxies are ignored on purpose: through a proxy the address
    check would see the proxy, not the feed's host.
    """
    session = requests.Session()
    session.trust_env = False
    size = max(policy.per_host_concurrency, 4)
    adapter = _FetchAdapter(check_peer=not policy.allow_private_hosts, pool_maxsize=size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update(
        {
            "User-Agent": policy.user_agent,
            "Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
            "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        }
    )
    return session


# --------------------------------------------------------------------------
# One fetch
# --------------------------------------------------------------------------


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
    watch: Optional[_Watch] = None,
) -> bytes:
    """The raw (still encoded) body, streamed so limits, the deadline and a stop cut it off early.

    A body is complete only when its framing says so: a body shorter than
    its ``Content-Length`` is a ``TruncatedResponse`` (checked here, not
    left to urllib3's ``enforce_content_length``), and a body cut short by
    the watchdog (deadline) or a stop is never taken for a whole one, even
    when nothing but the end of the connection delimits it.
    """
    declared = _whole_number(response.headers.get("Content-Length"))
    if declared is not None and declared > policy.max_bytes:
        raise ResponseTooLarge(f"Content-Length {declared} exceeds the limit of {policy.max_bytes} bytes")
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
            if size > policy.max_bytes:
                raise ResponseTooLarge(f"body exceeds the limit of {policy.max_bytes} bytes")
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


def _raise_if_cut(watch: Optional[_Watch], policy: FetchPolicy) -> None:
    """The real reason a read ended when the watchdog shut its socket: a stop, or the deadline."""
    if watch is None:
        return
    if watch.cancelled:
        raise FetchCancelled("abandoned: the run is stopping")
    if watch.fired:
        raise DeadlineExceeded(f"response not complete after the {policy.deadline:g} s deadline")


_DRAIN_LIMIT = 64 * 1024


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


def _request(
    session: requests.Session,
    url: str,
    policy: FetchPolicy,
    validators: Optional[Validators],
    deadline: float,
    clock: Callable[[], float],
    outcome: FetchOutcome,
    stop: Optional[StopSignal] = None,
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
    while True:
        if stop is not None and stop.is_set():
            raise FetchCancelled("abandoned: the run is stopping", url)
        check_url(current, policy.allow_private_hosts)
        headers: dict[str, str] = {}
        if validators is not None:
            if validators.etag:
                headers["If-None-Match"] = validators.etag
            if validators.last_modified:
                headers["If-Modified-Since"] = validators.last_modified
        remaining = deadline - clock()
        if remaining <= 0:
            raise DeadlineExceeded(f"response not complete after the {policy.deadline:g} s deadline", url)
        timeout = (policy.connect_timeout, min(policy.read_timeout, max(0.1, remaining)))
        watch = _Watch(time.monotonic() + remaining, stop)
        _WATCH.current = watch
        try:
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
        finally:
            _WATCH.current = None
        # The rest of the exchange (a body drained or read) stays under the watch.
        token = _WATCHDOG.watch(watch, watch.sock) if watch.sock is not None else None
        try:
            hop = _finish_hop(response, current, url, visited, redirects, policy, deadline, clock, outcome, watch)
        finally:
            if token is not None:
                _WATCHDOG.release(token)
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
    watch: _Watch,
) -> _Response | tuple[str, int]:
    """One hop's response: the next (URL, redirect count) to follow, or the final response with its body."""
    with response:
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
            return target, redirects
        body = b"" if status >= 300 else _read_body(response, policy, deadline, clock, watch)
        return _Response(status, current, response.headers, body, len(body), redirects)


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


_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+json")


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
) -> FetchOutcome:
    """Fetch ``url`` with retries; never raises for anything the server or network does.

    ``gate`` is called before every attempt (per-host politeness), and each
    attempt is made inside ``slot()`` (a per-host concurrency limit: held
    for the request only, never through a back-off between attempts). The outcome
    has the decoded body for a 2xx, ``not_modified`` for a 304, else ``error``.
    When the URL gives a web page that advertises a feed (and
    ``policy.discover``), the feed is fetched in its place, as feed readers
    do; the hop counts as a redirect and ``final_url`` is the feed's. Once
    ``stop`` is set the fetch ends with ``FetchCancelled`` (the request in
    flight is cut off; pass ``sleep=stop.wait`` for an interruptible back-off).
    """
    outcome = _fetch_with_retries(session, url, policy, validators, gate, sleep, clock, rng, stop, slot)
    if not policy.discover or outcome.error is not None or outcome.body is None:
        return outcome
    if not looks_like_html_page(outcome.body, outcome.content_type):
        return outcome
    link = discover_feed(outcome.body, outcome.final_url or url)
    if link is None or link in (url, outcome.final_url):
        return outcome
    same_host = host_of(link) == host_of(url)
    found = _fetch_with_retries(
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
    )
    found.url = url
    found.redirects += outcome.redirects + 1
    found.attempts += outcome.attempts
    found.wire_bytes += outcome.wire_bytes
    found.elapsed += outcome.elapsed
    found.waits = outcome.waits + found.waits
    if found.error is not None:
        found.error = type(found.error)(f"{found.error} (the feed {link} that the page at {url} links to)", url)
    return found


def _fetch_with_retries(
    session: requests.Session,
    url: str,
    policy: FetchPolicy,
    validators: Optional[Validators],
    gate: Optional[Callable[[], object]],
    sleep: Callable[[float], object],
    clock: Callable[[], float],
    rng: Optional[random.Random],
    stop: Optional[StopSignal] = None,
    slot: Optional[Callable[[], AbstractContextManager[object]]] = None,
) -> FetchOutcome:
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
                    started = clock()  # the wait for a turn at the host is politeness, not this feed's time
                response = _request(session, url, policy, validators, clock() + policy.deadline, clock, outcome, stop)
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
            body = decode_body(response.body, response.headers.get("Content-Encoding"), policy.max_decompressed)
            if not body.strip():
                raise EmptyResponse(f"HTTP {response.status} with an empty body", url)
            outcome.body = body
            outcome.etag = response.headers.get("ETag")
            outcome.last_modified = response.headers.get("Last-Modified")
            outcome.error = None
            break
        except FetchError as fetch_error:
            outcome.error = fetch_error
        except Exception as other:  # noqa: BLE001 - an unexpected client failure is still this feed's outcome
            outcome.error = _blocked_cause(other) or ConnectionFailed(f"{type(other).__name__}: {other}", url)
        if stop is not None and stop.is_set() and not isinstance(outcome.error, FetchCancelled):
            # Whatever this attempt ended in, it was abandoned: its error is not the feed's.
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


def _reason(status: int) -> str:
    try:
        from http import HTTPStatus

        return HTTPStatus(status).phrase
    except ValueError:
        return ""


# --------------------------------------------------------------------------
# Many fetches: per-host politeness, hosts in parallel
# --------------------------------------------------------------------------


class HostGate:
    """Spaces request starts to one host at least ``delay`` seconds apart, across threads."""

    def __init__(
        self,
        delay: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.delay = delay
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def __call__(self) -> None:
        self.wait_turn()

    def wait_turn(self, stop: Optional[StopSignal] = None) -> bool:
        """Waits for this caller's turn; False when ``stop`` was set meanwhile (the turn is not to be used)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.delay
        if start > now:
            if stop is not None:
                return not stop.wait(start - now)
            self._sleep(start - now)
        return stop is None or not stop.is_set()


T = TypeVar("T")
J = TypeVar("J")


def host_of(url: str) -> str:
    return (urlparse(url).hostname or "").lower()


_GATES: dict[str, HostGate] = {}
_GATES_LOCK = threading.Lock()


def host_gate(host: str, delay: float) -> HostGate:
    """This process's gate for ``host``: shared by every fetch in the process (both OPML rounds
    included), so the delay between two requests to a host holds across them."""
    with _GATES_LOCK:
        gate = _GATES.get(host)
        if gate is None:
            gate = _GATES[host] = HostGate(delay)
        gate.delay = delay
        return gate


_SLOTS: dict[tuple[str, int], threading.BoundedSemaphore] = {}


def host_slots(host: str, concurrency: int) -> threading.BoundedSemaphore:
    """This process's limit on requests in flight to ``host`` (for fetches not scheduled by ``fetch_all``)."""
    with _GATES_LOCK:
        slots = _SLOTS.get((host, concurrency))
        if slots is None:
            slots = _SLOTS[(host, concurrency)] = threading.BoundedSemaphore(concurrency)
        return slots


def fetch_all(
    jobs: Iterable[J],
    work: Callable[[J, HostGate], T],
    key: Callable[[J], str],
    threads: int,
    per_host: int,
    delay: float,
    gate_for: Optional[Callable[[str], HostGate]] = None,
) -> Iterator[tuple[J, T | BaseException]]:
    """Runs ``work`` on every job, yielding ``(job, result or exception)`` as each finishes.

    Each host gets at most ``per_host`` lanes; a lane takes that host's jobs
    one after another, passing through the host's gate before each request.
    Lanes of different hosts run side by side on ``threads`` threads, so one
    slow or rate-limited host never holds up the others, and a lane never
    waits on a host it is not fetching.
    """
    by_host: dict[str, queue.SimpleQueue[J]] = {}
    total = 0
    for job in jobs:
        by_host.setdefault(key(job), queue.SimpleQueue()).put(job)
        total += 1
    if not total:
        return
    gates = {host: gate_for(host) if gate_for else HostGate(delay) for host in by_host}
    done: queue.SimpleQueue[tuple[J, T | BaseException]] = queue.SimpleQueue()

    def lane(host: str) -> None:
        pending = by_host[host]
        while True:
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            try:
                done.put((job, work(job, gates[host])))
            except BaseException as error:  # noqa: BLE001 - handed to the caller, never lost
                done.put((job, error))

    lanes = [host for index in range(per_host) for host in by_host if by_host[host].qsize() > index]
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="newsbeam-fetch") as pool:
        for host in lanes:
            pool.submit(lane, host)
        for _ in range(total):
            yield done.get()


# --------------------------------------------------------------------------
# Beam
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


class _FetchShard(SafeDoFn):
    """Fetches one shard's feeds (all feeds of its hosts) with the host-aware scheduler."""

    stage = "fetch"
    counts_read = True

    def __init__(self, run_id: str, policy: FetchPolicy, expand_opml: bool):
        super().__init__(run_id)
        self.policy = policy
        self.expand_opml = expand_opml
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

    def setup(self) -> None:
        self._session = make_session(self.policy)

    def teardown(self) -> None:
        if self._session is not None:
            self._session.close()

    def process(  # type: ignore[override]
        self, element: tuple[int, Iterable[FeedRequest]], state: Mapping[str, FeedState]
    ) -> Iterator[Any]:
        _, requests_ = element
        if self._session is None:
            self.setup()
        session = self._session
        assert session is not None
        policy = self.policy

        def work(request: FeedRequest, gate: HostGate) -> FetchOutcome:
            return fetch(session, request.url, policy, validators_for(state.get(request.url), policy), gate)

        results = fetch_all(
            list(requests_),
            work,
            lambda r: host_of(r.url),
            policy.threads,
            policy.per_host_concurrency,
            policy.per_host_delay,
            lambda host: host_gate(host, policy.per_host_delay),
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
    a second ``FetchFeeds`` given the first one's URLs as ``already_fetched``.
    """

    def __init__(
        self,
        run_id: str,
        policy: FetchPolicy,
        state: beam.pvalue.AsSideInput,
        shards: int = 1,
        expand_opml: bool = True,
        already_fetched: Optional[beam.PCollection[str]] = None,
    ):
        super().__init__()
        self.run_id = run_id
        self.policy = policy
        self.state = state
        self.shards = shards
        self.expand_opml = expand_opml
        self.already_fetched = already_fetched

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
            >> beam.ParDo(_FetchShard(self.run_id, self.policy, self.expand_opml), self.state).with_outputs(
                DEAD_LETTER, FETCHES, LISTED, main="documents"
            )
        )
        documents = fetched.documents | "Spread" >> beam.Reshuffle()
        return {
            "documents": documents,
            FETCHES: fetched[FETCHES],
            LISTED: fetched[LISTED],
            DEAD_LETTER: fetched[DEAD_LETTER],
        }

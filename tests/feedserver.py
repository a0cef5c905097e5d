"""A real HTTP server on 127.0.0.1 for testing feed fetchers against endpoints that misbehave on purpose.

Mocking the HTTP client hides exactly the bugs a fetcher has in practice:
keep-alive framing, conditional requests, content negotiation, slow or
truncated bodies, redirect loops, compression bombs. So the tests talk to a
real socket instead: ``FeedServer`` runs a ``ThreadingHTTPServer`` bound to
127.0.0.1 only (never a routable interface) on an ephemeral port, and each path
is served by a *responder*, a callable ``(Request) -> Response``. The builders
below (``static``, ``sequence``, ``redirect``, ``mutable``, ``raw``) cover the
usual misbehaviours; the content builders (``rss``, ``atom``, ``entry``,
``opml``, ``gzip_bomb``) produce the bodies. Stdlib only, so it runs wherever
the tests do::

    with FeedServer() as server:
        url = server.route("/feed.xml", static(rss([entry(1), entry(2)]), etag='"v1"'))
        ...  # fetch url, then look at server.requests_for("/feed.xml")
"""

from __future__ import annotations

import email.utils
import errno
import gzip as _gzip
import random
import re
import socket
import sys
import threading
import time
import traceback
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Optional, Union
from urllib.parse import urlsplit

__all__ = [
    "FeedServer",
    "Request",
    "Response",
    "RawResponse",
    "Responder",
    "Mutable",
    "static",
    "sequence",
    "redirect",
    "mutable",
    "raw",
    "rss",
    "atom",
    "entry",
    "gzip_bomb",
    "opml",
    "http_date",
]

HOST = "127.0.0.1"
#: Disconnects a fetcher causes on purpose (timeouts, size caps): never an error of the server.
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
#: Statuses whose responses never carry a body, so no Content-Length is added for them.
_NO_BODY = frozenset({204, 304})


class Request(NamedTuple):
    """What the fetcher sent, kept so tests can assert on it (conditional headers, User-Agent, timing)."""

    method: str
    #: As sent, query string included.
    path: str
    #: Lower-cased names; a repeated header is joined with ", " as RFC 9110 allows.
    headers: dict[str, str]
    #: ``time.monotonic()`` when the request head was read: compare with a test's own monotonic clock.
    time: float


@dataclass
class Response:
    """What to send, including the ways of sending it badly.

    ``headers`` override the automatic ones (Server, Date, Content-Length); a
    value of None suppresses an automatic header (``{"Content-Length": None}``
    makes a body delimited by closing the connection), a list value repeats the
    header (e.g. two conflicting Content-Lengths). Framing stays honest unless
    asked otherwise: whenever the bytes sent cannot delimit themselves
    (``declared_length`` differing from the body, no length at all), the
    connection is closed afterwards so the next request never reads garbage.
    """

    status: int = 200
    headers: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""
    #: Seconds slept between body chunks: a server that trickles.
    chunk_delay: float = 0.0
    chunk_size: int = 65536
    #: Seconds slept before the status line: a server slow to answer at all.
    delay: float = 0.0
    #: Sent as Content-Length instead of ``len(body)``; larger than the body means a truncated response.
    declared_length: Optional[int] = None
    #: Send ``Connection: close`` and close after this response.
    close: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.body, str):
            self.body = self.body.encode("utf-8")
        if self.chunk_size <= 0:
            raise ValueError("chunk_size must be positive")


@dataclass
class RawResponse:
    """Bypasses HTTP entirely: ``write(request, wfile)`` puts arbitrary bytes on the socket, then it is closed."""

    write: Callable[[Request, BufferedIOBase], None]


Responder = Callable[[Request], Union[Response, RawResponse]]
ResponderLike = Union[Responder, Response, RawResponse]


def _as_responder(item: ResponderLike) -> Responder:
    """Lets a fixed Response stand wherever a responder is expected, which is what most routes want."""
    if isinstance(item, (Response, RawResponse)):
        fixed = item
        return lambda _request: fixed
    if callable(item):
        return item
    raise TypeError(f"not a responder or Response: {item!r}")


def _route_key(path: str) -> str:
    """Paths are matched without query or scheme/host so routes are written the way tests think of them."""
    if path.startswith(("http://", "https://")):
        parts = urlsplit(path)
        path = parts.path or "/"
    path = path.split("?", 1)[0].split("#", 1)[0]
    return path if path.startswith("/") else "/" + path


class _Server(ThreadingHTTPServer):
    """Tracks live connections and handler threads so shutting down leaves nothing behind."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: FeedServer):
        self.owner = owner
        self.stopping = threading.Event()
        self.live_lock = threading.Lock()
        self.live_sockets: set[socket.socket] = set()
        self.live_threads: set[threading.Thread] = set()
        super().__init__((HOST, 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._serve_one, args=(request, client_address), daemon=True)
        with self.live_lock:
            self.live_sockets.add(request)
            self.live_threads.add(thread)
        thread.start()

    def _serve_one(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - reported through handle_error like socketserver does
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self.live_lock:
                self.live_sockets.discard(request)
                self.live_threads.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Disconnects are the client's business, anything else is recorded for the test instead of printed."""
        exc = sys.exc_info()[1]
        if isinstance(exc, _DISCONNECTS) or self.stopping.is_set():
            return
        if isinstance(exc, OSError) and exc.errno in (errno.EBADF, errno.ENOTCONN):  # torn down under us
            return
        self.owner._record_error(traceback.format_exc())

    def close_connections(self) -> None:
        """Wakes handler threads blocked reading an idle keep-alive connection so they can finish."""
        with self.live_lock:
            sockets = list(self.live_sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def join_threads(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.live_lock:
            threads = list(self.live_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    """Dispatches every method to the route's responder and sends its Response byte for byte as asked."""

    protocol_version = "HTTP/1.1"
    server_version = "FeedServer/1"
    # A trickling body must leave the socket chunk by chunk, not when Nagle decides.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """The request log is ``FeedServer.requests``; stderr noise would only clutter test output."""

    def _dispatch(self) -> None:
        now = time.monotonic()
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        request = Request(self.command, self.path, headers, now)
        owner = self.server.owner
        owner._log(request)
        self._drain_request_body(headers)

        responder = owner._responder_for(_route_key(self.path))
        if responder is None:
            response: Union[Response, RawResponse] = Response(
                404, {"Content-Type": "text/plain; charset=utf-8"}, f"not found: {self.path}\n".encode()
            )
        else:
            try:
                response = responder(request)
            except Exception:  # noqa: BLE001 - a broken responder must show up as a 500, not kill the connection
                trace = traceback.format_exc()
                owner._record_error(trace)
                response = Response(500, {"Content-Type": "text/plain; charset=utf-8"}, trace.encode(), close=True)
        try:
            if isinstance(response, RawResponse):
                self.close_connection = True
                response.write(request, self.wfile)
                self.wfile.flush()
            else:
                self._send(response)
        except _DISCONNECTS:
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

    def _drain_request_body(self, headers: Mapping[str, str]) -> None:
        """Keeps a keep-alive connection in sync: an unread request body would be parsed as the next request."""
        if "transfer-encoding" in headers:
            self.close_connection = True  # chunked uploads are not something a feed fetcher sends
            return
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            self.close_connection = True
            return
        while length > 0:
            data = self.rfile.read(min(length, 65536))
            if not data:
                break
            length -= len(data)

    def _wait(self, seconds: float) -> None:
        """Sleeps, but wakes when the server stops so a long delay never holds up teardown."""
        if seconds > 0:
            self.server.stopping.wait(seconds)

    def _send(self, response: Response) -> None:
        self._wait(response.delay)
        body = response.body
        send_body = self.command != "HEAD" and (response.status not in _NO_BODY or bool(body))

        auto: dict[str, Any] = {"Server": self.version_string(), "Date": self.date_time_string()}
        if response.status not in _NO_BODY and response.status >= 200:
            auto["Content-Length"] = str(
                response.declared_length if response.declared_length is not None else len(body)
            )
        if response.close:
            auto["Connection"] = "close"
        final: dict[str, Any] = dict(auto)
        for name, value in response.headers.items():
            for existing in [k for k in final if k.lower() == name.lower()]:
                del final[existing]
            if value is not None:
                final[name] = value

        lower = {k.lower(): v for k, v in final.items()}
        must_close = response.close
        if send_body and "transfer-encoding" not in lower:  # with Transfer-Encoding the responder framed the body
            declared = lower.get("content-length")
            if declared is None or isinstance(declared, list) or str(declared).strip() != str(len(body)):
                must_close = True  # no length, conflicting lengths or a lie: only EOF can end this body

        self.send_response_only(response.status)
        for name, value in final.items():
            for one in value if isinstance(value, list) else [value]:
                self.send_header(name, str(one))
        self.end_headers()
        if must_close:
            # After the headers: send_header("Connection", "keep-alive") from a responder would have undone it.
            self.close_connection = True
        if send_body:
            self._write_body(body, response.chunk_size, response.chunk_delay)
        self.wfile.flush()

    def _write_body(self, body: bytes, chunk_size: int, chunk_delay: float) -> None:
        for start in range(0, len(body), chunk_size):
            if start and chunk_delay:
                self._wait(chunk_delay)
                if self.server.stopping.is_set():
                    self.close_connection = True
                    return
            self.wfile.write(body[start : start + chunk_size])
            self.wfile.flush()


class FeedServer:
    """An HTTP server on 127.0.0.1 for the length of a ``with`` block, with a log of every request it saw."""

    def __init__(self, routes: Optional[Mapping[str, ResponderLike]] = None):
        self._lock = threading.Lock()
        self._routes: dict[str, Responder] = {}
        self._requests: list[Request] = []
        self._errors: list[str] = []
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        for path, responder in (routes or {}).items():
            self.route(path, responder)

    # lifecycle -------------------------------------------------------------------------------------------------

    def start(self) -> FeedServer:
        """Binds an ephemeral port on loopback only: tests run in parallel and must never be reachable from outside."""
        if self._server is not None:
            raise RuntimeError("FeedServer already started")
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="FeedServer", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops accepting, breaks open connections and delays, and frees the port before returning."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        server.join_threads(timeout=2.0)
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # addressing ------------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FeedServer is not running")
        return self._server.server_address[1]

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base + (path if path.startswith("/") else "/" + path)

    # routing ---------------------------------------------------------------------------------------------------

    def route(self, path: str, responder: ResponderLike) -> str:
        """Registers (or replaces) the responder for one exact path; returns its URL so a test can chain on it.

        Before ``start`` there is no port yet, so the path itself is returned.
        """
        with self._lock:
            self._routes[_route_key(path)] = _as_responder(responder)
        return self.url(path) if self._server is not None else path

    def _responder_for(self, key: str) -> Optional[Responder]:
        with self._lock:
            return self._routes.get(key)

    # request log -----------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """A snapshot: handler threads keep appending while a test iterates."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[Request]:
        key = _route_key(path)
        return [r for r in self.requests if _route_key(r.path) == key]

    def reset_log(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def errors(self) -> list[str]:
        """Tracebacks of responders that raised (answered with a 500): a test can assert this stays empty."""
        with self._lock:
            return list(self._errors)

    def _log(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def _record_error(self, trace: str) -> None:
        with self._lock:
            self._errors.append(trace)


# responders ----------------------------------------------------------------------------------------------------

_ETAG_RE = re.compile(r'\s*(\*|(?:W/)?"[^"]*")\s*(?:,|$)')


def _quote_etag(etag: str) -> str:
    """Accepts a bare token for convenience; what goes on the wire must be a quoted entity-tag."""
    etag = etag.strip()
    if etag.startswith('"') or etag.startswith('W/"'):
        return etag
    return f'"{etag}"'


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison, as RFC 9110 prescribes for If-None-Match: ``W/"x"`` matches ``"x"``."""
    opaque = etag[2:] if etag.startswith("W/") else etag
    for candidate in _ETAG_RE.findall(if_none_match):
        if candidate == "*":
            return True
        if (candidate[2:] if candidate.startswith("W/") else candidate) == opaque:
            return True
    return False


def _parse_http_date(value: str) -> Optional[datetime]:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _accepts_gzip(accept_encoding: str) -> bool:
    """Honours q-values: ``gzip;q=0`` is a refusal, ``*`` an acceptance unless gzip is refused by name."""
    explicit: Optional[bool] = None
    star: Optional[bool] = None
    for part in accept_encoding.split(","):
        coding, _, params = part.strip().partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            explicit = q > 0
        elif coding == "*":
            star = q > 0
    if explicit is not None:
        return explicit
    return bool(star)


def static(
    body: Union[bytes, str],
    content_type: str = "application/rss+xml; charset=utf-8",
    etag: Optional[str] = None,
    last_modified: Union[str, datetime, float, None] = None,
    gzip: bool = False,
    headers: Optional[Mapping[str, Any]] = None,
) -> Responder:
    """A well-behaved origin: validators and conditional GET the way a fetcher's caching logic expects them.

    If-None-Match takes precedence over If-Modified-Since (RFC 9110 §13.2.2):
    when a fetcher sends both, only the ETag decides. Conditionals apply to GET
    and HEAD only. The gzip body is compressed once, with a fixed mtime, so it
    is byte-identical across requests.
    """
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    tag = _quote_etag(etag) if etag is not None else None
    if last_modified is not None and not isinstance(last_modified, str):
        last_modified = http_date(last_modified)
    modified_at = _parse_http_date(last_modified) if last_modified else None
    compressed = _gzip.compress(data, mtime=0) if gzip else None
    extra = dict(headers or {})

    def respond(request: Request) -> Response:
        validators: dict[str, Any] = {}
        if tag is not None:
            validators["ETag"] = tag
        if last_modified is not None:
            validators["Last-Modified"] = last_modified
        if gzip:
            validators["Vary"] = "Accept-Encoding"
        if request.method in ("GET", "HEAD"):
            inm = request.headers.get("if-none-match")
            if inm is not None:
                if tag is not None and _etag_matches(inm, tag):
                    return Response(304, validators)
            elif modified_at is not None and "if-modified-since" in request.headers:
                since = _parse_http_date(request.headers["if-modified-since"])
                if since is not None and since >= modified_at:
                    return Response(304, validators)
        out = {"Content-Type": content_type, **validators}
        payload = data
        if compressed is not None and _accepts_gzip(request.headers.get("accept-encoding", "")):
            out["Content-Encoding"] = "gzip"
            payload = compressed
        out.update(extra)
        return Response(200, out, payload)

    return respond


def sequence(*items: ResponderLike) -> Responder:
    """Scripts a flaky origin (500, 500, then 200): the n-th request gets the n-th item, the last repeats."""
    if not items:
        raise ValueError("sequence needs at least one item")
    responders = [_as_responder(item) for item in items]
    lock = threading.Lock()
    count = 0

    def respond(request: Request) -> Union[Response, RawResponse]:
        nonlocal count
        with lock:
            index = min(count, len(responders) - 1)
            count += 1
        return responders[index](request)

    return respond


def redirect(location: str, status: int = 301) -> Responder:
    """The Location is sent exactly as given, so tests can exercise relative redirects too."""
    body = f'<a href="{_escape(location)}">moved</a>\n'.encode()
    return _as_responder(Response(status, {"Location": location, "Content-Type": "text/html; charset=utf-8"}, body))


class Mutable:
    """A route whose content changes while the server runs: a feed gaining entries between two fetches."""

    def __init__(self, responder: ResponderLike):
        self._lock = threading.Lock()
        self._responder = _as_responder(responder)

    def set(self, responder: ResponderLike) -> None:
        with self._lock:
            self._responder = _as_responder(responder)

    def __call__(self, request: Request) -> Union[Response, RawResponse]:
        with self._lock:
            current = self._responder
        return current(request)


def mutable(initial_responder: ResponderLike) -> Mutable:
    return Mutable(initial_responder)


def raw(handler_fn: Callable[[Request, BufferedIOBase], None]) -> Responder:
    """For what no HTTP library will produce: garbage, a missing status line, half a header, silence then EOF."""
    return _as_responder(RawResponse(handler_fn))


# content -------------------------------------------------------------------------------------------------------


def _escape(text: Any) -> str:
    """Escapes for both text and attribute values, so one helper serves every template below."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _as_datetime(value: Union[datetime, float, int, str]) -> Optional[datetime]:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    parsed = _parse_http_date(value)
    if parsed is not None:
        return parsed
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def http_date(value: Union[datetime, float, int]) -> str:
    """IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``), the only form RFC 7231 lets a server send; naive is UTC."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return email.utils.format_datetime(aware.astimezone(UTC), usegmt=True)
    return email.utils.formatdate(float(value), usegmt=True)


def _rfc822(value: Union[datetime, str]) -> str:
    if isinstance(value, str):
        return value  # passed through untouched: tests feed odd date formats on purpose
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return email.utils.format_datetime(aware)


def _rfc3339(value: Union[datetime, str]) -> str:
    if isinstance(value, str):
        parsed = _as_datetime(value)
        if parsed is None:
            return value
        value = parsed
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.isoformat()


def _declaration(encoding: str, xml_declaration: bool) -> str:
    return f'<?xml version="1.0" encoding="{encoding}"?>\n' if xml_declaration else ""


def _encode(document: str, encoding: str) -> bytes:
    """Characters the encoding lacks become character references, which is still the same XML text."""
    return document.encode(encoding, "xmlcharrefreplace")


def rss(
    entries: Iterable[Mapping[str, Any]],
    title: str = "Test feed",
    link: str = "http://site.example/",
    encoding: str = "utf-8",
    xml_declaration: bool = True,
) -> bytes:
    """RSS 2.0 in a chosen encoding, so a fetcher's charset handling is tested against bytes it has to decode.

    Entry keys, all optional: title, link, guid, description, content (as
    content:encoded), pub_date (datetime, or a string sent verbatim), author,
    categories. A guid that differs from the link is marked ``isPermaLink="false"``
    so feedparser does not mistake it for the article URL.
    """
    items = []
    for e in entries:
        parts = ["    <item>"]
        if e.get("title") is not None:
            parts.append(f"      <title>{_escape(e['title'])}</title>")
        if e.get("link") is not None:
            parts.append(f"      <link>{_escape(e['link'])}</link>")
        if e.get("guid") is not None:
            permalink = "" if e["guid"] == e.get("link") else ' isPermaLink="false"'
            parts.append(f"      <guid{permalink}>{_escape(e['guid'])}</guid>")
        if e.get("description") is not None:
            parts.append(f"      <description>{_escape(e['description'])}</description>")
        if e.get("content") is not None:
            parts.append(f"      <content:encoded>{_escape(e['content'])}</content:encoded>")
        if e.get("pub_date") is not None:
            parts.append(f"      <pubDate>{_escape(_rfc822(e['pub_date']))}</pubDate>")
        if e.get("author") is not None:
            parts.append(f"      <author>{_escape(e['author'])}</author>")
        for category in e.get("categories") or ():
            parts.append(f"      <category>{_escape(category)}</category>")
        parts.append("    </item>")
        items.append("\n".join(parts))
    document = (
        _declaration(encoding, xml_declaration)
        + '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">\n'
        + "  <channel>\n"
        + f"    <title>{_escape(title)}</title>\n"
        + f"    <link>{_escape(link)}</link>\n"
        + f"    <description>{_escape(title)}</description>\n"
        + "".join(item + "\n" for item in items)
        + "  </channel>\n</rss>\n"
    )
    return _encode(document, encoding)


def atom(
    entries: Iterable[Mapping[str, Any]],
    title: str = "Test feed",
    link: str = "http://site.example/",
    encoding: str = "utf-8",
    xml_declaration: bool = True,
    feed_id: Optional[str] = None,
    updated: Union[datetime, str, None] = None,
) -> bytes:
    """Atom 1.0 from the same entry dicts as ``rss``, so one test can run over both formats.

    Mapping: id from ``id`` or guid (else link), updated from ``updated`` or
    pub_date, summary from description, content as HTML content, author as the
    author's name. Atom requires ids and dates, so missing ones get stable
    placeholders; the feed's updated is the newest entry's unless given.
    """
    entries = list(entries)
    fallback = datetime(2024, 1, 1, tzinfo=UTC)
    rendered = []
    stamps = []
    for index, e in enumerate(entries):
        when = e.get("updated") or e.get("pub_date")
        stamp = _rfc3339(when) if when is not None else _rfc3339(fallback)
        parsed = _as_datetime(when) if isinstance(when, str) else when
        if parsed is not None:
            stamps.append(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
        entry_id = e.get("id") or e.get("guid") or e.get("link") or f"urn:feedserver:entry:{index}"
        parts = ["  <entry>", f"    <id>{_escape(entry_id)}</id>"]
        parts.append(f"    <title>{_escape(e.get('title') or '')}</title>")
        if e.get("link") is not None:
            parts.append(f'    <link rel="alternate" href="{_escape(e["link"])}"/>')
        parts.append(f"    <updated>{_escape(stamp)}</updated>")
        if e.get("pub_date") is not None:
            parts.append(f"    <published>{_escape(_rfc3339(e['pub_date']))}</published>")
        if e.get("author") is not None:
            parts.append(f"    <author><name>{_escape(e['author'])}</name></author>")
        if e.get("description") is not None:
            parts.append(f'    <summary type="html">{_escape(e["description"])}</summary>')
        if e.get("content") is not None:
            parts.append(f'    <content type="html">{_escape(e["content"])}</content>')
        for category in e.get("categories") or ():
            parts.append(f'    <category term="{_escape(category)}"/>')
        parts.append("  </entry>")
        rendered.append("\n".join(parts))
    if updated is not None:
        feed_updated = _rfc3339(updated)
    else:
        feed_updated = _rfc3339(max(stamps) if stamps else fallback)
    document = (
        _declaration(encoding, xml_declaration)
        + '<feed xmlns="http://www.w3.org/2005/Atom">\n'
        + f"  <id>{_escape(feed_id or link)}</id>\n"
        + f"  <title>{_escape(title)}</title>\n"
        + f'  <link rel="alternate" href="{_escape(link)}"/>\n'
        + f"  <updated>{_escape(feed_updated)}</updated>\n"
        + "".join(item + "\n" for item in rendered)
        + "</feed>\n"
    )
    return _encode(document, encoding)


_SUBJECTS = [
    "The city council",
    "A regional hospital",
    "Local farmers",
    "The national weather service",
    "A group of researchers",
    "The transport authority",
    "Several small businesses",
    "The university library",
    "A volunteer fire brigade",
    "The harbour office",
    "An independent theatre",
    "The water utility",
]
_VERBS = [
    "announced",
    "postponed",
    "approved",
    "criticised",
    "published",
    "questioned",
    "celebrated",
    "reviewed",
    "defended",
    "expanded",
]
_OBJECTS = [
    "a plan to renovate the old railway bridge",
    "new rules for parking near schools",
    "a study on river pollution",
    "the budget for public swimming pools",
    "an exhibition of historic maps",
    "a pilot project for electric buses",
    "changes to the recycling schedule",
    "a report about rising rents",
    "the opening hours of the night market",
    "a programme to plant street trees",
    "repairs to the flood barrier",
    "a survey of migrating birds",
]
_DETAILS = [
    "Residents were invited to comment before the end of the month.",
    "Officials said the decision followed months of consultation.",
    "Critics argued that the costs had been underestimated.",
    "The first results are expected early next year.",
    "Supporters welcomed the move as long overdue.",
    "A spokesperson declined to give further details.",
    "The proposal will be debated again in the spring.",
    "Local newspapers reported mixed reactions from shop owners.",
    "Engineers warned that the work could take longer than planned.",
    "The figures were compared with those of neighbouring towns.",
]


def entry(n: int, prefix: str = "item") -> dict[str, Any]:
    """A realistic English entry, different in words (not just in a number) for every n.

    Content-based dedup folds punctuation and digits into the same text, and
    near-duplicate detection compares shingles, so entries differing only by
    their number could be merged; each n draws its own sentences instead.
    Deterministic, so expected values can be recomputed in a test.
    """
    rng = random.Random(f"{prefix}:{n}")
    subject, verb, obj = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)
    details = rng.sample(_DETAILS, 3)
    ordinal = _spell(n)
    url = f"http://news.example/{prefix}/{n}"
    return {
        "title": f"{subject} {verb} {obj} (report {ordinal})",
        "link": url,
        "guid": url,
        "description": (
            f"{subject} {verb} {obj} on {rng.choice(['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday'])}. "
            f"This is report number {ordinal} in the {prefix} series. " + " ".join(details)
        ),
        "pub_date": datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=n),
        "author": rng.choice(["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov"]),
        "categories": [rng.choice(["Politics", "Science", "Local", "Economy", "Culture"]), prefix],
    }


_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _spell(n: int) -> str:
    """Numbers in words, because a fold to ``\\w+`` keeps digits but a reader-facing text rarely has many."""
    if n < 0:
        return "minus " + _spell(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else "-" + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " and " + _spell(n % 100))
    for size, word in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            return _spell(n // size) + " " + word + ("" if n % size == 0 else " " + _spell(n % size))
    raise AssertionError("unreachable")


def gzip_bomb(decompressed_size: int, fill: bytes = b"\0", prefix: bytes = b"") -> bytes:
    """A valid gzip stream that inflates to exactly ``decompressed_size`` bytes, for testing a fetcher's size cap.

    ``prefix`` (e.g. the start of an RSS document) comes first and counts
    towards the size; ``fill`` repeats after it. The body is compressed a block
    at a time with full flushes, which makes every compressed block identical,
    so one block is compressed once and repeated: a 1 GB bomb builds in about a
    second and never holds more than one block uncompressed.
    """
    if decompressed_size < 0:
        raise ValueError("decompressed_size must be >= 0")
    if not fill:
        raise ValueError("fill must not be empty")
    prefix = prefix[:decompressed_size]
    block_size = len(fill) * max(1, (1 << 20) // len(fill))  # whole repetitions: no seam at block boundaries
    block = fill * (block_size // len(fill))
    remaining = decompressed_size - len(prefix)
    full_blocks, tail_size = divmod(remaining, block_size)
    tail = (fill * (tail_size // len(fill) + 1))[:tail_size]

    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    out = [b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"]  # gzip header: deflate, no flags, mtime 0, max compression
    crc = zlib.crc32(prefix)
    out.append(compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH))
    if full_blocks:
        first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
        out.append(first)
        done = 1
        if full_blocks > 1:
            second = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
            out.append(second)
            done = 2
            if second == first:
                # A full flush leaves the compressor in the same state each time, so the same block will
                # compress to the same bytes again: repeat them instead of compressing gigabytes of zeros.
                out.append(second * (full_blocks - 2))
                done = full_blocks
        for _ in range(done, full_blocks):  # only if this zlib build kept state across the flush
            out.append(compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH))
        for _ in range(full_blocks):
            crc = zlib.crc32(block, crc)
    out.append(compressor.compress(tail) + compressor.flush(zlib.Z_FINISH))
    crc = zlib.crc32(tail, crc)
    out.append((crc & 0xFFFFFFFF).to_bytes(4, "little") + (decompressed_size & 0xFFFFFFFF).to_bytes(4, "little"))
    return b"".join(out)


def opml(urls: Iterable[str], title: str = "Feeds") -> bytes:
    """An OPML 2.0 subscription list; nested group outlines, because real exports nest and importers forget to recurse.

    URL i goes to the top level when i % 3 == 0, into group "Group one" when
    i % 3 == 1, and into "Group one" > "Group two" when i % 3 == 2.
    """
    top: list[str] = []
    group: list[str] = []
    subgroup: list[str] = []
    for index, url in enumerate(urls):
        text = f"Feed {index}"
        line = f'<outline type="rss" text="{_escape(text)}" title="{_escape(text)}" xmlUrl="{_escape(url)}"/>'
        (top, group, subgroup)[index % 3].append(line)
    body = ["    " + line for line in top]
    if group or subgroup:
        body.append('    <outline text="Group one" title="Group one">')
        body.extend("      " + line for line in group)
        if subgroup:
            body.append('      <outline text="Group two" title="Group two">')
            body.extend("        " + line for line in subgroup)
            body.append("      </outline>")
        body.append("    </outline>")
    document = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        + '<opml version="2.0">\n'
        + "  <head>\n"
        + f"    <title>{_escape(title)}</title>\n"
        + f"    <dateCreated>{http_date(datetime(2024, 1, 1, tzinfo=UTC))}</dateCreated>\n"
        + "  </head>\n"
        + "  <body>\n"
        + "".join(line + "\n" for line in body)
        + "  </body>\n"
        + "</opml>\n"
    )
    return document.encode("utf-8")

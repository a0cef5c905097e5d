"""The address guard: only http(s), and never an address that is not public, unless private hosts are allowed.

Server-side request forgery protection works at two moments. Before any
packet is sent, ``check_url`` refuses other schemes, URLs without a host and
hosts that are non-public IP literals or ``localhost`` names. When a
connection is made, the guarded connection pools check the address it
actually reached, so DNS tricks and redirects to 127.0.0.1 or
169.254.169.254 are refused too. The same connection classes register each
response head with the session's ``Watchdog``, which is what lets a
deadline or a stop cut off a server that trickles its headers.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Optional
from urllib.parse import urlparse

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from transforms.errors import BlockedURL, UnresolvableName
from transforms.fetch.watchdog import Watch, Watchdog


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


#: Special-use top-level names that never resolve on the public DNS (RFC 2606 §2, RFC 6761 §6.2–6.5,
#: RFC 7686, RFC 9476): sample links and fixtures use them, and no lookup is ever made for them.
RESERVED_TLDS = frozenset({"example", "invalid", "test", "onion", "alt"})


def reserved_name(host: str) -> bool:
    """Whether ``host`` is under a special-use name that never resolves (``news.example``, ``x.invalid``)."""
    return host.lower().rstrip(".").rsplit(".", 1)[-1] in RESERVED_TLDS


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
    if reserved_name(host):
        raise UnresolvableName(f"{host} is a special-use name that never resolves (RFC 6761): not looked up", url)
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


class _FetchConnectionMixin:
    """Connection hooks: the address check (when ``check_peer``) and the watchdog on the response head.

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
    watchdog: Optional[Watchdog] = None
    peer_ip: Optional[str] = None

    def _new_conn(self) -> Any:
        sock = super()._new_conn()  # type: ignore[misc]
        try:
            # Where the connection went, kept for the web archive (WARC-IP-Address).
            self.peer_ip = sock.getpeername()[0]
        except (OSError, IndexError, TypeError):
            self.peer_ip = None
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
        watchdog = self.watchdog
        watch: Optional[Watch] = watchdog.current() if watchdog is not None else None
        sock = self.sock
        if watchdog is None or watch is None or sock is None:
            return super().getresponse(*args, **kwargs)  # type: ignore[misc]
        watch.sock = sock
        token = watchdog.watch(watch, sock)
        try:
            return super().getresponse(*args, **kwargs)  # type: ignore[misc]
        finally:
            watchdog.release(token)


def _pool_classes(check_peer: bool, watchdog: Watchdog) -> dict[str, type]:
    """Connection pools whose connections check their peer (when ``check_peer``) and report to ``watchdog``."""
    attributes = {"check_peer": check_peer, "watchdog": watchdog}
    http_conn = type("_FetchHTTPConnection", (_FetchConnectionMixin, HTTPConnection), attributes)
    https_conn = type("_FetchHTTPSConnection", (_FetchConnectionMixin, HTTPSConnection), attributes)
    return {
        "http": type("_FetchHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("_FetchHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }


class FetchAdapter(HTTPAdapter):
    """A ``requests`` adapter over the guarded pools (the peer check only when ``check_peer``) of one watchdog."""

    def __init__(self, check_peer: bool, watchdog: Watchdog, **kwargs: Any):
        self.check_peer = check_peer
        self.watchdog = watchdog
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.check_peer, self.watchdog)

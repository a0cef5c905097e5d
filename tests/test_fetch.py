"""``transforms.fetch``: SSRF refusal, redirects, retries, body limits, politeness and the Beam wrapper.

Every HTTP exchange goes over a real socket to ``tests/feedserver.py`` on
127.0.0.1; nothing of ``requests`` is mocked. What is injected is time: the
``sleep`` that ``fetch`` calls between attempts records the wait instead of
sleeping, and ``HostGate`` gets a fake clock, so backoff and politeness are
asserted exactly and the module stays fast. No test resolves or contacts any
host but 127.0.0.1: refusals of other addresses are checked on IP literals,
which are refused before a packet is sent.
"""

from __future__ import annotations

import collections
import gzip
import importlib
import ipaddress
import itertools
import pickle
import pkgutil
import queue
import random
import socket
import threading
import time
import types
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Optional

import apache_beam as beam
import numpy as np
import pytest
import requests
import urllib3
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils.timestamp import Timestamp
from feedserver import FeedServer, Response, entry, gzip_bomb, http_date, opml, raw, redirect, rss, sequence, static
from support import matcher, new_pipeline

import transforms.fetch as fetch_package
from schemas import FeedFetch, FeedRequest, FeedState, RawDocument
from transforms.errors import (
    DEAD_LETTER,
    BlockedURL,
    ConnectionFailed,
    DeadlineExceeded,
    EmptyResponse,
    FetchTimeout,
    HTTPStatusError,
    ResponseTooLarge,
    RetryableStatus,
    TooManyRedirects,
    TruncatedResponse,
    UnsupportedContent,
)
from transforms.fetch import (
    FEED_ACCEPT,
    FETCHES,
    LISTED,
    FetchCancelled,
    FetchContext,
    FetchFeeds,
    FetchOutcome,
    FetchPolicy,
    HostGate,
    SharedFetchContext,
    StopSignal,
    Validators,
    Watchdog,
    blocked_reason,
    check_url,
    decode_body,
    discover_feed,
    fetch,
    fetch_all,
    fetch_feed,
    host_of,
    inflate_limited,
    listed_requests,
    looks_like_html_page,
    make_session,
    retry_delay,
    shard_of,
    validators_for,
)
from transforms.fetch.guard import FetchAdapter
from transforms.refresh import retry_after_seconds

FEED = rss([entry(1), entry(2)])
CONTACT = "https://site.example/newsbeam-contact"


def policy(**overrides: Any) -> FetchPolicy:
    """A policy for loopback tests: private hosts allowed, no retries, short timeouts, no politeness delay."""
    settings: dict[str, Any] = dict(
        allow_private_hosts=True,
        retries=0,
        backoff=1.0,
        connect_timeout=2.0,
        read_timeout=2.0,
        deadline=5.0,
        per_host_delay=0.0,
    )
    settings.update(overrides)
    return FetchPolicy(**settings)


def run_fetch(
    url: str, fetch_policy: FetchPolicy, validators: Optional[Validators] = None, seed: int = 7
) -> tuple[FetchOutcome, list[float]]:
    """One ``fetch`` with a fresh session; the waits it asked for are recorded, never slept."""
    slept: list[float] = []
    session = make_session(fetch_policy)
    try:
        outcome = fetch_feed(session, url, fetch_policy, validators, sleep=slept.append, rng=random.Random(seed))
    finally:
        session.close()
    assert outcome.waits == slept, "every recorded wait must have been passed to sleep, and nothing else"
    return outcome, slept


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chunked(data: bytes, size: int) -> bytes:
    """``Transfer-Encoding: chunked`` framing of ``data``, done by hand so the server sends it as is."""
    out = [
        f"{len(data[i : i + size]):x}\r\n".encode() + data[i : i + size] + b"\r\n" for i in range(0, len(data), size)
    ]
    return b"".join(out) + b"0\r\n\r\n"


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.fixture
def server() -> Any:
    with FeedServer() as running:
        yield running
        assert running.errors == [], "a responder raised"


# --------------------------------------------------------------------------
# blocked_reason
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
    ],
)
def test_blocked_reason_names_the_kind_of_address(address: str, reason: str) -> None:
    assert blocked_reason(address) == reason


@pytest.mark.parametrize(
    "address",
    [
        "100.64.0.1",  # carrier-grade NAT (shared address space)
        "192.0.2.1",  # TEST-NET-1 documentation
        "198.51.100.7",  # TEST-NET-2 documentation
        "2001:db8::1",  # IPv6 documentation
        "240.0.0.1",  # reserved class E
        "255.255.255.255",  # broadcast
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    ],
)
def test_blocked_reason_refuses_reserved_and_non_global_addresses(address: str) -> None:
    assert blocked_reason(address) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"])
def test_blocked_reason_lets_public_addresses_through(address: str) -> None:
    assert blocked_reason(address) is None


@pytest.mark.parametrize("value", ["site.example", "", "999.1.1.1", "localhost"])
def test_blocked_reason_of_something_that_is_not_an_address(value: str) -> None:
    assert blocked_reason(value) == "not an IP address"


# --------------------------------------------------------------------------
# check_url
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "ftp://site.example/feed.xml",
        "gopher://site.example/1",
        "data:text/xml,<rss/>",
        "javascript:alert(1)",
        "site.example/feed.xml",
        "//site.example/feed.xml",
        "/etc/passwd",
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_check_url_refuses_schemes_other_than_http(url: str, allow_private: bool) -> None:
    with pytest.raises(BlockedURL, match="scheme"):
        check_url(url, allow_private)


@pytest.mark.parametrize("url", ["http:///feed.xml", "https://", "http://:80/feed.xml", "http://user@/x"])
def test_check_url_refuses_a_url_without_host(url: str) -> None:
    with pytest.raises(BlockedURL, match="no host"):
        check_url(url)


@pytest.mark.parametrize("url", ["http://site.example:99999/", "http://site.example:http/", "http://[::1/feed"])
def test_check_url_refuses_an_invalid_url(url: str) -> None:
    with pytest.raises(BlockedURL, match="invalid URL"):
        check_url(url)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://localhost/feed", "localhost"),
        ("http://LOCALHOST:8080/feed", "localhost"),
        ("https://foo.localhost/feed", "foo.localhost"),
        ("http://127.0.0.1/", "127.0.0.1"),
        ("http://127.0.0.1:8080/feed", "127.0.0.1"),
        ("http://user:secret@127.0.0.1/feed", "127.0.0.1"),
        ("http://[::1]/feed", "::1"),
        ("http://[::1]:8080/feed", "::1"),
        ("http://[::ffff:127.0.0.1]/feed", "::ffff:127.0.0.1"),
        ("http://10.1.2.3/feed", "10.1.2.3"),
        ("http://172.16.5.4/", "172.16.5.4"),
        ("http://192.168.0.1/", "192.168.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[fe80::1%25eth0]/", "fe80::1%25eth0"),  # urlparse leaves the zone id percent-encoded
        ("http://0.0.0.0/", "0.0.0.0"),
        ("http://[::]/", "::"),
        ("http://224.0.0.1/", "224.0.0.1"),
        ("http://100.64.0.1/", "100.64.0.1"),
    ],
)
def test_check_url_refuses_loopback_names_and_private_ip_literals_unless_allowed(url: str, host: str) -> None:
    with pytest.raises(BlockedURL, match="--allow-private-hosts") as refused:
        check_url(url, allow_private=False)
    assert refused.value.source == url
    assert check_url(url, allow_private=True) == host


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://example.org/feed.xml", "example.org"),
        ("HTTPS://News.Example.ORG/rss", "news.example.org"),
        ("http://8.8.8.8/feed", "8.8.8.8"),
        ("http://[2606:4700:4700::1111]/feed", "2606:4700:4700::1111"),
        ("http://localhost.example.org/", "localhost.example.org"),  # only the .localhost TLD is a loopback name
    ],
)
def test_check_url_returns_the_lowercased_host_of_a_public_url(url: str, host: str) -> None:
    assert check_url(url, allow_private=False) == host


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1"])
def test_check_url_leaves_non_canonical_ipv4_forms_to_the_connect_time_guard(host: str) -> None:
    """Documents the behaviour: ``ipaddress`` (and RFC 3986) treat these as names, not IP literals.

    ``check_url`` therefore lets them through; the C resolver (inet_aton)
    reads them as 127.0.0.1, so they are only refused once connected (see
    ``test_connect_time_guard_refuses_names_that_reach_loopback``). For a
    private address in such a form (``http://167772161/`` = 10.0.0.1) this
    means a TCP handshake with it happens before the refusal.
    """
    with pytest.raises(ValueError):
        ipaddress.ip_address(host)
    assert check_url(f"http://{host}/feed", allow_private=False) == host


@pytest.mark.parametrize("url", ["http://localhost./feed", "http://foo.localhost./feed"])
def test_check_url_refuses_fully_qualified_localhost_names(url: str) -> None:
    with pytest.raises(BlockedURL):
        check_url(url, allow_private=False)


# --------------------------------------------------------------------------
# The guard at connect time
# --------------------------------------------------------------------------


def loopback_alias() -> Optional[str]:
    """A name /etc/hosts maps to 127.x that is not a localhost name: resolved from the file, no DNS traffic."""
    try:
        lines = Path("/etc/hosts").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            address = ipaddress.ip_address(fields[0])
        except ValueError:
            continue
        if address.version != 4 or not address.is_loopback:
            continue
        for name in fields[1:]:
            lowered = name.lower()
            if lowered == "localhost" or lowered.endswith((".localhost", ".localhost.")) or lowered.startswith("ip6"):
                continue
            try:
                found = {info[4][0] for info in socket.getaddrinfo(name, None, socket.AF_INET)}
            except OSError:
                continue
            if found and all(ipaddress.ip_address(a).is_loopback for a in found):
                return name
    return None


def numeric_loopback(host: str) -> bool:
    """Whether the resolver reads ``host`` as 127.0.0.1 without any lookup (AI_NUMERICHOST)."""
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, flags=socket.AI_NUMERICHOST)
    except OSError:
        return False
    return {info[4][0] for info in infos} == {"127.0.0.1"}


def test_private_ip_literal_is_refused_before_any_request(server: FeedServer) -> None:
    url = server.route("/feed.xml", static(FEED))
    outcome, waits = run_fetch(url, policy(allow_private_hosts=False, retries=3))
    assert isinstance(outcome.error, BlockedURL)
    assert "127.0.0.1" in str(outcome.error) and "loopback" in str(outcome.error)
    assert outcome.attempts == 1 and waits == []  # a refusal is final, never retried
    assert outcome.body is None and outcome.status is None
    assert server.requests == []


def test_the_same_url_is_fetched_when_private_hosts_are_allowed(server: FeedServer) -> None:
    url = server.route("/feed.xml", static(FEED))
    outcome, _ = run_fetch(url, policy(allow_private_hosts=True))
    assert outcome.error is None
    assert outcome.body == FEED and outcome.status == 200 and outcome.attempts == 1
    assert len(server.requests_for("/feed.xml")) == 1


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "hosts-alias"])
def test_connect_time_guard_refuses_names_that_reach_loopback(server: FeedServer, host: str) -> None:
    """Hosts check_url cannot judge are refused by ``_FetchConnectionMixin`` once it sees the peer address.

    ``localhost.`` (trailing dot) would be the classic case, but it is not in
    /etc/hosts here and resolving it would send a DNS query; a name /etc/hosts
    maps to 127.0.0.1 exercises the same path without leaving the machine.
    """
    if host == "hosts-alias":
        alias = loopback_alias()
        if alias is None:
            pytest.skip("/etc/hosts has no non-localhost name for 127.0.0.1")
        host = alias
    elif not numeric_loopback(host):
        pytest.skip(f"this resolver does not read {host} as 127.0.0.1")
    server.route("/feed.xml", static(FEED))
    url = f"http://{host}:{server.port}/feed.xml"
    assert check_url(url, allow_private=False) == host.lower()  # not refused before connecting ...
    outcome, waits = run_fetch(url, policy(allow_private_hosts=False, retries=2))
    assert isinstance(outcome.error, BlockedURL), outcome.error  # ... but once connected
    assert "127.0.0.1" in str(outcome.error) and "loopback" in str(outcome.error)
    assert outcome.attempts == 1 and waits == []
    assert server.requests == []  # the socket was closed before a byte of the request went out
    allowed, _ = run_fetch(url, policy(allow_private_hosts=True))
    assert allowed.error is None and allowed.body == FEED


# --------------------------------------------------------------------------
# Redirects
# --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_statuses_are_followed(server: FeedServer, status: int) -> None:
    target = server.route("/new/feed.xml", static(FEED))
    start = server.route("/old", redirect(target, status))
    outcome, _ = run_fetch(start, policy())
    assert outcome.error is None and outcome.body == FEED
    assert outcome.status == 200 and outcome.redirects == 1
    assert outcome.final_url == target and outcome.url == start


@pytest.mark.parametrize(
    ("start", "location", "final"),
    [
        ("/dir/old", "feed.xml", "/dir/feed.xml"),
        ("/dir/old", "../feed.xml", "/feed.xml"),
        ("/dir/old", "/other/feed.xml", "/other/feed.xml"),
        ("/dir/old", "  /padded.xml  ", "/padded.xml"),
    ],
)
def test_relative_locations_are_resolved_against_the_current_url(
    server: FeedServer, start: str, location: str, final: str
) -> None:
    server.route(final, static(FEED))
    server.route(start, redirect(location, 302))
    outcome, _ = run_fetch(server.url(start), policy())
    assert outcome.error is None and outcome.body == FEED
    assert outcome.final_url == server.url(final) and outcome.redirects == 1


def test_a_scheme_relative_location_keeps_the_scheme(server: FeedServer) -> None:
    server.route("/feed.xml", static(FEED))
    server.route("/old", redirect(f"//127.0.0.1:{server.port}/feed.xml", 301))
    outcome, _ = run_fetch(server.url("/old"), policy())
    assert outcome.error is None and outcome.final_url == server.url("/feed.xml")


def redirect_chain(server: FeedServer, hops: int) -> str:
    """/hop0 → /hop1 → … → /end: ``hops`` redirects, mixing statuses and relative/absolute Locations."""
    server.route("/end", static(FEED))
    statuses = [301, 302, 303, 307, 308]
    for index in range(hops):
        nxt = "/end" if index == hops - 1 else f"/hop{index + 1}"
        location = nxt if index % 2 else server.url(nxt)
        server.route(f"/hop{index}", redirect(location, statuses[index % len(statuses)]))
    return server.url("/hop0")


@pytest.mark.parametrize("hops", [2, 5])
def test_a_chain_within_max_redirects_succeeds_and_is_counted(server: FeedServer, hops: int) -> None:
    outcome, _ = run_fetch(redirect_chain(server, hops), policy(max_redirects=5))
    assert outcome.error is None and outcome.body == FEED
    assert outcome.redirects == hops and outcome.final_url == server.url("/end")
    assert len(server.requests) == hops + 1


def test_a_chain_over_max_redirects_is_refused(server: FeedServer) -> None:
    outcome, waits = run_fetch(redirect_chain(server, 6), policy(max_redirects=5, retries=3))
    assert isinstance(outcome.error, TooManyRedirects)
    assert "more than 5 redirects" in str(outcome.error)
    assert outcome.attempts == 1 and waits == []  # not retryable
    assert server.requests_for("/end") == []
    assert len(server.requests) == 6  # the sixth Location is never requested


def test_max_redirects_zero_refuses_the_first_redirect(server: FeedServer) -> None:
    outcome, _ = run_fetch(redirect_chain(server, 1), policy(max_redirects=0))
    assert isinstance(outcome.error, TooManyRedirects)
    assert server.requests_for("/end") == []


@pytest.mark.parametrize("loop", [["/a", "/b"], ["/self"], ["/x", "/y", "/z"]])
def test_a_redirect_loop_is_reported_as_a_loop(server: FeedServer, loop: list[str]) -> None:
    for index, path in enumerate(loop):
        server.route(path, redirect(loop[(index + 1) % len(loop)], 302))
    outcome, _ = run_fetch(server.url(loop[0]), policy(max_redirects=20))
    assert isinstance(outcome.error, TooManyRedirects)
    assert "loop" in str(outcome.error)
    assert len(server.requests) == len(loop)  # detected on the first revisit, not after max_redirects


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "ftp://127.0.0.1/feed.xml", "gopher://127.0.0.1:70/", "data:text/xml,<rss/>"]
)
def test_a_redirect_to_another_scheme_is_blocked(server: FeedServer, location: str) -> None:
    server.route("/old", redirect(location, 302))
    outcome, _ = run_fetch(server.url("/old"), policy(allow_private_hosts=True, retries=2))
    assert isinstance(outcome.error, BlockedURL) and "scheme" in str(outcome.error)
    assert outcome.attempts == 1 and outcome.body is None


def test_a_redirect_to_a_private_ip_literal_is_checked_before_the_next_hop() -> None:
    """Not staged over HTTP: with allow_private_hosts=False the first hop would have to be an allowed
    (public) host, and 127.0.0.1 is the only host tests may use, so it is refused itself. Skipped as an
    end-to-end case; ``_request`` runs ``check_url(current, allow_private_hosts)`` at the top
    of every hop, so a Location resolved to http://10.0.0.1/ is refused by the
    same check as a first URL would be; the check itself is asserted here.
    """
    from urllib.parse import urljoin

    target = urljoin("http://feeds.example/old", "http://10.0.0.1/feed.xml")
    with pytest.raises(BlockedURL, match="private"):
        check_url(target, allow_private=False)


def test_a_redirect_without_location_is_an_http_error(server: FeedServer) -> None:
    server.route("/moved", Response(301, {"Content-Type": "text/html"}, b"<p>moved somewhere</p>"))
    outcome, _ = run_fetch(server.url("/moved"), policy(retries=2))
    assert isinstance(outcome.error, HTTPStatusError) and not isinstance(outcome.error, RetryableStatus)
    assert "301" in str(outcome.error) and outcome.attempts == 1


# --------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------


def test_two_server_errors_then_success(server: FeedServer) -> None:
    url = server.route("/flaky", sequence(Response(500), Response(500), static(FEED)))
    outcome, waits = run_fetch(url, policy(retries=3, backoff=1.0))
    assert outcome.error is None and outcome.body == FEED and outcome.status == 200
    assert outcome.attempts == 3
    assert len(waits) == 2
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0  # jittered exponential backoff
    assert len(server.requests_for("/flaky")) == 3


def test_the_gate_is_passed_before_every_attempt(server: FeedServer) -> None:
    url = server.route("/flaky", sequence(Response(503), Response(503), static(FEED)))
    fetch_policy = policy(retries=3)
    passes: list[int] = []
    session = make_session(fetch_policy)
    try:
        outcome = fetch_feed(session, url, fetch_policy, gate=lambda: passes.append(1), sleep=lambda _: None)
    finally:
        session.close()
    assert outcome.error is None and outcome.attempts == 3 and len(passes) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 451])
def test_a_client_error_is_final(server: FeedServer, status: int) -> None:
    url = server.route("/final", Response(status, {"Content-Type": "text/plain"}, b"no"))
    outcome, waits = run_fetch(url, policy(retries=3))
    assert type(outcome.error) is HTTPStatusError
    assert str(outcome.error).startswith(f"HTTP {status}")
    assert outcome.status == status and outcome.attempts == 1 and waits == []
    assert len(server.requests_for("/final")) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(server: FeedServer, status: int) -> None:
    url = server.route("/retry", sequence(Response(status, {"Content-Type": "text/plain"}, b"later"), static(FEED)))
    outcome, waits = run_fetch(url, policy(retries=1))
    assert outcome.error is None and outcome.body == FEED
    assert outcome.attempts == 2 and len(waits) == 1
    assert len(server.requests_for("/retry")) == 2


def test_retries_exhausted_keeps_the_last_error(server: FeedServer) -> None:
    url = server.route("/down", sequence(Response(500), Response(502), Response(503)))
    outcome, waits = run_fetch(url, policy(retries=2))
    assert isinstance(outcome.error, RetryableStatus)
    assert str(outcome.error).startswith("HTTP 503")  # the last answer, not the first
    assert outcome.status == 503
    assert outcome.attempts == 3 and len(waits) == 2
    assert len(server.requests_for("/down")) == 3


def test_retry_after_seconds_is_honoured(server: FeedServer) -> None:
    url = server.route("/busy", sequence(Response(503, {"Retry-After": "7"}), static(FEED)))
    outcome, waits = run_fetch(url, policy(retries=3, max_retry_wait=60))
    assert outcome.error is None and outcome.attempts == 2
    assert waits == [7.0]


def test_retry_after_zero_retries_at_once(server: FeedServer) -> None:
    url = server.route("/busy", sequence(Response(429, {"Retry-After": "0"}), static(FEED)))
    outcome, waits = run_fetch(url, policy(retries=1))
    assert outcome.error is None and waits == [0.0]


def test_retry_after_http_date_is_honoured(server: FeedServer) -> None:
    when = http_date(time.time() + 30)
    url = server.route("/busy", sequence(Response(429, {"Retry-After": when}), static(FEED)))
    outcome, waits = run_fetch(url, policy(retries=3, max_retry_wait=60))
    assert outcome.error is None and outcome.attempts == 2
    assert len(waits) == 1 and 28.0 <= waits[0] <= 30.5  # the date has a resolution of one second


def test_retry_after_over_max_retry_wait_stops_at_once(server: FeedServer) -> None:
    url = server.route("/busy", Response(503, {"Retry-After": "3600"}))
    outcome, waits = run_fetch(url, policy(retries=5, max_retry_wait=60))
    assert isinstance(outcome.error, RetryableStatus)
    message = str(outcome.error)
    assert "3600" in message and "--max-retry-wait" in message and "HTTP 503" in message
    assert outcome.error.source == url
    assert outcome.attempts == 1 and waits == []
    assert len(server.requests_for("/busy")) == 1


def test_exponential_backoff_never_exceeds_max_retry_wait(server: FeedServer) -> None:
    url = server.route("/down", Response(500))
    outcome, waits = run_fetch(url, policy(retries=5, backoff=10.0, max_retry_wait=15.0))
    assert outcome.attempts == 6 and len(waits) == 5  # a capped backoff never ends the attempts early
    assert all(wait <= 15.0 for wait in waits) and waits[-1] == 15.0


def test_a_non_ascii_digit_retry_after_does_not_change_the_error(server: FeedServer) -> None:
    url = server.route("/busy", Response(503, {"Retry-After": "\u00b2"}))
    outcome, _ = run_fetch(url, policy(retries=0))
    assert isinstance(outcome.error, RetryableStatus)


def test_connection_refused_is_retried_then_reported(server: FeedServer) -> None:
    url = f"http://127.0.0.1:{closed_port()}/feed.xml"
    outcome, waits = run_fetch(url, policy(retries=2))
    assert isinstance(outcome.error, ConnectionFailed)
    assert "refused" in str(outcome.error).lower()
    assert outcome.attempts == 3 and len(waits) == 2
    assert outcome.status is None and outcome.body is None


def test_a_truncated_body_may_recover(server: FeedServer) -> None:
    url = server.route("/half", sequence(Response(200, {}, FEED[:100], declared_length=len(FEED)), static(FEED)))
    outcome, waits = run_fetch(url, policy(retries=1))
    assert outcome.error is None and outcome.body == FEED and outcome.attempts == 2 and len(waits) == 1


# --------------------------------------------------------------------------
# retry_after_seconds / retry_delay
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("120", 120.0), ("0", 0.0), (" 5 ", 5.0), ("007", 7.0)],
)
def test_retry_after_delta_seconds(value: str, seconds: float) -> None:
    assert retry_after_seconds(value) == seconds


def test_retry_after_http_date_against_an_injected_now() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    assert retry_after_seconds("Wed, 01 May 2024 12:01:30 GMT", now=now) == 90.0
    assert retry_after_seconds(http_date(now + 45), now=now) == 45.0


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    assert retry_after_seconds("Sun, 06 Nov 1994 08:49:37 GMT") == 0.0
    assert retry_after_seconds(http_date(time.time() - 3600)) == 0.0


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "1.5", "-5", "5s", "Tuesday", "Mon, 99 Foo 2024"])
def test_retry_after_unreadable_is_none(value: Optional[str]) -> None:
    assert retry_after_seconds(value) is None


def test_retry_after_superscript_digit_is_unreadable() -> None:
    assert retry_after_seconds("\u00b2") is None


def test_retry_delay_is_jittered_exponential_backoff() -> None:
    fetch_policy = FetchPolicy(backoff=1.0, max_retry_wait=1000.0)
    rng = random.Random(42)
    for attempt in range(1, 8):
        base = 2 ** (attempt - 1)
        delays = [retry_delay(attempt, fetch_policy, None, rng) for _ in range(50)]
        assert all(0.5 * base <= d <= base for d in delays), (attempt, delays)
        assert len(set(delays)) > 1  # jitter, not a constant


def test_retry_delay_is_reproducible_with_a_seeded_rng() -> None:
    fetch_policy = FetchPolicy(backoff=2.0)
    first = [retry_delay(a, fetch_policy, None, random.Random(3)) for a in range(1, 5)]
    second = [retry_delay(a, fetch_policy, None, random.Random(3)) for a in range(1, 5)]
    assert first == second


def test_retry_delay_is_capped_at_max_retry_wait() -> None:
    fetch_policy = FetchPolicy(backoff=10.0, max_retry_wait=15.0)
    rng = random.Random(1)
    assert [retry_delay(a, fetch_policy, None, rng) for a in range(3, 10)] == [15.0] * 7


def test_retry_delay_uses_retry_after_as_given() -> None:
    fetch_policy = FetchPolicy(backoff=1.0, max_retry_wait=60.0)
    assert retry_delay(1, fetch_policy, 12.0, random.Random(0)) == 12.0
    assert retry_delay(1, fetch_policy, 0.0, random.Random(0)) == 0.0
    # Not capped here: fetch() compares it with max_retry_wait and stops instead of waiting.
    assert retry_delay(1, fetch_policy, 600.0, random.Random(0)) == 600.0


# --------------------------------------------------------------------------
# Body limits, encodings, timeouts
# --------------------------------------------------------------------------


def test_content_length_over_the_limit_is_refused_without_reading_the_body(server: FeedServer) -> None:
    # Reading this body would take 2 s (10 chunks, 0.2 s apart); refusing on the header takes no time.
    url = server.route("/big", Response(200, {}, b"x" * 5000, chunk_size=500, chunk_delay=0.2))
    started = time.monotonic()
    outcome, _ = run_fetch(url, policy(max_response_bytes=1000, retries=2))
    assert time.monotonic() - started < 0.6
    assert isinstance(outcome.error, ResponseTooLarge)
    assert "Content-Length 5000" in str(outcome.error)
    assert outcome.attempts == 1 and outcome.body is None and outcome.wire_bytes == 0


@pytest.mark.parametrize("framing", ["chunked", "close-delimited"])
def test_a_body_of_unknown_length_is_cut_off_at_the_limit(server: FeedServer, framing: str) -> None:
    body = b"<rss>" + b"x" * 200_000
    if framing == "chunked":
        response = Response(200, {"Transfer-Encoding": "chunked", "Content-Length": None}, chunked(body, 8192))
    else:
        response = Response(200, {"Content-Length": None}, body)
    url = server.route("/stream", response)
    outcome, _ = run_fetch(url, policy(max_response_bytes=50_000, retries=2))
    assert isinstance(outcome.error, ResponseTooLarge)
    assert "body exceeds the limit of 50000 bytes" in str(outcome.error)
    assert outcome.attempts == 1


def test_an_unreadable_content_length_is_treated_as_unknown(server: FeedServer) -> None:
    url = server.route("/feed.xml", Response(200, {"Content-Length": "\u00b2"}, FEED))
    outcome, _ = run_fetch(url, policy())
    assert outcome.error is None and outcome.body == FEED


@pytest.mark.parametrize("framing", ["chunked", "close-delimited", "content-length"])
def test_a_body_within_the_limit_arrives_whole_whatever_its_framing(server: FeedServer, framing: str) -> None:
    if framing == "chunked":
        response = Response(200, {"Transfer-Encoding": "chunked", "Content-Length": None}, chunked(FEED, 100))
    elif framing == "close-delimited":
        response = Response(200, {"Content-Length": None}, FEED)
    else:
        response = Response(200, {}, FEED)
    url = server.route("/feed", response)
    outcome, _ = run_fetch(url, policy(max_response_bytes=len(FEED)))  # exactly at the limit
    assert outcome.error is None and outcome.body == FEED and outcome.wire_bytes == len(FEED)


def test_a_gzip_bomb_is_cut_off_while_it_inflates(server: FeedServer) -> None:
    bomb = gzip_bomb(64 * 1024 * 1024, prefix=b"<rss>")
    assert len(bomb) < 1024 * 1024
    url = server.route(
        "/bomb", Response(200, {"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"}, bomb)
    )
    outcome, _ = run_fetch(url, policy(max_response_bytes=1024 * 1024, max_decoded_bytes=1024 * 1024, retries=2))
    assert isinstance(outcome.error, ResponseTooLarge)
    assert "1048576" in str(outcome.error)
    assert outcome.attempts == 1 and outcome.body is None


def test_a_gzip_bomb_served_as_a_plain_file_is_cut_off_too(server: FeedServer) -> None:
    bomb = gzip_bomb(8 * 1024 * 1024)
    url = server.route("/feed.xml.gz", Response(200, {"Content-Type": "application/gzip"}, bomb))
    outcome, _ = run_fetch(url, policy(max_decoded_bytes=1024 * 1024))
    assert isinstance(outcome.error, ResponseTooLarge)


def test_gzip_content_encoding_is_decoded_and_wire_bytes_counted(server: FeedServer) -> None:
    url = server.route("/feed.xml", static(FEED, gzip=True))
    outcome, _ = run_fetch(url, policy())
    assert outcome.error is None and outcome.body == FEED
    assert outcome.wire_bytes == len(gzip.compress(FEED, mtime=0)) < len(FEED)
    assert "gzip" in server.requests_for("/feed.xml")[0].headers["accept-encoding"]


@pytest.mark.parametrize("wrapping", ["zlib", "raw"])
def test_deflate_content_encoding_is_decoded(server: FeedServer, wrapping: str) -> None:
    body = zlib.compress(FEED) if wrapping == "zlib" else raw_deflate(FEED)
    url = server.route("/feed.xml", Response(200, {"Content-Encoding": "deflate"}, body))
    outcome, _ = run_fetch(url, policy())
    assert outcome.error is None and outcome.body == FEED and outcome.wire_bytes == len(body)


@pytest.mark.parametrize("coding", ["br", "zstd", "compress"])
def test_an_encoding_we_did_not_ask_for_is_unsupported(server: FeedServer, coding: str) -> None:
    url = server.route("/feed.xml", Response(200, {"Content-Encoding": coding}, b"\x0b\x02\x80binary"))
    outcome, waits = run_fetch(url, policy(retries=2))
    assert isinstance(outcome.error, UnsupportedContent) and coding in str(outcome.error)
    assert outcome.attempts == 1 and waits == []


def test_a_gz_file_without_content_encoding_is_inflated(server: FeedServer) -> None:
    compressed = gzip.compress(FEED)
    url = server.route("/feed.xml.gz", Response(200, {"Content-Type": "application/x-gzip"}, compressed))
    outcome, _ = run_fetch(url, policy())
    assert outcome.error is None and outcome.body == FEED and outcome.wire_bytes == len(compressed)


def test_a_truncated_body_is_reported_after_the_retries(server: FeedServer) -> None:
    url = server.route("/half", Response(200, {}, FEED[:100], declared_length=len(FEED)))
    outcome, waits = run_fetch(url, policy(retries=1))
    assert isinstance(outcome.error, TruncatedResponse)
    assert "100 bytes" in str(outcome.error)
    assert outcome.attempts == 2 and len(waits) == 1  # retryable
    assert outcome.body is None


def test_a_corrupt_gzip_body_is_a_truncated_response(server: FeedServer) -> None:
    body = gzip.compress(FEED)[:-40]
    url = server.route("/feed.xml", Response(200, {"Content-Encoding": "gzip"}, body))
    outcome, _ = run_fetch(url, policy())
    assert isinstance(outcome.error, TruncatedResponse) and "gzip" in str(outcome.error)


@pytest.mark.slow
def test_a_trickling_body_meets_the_deadline(server: FeedServer) -> None:
    # 400 bytes one at a time, 50 ms apart: 20 s to send, each byte well within the read timeout.
    url = server.route("/slow", Response(200, {}, b"x" * 400, chunk_size=1, chunk_delay=0.05))
    started = time.monotonic()
    outcome, waits = run_fetch(url, policy(deadline=0.5, read_timeout=2.0, retries=2))
    took = time.monotonic() - started
    assert isinstance(outcome.error, DeadlineExceeded)
    assert "0.5 s deadline" in str(outcome.error)
    assert took < 1.2, took
    assert outcome.attempts == 1 and waits == []  # not retried


@pytest.mark.slow
def test_a_server_that_never_answers_times_out(server: FeedServer) -> None:
    url = server.route("/silent", Response(200, {}, FEED, delay=5))
    started = time.monotonic()
    outcome, _ = run_fetch(url, policy(read_timeout=0.3, retries=0))
    assert time.monotonic() - started < 1.5
    assert isinstance(outcome.error, FetchTimeout)
    assert outcome.attempts == 1 and outcome.status is None


@pytest.mark.slow
def test_a_timeout_is_retried(server: FeedServer) -> None:
    url = server.route("/slow-once", sequence(Response(200, {}, FEED, delay=5), static(FEED)))
    outcome, waits = run_fetch(url, policy(read_timeout=0.3, retries=1))
    assert outcome.error is None and outcome.body == FEED and outcome.attempts == 2 and len(waits) == 1


@pytest.mark.parametrize(
    "response",
    [
        Response(200, {"Content-Type": "application/rss+xml"}, b""),
        Response(200, {"Content-Type": "application/rss+xml"}, b" \r\n\t \n"),
        Response(204),
        Response(200, {"Content-Encoding": "gzip"}, gzip.compress(b"\n\n")),
    ],
    ids=["empty", "whitespace", "204", "gzip-whitespace"],
)
def test_an_empty_success_is_an_empty_response(server: FeedServer, response: Response) -> None:
    url = server.route("/empty", response)
    outcome, waits = run_fetch(url, policy(retries=2))
    assert isinstance(outcome.error, EmptyResponse)
    assert outcome.body is None and outcome.attempts == 1 and waits == []


# --------------------------------------------------------------------------
# Conditional GET
# --------------------------------------------------------------------------

MODIFIED = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def test_validators_are_sent_and_a_304_is_not_modified(server: FeedServer) -> None:
    url = server.route("/feed.xml", static(FEED, etag='"v1"', last_modified=MODIFIED))
    first, _ = run_fetch(url, policy())
    assert first.error is None and first.body == FEED and not first.not_modified
    assert first.etag == '"v1"' and first.last_modified == http_date(MODIFIED)
    assert "if-none-match" not in server.requests[0].headers

    second, _ = run_fetch(url, policy(), Validators(first.etag, first.last_modified))
    sent = server.requests[-1].headers
    assert sent["if-none-match"] == '"v1"' and sent["if-modified-since"] == http_date(MODIFIED)
    assert second.error is None and second.not_modified and second.status == 304
    assert second.body is None and second.wire_bytes == 0
    assert second.etag == '"v1"' and second.last_modified == http_date(MODIFIED)


def test_a_304_without_validators_carries_the_sent_ones_forward(server: FeedServer) -> None:
    url = server.route("/feed.xml", Response(304, {}))
    sent = Validators('"abc"', "Fri, 01 Mar 2024 09:30:00 GMT")
    outcome, _ = run_fetch(url, policy(), sent)
    assert outcome.not_modified and outcome.error is None
    assert outcome.etag == '"abc"' and outcome.last_modified == "Fri, 01 Mar 2024 09:30:00 GMT"


def test_a_304_with_new_validators_takes_them(server: FeedServer) -> None:
    url = server.route("/feed.xml", Response(304, {"ETag": '"new"'}))
    outcome, _ = run_fetch(url, policy(), Validators('"old"', "Fri, 01 Mar 2024 09:30:00 GMT"))
    assert outcome.etag == '"new"' and outcome.last_modified == "Fri, 01 Mar 2024 09:30:00 GMT"


@pytest.mark.parametrize(
    ("validators", "present", "absent"),
    [
        (Validators(None, http_date(MODIFIED)), "if-modified-since", "if-none-match"),
        (Validators('"v1"', None), "if-none-match", "if-modified-since"),
    ],
)
def test_only_the_validators_we_have_are_sent(
    server: FeedServer, validators: Validators, present: str, absent: str
) -> None:
    url = server.route("/feed.xml", static(FEED, etag='"v1"', last_modified=MODIFIED))
    outcome, _ = run_fetch(url, policy(), validators)
    headers = server.requests[-1].headers
    assert present in headers and absent not in headers
    assert outcome.not_modified


def test_a_changed_feed_answers_a_conditional_request_in_full(server: FeedServer) -> None:
    url = server.route("/feed.xml", static(FEED, etag='"v2"'))
    outcome, _ = run_fetch(url, policy(), Validators('"v1"', None))
    assert not outcome.not_modified and outcome.body == FEED and outcome.etag == '"v2"'


def test_validators_are_sent_on_every_hop_of_a_redirect(server: FeedServer) -> None:
    target = server.route("/feed.xml", static(FEED, etag='"v1"'))
    server.route("/old", redirect(target, 301))
    outcome, _ = run_fetch(server.url("/old"), policy(), Validators('"v1"', None))
    assert outcome.not_modified and outcome.redirects == 1
    assert all(r.headers.get("if-none-match") == '"v1"' for r in server.requests)


# --------------------------------------------------------------------------
# decode_body / inflate_limited
# --------------------------------------------------------------------------


@pytest.mark.parametrize("coding", [None, "", "identity", " Identity "])
def test_decode_body_leaves_an_unencoded_body_alone(coding: Optional[str]) -> None:
    assert decode_body(FEED, coding, len(FEED)) == FEED


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "GZIP", " gzip "])
def test_decode_body_gzip(coding: str) -> None:
    assert decode_body(gzip.compress(FEED), coding, 10**6) == FEED


def test_decode_body_undoes_codings_in_reverse_order() -> None:
    body = gzip.compress(zlib.compress(FEED))  # deflate applied first, then gzip
    assert decode_body(body, "deflate, gzip", 10**6) == FEED
    assert decode_body(gzip.compress(FEED), "identity, gzip", 10**6) == FEED


def test_decode_body_multi_member_gzip() -> None:
    body = gzip.compress(b"<rss>first ") + gzip.compress(b"second ") + gzip.compress(b"third</rss>")
    assert decode_body(body, "gzip", 10**6) == b"<rss>first second third</rss>"
    assert decode_body(body, None, 10**6) == b"<rss>first second third</rss>"  # found by its magic number


def test_decode_body_limit_is_inclusive() -> None:
    data = b"a" * 1000
    assert decode_body(gzip.compress(data), "gzip", 1000) == data
    with pytest.raises(ResponseTooLarge):
        decode_body(gzip.compress(data), "gzip", 999)
    multi = gzip.compress(data[:600]) + gzip.compress(data[600:])
    assert decode_body(multi, "gzip", 1000) == data
    with pytest.raises(ResponseTooLarge):
        decode_body(multi, "gzip", 999)


def test_decode_body_refuses_a_bomb_without_inflating_it_all() -> None:
    bomb = gzip_bomb(256 * 1024 * 1024)
    started = time.monotonic()
    with pytest.raises(ResponseTooLarge, match="bomb"):
        decode_body(bomb, "gzip", 1024 * 1024)
    assert time.monotonic() - started < 1.0


def test_decode_body_inflates_a_double_gzip() -> None:
    """A .gz file served with Content-Encoding: gzip is gzip twice over; the magic number undoes the second."""
    assert decode_body(gzip.compress(gzip.compress(FEED)), "gzip", 10**6) == FEED


@pytest.mark.parametrize("coding", ["br", "compress", "zstd", "gzip, br"])
def test_decode_body_refuses_unknown_codings(coding: str) -> None:
    with pytest.raises(UnsupportedContent, match="Content-Encoding"):
        decode_body(b"whatever", coding, 10**6)


def test_decode_body_corrupt_gzip_is_truncated_response() -> None:
    with pytest.raises(TruncatedResponse):
        decode_body(gzip.compress(FEED)[:-12], "gzip", 10**6)
    with pytest.raises(TruncatedResponse):
        decode_body(b"\x1f\x8b" + b"not gzip at all", None, 10**6)


@pytest.mark.parametrize("wrapping", ["zlib", "raw"])
def test_inflate_limited_decodes_both_deflate_flavours(wrapping: str) -> None:
    body = zlib.compress(FEED) if wrapping == "zlib" else raw_deflate(FEED)
    assert inflate_limited(body, 10**6) == FEED
    assert decode_body(body, "deflate", 10**6) == FEED


@pytest.mark.parametrize("wrapping", ["zlib", "raw"])
def test_inflate_limited_limit_is_inclusive(wrapping: str) -> None:
    data = b"b" * 4096
    body = zlib.compress(data) if wrapping == "zlib" else raw_deflate(data)
    assert inflate_limited(body, 4096) == data
    with pytest.raises(ResponseTooLarge):
        inflate_limited(body, 4095)


def test_inflate_limited_stops_a_deflate_bomb() -> None:
    bomb = zlib.compress(b"\0" * (64 * 1024 * 1024), 9)
    with pytest.raises(ResponseTooLarge):
        inflate_limited(bomb, 1024 * 1024)


def test_inflate_limited_refuses_data_that_is_not_deflate() -> None:
    with pytest.raises(UnsupportedContent, match="deflate"):
        inflate_limited(b"\xff\xff\xff\xff plain garbage", 10**6)


@pytest.mark.parametrize("wrapping", ["zlib", "raw"])
def test_inflate_limited_refuses_a_truncated_stream(wrapping: str) -> None:
    body = zlib.compress(FEED) if wrapping == "zlib" else raw_deflate(FEED)
    with pytest.raises(TruncatedResponse):
        inflate_limited(body[: len(body) // 2], 10**6)


# --------------------------------------------------------------------------
# HostGate
# --------------------------------------------------------------------------


class FakeTime:
    """A clock that only moves when ``sleep`` is called, for exact assertions on politeness waits."""

    def __init__(self, start: float = 100.0):
        self.now = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


def test_host_gate_spaces_starts_by_the_delay() -> None:
    fake = FakeTime()
    gate = HostGate(2.0, clock=fake.clock, sleep=fake.sleep)
    starts = []
    for _ in range(4):
        gate()
        starts.append(fake.clock())
    assert starts == [100.0, 102.0, 104.0, 106.0]
    assert fake.slept == [2.0, 2.0, 2.0]


def test_host_gate_does_not_wait_when_the_caller_was_slow_anyway() -> None:
    fake = FakeTime()
    gate = HostGate(1.0, clock=fake.clock, sleep=fake.sleep)
    gate()
    fake.now += 5.0  # the request took longer than the delay
    gate()
    fake.now += 0.25
    gate()
    assert fake.slept == [0.75]


def test_host_gate_with_zero_delay_never_sleeps() -> None:
    fake = FakeTime()
    gate = HostGate(0.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(5):
        gate()
    assert fake.slept == []


def test_host_gate_gives_concurrent_callers_distinct_slots() -> None:
    """Eight threads arrive at the same instant (the clock stands still): each gets its own slot."""
    slept: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            slept.append(seconds)

    gate = HostGate(0.5, clock=lambda: 10.0, sleep=record)
    barrier = threading.Barrier(8)

    def call() -> None:
        barrier.wait(timeout=5)
        gate()

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert sorted(slept) == [0.5 * i for i in range(1, 8)]  # the first caller goes at once


def test_host_gate_spaces_real_threads() -> None:
    gate = HostGate(0.05)
    starts: list[float] = []
    lock = threading.Lock()

    def call() -> None:
        gate()
        with lock:
            starts.append(time.monotonic())

    threads = [threading.Thread(target=call) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    starts.sort()
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) == 5 and all(gap >= 0.04 for gap in gaps), gaps


# --------------------------------------------------------------------------
# fetch_all
# --------------------------------------------------------------------------


def test_fetch_all_of_nothing_yields_nothing() -> None:
    calls: list[Any] = []
    assert list(fetch_all([], lambda job, gate: calls.append(job), lambda job: job, 4, 2, 0.0)) == []
    assert list(fetch_all(iter(()), lambda job, gate: calls.append(job), lambda job: job, 4, 2, 0.0)) == []
    assert calls == []


def test_fetch_all_yields_every_job_once_and_exceptions_instead_of_raising() -> None:
    jobs = [f"http://host{n % 3}.example/feed{n}" for n in range(20)]

    def work(job: str, gate: HostGate) -> str:
        gate()
        if job.endswith(("feed4", "feed13")):
            raise ValueError(f"broken {job}")
        if job.endswith("feed7"):
            raise KeyboardInterrupt  # even a BaseException is handed back, not raised
        return job.upper()

    results = list(fetch_all(jobs, work, host_of, threads=4, per_host=2, delay=0.0))
    assert Counter(job for job, _ in results) == Counter(jobs)
    by_job = dict(results)
    assert isinstance(by_job[jobs[4]], ValueError) and "broken" in str(by_job[jobs[4]])
    assert isinstance(by_job[jobs[13]], ValueError)
    assert isinstance(by_job[jobs[7]], KeyboardInterrupt)
    assert all(by_job[job] == job.upper() for job in jobs if job not in (jobs[4], jobs[7], jobs[13]))


def test_fetch_all_duplicate_jobs_are_each_run() -> None:
    jobs = ["a", "a", "b"]
    results = list(fetch_all(jobs, lambda job, gate: job * 2, lambda job: job, 2, 1, 0.0))
    assert sorted(results) == [("a", "aa"), ("a", "aa"), ("b", "bb")]


@pytest.mark.parametrize("per_host", [1, 2, 3])
def test_fetch_all_keeps_to_per_host_lanes(per_host: int) -> None:
    lock = threading.Lock()
    active: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    overall = [0, 0]  # current, peak

    def work(job: tuple[str, int], gate: HostGate) -> int:
        host = job[0]
        with lock:
            active[host] += 1
            peak[host] = max(peak[host], active[host])
            overall[0] += 1
            overall[1] = max(overall[1], overall[0])
        time.sleep(0.03)
        with lock:
            active[host] -= 1
            overall[0] -= 1
        return job[1]

    jobs = [(host, n) for host in ("a", "b", "c") for n in range(6)]
    results = list(fetch_all(jobs, work, lambda job: job[0], threads=16, per_host=per_host, delay=0.0))
    assert sorted(job for job, _ in results) == sorted(jobs)
    assert all(peak[host] <= per_host for host in "abc"), peak
    assert max(peak.values()) == per_host  # the lanes are used, not just allowed
    assert overall[1] > per_host  # several hosts at once


def test_fetch_all_runs_different_hosts_concurrently() -> None:
    """With one lane per host, three hosts can only meet at a barrier if their lanes run side by side."""
    barrier = threading.Barrier(3, timeout=5)

    def work(job: str, gate: HostGate) -> str:
        barrier.wait()
        return job

    results = list(fetch_all(["x", "y", "z"], work, lambda job: job, threads=3, per_host=1, delay=0.0))
    assert sorted(results) == [("x", "x"), ("y", "y"), ("z", "z")]


def test_fetch_all_a_slow_host_does_not_hold_up_the_others() -> None:
    release = threading.Event()

    def work(job: str, gate: HostGate) -> str:
        if job.startswith("slow"):
            release.wait(timeout=5)
        return job

    jobs = ["slow/1", "fast/1", "fast/2", "fast/3"]
    order = []
    for job, _ in fetch_all(jobs, work, lambda job: job.split("/")[0], threads=4, per_host=1, delay=0.0):
        order.append(job)
        if len(order) == 3:
            release.set()
    assert order[:3] == ["fast/1", "fast/2", "fast/3"] and order[3] == "slow/1"


def test_fetch_all_gates_each_host_separately() -> None:
    starts: dict[str, list[float]] = {"p": [], "q": []}
    lock = threading.Lock()

    def work(job: tuple[str, int], gate: HostGate) -> None:
        gate()
        with lock:
            starts[job[0]].append(time.monotonic())

    jobs = [(host, n) for host in ("p", "q") for n in range(3)]
    began = time.monotonic()
    list(fetch_all(jobs, work, lambda job: job[0], threads=4, per_host=2, delay=0.1))
    for host in ("p", "q"):
        times = sorted(starts[host])
        assert all(b - a >= 0.09 for a, b in itertools.pairwise(times)), (host, times)
    # Both hosts' first requests start together: one host's gate never delays the other.
    assert min(starts["p"]) - began < 0.09 and min(starts["q"]) - began < 0.09


# --------------------------------------------------------------------------
# validators_for / shard_of / listed_requests
# --------------------------------------------------------------------------

EPOCH = Timestamp(0)


def feed_state(url: str = "http://feeds.example/a.xml", **fields: Any) -> FeedState:
    base = FeedState(
        url=url,
        kind="feed",
        etag='"e1"',
        last_modified="Fri, 01 Mar 2024 09:30:00 GMT",
        last_status=np.int32(200),
        consecutive_failures=np.int32(0),
        last_attempt_at=EPOCH,
        last_success_at=EPOCH,
        run_id="run-before",
    )
    return base._replace(**fields)


def test_validators_for_a_remembered_feed() -> None:
    assert validators_for(feed_state(), FetchPolicy()) == Validators('"e1"', "Fri, 01 Mar 2024 09:30:00 GMT")


@pytest.mark.parametrize(
    ("state", "conditional", "expected"),
    [
        (None, True, None),
        (feed_state(kind="opml"), True, None),
        (feed_state(), False, None),
        (feed_state(etag=None, last_modified=None), True, None),
        (feed_state(etag="", last_modified=""), True, None),
        (feed_state(etag=None), True, Validators(None, "Fri, 01 Mar 2024 09:30:00 GMT")),
        (feed_state(last_modified=None), True, Validators('"e1"', None)),
    ],
    ids=["no-state", "opml", "conditional-off", "no-validators", "empty-validators", "only-date", "only-etag"],
)
def test_validators_for_cases(state: Optional[FeedState], conditional: bool, expected: Optional[Validators]) -> None:
    assert validators_for(state, FetchPolicy(conditional=conditional)) == expected


def test_shard_of_is_stable_and_per_host() -> None:
    urls = [f"http://host{n}.example/feed.xml" for n in range(200)]
    shards = [shard_of(url, 8) for url in urls]
    assert all(0 <= s < 8 for s in shards)
    assert len(set(shards)) == 8  # 200 hosts spread over every shard
    assert shards == [shard_of(url, 8) for url in urls]
    host = "http://news.example"
    same_host = {shard_of(f"{host}{path}", 8) for path in ("/a.xml", "/b/rss", "/c?x=1", ":8080/d", "/")}
    assert same_host == {shard_of("HTTP://NEWS.EXAMPLE/other", 8)}


def test_shard_of_known_value_does_not_depend_on_the_process() -> None:
    """A salted hash (like hash()) would differ between workers; blake2b of the host is fixed."""
    import hashlib

    expected = int.from_bytes(hashlib.blake2b(b"news.example", digest_size=4).digest(), "big") % 7
    assert shard_of("https://news.example/feed", 7) == expected


@pytest.mark.parametrize("shards", [0, 1, -3])
def test_shard_of_fewer_than_two_shards_is_shard_zero(shards: int) -> None:
    assert shard_of("http://a.example/", shards) == 0


OPML_BASE = "http://lists.example/dir/list.opml"


def test_listed_requests_resolves_references_against_the_list_url() -> None:
    body = opml(
        [
            "http://feeds.example/a.xml",
            "feeds/b.xml",
            "../c.xml",
            "/d.xml",
            "//other.example/e.xml",
            "https://feeds.example/f.xml",
            "?format=rss",
        ]
    )
    parent = FeedRequest(OPML_BASE, "seeds/lists.opml")
    accepted, refused = listed_requests(body, parent, OPML_BASE)
    assert refused == []
    # opml() spreads the references over nested groups, so the document order is not the list order.
    assert sorted(r.url for r in accepted) == sorted(
        [
            "http://feeds.example/a.xml",
            "http://lists.example/dir/feeds/b.xml",
            "http://lists.example/c.xml",
            # An absolute path is a path on the list's host, not a local file: fetched over http.
            "http://lists.example/d.xml",
            "http://other.example/e.xml",
            "https://feeds.example/f.xml",
            "http://lists.example/dir/list.opml?format=rss",
        ]
    )
    assert all(r.parent == OPML_BASE for r in accepted)  # the list is the parent, not the list's own parent


def test_listed_requests_refuses_non_http_references() -> None:
    body = opml(
        [
            "file:///etc/passwd",
            "http://feeds.example/ok.xml",
            "ftp://feeds.example/x.xml",
            "FILE:/etc/shadow",
            "gopher://feeds.example/",
            "C:\\feeds\\local.xml",
        ]
    )
    accepted, refused = listed_requests(body, FeedRequest(OPML_BASE, None), OPML_BASE)
    assert [r.url for r in accepted] == ["http://feeds.example/ok.xml"]
    assert sorted(refused) == sorted(
        [
            "file:///etc/passwd",
            "ftp://feeds.example/x.xml",
            "FILE:/etc/shadow",
            "gopher://feeds.example/",
            "C:\\feeds\\local.xml",
        ]
    )


def test_listed_requests_finds_nested_outlines() -> None:
    urls = [f"http://feeds.example/{n}.xml" for n in range(7)]
    body = opml(urls)  # spreads the URLs over the top level and two nested groups
    assert b"Group two" in body
    accepted, refused = listed_requests(body, FeedRequest(OPML_BASE, None), OPML_BASE)
    assert sorted(r.url for r in accepted) == sorted(urls) and refused == []


def test_listed_requests_resolves_against_the_final_url_given() -> None:
    accepted, _ = listed_requests(opml(["feed.xml"]), FeedRequest(OPML_BASE, None), "http://moved.example/new/list")
    assert [r.url for r in accepted] == ["http://moved.example/new/feed.xml"]


# --------------------------------------------------------------------------
# make_session
# --------------------------------------------------------------------------


def test_make_session_identifies_the_fetcher(server: FeedServer) -> None:
    fetch_policy = policy(contact=CONTACT)
    session = make_session(fetch_policy)
    try:
        assert session.trust_env is False
        agent = session.headers["User-Agent"]
        assert agent.startswith("newsbeam/") and f"+{CONTACT}" in agent
        assert session.headers["Accept-Encoding"] == "gzip, deflate"
    finally:
        session.close()
    url = server.route("/feed.xml", static(FEED))
    run_fetch(url, fetch_policy)
    sent = server.requests_for("/feed.xml")[0].headers
    assert sent["user-agent"] == fetch_policy.user_agent
    assert "rss+xml" in sent["accept"] and "atom+xml" in sent["accept"]


def test_user_agent_without_a_contact() -> None:
    agent = FetchPolicy().user_agent
    assert agent.startswith("newsbeam/") and "+" not in agent and agent.endswith("Apache Beam)")


def test_make_session_mounts_the_guard_only_when_private_hosts_are_refused() -> None:
    guarded = make_session(policy(allow_private_hosts=False))
    open_ = make_session(policy(allow_private_hosts=True))
    try:
        for scheme in ("http://x.example/", "https://x.example/"):
            guarded_adapter, open_adapter = guarded.get_adapter(scheme), open_.get_adapter(scheme)
            assert isinstance(guarded_adapter, FetchAdapter) and guarded_adapter.check_peer
            assert isinstance(open_adapter, FetchAdapter) and not open_adapter.check_peer
    finally:
        guarded.close()
        open_.close()


def test_make_session_ignores_proxies_from_the_environment(server: FeedServer, monkeypatch: Any) -> None:
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    url = server.route("/feed.xml", static(FEED))
    # The control: a session that trusts the environment goes to the dead proxy and fails.
    with requests.Session() as trusting, pytest.raises(requests.exceptions.ConnectionError):
        trusting.get(url, timeout=2)
    outcome, _ = run_fetch(url, policy())
    assert outcome.error is None and outcome.body == FEED
    assert len(server.requests_for("/feed.xml")) == 1


# --------------------------------------------------------------------------
# FetchFeeds in a pipeline
# --------------------------------------------------------------------------


@pytest.mark.slow
def test_fetch_feeds_pipeline(server: FeedServer) -> None:
    other = rss([entry(3, "other")])
    feed = server.route("/feed.xml", static(FEED, etag='"f1"'))
    listed_feed = server.url("/listed.xml")
    unchanged = server.route("/unchanged.xml", static(other, etag='"u1"'))
    gone = server.route("/gone.xml", Response(404, {"Content-Type": "text/plain"}, b"gone"))
    empty = server.route("/empty.xml", Response(200, {"Content-Type": "application/rss+xml"}, b""))
    listing = server.route("/list.opml", static(opml([listed_feed, "file:///etc/passwd"]), content_type="text/x-opml"))
    requests_in = [
        FeedRequest(feed, "seeds/b.opml"),
        FeedRequest(feed, None),  # the same URL twice: fetched once, the copy without a parent wins
        FeedRequest(feed, "seeds/a.opml"),
        FeedRequest(unchanged, None),
        FeedRequest(gone, None),
        FeedRequest(empty, None),
        FeedRequest(listing, None),
    ]
    state = [
        (unchanged, feed_state(unchanged, etag='"u1"', last_modified=None)),
        (gone, feed_state(gone, etag='"g1"')),  # sent, but the server ignores it
        (listing, feed_state(listing, kind="opml", etag='"o1"')),  # lists are never fetched conditionally
    ]
    fetch_policy = policy(threads=4, per_host_concurrency=2, contact=CONTACT)

    def check_documents(documents: list[RawDocument]) -> None:
        assert len(documents) == 1, documents
        (document,) = documents
        assert document.source == feed and document.source_type == "http" and document.parent is None
        assert document.payload == FEED and document.content_type == "application/rss+xml; charset=utf-8"

    def check_fetches(fetches: list[FeedFetch]) -> None:
        by_url = {f.url: f for f in fetches}
        assert len(fetches) == len(by_url) == 5, [f.url for f in fetches]
        ok = by_url[feed]
        assert ok.status == 200 and ok.error_class is None and ok.kind == "feed" and ok.etag == '"f1"'
        assert ok.bytes == len(FEED) and ok.attempts == 1 and ok.parent is None and not ok.not_modified
        not_modified = by_url[unchanged]
        assert not_modified.not_modified and not_modified.status == 304 and not_modified.etag == '"u1"'
        assert not_modified.error_class is None and not_modified.bytes == 0
        assert by_url[gone].error_class == "HTTPStatusError" and by_url[gone].status == 404
        assert by_url[gone].error_message.startswith("HTTP 404")
        assert by_url[empty].error_class == "EmptyResponse"
        assert by_url[listing].kind == "opml" and by_url[listing].error_class is None
        assert by_url[listing].final_url == listing
        assert all(isinstance(f.fetched_at, Timestamp) for f in fetches)

    def check_listed(listed: list[FeedRequest]) -> None:
        assert listed == [FeedRequest(listed_feed, listing)]

    def check_dead_letters(dead: list[Any]) -> None:
        by_source = {d.source: d for d in dead}
        assert sorted(by_source) == sorted([gone, empty, "file:///etc/passwd"]), by_source
        assert all(d.stage == "fetch" for d in dead)
        assert by_source[gone].error_type == "HTTPStatusError" and by_source[gone].raw_text == gone
        assert by_source[empty].error_type == "EmptyResponse" and by_source[empty].raw_text == empty
        blocked = by_source["file:///etc/passwd"]
        assert blocked.error_type == "BlockedURL" and blocked.raw_text == "file:///etc/passwd"

    pipeline = new_pipeline()
    feeds = pipeline | "Requests" >> beam.Create(requests_in)
    state_side = beam.pvalue.AsDict(pipeline | "State" >> beam.Create(state))
    fetched = feeds | "FetchFeeds" >> FetchFeeds("run-fetch", fetch_policy, state_side, shards=2)
    assert_that(fetched["documents"], matcher(check_documents), label="CheckDocuments")
    assert_that(fetched[FETCHES], matcher(check_fetches), label="CheckFetches")
    assert_that(fetched[LISTED], matcher(check_listed), label="CheckListed")
    assert_that(fetched[DEAD_LETTER], matcher(check_dead_letters), label="CheckDeadLetters")
    pipeline.run().wait_until_finish()

    assert len(server.requests_for("/feed.xml")) == 1
    assert server.requests_for("/listed.xml") == []  # listed, not fetched: that is the second round's job
    assert server.requests_for("/unchanged.xml")[0].headers["if-none-match"] == '"u1"'
    assert server.requests_for("/gone.xml")[0].headers["if-none-match"] == '"g1"'
    assert "if-none-match" not in server.requests_for("/list.opml")[0].headers
    assert all(CONTACT in r.headers["user-agent"] for r in server.requests)


@pytest.mark.slow
def test_fetch_feeds_second_round_does_not_follow_another_list(server: FeedServer) -> None:
    listing = server.route("/list.opml", static(opml([server.url("/feed.xml")]), content_type="text/x-opml"))
    local = "file:///etc/passwd"  # refused whatever the policy: no packet, no file read

    def check_fetches(fetches: list[FeedFetch]) -> None:
        by_url = {f.url: f for f in fetches}
        assert sorted(by_url) == sorted([listing, local])
        assert by_url[listing].kind == "opml" and by_url[listing].error_class == "FetchError"
        assert by_url[listing].status == 200 and by_url[listing].parent == "seeds/lists.opml"
        assert by_url[local].error_class == "BlockedURL" and by_url[local].attempts == 1
        assert by_url[local].status is None

    def check_dead_letters(dead: list[Any]) -> None:
        assert sorted((d.source, d.error_type) for d in dead) == sorted(
            [(listing, "FetchError"), (local, "BlockedURL")]
        )
        by_source = {d.source: d for d in dead}
        assert by_source[listing].raw_bytes is not None and b"<opml" in by_source[listing].raw_bytes
        assert by_source[local].raw_text == local and by_source[local].raw_bytes is None

    pipeline = new_pipeline()
    feeds = pipeline | "Requests" >> beam.Create([FeedRequest(listing, "seeds/lists.opml"), FeedRequest(local, None)])
    no_state = beam.pvalue.AsDict(pipeline | "NoState" >> beam.Create([]).with_output_types(tuple[str, FeedState]))
    fetched = feeds | "FetchListed" >> FetchFeeds("run-fetch", policy(), no_state, expand_opml=False)
    assert_that(fetched["documents"], equal_to([]), label="NoDocuments")
    assert_that(fetched[FETCHES], matcher(check_fetches), label="CheckFetches")
    assert_that(fetched[LISTED], equal_to([]), label="NothingListed")
    assert_that(fetched[DEAD_LETTER], matcher(check_dead_letters), label="CheckDeadLetters")
    pipeline.run().wait_until_finish()
    assert server.requests_for("/feed.xml") == []  # the list was read, its feed not fetched


# --------------------------------------------------------------------------
# Feed autodiscovery
# --------------------------------------------------------------------------

_PAGE = (
    b'<!DOCTYPE html><html><head><link rel="alternate" type="application/feed+json" href="/feed.json">'
    b'<link rel="Alternate nofollow" type="application/atom+xml; charset=utf-8" href="atom.xml">'
    b'<link rel="alternate" type="application/rss+xml" href="rss.xml">'
    b'<link rel="alternate" type="text/html" href="/en/"><link rel="stylesheet" href="/s.css"></head>'
    b"<body><p>news</p></body></html>"
)


def test_discover_feed_prefers_rss_and_atom_in_document_order() -> None:
    assert discover_feed(_PAGE, "http://news.example/world/") == "http://news.example/world/atom.xml"


def test_discover_feed_falls_back_to_json_feed() -> None:
    page = b'<html><head><link rel="alternate" type="application/feed+json" href="/feed.json"></head></html>'
    assert discover_feed(page, "https://news.example/a/b") == "https://news.example/feed.json"


@pytest.mark.parametrize(
    "page",
    [
        b"<html><head><title>none</title></head><body></body></html>",
        b'<html><head><link rel="alternate" type="application/rss+xml" href="file:///etc/passwd"></head></html>',
        b'<html><head><link rel="alternate" type="application/rss+xml" href="javascript:alert(1)"></head></html>',
        b'<html><head><link rel="alternate" type="application/rss+xml"></head></html>',
        b'<html><head><link rel="stylesheet" type="application/rss+xml" href="/rss"></head></html>',
        b"",
        b"\x00\x01\x02",
    ],
)
def test_discover_feed_finds_nothing(page: bytes) -> None:
    assert discover_feed(page, "http://news.example/") is None


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"<!DOCTYPE html><html><body>x</body></html>", None, True),
        (b"  <html lang='en'><body>x</body></html>", None, True),
        (b"<p>anything</p>", "text/html; charset=utf-8", True),
        (b'<?xml version="1.0"?><rss version="2.0"></rss>', None, False),
        (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"></feed>', "application/atom+xml", False),
        (b"<feed><entry><content type='html'>&lt;html&gt;</content></entry></feed>", None, False),
        (b'{"version": "https://jsonfeed.org/version/1.1"}', "application/feed+json", False),
        (b"<html/>", "application/xhtml+xml", True),
    ],
)
def test_looks_like_html_page(body: bytes, content_type: Optional[str], expected: bool) -> None:
    assert looks_like_html_page(body, content_type) is expected


def test_fetch_follows_a_page_to_its_feed_and_reports_the_hop(server: FeedServer) -> None:
    feed = rss([entry(1, "disc")])
    server.route("/d/feed.xml", static(feed, etag='"f1"'))
    page = server.route("/d/", static(_PAGE.replace(b"atom.xml", b"feed.xml"), content_type="text/html"))
    with make_session(policy(allow_private_hosts=True)) as session:
        outcome = fetch_feed(session, page, policy(allow_private_hosts=True))
        assert outcome.error is None, outcome.error
        assert (outcome.url, outcome.final_url, outcome.redirects, outcome.attempts) == (
            page,
            server.url("/d/feed.xml"),
            1,
            2,
        )
        assert outcome.body == feed and outcome.etag == '"f1"'
        off = fetch_feed(session, page, policy(allow_private_hosts=True, discover=False))
        assert off.error is None and off.final_url == page and off.body is not None and b"<html" in off.body.lower()


def test_fetch_reports_a_failing_discovered_feed_as_the_page_urls_failure(server: FeedServer) -> None:
    page = server.route("/e/", static(_PAGE.replace(b"atom.xml", b"gone.xml"), content_type="text/html"))
    with make_session(policy(allow_private_hosts=True)) as session:
        outcome = fetch_feed(session, page, policy(allow_private_hosts=True))
    assert isinstance(outcome.error, HTTPStatusError)
    assert outcome.url == page and outcome.status == 404
    assert server.url("/e/gone.xml") in str(outcome.error)


def test_host_slots_limit_requests_in_flight_per_host() -> None:
    """The streaming poller's per-host concurrency: one semaphore per (host, limit) in a fetch context."""
    context = FetchContext()
    host_slots = context.slots

    slots = host_slots("slots.example", 2)
    assert host_slots("slots.example", 2) is slots
    assert host_slots("other.example", 2) is not slots
    in_flight, peak = 0, 0
    lock = threading.Lock()

    def request() -> None:
        nonlocal in_flight, peak
        with host_slots("slots.example", 2):
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
            time.sleep(0.05)
            with lock:
                in_flight -= 1

    threads = [threading.Thread(target=request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 2


# --------------------------------------------------------------------------
# Truncated bodies: shorter than their Content-Length (issue 11, item 12)
# --------------------------------------------------------------------------


def _lying(payload: bytes, declared: int, headers: Optional[dict[str, str]] = None) -> Any:
    """A raw response whose Content-Length announces ``declared`` bytes, then ``payload`` and the connection closed."""
    head = {"Content-Type": "application/rss+xml", **(headers or {}), "Content-Length": str(declared)}

    def write(_request: Any, wfile: Any) -> None:
        wfile.write(b"HTTP/1.1 200 OK\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in head.items()) + b"\r\n")
        wfile.write(payload)

    return raw(write)


@pytest.mark.parametrize(
    "name, payload, declared, headers",
    [
        ("plain-half", FEED[: len(FEED) // 2], len(FEED), None),
        ("plain-whole-but-short-of-the-claim", FEED, len(FEED) + 100, None),
        ("gzip-half", gzip.compress(FEED)[:60], len(gzip.compress(FEED)), {"Content-Encoding": "gzip"}),
        # A complete gzip stream (it would inflate fine) shorter than the length announced.
        ("gzip-whole-but-short", gzip.compress(FEED), len(gzip.compress(FEED)) + 50, {"Content-Encoding": "gzip"}),
        ("deflate-short", zlib.compress(FEED), len(zlib.compress(FEED)) + 10, {"Content-Encoding": "deflate"}),
    ],
)
def test_a_body_shorter_than_its_content_length_is_truncated_never_a_document(
    server: FeedServer, name: str, payload: bytes, declared: int, headers: Optional[dict[str, str]]
) -> None:
    url = server.route(f"/{name}", _lying(payload, declared, headers))
    outcome, waits = run_fetch(url, policy(retries=1))
    assert isinstance(outcome.error, TruncatedResponse), outcome.error
    assert outcome.body is None
    assert outcome.attempts == 2 and len(waits) == 1  # retryable, then given up
    assert outcome.status == 200


@pytest.mark.slow
def test_a_truncated_body_becomes_a_fetch_dead_letter_not_an_article(server: FeedServer) -> None:
    url = server.route(
        "/short.xml", _lying(gzip.compress(FEED), len(gzip.compress(FEED)) + 50, {"Content-Encoding": "gzip"})
    )
    with new_pipeline() as p:
        fetched = (
            p
            | beam.Create([FeedRequest(url, None)])
            | FetchFeeds("run-short", policy(retries=0), beam.pvalue.AsDict(p | "NoState" >> beam.Create([])))
        )
        assert_that(fetched["documents"], equal_to([]), label="NoDocument")
        assert_that(
            fetched[DEAD_LETTER] | beam.Map(lambda d: (d.stage, d.error_type, d.source)),
            equal_to([("fetch", "TruncatedResponse", url)]),
            label="DeadLetter",
        )


def test_the_reads_own_check_catches_a_short_body_urllib3_lets_through(server: FeedServer, monkeypatch: Any) -> None:
    """Completeness is checked against Content-Length by the fetcher itself, not left to urllib3's default."""
    monkeypatch.setattr(urllib3.response.HTTPResponse, "_init_length", lambda self, method: None)
    url = server.route("/half", _lying(FEED[:100], len(FEED)))
    outcome, _ = run_fetch(url, policy())
    assert isinstance(outcome.error, TruncatedResponse)
    assert "100 of the" in str(outcome.error)


@pytest.mark.slow
def test_a_server_silent_mid_body_is_cut_at_the_deadline_not_the_read_timeout(server: FeedServer) -> None:
    """The deadline watch covers the body too: a close-delimited body that stops coming is not complete."""

    def half_then_silence(_request: Any, wfile: Any) -> None:
        wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nConnection: close\r\n\r\n")
        wfile.write(FEED[:200])
        wfile.flush()
        server_stopping.wait(10)

    server_stopping = threading.Event()
    url = server.route("/silent-body", raw(half_then_silence))
    try:
        outcome, _ = run_fetch(url, policy(deadline=0.5, read_timeout=5.0))
    finally:
        server_stopping.set()
    assert isinstance(outcome.error, DeadlineExceeded), outcome.error
    assert outcome.body is None


# --------------------------------------------------------------------------
# StopSignal: a stopping stream abandons its fetches (issue 11, item 14)
# --------------------------------------------------------------------------


def _fetch_in_thread(
    url: str, fetch_policy: FetchPolicy, stop: StopSignal, **kwargs: Any
) -> tuple[threading.Thread, list]:
    result: list = []
    session = make_session(fetch_policy)

    def run() -> None:
        try:
            result.append(fetch_feed(session, url, fetch_policy, sleep=stop.wait, stop=stop, **kwargs))
        finally:
            session.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


@pytest.mark.slow
def test_a_cut_ends_a_trickling_response_at_once(server: FeedServer) -> None:
    url = server.route("/trickle", Response(200, {}, FEED, chunk_size=1, chunk_delay=0.5))
    stop = StopSignal()
    thread, result = _fetch_in_thread(url, policy(deadline=60.0, read_timeout=30.0), stop)
    deadline = time.monotonic() + 10
    while not server.requests_for("/trickle") and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()  # a request in flight may still finish...
    time.sleep(0.3)
    assert thread.is_alive()
    stop.cut()  # ...until it is cut off
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert isinstance(result[0].error, FetchCancelled), result[0].error
    assert result[0].body is None


def test_a_cut_ends_a_server_that_never_answers(server: FeedServer) -> None:
    url = server.route("/mute", Response(200, {}, FEED, delay=30))
    stop = StopSignal()
    thread, result = _fetch_in_thread(url, policy(deadline=60.0, read_timeout=30.0), stop)
    while not server.requests_for("/mute"):
        time.sleep(0.01)
    stop.cut()
    thread.join(timeout=5)
    assert not thread.is_alive() and isinstance(result[0].error, FetchCancelled)


@pytest.mark.slow
def test_a_request_in_flight_may_finish_after_set(server: FeedServer) -> None:
    url = server.route("/slowish", Response(200, {}, FEED, delay=0.5))
    stop = StopSignal()
    thread, result = _fetch_in_thread(url, policy(), stop)
    while not server.requests_for("/slowish"):
        time.sleep(0.01)
    stop.set()
    thread.join(timeout=5)
    assert result[0].error is None and result[0].body == FEED


@pytest.mark.slow
def test_set_wakes_a_retry_back_off_and_nothing_more_is_tried(server: FeedServer) -> None:
    url = server.route("/down", Response(503, {"Retry-After": "30"}, b"busy"))
    stop = StopSignal()
    thread, result = _fetch_in_thread(url, policy(retries=5, max_retry_wait=60.0), stop)
    while not server.requests_for("/down"):
        time.sleep(0.01)
    time.sleep(0.2)  # now asleep in the 30 s back-off
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert isinstance(result[0].error, FetchCancelled)
    assert len(server.requests_for("/down")) == 1


def test_a_fetch_under_a_set_signal_sends_nothing(server: FeedServer) -> None:
    url = server.route("/never", static(FEED))
    stop = StopSignal()
    stop.set()
    outcome = fetch_feed(make_session(policy()), url, policy(), stop=stop)
    assert isinstance(outcome.error, FetchCancelled) and outcome.attempts == 0
    assert server.requests_for("/never") == []


def test_set_wakes_a_wait_for_a_turn_at_the_host() -> None:
    gate = HostGate(30.0)
    assert gate.wait_turn() is True  # the first turn is now
    stop = StopSignal()
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    assert gate.wait_turn(stop) is False
    assert time.monotonic() - started < 5


def test_fetch_keeps_the_refresh_headers_of_the_last_response(server: FeedServer) -> None:
    url = server.route("/hinted", static(FEED, headers={"Cache-Control": "max-age=600", "X-Other": "1"}))
    outcome, _ = run_fetch(url, policy())
    assert outcome.headers.get("Cache-Control") == "max-age=600" and "X-Other" not in outcome.headers


# --------------------------------------------------------------------------
# The package's shape (issue 12): the caller's Accept, shared fetch contexts, no module state
# --------------------------------------------------------------------------


def test_the_client_sends_the_callers_accept_header_and_never_follows_a_page(server: FeedServer) -> None:
    """A page fetch (HTML Accept, no discovery) gets the page itself; the feed fetch asks for feeds."""
    page = server.route("/accept/", static(_PAGE.replace(b"atom.xml", b"feed.xml"), content_type="text/html"))
    server.route("/accept/feed.xml", static(FEED))
    html = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
    with make_session(policy()) as session:
        outcome = fetch(session, page, policy(), accept=html)
        as_feed = fetch_feed(session, page, policy(discover=False))
    assert [r.headers["accept"] for r in server.requests_for("/accept/")] == [html, FEED_ACCEPT]
    assert outcome.error is None and (outcome.final_url, outcome.redirects) == (page, 0)
    assert outcome.body is not None and b"<html" in outcome.body.lower()
    assert as_feed.error is None and as_feed.final_url == page
    assert server.requests_for("/accept/feed.xml") == []  # the client never looks inside a body


def test_copies_of_one_handle_reach_one_fetch_context() -> None:
    handle = SharedFetchContext()
    context = handle.acquire()
    copy = pickle.loads(pickle.dumps(handle))  # as a DoFn gets it on a worker
    assert copy.acquire() is context
    assert SharedFetchContext().acquire() is not context  # another handle: another context
    gate = context.gate("gate.example", 1.0)
    assert copy.acquire().gate("gate.example", 2.0) is gate and gate.delay == 2.0
    assert context.gate("other.example", 1.0) is not gate


@pytest.mark.slow
def test_two_transforms_given_one_handle_share_a_hosts_gate(server: FeedServer) -> None:
    """Two ``FetchFeeds`` (as the batch graph's two rounds) with one handle: the host's delay holds across them."""
    delay = 1.5
    first = server.route("/round-one.xml", static(rss([entry(1, "one")])))
    second = server.route("/round-two.xml", static(rss([entry(2, "two")])))
    fetch_policy = policy(per_host_delay=delay, per_host_concurrency=1)
    hosts = SharedFetchContext()
    with new_pipeline() as p:
        state = beam.pvalue.AsDict(p | "NoState" >> beam.Create([]))
        outputs = []
        for label, url in (("One", first), ("Two", second)):
            fetched = (
                p
                | f"Create{label}" >> beam.Create([FeedRequest(url, None)])
                | f"Fetch{label}" >> FetchFeeds("run-shared", fetch_policy, state, context=hosts)
            )
            outputs.append(fetched["documents"] | f"Source{label}" >> beam.Map(lambda d: d.source))
        assert_that(tuple(outputs) | beam.Flatten(), equal_to([first, second]))
    starts = sorted(r.time for r in server.requests)
    assert len(starts) == 2
    # Two transforms run one after the other: with a gate each, the second request would start as
    # soon as its stage does. Server-side read times jitter a little on a loaded machine.
    assert starts[1] - starts[0] >= delay - 0.25, starts


def test_a_cut_reaches_the_requests_of_every_watchdog(server: FeedServer) -> None:
    """One stop signal over sessions of different watchdogs (two fetch contexts): ``cut`` ends them all."""
    url = server.route("/mute-both", Response(200, {}, FEED, delay=30))
    stop = StopSignal()
    runs = [_fetch_in_thread(url, policy(deadline=60.0, read_timeout=30.0), stop) for _ in range(2)]
    while len(server.requests_for("/mute-both")) < 2:
        time.sleep(0.01)
    stop.cut()
    for thread, result in runs:
        thread.join(timeout=5)
        assert not thread.is_alive() and isinstance(result[0].error, FetchCancelled), result


#: What module-level state looks like: containers, locks, thread-locals, executors, sessions.
_MUTABLE_TYPES: tuple[type, ...] = (
    dict,
    list,
    set,
    bytearray,
    collections.deque,
    threading.local,
    type(threading.Lock()),
    type(threading.RLock()),
    threading.Condition,
    threading.Event,
    threading.Semaphore,
    queue.SimpleQueue,
    queue.Queue,
    ThreadPoolExecutor,
    requests.Session,
)


def mutable_globals(module: types.ModuleType) -> list[str]:
    """Names of a module's globals holding mutable state: a container, a lock, or an object of the package."""
    found = []
    for name, value in vars(module).items():
        if name.startswith("__") or isinstance(value, (type, types.ModuleType, types.FunctionType, tuple)):
            continue
        if isinstance(value, _MUTABLE_TYPES) or type(value).__module__.startswith("transforms.fetch"):
            found.append(name)
    return found


def test_mutable_globals_finds_module_state() -> None:
    """The check below can fail: what the package held before issue 12 is found."""
    fake = types.ModuleType("fake")
    fake._GATES = {}  # type: ignore[attr-defined]
    fake._GATES_LOCK = threading.Lock()  # type: ignore[attr-defined]
    fake._WATCH = threading.local()  # type: ignore[attr-defined]
    fake._WATCHDOG = Watchdog()  # type: ignore[attr-defined]
    fake.LIMIT = 5  # type: ignore[attr-defined]
    fake.KINDS = frozenset({"a"})  # type: ignore[attr-defined]
    assert sorted(mutable_globals(fake)) == ["_GATES", "_GATES_LOCK", "_WATCH", "_WATCHDOG"]


def test_the_fetch_package_holds_no_module_level_state() -> None:
    modules = [
        importlib.import_module(f"transforms.fetch.{m.name}") for m in pkgutil.iter_modules(fetch_package.__path__)
    ]
    assert {m.__name__.rsplit(".", 1)[1] for m in modules} >= {"policy", "guard", "client", "hosts", "feeds", "polling"}
    found = {module.__name__: mutable_globals(module) for module in [fetch_package, *modules]}
    assert {name: names for name, names in found.items() if names} == {}

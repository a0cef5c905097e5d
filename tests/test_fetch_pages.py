"""``fetch_page`` against a real HTTP server on loopback: robots.txt first, then the page, every failure a reason.

No pipeline here: the page fetch is called as ``FetchPages`` calls it (one
``FetchContext`` for the run, the host's gate, the worker's session), and the
server's request log says what reached it. Each test is a second or less.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from typing import Any, Iterator, Optional

import pytest
from feedserver import Response, redirect, sequence, static
from pageserver import PageServer, fixture, html, huge, pdf, robots, slow

import transforms.fetch.guard as guard
from transforms.fetch.client import make_session
from transforms.fetch.hosts import FetchContext, host_of
from transforms.fetch.pages import PAGE_ACCEPT, PageFetch, fetch_page
from transforms.fetch.policy import FetchPolicy

PAGE = fixture("article_boilerplate.html")
CONTACT = "https://newsbeam.test/contact"


def policy(**overrides: Any) -> FetchPolicy:
    settings: dict[str, Any] = {
        "allow_private_hosts": True,
        "per_host_delay": 0.0,
        "retries": 0,
        "backoff": 0.01,
        "read_timeout": 2.0,
        "connect_timeout": 2.0,
        "deadline": 5.0,
        "contact": CONTACT,
    }
    settings.update(overrides)
    return FetchPolicy(**settings)


class Fetcher:
    """What one worker holds for a run: a policy, the run's fetch context and a session."""

    def __init__(self, **overrides: Any):
        self.policy = policy(**overrides)
        self.hosts = FetchContext()
        self.session = make_session(self.policy, self.hosts.watchdog)

    def __call__(self, url: str, respect_robots: bool = True) -> PageFetch:
        gate = self.hosts.gate(host_of(url), self.policy.per_host_delay)
        return fetch_page(self.session, url, self.policy, self.hosts, gate, respect_robots)

    def close(self) -> None:
        self.session.close()


@pytest.fixture
def server() -> Iterator[PageServer]:
    with PageServer() as running:
        yield running


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    made = Fetcher()
    yield made
    made.close()


# --------------------------------------------------------------------------
# A page and its robots.txt
# --------------------------------------------------------------------------


def test_a_page_is_fetched_after_its_sites_robots_txt(server: PageServer, fetcher: Fetcher) -> None:
    server.route("/robots.txt", robots("User-agent: *\nDisallow: /private/\n"))
    url = server.route("/news/pool", html(PAGE))
    fetched = fetcher(url)
    assert fetched.error is None, fetched.message
    assert fetched.body == PAGE.encode("utf-8")
    assert (fetched.status, fetched.final_url, fetched.fetched_robots) == (200, url, True)
    assert fetched.content_type == "text/html; charset=utf-8"
    assert server.paths() == ["/robots.txt", "/news/pool"]
    page_request = server.requests_for("/news/pool")[0]
    assert page_request.headers["accept"] == PAGE_ACCEPT
    assert page_request.headers["user-agent"].startswith("newsbeam/")
    assert CONTACT in page_request.headers["user-agent"]
    assert server.requests_for("/robots.txt")[0].headers["user-agent"] == page_request.headers["user-agent"]


def test_a_disallowed_page_is_never_requested(server: PageServer, fetcher: Fetcher) -> None:
    server.route("/robots.txt", robots("User-agent: *\nDisallow: /private/\n"))
    url = server.route("/private/story", html(PAGE))
    fetched = fetcher(url)
    assert fetched.error == "robots"
    assert fetched.body is None and fetched.status is None
    assert fetched.fetched_robots
    assert server.paths() == ["/robots.txt"]


def test_a_group_for_newsbeam_applies_instead_of_the_star_group(server: PageServer, fetcher: Fetcher) -> None:
    server.route("/robots.txt", robots("User-agent: *\nAllow: /\n\nUser-agent: newsbeam\nDisallow: /news/\n"))
    blocked = server.route("/news/a", html(PAGE))
    allowed = server.route("/culture/b", html(PAGE))
    assert fetcher(blocked).error == "robots"
    assert fetcher(allowed).error is None
    assert server.paths() == ["/robots.txt", "/culture/b"]


@pytest.mark.parametrize("status", [404, 403, 410])
def test_robots_txt_4xx_allows_everything(server: PageServer, fetcher: Fetcher, status: int) -> None:
    server.route("/robots.txt", robots("Forbidden", status=status))
    url = server.route("/private/story", html(PAGE))
    fetched = fetcher(url)
    assert fetched.error is None and fetched.body is not None
    assert server.paths() == ["/robots.txt", "/private/story"]


@pytest.mark.parametrize("status", [500, 503])
def test_robots_txt_5xx_makes_the_site_unreachable(server: PageServer, status: int) -> None:
    fetcher = Fetcher(retries=1)
    try:
        server.route("/robots.txt", Response(status, {"Retry-After": "0"}, b"down"))
        first = fetcher(server.route("/a", html(PAGE)))
        second = fetcher(server.route("/b", html(PAGE)))
    finally:
        fetcher.close()
    assert first.error == second.error == "robots_unreachable"
    assert first.fetched_robots and not second.fetched_robots
    assert server.paths() == ["/robots.txt", "/robots.txt"]  # one fetch, retried once; never a page


def test_robots_txt_that_times_out_makes_the_site_unreachable(server: PageServer) -> None:
    fetcher = Fetcher(read_timeout=0.3)
    try:
        server.route("/robots.txt", slow("User-agent: *\nAllow: /\n", delay=5))
        fetched = fetcher(server.route("/a", html(PAGE)))
    finally:
        fetcher.close()
    assert fetched.error == "robots_unreachable"
    assert server.paths() == ["/robots.txt"]


def test_robots_txt_is_fetched_once_per_site(server: PageServer, fetcher: Fetcher) -> None:
    server.route("/robots.txt", robots("User-agent: *\nDisallow: /private/\n"))
    urls = [server.route(f"/news/{n}", html(PAGE)) for n in range(3)] + [server.route("/private/x", html(PAGE))]
    results = [fetcher(url) for url in urls]
    assert [r.fetched_robots for r in results] == [True, False, False, False]
    assert [r.error for r in results] == [None, None, None, "robots"]
    assert Counter(server.paths())["/robots.txt"] == 1


def test_robots_txt_is_fetched_once_by_concurrent_lanes(server: PageServer, fetcher: Fetcher) -> None:
    server.route("/robots.txt", slow("User-agent: *\nAllow: /\n", delay=0.3))
    urls = [server.route(f"/news/{n}", html(PAGE)) for n in range(8)]
    results: list[PageFetch] = []
    lock = threading.Lock()

    def one(url: str) -> None:
        fetched = fetcher(url)
        with lock:
            results.append(fetched)

    threads = [threading.Thread(target=one, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.error for r in results] == [None] * 8
    assert sum(r.fetched_robots for r in results) == 1
    assert Counter(server.paths())["/robots.txt"] == 1


def test_robots_txt_is_per_site(fetcher: Fetcher) -> None:
    with PageServer() as one, PageServer("127.0.0.2") as two:
        one.route("/robots.txt", robots("User-agent: *\nDisallow: /a\n"))
        two.route("/robots.txt", robots("User-agent: *\nDisallow: /b\n"))
        results = {
            "one_a": fetcher(one.route("/a", html(PAGE))),
            "one_b": fetcher(one.route("/b", html(PAGE))),
            "two_a": fetcher(two.route("/a", html(PAGE))),
            "two_b": fetcher(two.route("/b", html(PAGE))),
        }
        assert {k: r.error for k, r in results.items()} == {
            "one_a": "robots",
            "one_b": None,
            "two_a": None,
            "two_b": "robots",
        }
        assert one.paths() == ["/robots.txt", "/b"]
        assert two.paths() == ["/robots.txt", "/a"]


def test_crawl_delay_spaces_the_pages_of_a_site(server: PageServer, fetcher: Fetcher) -> None:
    server.route("/robots.txt", robots("User-agent: *\nCrawl-delay: 0.4\nDisallow: /private/\n"))
    for n in range(4):
        fetcher(server.route(f"/news/{n}", html(PAGE)))
    starts = [r.time for r in server.requests if r.path.startswith("/news/")]
    assert len(starts) == 4
    gaps = [round(b - a, 3) for a, b in zip(starts, starts[1:], strict=False)]
    # Per-host delay 0, so only the site's Crawl-delay spaces them; server read times jitter (see
    # test_fetch_e2e.test_per_host_delay_spaces_request_starts): the sum cannot be shortened by it.
    assert starts[-1] - starts[0] >= 3 * 0.4 - 0.1, gaps
    assert min(gaps) >= 0.4 / 2, gaps


def test_a_redirect_to_a_path_another_sites_robots_txt_disallows_is_not_followed(fetcher: Fetcher) -> None:
    """robots.txt is the rule of the site a request goes to: a link on site A that redirects to a
    path site B disallows must not reach B's page (B's rules govern every request to B's origin,
    however the crawler came by the URL; news links often redirect through another host)."""
    with PageServer() as a, PageServer("127.0.0.2") as b:
        a.route("/robots.txt", robots("User-agent: *\nAllow: /\n"))
        b.route("/robots.txt", robots("User-agent: *\nDisallow: /members/\n"))
        b.route("/members/story", html(PAGE))
        fetched = fetcher(a.route("/go/story", redirect(b.url("/members/story"), 302)))
        b_paths = b.paths()
    assert "/members/story" not in b_paths, b_paths
    assert fetched.error in ("robots", "robots_unreachable"), fetched


def test_without_respect_for_robots_no_robots_txt_is_asked(server: PageServer, fetcher: Fetcher) -> None:
    server.route("/robots.txt", robots("User-agent: *\nDisallow: /\n"))
    fetched = fetcher(server.route("/private/story", html(PAGE)), respect_robots=False)
    assert fetched.error is None and not fetched.fetched_robots
    assert server.paths() == ["/private/story"]


# --------------------------------------------------------------------------
# What a page link may give instead of a page
# --------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/pdf", "text/html; charset=utf-8", "application/octet-stream"])
def test_a_pdf_at_an_article_link_is_not_html(server: PageServer, fetcher: Fetcher, content_type: str) -> None:
    fetched = fetcher(server.route("/report.pdf", pdf(content_type)))
    assert fetched.error == "not_html"
    assert fetched.status == 200 and fetched.body is None
    assert fetched.message and "not an HTML page" in fetched.message


def test_an_image_or_json_at_an_article_link_is_not_html(server: PageServer, fetcher: Fetcher) -> None:
    image = static(b"\x89PNG\r\n\x1a\n" + b"\0" * 200, content_type="image/png")
    data = static(b'{"title": "an API answer"}', content_type="application/json")
    assert fetcher(server.route("/photo", image)).error == "not_html"
    assert fetcher(server.route("/api", data)).error == "not_html"


@pytest.mark.parametrize("status", [404, 410, 401, 451])
def test_an_error_status_is_the_reason(server: PageServer, fetcher: Fetcher, status: int) -> None:
    url = server.route("/gone", Response(status, {"Content-Type": "text/html"}, b"<html><body>Gone</body></html>"))
    fetched = fetcher(url)
    assert (fetched.error, fetched.status) == (f"http_{status}", status)
    assert fetched.attempts == 1  # a 4xx is final: never retried


def test_a_503_is_retried_with_retry_after_then_succeeds(server: PageServer) -> None:
    fetcher = Fetcher(retries=2)
    try:
        busy = Response(503, {"Retry-After": "0"}, b"busy")
        url = server.route("/news/a", sequence(busy, busy, Response(200, {"Content-Type": "text/html"}, PAGE.encode())))
        fetched = fetcher(url)
    finally:
        fetcher.close()
    assert fetched.error is None and fetched.attempts == 3
    assert len(server.requests_for("/news/a")) == 3


def test_a_redirect_is_followed_and_the_final_url_kept(server: PageServer, fetcher: Fetcher) -> None:
    target = server.route("/news/2024/pool", html(PAGE))
    url = server.route("/r/123", redirect("/news/2024/pool", 301))
    fetched = fetcher(url)
    assert fetched.error is None
    assert (fetched.url, fetched.final_url) == (url, target)


def test_a_redirect_loop_is_too_many_redirects(server: PageServer, fetcher: Fetcher) -> None:
    server.route("/loop/a", redirect("/loop/b", 302))
    server.route("/loop/b", redirect("/loop/a", 302))
    assert fetcher(server.url("/loop/a")).error == "too_many_redirects"


def test_a_slow_page_times_out(server: PageServer) -> None:
    fetcher = Fetcher(read_timeout=0.3)
    try:
        fetched = fetcher(server.route("/slow", slow(PAGE, delay=5)))
    finally:
        fetcher.close()
    assert fetched.error == "timeout"


@pytest.mark.parametrize("declare_length", [True, False])
def test_a_50_mb_page_is_too_large_and_cut_off(server: PageServer, fetcher: Fetcher, declare_length: bool) -> None:
    page = huge(50 * 1024 * 1024, declare_length=declare_length)
    fetched = fetcher(server.route("/huge", page))
    assert fetched.error == "too_large"
    assert fetched.body is None
    # With a Content-Length the client refuses at the header; without one it stops reading at
    # --max-response-mb (16 MB): either way far less than the page crosses the connection.
    assert page.requests == 1
    assert page.sent < 40 * 1024 * 1024, page.sent


def test_an_empty_page_is_empty(server: PageServer, fetcher: Fetcher) -> None:
    assert fetcher(server.route("/empty", static(b"", content_type="text/html"))).error == "empty"


def test_a_truncated_page_is_truncated(server: PageServer, fetcher: Fetcher) -> None:
    body = PAGE.encode()
    url = server.route("/cut", Response(200, {"Content-Type": "text/html"}, body, declared_length=len(body) + 5000))
    assert fetcher(url).error == "truncated"


def test_a_gzip_page_is_decoded(server: PageServer, fetcher: Fetcher) -> None:
    fetched = fetcher(server.route("/gz", static(PAGE, content_type="text/html", gzip=True)))
    assert fetched.error is None and fetched.body == PAGE.encode()
    assert fetched.wire_bytes < len(PAGE.encode())


# --------------------------------------------------------------------------
# Addresses that are never fetched
# --------------------------------------------------------------------------


def test_a_link_on_a_reserved_name_is_never_looked_up(monkeypatch: pytest.MonkeyPatch, fetcher: Fetcher) -> None:
    lookups: list[Any] = []
    real = socket.getaddrinfo

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    for url in ("http://news.example/a", "https://www.courier.test/story", "http://x.invalid/"):
        fetched = fetcher(url)
        assert fetched.error == "reserved_name", url
        assert not fetched.fetched_robots
    assert lookups == []


def test_a_link_to_a_private_address_is_refused_before_any_request(server: PageServer) -> None:
    fetcher = Fetcher(allow_private_hosts=False)
    try:
        server.route("/robots.txt", robots("User-agent: *\nAllow: /\n"))
        literal = fetcher(server.route("/news/a", html(PAGE)))
        named = fetcher(f"http://localhost:{server.port}/news/a")
    finally:
        fetcher.close()
    assert literal.error == named.error == "blocked_address"
    assert server.requests == []  # not even robots.txt


@pytest.fixture
def loopback_one_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 reads as a public address, everything else as before.

    No public server can be reached from a test, yet a redirect *to* a
    private address needs a first hop that the guard lets through. So the
    guard's classification (``guard.blocked_reason``, used before a request
    and on every connection) is told that 127.0.0.1 is public; 127.0.0.2,
    ``localhost`` and 169.254.169.254 stay what they are.
    """
    real = guard.blocked_reason

    def reason(address: str) -> Optional[str]:
        return None if address == "127.0.0.1" else real(address)

    monkeypatch.setattr(guard, "blocked_reason", reason)


@pytest.mark.usefixtures("loopback_one_is_public")
def test_a_redirect_to_a_private_address_is_refused() -> None:
    fetcher = Fetcher(allow_private_hosts=False)
    try:
        with PageServer() as public, PageServer("127.0.0.2") as private:
            secret = private.route("/admin", html(PAGE))
            public.route("/robots.txt", robots("User-agent: *\nAllow: /\n"))
            targets = {
                "metadata": "http://169.254.169.254/latest/meta-data/",
                "private": secret,
                "localhost": f"http://localhost:{private.port}/admin",
                "ten": "http://10.0.0.7/internal",
            }
            results = {
                name: fetcher(public.route(f"/moved/{name}", redirect(target, 302))) for name, target in targets.items()
            }
            fine = fetcher(public.route("/news/a", html(PAGE)))
            assert private.requests == []
            assert public.paths() == ["/robots.txt", *[f"/moved/{name}" for name in targets], "/news/a"]
    finally:
        fetcher.close()
    assert {name: r.error for name, r in results.items()} == dict.fromkeys(targets, "blocked_address")
    assert fine.error is None  # the public site itself is fetched

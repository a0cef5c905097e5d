"""The test feed server itself: if it misbehaved by accident, fetcher tests built on it would prove nothing.

Every check goes over a real loopback socket with the clients a fetcher would
use (``urllib.request``, ``http.client``, ``requests``), so what is asserted
here is what those clients actually see.
"""

from __future__ import annotations

import gzip
import http.client
import socket
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import feedparser
import pytest
import requests
from feedserver import (
    FeedServer,
    Request,
    Response,
    atom,
    entry,
    gzip_bomb,
    http_date,
    mutable,
    opml,
    raw,
    redirect,
    rss,
    sequence,
    static,
)
from lxml import etree

FEED = rss([entry(1), entry(2)])


@pytest.fixture
def server():
    with FeedServer() as running:
        yield running


def _conn(server: FeedServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)


# serving -------------------------------------------------------------------------------------------------------


def test_addresses_are_loopback_only(server):
    assert server.base == f"http://127.0.0.1:{server.port}"
    assert server.url("feed") == server.url("/feed") == server.base + "/feed"


def test_static_body_over_urllib_and_requests(server):
    url = server.route("/feed.xml", static(FEED))
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
        assert int(resp.headers["Content-Length"]) == len(FEED)
        assert resp.read() == FEED
    got = requests.get(url, timeout=5)
    assert got.status_code == 200 and got.content == FEED


def test_keep_alive_serves_several_requests_on_one_connection(server):
    server.route("/a", static(b"first"))
    server.route("/b", Response(body=b"second"))
    conn = _conn(server)
    try:
        bodies = []
        for path in ("/a", "/b", "/a", "/missing", "/b"):
            conn.request("GET", path)
            resp = conn.getresponse()
            bodies.append((resp.status, resp.read()))
            assert not resp.will_close
        sock = conn.sock
        conn.request("HEAD", "/a")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Length") == "5" and resp.read() == b""
        conn.request("GET", "/b")
        assert conn.getresponse().read() == b"second"
        assert conn.sock is sock  # never reconnected
    finally:
        conn.close()
    assert [b for _, b in bodies if _ == 200] == [b"first", b"second", b"first", b"second"]
    assert bodies[3][0] == 404


def test_unknown_path_is_404_with_small_body(server):
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(server.url("/nope?x=1"), timeout=5)
    assert info.value.code == 404
    assert 0 < len(info.value.read()) < 200
    got = requests.get(server.url("/nope"), timeout=5)
    assert got.status_code == 404


def test_route_ignores_query_but_log_keeps_it(server):
    server.route("/feed", static(FEED))
    assert requests.get(server.url("/feed?page=2&utm_source=x"), timeout=5).content == FEED
    assert [r.path for r in server.requests_for("/feed")] == ["/feed?page=2&utm_source=x"]


def test_request_log_records_headers_method_and_time(server):
    server.route("/feed", static(FEED))
    before = time.monotonic()
    requests.get(server.url("/feed"), headers={"User-Agent": "newsbeam-test/1.0", "X-Probe": "yes"}, timeout=5)
    requests.post(server.url("/other"), data=b"payload", timeout=5)
    log = server.requests
    assert [(r.method, r.path) for r in log] == [("GET", "/feed"), ("POST", "/other")]
    first = log[0]
    assert isinstance(first, Request)
    assert first.headers["user-agent"] == "newsbeam-test/1.0"
    assert first.headers["x-probe"] == "yes"
    assert all(name == name.lower() for name in first.headers)
    assert before <= first.time <= log[1].time <= time.monotonic()
    assert server.requests_for("/feed") == [first]
    server.reset_log()
    assert server.requests == []


def test_responder_exception_is_a_500_and_recorded(server):
    def broken(request: Request) -> Response:
        raise RuntimeError("responder bug")

    server.route("/broken", broken)
    got = requests.get(server.url("/broken"), timeout=5)
    assert got.status_code == 500
    assert len(server.errors) == 1 and "responder bug" in server.errors[0]


# conditional requests ------------------------------------------------------------------------------------------


def test_etag_revalidation_gives_304(server):
    url = server.route("/feed", static(FEED, etag='"v1"'))
    first = requests.get(url, timeout=5)
    assert first.status_code == 200 and first.headers["ETag"] == '"v1"'
    again = requests.get(url, headers={"If-None-Match": first.headers["ETag"]}, timeout=5)
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == '"v1"'
    for header in ('"v0", "v1"', 'W/"v1"', "*", '"x,y" , W/"v1"'):
        assert requests.get(url, headers={"If-None-Match": header}, timeout=5).status_code == 304, header
    changed = requests.get(url, headers={"If-None-Match": '"v0"'}, timeout=5)
    assert changed.status_code == 200 and changed.content == FEED
    assert [r.headers.get("if-none-match") for r in server.requests_for("/feed")][:2] == [None, '"v1"']


def test_weak_etag_matches_weakly(server):
    url = server.route("/feed", static(FEED, etag='W/"abc"'))
    assert requests.get(url, timeout=5).headers["ETag"] == 'W/"abc"'
    assert requests.get(url, headers={"If-None-Match": '"abc"'}, timeout=5).status_code == 304
    assert requests.get(url, headers={"If-None-Match": '"abd"'}, timeout=5).status_code == 200


def test_last_modified_revalidation_gives_304(server):
    modified = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    url = server.route("/feed", static(FEED, last_modified=http_date(modified)))
    first = requests.get(url, timeout=5)
    assert first.headers["Last-Modified"] == "Wed, 01 May 2024 12:00:00 GMT"
    same = requests.get(url, headers={"If-Modified-Since": first.headers["Last-Modified"]}, timeout=5)
    assert same.status_code == 304 and same.content == b""
    later = requests.get(url, headers={"If-Modified-Since": "Thu, 02 May 2024 00:00:00 GMT"}, timeout=5)
    assert later.status_code == 304
    earlier = requests.get(url, headers={"If-Modified-Since": "Tue, 30 Apr 2024 00:00:00 GMT"}, timeout=5)
    assert earlier.status_code == 200 and earlier.content == FEED
    garbage = requests.get(url, headers={"If-Modified-Since": "not a date"}, timeout=5)
    assert garbage.status_code == 200


def test_if_none_match_takes_precedence_over_if_modified_since(server):
    url = server.route("/feed", static(FEED, etag='"v2"', last_modified="Wed, 01 May 2024 12:00:00 GMT"))
    fresh_date = "Wed, 01 May 2024 12:00:00 GMT"
    stale_tag = requests.get(url, headers={"If-None-Match": '"v1"', "If-Modified-Since": fresh_date}, timeout=5)
    assert stale_tag.status_code == 200  # the date alone would have said 304
    both_fresh = requests.get(url, headers={"If-None-Match": '"v2"', "If-Modified-Since": fresh_date}, timeout=5)
    assert both_fresh.status_code == 304
    assert both_fresh.headers["ETag"] == '"v2"'


# compression ---------------------------------------------------------------------------------------------------


def test_gzip_only_when_accepted(server):
    server.route("/feed", static(FEED, gzip=True))
    conn = _conn(server)
    try:

        def fetch(accept: str | None) -> tuple[dict[str, str], bytes]:
            conn.request("GET", "/feed", headers={"Accept-Encoding": accept} if accept is not None else {})
            resp = conn.getresponse()
            return dict(resp.getheaders()), resp.read()

        headers, body = fetch("gzip, deflate")
        assert headers["Content-Encoding"] == "gzip"
        assert headers["Vary"] == "Accept-Encoding"
        assert int(headers["Content-Length"]) == len(body)
        assert gzip.decompress(body) == FEED
        for accept in ("identity", "gzip;q=0, deflate", "br", None):
            headers, body = fetch(accept)
            assert "Content-Encoding" not in headers, accept
            assert body == FEED
        assert fetch("*")[0]["Content-Encoding"] == "gzip"
    finally:
        conn.close()
    assert requests.get(server.url("/feed"), timeout=5).content == FEED  # requests asks for gzip and inflates it


def test_gzip_bomb_is_small_and_exact():
    bomb = gzip_bomb(10 * 1024 * 1024)
    assert len(bomb) < 50 * 1024
    assert len(gzip.decompress(bomb)) == 10 * 1024 * 1024
    xmlish = gzip_bomb(2_500_001, fill=b"<item><title>x</title></item>\n", prefix=b"<rss><channel>")
    inflated = gzip.decompress(xmlish)
    assert len(inflated) == 2_500_001 and inflated.startswith(b"<rss><channel><item>")
    assert gzip.decompress(gzip_bomb(0)) == b""


def test_gzip_bomb_served_as_content_encoding(server):
    url = server.route("/bomb", Response(body=gzip_bomb(5_000_000), headers={"Content-Encoding": "gzip"}))
    resp = requests.get(url, stream=True, timeout=5)
    read = 0
    for chunk in resp.iter_content(65536):
        read += len(chunk)
        if read > 1_000_000:  # what a fetcher with a size cap does
            break
    resp.close()
    assert read > 1_000_000
    assert requests.get(server.url("/bomb"), timeout=5).status_code == 200  # server unharmed


# scripted behaviour --------------------------------------------------------------------------------------------


def test_sequence_500_then_200(server):
    url = server.route("/flaky", sequence(Response(500, body=b"oops"), static(FEED)))
    assert [requests.get(url, timeout=5).status_code for _ in range(3)] == [500, 200, 200]


def test_mutable_swaps_content(server):
    feed = mutable(static(rss([entry(1)])))
    url = server.route("/feed", feed)
    assert len(feedparser.parse(requests.get(url, timeout=5).content).entries) == 1
    feed.set(static(rss([entry(1), entry(2), entry(3)])))
    assert len(feedparser.parse(requests.get(url, timeout=5).content).entries) == 3


def test_redirect_chain(server):
    server.route("/old", redirect(server.url("/middle")))
    server.route("/middle", redirect("/new", status=302))
    server.route("/new", static(FEED))
    got = requests.get(server.url("/old"), timeout=5)
    assert got.status_code == 200 and got.content == FEED and got.url == server.url("/new")
    assert [r.status_code for r in got.history] == [301, 302]
    assert got.history[1].headers["Location"] == "/new"  # relative, as given
    with urllib.request.urlopen(server.url("/old"), timeout=5) as resp:
        assert resp.read() == FEED


def test_redirect_loop_is_too_many_redirects(server):
    server.route("/ping", redirect("/pong"))
    server.route("/pong", redirect("/ping"))
    session = requests.Session()
    session.max_redirects = 5
    with pytest.raises(requests.TooManyRedirects):
        session.get(server.url("/ping"), timeout=5)
    assert len(server.requests) == 6


@pytest.mark.slow
def test_slow_body_trickles(server):
    body = b"x" * 50
    url = server.route("/slow", Response(body=body, chunk_size=10, chunk_delay=0.12))
    start = time.monotonic()
    with urllib.request.urlopen(url, timeout=5) as resp:
        arrivals = []
        for _ in range(5):
            assert resp.read(10) == b"x" * 10
            arrivals.append(time.monotonic() - start)
    assert arrivals[0] < 0.1  # first chunk immediately, not after the whole body
    assert arrivals[-1] >= 0.45  # four pauses between five chunks
    assert all(b - a >= 0.08 for a, b in zip(arrivals, arrivals[1:], strict=False))


@pytest.mark.slow
def test_delay_before_status_line(server):
    url = server.route("/late", Response(body=b"ok", delay=0.3))
    start = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(url, timeout=(1, 0.1))
    assert requests.get(url, timeout=5).content == b"ok"
    assert time.monotonic() - start >= 0.3


def test_truncated_body_is_an_error_for_clients(server):
    url = server.route("/cut", Response(body=b"<rss>half", declared_length=1000))
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        requests.get(url, timeout=5)
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.headers["Content-Length"] == "1000"
        with pytest.raises(http.client.IncompleteRead) as info:
            resp.read()
    assert info.value.partial == b"<rss>half"
    assert requests.get(server.url("/missing"), timeout=5).status_code == 404  # server still fine


def test_body_without_length_is_delimited_by_close(server):
    url = server.route("/eof", Response(body=b"until the end", headers={"Content-Length": None}))
    conn = _conn(server)
    try:
        conn.request("GET", "/eof")
        resp = conn.getresponse()
        assert resp.getheader("Content-Length") is None
        assert resp.read() == b"until the end"
    finally:
        conn.close()
    assert requests.get(url, timeout=5).content == b"until the end"


def test_close_flag_closes_connection(server):
    server.route("/bye", Response(body=b"bye", close=True))
    conn = _conn(server)
    try:
        conn.request("GET", "/bye")
        resp = conn.getresponse()
        assert resp.getheader("Connection") == "close" and resp.will_close
        assert resp.read() == b"bye"
    finally:
        conn.close()


def test_raw_garbage_without_status_line(server):
    def garbage(request: Request, wfile) -> None:
        wfile.write(b"\x00\xffthis is not http\r\n\r\n")

    url = server.route("/garbage", raw(garbage))
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, timeout=5)
    assert requests.get(server.url("/missing"), timeout=5).status_code == 404


# robustness ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_client_disconnecting_early_is_silent(server, capfd):
    server.route("/big", Response(body=b"y" * 2_000_000, chunk_size=1000, chunk_delay=0.002))
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 200")
        # closed mid-body, like a fetcher hitting its size cap
    with socket.create_connection(("127.0.0.1", server.port), timeout=5):
        pass  # and one that connects and says nothing at all
    time.sleep(0.2)  # let the handlers run into the broken pipes
    assert requests.get(server.url("/missing"), timeout=5).status_code == 404
    assert server.errors == []
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.slow
def test_concurrent_requests_are_served_in_parallel(server):
    url = server.route("/slow", Response(body=b"done", delay=0.5))
    results: list[bytes] = []

    def fetch() -> None:
        results.append(requests.get(url, timeout=5).content)

    start = time.monotonic()
    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - start < 0.9
    assert results == [b"done", b"done"]


def test_shutdown_releases_port_even_with_open_connections():
    with FeedServer() as server:
        port = server.port
        server.route("/feed", static(FEED))
        server.route("/stuck", Response(body=b"late", delay=30))
        idle = _conn(server)
        idle.request("GET", "/feed")
        idle.getresponse().read()  # keep-alive connection left open on purpose
        stuck = threading.Thread(target=lambda: _swallow(requests.get, server.url("/stuck"), timeout=10))
        stuck.start()
        time.sleep(0.1)
        start = time.monotonic()
    assert time.monotonic() - start < 3  # neither the idle connection nor the 30 s delay held it up
    stuck.join(timeout=5)
    idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


def _swallow(fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except requests.RequestException:
        pass


# content builders ----------------------------------------------------------------------------------------------


def test_rss_parses_with_feedparser(server):
    items = [entry(n) for n in range(1, 6)]
    items[0] = {**items[0], "title": 'Tom & Jerry <live> "quoted"', "description": "<p>Bold &amp; brave</p>"}
    url = server.route("/feed", static(rss(items, title="My feed")))
    parsed = feedparser.parse(requests.get(url, timeout=5).content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    assert parsed.feed.title == "My feed"
    assert [e.title for e in parsed.entries] == [i["title"] for i in items]
    first = parsed.entries[1]
    assert first.link == items[1]["link"] and first.id == items[1]["guid"]
    assert first.published_parsed[:4] == (2024, 1, 1, 2)
    assert first.author == items[1]["author"]
    assert [t.term for t in first.tags] == items[1]["categories"]


def test_rss_in_legacy_encodings_keeps_non_ascii_titles():
    titles = ["Café à Zürich", "Größe: 5 €", "Ça coûte 3 £ — ñandú"]
    items = [{**entry(n), "title": t} for n, t in enumerate(titles)]
    for encoding in ("cp1252", "iso-8859-1"):
        data = rss(items, encoding=encoding)
        assert data.startswith(f'<?xml version="1.0" encoding="{encoding}"?>'.encode())
        assert "Café".encode(encoding) in data  # really in that encoding, not UTF-8
        parsed = feedparser.parse(data)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert [e.title for e in parsed.entries] == titles, encoding
    assert rss(items, xml_declaration=False).startswith(b"<rss")


def test_atom_parses_with_feedparser():
    items = [entry(n, prefix="atom") for n in range(3)] + [{"title": "Über — ελληνικά", "guid": "urn:x:1"}]
    parsed = feedparser.parse(atom(items, title="Atom feed"))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Atom feed"
    assert [e.title for e in parsed.entries] == [i["title"] for i in items]
    first = parsed.entries[0]
    assert first.id == items[0]["guid"] and first.link == items[0]["link"]
    assert first.author == items[0]["author"]
    assert first.summary == items[0]["description"]
    assert first.updated_parsed[:4] == (2024, 1, 1, 0)
    assert parsed.entries[3].id == "urn:x:1"


def test_entries_are_distinct():
    many = [entry(n) for n in range(200)]
    assert len({e["guid"] for e in many}) == len({e["title"] for e in many}) == 200
    assert len({e["description"] for e in many}) == 200
    assert entry(7) == entry(7)
    assert entry(7, prefix="other")["link"] == "http://news.example/other/7"


def test_opml_parses_with_lxml_and_nests():
    urls = [f"http://127.0.0.1:1/feed/{i}?a=1&b=2" for i in range(7)]
    root = etree.fromstring(opml(urls, title="Mine"))
    assert root.get("version") == "2.0"
    assert root.findtext("head/title") == "Mine"
    feeds = root.findall(".//outline[@xmlUrl]")
    assert sorted(o.get("xmlUrl") for o in feeds) == sorted(urls)
    assert all(o.get("type") == "rss" for o in feeds)
    depths = {len(list(o.iterancestors("outline"))) for o in feeds}
    assert depths == {0, 1, 2}


def test_http_date_is_imf_fixdate():
    assert http_date(datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert http_date(datetime(1994, 11, 6, 8, 49, 37)) == "Sun, 06 Nov 1994 08:49:37 GMT"

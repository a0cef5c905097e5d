"""Article pages for the full-text tests, and servers on loopback addresses to serve them.

Full text means fetching the page each feed entry links to, so the tests
need what real sites serve: article pages wrapped in navigation, share bars,
newsletter boxes, comments and captions; JSON-LD with dates and authors; a
paywall, a consent wall; robots.txt; PDFs at article links; pages too big or
too slow to take. The pages under ``tests/fixtures/fulltext/`` are written
for these tests (never copied from the corpora); this module loads them,
builds more (``article_html``: any number of distinct articles, for budgets,
streams and benchmarks) and serves them with ``feedserver``'s machinery.

Two things ``FeedServer`` cannot do are added here without changing it:

* ``PageServer(address=...)`` binds another loopback address (127.0.0.2 …):
  politeness, budgets and robots.txt are per *host* name, and a port is not
  a host, so two hosts need two addresses (or ``localhost`` beside
  ``127.0.0.1``);
* a listen backlog of 128 instead of the stdlib's 5, so 16 fetch threads
  connecting at once are not dropped and retried a second later.

Responders: ``html`` (a page), ``robots`` (a robots.txt), ``pdf``,
``huge`` (a page of any size streamed from one repeated block, with or
without a Content-Length; it records how much it sent before the client
hung up), ``slow`` and ``with_latency``.
"""

from __future__ import annotations

import html as _html
import json
import random
import threading
from io import BufferedIOBase
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import feedserver
from feedserver import FeedServer, RawResponse, Request, Responder, Response, static

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fulltext"
HTML_TYPE = "text/html; charset=utf-8"


def fixture(name: str) -> str:
    """The text of ``tests/fixtures/fulltext/<name>``."""
    return (FIXTURES / name).read_text(encoding="utf-8")


def expected_paragraphs(name: str) -> list[str]:
    """The article paragraphs a page fixture holds (``<page>.expected.txt``), in order."""
    return [p.strip() for p in fixture(f"{name}.expected.txt").strip().split("\n\n")]


# servers -------------------------------------------------------------------------------------------------------


class _LoopbackServer(feedserver._Server):
    """``feedserver``'s server bound to a chosen loopback address, with a listen backlog for many threads."""

    request_queue_size = 128

    def __init__(self, owner: FeedServer, address: str):
        self.bind_address = address
        super().__init__(owner)

    def server_bind(self) -> None:
        self.server_address = (self.bind_address, 0)
        super().server_bind()


class PageServer(FeedServer):
    """A ``FeedServer`` on any loopback address (127.0.0.0/8 only: never a routable interface)."""

    def __init__(self, address: str = feedserver.HOST, routes: Optional[dict[str, Any]] = None):
        if not address.startswith("127."):
            raise ValueError(f"{address} is not a loopback address")
        self.address = address
        super().__init__(routes)

    def start(self) -> PageServer:
        if self._server is not None:
            raise RuntimeError("PageServer already started")
        self._server = _LoopbackServer(self, self.address)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="PageServer", daemon=True
        )
        self._thread.start()
        return self

    def __enter__(self) -> PageServer:
        return self.start()

    @property
    def base(self) -> str:
        return f"http://{self.address}:{self.port}"

    def paths(self) -> list[str]:
        """Every path requested so far, in order, without query strings."""
        return [r.path.split("?", 1)[0] for r in self.requests]


# responders ----------------------------------------------------------------------------------------------------


def html(page: str | bytes, headers: Optional[dict[str, Any]] = None) -> Responder:
    """A web page, served as ``text/html; charset=utf-8``."""
    return static(page, content_type=HTML_TYPE, headers=headers)


def robots(text: str, status: int = 200) -> Response:
    """A robots.txt (or an error status in its place)."""
    return Response(status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode("utf-8"))


def pdf(content_type: str = "application/pdf") -> Responder:
    """A small but real PDF document, optionally with a lying Content-Type."""
    body = (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )
    return static(body, content_type=content_type)


def slow(page: str | bytes, delay: float) -> Response:
    """A page whose response starts only after ``delay`` seconds (the server wakes early when stopped)."""
    body = page.encode("utf-8") if isinstance(page, str) else page
    return Response(200, {"Content-Type": HTML_TYPE}, body, delay=delay)


def with_latency(responder: Responder, seconds: float) -> Responder:
    """``responder`` answering ``seconds`` later: a network round trip on loopback."""

    def respond(request: Request) -> Any:
        answer = responder(request)
        if isinstance(answer, Response):
            answer.delay = seconds
        return answer

    return respond


class Huge:
    """A page of ``size`` bytes streamed from one repeated block (never held whole), over a connection it closes.

    ``declare_length``: send a Content-Length (a client may refuse at the
    header) or none (the body ends when the connection does: only reading it
    tells its size). ``sent`` is how many body bytes left the server before
    the client hung up or the page ended.
    """

    BLOCK = (b"<p>" + b"filler words for a page far too big to be an article " * 20 + b"</p>\n") * 60

    def __init__(self, size: int, declare_length: bool = True):
        self.size = size
        self.declare_length = declare_length
        self._lock = threading.Lock()
        self.sent = 0
        self.requests = 0

    def __call__(self, request: Request) -> RawResponse:
        return RawResponse(self._write)

    def _write(self, request: Request, wfile: BufferedIOBase) -> None:
        with self._lock:
            self.requests += 1
        head = [b"HTTP/1.1 200 OK", b"Content-Type: text/html; charset=utf-8", b"Connection: close"]
        if self.declare_length:
            head.append(b"Content-Length: %d" % self.size)
        wfile.write(b"\r\n".join(head) + b"\r\n\r\n")
        opening = b"<!DOCTYPE html><html><head><title>Huge</title></head><body>\n"
        wfile.write(opening)
        self._count(len(opening))
        remaining = self.size - len(opening)
        while remaining > 0:
            chunk = self.BLOCK[: min(len(self.BLOCK), remaining)]
            wfile.write(chunk)  # a client that hung up raises BrokenPipe/ConnectionReset here: the server stops
            self._count(len(chunk))
            remaining -= len(chunk)

    def _count(self, n: int) -> None:
        with self._lock:
            self.sent += n


def huge(size: int, declare_length: bool = True) -> Huge:
    return Huge(size, declare_length)


# building pages ------------------------------------------------------------------------------------------------

_PLACES = ["the harbour", "the old mill", "the county library", "the river bend", "the market square", "the ridge"]
_SUBJECTS = [
    "The regional water board",
    "A group of volunteer gardeners",
    "The municipal orchestra",
    "Two primary schools",
    "The cycling club",
    "A family bakery",
    "The mountain rescue team",
    "The coastal path trust",
]
_ACTIONS = [
    "opened a workshop for repairing bicycles",
    "finished planting a hedge of hawthorn and hazel",
    "started a series of evening concerts",
    "asked residents for ideas about a new playground",
    "published figures about the winter floods",
    "won a grant for solar panels on its roof",
    "restored a footbridge washed away in the storms",
    "counted more otters than in any year before",
]
_SENTENCES = [
    "Organisers said the response had been far greater than they had hoped.",
    "Several neighbours offered to help with the work on weekends.",
    "A second phase is planned for the autumn if the money can be found.",
    "The council has promised to publish a full report before the summer.",
    "Local businesses donated materials, tools and refreshments.",
    "Some residents raised concerns about parking during the busiest weeks.",
    "Volunteers will meet again next month to agree on the next steps.",
    "The idea first came up at a public meeting two years ago.",
    "Visitors from neighbouring villages are expected to join in as well.",
    "Officials described the project as a model for other towns in the region.",
    "The weather held for most of the day, which helped the crews finish early.",
    "Children from the nearby school painted signs for the opening.",
]


def story(n: int, prefix: str = "story", paragraphs: int = 5) -> dict[str, Any]:
    """A distinct article (its own words for every ``n``): title, teaser and paragraphs. Deterministic."""
    rng = random.Random(f"{prefix}:{n}")
    subject, action, place = rng.choice(_SUBJECTS), rng.choice(_ACTIONS), rng.choice(_PLACES)
    number = feedserver._spell(n)
    title = f"{subject} {action} near {place} (story {number} of the {prefix} series)"
    body = [f"{subject} {action} near {place}, in what organisers called story {number} of the {prefix} series."]
    for _ in range(paragraphs - 1):
        body.append(" ".join(rng.sample(_SENTENCES, 3)))
    teaser = f"{subject} {action} near {place}. Story {number} of the {prefix} series."
    return {"title": title, "teaser": teaser, "paragraphs": body}


def article_html(
    title: str,
    paragraphs: Sequence[str],
    published: Optional[str] = None,
    authors: Iterable[str] = (),
    site_name: str = "The Loopback Gazette",
    image: Optional[str] = None,
) -> str:
    """An article page with the usual chrome (navigation, share bar, newsletter box, related links, comments).

    ``published`` and ``authors`` go into JSON-LD only, as many CMSs write
    them; the visible page carries neither.
    """
    escape = _html.escape
    ld: dict[str, Any] = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": title}
    if published:
        ld["datePublished"] = published
    names = list(authors)
    if names:
        ld["author"] = [{"@type": "Person", "name": name} for name in names]
    ld["publisher"] = {"@type": "Organization", "name": site_name}
    if image:
        ld["image"] = image
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    middle = len(paragraphs) // 2
    first, rest = body.split("\n")[:middle], body.split("\n")[middle:]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)} | {escape(site_name)}</title>
<meta property="og:site_name" content="{escape(site_name)}">
{f'<meta property="og:image" content="{escape(image)}">' if image else ""}
<script type="application/ld+json">{json.dumps(ld)}</script></head>
<body><header><nav><a href="/">Home</a> <a href="/news/">News</a> <a href="/sport/">Sport</a> <a href="/culture/">Culture</a> <a href="/subscribe">Subscribe</a></nav></header>
<main><article><h1>{escape(title)}</h1>
<div class="share"><a href="#">Share on Facebook</a> <a href="#">Share on X</a> <a href="#">Email this story</a></div>
<div class="article-body">
{chr(10).join(first)}
<aside class="newsletter"><h3>Sign up for our newsletter</h3><p>The day's news in your inbox every morning.</p><form><input name="email"><button>Sign up</button></form></aside>
{chr(10).join(rest)}
</div>
<div class="related"><h3>Read more</h3><ul><li><a href="/a/1">Another story from the same town</a></li><li><a href="/a/2">The week in pictures</a></li></ul></div>
</article>
<section class="comments"><h2>3 comments</h2><div class="comment"><p>First! Great to read some good news for once.</p></div></section>
</main><footer><a href="/privacy">Privacy</a> <a href="/terms">Terms</a> © {escape(site_name)}</footer></body></html>
"""


__all__ = [
    "FIXTURES",
    "HTML_TYPE",
    "Huge",
    "PageServer",
    "article_html",
    "expected_paragraphs",
    "fixture",
    "html",
    "huge",
    "pdf",
    "robots",
    "slow",
    "story",
    "with_latency",
]

"""Full article text: each new feed entry's page fetched, its article extracted, the better text kept.

A feed carries a headline and a teaser (a median of 19 words on the real
feeds of ``../shared/corpora/news_feeds``); the article is behind the link.
``FetchPages`` runs after dedup (``pipeline/steps.py``), so a re-run or a
later poll never fetches a page twice, and before entities, which then see
the whole article.

For every article that has an http(s) link and came from a feed:

1. **Budget.** A run fetches at most ``--max-pages`` pages and at most
   ``--max-pages-per-host`` from one host; when the pages wanted exceed the
   run's budget, it is shared out evenly between hosts (``allocate``), so
   one huge feed cannot starve the others. Within a host the newest
   articles come first. An article over budget keeps its feed text
   (``page_error = budget``).
2. **Fetch** (``transforms.fetch.pages.fetch_page``): robots.txt first, the
   same client, limits, host gates and slots as feed fetches (the run's
   one ``FetchContext``), hosts side by side on ``--fetch-threads``.
3. **Extract** (``transforms.extract.read_page``): one parse for the main
   text and the page's metadata.
4. **Choose** (``choose_text``): the page's text replaces the feed's only
   when it is the article — not a consent or subscription prompt
   (``wall_kind``), not much shorter than the teaser, not another page
   (a home page a dead link redirects to), and not shorter than a feed
   that already carries the whole article.
5. **Merge** (``with_page``): the chosen text is repaired like every text
   (ftfy, language, lost bytes, normalisation); the page fills what the
   feed lacks (date, authors) and adds what only it has (image, site name,
   description, canonical URL); ``page_url``/``page_status``/``page_error``
   say what happened. ``article_id`` never changes: it is the feed link's.

**Archived pages.** A page newsbeam archived (``--warc-out``) and a later
batch run reads back stands in for its fetch: the entry whose link it was
fetched for gets it through steps 3-5 as if just fetched (``archived_fetch``
gives it the verdict a live fetch would), so re-reading an archive writes
the fetching run's articles. An entry read from an archived feed never has
its page fetched: without an archived page it keeps the feed's text
(``page_error = not_archived``). Budgets count live fetches only.

A page that cannot be had is never a lost article: the article is written
with the feed's text and the reason in ``page_error``; there is no dead
letter from this step. In a stream (an unbounded input) the same work runs
per bundle of new articles (about one poll's), and the budgets apply to
each bundle.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Optional, Sequence
from urllib.parse import urlsplit

import apache_beam as beam
import numpy as np
import requests
from apache_beam.utils.shared import Shared
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from schemas import ArchivedPage, Article, EncodingInfo, HttpExchange, RawArticle, Repair
from transforms.enrich import Languages, repair_article
from transforms.errors import DEAD_LETTER, counter
from transforms.extract import Page, read_page
from transforms.fetch.client import EXCHANGES, make_session
from transforms.fetch.hosts import FetchContext, HostGate, SharedFetchContext, fetch_all, host_of
from transforms.fetch.pages import PageFetch, archived_fetch, fetch_page
from transforms.fetch.policy import FetchPolicy
from transforms.identify import content_hash
from transforms.metadata import (
    extract_byline,
    parse_date,
    parse_dateline,
    split_authors,
    word_count,
)
from transforms.text import charset_of, decode_bytes

_LOG = logging.getLogger("newsbeam")

#: Pages a run fetches at most (``--max-pages``; 0: no limit).
MAX_PAGES = 10_000
#: Pages a run fetches at most from one host (``--max-pages-per-host``; 0: no limit). At the default
#: one request a second per host, 500 pages are about eight minutes of one host's time.
MAX_PAGES_PER_HOST = 500

#: Every value of ``page_error`` and what it means (the README lists them).
PAGE_ERRORS: Mapping[str, str] = {
    "robots": "robots.txt disallows the page for newsbeam",
    "robots_unreachable": "the site's robots.txt could not be fetched (5xx or no answer): nothing is fetched",
    "budget": "over the run's page budget (--max-pages)",
    "host_budget": "over the page budget of its host (--max-pages-per-host)",
    "blocked_address": "the link or a redirect leads to a non-public address",
    "http_<status>": "the server answered with that status (http_404, http_410, http_503, …)",
    "timeout": "no complete answer in time (--read-timeout, --fetch-deadline)",
    "too_large": "the page is over --max-response-mb (on the wire) or --max-file-mb (decoded)",
    "truncated": "the body ended before its Content-Length",
    "too_many_redirects": "more redirects than --max-redirects",
    "connection": "the connection failed (DNS, refused, reset)",
    "reserved_name": "the link is on a special-use name that never resolves (.example, .invalid, .test): not looked up",
    "empty": "the server sent an empty body",
    "undecodable": "a Content-Encoding that could not be undone",
    "not_html": "the link gives something else than a web page (a PDF, an image, a download)",
    "not_modified": "the server answered 304 to a request without validators",
    "extraction_empty": "no article text could be extracted from the page",
    "paywall": "the page's text is a subscription prompt (or marked not free and no longer than the teaser)",
    "consent": "the page's text is a cookie or consent prompt",
    "shorter_than_feed": "the page's text is much shorter than the feed's own text",
    "mismatch": "the page is not the entry's article (neither its title nor its teaser is in it)",
    "extraction_failed": "extracting the page failed unexpectedly (logged); the feed's text is kept",
    "cancelled": "a stream was stopped while the page was being fetched",
    "not_archived": "the entry was read from a newsbeam web archive that holds no fetch of its page (nothing is fetched)",
    "fetch_failed": "the fetch failed in a way none of the above names (logged)",
}
#: The ``page_error``s of a page that was fetched (its HTML arrived) but whose text was not taken.
NOT_TAKEN = frozenset({"paywall", "consent", "shorter_than_feed", "mismatch", "extraction_empty", "extraction_failed"})
#: Those of a link never requested for lack of budget.
OVER_BUDGET = frozenset({"budget", "host_budget"})


class PageSettings(NamedTuple):
    """How a run gets full text from pages; built from the options (``--full-text`` …)."""

    enabled: bool = True
    respect_robots: bool = True
    max_pages: int = MAX_PAGES
    max_pages_per_host: int = MAX_PAGES_PER_HOST
    #: Groups of hosts fetched in one worker (``--fetch-shards``, as for feeds).
    shards: int = 1
    uncurl_quotes: bool = False


PAGE_DEFAULTS = PageSettings()


# --------------------------------------------------------------------------
# Budgets
# --------------------------------------------------------------------------


def page_link(article: Article) -> Optional[str]:
    """The page to fetch for ``article``: its http(s) link, for feed entries only."""
    if article.text_source != "feed" or not article.url:
        return None
    parts = urlsplit(article.url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return article.url


def page_tallies(article: Article) -> list[tuple[str, int]]:
    """The page counters one written article stands for, read back from its row (a stream's window reports).

    A stream's counts come from its data, not Beam metrics (the local
    streaming runner keeps only each step's first bundle), so the ``pages``
    section of its summary is rebuilt from these: the same names as the
    counters of ``FetchPages`` (``pages.bytes`` aside, which no row holds).
    """
    tallies = [(f"text_from.{article.text_source or 'file'}", 1)]
    error = article.page_error
    if error:
        tallies.append((f"page_error.{error}", 1))
    linked = article.text_source in ("feed", "page") and page_link(article._replace(text_source="feed")) is not None
    if not linked:
        return [*tallies, ("pages.no_link", 1)]
    if error in OVER_BUDGET:
        return tallies
    tallies.append(("pages.requested", 1))
    if error is None or error in NOT_TAKEN:
        tallies.append(("pages.fetched", 1))
    elif error in ("robots", "robots_unreachable"):
        tallies.append(("pages.robots_blocked", 1))
    elif error == "not_modified":
        tallies.append(("pages.not_modified", 1))
    elif error == "reserved_name" or (error == "blocked_address" and article.page_status is None):
        tallies.append(("pages.refused", 1))
    else:
        tallies.append(("pages.failed", 1))
    return tallies


def allocate(demand: Mapping[str, int], max_pages: int, per_host: int) -> dict[str, int]:
    """Pages each host may fetch: at most ``per_host``, and a fair share of ``max_pages`` (0: no limit).

    Max-min fairness (water-filling): hosts wanting less than an even share
    get all they want and what they leave is shared by the others, so one
    host with thousands of entries takes what is left over, never the
    budget of the small ones. Deterministic (ties by host name), so every
    worker computing it from the same demand gets the same answer.
    """
    wanted = {host: min(count, per_host) if per_host > 0 else count for host, count in demand.items()}
    if max_pages <= 0 or sum(wanted.values()) <= max_pages:
        return wanted
    granted: dict[str, int] = {}
    remaining = max_pages
    hosts = sorted(wanted, key=lambda h: (wanted[h], h))
    for index, host in enumerate(hosts):
        share = remaining // (len(hosts) - index)
        granted[host] = min(wanted[host], share)
        remaining -= granted[host]
    # What integer division left over goes one page each to the hosts still wanting more.
    for host in sorted(wanted):
        if remaining <= 0:
            break
        if granted[host] < wanted[host]:
            granted[host] += 1
            remaining -= 1
    return granted


def newest_first(article: Article) -> tuple[Any, ...]:
    """Order within a host under a budget: the newest articles first, undated last, then by id."""
    published = article.published_at.micros if article.published_at is not None else None
    return (published is None, -(published or 0), article.article_id)


def shard_of_link(url: str, shards: int) -> int:
    """Stable shard of a link's host: one host's pages meet in one worker, so its limits hold."""
    digest = hashlib.blake2b(host_of(url).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % max(1, shards)


# --------------------------------------------------------------------------
# Choosing between the page's text and the feed's
# --------------------------------------------------------------------------

_WORD = re.compile(r"\w+")

#: Phrases of cookie/consent walls, in the languages of the corpora (lower case, matched as regexes).
CONSENT_PATTERNS = (
    r"\bcookies?\b.{0,120}\b(accept|agree|consent|settings|preferences|partners)",
    r"\b(accept|agree to|allow) (all|the use of) cookies",
    r"\bwe (and our (partners|vendors)|value your privacy)",
    r"\byour privacy choices\b",
    r"\bmanage (my )?(cookie|privacy|consent) (settings|preferences|choices)",
    r"\b(alle )?(cookies )?akzeptieren\b|\bdatenschutzeinstellungen\b|\bzustimmen\b.{0,80}\bcookies",
    r"\baccepter (tous les|les) cookies|\bparamétrer les cookies|\bvos choix en matière de cookies",
    r"\baceptar (todas las )?cookies|\bconfiguración de cookies",
    r"\baccetta (tutti i )?cookie|\bimpostazioni dei cookie",
)
#: Phrases of subscription walls.
PAYWALL_PATTERNS = (
    r"\bsubscribe (now |today )?(to|for) (continue|keep) reading",
    r"\b(to|and) continue reading\b.{0,80}\b(subscribe|subscription|sign in|log in|register)",
    r"\b(already|are you) a (subscriber|member)\b",
    r"\bthis (article|story|content) is (only )?(available|exclusive|reserved) (to|for) (subscribers|members)",
    r"\bsubscribe\b.{0,60}\b(unlimited|full) access\b",
    r"\bsign in to (read|continue|keep reading)\b",
    r"\bcreate a free account to (read|continue)",
    r"\byou have (reached|read) your (limit|\d+ free articles)",
    r"\bjetzt (abonnieren|abo abschließen|weiterlesen mit)\b|\bmit (z\+|plus|abo) (lesen|weiterlesen)\b",
    r"\babonnez-vous\b|\bréservé aux abonnés\b|\bdéjà abonné\b",
    r"\bsuscríbete\b|\bcontenido exclusivo para suscriptores\b|\bya eres suscriptor\b",
    r"\babbonati\b|\briservato agli abbonati\b|\bsei già abbonato\b",
)
_CONSENT = [re.compile(p, re.I | re.S) for p in CONSENT_PATTERNS]
_PAYWALL = [re.compile(p, re.I | re.S) for p in PAYWALL_PATTERNS]
#: A wall is short: a page of real article text that mentions cookies in its footer is not one.
WALL_MAX_WORDS = 250
#: The page's text replaces the feed's unless it has fewer than this share of the feed's words.
SHORTER_THAN_FEED = 0.5
#: A feed text this long, and at least this share of the page's words, is already the article.
FEED_COMPLETE_WORDS = 150
FEED_COMPLETE_SHARE = 0.8
#: Share of the title's / teaser's distinct words the page must hold to be the entry's article.
MATCH_SHARE = 0.35


def words(text: Optional[str]) -> list[str]:
    return _WORD.findall((text or "").casefold())


def wall_kind(text: str, accessible_for_free: Optional[bool], teaser_words: int) -> Optional[str]:
    """``consent`` or ``paywall`` when the extracted text is such a prompt rather than an article; else None.

    A prompt is short: the text must be under ``WALL_MAX_WORDS`` words for a
    phrase to count, so an article that mentions subscribing in its last line
    keeps its text. A page its own markup declares not free
    (``isAccessibleForFree: false``) is a paywall when its text is no longer
    than the teaser's.
    """
    count = len(words(text))
    if count <= WALL_MAX_WORDS:
        if any(p.search(text) for p in _CONSENT):
            return "consent"
        if any(p.search(text) for p in _PAYWALL):
            return "paywall"
    if accessible_for_free is False and count <= max(teaser_words, 1) * 1.5:
        return "paywall"
    return None


def _share_in(needles: Sequence[str], haystack: set[str]) -> Optional[float]:
    """Share of the distinct words of ``needles`` found in ``haystack``; None when there is too little to judge.

    Content words (over three letters, or any non-ASCII word) are what two
    wordings of one story share; a short title ("Heulage: Besser als ihr
    Ruf?") has too few, and is then judged on all its words.
    """
    distinct = set(needles)
    content = {w for w in distinct if len(w) > 3 or not w.isascii()}
    if len(content) < 3:
        content = distinct if len(distinct) >= 2 else set()
    if not content:
        return None
    return sum(1 for w in content if w in haystack) / len(content)


class Choice(NamedTuple):
    """Which text an article keeps: the page's (``use_page``) or the feed's, and why (``error``/``rule``)."""

    use_page: bool
    error: Optional[str]
    rule: str


def choose_text(
    feed_text: str,
    teaser: Optional[str],
    title: Optional[str],
    page_text: str,
    page_title: Optional[str] = None,
    accessible_for_free: Optional[bool] = None,
    page_description: Optional[str] = None,
) -> Choice:
    """The page's text replaces the feed's when it is the article and the fuller text; rules in order.

    Each rule is measured in ``bench/choose_text_bench.py`` and ``bench/fulltext_bench.py``: a page must not be
    empty, a consent or subscription prompt, much shorter than what the feed
    already has, or another page than the entry's (neither the title nor the
    teaser found in it); and when the feed's own text is long and about as
    long as the page's, the feed already carries the article and is kept.
    """
    page_words = words(page_text)
    if not page_words:
        return Choice(False, "extraction_empty", "empty")
    feed_words = words(feed_text)
    teaser_words = words(teaser) if teaser else feed_words
    wall = wall_kind(page_text, accessible_for_free, len(teaser_words))
    if wall is not None:
        return Choice(False, wall, wall)
    if len(page_words) < SHORTER_THAN_FEED * len(feed_words):
        return Choice(False, "shorter_than_feed", "shorter")
    # The page's own title and description count: a teaser is often the page's og:description.
    vocabulary = set(page_words) | set(words(page_title)) | set(words(page_description))
    title_share = _share_in(words(title), vocabulary)
    teaser_share = _share_in(teaser_words[:80], vocabulary)
    shares = [s for s in (title_share, teaser_share) if s is not None]
    if shares and max(shares) < MATCH_SHARE:
        return Choice(False, "mismatch", "mismatch")
    if len(feed_words) >= FEED_COMPLETE_WORDS and len(feed_words) >= FEED_COMPLETE_SHARE * len(page_words):
        return Choice(False, None, "feed_complete")
    return Choice(True, None, "page")


# --------------------------------------------------------------------------
# Merging a page into its article
# --------------------------------------------------------------------------


def _repairs(*lists: Iterable[Repair], extra: Optional[Counter[str]] = None) -> list[Repair]:
    total: Counter[str] = Counter()
    for repairs in lists:
        for repair in repairs:
            total[repair.kind] += int(repair.count)
    if extra:
        total.update(extra)
    return [Repair(kind, np.int32(count)) for kind, count in sorted(total.items())]


class PageText(NamedTuple):
    """A page's extracted text, repaired, and how its bytes were decoded."""

    text: str
    language: Optional[str]
    encoding: EncodingInfo
    repairs: Counter[str]


def repaired_page_text(
    body: str, encoding: EncodingInfo, detect: Callable[[str], Optional[str]], uncurl_quotes: bool, source: str
) -> Optional[PageText]:
    """The page's text through the same repair as every text (``enrich.repair_article``); None if nothing is left."""
    raw = RawArticle(
        source_type="http",
        source=source,
        feed_url=None,
        feed_link=None,
        url=None,
        guid=None,
        title=None,
        subtitle=None,
        body=body,
        body_is_html=False,
        authors=[],
        published_raw=None,
        categories=[],
        encoding=encoding,
        language=None,
        raw="",
    )
    try:
        repaired, found = repair_article(raw, detect, uncurl_quotes)
    except ValueError:  # EmptyArticle: no visible text once repaired
        return None
    return PageText(repaired.body, repaired.language, repaired.encoding, found)


def with_page(
    article: Article,
    fetched: PageFetch,
    page: Optional[Page],
    text: Optional[PageText],
    choice: Optional[Choice],
) -> Article:
    """``article`` with what its page gave: the text when chosen, metadata where the feed has none, and the outcome."""
    error = fetched.error if fetched.error is not None else (choice.error if choice is not None else None)
    updates: dict[str, Any] = {
        "page_url": fetched.final_url,
        "page_status": np.int32(fetched.status) if fetched.status is not None else None,
        "page_error": error,
    }
    if page is not None:
        meta = page.meta
        updates.update(
            image_url=meta.image_url or article.image_url,
            site_name=meta.site_name or article.site_name,
            description=meta.description or article.description,
            canonical_url=meta.canonical_url or article.canonical_url,
        )
        if not article.title and meta.title:
            updates["title"] = meta.title
        if not article.authors and meta.authors:
            updates["authors"] = split_authors(list(meta.authors))
        if article.published_at is None and meta.published_raw:
            published = parse_date(meta.published_raw)
            if published is not None:
                offset = published.offset_minutes
                updates.update(
                    published_at=Timestamp.from_utc_datetime(published.utc),
                    published_raw=meta.published_raw,
                    published_offset_minutes=np.int32(offset) if offset is not None else None,
                    published_source=f"page:{meta.published_source}" if meta.published_source else "page",
                )
    if choice is not None and choice.use_page and text is not None:
        byline, body = extract_byline(text.text)
        dateline, body = parse_dateline(body)
        updates.update(
            text=body,
            text_source="page",
            language=text.language or article.language,
            word_count=np.int32(word_count(body)),
            content_hash=content_hash(updates.get("title", article.title), body),
            dateline=dateline or article.dateline,
            encoding=text.encoding._replace(repairs=_repairs(article.encoding.repairs, text.encoding.repairs)),
        )
        if byline and not updates.get("authors") and not article.authors:
            updates["authors"] = split_authors(byline)
    return article._replace(**updates)


# --------------------------------------------------------------------------
# The work on one batch of articles (a host shard in batch, a bundle in a stream)
# --------------------------------------------------------------------------


class _Counts:
    """The step's counters: what a user wants to know about the pages of a run."""

    def __init__(self) -> None:
        self.requested = counter("pages.requested")
        self.fetched = counter("pages.fetched")
        self.not_modified = counter("pages.not_modified")
        self.robots_blocked = counter("pages.robots_blocked")
        self.robots_fetched = counter("pages.robots_fetched")
        self.failed = counter("pages.failed")
        self.refused = counter("pages.refused")
        self.bytes = counter("pages.bytes")
        self.no_link = counter("pages.no_link")
        self.archived = counter("pages.from_archive")
        self.unclaimed = counter("pages.archived_unclaimed")
        self.text_from = {source: counter(f"text_from.{source}") for source in ("page", "feed", "file")}

    def outcome(self, article: Article) -> None:
        self.text_from.get(article.text_source or "file", self.text_from["file"]).inc()
        if article.page_error:
            counter(f"page_error.{article.page_error}").inc()


class _Runtime:
    """One worker's session and language identifier for page work (made in ``setup``, never at import)."""

    def __init__(self, settings: PageSettings, policy: FetchPolicy, context: SharedFetchContext, languages: Shared):
        self.settings = settings
        self.policy = policy
        self.hosts: FetchContext = context.acquire()
        self.session: requests.Session = make_session(policy, self.hosts.watchdog)
        self.detect = languages.acquire(Languages).identifier.detect
        self.counts = _Counts()


def merge_page(article: Article, fetched: PageFetch, runtime: _Runtime) -> Article:
    """The article once its page's fetch is known: extracted, chosen, merged (a failure keeps the feed text)."""
    if fetched.body is None:
        return with_page(article, fetched, None, None, None)
    try:
        decoded = decode_bytes(fetched.body, charset_of(fetched.content_type))
        fetched_at = fetched.fetched_at or datetime.now(UTC)
        page = read_page(decoded.text, fetched.final_url or fetched.url, fetched_at)
        encoding = EncodingInfo(decoded.codec, decoded.path, decoded.declared, [])
        text = repaired_page_text(
            page.body.text, encoding, runtime.detect, runtime.settings.uncurl_quotes, fetched.final_url or fetched.url
        )
        choice = choose_text(
            article.text,
            article.summary,
            article.title,
            text.text if text is not None else "",
            page.meta.title,
            page.meta.accessible_for_free,
            page.meta.description,
        )
        return with_page(article, fetched, page, text, choice)
    except Exception as error:  # noqa: BLE001 - a page that breaks extraction never costs its article
        _LOG.warning("page %s of article %s: extraction failed: %r", fetched.url, article.article_id, error)
        return with_page(article, fetched._replace(error="extraction_failed"), None, None, None)


def over_budget(
    articles: Sequence[Article], allocation: Mapping[str, int], settings: PageSettings
) -> tuple[list[int], list[tuple[int, Article]]]:
    """Positions of the articles to fetch, and of those over budget with their ``page_error`` set.

    Every article here has a link. Within a host the newest come first; an
    article is over its host's budget (``host_budget``) when the host's cap
    alone refuses it, else over the run's (``budget``).
    """
    by_host: dict[str, list[int]] = {}
    for index, article in enumerate(articles):
        by_host.setdefault(host_of(page_link(article) or ""), []).append(index)
    chosen: list[int] = []
    skipped: list[tuple[int, Article]] = []
    host_cap = settings.max_pages_per_host
    for host in sorted(by_host):
        ranked = sorted(by_host[host], key=lambda i: newest_first(articles[i]))
        allowed = allocation.get(host, len(ranked))
        for rank, index in enumerate(ranked):
            if rank < allowed:
                chosen.append(index)
            else:
                reason = "host_budget" if host_cap > 0 and rank >= host_cap else "budget"
                skipped.append((index, articles[index]._replace(page_error=reason)))
    return chosen, skipped


def process_batch(
    articles: Sequence[Article], demand: Optional[Mapping[str, int]], runtime: _Runtime
) -> Iterator[tuple[int, Article, tuple[HttpExchange, ...]]]:
    """Every article of a batch, in the order its page work finishes, with its position in ``articles`` and its page's responses.

    Every article has a page link (``page_link``): ``FetchPages`` routes the
    others around this step (``_SplitByLink``). ``demand`` is the pages
    wanted per host over the whole run (batch: a side input, so every shard
    shares the run's budget the same way); None: this batch's own (a
    stream's bundle).
    """
    links = [page_link(article) for article in articles]
    if None in links:
        raise ValueError("process_batch takes articles with a page link only (FetchPages splits off the others)")
    counts = runtime.counts
    if demand is None:
        demand = Counter(host_of(link or "") for link in links)
    settings = runtime.settings
    allocation = allocate(demand, settings.max_pages, settings.max_pages_per_host)
    chosen, skipped = over_budget(articles, allocation, settings)
    for index, marked in skipped:
        counts.outcome(marked)
        yield index, marked, ()
    jobs = [(index, links[index] or "") for index in chosen]
    policy, hosts = runtime.policy, runtime.hosts

    def work(job: tuple[int, str], gate: HostGate) -> PageFetch:
        return fetch_page(runtime.session, job[1], policy, hosts, gate, settings.respect_robots)

    results = fetch_all(
        jobs,
        work,
        lambda job: host_of(job[1]),
        policy.threads,
        policy.per_host_concurrency,
        policy.per_host_delay,
        lambda host: hosts.gate(host, policy.per_host_delay),
    )
    for (index, link), result in results:
        article = articles[index]
        if isinstance(result, BaseException):
            result = PageFetch(link, error="connection", message=f"fetch crashed: {result!r}")
        counts.robots_fetched.inc(result.fetched_robots)
        counts.bytes.inc(result.wire_bytes)
        if result.error in ("robots", "robots_unreachable"):
            counts.robots_blocked.inc()
        elif result.attempts == 0:
            counts.refused.inc()  # refused before any request: a special-use name, a non-public address
        elif result.not_modified:
            counts.not_modified.inc()
        elif result.error is not None:
            counts.failed.inc()
        else:
            counts.fetched.inc()
        counts.requested.inc()  # = fetched + not_modified + robots_blocked + failed + refused
        merged = merge_page(article, result, runtime)
        counts.outcome(merged)
        yield index, merged, result.exchanges


class _PageDoFn(beam.DoFn):
    """What the batch and stream page DoFns share: the settings, and a worker's runtime made in ``setup``."""

    def __init__(self, settings: PageSettings, policy: FetchPolicy, context: SharedFetchContext, languages: Shared):
        self.settings = settings
        self.policy = policy
        self.context = context
        self.languages = languages
        self._runtime: Optional[_Runtime] = None

    def setup(self) -> None:
        self._runtime = _Runtime(self.settings, self.policy, self.context, self.languages)

    def teardown(self) -> None:
        if self._runtime is not None:
            self._runtime.session.close()


class _FetchPageShard(_PageDoFn):
    """Batch: one shard's articles (all articles of its hosts), their pages fetched host by host in parallel."""

    def process(self, element: tuple[int, Iterable[Article]], demand: Mapping[str, int]) -> Iterator[Any]:  # type: ignore[override]
        if self._runtime is None:
            self.setup()
        assert self._runtime is not None
        _, articles = element
        for _, article, exchanges in process_batch(list(articles), demand, self._runtime):
            for exchange in exchanges:
                yield beam.pvalue.TaggedOutput(EXCHANGES, exchange)
            yield article


class _FetchPageBundle(_PageDoFn):
    """Stream: the articles of one bundle (about one poll's new ones), fetched together when the bundle ends.

    Each article leaves with the timestamp and windows it came with, so the
    stream's event-time step after this one sees what it would have without
    full text.
    """

    def __init__(self, settings: PageSettings, policy: FetchPolicy, context: SharedFetchContext, languages: Shared):
        super().__init__(settings, policy, context, languages)
        self._pending: list[tuple[Article, Timestamp, Any]] = []

    def start_bundle(self) -> None:
        self._pending = []

    def process(  # type: ignore[override]
        self, article: Article, timestamp: Any = beam.DoFn.TimestampParam, window: Any = beam.DoFn.WindowParam
    ) -> None:
        self._pending.append((article, timestamp, window))

    def finish_bundle(self) -> Iterator[Any]:
        if self._runtime is None:
            self.setup()
        assert self._runtime is not None
        pending, self._pending = self._pending, []
        if not pending:
            return
        started = time.monotonic()
        for index, article, exchanges in process_batch([p[0] for p in pending], None, self._runtime):
            _, timestamp, window = pending[index]
            for exchange in exchanges:
                yield beam.pvalue.TaggedOutput(EXCHANGES, WindowedValue(exchange, timestamp, (window,)))
            yield WindowedValue(article, timestamp, (window,))
        _LOG.debug("pages of %d articles in %.1f s", len(pending), time.monotonic() - started)


class _FromArchive(_PageDoFn):
    """A link's articles and its archived fetch: merged with the archived page, or on to be fetched (``LIVE``)."""

    def process(self, element: tuple[str, Mapping[str, Iterable[Any]]]) -> Iterator[Any]:  # type: ignore[override]
        if self._runtime is None:
            self.setup()
        assert self._runtime is not None
        link, joined = element
        articles = list(joined["articles"])
        pages: list[ArchivedPage] = list(joined["archive"])
        counts = self._runtime.counts
        if not articles:
            if any(page.kind == "response" for page in pages):
                # A fetch for an entry this run does not hold (its feed was not given, or was already
                # written): counted, so the summary can say to read such pages with --full-text off.
                counts.unclaimed.inc()
            return
        fetched = archived_fetch(link, pages)
        for article in articles:
            if fetched is not None:
                counts.archived.inc()
                merged = merge_page(article, fetched, self._runtime)
            elif pages:  # only the mark of an archived feed's entry: its page was never archived
                merged = with_page(article, PageFetch(link, error="not_archived"), None, None, None)
            else:
                yield beam.pvalue.TaggedOutput(LIVE, article)
                continue
            counts.outcome(merged)
            yield merged


#: Output tag of ``_FromArchive``: the articles whose page no archive holds, to be fetched.
LIVE = "live"


class FetchPages(beam.PTransform):
    """New articles to articles with their page's text where it is better (see the module docstring).

    Bounded input (batch): articles are grouped by their link's host into
    ``shards`` (as feeds are), and the run's budget is shared out from the
    pages wanted per host. Unbounded input (a stream): each bundle is one
    batch. Outputs ``articles`` and an empty dead-letter output (a page
    failure keeps its article, with the reason in ``page_error``).

    The input is the articles, or (batch) a dict of ``articles`` and
    ``archive``: the page fetches read back from newsbeam's archives,
    ``(link, ArchivedPage)`` (``ParseDocuments``' ``ARCHIVED`` output),
    joined to the articles by link before anything is fetched.
    """

    def __init__(self, settings: PageSettings, policy: FetchPolicy, context: Optional[SharedFetchContext] = None):
        super().__init__()
        self.settings = settings
        self.policy = policy
        self.context = context or SharedFetchContext()

    @classmethod
    def from_settings(cls, settings: Any) -> FetchPages:
        """From a run's ``pipeline.settings.Settings``: its page settings, fetch policy and fetch context."""
        return cls(settings.pages, settings.fetch, settings.hosts)

    def expand(self, inputs: Any) -> dict[str, beam.PCollection]:
        articles, archive = (inputs["articles"], inputs.get("archive")) if isinstance(inputs, dict) else (inputs, None)
        languages = Shared()
        # Articles with no page to fetch (files, entries without an http(s) link) go straight
        # through: grouping them by shard would hold a whole run of file records in one worker.
        split = articles | "NeedsPage" >> beam.ParDo(_SplitByLink()).with_output_types(Article).with_outputs(
            AS_IS, main="linked"
        )
        linked = split.linked
        from_archive: list[beam.PCollection] = []
        if archive is not None and articles.is_bounded:
            joined = {
                "articles": linked | "KeyByLink" >> beam.Map(lambda a: (page_link(a), a)),
                "archive": archive,
            } | "JoinArchive" >> beam.CoGroupByKey()
            looked_up = joined | "FromArchive" >> beam.ParDo(
                _FromArchive(self.settings, self.policy, self.context, languages)
            ).with_output_types(Article).with_outputs(LIVE, main="articles")
            from_archive.append(looked_up.articles)
            linked = looked_up[LIVE]
        if articles.is_bounded:
            shards = self.settings.shards
            demand = (
                linked
                | "PageHosts" >> beam.Map(lambda a: host_of(page_link(a) or ""))
                | "PagesPerHost" >> beam.combiners.Count.PerElement()
            )
            fetched = (
                linked
                | "ShardByHost"
                >> beam.Map(lambda a: (shard_of_link(page_link(a) or "", shards), a)).with_output_types(
                    tuple[int, Article]
                )
                | "GroupByShard" >> beam.GroupByKey()
                | "FetchAndExtract"
                >> beam.ParDo(
                    _FetchPageShard(self.settings, self.policy, self.context, languages),
                    beam.pvalue.AsDict(demand),
                )
                .with_output_types(Article)
                .with_outputs(DEAD_LETTER, EXCHANGES, main="articles")
            )
            with_pages = fetched.articles | "Spread" >> beam.Reshuffle()
        else:
            fetched = linked | "FetchAndExtractInBundles" >> beam.ParDo(
                _FetchPageBundle(self.settings, self.policy, self.context, languages)
            ).with_output_types(Article).with_outputs(DEAD_LETTER, EXCHANGES, main="articles")
            with_pages = fetched.articles
        merged = (split[AS_IS], *from_archive, with_pages) | "AllArticles" >> beam.Flatten()
        return {"articles": merged, DEAD_LETTER: fetched[DEAD_LETTER], EXCHANGES: fetched[EXCHANGES]}


#: Output tag of the articles ``FetchPages`` leaves as they are (no page to fetch).
AS_IS = "as_is"


class _SplitByLink(beam.DoFn):
    """Articles with a page to fetch (main output) apart from the others (``as_is``, counted here)."""

    def setup(self) -> None:
        self._counts = _Counts()

    def process(self, article: Article) -> Iterator[Any]:
        if page_link(article) is not None:
            yield article
            return
        self._counts.no_link.inc()
        self._counts.outcome(article)
        yield beam.pvalue.TaggedOutput(AS_IS, article)


__all__ = [
    "MAX_PAGES",
    "MAX_PAGES_PER_HOST",
    "PAGE_DEFAULTS",
    "PAGE_ERRORS",
    "Choice",
    "FetchPages",
    "PageSettings",
    "allocate",
    "choose_text",
    "page_link",
    "page_tallies",
    "wall_kind",
    "with_page",
]
